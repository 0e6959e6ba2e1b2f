"""The history view (issue 11): the timeslider on the editor and the viewer page, playback,
highlighted changes, restore, named versions and "Show authors"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import WebSocket, expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.conftest import keep_server_log, module_server
from e2e.console import console_errors
from e2e.history_pages import HistoryView, write_in_bursts
from e2e.pages import EditorPage, NewPerson, ViewerPage

# a burst of typing becomes one history entry this long after the last keystroke (long enough
# that a stall of a busy browser while typing does not split one)
EDIT_BURST_SECONDS = "1.0"

# every /changes request of the page answered 500 ms late (an aborted one is not sent)
_SLOW_CHANGES = """(() => {
  const fetchNow = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.includes("/changes?")) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (init && init.signal && init.signal.aborted) {
        throw new DOMException("The operation was aborted.", "AbortError");
      }
    }
    return fetchNow(input, init);
  };
})();"""


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(
        tmp_path_factory, "history-server", {"SWELL_EDIT_BURST_SECONDS": EDIT_BURST_SECONDS}
    )


@pytest.fixture
def server(
    history_server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    yield from keep_server_log(history_server, request)


def history_json(base: str, doc_id: str, token: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{base}/api/docs/{doc_id}/history",
        params={"limit": 200},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["entries"])


def text_at(base: str, doc_id: str, token: str, rev: int) -> str:
    response = httpx.get(
        f"{base}/api/docs/{doc_id}/content",
        params={"format": "text", "rev": rev},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.text.strip()


def test_stepping_back_shows_the_early_text_and_not_the_later(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Steps")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Alpha.", " Beta.", " Gamma."])
    entries = history_json(base, doc.id, doc.edit_token)
    assert len(entries) == 3, entries
    first, second, newest = entries[2]["to_rev"], entries[1]["to_rev"], entries[0]["to_rev"]

    history = HistoryView(ada.page).open()
    expect(history.slider).to_have_attribute("aria-valuemin", "1")
    expect(history.slider).to_have_attribute("aria-valuemax", str(newest))
    history.expect_value(int(str(newest)))  # now
    expect(history.past).to_be_hidden()
    # newest first, each with its summary
    expect(history.entries).to_have_count(3)
    expect(history.entries.first).to_contain_text("Ada added 7 characters")

    # Home: the very first revision (the first keystroke)
    history.key("Home")
    history.expect_value(1)
    early = text_at(base, doc.id, doc.edit_token, 1)
    assert early and "Alpha.".startswith(early), early
    history.expect_past_text(early)
    expect(ada.content).to_be_hidden()
    expect(history.banner).to_contain_text(re.compile(r"Viewing Ada's edit of \d"))

    # one entry forward: the end of the first burst, the later text not there
    history.key("ArrowRight")
    history.expect_value(int(str(first)))
    history.expect_past_text("Alpha.")
    expect(history.slider).to_have_attribute(
        "aria-valuetext", re.compile(rf"^Revision {first} of {newest}, Ada's edit of ")
    )
    # what that entry inserted is highlighted in Ada's color
    expect(history.inserted().first).to_be_visible()
    history.key("ArrowRight")
    history.expect_value(int(str(second)))
    history.expect_past_text("Alpha. Beta.")
    assert "Gamma" not in history.past_text()
    expect(history.entries.nth(1)).to_have_attribute("aria-current", "true")

    # End: now, the live editable document again
    history.key("End")
    history.expect_value(int(str(newest)))
    expect(history.past).to_be_hidden()
    expect(ada.content).to_be_visible()

    # from now, one entry back; then Back to now, and the editor takes typing again
    history.key("ArrowLeft")
    history.expect_value(int(str(second)))
    history.expect_past_text("Alpha. Beta.")
    history.back_button.click()
    expect(history.past).to_be_hidden()
    expect(ada.content).to_be_visible()
    ada.focus_end()
    expect(ada.content).to_be_focused(timeout=2_000)
    ada.type(" Delta.")
    ada.expect_text("Alpha. Beta. Gamma. Delta.", timeout=5_000)
    assert console_errors(ada_person) == []


def test_play_advances_through_the_revisions_and_pause_stops(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Playback")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Once upon a time", " there was a document."])
    newest = history_json(base, doc.id, doc.edit_token)[0]["to_rev"]

    history = HistoryView(ada.page).open()
    history.key("Home")
    history.expect_value(1)
    history.speed.select_option("0.5")
    history.play_button.click()
    expect(history.play_button).to_have_text("Pause")
    expect(history.play_button).to_have_attribute("aria-pressed", "true")
    # the revision shown moves on, and the text grows with it (read while it plays: the
    # text shown is the start of the document, longer each time)
    full = "Once upon a time there was a document."
    lengths: list[int] = []
    values: list[int] = []
    for target in (3, 8):
        expect(history.slider).to_have_attribute(
            "aria-valuenow", re.compile("|".join(rf"^{v}$" for v in range(target, 200)))
        )
        expect(history.doc).not_to_have_attribute("aria-busy", "true")
        values.append(history.value())
        text = history.past_text()
        assert full.startswith(text), text
        lengths.append(len(text))
    assert values[0] < values[1] and lengths[0] < lengths[1], (values, lengths)

    history.play_button.click()
    expect(history.play_button).to_have_text("Play")
    paused = history.value()
    assert paused < int(str(newest))
    # paused: nothing moves any more (observed over several playback ticks)
    ada.page.wait_for_timeout(1_000)
    assert history.value() == paused

    # played to the end, it is back at now: the live document (a tick waits for its revision's
    # rendering: a loaded machine plays slower than 8×, hence the generous wait)
    history.speed.select_option("8")
    history.play_button.click()
    history.expect_value(int(str(newest)), timeout=45_000)
    expect(history.play_button).to_have_text("Play", timeout=5_000)
    expect(history.past).to_be_hidden()
    expect(ada.content).to_be_visible()
    assert console_errors(ada_person) == []


def test_back_to_now_drops_the_steps_still_queued(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Quick steps")
    ada_person = new_person("Ada", "#1971c2")
    page = ada_person.new_page()
    page.add_init_script(_SLOW_CHANGES)
    ada = EditorPage(page, base, "Ada").open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["One.", " Two.", " Three.", " Four."])
    newest = int(str(history_json(base, doc.id, doc.edit_token)[0]["to_rev"]))

    history = HistoryView(ada.page).open()
    # three steps back at once, then Back to now as soon as a past revision shows
    for _ in range(3):
        history.slider.press("ArrowLeft")
    expect(history.back_button).to_be_visible(timeout=5_000)
    history.back_button.click()
    expect(history.past).to_be_hidden(timeout=2_000)
    # the page stays at now once every delayed answer has arrived (3 × 500 ms)
    ada.page.wait_for_timeout(2_000)
    assert history.past.is_hidden(), "a step queued before Back to now showed the past again"
    assert ada.content.is_visible()
    assert history.value() == newest
    assert console_errors(ada_person) == []


def test_restore_converges_every_editor_and_viewer(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Restore")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Old text.", " New text."])
    grace = new_person("Grace", "#c2255c").editor(base).open(doc.id, doc.edit_token)
    grace.expect_text("Old text. New text.", timeout=5_000)
    viewer = new_person("Bob", "#2b8a3e").viewer(base).open(doc.id, doc.view_token)
    expect(viewer.content).to_have_text("Old text. New text.", timeout=5_000)

    history = HistoryView(ada.page).open()
    history.key("ArrowLeft")
    history.expect_past_text("Old text.")
    # cancelling changes nothing
    history.restore_button.click()
    expect(history.restore_dialog).to_be_visible()
    history.restore_dialog.get_by_role("button", name="Cancel").click()
    expect(history.restore_dialog).to_be_hidden()
    expect(history.past).to_be_visible()

    history.restore()
    # back to now on Ada's page, and everyone converges live
    expect(history.past).to_be_hidden(timeout=5_000)
    ada.expect_text("Old text.", timeout=5_000)
    grace.expect_text("Old text.", timeout=5_000)
    expect(viewer.content).to_have_text("Old text.", timeout=5_000)
    # the history lists the restore, by Ada
    expect(history.entries.first).to_contain_text("Ada restored an earlier version", timeout=5_000)
    expect(history.entries.first).to_have_attribute("data-kind", "restore")
    # and the editor is editable again
    ada.focus_end()
    expect(ada.content).to_be_focused(timeout=2_000)
    ada.type(" Again.")
    grace.expect_text("Old text. Again.", timeout=5_000)


def test_a_named_version_is_created_and_listed(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Versions")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Draft.", " Final."])
    first = history_json(base, doc.id, doc.edit_token)[1]["to_rev"]

    history = HistoryView(ada.page).open()
    expect(history.versions).to_have_count(0)
    history.key("ArrowLeft")
    history.expect_value(int(str(first)))
    # a name is needed
    history.name_version("   ")
    expect(history.version_error).to_have_text("Give the version a name.")
    history.version_input.fill("First draft")
    history.panel.get_by_role("button", name="Save", exact=True).click()
    expect(history.versions).to_have_count(1, timeout=5_000)
    expect(history.versions.first).to_contain_text("First draft")
    expect(history.versions.first).to_contain_text(f"revision {first}")
    expect(history.versions.first).to_contain_text("Ada")

    response = httpx.get(
        f"{base}/api/docs/{doc.id}/versions",
        headers={"Authorization": f"Bearer {doc.view_token}"},
        timeout=10,
    )
    versions = response.json()["versions"]
    assert [(v["name"], v["rev"]) for v in versions] == [("First draft", first)]

    # listed after a reload too; clicking it shows that revision
    ada.reload()
    history = HistoryView(ada.page).open()
    expect(history.versions).to_have_count(1, timeout=5_000)
    history.versions.first.click()
    history.expect_value(int(str(first)))
    history.expect_past_text("Draft.")
    assert console_errors(ada_person) == []


def test_viewer_page_timeslider_opens_no_websocket(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Viewer history")
    ada = new_person("Ada", "#1971c2").editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["One.", " Two."])

    bob_person = new_person("Bob", "#2b8a3e")
    page = bob_person.new_page()
    sockets: list[str] = []

    def on_websocket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    page.on("websocket", on_websocket)
    viewer = ViewerPage(page, base).open(doc.id, doc.view_token)
    expect(viewer.content).to_have_text("One. Two.", timeout=5_000)
    history = HistoryView(page).open()
    # a view link: no restoring, no naming
    expect(history.name_button).to_have_count(0)
    history.key("ArrowLeft")
    history.expect_past_text("One.")
    expect(viewer.content).to_be_hidden()
    expect(history.restore_button).to_have_count(0)
    expect(history.back_button).to_be_visible()
    history.key("Home")
    history.expect_value(1)

    # live changes keep arriving in the background; the slider grows
    before = history.max()
    ada.focus_end()
    ada.type(" Three.")
    expect(history.slider).not_to_have_attribute("aria-valuemax", str(before), timeout=10_000)
    assert history.value() == 1
    history.back_button.click()
    expect(history.past).to_be_hidden()
    expect(viewer.content).to_have_text("One. Two. Three.", timeout=5_000)
    assert sockets == []
    assert console_errors(bob_person) == []


def test_show_authors_colors_the_text_by_who_wrote_it(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Two authors")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Ada wrote this."])
    grace = new_person("Grace", "#c2255c").editor(base).open(doc.id, doc.edit_token)
    grace.expect_text("Ada wrote this.", timeout=5_000)
    write_in_bursts(grace, [" Grace wrote that."])
    ada.expect_text("Ada wrote this. Grace wrote that.", timeout=5_000)
    ids = {
        str(e["author"]["name"]): str(e["author"]["id"])  # type: ignore[index]
        for e in history_json(base, doc.id, doc.edit_token)
    }

    history = HistoryView(ada.page).open()
    history.show_authors.click()
    expect(history.show_authors).to_have_attribute("aria-pressed", "true")
    # at now the editor colours its live text (e2e/test_live_authors.py); the newest entry
    # shows the server's rendering coloured by author
    history.entries.first.click()
    history.expect_past_text("Ada wrote this. Grace wrote that.")
    colored = ada.page.evaluate(
        """() => Array.from(document.querySelectorAll("[data-testid=history-doc] ins"), (el) => [
             el.dataset.author, el.textContent,
             getComputedStyle(el).getPropertyValue("--author-color").trim(),
           ])"""
    )
    by_author: dict[str, str] = {}
    colors: dict[str, str] = {}
    for author, text, color in colored:
        by_author[author] = by_author.get(author, "") + text
        colors[author] = color
    assert by_author == {ids["Ada"]: "Ada wrote this.", ids["Grace"]: " Grace wrote that."}
    assert colors == {ids["Ada"]: "#1971c2", ids["Grace"]: "#c2255c"}
    # the colors differ on screen too
    backgrounds = ada.page.evaluate(
        """() => Array.from(document.querySelectorAll("[data-testid=history-doc] ins"),
             (el) => getComputedStyle(el).backgroundColor)"""
    )
    assert len(set(backgrounds)) == 2, backgrounds

    # without it, an entry's own changes only: Grace's
    history.show_authors.click()
    history.expect_past_text("Ada wrote this. Grace wrote that.")
    expect(history.inserted()).to_have_text([" Grace wrote that."])
    expect(history.inserted().first).to_have_attribute("data-author", ids["Grace"])
    assert console_errors(ada_person) == []


def test_escape_closes_the_view_and_the_shortcut_opens_it(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Keys")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Keyboard.", " Only."])

    history = HistoryView(ada.page)
    expect(history.button).to_have_attribute("title", re.compile(r"Alt\+Shift\+H"))
    ada.page.keyboard.press("Alt+Shift+H")
    expect(history.panel).to_be_visible()
    expect(history.slider).to_be_focused()
    expect(history.button).to_have_attribute("aria-expanded", "true")
    history.key("ArrowLeft")
    history.expect_past_text("Keyboard.")
    ada.page.keyboard.press("Escape")
    expect(history.panel).to_be_hidden()
    expect(history.past).to_be_hidden()
    expect(ada.content).to_be_visible()
    expect(history.button).to_be_focused()
    expect(history.button).to_have_attribute("aria-expanded", "false")
    # Enter on the focused button opens it again
    ada.page.keyboard.press("Enter")
    expect(history.panel).to_be_visible()
    expect(history.slider).to_be_focused()
    # Escape elsewhere on the page (here the formatting toolbar) is not the view's: it stays
    bold = ada.page.get_by_role("toolbar", name="Formatting").get_by_role("button", name="Bold")
    bold.focus()
    ada.page.keyboard.press("Escape")
    ada.page.wait_for_timeout(300)
    assert history.panel.is_visible(), "Escape outside the history view closed it"
    assert console_errors(ada_person) == []


def test_phone_width_shows_the_view_as_a_sheet(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Phone")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    write_in_bursts(ada, ["Small.", " Screen."])
    ada.page.set_viewport_size({"width": 375, "height": 740})

    history = HistoryView(ada.page).open()
    box = history.panel.bounding_box()
    assert box is not None
    # a sheet along the bottom, the whole width, the text above it still in view
    assert box["x"] == 0 and round(box["width"]) == 375, box
    assert abs(box["y"] + box["height"] - 740) <= 1, box
    assert box["height"] < 740 * 0.6, box
    history.key("ArrowLeft")
    history.expect_past_text("Small.")
    expect(history.banner).to_be_in_viewport()
    expect(history.back_button).to_be_in_viewport()
    history.back_button.click()
    expect(ada.content).to_be_visible()
    assert console_errors(ada_person) == []


def test_dark_mode_renders_the_view(server: ServerProcess, new_person: NewPerson) -> None:
    base = server.base_url
    doc = create_doc(base, "Dark")
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.editor(base).open(doc.id, doc.edit_token)
    ada.page.emulate_media(color_scheme="dark")
    write_in_bursts(ada, ["Night.", " Owl."])

    history = HistoryView(ada.page).open()
    history.key("ArrowLeft")
    history.expect_past_text("Night.")
    background = ada.page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-testid=history-panel]'))"
        ".backgroundColor"
    )
    assert background == "rgb(20, 23, 28)", background  # styles.css's dark --bg
    assert console_errors(ada_person) == []
