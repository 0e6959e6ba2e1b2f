"""A document's feed sending content to many viewers."""

from __future__ import annotations

import asyncio

from pycrdt import Doc, XmlElement, XmlFragment, XmlText, create_update_message

from swell.collab.peer import Peer, Role
from swell.collab.room import Room
from swell.feed.document_feed import BROADCAST_SLICE, DocumentFeed
from swell.feed.subscriber import Subscriber
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from tests.client import wait_until

VIEWERS = 4 * BROADCAST_SLICE + 7


async def open_feed(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> tuple[Room, DocumentFeed]:
    catalog, store = stores
    await catalog.create_document("f1", "T", b"e" * 32, b"v" * 32)
    room = await Room.load("f1", store, compact_every=10_000)
    feed = DocumentFeed("f1", content_interval=0.0, presence_interval=60.0)
    feed.room = room
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
    await wait_until(lambda: b"first" in b"".join(first._queue))
    return room, feed, author, peer


def last_content(viewer: Subscriber) -> bytes:
    frames = b"".join(viewer._queue).split(b"\n\n")
    return [f for f in frames if f.startswith(b"event: content")][-1]


async def test_content_reaches_viewers_a_slice_per_loop_iteration(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    """The editors' sockets are read between slices: 1,000 viewers must not stall the room."""
    room, feed, author, peer = await first_content_going_out(stores)
    viewers = list(feed.viewers.values())
    assert not any(b"first" in b"".join(v._queue) for v in viewers[-BROADCAST_SLICE:])
    await wait_until(lambda: all(b"first" in b"".join(v._queue) for v in viewers))
    await room.close()


async def test_newer_content_replaces_a_broadcast_still_going_out(
    stores: tuple[SqlDocumentCatalog, SqlDocumentStore],
) -> None:
    room, feed, author, peer = await first_content_going_out(stores)
    viewers = list(feed.viewers.values())
    await type_paragraph(room, author, peer, "second")  # while the first is still going out
    feed.content_changed()
    await wait_until(lambda: all(b"second" in last_content(v) for v in viewers))
    for _ in range(10):  # and nothing older arrives after it
        await asyncio.sleep(0)
    assert all(b"second" in last_content(v) for v in viewers)
    await room.close()
