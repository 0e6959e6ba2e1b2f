"""Undo takes back your own changes only, never someone else's."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson

SYNC_MS = 2_000


def test_undo_reverts_only_the_changes_made_in_that_editor(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Undo")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    # Ada starts the paragraph with one input event, so her change is exactly one undo step
    ada.focus_end()
    ada.page.keyboard.insert_text("Ada was here.")
    grace.expect_text("Ada was here.", timeout=SYNC_MS)

    # Grace writes on in the paragraph Ada made
    grace.focus_end()
    grace.type(" Grace too.")
    both = "Ada was here. Grace too."
    ada.expect_text(both, timeout=SYNC_MS)

    ada.undo()
    ada.expect_text(" Grace too.", timeout=SYNC_MS)
    grace.expect_text(" Grace too.", timeout=SYNC_MS)

    ada.redo()
    ada.expect_text(both, timeout=SYNC_MS)
    grace.expect_text(both, timeout=SYNC_MS)

    # Grace's Ctrl+Z takes back her typing (all of it, or its last burst if the keystrokes
    # were far enough apart to make two undo steps) and leaves Ada's sentence alone
    grace.press("Control+z")
    for editor in (ada, grace):
        editor.expect_text_containing("Ada was here.", timeout=SYNC_MS)
        expect(editor.content).not_to_contain_text("Grace too.", timeout=SYNC_MS)
