"""Formatting one person applies with the toolbar shows up in the other's editor."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson


def test_headings_bold_lists_and_links_reach_the_other_editor(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Formatting")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    ada.focus_end()
    ada.heading(1)
    ada.type("Launch plan")
    ada.press("Enter")
    ada.heading(2)
    ada.type("Goals")
    ada.press("Enter")
    ada.type("Ship it ")
    ada.bold()
    ada.type("before Friday")
    ada.bold()
    ada.type(" please.")
    ada.press("Enter")
    ada.bullet_list()
    ada.type("write the docs")
    ada.press("Enter")
    ada.type("fix the bugs")
    ada.press("Enter")
    ada.press("Enter")  # an empty item ends the list
    ada.type("Details: ")
    ada.link("https://example.com/spec")
    ada.type(" and more.")

    other = grace.content
    expect(other.locator("h1")).to_have_text("Launch plan", timeout=2_000)
    expect(other.locator("h2")).to_have_text("Goals", timeout=2_000)
    expect(other.locator("p strong")).to_have_text("before Friday", timeout=2_000)
    expect(other.locator("ul > li")).to_have_text(["write the docs", "fix the bugs"], timeout=2_000)
    link = other.locator('a[href="https://example.com/spec"]')
    expect(link).to_have_text("https://example.com/spec", timeout=2_000)
    grace.expect_text(
        "Launch plan\nGoals\nShip it before Friday please.\nwrite the docsfix the bugs\n"
        "Details: https://example.com/spec and more.",
        timeout=2_000,
    )
