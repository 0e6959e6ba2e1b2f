"""Renaming a document shows the new title to everyone in it at once."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_doc
from e2e.pages import NewPerson

RENAME_MS = 1_000


def test_a_rename_reaches_the_other_editor_and_the_api(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Draft")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)
    expect(grace.title).to_have_value("Draft", timeout=5_000)

    ada.rename("Quarterly plan")

    expect(grace.title).to_have_value("Quarterly plan", timeout=RENAME_MS)
    expect(grace.page).to_have_title("Quarterly plan · Swell", timeout=RENAME_MS)
    expect(ada.title).to_have_value("Quarterly plan", timeout=RENAME_MS)
    info = get_doc(server.base_url, doc.id, doc.view_token)
    assert info["title"] == "Quarterly plan"
    assert info["role"] == "view"
