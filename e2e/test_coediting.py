"""Two people write in the same paragraph at the same time and see each other."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson

CONVERGE_MS = 1_000


def test_two_people_editing_one_paragraph_converge_and_see_each_other(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Co-editing")
    ada = new_person("Ada", "#1971c2").editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    ada.focus_end()
    ada.type("the quick brown fox")
    grace.expect_text("the quick brown fox", timeout=CONVERGE_MS)

    # Grace goes to the end of the paragraph and Ada to its start; each waits to see the
    # other's caret there, so that no caret update is still on its way while a key moves a caret.
    grace.focus_end()
    ada.expect_caret_at("Grace", len("the quick brown fox"), timeout=CONVERGE_MS)
    ada.press("Home")
    grace.expect_caret_at("Ada", 0, timeout=CONVERGE_MS)

    # Ada writes at the start while Grace writes at the end, keystroke bursts interleaved
    for ada_part, grace_part in [
        ("Look: ", " jumps"),
        ("this ", " over the"),
        ("is ", " lazy dog"),
    ]:
        ada.type(ada_part)
        grace.type(grace_part)

    expected = "Look: this is the quick brown fox jumps over the lazy dog"
    ada.expect_text(expected, timeout=CONVERGE_MS)
    grace.expect_text(expected, timeout=CONVERGE_MS)

    # each sees the other's avatar and a caret labelled with the other's name
    expect(ada.avatar("Grace")).to_be_visible(timeout=5_000)
    expect(grace.avatar("Ada")).to_be_visible(timeout=5_000)
    expect(ada.avatars).to_have_count(2, timeout=5_000)
    expect(grace.avatars).to_have_count(2, timeout=5_000)
    expect(ada.caret_label("Grace")).to_be_visible(timeout=5_000)
    expect(grace.caret_label("Ada")).to_be_visible(timeout=5_000)
    ada.expect_caret_at("Grace", len(expected), timeout=CONVERGE_MS)
    grace.expect_caret_at("Ada", len("Look: this is "), timeout=CONVERGE_MS)
    expect(ada.caret_label("Ada")).to_have_count(0)
    expect(grace.caret_label("Grace")).to_have_count(0)
