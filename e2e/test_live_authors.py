"""Show authors in the live editor (issue 11): at now, the editor's text is tinted in the colour
of who wrote it, and stays so while people type: new text of a known person at once, a new
person's after the page asks the server again; turning it off removes the colours."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.console import console_errors
from e2e.live_authors_pages import (
    WS_CLOCK,
    LiveAuthors,
    Timer,
    dispatch_times,
    paragraph_count,
    paste_html,
    percentiles,
)
from e2e.pages import EditorPage, NewPerson

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


TIMING = os.environ.get("SWELL_TIME_LIVE_AUTHORS", "")
PARAGRAPHS_PER_PASTE = 84
ROUNDS = 8
KEYS = 100


@pytest.mark.skipif(not TIMING, reason="set SWELL_TIME_LIVE_AUTHORS=<json file> to measure")
@pytest.mark.timeout(600)
def test_timing_typing_with_show_authors(server: ServerProcess, new_person: NewPerson) -> None:
    """The cost of Show authors in the live editor: keypress -> text on screen, and a remote
    change's apply, with it off and on, on a ~50 KB document of ~2,000 paragraphs by three
    authors (in blocks of 84 paragraphs each, in turn)."""
    base = server.base_url
    doc = create_doc(base, "Timing")
    people = [
        new_person(name, color)
        for name, color in (("Ada", ADA), ("Grace", GRACE), ("Linus", LINUS))
    ]
    for person in people:
        person.context.add_init_script(WS_CLOCK)
    editors = [person.editor(base).open(doc.id, doc.edit_token) for person in people]
    ada, grace, _ = editors
    for round_ in range(ROUNDS):
        for editor in editors:
            html = "".join(
                f"<p>{editor.name}'s line {round_}.{i}, words.</p>"
                for i in range(PARAGRAPHS_PER_PASTE)
            )
            editor.focus_end()
            paste_html(editor, html)
            total = paragraph_count(editor)
            for other in editors:
                other.page.wait_for_function(
                    "(n) => document.querySelectorAll('.ProseMirror > p').length >= n",
                    arg=total,
                    timeout=20_000,
                )
    size = len(ada.text() or "")
    results: dict[str, object] = {"paragraphs": paragraph_count(ada), "characters": size}

    def type_here(editor: EditorPage, paragraph: int) -> None:
        target = editor.content.locator("p").nth(paragraph)
        target.scroll_into_view_if_needed()
        target.click()
        editor.press("End")

    ada_timer = Timer(ada)

    def measure(label: str) -> None:
        # Ada's own keys, in a paragraph of Grace's in the middle
        type_here(ada, 1000)
        samples: list[dict[str, float]] = []
        for i in range(KEYS + 5):
            n = ada_timer.arm("key")
            ada.press("abcdefghij"[i % 10])
            ada_timer.wait(n)
            if i >= 5:
                samples.extend(ada_timer.take()[-1:])
            else:
                ada_timer.take()
        results[f"{label}_key_dom"] = percentiles([s["dom"] for s in samples])
        results[f"{label}_key_frame"] = percentiles([s["frame"] for s in samples])
        # Grace's keys, as Ada's page applies them
        type_here(grace, 1003)
        samples = []
        for i in range(KEYS + 5):
            n = ada_timer.arm("remote")
            grace.press("klmnopqrst"[i % 10])
            ada_timer.wait(n)
            if i >= 5:
                samples.extend(ada_timer.take()[-1:])
            else:
                ada_timer.take()
        results[f"{label}_remote_dom"] = percentiles([s["dom"] for s in samples])
        results[f"{label}_remote_frame"] = percentiles([s["frame"] for s in samples])
        # the editor's own work for a typed character (no input events, no rendering)
        type_here(ada, 1006)
        times = dispatch_times(ada, KEYS)
        results[f"{label}_state_apply"] = percentiles(times["apply"])
        results[f"{label}_dispatch"] = percentiles(times["dispatch"])

    # the history view open at now throughout (the editor is narrower with it)
    live = LiveAuthors(ada)
    live.history.open()
    measure("off")
    live.history.show_authors.click()
    started = time.perf_counter()
    live.history.back_button.click()
    expect(live.decorations.first).to_be_attached(timeout=20_000)
    results["turn_on_seconds_incl_playwright"] = round(time.perf_counter() - started, 3)
    results["decorations"] = live.decorations.count()
    measure("on")
    live.turn_off()
    expect(live.decorations).to_have_count(0)
    measure("off_again")
    live.history.show_authors.click()
    live.history.back_button.click()
    expect(live.decorations.first).to_be_attached(timeout=20_000)
    measure("on_again")
    names = set(live.texts())
    assert names == {"Ada", "Grace", "Linus"}, names
    Path(TIMING).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
