"""The read-only viewer, /v/{id}#<view token>: it follows the document live over Server-Sent
Events, shows who is editing and what they did, never opens a WebSocket and cannot change the
document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import WebSocket, expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_text
from e2e.conftest import keep_server_log, module_server
from e2e.pages import NewPerson

# An edit burst becomes an "edit" activity after this many quiet seconds (default 3).
EDIT_BURST_SECONDS = "0.5"
LIVE_MS = 1_000


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: it closes edit bursts sooner than the shared one."""
    yield from module_server(
        tmp_path_factory, "viewer-server", {"SWELL_EDIT_BURST_SECONDS": EDIT_BURST_SECONDS}
    )


@pytest.fixture
def server(viewer_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The module's server; when the test fails, what it logged meanwhile goes to test-results/."""
    yield from keep_server_log(viewer_server, request)


def test_a_viewer_follows_the_text_live_and_cannot_change_it(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Viewer test")
    editor = new_person("Ada", "#c2255c").editor(base).open(doc.id, doc.edit_token)

    viewer = new_person("Bob", "#1971c2").new_page()
    sockets: list[str] = []

    def on_websocket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    viewer.on("websocket", on_websocket)  # before the page loads: every socket it ever opens
    viewer.goto(f"{base}/v/{doc.id}#{doc.view_token}")

    content = viewer.get_by_test_id("viewer-content")
    expect(viewer.get_by_test_id("viewer-status")).to_have_text("Live", timeout=10_000)
    expect(viewer.get_by_test_id("viewer-title")).to_have_text("Viewer test", timeout=5_000)
    presence = viewer.get_by_test_id("viewer-presence")
    expect(presence.get_by_test_id("viewer-editor")).to_have_count(1, timeout=5_000)
    expect(presence.get_by_test_id("viewer-editor")).to_have_attribute("title", "Ada")
    # Bob; Ada's own activity panel is not somebody watching
    expect(presence.get_by_test_id("viewer-watching")).to_have_text("1 watching", timeout=5_000)
    expect(viewer.locator("[contenteditable]")).to_have_count(0)

    # the text shows up on the viewer page within a second of being typed
    editor.focus_end()
    editor.type("Hello from Ada")
    expect(content).to_have_text("Hello from Ada", timeout=LIVE_MS)

    # the burst of typing becomes an "edit" by Ada at the top of the feed, with a relative time
    newest = viewer.get_by_test_id("activity").get_by_test_id("activity-item").first
    expect(newest).to_have_attribute("data-kind", "edit", timeout=5_000)
    expect(newest).to_have_text(re.compile(r"^Ada\b.* · (just now|\d+ s ago)$"), timeout=1_000)

    # typing on the viewer page goes nowhere
    content.click()
    viewer.keyboard.press("Control+A")
    viewer.keyboard.press("Backspace")
    viewer.keyboard.type("Bob was here")
    viewer.keyboard.press("Enter")
    # Ada types a marker after Bob's keys: once it has reached the viewer, anything Bob's keys
    # had done would have reached it too
    editor.type(", again")
    expect(content).to_have_text("Hello from Ada, again", timeout=LIVE_MS)
    editor.expect_text("Hello from Ada, again", timeout=LIVE_MS)
    assert get_text(base, doc.id, doc.edit_token).strip() == "Hello from Ada, again"
    expect(viewer.locator("[contenteditable]")).to_have_count(0)

    assert sockets == [], f"the viewer page opened WebSockets: {sockets}"
