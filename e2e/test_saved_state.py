"""The "All changes saved" status means the database has the changes, not just that they left."""

from __future__ import annotations

import os
import signal

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_text
from e2e.pages import NewPerson


def test_all_changes_saved_appears_only_after_the_commit(
    own_server: ServerProcess, new_person: NewPerson
) -> None:
    server = own_server
    assert server.proc is not None
    doc = create_doc(server.base_url, "Saved state")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    ada.focus_end()
    ada.type("Stored.")
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)

    # Freezing the whole server process holds its next commit back.
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        ada.type(" Held")
        expect(ada.save_status).to_have_text("Saving…", timeout=2_000)
        # more keystrokes, spread over some time, while the commit is still held back
        ada.page.keyboard.type(" back.", delay=60)
        expect(ada.save_status).to_have_text("Saving…", timeout=1_000)
        expect(ada.save_status).not_to_have_text("All changes saved", timeout=1_000)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)

    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)
    assert get_text(server.base_url, doc.id, doc.edit_token).strip() == "Stored. Held back."
