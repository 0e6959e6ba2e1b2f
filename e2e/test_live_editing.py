"""Who is typing right now: while someone makes a burst of changes, the viewer page and the other
editors' avatars show them as editing, and the mark goes away once the burst ends.
Needs presence entries with "editing" (contract v2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.conftest import keep_server_log, module_server
from e2e.pages import NewPerson

# a burst of changes ends after this many quiet seconds (default 3)
EDIT_BURST_SECONDS = 1.0


@pytest.fixture(scope="module")
def burst_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(
        tmp_path_factory, "burst-server", {"SWELL_EDIT_BURST_SECONDS": str(EDIT_BURST_SECONDS)}
    )


@pytest.fixture
def server(burst_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    yield from keep_server_log(burst_server, request)


def test_the_viewer_and_the_editors_see_who_is_editing(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Who types")
    ada = new_person("Ada", "#c2255c").editor(base).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#1971c2").editor(base).open(doc.id, doc.edit_token)
    bob = new_person("Bob", "#2f9e44").viewer(base).open(doc.id, doc.view_token)

    # nobody types: Ada is there, not editing
    ada_on_bob = bob.editor_avatar("Ada")
    expect(ada_on_bob).to_be_visible(timeout=5_000)
    expect(ada_on_bob).to_have_attribute("data-editing", "false")
    expect(grace.avatar("Ada")).to_have_attribute("data-editing", "false", timeout=5_000)

    ada.focus_end()
    ada.type("Typing away")

    # within a second of the first change (plus the feed's way to the browser)
    expect(ada_on_bob).to_have_attribute("data-editing", "true", timeout=2_000)
    expect(ada_on_bob).to_have_accessible_name("Ada, editing now")
    expect(bob.page.get_by_test_id("viewer-typing")).to_have_text("Ada is editing")
    expect(grace.editing_avatar("Ada")).to_be_visible(timeout=2_000)
    expect(grace.avatar("Ada")).to_have_accessible_name("Ada, editing now")
    # your own typing is not announced to you
    expect(ada.avatar("Ada")).to_have_attribute("data-editing", "false")
    expect(bob.editor_avatar("Grace")).to_have_attribute("data-editing", "false")

    # the burst ends: the mark goes away
    quiet_ms = (EDIT_BURST_SECONDS + 3) * 1000
    expect(ada_on_bob).to_have_attribute("data-editing", "false", timeout=quiet_ms)
    expect(ada_on_bob).to_have_accessible_name("Ada, can edit")
    expect(grace.avatar("Ada")).to_have_attribute("data-editing", "false", timeout=quiet_ms)
    expect(bob.page.get_by_test_id("viewer-typing")).to_have_text("")
