"""A first-time visitor sees the document at once; the name prompt opens over it, and nobody
sees them in the document until they answer (with a name cleaned by the one name rule)."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson


def test_the_document_loads_behind_the_name_prompt(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Welcome")
    ada = new_person("Ada", "#1971c2").editor(base).open(doc.id, doc.edit_token)
    ada.focus_end()
    ada.type("Read me before you tell us who you are")
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)

    # a browser that has never been to Swell: no name, no local copy of the document
    newcomer = new_person("Grace", "#c2255c", first_visit=True).editor(base)
    newcomer.open(doc.id, doc.edit_token, ready=False)

    # the prompt is open AND the document, synced from the server, is rendered behind it
    expect(newcomer.name_dialog).to_be_visible(timeout=10_000)
    expect(newcomer.content).to_be_visible(timeout=5_000)
    newcomer.expect_text("Read me before you tell us who you are", timeout=5_000)
    expect(newcomer.title).to_have_value("Welcome")
    newcomer.expect_connected(timeout=5_000)
    # not announced yet: Ada sees only herself; the newcomer sees Ada, and no avatar of their own
    expect(newcomer.avatar("Ada")).to_be_visible(timeout=5_000)
    expect(newcomer.avatars).to_have_count(1)
    expect(ada.avatars).to_have_count(1)

    # the name goes through the one name rule: spaces collapsed, format characters dropped
    newcomer.answer_name_prompt("  Grace \u200b  Hopper \t")
    expect(ada.avatar("Grace Hopper")).to_be_visible(timeout=5_000)
    expect(newcomer.avatar("Grace Hopper")).to_be_visible()

    # and they can write at once
    newcomer.focus_end()
    newcomer.type(".")
    ada.expect_text("Read me before you tell us who you are.", timeout=2_000)
