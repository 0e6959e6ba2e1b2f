"""Two ``swell serve`` processes on one PostgreSQL database and one Redis act as one server, seen
from real browsers (issue 12): people on different processes see each other's text, avatars and
carets; viewers on either process see the editors of both; when one process is killed and
started again, the editor pages it served come back by themselves and nothing typed is lost.

A page talks to the process that served it (the WebSocket's Origin check), so each person opens
their page on "their" process. Skipped unless ``SWELL_TEST_POSTGRES_URL`` and
``SWELL_TEST_REDIS_URL`` are set (CI sets both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from tests.cluster.conftest import REDIS_ENV, Cluster
from tests.conftest import POSTGRES_ENV, fresh_postgres_database

from e2e.api import create_doc, get_text
from e2e.conftest import _failed, _fresh_output_dir
from e2e.pages import NewPerson

SYNC_MS = 3_000  # the contract says 1 s across processes; a browser on a busy machine gets more
PRESENCE_MS = 5_000  # presence goes through edit bursts and event-stream renders
# A killed process's lease expires within 3 s; the others drop its people within 5 s.
GONE_MS = 10_000
RECONNECT_MS = 15_000

ADA = ("Ada", "#1971c2")
GRACE = ("Grace", "#c2255c")
BOB = ("Bob", "#2f9e44")
CAROL = ("Carol", "#e8590c")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this module, dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    with fresh_postgres_database(base, "swell_e2e") as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    return url


@pytest.fixture(scope="module")
def two_servers(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two processes sharing the module's database, the Redis and a key prefix of their own
    (its keys are deleted at the end: SCAN on the prefix, never FLUSHALL)."""
    cluster = Cluster(postgres_url, redis_url, tmp_path_factory.mktemp("cluster"), size=2)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            cluster.delete_keys()


@pytest.fixture
def cluster(two_servers: Cluster, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The module's two processes, both running (a test that failed while one was down does not
    leave it down); on failure, what each logged during the test goes to test-results/."""
    for index in range(len(two_servers)):
        if not two_servers.alive(index):
            two_servers.restart(index)
    logs = [process.log_path for process in two_servers.processes]
    starts = [log.stat().st_size if log.exists() else 0 for log in logs]
    yield two_servers
    if _failed(request):
        out = _fresh_output_dir(request)
        for index, (log, start) in enumerate(zip(logs, starts, strict=True)):
            with log.open("rb") as f:
                f.seek(start)
                (out / f"server{index + 1}.log").write_bytes(f.read())


@pytest.mark.timeout(60)
def test_people_on_two_processes_see_each_others_text_and_presence(
    cluster: Cluster, new_person: NewPerson
) -> None:
    one, two = cluster[0].base_url, cluster[1].base_url
    doc = create_doc(one, "Two processes")
    ada = new_person(*ADA).editor(one).open(doc.id, doc.edit_token)
    grace = new_person(*GRACE).editor(two).open(doc.id, doc.edit_token)
    bob = new_person(*BOB).viewer(two).open(doc.id, doc.view_token)

    # Ada's text reaches Grace and the viewer, both on the other process
    first = "Ada writes on process one."
    ada.focus_end()
    ada.type(first)
    grace.expect_text(first, timeout=SYNC_MS)
    expect(bob.content).to_have_text(first, timeout=SYNC_MS)

    # and Grace's reaches Ada
    both = f"{first} Grace answers from process two."
    grace.focus_end()
    grace.type(" Grace answers from process two.")
    ada.expect_text(both, timeout=SYNC_MS)
    grace.expect_text(both, timeout=SYNC_MS)
    expect(bob.content).to_have_text(both, timeout=SYNC_MS)

    # each editor shows the other's avatar and caret (awareness crosses processes)
    expect(ada.avatar("Grace")).to_be_visible(timeout=PRESENCE_MS)
    expect(grace.avatar("Ada")).to_be_visible(timeout=PRESENCE_MS)
    expect(ada.avatars).to_have_count(2, timeout=PRESENCE_MS)
    expect(grace.avatars).to_have_count(2, timeout=PRESENCE_MS)
    expect(ada.caret_label("Grace")).to_be_visible(timeout=PRESENCE_MS)
    expect(grace.caret_label("Ada")).to_be_visible(timeout=PRESENCE_MS)
    ada.expect_caret_at("Grace", len(both), timeout=SYNC_MS)
    grace.expect_caret_at("Ada", len(first), timeout=SYNC_MS)

    # the viewer on process two lists Ada (process one) among the editors, Grace too
    expect(bob.editor_avatar("Ada")).to_be_visible(timeout=PRESENCE_MS)
    expect(bob.editor_avatar("Grace")).to_be_visible(timeout=PRESENCE_MS)
    expect(bob.editors).to_have_count(2, timeout=PRESENCE_MS)

    # a viewer on process one: the two viewers count each other, whichever process serves them
    carol = new_person(*CAROL).viewer(one).open(doc.id, doc.view_token)
    expect(carol.content).to_have_text(both, timeout=SYNC_MS)
    expect(carol.editors).to_have_count(2, timeout=PRESENCE_MS)
    for viewer in (bob, carol):
        expect(viewer.presence.get_by_test_id("viewer-watching")).to_have_text(
            "2 watching", timeout=PRESENCE_MS
        )

    # saved once, in the one database both processes serve
    for editor in (ada, grace):
        expect(editor.save_status).to_have_text("All changes saved", timeout=5_000)
    for base in (one, two):
        assert get_text(base, doc.id, doc.view_token).strip() == both


@pytest.mark.timeout(60)
def test_a_killed_process_comes_back_and_its_editor_catches_up(
    cluster: Cluster, new_person: NewPerson
) -> None:
    one, two = cluster[0].base_url, cluster[1].base_url
    doc = create_doc(two, "Kill one")
    ada = new_person(*ADA).editor(one).open(doc.id, doc.edit_token)
    grace = new_person(*GRACE).editor(two).open(doc.id, doc.edit_token)

    seen = "Seen before the kill."
    ada.focus_end()
    ada.type(seen)
    grace.expect_text(seen, timeout=SYNC_MS)
    expect(grace.avatar("Ada")).to_be_visible(timeout=PRESENCE_MS)

    # typed right before SIGKILL: it may or may not have reached process one, or Redis
    ada.type(" Typed just before it.")
    cluster.kill(0)
    expect(ada.connection_status).to_have_text("Reconnecting…", timeout=5_000)
    grace.expect_connected(timeout=1_000)  # process two goes on

    # process one's lease expires and process two drops the people it served
    expect(grace.avatar("Ada")).to_be_hidden(timeout=GONE_MS)
    expect(grace.avatars).to_have_count(1)

    ada.type(" Typed while it was down.")
    before = f"{seen} Typed just before it. Typed while it was down."
    ada.expect_text(before, timeout=SYNC_MS)

    cluster.restart(0)
    ada.expect_connected(timeout=RECONNECT_MS)
    grace.expect_text(before, timeout=SYNC_MS)
    expect(grace.avatar("Ada")).to_be_visible(timeout=PRESENCE_MS)
    expect(ada.avatar("Grace")).to_be_visible(timeout=PRESENCE_MS)

    # both go on writing, through both processes
    ada.focus_end()
    ada.type(" After the restart.")
    grace.expect_text(f"{before} After the restart.", timeout=SYNC_MS)
    grace.focus_end()
    grace.type(" Grace too.")
    everything = f"{before} After the restart. Grace too."
    ada.expect_text(everything, timeout=SYNC_MS)
    grace.expect_text(everything, timeout=SYNC_MS)

    for editor in (ada, grace):
        expect(editor.save_status).to_have_text("All changes saved", timeout=5_000)
    for base in (one, two):
        assert get_text(base, doc.id, doc.view_token).strip() == everything
