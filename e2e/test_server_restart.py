"""The server restarts under an open editor: it says so, comes back by itself, and goes on."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_text
from e2e.pages import NewPerson

SYNC_MS = 2_000
RECONNECT_MS = 15_000


def test_editors_reconnect_by_themselves_after_a_server_restart(
    own_server: ServerProcess, new_person: NewPerson
) -> None:
    server = own_server
    doc = create_doc(server.base_url, "Restart")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    ada.focus_end()
    ada.type("Before the restart.")
    grace.expect_text("Before the restart.", timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)

    assert server.stop() == 0, server.log_text()
    for editor in (ada, grace):
        expect(editor.connection_status).to_have_text("Reconnecting…", timeout=5_000)

    ada.type(" While it was down.")
    ada.expect_text("Before the restart. While it was down.", timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("Saving…", timeout=SYNC_MS)

    server.restart()
    for editor in (ada, grace):
        editor.expect_connected(timeout=RECONNECT_MS)
    grace.expect_text("Before the restart. While it was down.", timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)

    grace.focus_end()
    grace.type(" After it came back.")
    everything = "Before the restart. While it was down. After it came back."
    ada.expect_text(everything, timeout=SYNC_MS)
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)
    expect(ada.avatar("Grace")).to_be_visible(timeout=5_000)
    assert get_text(server.base_url, doc.id, doc.edit_token).strip() == everything
