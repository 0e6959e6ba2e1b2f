"""Folding old history away (``--history-keep-days``): the revisions of every history chunk
that ended before the cut-off become one revision, holding the document as it was then
without its deleted content. The document, and every newer revision, stay exactly as they
were; numbering goes on. Off by default: history is data, and nothing is folded unless a
deployment asks for it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pycrdt import Doc

from swell.collab.events import DocumentEdited, RoomEvent, RoomUnloaded
from swell.collab.history_docs import doc_at
from swell.collab.ports import Chunk, DocumentStore
from swell.collab.revisions import (
    Checkpoint,
    IndexedRevision,
    checkpoint_after,
    encode_delete_set,
    encode_ids,
    pack_blob,
    pack_revisions,
    unpack_blob,
    unpack_revisions,
)
from swell.records import Revision

log = logging.getLogger(__name__)

CHECK_EVERY = 3600.0
"""A document being edited is checked at most this often (and whenever it is unloaded)."""
CHECKED_KEPT = 10_000


class HistoryRetention:
    def __init__(
        self,
        store: DocumentStore,
        *,
        keep_days: float,
        on_folded: Callable[[str], None] = lambda _doc_id: None,
    ) -> None:
        self._store = store
        self._keep = timedelta(days=keep_days)
        self._on_folded = on_folded
        self._checked: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._keep > timedelta(0)

    def on_event(self, event: RoomEvent) -> None:
        if not self.enabled or not isinstance(event, DocumentEdited | RoomUnloaded):
            return
        if isinstance(event, DocumentEdited) and event.remote:
            return  # the process that committed it checks
        now = time.monotonic()
        last = self._checked.get(event.doc_id)
        if isinstance(event, DocumentEdited) and last is not None and now - last < CHECK_EVERY:
            return
        if len(self._checked) >= CHECKED_KEPT:
            self._checked.clear()
        self._checked[event.doc_id] = now
        task = asyncio.get_running_loop().create_task(self._fold_logged(event.doc_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fold_logged(self, doc_id: str) -> None:
        try:
            await self.fold(doc_id)
        except Exception:
            log.exception("folding old history of %s failed; nothing was deleted", doc_id)

    async def fold(self, doc_id: str, now: datetime | None = None) -> int | None:
        """Fold the chunks that ended before the cut-off; returns the revision they became
        (None when there was nothing to fold)."""
        cutoff = (now or datetime.now(UTC)) - self._keep
        index = await self._store.load_history(doc_id, data=False)
        old: list[Chunk] = []
        for chunk in index.chunks:
            revisions = unpack_revisions(chunk.revisions)
            if revisions[-1].revision.at >= cutoff:
                break
            old.append(chunk)
        if not old or (len(old) == 1 and old[0].from_rev == old[0].to_rev):
            return None  # nothing older than the cut-off, or folded already
        upto = old[-1].to_rev
        stored = await self._store.load_history(doc_id, upto_rev=upto)
        chunks = [c for c in stored.chunks if c.to_rev <= upto]
        folded = await asyncio.to_thread(fold_chunks, chunks)
        await self._store.replace_history(doc_id, upto, folded, expected_chunks=len(chunks))
        log.info(
            "folded revisions %d-%d of %s (older than %s)", old[0].from_rev, upto, doc_id, cutoff
        )
        self._on_folded(doc_id)
        return upto

    async def wait(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def fold_chunks(chunks: Sequence[Chunk]) -> Chunk:
    """One chunk of one revision (the last of ``chunks``): the document as it was then,
    garbage-collected, so deleted text is gone but every id later revisions build on stays."""
    history: Doc[Any] = Doc(skip_gc=True)
    for chunk in chunks:
        history.apply_update(unpack_blob(chunk.data))
    last = chunks[-1]
    # The state after the last: the last stored checkpoint (the first chunk always has one:
    # it starts the document or is an earlier fold) advanced through the revisions after it.
    stored = max((i for i, c in enumerate(chunks) if c.checkpoint), default=None)
    start = Checkpoint.empty()
    if stored is not None:
        start = Checkpoint.decode(unpack_blob(chunks[stored].checkpoint))
    following = chunks[stored + 1 :] if stored is not None else chunks
    checkpoint = checkpoint_after(
        start, [i.ids for c in following for i in unpack_revisions(c.revisions)]
    )
    encoded = checkpoint.encode()
    past = doc_at(history, encoded, checkpoint)
    collected: Doc[Any] = Doc()
    collected.apply_update(past.get_update())
    revisions = [item.revision for c in chunks for item in unpack_revisions(c.revisions)]
    inserted = {client: [(0, clock)] for client, clock in checkpoint.clocks.items() if clock}
    ids = encode_ids(inserted, bytes(encode_delete_set(checkpoint.deleted)))
    revision = Revision(
        rev=last.to_rev,
        at=revisions[-1].at,
        author_id=None,
        kind="edit",
        added=sum(r.added for r in revisions),
        removed=sum(r.removed for r in revisions),
    )
    return Chunk(
        from_rev=last.to_rev,
        to_rev=last.to_rev,
        data=pack_blob(collected.get_update()),
        revisions=pack_revisions([IndexedRevision(revision, ids)]),
        checkpoint=pack_blob(encoded),  # a fold always keeps its checkpoint
    )
