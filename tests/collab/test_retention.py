"""``--history-keep-days``: history older than the cut-off is folded into one revision; the
document and every newer revision stay exactly as they were."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText, create_update_message

from swell.collab.history import History, RevisionNotFound
from swell.collab.peer import Peer, Role
from swell.collab.registry import RoomRegistry
from swell.collab.retention import HistoryRetention
from swell.collab.revisions import unpack_blob, unpack_revisions
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore

Stores = tuple[SqlDocumentCatalog, SqlDocumentStore]


class Typist:
    """A client's document whose every change goes to the room as one update."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.fragment = self.doc.get("default", type=XmlFragment)

    def paragraph(self, text: str) -> bytes:
        before = self.doc.get_state()
        self.fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))
        return self.doc.get_update(before)

    def delete_paragraph(self, index: int) -> bytes:
        before = self.doc.get_state()
        del self.fragment.children[index]
        return self.doc.get_update(before)


async def write(registry: RoomRegistry, doc_id: str, updates: list[bytes]) -> int:
    """Each update its own revision, then the room closes (the final compaction folds them
    into a history chunk); returns the newest revision."""
    room = await registry.acquire(doc_id)
    peer = Peer(Role.EDIT)
    room.join(peer)
    for update in updates:
        room.receive(peer, create_update_message(update))
        await room.flush()
    rev = room.rev
    room.leave(peer)
    await room.close()
    registry._rooms.pop(doc_id, None)
    return rev


async def test_old_history_is_folded_and_newer_history_stays(stores: Stores) -> None:
    catalog, store = stores
    await catalog.create_document("r1", "T", b"e" * 32, b"v" * 32)
    registry = RoomRegistry(store, compact_every=10_000, idle_seconds=60)
    history = History(store, registry, quiet_seconds=3)
    typist = Typist()
    try:
        old_rev = await write(
            registry,
            "r1",
            [
                typist.paragraph("kept"),
                typist.paragraph("deleted long ago"),
                typist.delete_paragraph(1),
            ],
        )
        new_rev = await write(
            registry, "r1", [typist.paragraph("recent"), typist.paragraph("newest")]
        )
        assert (old_rev, new_rev) == (3, 5)
        before = {rev: await history.render("r1", rev, ("html",)) for rev in range(1, 6)}
        state_before = await store.load_state("r1")
        chunks = (await store.load_history("r1", data=False)).chunks
        old_at = unpack_revisions(chunks[0].revisions)[-1].revision.at
        new_at = unpack_revisions(chunks[1].revisions)[0].revision.at
        assert new_at > old_at

        retention = HistoryRetention(store, keep_days=1, on_folded=history.forget)
        folded = await retention.fold("r1", now=old_at + timedelta(days=1, microseconds=1))
        assert folded == old_rev

        # The document itself is untouched.
        assert await store.load_state("r1") == state_before
        # Revisions after the cut-off render exactly as before; the folded one too.
        for rev in (3, 4, 5):
            assert await history.render("r1", rev, ("html",)) == before[rev]
        for rev in (1, 2):
            with pytest.raises(RevisionNotFound):
                await history.render("r1", rev, ("html",))
        # The deleted paragraph's text is gone from storage.
        stored = await store.load_history("r1")
        assert b"deleted long ago" not in b"".join(unpack_blob(c.data) for c in stored.chunks)
        assert [(c.from_rev, c.to_rev) for c in stored.chunks] == [(3, 3), (4, 5)]
        entries, _ = await history.entries("r1", limit=10)
        assert [(e.from_rev, e.to_rev) for e in entries][-1][0] == 3
        # Folding again changes nothing; editing goes on with the next numbers.
        assert await retention.fold("r1", now=old_at + timedelta(days=1, microseconds=1)) is None
        assert await write(registry, "r1", [typist.paragraph("after")]) == 6
        assert "after" in (await history.render("r1", 6, ("text",)))["text"]
    finally:
        history.close()


async def test_nothing_is_folded_while_it_is_younger_than_the_cut_off(stores: Stores) -> None:
    catalog, store = stores
    await catalog.create_document("r2", "T", b"e" * 32, b"v" * 32)
    registry = RoomRegistry(store, compact_every=10_000, idle_seconds=60)
    typist = Typist()
    await write(registry, "r2", [typist.paragraph("a"), typist.paragraph("b")])
    retention = HistoryRetention(store, keep_days=1)
    assert await retention.fold("r2") is None
    assert [(c.from_rev, c.to_rev) for c in (await store.load_history("r2")).chunks] == [(1, 2)]
