"""One storage contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pycrdt import Doc, Text

from swell.records import PendingUpdate
from swell.storage.activity_log import SqlActivityLog
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory


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


async def test_append_returns_increasing_ids_and_loads_in_order(stores: Stores) -> None:
    await new_doc(stores, "doc-b")
    ups = updates(5)
    first = await stores.documents.append_updates(
        "doc-b", [PendingUpdate(u, "Ada") for u in ups[:2]]
    )
    last = await stores.documents.append_updates("doc-b", [PendingUpdate(u, None) for u in ups[2:]])
    assert last > first
    state = await stores.documents.load_state("doc-b")
    assert state.snapshot is None
    assert list(state.updates) == ups
    assert state.last_update_id == last
    assert state.updates_since_snapshot == 5


async def test_compact_replaces_covered_rows_atomically(stores: Stores) -> None:
    await new_doc(stores, "doc-c")
    ups = updates(6)
    upto = await stores.documents.append_updates("doc-c", [PendingUpdate(u, None) for u in ups[:4]])
    later = await stores.documents.append_updates(
        "doc-c", [PendingUpdate(u, None) for u in ups[4:]]
    )
    log = await stores.documents.load_log("doc-c", upto)
    assert list(log.updates) == ups[:4]
    await stores.documents.compact("doc-c", b"SNAPSHOT", upto)
    state = await stores.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[4:]
    assert state.last_update_id == later
    assert await stores.documents.count_updates("doc-c") == 2
    await stores.documents.compact("doc-c", b"SNAPSHOT2", later)
    state = await stores.documents.load_state("doc-c")
    assert state.snapshot == b"SNAPSHOT2" and list(state.updates) == []
    assert state.last_update_id == later


async def test_updates_after_a_compaction_that_emptied_the_journal_are_kept(
    stores: Stores,
) -> None:
    """Ids must never be reused: a row numbered below the snapshot's ``upto`` would be skipped
    on load and deleted by the next compaction (SQLite reuses the largest rowid + 1 unless the
    table is AUTOINCREMENT, and the journal is empty right after a compaction)."""
    await new_doc(stores, "doc-reuse")
    ups = updates(4)
    upto = await stores.documents.append_updates(
        "doc-reuse", [PendingUpdate(u, None) for u in ups[:2]]
    )
    await stores.documents.compact("doc-reuse", b"SNAPSHOT", upto)
    assert await stores.documents.count_updates("doc-reuse") == 0
    later = await stores.documents.append_updates(
        "doc-reuse", [PendingUpdate(u, None) for u in ups[2:]]
    )
    assert later > upto
    state = await stores.documents.load_state("doc-reuse")
    assert state.snapshot == b"SNAPSHOT"
    assert list(state.updates) == ups[2:]
    assert state.last_update_id == later


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
