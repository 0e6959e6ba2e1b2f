"""People are authors: each browser becomes one when its person first gives a name, and what
they do is shown under that name, to a viewer too; renaming yourself renames you everywhere,
and a browser whose author the server no longer knows quietly gets a new one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.conftest import keep_server_log, module_server
from e2e.pages import NewPerson

EDIT_BURST_SECONDS = "0.5"  # an edit becomes an activity entry this long after the typing


@pytest.fixture(scope="module")
def authors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(
        tmp_path_factory, "authors-server", {"SWELL_EDIT_BURST_SECONDS": EDIT_BURST_SECONDS}
    )


@pytest.fixture
def server(
    authors_server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    yield from keep_server_log(authors_server, request)


def author_secret(page: Page) -> str:
    """The secret this browser stored, once it has one (the page creates it after the name
    prompt closes, while its socket may already be connected anonymously)."""
    page.wait_for_function("() => localStorage.getItem('swell.author')", timeout=10_000)
    stored = page.evaluate("() => localStorage.getItem('swell.author')")
    assert stored, "this browser has no author"
    secret = json.loads(stored)["secret"]
    assert isinstance(secret, str) and secret
    return secret


def me(base: str, secret: str) -> dict[str, str]:
    response = httpx.get(f"{base}/api/authors/me", headers={"X-Swell-Author": secret}, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def test_two_people_are_shown_under_their_own_names(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Minutes")

    # Ada has never been here: she becomes an author when she answers the name prompt
    ada_person = new_person("Ada", "#1971c2", first_visit=True)
    ada = ada_person.editor(base)
    sockets: list[str] = []

    def on_websocket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    ada.page.on("websocket", on_websocket)
    ada.open(doc.id, doc.edit_token, ready=False)
    ada.answer_name_prompt("Ada")
    ada.expect_connected(timeout=10_000)
    ada_secret = author_secret(ada.page)
    # her socket acts as her author: the secret is in its URL (browsers cannot set headers)
    expect(ada.avatar("Ada")).to_be_visible(timeout=5_000)
    assert any(f"author={ada_secret}" in url for url in sockets), sockets
    # Grace had a name from before authors existed: her browser creates her author on load
    grace = new_person("Grace", "#c2255c").editor(base).open(doc.id, doc.edit_token)
    grace_secret = author_secret(grace.page)
    ada_author, grace_author = me(base, ada_secret), me(base, grace_secret)
    assert ada_author["name"] == "Ada" and grace_author["name"] == "Grace"
    assert ada_author["id"] != grace_author["id"]

    viewer = new_person("Bob", "#2b8a3e").viewer(base).open(doc.id, doc.view_token)
    expect(viewer.editor_avatar("Ada")).to_be_visible(timeout=5_000)
    expect(viewer.editor_avatar("Grace")).to_be_visible(timeout=5_000)

    ada.focus_end()
    ada.type("Ada was here.")
    expect(viewer.content).to_have_text("Ada was here.", timeout=5_000)
    grace.focus_end()
    grace.type(" So was Grace.")
    expect(viewer.content).to_have_text("Ada was here. So was Grace.", timeout=5_000)

    # the activity says who did what, each entry tied to its author
    items = viewer.page.get_by_test_id("activity").get_by_test_id("activity-item")
    edits = items.and_(viewer.page.locator("[data-kind=edit]"))
    expect(edits).to_have_count(2, timeout=5_000)
    expect(edits.nth(1)).to_have_text(re.compile(r"^Ada added 13 characters · "))
    expect(edits.nth(1)).to_have_attribute("data-author-id", ada_author["id"])
    expect(edits.nth(0)).to_have_text(re.compile(r"^Grace added 14 characters · "))
    expect(edits.nth(0)).to_have_attribute("data-author-id", grace_author["id"])

    # Ada renames herself: the server's author changes, and so does what everyone sees
    ada.page.get_by_role("button", name=re.compile(r"change your name")).click()
    ada.answer_name_prompt("Ada Lovelace")
    expect(viewer.editor_avatar("Ada Lovelace")).to_be_visible(timeout=5_000)
    expect(viewer.editor_avatar("Ada")).to_have_count(0)
    expect(grace.avatar("Ada Lovelace")).to_be_visible(timeout=5_000)
    assert me(base, ada_secret) == {**ada_author, "name": "Ada Lovelace"}
    assert author_secret(ada.page) == ada_secret  # the same author, renamed


def test_a_browser_whose_author_is_unknown_gets_a_new_one(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Forgotten")
    grace_person = new_person("Grace", "#c2255c")
    # a secret this server never issued (another server's, or a deleted author's)
    grace_person.context.add_init_script(
        "try { if (!sessionStorage.getItem('seeded')) {"
        " localStorage.setItem('swell.author', JSON.stringify({secret: 'not-known-here'}));"
        " sessionStorage.setItem('seeded', '1'); } } catch {}"
    )
    grace = grace_person.editor(base).open(doc.id, doc.edit_token)
    secret = author_secret(grace.page)
    assert secret != "not-known-here"
    assert me(base, secret)["name"] == "Grace"

    viewer = new_person("Bob", "#2b8a3e").viewer(base).open(doc.id, doc.view_token)
    expect(viewer.editor_avatar("Grace")).to_be_visible(timeout=5_000)
    grace.focus_end()
    grace.type("Still me.")
    edit = viewer.page.get_by_test_id("activity-item").and_(viewer.page.locator("[data-kind=edit]"))
    expect(edit).to_have_attribute("data-author-id", me(base, secret)["id"], timeout=5_000)
