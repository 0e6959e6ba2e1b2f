"""A document that reaches the server's size limit: the editor says so, stops reconnecting and
keeps what was written on screen (and in the browser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import WebSocket, expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_text
from e2e.conftest import keep_server_log, module_server
from e2e.pages import EditorPage, NewPerson

MAX_DOCUMENT_BYTES = 4_096


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(
        tmp_path_factory, "small-server", {"SWELL_MAX_DOCUMENT_BYTES": str(MAX_DOCUMENT_BYTES)}
    )


@pytest.fixture
def server(small_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    yield from keep_server_log(small_server, request)


def test_a_too_large_document_is_said_so_and_the_text_is_kept(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Big")
    person = new_person("Ada", "#1971c2")
    sockets: list[WebSocket] = []
    page = person.new_page()
    page.on("websocket", lambda socket: sockets.append(socket))
    ada = EditorPage(page, base, "Ada").open(doc.id, doc.edit_token)
    ada.focus_end()
    ada.type("Small start")
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)

    # one paste past the limit
    big = "x" * (MAX_DOCUMENT_BYTES * 2)
    page.keyboard.insert_text(big)

    expect(ada.alert).to_contain_text("This document is too large", timeout=5_000)
    expect(ada.alert).to_have_attribute("role", "alert")
    # no more reconnecting: the status says so and no further socket is opened
    expect(ada.connection_status).to_have_text("Not connected", timeout=5_000)
    opened = len(sockets)
    # the text stays on screen, no longer editable
    ada.expect_text_containing("Small start" + big, timeout=1_000)
    expect(ada.content).to_have_attribute("contenteditable", "false")
    # the server kept what it had
    assert get_text(base, doc.id, doc.edit_token).strip() == "Small start"
    # a round trip to the server later, still no new socket from this page
    assert get_text(base, doc.id, doc.edit_token).strip() == "Small start"
    assert len(sockets) == opened, "the page reconnected after 1009"
    assert all(s.is_closed() for s in sockets)
