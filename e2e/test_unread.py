"""What changed since you last looked (issue 11): the home page marks a document someone else
changed since you read it and lists it first; opening it highlights those changes in their
author's colour, the highlight follows the text while people type, Dismiss removes it, and
reading it clears the marker; the viewer page (no CRDT) highlights them the same way, from the
server's rendering of the changes. Plus the toolbar's scroll hint at phone width."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.console import console_errors
from e2e.history_pages import HistoryView
from e2e.pages import EditorPage, HomePage, NewPerson, ViewerPage
from e2e.unread_pages import (
    PhoneToolbar,
    SinceReadEditor,
    SinceReadViewer,
    UnreadHome,
    author_id,
    delete_word,
    read_mark,
    rgb,
    wait_until_mark_caught_up,
)

ADA = "#1971c2"
GRACE = "#c2255c"


def _token_of(editor: EditorPage) -> str:
    match = re.search(r"#(.+)$", editor.page.url)
    assert match is not None, editor.page.url
    return match.group(1)


def test_unread_marker_and_changes_since_last_read(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    ada_person = new_person("Ada", ADA)
    ada = HomePage(ada_person.new_page(), base).open().create_and_open("Plans", "Ada")
    plans_token = _token_of(ada)
    ada.append_saved("Ada wrote this.")
    # the page reports what Ada has seen (her own text included)
    SinceReadEditor(ada).wait_until_mark_caught_up(plans_token, timeout=10_000)

    # a second document, opened later: by when they were opened, it would be listed first
    HomePage(ada.page, base).open().create_and_open("Other", "Ada")
    home = UnreadHome(HomePage(ada.page, base).open())
    expect(home.last_edit("Plans")).to_contain_text("You edited", timeout=10_000)
    home.expect_first("Other", timeout=5_000)
    expect(home.unread_marker("Plans")).to_have_count(0)

    # Grace, at her own computer, changes Plans: deletes Ada's full stop and adds a sentence
    grace_person = new_person("Grace", GRACE)
    grace = grace_person.editor(base).open(ada.doc_id, plans_token)
    grace.expect_text("Ada wrote this.", timeout=5_000)
    grace.focus_end()
    grace.press("Backspace")
    grace.type(" and Grace added more.")
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)

    # Ada comes back to her home page's tab: it asks what changed
    ada.page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    marker = home.unread_marker("Plans")
    expect(marker).to_be_visible(timeout=10_000)
    expect(marker).to_contain_text("Unread changes")
    expect(home.last_edit("Plans")).to_contain_text("Grace edited", timeout=5_000)
    home.expect_first("Plans", timeout=5_000)
    expect(home.unread_marker("Other")).to_have_count(0)

    # she opens it: what Grace did since is highlighted in Grace's colour, nothing of Ada's
    home.item("Plans").get_by_role("link", name="Plans", exact=True).click()
    editor = EditorPage(ada.page, base, "Ada")
    editor.doc_id = ada.doc_id
    editor.expect_connected(timeout=10_000)
    editor.expect_text("Ada wrote this and Grace added more.", timeout=5_000)
    since = SinceReadEditor(editor)
    expect(since.notice).to_be_visible(timeout=10_000)
    expect(since.notice).to_contain_text("Changes since you last looked")
    expect(since.notice).to_contain_text("Grace")
    since.expect_highlighted_text(" and Grace added more.", timeout=5_000)
    expect(since.insertions_by("Ada")).to_have_count(0)
    assert since.colors_of(since.insertions) == {rgb(GRACE)}
    expect(since.insertions.first).to_have_attribute("title", "Added by Grace")
    expect(since.deletions_by("Grace")).to_have_count(1)

    # the highlight follows the text when someone types before it: Grace (a remote change) ...
    grace.press("Control+Home")
    grace.type("Intro: ")
    editor.expect_text("Intro: Ada wrote this and Grace added more.", timeout=5_000)
    since.expect_highlighted_text(" and Grace added more.", timeout=2_000)
    # ... and Ada herself
    editor.press("Control+Home")
    editor.type("Hi. ")
    editor.expect_text("Hi. Intro: Ada wrote this and Grace added more.", timeout=5_000)
    since.expect_highlighted_text(" and Grace added more.", timeout=2_000)
    expect(since.deletions_by("Grace")).to_have_count(1)

    # Dismiss removes the highlight and the notice
    since.dismiss()
    expect(since.notice).to_be_hidden(timeout=2_000)
    expect(since.insertions).to_have_count(0, timeout=2_000)
    expect(since.deletions).to_have_count(0)
    editor.expect_text("Hi. Intro: Ada wrote this and Grace added more.", timeout=2_000)

    # having read it, the marker is gone from her home page
    expect(editor.save_status).to_have_text("All changes saved", timeout=5_000)
    since.wait_until_mark_caught_up(plans_token, timeout=10_000)
    home = UnreadHome(HomePage(ada.page, base).open())
    expect(home.last_edit("Plans")).to_contain_text("You edited", timeout=10_000)
    expect(home.unread_marker("Plans")).to_have_count(0)
    assert console_errors(ada_person) == [] and console_errors(grace_person) == []


def test_viewer_page_highlights_changes_since_last_read(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Minutes")
    # Ada has a name, so an author (and read marks): she writes, then reads the view link
    ada_person = new_person("Ada", ADA)
    ada_editor = ada_person.editor(base).open(doc.id, doc.edit_token)
    ada_editor.append_saved("Ada wrote this rough draft.")
    ada_editor.page.close()
    first = ViewerPage(ada_person.new_page(), base).open(doc.id, doc.view_token)
    expect(first.content).to_have_text("Ada wrote this rough draft.", timeout=5_000)
    wait_until_mark_caught_up(first.page, doc.id, doc.view_token, timeout=10_000)
    expect(SinceReadViewer(first).doc).to_have_count(0)
    first.page.close()

    # Grace, at her own computer, adds a sentence and deletes one of Ada's words
    grace_person = new_person("Grace", GRACE)
    grace = grace_person.editor(base).open(doc.id, doc.edit_token)
    grace.expect_text("Ada wrote this rough draft.", timeout=5_000)
    grace.focus_end()
    grace.type(" Grace added more!")
    delete_word(grace, "rough")
    grace.expect_text("Ada wrote this  draft. Grace added more!", timeout=2_000)
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)
    grace_id = author_id(grace.page, base)

    # Ada opens the view link again: Grace's changes since then, in Grace's colour
    viewer = ViewerPage(ada_person.new_page(), base).open(doc.id, doc.view_token)
    since = SinceReadViewer(viewer)
    expect(since.notice).to_be_visible(timeout=10_000)
    expect(since.notice).to_contain_text("Grace")
    expect(since.doc).to_be_visible(timeout=5_000)
    expect(viewer.content).to_be_hidden()
    since.expect_inserted_by(grace_id, "Grace added more!", timeout=5_000)
    expect(since.deletions_by(grace_id)).to_have_text(["rough"])
    expect(since.insertions).to_have_count(since.insertions_by(grace_id).count())
    expect(since.deletions).to_have_count(1)
    assert since.colors(since.insertions, "borderBottomColor") == {rgb(GRACE)}
    assert since.colors(since.deletions, "textDecorationColor") == {rgb(GRACE)}
    expect(since.insertions.first).to_have_attribute("title", "Added by Grace")
    expect(since.deletions.first).to_have_attribute("title", "Deleted by Grace")

    # Grace keeps typing: the highlight follows the text
    grace.focus_end()
    grace.type(" Then Grace wrote on!")
    since.expect_inserted_by(grace_id, "Grace added more! Then Grace wrote on!", timeout=5_000)
    expect(since.doc).to_have_text(
        "Ada wrote this rough draft. Grace added more! Then Grace wrote on!"
    )
    expect(since.deletions).to_have_count(1)

    # a past revision of the history view takes the highlight's place until "Back to now"
    history = HistoryView(viewer.page).open()
    history.key("Home")
    expect(history.past).to_be_visible(timeout=5_000)
    expect(since.doc).to_be_hidden()
    history.back_button.click()
    expect(history.past).to_be_hidden(timeout=2_000)
    expect(since.doc).to_be_visible()
    history.close()

    # Dismiss: the live content, without ins/del, and Grace's next edits arrive live
    since.dismiss()
    expect(since.notice).to_be_hidden(timeout=2_000)
    expect(since.doc).to_have_count(0, timeout=2_000)
    expect(viewer.content).to_be_visible()
    expect(viewer.content).to_have_text(
        "Ada wrote this draft. Grace added more! Then Grace wrote on!", timeout=5_000
    )
    expect(viewer.content.locator("ins, del")).to_have_count(0)
    grace.type(" The end.")
    expect(viewer.content).to_have_text(
        "Ada wrote this draft. Grace added more! Then Grace wrote on! The end.", timeout=5_000
    )
    expect(since.doc).to_have_count(0)
    assert console_errors(ada_person) == [] and console_errors(grace_person) == []

    # when the rendering of the changes fails, the live content shows, quietly
    wait_until_mark_caught_up(viewer.page, doc.id, doc.view_token, timeout=10_000)
    viewer.page.close()
    grace.type(" Later.")
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)
    page = ada_person.new_page()
    page.route("**/changes?*", lambda route: route.fulfill(status=404, json={"error": "gone"}))
    again = ViewerPage(page, base).open(doc.id, doc.view_token)
    failing = SinceReadViewer(again)
    expect(failing.notice).to_be_visible(timeout=10_000)
    expect(failing.notice).to_contain_text("Grace")
    expect(failing.doc).to_have_count(0, timeout=5_000)
    expect(again.content).to_be_visible()
    expect(again.content).to_contain_text("The end. Later.", timeout=5_000)
    failed = [line for line in console_errors(ada_person) if "Failed to load resource" not in line]
    assert failed == []


def test_read_mark_stays_while_a_past_revision_is_shown(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Looking back")
    ada_person = new_person("Ada", ADA)
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    ada.append_saved("Ada wrote this.")
    wait_until_mark_caught_up(ada.page, doc.id, doc.edit_token, timeout=10_000)
    grace_person = new_person("Grace", GRACE)
    grace = grace_person.editor(base).open(doc.id, doc.edit_token)
    grace.expect_text("Ada wrote this.", timeout=5_000)

    # Ada looks at a past revision; meanwhile Grace writes
    history = HistoryView(ada.page).open()
    history.key("Home")
    expect(history.past).to_be_visible(timeout=5_000)
    before = read_mark(ada.page, base, doc.id, doc.edit_token)
    grace.append_saved(" Grace added this.")
    # Ada's page has Grace's text (behind the past revision) but Ada has not seen it: over
    # more than the page's report interval (3 s), her mark does not move
    expect(ada.content).to_contain_text("Grace added this.", timeout=5_000)
    expect(ada.content).to_be_hidden()
    ada.page.wait_for_timeout(4_000)
    assert read_mark(ada.page, base, doc.id, doc.edit_token) == before

    # back at now, she sees it: the mark reaches the newest revision
    history.back_button.click()
    expect(history.past).to_be_hidden(timeout=2_000)
    wait_until_mark_caught_up(ada.page, doc.id, doc.edit_token, timeout=10_000)
    assert read_mark(ada.page, base, doc.id, doc.edit_token) > before
    assert console_errors(ada_person) == [] and console_errors(grace_person) == []


def test_viewer_read_mark_stays_while_a_past_revision_is_shown(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Looking back, read only")
    grace_person = new_person("Grace", GRACE)
    grace = grace_person.editor(base).open(doc.id, doc.edit_token)
    grace.append_saved("Grace wrote this.")
    # Ada gets an author (and so read marks) on an editor page, then reads the view link
    ada_person = new_person("Ada", ADA)
    ada_person.editor(base).open(doc.id, doc.edit_token).page.close()
    viewer = ada_person.viewer(base).open(doc.id, doc.view_token)
    expect(viewer.content).to_have_text("Grace wrote this.", timeout=5_000)
    wait_until_mark_caught_up(viewer.page, doc.id, doc.view_token, timeout=10_000)

    history = HistoryView(viewer.page).open()
    history.key("Home")
    expect(history.past).to_be_visible(timeout=5_000)
    before = read_mark(viewer.page, base, doc.id, doc.view_token)
    grace.type(" And more.")
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)
    # the live content follows (hidden), unseen: the mark stays over a report interval
    expect(viewer.content).to_contain_text("And more.", timeout=5_000)
    viewer.page.wait_for_timeout(4_000)
    assert read_mark(viewer.page, base, doc.id, doc.view_token) == before

    history.back_button.click()
    expect(history.past).to_be_hidden(timeout=2_000)
    wait_until_mark_caught_up(viewer.page, doc.id, doc.view_token, timeout=10_000)
    assert console_errors(ada_person) == [] and console_errors(grace_person) == []


def test_home_page_summaries_survive_a_stale_author_secret(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    person = new_person("Ada", ADA)
    ada = HomePage(person.new_page(), base).open().create_and_open("Kept", "Ada")
    ada.append_saved("Something.")

    # this browser's author secret is one the server does not know (another server's, or
    # forgotten): the home page asks as a new author, and still shows what changed
    page = ada.page
    page.evaluate(
        "() => localStorage.setItem('swell.author', JSON.stringify({ secret: 'not-known' }))"
    )
    home = UnreadHome(HomePage(page, base).open())
    expect(home.last_edit("Kept")).to_contain_text("Ada edited", timeout=10_000)
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('swell.author')).secret")
    assert stored != "not-known"
    # the refused secret's 401s are the only errors
    errors = [line for line in console_errors(person) if "status of 401" not in line]
    assert errors == []


def test_toolbar_scroll_hint_at_phone_width(server: ServerProcess, new_person: NewPerson) -> None:
    doc = create_doc(server.base_url, "Phone")
    person = new_person("Ada", ADA)
    page = person.new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    editor = EditorPage(page, server.base_url, "Ada").open(doc.id, doc.edit_token)
    toolbar = PhoneToolbar(editor)
    assert toolbar.overflows(), "at 375 px the tools do not fit: the toolbar scrolls"
    expect(toolbar.more_end).to_be_visible(timeout=2_000)
    expect(toolbar.more_start).to_be_hidden()
    assert console_errors(person) == []

    # keyboard only: the toolbar's last tool scrolls into view, and the hint at the end goes
    toolbar.bar.get_by_role("button", name="Paragraph").focus()
    page.keyboard.press("End")
    expect(toolbar.bar.get_by_role("button", name="Redo")).to_be_focused()
    page.wait_for_function(
        "() => { const el = document.querySelector('[role=toolbar]');"
        " return el.scrollLeft >= el.scrollWidth - el.clientWidth - 1; }",
        timeout=3_000,
    )
    expect(toolbar.more_end).to_be_hidden(timeout=2_000)
    expect(toolbar.more_start).to_be_visible()

    # back at the start, the hint shows the way to the rest again
    toolbar.scroll_to_start()
    expect(toolbar.more_end).to_be_visible(timeout=2_000)
    expect(toolbar.more_start).to_be_hidden()
    assert console_errors(person) == []
