"""Rooms of one document in two registries (two processes, as a Redis relay would join them)
share updates and awareness through the relay seam; each update is stored once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Text, create_update_message

from swell.collab.peer import Peer, Role
from swell.collab.registry import RoomRegistry
from swell.collab.relay import InProcessRelay
from swell.migrate import upgrade_database
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from tests.client import awareness_message, decode_awareness
from tests.collab.test_room import edits, wait_until


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlDocumentStore]:
    import asyncio

    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    await SqlDocumentCatalog(sessions).create_document("r1", "T", b"e" * 32, b"v" * 32)
    yield SqlDocumentStore(sessions)
    await engine.dispose()


def frames(peer: Peer) -> list[bytes]:
    out = list(peer._outbox)
    peer._outbox.clear()
    return out


async def test_updates_and_awareness_cross_the_relay(store: SqlDocumentStore) -> None:
    relay = InProcessRelay()
    one = RoomRegistry(store, compact_every=500, idle_seconds=0, relay=relay)
    two = RoomRegistry(store, compact_every=500, idle_seconds=0, relay=relay)
    room_one, room_two = await one.acquire("r1"), await two.acquire("r1")
    ada, grace = Peer(Role.EDIT), Peer(Role.EDIT)
    room_one.join(ada)
    room_two.join(grace)
    frames(grace)

    _, ups = edits(10)
    for update in ups:
        room_one.receive(ada, create_update_message(update))
    await room_one.flush()
    await wait_until(lambda: str(room_two.doc.get("text", type=Text)).count(";") == 10)
    await room_two.flush()
    received = [f for f in frames(grace) if f[:2] == b"\x00\x02"]
    assert received  # forwarded to the socket of the other process's room
    assert str(room_two.doc.get("text", type=Text)) == str(room_one.doc.get("text", type=Text))
    # stored once, by the room that received them (one revision per run of a socket's updates)
    assert room_one.rev >= 1
    assert await store.count_updates("r1") == room_one.rev

    hello = awareness_message(77, 1, {"user": {"name": "Ada"}})
    room_one.receive(ada, hello)
    assert any(
        f[0] == 1 and decode_awareness(f) == {77: {"user": {"name": "Ada"}}} for f in frames(grace)
    )
    room_one.leave(ada)
    removal = [f for f in frames(grace) if f[0] == 1]
    assert removal and 77 not in room_two.awareness.states

    for registry, room in ((one, room_one), (two, room_two)):
        registry.release(room)
        await registry.close_all()
