"""One storage contract: the catalog and activity log against SQLite and PostgreSQL, the update
journal (``DocumentStore``) against those and the in-memory store too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycrdt import Doc, Text
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from swell.migrate import upgrade_database
from swell.records import (
    ANONYMOUS,
    ActivityRecord,
    AuthorRecord,
    Change,
    Chunk,
    NewestRevision,
    StoredState,
)
from swell.storage.activity_log import SqlActivityLog
from swell.storage.authors import SqlAuthorDirectory
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import DocumentGone, SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.memory_store import MemoryDocumentStore, UnknownDocumentError
from swell.storage.read_marks import SqlReadMarks
from tests.changes import as_changes
from tests.conftest import POSTGRES_ENV

JOURNAL_BACKENDS = [
    "sqlite",
    "sqlite, numbered by the room",
    *(["postgres"] if os.environ.get(POSTGRES_ENV) else []),
    "memory",
]
EMPTY = StoredState(snapshot=None, updates=[], rev=0, updates_since_snapshot=0)


@dataclass
class Stores:
    catalog: SqlDocumentCatalog
    documents: SqlDocumentStore
    activity: SqlActivityLog
    engine: AsyncEngine


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    store = SqlDocumentStore(sessions)
    yield Stores(SqlDocumentCatalog(sessions), store, SqlActivityLog(sessions), engine)
    await store.close()
    await engine.dispose()


@dataclass
class Journal:
    """One ``DocumentStore`` and the way its backend makes and deletes documents."""

    documents: SqlDocumentStore | MemoryDocumentStore
    add_document: Callable[[str], Awaitable[object]]
    delete_document: Callable[[str], Awaitable[object]]
    unknown_document: type[Exception] | tuple[type[Exception], ...]
    """What writing content for a document that does not exist raises."""


class NumberedByTheRoom:
    """The store as a room uses it: the room numbers its own revisions (``first_rev``, the
    newest it knows + 1), which on SQLite takes the journal's own path (``SqliteJournal``,
    around SQLAlchemy); everything else goes to the store itself."""

    def __init__(self, store: SqlDocumentStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def append_changes(
        self, doc_id: str, changes: list[Change], bindings: dict[int, str]
    ) -> int:
        newest = (await self._store.load_state(doc_id)).rev
        return await self._store.append_changes(doc_id, changes, bindings, newest + 1)


@pytest.fixture(params=JOURNAL_BACKENDS)
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Journal]:
    if request.param == "memory":
        memory = MemoryDocumentStore()

        async def add(doc_id: str) -> None:
            memory.add_document(doc_id)

        async def delete(doc_id: str) -> bool:
            return memory.delete_document(doc_id)

        yield Journal(memory, add, delete, UnknownDocumentError)
        return
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
        await asyncio.to_thread(upgrade_database, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    catalog = SqlDocumentCatalog(sessions)

    async def create(doc_id: str) -> object:
        return await catalog.create_document(doc_id, "T", b"e" * 32, b"v" * 32)

    store = SqlDocumentStore(sessions)
    documents = NumberedByTheRoom(store) if "numbered" in request.param else store
    yield Journal(documents, create, catalog.delete_document, (IntegrityError, DocumentGone))  # type: ignore[arg-type]
    await store.close()
    await engine.dispose()


async def new_doc(stores: Stores, doc_id: str) -> None:
    await stores.catalog.create_document(doc_id, "T", b"e" * 32, b"v" * 32)


def updates(n: int) -> list[bytes]:
    doc: Doc = Doc()
    text = doc.get("t", type=Text)
    out = []
    for i in range(n):
        before = doc.get_state()
        text += str(i % 10)
        out.append(doc.get_update(before))
    return out


def chunk(from_rev: int, to_rev: int, data: bytes = b"H") -> Chunk:
    return Chunk(from_rev, to_rev, data, b"R", b"C%d" % to_rev)


async def test_catalog_round_trip(stores: Stores) -> None:
    created = await stores.catalog.create_document("doc-a", "Title", b"e" * 32, b"v" * 32)
    fetched = await stores.catalog.get_document("doc-a")
    assert fetched == created
    assert fetched.created_at.tzinfo is not None
    renamed = await stores.catalog.rename_document("doc-a", "New")
    assert renamed is not None and renamed.title == "New"
    assert renamed.updated_at >= created.updated_at
    assert await stores.catalog.rename_document("missing", "x") is None
    assert await stores.catalog.delete_document("doc-a") is True
    assert await stores.catalog.get_document("doc-a") is None
    assert await stores.catalog.delete_document("doc-a") is False


async def test_revisions_are_numbered_from_one_without_gaps(journal: Journal) -> None:
    await journal.add_document("doc-b")
    ups = updates(5)
    first = await journal.documents.append_changes("doc-b", as_changes(ups[:2], "ada"), {})
    last = await journal.documents.append_changes("doc-b", as_changes(ups[2:]), {})
    assert (first, last) == (2, 5)
    state = await journal.documents.load_state("doc-b")
    assert state.snapshot is None
    assert list(state.updates) == ups
    assert state.rev == 5
    assert state.updates_since_snapshot == 5
    history = await journal.documents.load_history("doc-b")
    assert [row.revision.rev for row in history.rows] == [1, 2, 3, 4, 5]
    assert [row.revision.author_id for row in history.rows] == ["ada", "ada", None, None, None]
    assert all(row.revision.at.tzinfo is not None for row in history.rows)


async def test_a_missing_document_loads_empty(journal: Journal) -> None:
    assert await journal.documents.load_state("missing") == EMPTY
    log = await journal.documents.load_log("missing", 10)
    assert (log.snapshot, list(log.rows), log.checkpoint) == (None, [], None)


async def test_content_for_a_missing_document_is_refused(journal: Journal) -> None:
    with pytest.raises(journal.unknown_document):
        await journal.documents.append_changes("missing", as_changes(updates(1)), {})
    with pytest.raises(journal.unknown_document):
        await journal.documents.compact("missing", b"SNAPSHOT", 1, chunk(1, 1))
    assert await journal.documents.load_state("missing") == EMPTY


async def test_documents_keep_their_own_journals(journal: Journal) -> None:
    await journal.add_document("doc-x")
    await journal.add_document("doc-y")
    ups = updates(3)
    x = await journal.documents.append_changes("doc-x", as_changes(ups[:1]), {})
    y = await journal.documents.append_changes("doc-y", as_changes(ups[1:]), {})
    assert (x, y) == (1, 2)  # numbered per document
    await journal.documents.compact("doc-x", b"X", x, chunk(1, 1))
    state_x = await journal.documents.load_state("doc-x")
    state_y = await journal.documents.load_state("doc-y")
    assert (state_x.snapshot, list(state_x.updates), state_x.rev) == (b"X", [], 1)
    assert (state_y.snapshot, list(state_y.updates), state_y.rev) == (None, ups[1:], 2)


async def test_compaction_moves_revisions_into_history_atomically(journal: Journal) -> None:
    await journal.add_document("doc-c")
    ups = updates(6)
    changes = as_changes(ups)
    upto = await journal.documents.append_changes("doc-c", changes[:4], {})
    later = await journal.documents.append_changes("doc-c", changes[4:], {})
    log = await journal.documents.load_log("doc-c", upto)
    assert [row.data for row in log.rows] == ups[:4]
    assert [row.ids for row in log.rows] == [c.ids for c in changes[:4]]
    assert log.checkpoint is None
    await journal.documents.compact("doc-c", b"SNAPSHOT", upto, chunk(1, 4, b"H1"))
    state = await journal.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[4:]
    assert state.rev == later == 6
    assert state.updates_since_snapshot == 2
    assert await journal.documents.count_updates("doc-c") == 2
    log = await journal.documents.load_log("doc-c", later)
    assert log.snapshot == b"SNAPSHOT" and [row.data for row in log.rows] == ups[4:]
    assert log.checkpoint == b"C4"
    history = await journal.documents.load_history("doc-c")
    assert [(c.from_rev, c.to_rev, c.data) for c in history.chunks] == [(1, 4, b"H1")]
    assert [row.revision.rev for row in history.rows] == [5, 6]
    await journal.documents.compact("doc-c", b"SNAPSHOT2", later, chunk(5, 6, b"H2"))
    state = await journal.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT2" and list(state.updates) == []
    assert state.rev == 6
    history = await journal.documents.load_history("doc-c", upto_rev=3)
    assert [c.from_rev for c in history.chunks] == [1] and list(history.rows) == []
    history = await journal.documents.load_history("doc-c")
    assert [c.from_rev for c in history.chunks] == [1, 5]


async def test_the_same_revisions_are_never_folded_twice(journal: Journal) -> None:
    """Two compactions of the same revisions racing: the second fails and deletes nothing."""
    await journal.add_document("doc-race")
    upto = await journal.documents.append_changes("doc-race", as_changes(updates(2)), {})
    await journal.documents.compact("doc-race", b"FIRST", upto, chunk(1, 2))
    with pytest.raises(Exception):  # noqa: B017 (IntegrityError, or the memory store's own)
        await journal.documents.compact("doc-race", b"SECOND", upto, chunk(1, 2))
    state = await journal.documents.load_state("doc-race")
    assert state.snapshot == b"FIRST"


async def test_revisions_continue_after_a_compaction_that_emptied_the_journal(
    journal: Journal,
) -> None:
    await journal.add_document("doc-reuse")
    ups = updates(4)
    upto = await journal.documents.append_changes("doc-reuse", as_changes(ups[:2]), {})
    await journal.documents.compact("doc-reuse", b"SNAPSHOT", upto, chunk(1, 2))
    assert await journal.documents.count_updates("doc-reuse") == 0
    later = await journal.documents.append_changes("doc-reuse", as_changes(ups[2:]), {})
    assert later == 4
    state = await journal.documents.load_state("doc-reuse")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[2:]
    assert state.rev == 4


async def test_client_ids_stay_bound_to_their_first_author(journal: Journal) -> None:
    await journal.add_document("doc-bind")
    store = journal.documents
    await store.append_changes("doc-bind", as_changes(updates(1)), {7: "ada", 8: ANONYMOUS})
    await store.append_changes("doc-bind", as_changes(updates(1)), {7: "grace", 9: "grace"})
    assert await store.client_authors("doc-bind", [7, 8, 9, 10]) == {
        7: "ada",
        8: ANONYMOUS,
        9: "grace",
    }


async def test_deleting_a_document_deletes_its_journal(journal: Journal) -> None:
    await journal.add_document("doc-gone")
    ups = updates(2)
    first = await journal.documents.append_changes("doc-gone", as_changes(ups[:1]), {1: "a"})
    await journal.documents.append_changes("doc-gone", as_changes(ups[1:]), {})
    await journal.documents.compact("doc-gone", b"SNAPSHOT", first, chunk(1, 1))
    await journal.delete_document("doc-gone")
    assert await journal.documents.count_updates("doc-gone") == 0
    assert await journal.documents.load_state("doc-gone") == EMPTY
    history = await journal.documents.load_history("doc-gone")
    assert (list(history.chunks), list(history.rows)) == ([], [])
    assert await journal.documents.client_authors("doc-gone", [1]) == {}


async def test_concurrent_writers_through_two_engines_get_gapless_revisions(
    database_url: str,
) -> None:
    """Two engines stand for two processes: each commit takes its numbers under the
    document row's lock, so every revision from 1 to N exists exactly once."""
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        sessions = [create_session_factory(e) for e in engines]
        await SqlDocumentCatalog(sessions[0]).create_document("doc-two", "T", b"e" * 32, b"v" * 32)
        stores = [SqlDocumentStore(s) for s in sessions]
        ups = updates(40)

        async def writer(store: SqlDocumentStore, mine: list[bytes]) -> list[int]:
            return [await store.append_changes("doc-two", as_changes([u]), {}) for u in mine]

        a, b = await asyncio.gather(writer(stores[0], ups[::2]), writer(stores[1], ups[1::2]))
        assert sorted(a + b) == list(range(1, 41))
        assert a == sorted(a) and b == sorted(b)  # each writer's own commits in order
        history = await stores[0].load_history("doc-two")
        assert [row.revision.rev for row in history.rows] == list(range(1, 41))
    finally:
        for engine in engines:
            await engine.dispose()


async def test_deleting_a_document_deletes_its_content(stores: Stores) -> None:
    await new_doc(stores, "doc-d")
    await stores.documents.append_changes("doc-d", as_changes(updates(1)), {})
    await stores.activity.append_activities([Entry("doc-d", "created", "Ada", "Ada created it")])
    await stores.catalog.delete_document("doc-d")
    assert await stores.documents.count_updates("doc-d") == 0
    assert await stores.activity.list_activity("doc-d", None, 10) == ([], 0, 0)


@dataclass(frozen=True)
class Entry:
    """An activity to store (what ``NewActivity`` asks for)."""

    doc_id: str
    kind: str
    user: str
    summary: str
    author_id: str | None = None
    from_rev: int | None = None
    to_rev: int | None = None


async def test_activity_is_numbered_per_document(stores: Stores) -> None:
    await new_doc(stores, "doc-e")
    await new_doc(stores, "doc-f")
    for i in range(3):
        await stores.activity.append_activities([Entry("doc-e", "edit", "Ada", f"e{i}")])
    [other] = await stores.activity.append_activities([Entry("doc-f", "edit", "Bob", "f0")])
    assert other.seq == 1
    records, oldest, newest = await stores.activity.list_activity("doc-e", None, 2)
    assert [r.seq for r in records] == [2, 3] and (oldest, newest) == (1, 3)
    records, _, _ = await stores.activity.list_activity("doc-e", 1, 50)
    assert [r.summary for r in records] == ["e1", "e2"]


async def test_a_batch_numbers_each_of_its_documents_on_from_its_newest(stores: Stores) -> None:
    """Several documents in one batch, and batch after batch: each document's entries get
    the next numbers in the order given, and the records come back in that order."""
    await new_doc(stores, "doc-ba")
    await new_doc(stores, "doc-bb")
    first = await stores.activity.append_activities(
        [
            Entry("doc-ba", "join", "Ada", "a1"),
            Entry("doc-bb", "join", "Bob", "b1"),
            Entry("doc-ba", "edit", "Ada", "a2", from_rev=1, to_rev=4),
        ]
    )
    second = await stores.activity.append_activities(
        [Entry("doc-bb", "edit", "Bob", "b2"), Entry("doc-ba", "leave", "Ada", "a3")]
    )
    assert [(r.document_id, r.seq, r.summary) for r in first + second] == [
        ("doc-ba", 1, "a1"),
        ("doc-bb", 1, "b1"),
        ("doc-ba", 2, "a2"),
        ("doc-bb", 2, "b2"),
        ("doc-ba", 3, "a3"),
    ]
    assert (first[2].from_rev, first[2].to_rev) == (1, 4)
    assert all(r.at.tzinfo is not None for r in first + second)
    records, oldest, newest = await stores.activity.list_activity("doc-ba", None, 10)
    assert [(r.seq, r.summary, r.kind) for r in records] == [
        (1, "a1", "join"),
        (2, "a2", "edit"),
        (3, "a3", "leave"),
    ]
    assert (oldest, newest) == (1, 3)
    assert (records[1].from_rev, records[1].to_rev) == (1, 4)
    assert await stores.activity.append_activities([]) == []


async def test_a_batch_resolves_its_authors_current_names(stores: Stores) -> None:
    await new_doc(stores, "doc-authors")
    directory = SqlAuthorDirectory(create_session_factory(stores.engine))
    ada = await directory.create_author("batch-ada", "Ada", "#123456", b"A" * 32)
    grace = await directory.create_author("batch-grace", "Grace", "#654321", b"G" * 32)
    await directory.update_author("batch-grace", name="Grace H.")
    records = await stores.activity.append_activities(
        [
            Entry("doc-authors", "join", "Ada", "a", author_id=ada.id),
            Entry("doc-authors", "join", "Zoë", "anonymous"),
            Entry("doc-authors", "join", "Grace", "g", author_id=grace.id),
            Entry("doc-authors", "edit", "Ada", "a again", author_id=ada.id),
            Entry("doc-authors", "join", "Ghost", "unknown", author_id="no-such-author"),
        ]
    )
    assert [r.author for r in records] == [
        ada,
        None,
        AuthorRecord("batch-grace", "Grace H.", "#654321"),
        ada,
        None,
    ]


async def test_a_document_deleted_meanwhile_fails_no_other_in_its_batch(stores: Stores) -> None:
    await new_doc(stores, "doc-kept")
    await new_doc(stores, "doc-deleted")
    await stores.catalog.delete_document("doc-deleted")
    records = await stores.activity.append_activities(
        [
            Entry("doc-kept", "join", "Ada", "k1"),
            Entry("doc-deleted", "join", "Ada", "gone"),
            Entry("doc-never", "join", "Ada", "never"),
            Entry("doc-kept", "leave", "Ada", "k2"),
        ]
    )
    assert [(r.document_id, r.seq) for r in records] == [("doc-kept", 1), ("doc-kept", 2)]
    assert await stores.activity.list_activity("doc-deleted", None, 10) == ([], 0, 0)
    assert await stores.activity.append_activities([Entry("doc-deleted", "join", "A", "x")]) == []


async def test_batches_prune_the_oldest_activity(stores: Stores) -> None:
    """With ``keep`` 5, pruning runs whenever a batch's numbers pass a multiple of 5."""
    await new_doc(stores, "doc-prune")
    log = SqlActivityLog(create_session_factory(stores.engine), keep=5)
    expected = [(0, 0), (1, 3), (2, 6), (2, 9), (8, 12)]
    assert await log.list_activity("doc-prune", None, 100) == ([], 0, 0)
    for batch in range(1, 5):
        await log.append_activities(
            [Entry("doc-prune", "edit", "Ada", f"{batch}.{i}") for i in range(3)]
        )
        records, oldest, newest = await log.list_activity("doc-prune", None, 100)
        assert (oldest, newest) == expected[batch], batch
        assert [r.seq for r in records] == list(range(oldest, newest + 1))


async def waiting(engine: AsyncEngine) -> int:
    """Connections of this database waiting for a lock (a new transaction each time:
    ``pg_stat_activity`` is a snapshot per transaction)."""
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
        )


async def test_concurrent_batches_of_one_document_are_numbered_once(database_url: str) -> None:
    """Two writers (on PostgreSQL two engines, as two processes would be; SQLite has one
    writing process) each storing batches of two documents, listed in opposite orders: every
    number of each document exists once, each writer's own in order, and the advisory locks
    (taken in sorted order) never deadlock. On PostgreSQL a third connection first holds
    doc-cx's advisory lock and keeps anyone from inserting activity until both writers wait
    (for the lock, or, were it not taken, to insert the numbers they read), so that their
    first batches surely run at the same moment."""
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    engines = [create_engine(database_url) for _ in range(3 if postgres else 1)]
    try:
        logs = [SqlActivityLog(create_session_factory(e)) for e in engines[:2]]
        catalog = SqlDocumentCatalog(create_session_factory(engines[0]))
        for doc_id in ("doc-cx", "doc-cy"):
            await catalog.create_document(doc_id, "T", b"e" * 32, b"v" * 32)

        async def writer(
            log: SqlActivityLog, name: str, docs: tuple[str, str]
        ) -> list[ActivityRecord]:
            stored: list[ActivityRecord] = []
            for n in range(15):
                batch = [Entry(doc_id, "edit", name, f"{name}{n}.{doc_id}") for doc_id in docs]
                batch += [Entry(docs[0], "edit", name, f"{name}{n}.more")]
                stored += await log.append_activities(batch)
            return stored

        async def both() -> tuple[list[ActivityRecord], list[ActivityRecord]]:
            a, b = await asyncio.gather(
                writer(logs[0], "A", ("doc-cx", "doc-cy")),
                writer(logs[-1], "B", ("doc-cy", "doc-cx")),
            )
            return a, b

        if postgres:
            async with engines[2].begin() as holder:
                await holder.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(hashtextextended('swell:activity:doc-cx', 0))"
                    )
                )
                await holder.execute(text("LOCK TABLE activities IN SHARE MODE"))  # no INSERT
                running = asyncio.ensure_future(both())
                deadline = time.monotonic() + 10
                while await waiting(engines[0]) < 2:
                    assert time.monotonic() < deadline, "the writers never waited"
                    await asyncio.sleep(0.01)
            a, b = await running
        else:
            a, b = await both()
        for doc_id in ("doc-cx", "doc-cy"):
            mine = [[r.seq for r in w if r.document_id == doc_id] for w in (a, b)]
            assert sorted(mine[0] + mine[1]) == list(range(1, 46)), doc_id
            assert all(seqs == sorted(seqs) for seqs in mine), doc_id
            records, _, _ = await logs[0].list_activity(doc_id, None, 100)
            assert [r.seq for r in records] == list(range(1, 46))
            by_seq = {r.seq: r.summary for r in a + b if r.document_id == doc_id}
            assert [r.summary for r in records] == [by_seq[r.seq] for r in records]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_newest_revision_is_read_without_any_blob(journal: Journal) -> None:
    """What the unread summary asks for every listed document: the journal's newest row,
    else where the newest history chunk ends (its packed index read only when asked)."""
    await journal.add_document("doc-newest")
    store = journal.documents
    assert await store.load_newest("doc-newest") == NewestRevision(None, 0)
    changes = as_changes(updates(4))
    upto = await store.append_changes("doc-newest", changes, {})
    newest = await store.load_newest("doc-newest")
    assert newest.revision is not None and newest.revision.rev == upto == 4
    assert newest.revision.at.tzinfo is not None
    await store.compact("doc-newest", b"SNAPSHOT", upto, chunk(1, 4))
    assert await store.load_newest("doc-newest") == NewestRevision(None, 4)
    assert await store.load_chunk_index("doc-newest", 4) == b"R"
    assert await store.load_chunk_index("doc-newest", 3) == b""
    assert await store.load_newest("no-such-doc") == NewestRevision(None, 0)


async def test_read_marks_only_move_forward_even_when_written_at_once(stores: Stores) -> None:
    marks = SqlReadMarks(stores.engine)
    authors = SqlAuthorDirectory(create_session_factory(stores.engine))
    await new_doc(stores, "doc-marks")
    ada = await authors.create_author("ada-marks", "Ada", "#112233", b"a" * 32)
    grace = await authors.create_author("grace-marks", "Grace", "#445566", b"g" * 32)
    revs = list(range(1, 41))
    random.Random(3).shuffle(revs)
    await asyncio.gather(*(marks.mark_read(ada.id, "doc-marks", rev) for rev in revs))
    found = await marks.read_marks(ada.id, ["doc-marks", "doc-unknown"])
    assert list(found) == ["doc-marks"] and found["doc-marks"].rev == 40
    assert found["doc-marks"].read_at.tzinfo is not None
    again = await marks.mark_read(ada.id, "doc-marks", 7)
    assert again is not None and again.rev == 40
    assert await marks.read_marks(grace.id, ["doc-marks"]) == {}
    await stores.catalog.delete_document("doc-marks")
    assert await marks.read_marks(ada.id, ["doc-marks"]) == {}  # deleted with it
    assert await marks.mark_read(ada.id, "doc-marks", 3) is None  # gone: no mark


async def test_a_write_whose_caller_is_cancelled_still_ends_and_wedges_nothing(
    stores: Stores,
) -> None:
    """A page reports its read mark with ``keepalive`` as it closes, and its request is often
    cancelled mid-write. The write still ends (committed), and the next writer does not wait
    out the busy timeout ("database is locked"): both seen in CI before."""
    marks = SqlReadMarks(stores.engine)
    authors = SqlAuthorDirectory(create_session_factory(stores.engine))
    await new_doc(stores, "doc-cancelled")
    ada = await authors.create_author("ada-cancelled", "Ada", "#112233", b"c" * 32)
    for rev in range(1, 31):
        task = asyncio.create_task(marks.mark_read(ada.id, "doc-cancelled", rev))
        for _ in range(1 + rev % 5):  # started, then cancelled at different points of it
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    deadline = asyncio.get_running_loop().time() + 10
    while (await marks.read_marks(ada.id, ["doc-cancelled"])).get("doc-cancelled") is None or (
        await marks.read_marks(ada.id, ["doc-cancelled"])
    )["doc-cancelled"].rev != 30:
        assert asyncio.get_running_loop().time() < deadline, "cancelled writes never ended"
        await asyncio.sleep(0.01)
    while stores.engine.pool.checkedout():  # type: ignore[attr-defined]  # the others end too
        assert asyncio.get_running_loop().time() < deadline, "cancelled writes never ended"
        await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    await stores.catalog.rename_document("doc-cancelled", "Still writable")
    assert asyncio.get_running_loop().time() - started < 2
