"""A leaked link can be reset from the share dialog: the old link stops working at once for
every page that uses it, the new one works, and the page that reset its own edit link carries on.
Needs POST /api/docs/{id}/tokens (contract v2)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import get_doc, get_text
from e2e.pages import NewPerson

LINK = re.compile(r"/(?:d|v)/([^/#]+)#(.+)$")


def _token(link: str) -> str:
    match = LINK.search(link)
    assert match is not None, link
    return match.group(2)


def test_resetting_the_view_link_cuts_off_old_viewers(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    # created through the home page: only the creating browser knows the view link
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.home(base).open().create_and_open("Leaky", "Ada")
    doc_id, edit_token = ada.doc_id, _token(ada.page.url)
    ada.focus_end()
    expect(ada.content).to_be_focused()
    ada.type("Before the leak")

    old_view_link = ada.open_share().get_by_test_id("view-link").input_value()
    ada.share_dialog.get_by_role("button", name="Done").click()
    bob = new_person("Bob", "#2f9e44").viewer(base).open_link(old_view_link)
    expect(bob.content).to_have_text("Before the leak", timeout=5_000)

    new_view_link = ada.reset_link("view")
    assert new_view_link != old_view_link

    # Bob's stream ends and his page says the link no longer works
    expect(bob.error).to_have_text("This link is no longer valid", timeout=5_000)
    expect(bob.content).to_have_count(0)
    old_token = _token(old_view_link)
    response = httpx.get(
        f"{base}/api/docs/{doc_id}", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert response.status_code == 401

    # the new link works, and follows Ada live
    carol = new_person("Carol", "#9c36b5").viewer(base).open_link(new_view_link)
    expect(carol.content).to_have_text("Before the leak", timeout=5_000)
    ada.focus_end()
    expect(ada.content).to_be_focused()
    ada.type(", after the reset")
    expect(carol.content).to_have_text("Before the leak, after the reset", timeout=2_000)
    assert get_doc(base, doc_id, _token(new_view_link))["role"] == "view"
    # Ada's own page kept working throughout
    ada.expect_connected(timeout=1_000)
    assert edit_token == _token(ada.page.url)


def test_resetting_the_edit_link_keeps_this_tab_and_cuts_off_the_others(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    ada_person = new_person("Ada", "#1971c2")
    ada = ada_person.home(base).open().create_and_open("Shared too widely", "Ada")
    doc_id, old_token = ada.doc_id, _token(ada.page.url)
    ada.focus_end()
    expect(ada.content).to_be_focused()
    ada.type("Ada writes")

    mallory = new_person("Mallory", "#d9480f").editor(base).open(doc_id, old_token)
    mallory.expect_text("Ada writes", timeout=2_000)

    new_link = ada.reset_link("edit")
    new_token = _token(new_link)
    assert new_token != old_token

    # this tab's own URL now carries the new token, and it keeps syncing
    expect(ada.page).to_have_url(re.compile(rf"#{re.escape(new_token)}$"), timeout=2_000)
    expect(ada.alert).to_have_count(0)
    ada.expect_connected(timeout=5_000)
    ada.focus_end()
    expect(ada.content).to_be_focused()
    ada.type(", still")
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)
    assert get_text(base, doc_id, new_token).strip() == "Ada writes, still"

    # the old edit link's page is told, stops, and keeps its text on screen
    expect(mallory.alert).to_contain_text("This link is no longer valid", timeout=5_000)
    expect(mallory.connection_status).to_have_text("Not connected", timeout=5_000)
    mallory.expect_text_containing("Ada writes", timeout=1_000)
    response = httpx.get(
        f"{base}/api/docs/{doc_id}", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert response.status_code == 401

    # after a reload Ada's tab opens with the new link
    ada.reload()
    ada.expect_connected(timeout=10_000)
    ada.expect_text("Ada writes, still", timeout=5_000)
