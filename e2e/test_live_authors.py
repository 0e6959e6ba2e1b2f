"""Show authors in the live editor (issue 11): at now, the editor's text is tinted in the colour
of who wrote it, and stays so while people type: new text of a known person at once, a new
person's after the page asks the server again; turning it off removes the colours."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.console import console_errors
from e2e.live_authors_pages import LiveAuthors
from e2e.pages import NewPerson

ADA = "#1971c2"
GRACE = "#c2255c"
LINUS = "#2f9e44"


def test_show_authors_colours_the_live_text_while_people_type(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Live authors")
    ada_person = new_person("Ada", ADA)
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    ada.focus_end()
    ada.type("Ada wrote this.")
    grace_person = new_person("Grace", GRACE)
    grace = grace_person.editor(base).open(doc.id, doc.edit_token)
    grace.expect_text("Ada wrote this.", timeout=5_000)
    grace.focus_end()
    grace.type(" Grace wrote that.")
    ada.expect_text("Ada wrote this. Grace wrote that.", timeout=5_000)

    live = LiveAuthors(ada)
    expect(live.decorations).to_have_count(0)
    live.turn_on()
    live.expect_texts({"Ada": "Ada wrote this.", "Grace": " Grace wrote that."})
    runs = live.runs()
    assert runs["Ada"]["colors"] == [ADA] and runs["Grace"]["colors"] == [GRACE], runs
    assert runs["Ada"]["titles"] == ["Written by Ada"], runs
    # tinted, differently
    ada_bg, grace_bg = runs["Ada"]["backgrounds"], runs["Grace"]["backgrounds"]
    assert len(ada_bg) == 1 and len(grace_bg) == 1 and ada_bg != grace_bg, runs
    assert ada_bg[0] not in ("rgba(0, 0, 0, 0)", "transparent"), runs
    expect(
        ada.content.locator("[contenteditable=true]").or_(
            ada.content.and_(ada.page.locator("[contenteditable=true]"))
        )
    ).to_have_count(1)

    # Grace types more: hers at once (no new request needed)
    grace.type(" More.")
    live.expect_texts({"Ada": "Ada wrote this.", "Grace": " Grace wrote that. More."})
    # Ada types: hers (the caret put at the end of her paragraph with the panel open)
    ada.content.locator("p").last.click()
    ada.press("End")
    ada.type(" Ada again.")
    ada.expect_text("Ada wrote this. Grace wrote that. More. Ada again.", timeout=5_000)
    live.expect_texts({"Ada": "Ada wrote this. Ada again.", "Grace": " Grace wrote that. More."})

    # a new person: coloured once the page knows who they are
    linus_person = new_person("Linus", LINUS)
    linus = linus_person.editor(base).open(doc.id, doc.edit_token)
    linus.expect_text("Ada wrote this. Grace wrote that. More. Ada again.", timeout=5_000)
    linus.focus_end()
    linus.press("Enter")
    linus.type("Linus here.")
    live.expect_texts(
        {
            "Ada": "Ada wrote this. Ada again.",
            "Grace": " Grace wrote that. More.",
            "Linus": "Linus here.",
        },
        timeout=10_000,
    )
    assert live.runs()["Linus"]["colors"] == [LINUS]
    # Linus deletes a word of his: its colour goes with it
    for _ in "here.":
        linus.press("Backspace")
    live.expect_texts(
        {
            "Ada": "Ada wrote this. Ada again.",
            "Grace": " Grace wrote that. More.",
            "Linus": "Linus ",
        }
    )

    # off: every decoration goes
    live.turn_off()
    expect(live.decorations).to_have_count(0, timeout=5_000)
    expect(live.history.past).to_be_hidden()
    for person in (ada_person, grace_person, linus_person):
        assert console_errors(person) == []


def test_closing_history_removes_the_colours(server: ServerProcess, new_person: NewPerson) -> None:
    base = server.base_url
    doc = create_doc(base, "Closing")
    ada_person = new_person("Ada", ADA)
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    ada.focus_end()
    ada.type("Only Ada.")
    live = LiveAuthors(ada)
    live.turn_on()
    live.expect_texts({"Ada": "Only Ada."})
    live.history.close()
    expect(live.decorations).to_have_count(0, timeout=5_000)
    # typing while closed is not coloured; opened again at now it is, all of it
    ada.content.locator("p").last.click()
    ada.press("End")
    ada.type(" More.")
    ada.expect_text("Only Ada. More.", timeout=5_000)
    expect(live.decorations).to_have_count(0)
    live.history.open()
    live.expect_texts({"Ada": "Only Ada. More."})
    assert console_errors(ada_person) == []
