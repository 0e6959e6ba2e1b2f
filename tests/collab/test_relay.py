"""Rooms of one document in two registries (two processes, joined by ``InProcessRelay`` the way
Redis joins real ones): changes cross in revision order, each is stored once, gaps are repaired
from storage, awareness and presence cross, and a dead process's presence goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pycrdt import Doc, Text, create_update_message

from swell.collab.bus import EventBus
from swell.collab.events import DocumentEdited, PeerJoined, PeerLeft, RoomEvent
from swell.collab.peer import Peer, Role
from swell.collab.registry import RoomRegistry
from swell.collab.relay import InProcessRelay
from swell.collab.replica import Replica
from swell.protocol.cluster import RelayedChange
from swell.protocol.messages import decode_frame
from swell.records import StoredState
from swell.storage.memory_store import MemoryDocumentStore
from tests.client import awareness_message, decode_awareness
from tests.collab.test_room import edits, wait_until


@pytest.fixture
async def store() -> AsyncIterator[MemoryDocumentStore]:
    store = MemoryDocumentStore()
    store.add_document("r1")
    yield store


def frames(peer: Peer) -> list[bytes]:
    out = list(peer._outbox)
    peer._outbox.clear()
    return out


def text_of(room: object) -> str:
    return str(room.doc.get("text", type=Text))  # type: ignore[attr-defined]


@pytest.fixture
async def processes(store: MemoryDocumentStore) -> AsyncIterator[tuple[Process, Process]]:
    """Two processes joined by one relay; every room they opened is closed afterwards."""
    relay = InProcessRelay()
    pair = Process(store, relay), Process(store, relay.sibling())
    yield pair
    for process in pair:
        await process.rooms.close_all()


class Process:
    """A registry with its own relay and event bus, as one server process has."""

    def __init__(self, store: MemoryDocumentStore, relay: InProcessRelay) -> None:
        self.relay = relay
        self.bus = EventBus()
        self.events: list[RoomEvent] = []
        self.bus.subscribe(self.events.append)
        self.rooms = RoomRegistry(
            store, compact_every=500, idle_seconds=0, relay=relay, bus=self.bus
        )


async def test_updates_and_awareness_cross_the_relay(
    store: MemoryDocumentStore, processes: tuple[Process, Process]
) -> None:
    one, two = processes
    room_one, room_two = await one.rooms.acquire("r1"), await two.rooms.acquire("r1")
    ada, grace = Peer(Role.EDIT), Peer(Role.EDIT)
    room_one.join(ada)
    room_two.join(grace)
    frames(grace)

    _, ups = edits(10)
    for update in ups:
        room_one.receive(ada, create_update_message(update))
    await room_one.flush()
    await wait_until(lambda: text_of(room_two).count(";") == 10)
    await room_two.flush()
    received = [f for f in frames(grace) if f[:2] == b"\x00\x02"]
    assert received  # forwarded to the socket of the other process's room
    assert text_of(room_two) == text_of(room_one)
    # stored once, by the room that received them; the other knows their revisions
    assert await store.count_updates("r1") == room_one.rev
    assert room_two.rev == room_one.rev
    # the other process's feed hears of the edits (remote: its own recorder leaves them)
    remote_edits = [e for e in two.events if isinstance(e, DocumentEdited)]
    assert remote_edits and all(e.remote for e in remote_edits)
    assert remote_edits[-1].to_rev == room_one.rev

    hello = awareness_message(77, 1, {"user": {"name": "Ada"}})
    room_one.receive(ada, hello)
    await wait_until(
        lambda: any(
            f[0] == 1 and decode_awareness(f) == {77: {"user": {"name": "Ada"}}}
            for f in list(grace._outbox)
        )
    )
    # presence crosses: Ada, a socket of process one, is a participant of process two's room
    await wait_until(lambda: any(p.name == "Ada" for p in room_two.participants()))
    assert any(isinstance(e, PeerJoined) and e.remote for e in two.events)
    frames(grace)
    room_one.leave(ada)
    await wait_until(lambda: 77 not in room_two.awareness.states)
    await wait_until(lambda: not any(p.name == "Ada" for p in room_two.participants()))
    assert any(isinstance(e, PeerLeft) and e.remote for e in two.events)


async def test_both_write_and_every_revision_is_stored_once_gapless(
    store: MemoryDocumentStore, processes: tuple[Process, Process]
) -> None:
    one, two = processes
    room_one, room_two = await one.rooms.acquire("r1"), await two.rooms.acquire("r1")
    ada, grace = Peer(Role.EDIT), Peer(Role.EDIT)
    room_one.join(ada)
    room_two.join(grace)
    _, a = edits(20, "a")
    _, g = edits(20, "g")
    for x, y in zip(a, g, strict=True):
        room_one.receive(ada, create_update_message(x))
        room_two.receive(grace, create_update_message(y))
        await asyncio.sleep(0)
    await wait_until(lambda: text_of(room_one).count(";") == 40 == text_of(room_two).count(";"))
    assert text_of(room_one) == text_of(room_two)
    await wait_until(lambda: room_one.rev == room_two.rev == store._journal("r1").rev)
    revs = [row.revision.rev for row in store._journal("r1").rows]
    assert revs == list(range(1, len(revs) + 1))


async def test_a_change_waits_for_the_ones_under_it_then_a_gap_is_read_from_storage(
    processes: tuple[Process, Process],
) -> None:
    one, two = processes
    room_one, room_two = await one.rooms.acquire("r1"), await two.rooms.acquire("r1")
    ada, grace = Peer(Role.EDIT), Peer(Role.EDIT)
    room_one.join(ada)
    room_two.join(grace)
    frames(grace)
    _, ups = edits(3)
    # Revisions 1 and 2 reach storage but their entries are lost on the way...
    published: list[RelayedChange] = []
    relay = one.relay
    real_publish = relay.publish
    relay.publish = lambda doc_id, entry: (  # type: ignore[method-assign]
        published.append(entry) if isinstance(entry, RelayedChange) else real_publish(doc_id, entry)
    )
    for update in ups[:2]:
        room_one.receive(ada, create_update_message(update))
        await room_one.flush()
    relay.publish = real_publish  # type: ignore[method-assign]
    room_one.receive(ada, create_update_message(ups[2]))
    await room_one.flush()
    assert len(published) == 2
    # ...so revision 3 waits (it builds on them), then the gap is repaired from storage.
    await wait_until(lambda: text_of(room_two) == "0;1;2;", within=5)
    assert room_two.rev == 3
    # Process two's socket got them in revision order: its first update holds revisions 1-2
    # (read from storage, with 3), not revision 3 dangling on what it lacked.
    updates = [f for f in frames(grace) if f[:2] == b"\x00\x02"]
    first: Doc[Any] = Doc()
    first.apply_update(decode_frame(updates[0])[0].update)
    assert str(first.get("text", type=Text)).startswith("0;1;")
    # A late duplicate of a change already repaired is known by its revision and dropped.
    before = room_two.doc.get_state()
    room_two._replica._on_delivery(published[0])  # type: ignore[union-attr]
    await room_two.flush()
    assert room_two.doc.get_state() == before
    assert not [f for f in frames(grace) if f[:2] == b"\x00\x02"]


async def test_a_dead_process_presence_and_awareness_go(processes: tuple[Process, Process]) -> None:
    one, two = processes
    room_one, room_two = await one.rooms.acquire("r1"), await two.rooms.acquire("r1")
    ada, grace = Peer(Role.EDIT), Peer(Role.EDIT)
    room_one.join(ada)
    room_two.join(grace)
    room_one.receive(ada, awareness_message(77, 1, {"user": {"name": "Ada"}}))
    await wait_until(lambda: 77 in room_two.awareness.states)
    await wait_until(lambda: any(p.name == "Ada" for p in room_two.participants()))
    frames(grace)
    one.relay.gone()  # process one died: its lease expired
    await wait_until(lambda: 77 not in room_two.awareness.states)
    assert not any(p.name == "Ada" for p in room_two.participants())
    assert any(f[0] == 1 and decode_awareness(f) == {77: None} for f in frames(grace))


async def test_a_room_loaded_while_another_writes_misses_nothing_and_repeats_nothing(
    store: MemoryDocumentStore,
    processes: tuple[Process, Process],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, two = processes
    room_one = await one.rooms.acquire("r1")
    ada = Peer(Role.EDIT)
    room_one.join(ada)
    _, ups = edits(30)
    applied: list[tuple[int, int]] = []  # revisions process two applied from the stream
    loaded: list[int] = []
    real_apply, real_init = Replica._apply, Replica.__init__

    def record_apply(replica: Replica, change: RelayedChange) -> None:
        if replica._relay is two.relay:
            applied.append((change.from_rev, change.to_rev))
        real_apply(replica, change)

    def record_init(replica: Replica, *args: Any, **kwargs: Any) -> None:
        real_init(replica, *args, **kwargs)
        if replica._relay is two.relay:
            loaded.append(replica.known)

    monkeypatch.setattr(Replica, "_apply", record_apply)
    monkeypatch.setattr(Replica, "__init__", record_init)
    for update in ups[:10]:
        room_one.receive(ada, create_update_message(update))
    await room_one.flush()
    real_load = store.load_state

    async def load_while_one_writes(doc_id: str) -> StoredState:
        # Process two follows the stream, then one commits ten more before two reads storage:
        # those ten arrive on the stream and are in what two loads.
        for update in ups[10:20]:
            room_one.receive(ada, create_update_message(update))
        await room_one.flush()
        return await real_load(doc_id)

    monkeypatch.setattr(store, "load_state", load_while_one_writes)
    loading = asyncio.ensure_future(two.rooms.acquire("r1"))
    await asyncio.sleep(0)
    for update in ups[20:]:
        room_one.receive(ada, create_update_message(update))
        await asyncio.sleep(0)
    room_two = await loading
    await room_one.flush()
    await wait_until(
        lambda: text_of(room_two) == text_of(room_one) and room_two.rev == room_one.rev
    )
    assert text_of(room_two).count(";") == 30
    # What it loaded, then each later revision exactly once: no gap, no duplicate.
    assert len(loaded) == 1
    revisions = list(range(1, loaded[0] + 1))
    revisions += [rev for first, last in applied for rev in range(first, last + 1)]
    assert revisions == list(range(1, room_one.rev + 1))
