"""The activity recorder folds the rooms' events into stored activity: one entry per person's
burst of consecutive revisions (per author, or per socket for anonymous ones), restores on
their own, names from the author before anything a client claims."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import delete, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from swell.collab.activity import ActivityRecorder
from swell.collab.events import (
    DocumentCreated,
    DocumentEdited,
    DocumentRenamed,
    Participant,
    PeerChanged,
)
from swell.collab.peer import Role
from swell.collab.ports import NewActivity
from swell.records import ActivityRecord, AuthorRecord
from swell.storage.activity_log import SqlActivityLog
from swell.storage.authors import SqlAuthorDirectory
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.models import Author
from tests.client import wait_until

pytestmark = pytest.mark.timeout(30)

DOC = "act1"


@dataclass
class CountedLog:
    """The real activity log, with the batches it was asked to store."""

    log: SqlActivityLog
    batches: list[list[str]] = field(default_factory=list)  # each batch's summaries

    async def append_activities(self, entries: Sequence[NewActivity]) -> list[ActivityRecord]:
        self.batches.append([entry.summary for entry in entries])
        return await self.log.append_activities(entries)

    async def list_activity(
        self, doc_id: str, after_seq: int | None, limit: int
    ) -> tuple[list[ActivityRecord], int, int]:
        return await self.log.list_activity(doc_id, after_seq, limit)


@dataclass
class Setup:
    recorder: ActivityRecorder
    log: SqlActivityLog
    ada: AuthorRecord
    grace: AuthorRecord
    engine: AsyncEngine
    database_url: str


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[Setup]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await SqlDocumentCatalog(sessions).create_document(DOC, "T", b"e" * 32, b"v" * 32)
    directory = SqlAuthorDirectory(sessions)
    ada = await directory.create_author("ada-id", "Ada", "#123456", b"activity-ada".ljust(32, b"."))
    grace = await directory.create_author(
        "grace-id", "Grace", "#654321", b"activity-grace".ljust(32, b".")
    )
    log = SqlActivityLog(sessions)
    # bursts that only an interruption or the flush ends: the test decides where they end
    recorder = ActivityRecorder(log, burst_seconds=60)
    yield Setup(recorder, log, ada, grace, engine, database_url)
    # The PostgreSQL database is shared by the session: leave it as it was found.
    await SqlDocumentCatalog(sessions).delete_document(DOC)
    async with engine.begin() as connection:
        await connection.execute(delete(Author).where(Author.id.in_(["ada-id", "grace-id"])))
    await engine.dispose()


def edited(
    peer: int,
    author: AuthorRecord | None,
    revs: tuple[int, int],
    added: int = 1,
    name: str | None = None,
    kind: str = "edit",
) -> DocumentEdited:
    return DocumentEdited(DOC, peer, author, name, added, 0, revs[0], revs[1], kind)


async def stored(setup: Setup) -> list[ActivityRecord]:
    await setup.recorder.flush()
    records, _, _ = await setup.log.list_activity(DOC, None, 100)
    return records


def summary(record: ActivityRecord) -> tuple[str, str | None, int | None, int | None]:
    author = record.author.id if record.author is not None else None
    return (record.summary, author, record.from_rev, record.to_rev)


async def test_bursts_are_consecutive_revisions_of_one_person(setup: Setup) -> None:
    ada, grace = setup.ada, setup.grace
    for event in (
        edited(1, ada, (1, 1), 3, name="Mallory"),  # the awareness name is never used
        edited(2, ada, (2, 3), 2),  # Ada's second tab: the same burst
        edited(3, grace, (4, 4)),  # Grace in between ends Ada's burst
        edited(1, ada, (5, 6)),
        edited(7, None, (7, 7), name="Zoë"),  # anonymous sockets: one burst each
        edited(8, None, (8, 8), name="Zoë"),
        edited(8, None, (9, 9), name="Zoë"),
        edited(9, None, (10, 10)),  # nameless
    ):
        setup.recorder.on_event(event)
    assert [summary(r) for r in await stored(setup)] == [
        ("Ada added 5 characters", "ada-id", 1, 3),
        ("Grace added 1 character", "grace-id", 4, 4),
        ("Ada added 1 character", "ada-id", 5, 6),
        ("Zoë added 1 character", None, 7, 7),
        ("Zoë added 2 characters", None, 8, 9),
        ("Someone added 1 character", None, 10, 10),
    ]


async def test_another_process_edit_splits_the_burst_at_its_revision(setup: Setup) -> None:
    """Grace's revision 3 was committed by another process and is heard of after Ada's 4:
    Ada's activity is what one server would have recorded, 1-2 then 4-5 (Grace's is recorded
    by the other process); Ada's own edits through another process end nothing."""
    ada, grace = setup.ada, setup.grace
    on = setup.recorder.on_event
    on(edited(1, ada, (1, 1), 1))
    on(edited(1, ada, (2, 2), 2))
    on(edited(1, ada, (4, 4), 4))
    on(replace(edited(5, grace, (3, 3)), remote=True))
    on(edited(1, ada, (5, 5), 8))
    on(replace(edited(6, ada, (6, 6)), remote=True))  # Ada's other tab, on another process
    on(edited(1, ada, (7, 7), 16))
    assert [summary(r) for r in await stored(setup)] == [
        ("Ada added 3 characters", "ada-id", 1, 2),
        ("Ada added 28 characters", "ada-id", 4, 7),
    ]


async def test_a_restore_is_an_entry_of_its_own_and_ends_the_burst_before_it(
    setup: Setup,
) -> None:
    ada = setup.ada
    setup.recorder.on_event(edited(1, ada, (1, 2)))
    setup.recorder.on_event(edited(0, ada, (3, 3), 0, kind="restore"))
    setup.recorder.on_event(edited(0, None, (4, 4), 0, kind="restore"))
    setup.recorder.on_event(edited(1, ada, (5, 5)))
    records = await stored(setup)
    assert [(r.kind, *summary(r)) for r in records] == [
        ("edit", "Ada added 1 character", "ada-id", 1, 2),
        ("restore", "Ada restored an earlier version", "ada-id", 3, 3),
        ("restore", "Someone restored an earlier version", None, 4, 4),
        ("edit", "Ada added 1 character", "ada-id", 5, 5),
    ]
    assert [r.user for r in records] == ["Ada", "Ada", "Someone", "Ada"]


async def test_joins_and_creation_carry_the_author_with_its_current_name(setup: Setup) -> None:
    ada = setup.ada
    setup.recorder.on_event(DocumentCreated(DOC, ada.name, ada))
    setup.recorder.on_event(PeerChanged(DOC, Participant(1, Role.EDIT, "Ada", "#123456", ada)))
    setup.recorder.on_event(PeerChanged(DOC, Participant(2, Role.EDIT, "Bob", None)))
    records = await stored(setup)
    assert [(r.kind, r.summary, r.author) for r in records] == [
        ("created", "Ada created the document", ada),
        ("join", "Ada joined", ada),
        ("join", "Bob joined", None),
    ]
    assert all(r.from_rev is None and r.to_rev is None for r in records)


def renamed(title: str, doc_id: str = DOC) -> DocumentRenamed:
    return DocumentRenamed(doc_id, title, "Ada")


def commits(engine: AsyncEngine) -> list[int]:
    """A counter of the transactions committed on ``engine`` from now on."""
    counted = [0]

    def on_commit(_connection: object) -> None:
        counted[0] += 1

    sa_event.listen(engine.sync_engine, "commit", on_commit)
    return counted


@contextlib.asynccontextmanager
async def activity_writes_held(database_url: str) -> AsyncIterator[None]:
    """Another connection holds what an activity write of ``DOC`` waits for (PostgreSQL: the
    document's advisory lock; SQLite: the write lock), until the block ends."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(str(url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(database_url)
    key = {"key": f"swell:activity:{DOC}"}
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), key
            )
            try:
                yield
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), key
                )
    finally:
        await engine.dispose()


async def test_entries_recorded_while_a_write_is_in_flight_go_into_one_transaction(
    setup: Setup,
) -> None:
    """Group commit: the first entry is written at once (no delay), the twenty recorded while
    that write waits for the database go into the next batch, one transaction; listeners
    get every record once, in order, numbered on; flush waits for all of it."""
    counted = CountedLog(setup.log)
    recorder = ActivityRecorder(counted, burst_seconds=60)
    delivered: list[ActivityRecord] = []
    recorder.listen(delivered.append)
    transactions = commits(setup.engine)
    async with activity_writes_held(setup.database_url):
        recorder.on_event(renamed("T0"))
        await wait_until(lambda: len(counted.batches) == 1)  # written at once: in flight
        for i in range(1, 21):
            recorder.on_event(renamed(f"T{i}"))
    await recorder.flush()
    titles = [f"Ada renamed the document to “T{i}”" for i in range(21)]
    assert counted.batches == [titles[:1], titles[1:]]
    assert transactions[0] == 2
    assert [(r.seq, r.summary) for r in delivered] == list(enumerate(titles, start=1))
    records, _, _ = await setup.log.list_activity(DOC, None, 100)
    assert [(r.seq, r.summary) for r in records] == list(enumerate(titles, start=1))


async def test_entries_that_come_one_at_a_time_within_the_linger_share_a_transaction(
    setup: Setup,
) -> None:
    """People typing in turn close a burst each, one entry at a time and never while a write
    is in flight: the linger makes them one transaction instead of one each."""
    counted = CountedLog(setup.log)
    recorder = ActivityRecorder(counted, burst_seconds=60, linger_seconds=0.3)
    delivered: list[ActivityRecord] = []
    recorder.listen(delivered.append)
    transactions = commits(setup.engine)
    for i in range(5):
        recorder.on_event(renamed(f"L{i}"))
        await asyncio.sleep(0)  # one entry per loop iteration, as bursts close
    await wait_until(lambda: len(delivered) == 5, within=5)
    assert len(counted.batches) == 1 and transactions[0] == 1
    assert [r.summary for r in delivered] == [
        f"Ada renamed the document to “L{i}”" for i in range(5)
    ]


async def test_an_idle_entry_is_written_without_waiting_for_a_flush(setup: Setup) -> None:
    delivered: list[ActivityRecord] = []
    setup.recorder.listen(delivered.append)
    setup.recorder.on_event(renamed("Now"))
    await wait_until(lambda: len(delivered) == 1, within=5)
    assert delivered[0].summary == "Ada renamed the document to “Now”"


async def test_a_document_that_fails_loses_no_other_documents_activity(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """One batch with entries of a document the database refuses (a trigger: a real failure
    of a real statement), of one deleted meanwhile and of a good one: the good one's are
    stored, the failure is logged with its document, and the writer goes on."""
    catalog = SqlDocumentCatalog(create_session_factory(setup.engine))
    for doc_id in ("act-refused", "act-deleted"):
        await catalog.create_document(doc_id, "T", b"e" * 32, b"v" * 32)
    await catalog.delete_document("act-deleted")
    postgres = setup.engine.dialect.name == "postgresql"
    async with setup.engine.begin() as connection:
        if postgres:
            await connection.execute(
                text(
                    "CREATE FUNCTION refuse_activity() RETURNS trigger AS $$ BEGIN"
                    " IF NEW.document_id = 'act-refused' THEN RAISE EXCEPTION 'refused'; END IF;"
                    " RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_activity BEFORE INSERT ON activities"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_activity()"
                )
            )
        else:
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_activity BEFORE INSERT ON activities"
                    " WHEN NEW.document_id = 'act-refused'"
                    " BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    counted = CountedLog(setup.log)
    recorder = ActivityRecorder(counted, burst_seconds=60)
    delivered: list[ActivityRecord] = []
    recorder.listen(delivered.append)
    try:
        with caplog.at_level(logging.WARNING, logger="swell.collab.activity"):
            for event in (
                renamed("A1"),
                renamed("bad", "act-refused"),
                renamed("gone", "act-deleted"),
                renamed("A2"),
            ):
                recorder.on_event(event)
            await recorder.flush()
            assert len(counted.batches[0]) == 4  # all of them in one batch first
            assert [r.summary[-4:-1] for r in delivered] == ["“A1", "“A2"]
            failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert any("act-refused" in m for m in failures), failures
            recorder.on_event(renamed("A3"))
            await recorder.flush()
    finally:
        async with setup.engine.begin() as connection:
            await connection.execute(
                text("DROP TRIGGER refuse_activity" + (" ON activities" if postgres else ""))
            )
            if postgres:
                await connection.execute(text("DROP FUNCTION refuse_activity()"))
        await catalog.delete_document("act-refused")
    records, _, _ = await setup.log.list_activity(DOC, None, 100)
    assert [(r.seq, r.summary[-4:-1]) for r in records] == [(1, "“A1"), (2, "“A2"), (3, "“A3")]
    assert [r.seq for r in delivered] == [1, 2, 3]


async def test_entries_beyond_the_bound_drop_the_oldest_while_the_database_hangs(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    counted = CountedLog(setup.log)
    recorder = ActivityRecorder(counted, burst_seconds=60, max_queued=5)
    delivered: list[ActivityRecord] = []
    recorder.listen(delivered.append)
    with caplog.at_level(logging.WARNING, logger="swell.collab.activity"):
        async with activity_writes_held(setup.database_url):
            recorder.on_event(renamed("T0"))
            await wait_until(lambda: len(counted.batches) == 1)  # T0's write is in flight
            for i in range(1, 13):
                recorder.on_event(renamed(f"T{i}"))  # five are kept waiting, at most
        await recorder.flush()
    assert [r.summary for r in delivered] == [
        f"Ada renamed the document to “T{i}”" for i in (0, 8, 9, 10, 11, 12)
    ]
    assert [r.seq for r in delivered] == [1, 2, 3, 4, 5, 6]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("dropping the oldest" in m for m in warnings), warnings
    assert any("7 activity entries were dropped" in m for m in warnings), warnings
