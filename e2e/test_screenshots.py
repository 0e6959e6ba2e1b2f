"""Pictures of the app for the README: ``SWELL_SCREENSHOTS=docs/screenshots pytest e2e -k
screenshots`` (skipped otherwise)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.history_pages import HistoryView
from e2e.pages import EditorPage, NewPerson

SCREENSHOTS = os.environ.get("SWELL_SCREENSHOTS", "")


@pytest.mark.skipif(not SCREENSHOTS, reason="set SWELL_SCREENSHOTS to a directory to take them")
def test_screenshots(server: ServerProcess, new_person: NewPerson) -> None:
    out = Path(SCREENSHOTS)
    out.mkdir(parents=True, exist_ok=True)
    ada = new_person("Ada Lovelace", "#1971c2")
    grace = new_person("Grace Hopper", "#c2255c")

    # two documents made from the home page, one with some text in it
    home = ada.home(server.base_url).open()
    home.create("Meeting notes")
    notes = EditorPage(home.page, server.base_url, "Ada")
    notes.expect_connected(timeout=10_000)
    notes.focus_end()
    notes.type("Monday stand-up: what shipped, what is next.")
    expect(notes.save_status).to_have_text("All changes saved", timeout=5_000)

    home.open()
    doc_id, token = home.create("Launch plan")
    ada_editor = EditorPage(home.page, server.base_url, "Ada")
    ada_editor.doc_id = doc_id
    ada_editor.expect_connected(timeout=10_000)
    ada_editor.focus_end()
    ada_editor.heading(2)
    ada_editor.type("Goals")
    ada_editor.press("Enter")
    ada_editor.type("Ship the collaborative editor ")
    ada_editor.bold()
    ada_editor.type("before the end of the month")
    ada_editor.bold()
    ada_editor.type(", with offline editing and ")
    ada_editor.link("https://example.com/spec")
    ada_editor.type(" done.")
    ada_editor.press("Enter")
    ada_editor.heading(2)
    ada_editor.type("Tasks")
    ada_editor.press("Enter")
    ada_editor.bullet_list()
    ada_editor.type("Write the user guide")
    ada_editor.press("Enter")
    ada_editor.type("Test with two browsers")
    ada_editor.press("Enter")
    ada_editor.type("Measure the latency")

    grace_editor = grace.editor(server.base_url).open(doc_id, token)
    grace_editor.expect_text_containing("Measure the latency", timeout=5_000)
    expect(grace_editor.caret_label("Ada Lovelace")).to_be_visible(timeout=5_000)
    # Grace selects "collaborative editor" in the first paragraph; Ada's caret stays in the list
    grace_editor.content.focus()
    grace_editor.press("Control+Home")
    grace_editor.press("ArrowDown")
    for _ in range(len("Ship the ")):
        grace_editor.press("ArrowRight")
    for _ in range(len("collaborative editor")):
        grace_editor.press("Shift+ArrowRight")
    expect(ada_editor.caret_label("Grace Hopper")).to_be_visible(timeout=5_000)
    expect(grace_editor.caret_label("Ada Lovelace")).to_be_visible(timeout=5_000)
    expect(ada_editor.avatar("Grace Hopper")).to_be_visible(timeout=5_000)
    expect(ada_editor.save_status).to_have_text("All changes saved", timeout=5_000)
    # Ada's own caret is the browser's: keep it from blinking out of the picture
    # (through the CSSOM: the strict CSP refuses a <style> tag)
    ada_editor.page.evaluate(
        "() => document.querySelector('.ProseMirror')"
        "?.style.setProperty('caret-animation', 'manual')"
    )
    ada_editor.page.screenshot(path=out / "editor.png", caret="initial")

    share = ada_editor.open_share()
    expect(share.get_by_test_id("edit-link")).to_have_value(
        f"{server.base_url}/d/{doc_id}#{token}", timeout=5_000
    )
    expect(share.get_by_test_id("view-link")).to_have_value(
        re.compile(rf"^{re.escape(server.base_url)}/v/{doc_id}#\S+$"), timeout=5_000
    )
    ada_editor.page.screenshot(path=out / "share.png")

    # the history view: Grace's new paragraph highlighted in her color, Ada's later text
    # not there yet
    ada_editor.page.keyboard.press("Escape")  # the share dialog
    expect(ada_editor.share_dialog).to_be_hidden(timeout=2_000)
    grace_editor.focus_end()
    grace_editor.press("Enter")
    grace_editor.type("Review the history view")
    ada_editor.expect_text_containing("Review the history view", timeout=5_000)
    history = HistoryView(ada_editor.page)
    history.open()
    expect(history.entries.first).to_contain_text("Grace Hopper", timeout=10_000)
    history.entries.first.click()
    expect(history.inserted().first).to_be_visible(timeout=5_000)
    ada_editor.page.screenshot(path=out / "history.png")
    history.show_authors.click()
    expect(history.doc).to_have_attribute("data-mode", "authors", timeout=5_000)
    expect(history.doc).not_to_have_attribute("aria-busy", "true", timeout=5_000)
    ada_editor.page.screenshot(path=out / "history-authors.png")
    history.close()

    home.open()
    expect(home.documents).to_have_count(2, timeout=5_000)
    home.page.screenshot(path=out / "home.png")
