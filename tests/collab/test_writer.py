"""The headline guarantee, fast and deterministic, on the in-memory store: nothing is
forwarded or acknowledged before its commit; and a failing stage fails the room loudly."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from pycrdt import Doc, Text, create_update_message

from swell.collab.events import RoomEvent, RoomFailed
from swell.collab.peer import CloseCode, Peer, Role
from swell.collab.registry import RoomRegistry
from swell.collab.revisions import decode_ids
from swell.collab.room import Room, RoomLimits
from swell.protocol.messages import SwellMessageType, decode_frame
from swell.records import AuthorRecord, Change
from swell.storage.memory_store import MemoryDocumentStore
from tests.client import wait_until


class HeldStore(MemoryDocumentStore):
    """The real in-memory store, whose commits wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.failing = False

    async def append_changes(
        self,
        doc_id: str,
        changes: Sequence[Change],
        bindings: dict[int, str],
        first_rev: int | None = None,
    ) -> int:
        self.entered.set()
        await self.gate.wait()
        if self.failing:
            raise OSError("disk full")
        return await super().append_changes(doc_id, changes, bindings, first_rev)


def typed(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, text)
    return create_update_message(doc.get_update())


def drain(peer: Peer) -> list[bytes]:
    frames = list(peer._outbox)
    peer._outbox.clear()
    peer._queued_bytes = 0
    return frames


def updates_in(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if f[:2] in (b"\x00\x01", b"\x00\x02")]


def saved_in(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if f[0] == SwellMessageType.SAVED]


@pytest.mark.timeout(10)
async def test_nothing_is_forwarded_or_acknowledged_before_the_commit() -> None:
    store = HeldStore()
    store.add_document("h1")
    room = await Room.load("h1", store, compact_every=10_000)
    writer, reader = Peer(Role.EDIT, wants_extensions=True), Peer(Role.EDIT)
    room.join(writer)
    room.join(reader)
    drain(writer), drain(reader)

    room.receive(writer, typed("held"))
    room.receive(reader, b"\x00\x00\x01\x00")  # sync step 1 with an empty state vector
    await asyncio.wait_for(store.entered.wait(), 5)  # the writer is inside the commit
    await asyncio.sleep(0)  # one more turn of the loop: anything eager would have gone out
    assert updates_in(list(reader._outbox)) == []
    assert saved_in(list(writer._outbox)) == []
    assert not room.consistent

    store.gate.set()
    await room.flush()
    assert room.consistent
    forwarded = updates_in(drain(reader))
    assert forwarded, "the committed update reaches the other socket"
    assert saved_in(drain(writer)), "and the sender is told it is saved"
    assert await store.count_updates("h1") == 1
    await room.close()


@pytest.mark.timeout(10)
async def test_a_failed_commit_fails_the_room_loudly_and_releases_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = HeldStore()
    store.add_document("h2")
    store.failing = True
    store.gate.set()
    events: list[RoomEvent] = []
    rooms = RoomRegistry(store, compact_every=10_000, idle_seconds=0)
    rooms.listen(events.append)
    room = await rooms.acquire("h2")
    writer, reader = Peer(Role.EDIT), Peer(Role.VIEW)
    room.join(writer)
    room.join(reader)
    drain(reader)

    room.receive(writer, typed("never stored"))
    await wait_until(lambda: room.failed, within=5)
    assert writer.close_code == reader.close_code == CloseCode.INTERNAL
    assert updates_in(list(reader._outbox)) == []  # never shown: it was never committed
    assert [e for e in events if isinstance(e, RoomFailed)] == [RoomFailed("h2", "commit: OSError")]
    assert any("h2" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)

    store.failing = False
    fresh = await rooms.acquire("h2")  # the failed room was released: a new one loads
    assert fresh is not room and not fresh.failed
    rooms.release(room)
    rooms.release(fresh)
    await rooms.close_all()


@pytest.mark.timeout(10)
async def test_an_error_in_the_forward_stage_fails_the_room() -> None:
    store = MemoryDocumentStore()
    store.add_document("h3")
    room = await Room.load("h3", store, compact_every=10_000)
    writer = Peer(Role.EDIT)
    room.join(writer)

    class BrokenLink:
        """A socket whose write fails the way a bug would (not the way a socket does)."""

        armed = False

        def write(self, frame: bytes) -> int:
            if self.armed:
                raise RuntimeError("a bug in a listener of the fan-out")
            return 0

        def close(self, code: int, reason: str) -> None:
            pass

    link = BrokenLink()
    other = Peer(Role.EDIT, link=link)
    room.join(other)
    link.armed = True
    room.receive(writer, typed("x"))
    await wait_until(lambda: room.failed, within=5)
    assert writer.close_code == CloseCode.INTERNAL
    await room.close()


def test_frames_decode() -> None:  # keep the helper honest
    assert decode_frame(typed("a"))


@pytest.mark.timeout(10)
async def test_updates_waiting_for_a_slow_commit_are_bounded_in_bytes() -> None:
    """While a commit hangs, a socket that keeps sending would grow the inbox without end:
    past the bound it is closed (1013, try again). Nothing of what it queued after the held
    commit was acknowledged; a closed socket's queued updates are dropped, and its client sends
    them again when it reconnects."""
    store = HeldStore()
    store.add_document("h4")
    room = await Room.load(
        "h4", store, compact_every=10_000, limits=RoomLimits(max_pending_bytes=64 * 1024)
    )
    flooder, other = Peer(Role.EDIT), Peer(Role.EDIT)
    room.join(flooder)
    room.join(other)
    room.receive(flooder, typed("first"))
    await asyncio.wait_for(store.entered.wait(), 5)  # the first commit now hangs
    doc: Doc = Doc()
    text = doc.get("text", type=Text)
    for _ in range(40):  # 40 x 4 KiB behind the held commit
        before = doc.get_state()
        text.insert(0, "z" * 4096)
        room.receive(flooder, create_update_message(doc.get_update(before)))
    assert flooder.close_code == CloseCode.TRY_AGAIN
    assert other.close_code is None
    store.gate.set()
    await room.flush()
    assert await store.count_updates("h4") == 1  # the held commit; the flooder's rest dropped
    assert saved_in(list(flooder._outbox)) == []
    await room.close()


def author(name: str) -> AuthorRecord:
    return AuthorRecord(f"{name}-id", name, "#123456")


def typing(doc: Doc, text_name: str, chunks: list[str]) -> list[bytes]:
    """What a client sends while typing ``chunks`` one after another into a Y.Text."""
    out = []
    text = doc.get(text_name, type=Text)
    for chunk in chunks:
        before = doc.get_state()
        text += chunk
        out.append(create_update_message(doc.get_update(before)))
    return out


async def two_typists_held(doc_id: str) -> tuple[HeldStore, Room, Peer, Peer]:
    """Ada and Grace in a room whose first commit (Ada's) waits for the test: what they send
    next is one batch."""
    store = HeldStore()
    store.add_document(doc_id)
    room = await Room.load(doc_id, store, compact_every=10_000)
    ada, grace = Peer(Role.EDIT, author=author("ada")), Peer(Role.EDIT, author=author("grace"))
    room.join(ada)
    room.join(grace)
    room.receive(ada, typed("hold"))
    await asyncio.wait_for(store.entered.wait(), 5)
    return store, room, ada, grace


@pytest.mark.timeout(10)
async def test_a_batch_of_interleaved_typing_is_one_revision_per_socket() -> None:
    """Two people typing fast: their updates come interleaved into one batch; each person's
    become one revision (one transaction), attributed to them, holding exactly their ids."""
    store, room, ada, grace = await two_typists_held("g1")
    a_doc, g_doc = Doc(), Doc()
    a_ups, g_ups = typing(a_doc, "a", list("abc")), typing(g_doc, "g", list("xyz"))
    for a, g in zip(a_ups, g_ups, strict=True):
        room.receive(ada, a)
        room.receive(grace, g)
    store.gate.set()
    await room.flush()
    rows = (await store.load_history("g1")).rows
    assert [r.revision.author_id for r in rows] == ["ada-id", "ada-id", "grace-id"]
    ids = {r.revision.rev: decode_ids(r.ids).inserted for r in rows}
    assert set(ids[2]) == {a_doc.client_id} and set(ids[3]) == {g_doc.client_id}
    await room.close()


@pytest.mark.timeout(10)
async def test_an_update_that_builds_on_another_sockets_keeps_its_place() -> None:
    """Grace's tab saw Ada's typing before the server did (tabs of one browser sync directly)
    and typed after it: her update names Ada's item, so it is applied after Ada's; Ada then
    typed after Grace's: that one stays after Grace's too. Ada's update that builds on
    nobody's joins her first run. Each revision holds its own author's ids."""
    store, room, ada, grace = await two_typists_held("g2")
    a_doc, g_doc = Doc(), Doc()
    first = typing(a_doc, "t", ["ab"])[0]
    g_doc.apply_update(a_doc.get_update())
    built_on = typing(g_doc, "t", ["Z"])[0]  # after Ada's "ab": its origin is Ada's item
    alone = typing(a_doc, "u", ["!"])[0]  # another text: builds on nobody's
    a_doc.apply_update(g_doc.get_update())
    after_grace = typing(a_doc, "t", ["c"])[0]  # after Grace's "Z"
    for peer, update in ((ada, first), (grace, built_on), (ada, alone), (ada, after_grace)):
        room.receive(peer, update)
    store.gate.set()
    await room.flush()
    rows = (await store.load_history("g2")).rows
    assert [r.revision.author_id for r in rows] == ["ada-id", "ada-id", "grace-id", "ada-id"]
    inserted = [set(decode_ids(r.ids).inserted) for r in rows[1:]]
    assert inserted == [{a_doc.client_id}, {g_doc.client_id}, {a_doc.client_id}]
    assert str(room.doc.get("t", type=Text)) == "abZc"
    await room.close()
