"""A document's feed in process: content to many viewers, rendered off the loop and never
older after newer; presence folded from events, with ``editing``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText, create_update_message

from swell.collab.events import DocumentEdited, Participant, PeerChanged, PeerLeft
from swell.collab.peer import Peer, Role
from swell.collab.ports import ActivityRecord, NewActivity
from swell.collab.room import Room
from swell.feed.document_feed import BROADCAST_SLICE, DocumentFeed
from swell.feed.hub import FeedHub
from swell.feed.render_cache import RenderCache
from swell.feed.subscriber import Subscriber
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from tests.client import wait_until

pytestmark = pytest.mark.timeout(30)

VIEWERS = 4 * BROADCAST_SLICE + 7


async def open_room(stores: tuple[SqlDocumentCatalog, SqlDocumentStore]) -> Room:
    catalog, store = stores
    await catalog.create_document("f1", "T", b"e" * 32, b"v" * 32)
    return await Room.load("f1", store, compact_every=10_000)


async def open_feed(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> tuple[Room, DocumentFeed]:
    room = await open_room(stores)
    feed = DocumentFeed(
        room, RenderCache(), content_interval=0.0, presence_interval=60.0, burst_seconds=60
    )
    for _ in range(VIEWERS):
        viewer = Subscriber("f1", "V", "#000", limit=100)
        feed.viewers[viewer.id] = viewer
    return room, feed


async def type_paragraph(room: Room, author: Doc, peer: Peer, words: str) -> None:
    before = author.get_state()
    paragraph = XmlElement("paragraph")
    author.get("default", type=XmlFragment).children.append(paragraph)
    paragraph.children.append(XmlText(words))
    room.receive(peer, create_update_message(author.get_update(before)))
    await room.flush()


def queued(viewer: Subscriber) -> bytes:
    return b"".join(viewer._queue)


async def first_content_going_out(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> tuple[Room, DocumentFeed, Doc, Peer]:
    """An editor typed "first"; its content has reached the first slice of viewers."""
    room, feed = await open_feed(stores)
    author, peer = Doc(), Peer(Role.EDIT)
    room.join(peer)
    await type_paragraph(room, author, peer, "first")
    feed.content_changed()
    first = next(iter(feed.viewers.values()))
    await wait_until(lambda: b"first" in queued(first))
    return room, feed, author, peer


def last_content(viewer: Subscriber) -> bytes:
    frames = queued(viewer).split(b"\n\n")
    return [f for f in frames if f.startswith(b"event: content")][-1]


async def test_content_reaches_viewers_a_slice_per_loop_iteration(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    """The editors' sockets are read between slices: 1,000 viewers must not stall the room."""
    room, feed, author, peer = await first_content_going_out(stores)
    viewers = list(feed.viewers.values())
    assert not any(b"first" in queued(v) for v in viewers[-BROADCAST_SLICE:])
    await wait_until(lambda: all(b"first" in queued(v) for v in viewers))
    await room.close()


async def test_newer_content_replaces_older_and_nothing_older_follows(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    room, feed, author, peer = await first_content_going_out(stores)
    viewers = list(feed.viewers.values())
    await type_paragraph(room, author, peer, "second")  # while the first is still going out
    feed.content_changed()
    await wait_until(lambda: all(b"second" in last_content(v) for v in viewers))
    for _ in range(10):  # and nothing older arrives after it
        await asyncio.sleep(0)
    for viewer in viewers:
        contents = [f for f in queued(viewer).split(b"\n\n") if f.startswith(b"event: content")]
        assert len(contents) == 1  # one pending content frame: the newest replaced the older
        assert b"second" in contents[0]
    await room.close()


async def test_a_render_from_a_room_that_failed_meanwhile_is_never_sent(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    room, feed = await open_feed(stores)
    author, peer = Doc(), Peer(Role.EDIT)
    room.join(peer)
    await type_paragraph(room, author, peer, "doomed")
    rendering = asyncio.ensure_future(feed.current_content())
    await asyncio.sleep(0)  # the render is in its thread now
    room.fail("test")
    assert await rendering == (0, None)
    await wait_until(lambda: room.consistent)


class NoActivity:
    async def append_activities(self, entries: Sequence[NewActivity]) -> list[ActivityRecord]:
        raise AssertionError("not stored here")

    async def list_activity(
        self, doc_id: str, after_seq: int | None, limit: int
    ) -> tuple[list[ActivityRecord], int, int]:
        return [], 0, 0


def user_entries(viewer: Subscriber) -> list[dict[str, object]]:
    frames = [f for f in queued(viewer).split(b"\n\n") if f.startswith(b"event: presence")]
    assert frames, "no presence frame"
    data = frames[-1].split(b"data: ", 1)[1]
    return list(json.loads(data)["users"])


async def test_presence_is_folded_from_events_and_shows_who_is_editing(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    room = await open_room(stores)
    hub = FeedHub(
        NoActivity(),
        replay=0,
        queue_limit=100,
        content_interval=0.0,
        presence_interval=0.0,
        burst_seconds=0.2,
    )
    viewer = await hub.subscribe(room, "Vic", None)
    ada = Participant(7, Role.EDIT, "Ada", "#123456")
    hub.on_room_event(PeerChanged("f1", Participant(8, Role.VIEW, None, None)))  # nameless
    hub.on_room_event(PeerChanged("f1", ada))
    await wait_until(lambda: len(user_entries(viewer)) == 2)
    assert user_entries(viewer) == [
        {"name": "Ada", "color": "#123456", "role": "edit", "editing": False},
        {"name": "Vic", "color": viewer.color, "role": "view", "editing": False},
    ]
    hub.on_room_event(DocumentEdited("f1", 7, None, "Ada", 1, 0, 1, 1))
    await wait_until(lambda: user_entries(viewer)[0]["editing"] is True, within=1.0)
    await wait_until(lambda: user_entries(viewer)[0]["editing"] is False, within=2.0)
    hub.on_room_event(PeerLeft("f1", ada))
    await wait_until(lambda: [u["name"] for u in user_entries(viewer)] == ["Vic"])
    hub.unsubscribe(viewer)
    await room.close()
