"""Compaction from the room's own document: taken only when it provably holds every change in
the rows it replaces; anything else is folded from the journal, so nothing is ever lost."""

from __future__ import annotations

import time
from typing import Any

from pycrdt import Doc, Text, create_update_message

from swell.collab.compaction import COMPACT_INTERVAL, build_doc, compact_document, holds_everything
from swell.collab.peer import Peer, Role
from swell.collab.room import Room
from swell.records import StoredState
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from tests.changes import as_changes

Stores = tuple[SqlDocumentCatalog, SqlDocumentStore]


def typing(doc: Doc[Any], words: list[str]) -> list[bytes]:
    text = doc.get("text", type=Text)
    out = []
    for word in words:
        before = doc.get_state()
        text += word
        out.append(doc.get_update(before))
    return out


def delete_first(doc: Doc[Any], n: int) -> bytes:
    before = doc.get_state()
    del doc.get("text", type=Text)[0:n]
    return doc.get_update(before)


def content(state: StoredState) -> str:
    return str(build_doc(state).get("text", type=Text))


async def journal(stores: Stores, doc_id: str, updates: list[bytes]) -> int:
    catalog, store = stores
    await catalog.create_document(doc_id, "T", b"e" * 32, b"v" * 32)
    return await store.append_changes(doc_id, as_changes(updates), {})


def test_a_document_that_applied_every_row_holds_everything() -> None:
    source: Doc[Any] = Doc()
    rows = typing(source, ["a", "b", "c"]) + [delete_first(source, 1)]
    assert holds_everything(source.get_update(), rows)


def test_a_missing_row_a_missing_deletion_or_a_pending_row_is_noticed() -> None:
    source: Doc[Any] = Doc()
    rows = typing(source, ["a", "b", "c"])
    stale = source.get_update()
    deletion = delete_first(source, 1)
    more = typing(source, ["d"])
    assert not holds_everything(stale, [*rows, *more])
    assert not holds_everything(stale, [*rows, deletion])
    # a row whose dependencies never arrived: the document holds it only as pending, and
    # encoding it would drop it
    lacking: Doc[Any] = Doc()
    lacking.apply_update(rows[0])
    lacking.apply_update(rows[2])
    assert not holds_everything(lacking.get_update(), [rows[0], rows[2]])


async def test_the_rooms_document_becomes_the_snapshot(stores: Stores) -> None:
    source: Doc[Any] = Doc()
    rows = typing(source, [f"{i};" for i in range(50)])
    upto = await journal(stores, "c1", rows)
    candidate = source.get_update()
    await compact_document(stores[1], "c1", upto, candidate=candidate)
    state = await stores[1].load_state("c1")
    assert state.snapshot == candidate and list(state.updates) == []


async def test_a_stale_document_is_not_taken_and_nothing_is_lost(stores: Stores) -> None:
    """As when another process committed rows this room has not applied yet."""
    source: Doc[Any] = Doc()
    rows = typing(source, ["one ", "two "])
    stale = source.get_update()
    rows += typing(source, ["three"]) + [delete_first(source, 4)]
    upto = await journal(stores, "c2", rows)
    await compact_document(stores[1], "c2", upto, candidate=stale)
    state = await stores[1].load_state("c2")
    assert state.snapshot != stale and list(state.updates) == []
    assert content(state) == "two three" == str(source.get("text", type=Text))


async def test_pending_rows_survive_a_compaction_from_the_rooms_document(stores: Stores) -> None:
    source: Doc[Any] = Doc()
    rows = typing(source, ["a", "b", "c"])
    room_doc: Doc[Any] = Doc()  # what the room holds: the first row never arrived
    for row in rows[1:]:
        room_doc.apply_update(row)
    upto = await journal(stores, "c3", rows[1:])
    await compact_document(stores[1], "c3", upto, candidate=room_doc.get_update())
    state = await stores[1].load_state("c3")
    doc = build_doc(state)
    doc.apply_update(rows[0])  # the missing piece turns up later
    assert str(doc.get("text", type=Text)) == "abc"


async def test_a_busy_room_compacts_at_most_once_per_interval(stores: Stores) -> None:
    catalog, store = stores
    await catalog.create_document("c4", "T", b"e" * 32, b"v" * 32)
    room = await Room.load("c4", store, compact_every=10)
    peers = [Peer(Role.EDIT), Peer(Role.EDIT)]
    for peer in peers:
        room.join(peer)
    source: Doc[Any] = Doc()
    started = time.monotonic()
    for batch in range(3):  # 3 x 10 revisions (two sockets taking turns), each reaching 10
        for i, update in enumerate(typing(source, [f"{batch}{i};" for i in range(10)])):
            room.receive(peers[i % 2], create_update_message(update))
        await room.flush()
        await room._compaction.wait()
    assert time.monotonic() - started < COMPACT_INTERVAL, "too slow to tell"
    assert await store.count_updates("c4") == 20  # the first batch folded, the others wait
    await room.close()  # and closing compacts the rest
    state = await store.load_state("c4")
    assert list(state.updates) == [] and content(state) == str(source.get("text", type=Text))
