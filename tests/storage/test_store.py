"""One storage contract: the catalog and activity log against SQLite and PostgreSQL, the update
journal (``DocumentStore``) against those and the in-memory store too."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycrdt import Doc, Text
from sqlalchemy.exc import IntegrityError

from swell.migrate import upgrade_database
from swell.records import PendingUpdate, StoredState
from swell.storage.activity_log import SqlActivityLog
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.memory_store import MemoryDocumentStore, UnknownDocumentError
from tests.conftest import POSTGRES_ENV

JOURNAL_BACKENDS = [
    "sqlite",
    *(["postgres"] if os.environ.get(POSTGRES_ENV) else []),
    "memory",
]
EMPTY = StoredState(snapshot=None, updates=[], last_update_id=0, updates_since_snapshot=0)


@dataclass
class Stores:
    catalog: SqlDocumentCatalog
    documents: SqlDocumentStore
    activity: SqlActivityLog


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    yield Stores(SqlDocumentCatalog(sessions), SqlDocumentStore(sessions), SqlActivityLog(sessions))
    await engine.dispose()


@dataclass
class Journal:
    """One ``DocumentStore`` and the way its backend makes and deletes documents."""

    documents: SqlDocumentStore | MemoryDocumentStore
    add_document: Callable[[str], Awaitable[object]]
    delete_document: Callable[[str], Awaitable[object]]
    unknown_document: type[Exception]
    """What writing content for a document that does not exist raises."""


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

    yield Journal(SqlDocumentStore(sessions), create, catalog.delete_document, IntegrityError)
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


def pending(ups: list[bytes], author: str | None = None) -> list[PendingUpdate]:
    return [PendingUpdate(u, author) for u in ups]


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


async def test_append_returns_increasing_ids_and_loads_in_order(journal: Journal) -> None:
    await journal.add_document("doc-b")
    ups = updates(5)
    first = await journal.documents.append_updates("doc-b", pending(ups[:2], "Ada"))
    last = await journal.documents.append_updates("doc-b", pending(ups[2:]))
    assert last > first
    state = await journal.documents.load_state("doc-b")
    assert state.snapshot is None
    assert list(state.updates) == ups
    assert state.last_update_id == last
    assert state.updates_since_snapshot == 5


async def test_a_missing_document_loads_empty(journal: Journal) -> None:
    assert await journal.documents.load_state("missing") == EMPTY
    assert await journal.documents.load_log("missing", 10) == EMPTY


async def test_content_for_a_missing_document_is_refused(journal: Journal) -> None:
    with pytest.raises(journal.unknown_document):
        await journal.documents.append_updates("missing", pending(updates(1)))
    with pytest.raises(journal.unknown_document):
        await journal.documents.compact("missing", b"SNAPSHOT", 1)
    assert await journal.documents.load_state("missing") == EMPTY


async def test_documents_keep_their_own_journals(journal: Journal) -> None:
    await journal.add_document("doc-x")
    await journal.add_document("doc-y")
    ups = updates(3)
    x = await journal.documents.append_updates("doc-x", pending(ups[:1]))
    y = await journal.documents.append_updates("doc-y", pending(ups[1:]))
    assert x != y
    await journal.documents.compact("doc-x", b"X", x)
    state_x = await journal.documents.load_state("doc-x")
    state_y = await journal.documents.load_state("doc-y")
    assert (state_x.snapshot, list(state_x.updates), state_x.last_update_id) == (b"X", [], x)
    assert (state_y.snapshot, list(state_y.updates), state_y.last_update_id) == (None, ups[1:], y)


async def test_compact_replaces_covered_rows_atomically(journal: Journal) -> None:
    await journal.add_document("doc-c")
    ups = updates(6)
    upto = await journal.documents.append_updates("doc-c", pending(ups[:4]))
    later = await journal.documents.append_updates("doc-c", pending(ups[4:]))
    log = await journal.documents.load_log("doc-c", upto)
    assert list(log.updates) == ups[:4]
    assert log.last_update_id == upto and log.updates_since_snapshot == 4
    await journal.documents.compact("doc-c", b"SNAPSHOT", upto)
    state = await journal.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[4:]
    assert state.last_update_id == later
    assert state.updates_since_snapshot == 2
    assert await journal.documents.count_updates("doc-c") == 2
    log = await journal.documents.load_log("doc-c", later)
    assert log.snapshot == b"SNAPSHOT" and list(log.updates) == ups[4:]
    await journal.documents.compact("doc-c", b"SNAPSHOT2", later)
    state = await journal.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT2" and list(state.updates) == []
    assert state.last_update_id == later


async def test_a_compaction_that_covers_less_does_not_replace_a_later_snapshot(
    journal: Journal,
) -> None:
    """Two compactions racing: the one that went further wins whichever commits last."""
    await journal.add_document("doc-race")
    ups = updates(4)
    early = await journal.documents.append_updates("doc-race", pending(ups[:2]))
    late = await journal.documents.append_updates("doc-race", pending(ups[2:]))
    await journal.documents.compact("doc-race", b"LATE", late)
    await journal.documents.compact("doc-race", b"EARLY", early)
    state = await journal.documents.load_state("doc-race")
    assert state.snapshot == b"LATE" and list(state.updates) == []
    assert state.last_update_id == late


async def test_updates_after_a_compaction_that_emptied_the_journal_are_kept(
    journal: Journal,
) -> None:
    """Ids must never be reused: a row numbered below the snapshot's ``upto`` would be skipped
    on load and deleted by the next compaction (SQLite reuses the largest rowid + 1 unless the
    table is AUTOINCREMENT, and the journal is empty right after a compaction)."""
    await journal.add_document("doc-reuse")
    ups = updates(4)
    upto = await journal.documents.append_updates("doc-reuse", pending(ups[:2]))
    await journal.documents.compact("doc-reuse", b"SNAPSHOT", upto)
    assert await journal.documents.count_updates("doc-reuse") == 0
    later = await journal.documents.append_updates("doc-reuse", pending(ups[2:]))
    assert later > upto
    state = await journal.documents.load_state("doc-reuse")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[2:]
    assert state.last_update_id == later


async def test_deleting_a_document_deletes_its_journal(journal: Journal) -> None:
    await journal.add_document("doc-gone")
    ups = updates(2)
    first = await journal.documents.append_updates("doc-gone", pending(ups[:1]))
    await journal.documents.append_updates("doc-gone", pending(ups[1:]))
    await journal.documents.compact("doc-gone", b"SNAPSHOT", first)
    await journal.delete_document("doc-gone")
    assert await journal.documents.count_updates("doc-gone") == 0
    assert await journal.documents.load_state("doc-gone") == EMPTY


async def test_deleting_a_document_deletes_its_content(stores: Stores) -> None:
    await new_doc(stores, "doc-d")
    await stores.documents.append_updates("doc-d", [PendingUpdate(updates(1)[0], None)])
    await stores.activity.append_activity("doc-d", "created", "Ada", "Ada created it")
    await stores.catalog.delete_document("doc-d")
    assert await stores.documents.count_updates("doc-d") == 0
    assert await stores.activity.list_activity("doc-d", None, 10) == ([], 0, 0)


async def test_activity_is_numbered_per_document(stores: Stores) -> None:
    await new_doc(stores, "doc-e")
    await new_doc(stores, "doc-f")
    for i in range(3):
        await stores.activity.append_activity("doc-e", "edit", "Ada", f"e{i}")
    other = await stores.activity.append_activity("doc-f", "edit", "Bob", "f0")
    assert other.seq == 1
    records, oldest, newest = await stores.activity.list_activity("doc-e", None, 2)
    assert [r.seq for r in records] == [2, 3] and (oldest, newest) == (1, 3)
    records, _, _ = await stores.activity.list_activity("doc-e", 1, 50)
    assert [r.summary for r in records] == ["e1", "e2"]


async def test_the_touch_throttle_forgets_documents_it_no_longer_throttles(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One entry per document ever written would grow without end on a long-lived server."""
    from swell.storage import document_store

    monkeypatch.setattr(document_store, "TOUCHED_KEPT", 16)
    monkeypatch.setattr(document_store, "TOUCH_SECONDS", 0.0)  # every entry is stale at once
    for i in range(40):
        await stores.catalog.create_document(f"t{i}", "T", b"e" * 32, b"v" * 32)
        await stores.documents.append_updates(f"t{i}", [PendingUpdate(b"\x00\x00", None)])
    assert len(stores.documents._touched) <= 16
