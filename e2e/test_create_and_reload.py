"""A person creates a document from the home page, writes in it, and finds it again."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import get_text
from e2e.pages import EditorPage, NewPerson


def test_created_document_keeps_its_text_and_is_listed_at_home(
    server: ServerProcess, new_person: NewPerson
) -> None:
    ada = new_person("Ada", "#1971c2")
    home = ada.home(server.base_url).open()
    doc_id, token = home.create("Meeting notes")

    editor = EditorPage(home.page, server.base_url, "Ada")
    editor.doc_id = doc_id
    editor.expect_connected(timeout=10_000)
    expect(editor.title).to_have_value("Meeting notes", timeout=5_000)
    editor.focus_end()
    editor.type("Agenda: ship the editor.")
    expect(editor.save_status).to_have_text("All changes saved", timeout=5_000)
    assert get_text(server.base_url, doc_id, token).strip() == "Agenda: ship the editor."

    editor.reload()
    editor.expect_connected(timeout=10_000)
    editor.expect_text("Agenda: ship the editor.", timeout=5_000)
    expect(editor.title).to_have_value("Meeting notes", timeout=5_000)

    home.open()
    listed = home.document("Meeting notes")
    expect(listed).to_have_count(1, timeout=5_000)
    expect(listed).to_have_attribute("data-doc-id", doc_id, timeout=5_000)
    expect(listed.get_by_role("link", name="Meeting notes")).to_have_attribute(
        "href", f"/d/{doc_id}#{token}", timeout=5_000
    )
