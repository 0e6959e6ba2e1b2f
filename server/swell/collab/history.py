"""Reading a document's past: its revisions grouped into bursts, any revision rendered, what
changed between two, and restoring one as a new forward change.

The index (every revision's time, author, kind, counts and ids) stays in memory per document
and grows with new revisions; the CRDT work (rebuilding a revision, diffing, computing a
restore) runs in ``HistoryDocs``' worker thread, never on the event loop. Rendered revisions
are cached: a revision never changes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, IdSet, StackItem, TransactionEvent, UndoManager, XmlFragment

from swell.collab.events import DocumentDeleted, RoomEvent
from swell.collab.history_docs import HistoryDocs, doc_at
from swell.collab.ports import DocumentStore
from swell.collab.registry import RoomRegistry
from swell.collab.revision_index import Entry, RevisionIndex, group_entries
from swell.collab.revisions import (
    Checkpoint,
    Ranges,
    Spans,
    decode_ids,
    encode_delete_set,
    merged,
    subtract,
)
from swell.records import AuthorRecord
from swell.rendering import render_formats
from swell.rendering.changes import render_changes

log = logging.getLogger(__name__)

LONGEST_BURST_SECONDS = 60.0  # the activity feed's MAX_BURST_SECONDS
MAX_STEPS = 64
"""A comparison attributes changes per author run; more runs than this are merged into this
many steps (each attributed to the last author of the runs it merges)."""
EMPTY_UPDATE = b"\x00\x00"
ATTRIBUTIONS_KEPT = 64
GROUPED_ON_LOOP = 2000
"""New revisions grouped into entries on the event loop (about 0.3 ms per 1,000); more are
grouped in a worker thread (a first history request of a long document)."""


class RevisionNotFound(LookupError):
    pass


class NothingToRestore(ValueError):
    """The revision to restore is the document as it is now."""


class History:
    def __init__(
        self,
        store: DocumentStore,
        rooms: RoomRegistry,
        *,
        quiet_seconds: float,
        indexes_kept: int = 16,
        renders_kept: int = 256,
        render_chars: int = 32 << 20,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._quiet = quiet_seconds
        self._indexes: OrderedDict[str, RevisionIndex] = OrderedDict()
        self._indexes_kept = indexes_kept
        self._locks: dict[str, asyncio.Lock] = {}
        self._entries: dict[str, tuple[int, list[Entry]]] = {}
        self.docs = HistoryDocs(store)
        self._renders: OrderedDict[tuple[str, int, str], str] = OrderedDict()
        self._renders_kept = renders_kept
        self._render_chars = render_chars
        self._rendered_chars = 0
        self._attributions: OrderedDict[tuple[str, int, int], list[Attribution]] = OrderedDict()

    # ---- the index --------------------------------------------------------------------------

    async def index(self, doc_id: str) -> RevisionIndex:
        """The document's index, brought up to its newest committed revision."""
        lock = self._locks.setdefault(doc_id, asyncio.Lock())
        async with lock:
            index = self._indexes.pop(doc_id, None) or RevisionIndex()
            history = await self._store.load_history(doc_id, after_rev=index.newest, data=False)
            if history.chunks or history.rows:
                await asyncio.to_thread(index.extend, history)
            self._indexes[doc_id] = index
            while len(self._indexes) > self._indexes_kept:
                gone, _ = self._indexes.popitem(last=False)
                self._entries.pop(gone, None)
            return index

    def on_event(self, event: RoomEvent) -> None:
        if isinstance(event, DocumentDeleted):
            self.forget(event.doc_id)

    def forget(self, doc_id: str) -> None:
        """The document is gone (or its history rewritten): drop what is kept of it."""
        self._indexes.pop(doc_id, None)
        self._entries.pop(doc_id, None)
        self._locks.pop(doc_id, None)
        for key in [k for k in self._renders if k[0] == doc_id]:
            self._rendered_chars -= len(self._renders.pop(key))
        for gone in [k for k in self._attributions if k[0] == doc_id]:
            del self._attributions[gone]
        self.docs.forget(doc_id)

    async def newest(self, doc_id: str) -> int:
        return (await self.index(doc_id)).newest

    # ---- entries -----------------------------------------------------------------------------

    async def entries(
        self, doc_id: str, *, limit: int, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        """Bursts newest first, those ending before revision ``before``; and the ``before``
        of the next page (None at the first revision)."""
        index = await self.index(doc_id)
        known, _ = self._entries.get(doc_id, (0, []))
        if index.newest - known > GROUPED_ON_LOOP:
            entries = await asyncio.to_thread(self._grouped, doc_id, index)
        else:
            entries = self._grouped(doc_id, index)
        end = len(entries)
        if before is not None:
            lo, hi = 0, len(entries)
            while lo < hi:  # the first entry that ends at or after ``before``
                mid = (lo + hi) // 2
                if entries[mid].to_rev < before:
                    lo = mid + 1
                else:
                    hi = mid
            end = lo
        page = entries[max(0, end - limit) : end][::-1]
        more = end - limit > 0
        return page, (page[-1].from_rev if page and more else None)

    def _grouped(self, doc_id: str, index: RevisionIndex) -> list[Entry]:
        """Entries for every revision, extended from the last (still open) entry on."""
        known, entries = self._entries.get(doc_id, (0, []))
        if known == index.newest:
            return entries
        if not index.revisions:
            return []
        entries = list(entries)
        first = index.revisions[0].rev
        start = entries.pop().from_rev if entries else first
        tail = index.revisions[start - first :]
        entries += group_entries(
            tail, quiet_seconds=self._quiet, longest_seconds=LONGEST_BURST_SECONDS
        )
        self._entries[doc_id] = (index.newest, entries)
        return entries

    # ---- rendering ---------------------------------------------------------------------------

    async def render(self, doc_id: str, rev: int, formats: Sequence[str]) -> dict[str, str]:
        """The document right after revision ``rev``, in each of ``formats``."""
        wanted = tuple(formats)
        cached = {f: self._renders.get((doc_id, rev, f)) for f in wanted}
        if all(v is not None for v in cached.values()):
            for f in wanted:
                self._renders.move_to_end((doc_id, rev, f))
            return {f: v for f, v in cached.items() if v is not None}
        index = await self.index(doc_id)
        if not index.has(rev):
            raise RevisionNotFound(rev)
        state, checkpoint = index.state(rev)
        started = time.perf_counter()
        rendered = await self.docs.run(
            doc_id, rev, lambda doc: _render_at(doc, checkpoint, state, wanted)
        )
        log.debug("rendered %s@%d in %.1f ms", doc_id, rev, (time.perf_counter() - started) * 1e3)
        for f, text in rendered.items():
            self._keep((doc_id, rev, f), text)
        return rendered

    def _keep(self, key: tuple[str, int, str], text: str) -> None:
        if len(text) > self._render_chars // 4:
            return
        old = self._renders.pop(key, None)
        if old is not None:
            self._rendered_chars -= len(old)
        self._renders[key] = text
        self._rendered_chars += len(text)
        while self._renders and (
            len(self._renders) > self._renders_kept or self._rendered_chars > self._render_chars
        ):
            _, gone = self._renders.popitem(last=False)
            self._rendered_chars -= len(gone)

    async def changes(self, doc_id: str, start: int, end: int | None = None) -> str:
        """HTML of the document at ``end`` (default: now) with what changed after ``start``
        marked up per author."""
        index = await self.index(doc_id)
        end = index.newest if end is None else end
        if not (start == 0 or index.has(start)) or not index.has(end) or start > end:
            raise RevisionNotFound(end)
        before = index.checkpoint(start) if start else None
        steps = [
            (author, index.checkpoint(upto))
            for author, upto in _steps(index, start, end, MAX_STEPS)
        ]
        return await self.docs.run(doc_id, end, lambda doc: _changes_between(doc, before, steps))

    async def attribution(
        self, doc_id: str, start: int, end: int | None = None
    ) -> tuple[int, list[Attribution]]:
        """Who inserted and who deleted which Yjs ids after revision ``start`` up to ``end``
        (default: now), and that ``end``: what a page holding the live document needs to
        highlight those changes in it (the ids are the ones its own Yjs document has). Computed
        in the history thread (capped per document like every history request) and cached: a
        range of revisions never changes."""
        index = await self.index(doc_id)
        end = index.newest if end is None else end
        if not (start == 0 or index.has(start)) or not index.has(end) or start > end:
            raise RevisionNotFound(end)
        key = (doc_id, start, end)
        found = self._attributions.get(key)
        if found is None:
            found = await self.docs.compute(doc_id, lambda: _attribute(index, start, end))
            self._attributions[key] = found
            while len(self._attributions) > ATTRIBUTIONS_KEPT:
                self._attributions.popitem(last=False)
        self._attributions.move_to_end(key)
        return end, found

    # ---- restore -----------------------------------------------------------------------------

    async def restore(self, doc_id: str, rev: int, author: AuthorRecord | None) -> int:
        """Make the document equal to revision ``rev`` again through one new revision (kind
        ``restore``) that every open client receives like any edit; returns its number. Edits
        that arrive while it is computed stay (the restore is merged with them, as any two
        concurrent edits are)."""
        room = await self._rooms.acquire(doc_id)
        try:
            await room.flush()
            newest = room.rev
            index = await self.index(doc_id)
            if not index.has(rev) or rev > newest:
                raise RevisionNotFound(rev)
            inserted, deleted = index.changed_after(rev, newest)
            if not inserted and not deleted:
                raise NothingToRestore(rev)
            update = await self.docs.run(
                doc_id,
                newest,
                lambda doc: _undo_after(
                    doc, bytes(encode_delete_set(inserted)), bytes(encode_delete_set(deleted))
                ),
                consumes=True,
            )
            if update == EMPTY_UPDATE:
                raise NothingToRestore(rev)
            made = await room.change(update, author, "restore")
            if not made:
                raise NothingToRestore(rev)
            return made
        finally:
            self._rooms.release(room)

    def close(self) -> None:
        self.docs.close()


@dataclass(frozen=True, slots=True)
class Attribution:
    """What one author (None: anonymous) changed in a range of revisions: the ids they
    inserted that are still there, and the ids of what was there before that they deleted."""

    author_id: str | None
    inserted: Ranges
    deleted: Ranges


def _attribute(index: RevisionIndex, start: int, end: int) -> list[Attribution]:
    """Per author, in the order they first changed something after ``start``; text both
    inserted and deleted in the range is in neither (it was never there to see). Spans are
    gathered and merged once at the end."""
    mine: dict[str | None, tuple[Spans, Spans]] = {}
    everything: tuple[Spans, Spans] = ({}, {})
    for rev in range(max(start + 1, index.first), end + 1):
        ids = decode_ids(index.ids(rev))
        own = mine.setdefault(index.revision(rev).author_id, ({}, {}))
        for ranges, into in ((ids.inserted, 0), (ids.deleted, 1)):
            for client, spans in ranges.items():
                own[into].setdefault(client, []).extend(spans)
                everything[into].setdefault(client, []).extend(spans)
    inserted, deleted = merged(everything[0]), merged(everything[1])
    attributed = [
        Attribution(author, subtract(merged(added), deleted), subtract(merged(removed), inserted))
        for author, (added, removed) in mine.items()
    ]
    return [a for a in attributed if a.inserted or a.deleted]


def _steps(index: RevisionIndex, start: int, end: int, most: int) -> list[tuple[str | None, int]]:
    """(author, last revision) of each run of one author's revisions after ``start``."""
    runs: list[tuple[str | None, int]] = []
    for rev in range(max(start + 1, index.first), end + 1):
        author = index.revision(rev).author_id
        if runs and runs[-1][0] == author:
            runs[-1] = (author, rev)
        else:
            runs.append((author, rev))
    if len(runs) <= most:
        return runs
    size = -(-len(runs) // most)
    return [runs[min(i + size, len(runs)) - 1] for i in range(0, len(runs), size)]


def _at(doc: Doc[Any], checkpoint: bytes) -> Doc[Any]:
    return doc_at(doc, checkpoint)


def _render_at(
    doc: Doc[Any], checkpoint: bytes, state: Checkpoint, formats: tuple[str, ...]
) -> dict[str, str]:
    past = doc_at(doc, checkpoint, state)
    return render_formats(past.get("default", type=XmlFragment), formats)


def _changes_between(
    doc: Doc[Any], before: bytes | None, steps: list[tuple[str | None, bytes]]
) -> str:
    start: Doc[Any] = _at(doc, before) if before is not None else Doc()
    return render_changes(start, [(author, _at(doc, cp)) for author, cp in steps])


def _undo_after(doc: Doc[Any], inserted: bytes, deleted: bytes) -> bytes:
    """One update that takes back every insertion and deletion in the given ids: pycrdt's
    UndoManager with one stack item holding them (as Yjs v14 and AFFiNE restore). ``doc``
    is changed by it (the caller drops it)."""
    fragment = doc.get("default", type=XmlFragment)
    item: StackItem[None] = StackItem(doc._doc, IdSet.decode(deleted), IdSet.decode(inserted))
    manager = UndoManager(scopes=[fragment], undo_stack=[item])
    made: list[bytes] = []

    def on_transaction(event: TransactionEvent) -> None:
        made.append(event.update)

    subscription = doc.observe(on_transaction)
    try:
        manager.undo()
    finally:
        doc.unobserve(subscription)
    return made[-1] if made else EMPTY_UPDATE
