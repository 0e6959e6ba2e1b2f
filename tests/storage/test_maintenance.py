"""Compaction and history folding by several processes at once (two engines stand for two
processes): one at a time per document, fenced by what each read, so none loses or repeats a
revision."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from pycrdt import Doc, Text

from swell.collab.compaction import build_doc, compact_document
from swell.collab.retention import fold_chunks
from swell.records import MaintenanceRaced
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.memory_store import MemoryDocumentStore
from tests.changes import as_changes
from tests.conftest import POSTGRES_ENV
from tests.storage.test_store import updates

pytestmark = pytest.mark.timeout(120)
DOC = "m"


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[SqlDocumentStore, SqlDocumentStore]]:
    engines = [create_engine(database_url) for _ in range(2)]
    sessions = [create_session_factory(e) for e in engines]
    await SqlDocumentCatalog(sessions[0]).create_document(DOC, "T", b"e" * 32, b"v" * 32)
    yield SqlDocumentStore(sessions[0]), SqlDocumentStore(sessions[1])
    await SqlDocumentCatalog(sessions[0]).delete_document(DOC)
    for engine in engines:
        await engine.dispose()


async def newest_rev(store: SqlDocumentStore, doc_id: str) -> int:
    newest = await store.load_newest(doc_id)
    return newest.revision.rev if newest.revision is not None else newest.folded_to


def text_of(doc: Doc) -> str:
    return str(doc.get("t", type=Text))


async def test_a_compaction_that_read_before_another_compacted_changes_nothing(
    two_stores: tuple[SqlDocumentStore, SqlDocumentStore],
) -> None:
    one, two = two_stores
    ups = updates(30)
    await one.append_changes("m", as_changes(ups[:20]), {})
    stale = await two.load_log("m", 20)  # process two reads the journal...
    await compact_document(one, "m", 20)  # ...process one compacts it meanwhile
    await one.append_changes("m", as_changes(ups[20:]), {})
    before = await one.load_history("m", data=False)
    with pytest.raises(MaintenanceRaced):  # what two read is gone: it must not write
        await two.compact("m", b"\x00\x00", 20, None, base_rev=stale.snapshot_rev)
    after = await one.load_history("m", data=False)
    assert [(c.from_rev, c.to_rev) for c in after.chunks] == [
        (c.from_rev, c.to_rev) for c in before.chunks
    ]
    assert [r.revision.rev for r in after.rows] == list(range(21, 31))
    assert text_of(build_doc(await one.load_state("m"))) == "".join(str(i % 10) for i in range(30))


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set")
async def test_two_processes_compacting_while_both_write_keep_every_revision_once(
    postgres_url: str,
) -> None:
    """Two processes append and compact one document as fast as they can: every revision is
    in exactly one place (one history chunk or the journal), and the document holds all."""
    engines = [create_engine(postgres_url) for _ in range(2)]
    try:
        sessions = [create_session_factory(e) for e in engines]
        catalog = SqlDocumentCatalog(sessions[0])
        await catalog.create_document("race", "T", b"e" * 32, b"v" * 32)
        stores = [SqlDocumentStore(s) for s in sessions]
        ups = updates(300)
        raced = 0

        async def writer(store: SqlDocumentStore, mine: list[bytes]) -> None:
            for i in range(0, len(mine), 5):
                await store.append_changes("race", as_changes(mine[i : i + 5]), {})
                await asyncio.sleep(0)

        async def compactor(store: SqlDocumentStore, stop: asyncio.Event) -> None:
            nonlocal raced
            while not stop.is_set():
                newest = await newest_rev(store, "race")
                try:
                    await compact_document(store, "race", newest)
                except MaintenanceRaced:
                    raced += 1
                await asyncio.sleep(0)

        # Each writer's updates build on its own earlier ones only when applied in order:
        # one writer gets even positions, the other odd, of one client's sequence, so the
        # document is complete only if no revision is lost.
        stop = asyncio.Event()
        compactors = [asyncio.ensure_future(compactor(s, stop)) for s in stores]
        await asyncio.gather(writer(stores[0], ups[:150]), writer(stores[1], ups[150:]))
        stop.set()
        await asyncio.gather(*compactors)
        await compact_document(stores[0], "race", 2**31)

        history = await stores[1].load_history("race", data=False)
        covered = [rev for c in history.chunks for rev in range(c.from_rev, c.to_rev + 1)]
        covered += [r.revision.rev for r in history.rows]
        total = await newest_rev(stores[1], "race")
        assert sorted(covered) == list(range(1, total + 1)), "a revision lost or repeated"
        doc = build_doc(await stores[1].load_state("race"))
        assert len(text_of(doc)) == 300
        print(f"compactions that lost the race and wrote nothing: {raced}")
        await catalog.delete_document("race")
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_fold_that_read_before_another_fold_changes_nothing(
    two_stores: tuple[SqlDocumentStore, SqlDocumentStore],
) -> None:
    one, two = two_stores
    ups = updates(10)
    for i in range(0, 10, 2):
        await one.append_changes("m", as_changes(ups[i : i + 2]), {})
        await compact_document(one, "m", 2**31)
    stored = await one.load_history("m")
    assert [(c.from_rev, c.to_rev) for c in stored.chunks][:3] == [(1, 2), (3, 4), (5, 6)]
    folded = fold_chunks(stored.chunks[:3])
    await one.replace_history("m", 6, folded, expected_chunks=3)
    with pytest.raises(MaintenanceRaced):  # two read the three chunks before one folded them
        await two.replace_history("m", 6, folded, expected_chunks=3)
    after = await one.load_history("m", data=False)
    assert [(c.from_rev, c.to_rev) for c in after.chunks] == [(6, 6), (7, 8), (9, 10)]


async def test_the_memory_store_fences_the_same_way() -> None:
    store = MemoryDocumentStore()
    store.add_document("f")
    await store.append_changes("f", as_changes(updates(4)), {})
    stale = await store.load_log("f", 4)
    await compact_document(store, "f", 4)
    with pytest.raises(MaintenanceRaced):
        await store.compact("f", b"\x00\x00", 4, None, base_rev=stale.snapshot_rev)
