"""Folding a document's journal into one snapshot, checked before anything is deleted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, TransactionEvent, get_update, merge_updates

from swell.collab.ports import Chunk, DocumentStore, JournalSlice
from swell.collab.revisions import (
    CHECKPOINT_EVERY,
    Checkpoint,
    IndexedRevision,
    checkpoint_after,
    pack_blob,
    pack_revisions,
    unpack_blob,
    unpack_revisions,
)
from swell.protocol.messages import decode_state_vector
from swell.records import MaintenanceRaced, StoredState
from swell.telemetry import Telemetry

log = logging.getLogger(__name__)


def build_doc(state: StoredState) -> Doc[Any]:
    """A Doc holding the snapshot and the journal's updates after it."""
    doc: Doc[Any] = Doc()
    if state.snapshot is not None:
        doc.apply_update(state.snapshot)
    for update in state.updates:
        doc.apply_update(update)
    return doc


class CompactionMismatch(RuntimeError):
    """The merged snapshot would not hold what the log holds."""


async def compact_document(
    store: DocumentStore,
    doc_id: str,
    upto: int,
    *,
    candidate: bytes | None = None,
    expected: bytes | None = None,
) -> None:
    """Fold the journal's revisions up to ``upto`` into a new snapshot (what editing loads)
    and a history chunk (what their revisions are rebuilt from), then delete them.

    ``candidate`` is the room's own document, encoded when it had applied those revisions:
    taking it costs one encode instead of rebuilding the document from the journal. It is used
    only when it provably holds every change the rows hold; otherwise (updates with missing
    dependencies, rows another process wrote) the rows are folded. ``expected`` is a state
    vector the folded snapshot must have (for tests). The CRDT work runs in a worker thread."""
    old = await store.load_log(doc_id, upto)
    if not old.rows:
        return
    snapshot, chunk = await asyncio.to_thread(_fold, doc_id, old, candidate, expected)
    await store.compact(
        doc_id, snapshot, old.rows[-1].revision.rev, chunk, base_rev=old.snapshot_rev
    )


def _fold(
    doc_id: str, old: JournalSlice, candidate: bytes | None, expected: bytes | None
) -> tuple[bytes, Chunk]:
    parts = _parts(old)
    if candidate is not None and holds_everything(candidate, parts):
        snapshot = candidate
    else:
        snapshot = fold_log(doc_id, parts, expected)
    return snapshot, history_chunk(old)


def history_chunk(old: JournalSlice) -> Chunk:
    """The revisions of ``old`` without loss: their updates merged (never through a Doc, which
    would drop deleted content), their index packed, and (every ``CHECKPOINT_EVERY``
    revisions) the checkpoint after the last."""
    rows = old.rows
    data = rows[0].data if len(rows) == 1 else merge_updates(*(row.data for row in rows))
    to_rev = rows[-1].revision.rev
    checkpoint = b""
    if to_rev - old.checkpoint_rev >= CHECKPOINT_EVERY:
        start = Checkpoint.decode(unpack_blob(old.checkpoint)) if old.checkpoint else None
        ids = [i.ids for packed in old.between for i in unpack_revisions(packed)]
        ids += [row.ids for row in rows]
        state = checkpoint_after(start or Checkpoint.empty(), ids)
        checkpoint = pack_blob(state.encode())
    return Chunk(
        from_rev=rows[0].revision.rev,
        to_rev=to_rev,
        data=pack_blob(data),
        revisions=pack_revisions([IndexedRevision(row.revision, row.ids) for row in rows]),
        checkpoint=checkpoint,
    )


def _parts(old: JournalSlice) -> list[bytes]:
    return ([old.snapshot] if old.snapshot is not None else []) + [row.data for row in old.rows]


def holds_everything(snapshot: bytes, parts: list[bytes]) -> bool:
    """True when ``snapshot`` already holds every change in ``parts``: each part's structs lie
    within its state vector (which pending structs do not), and applying the parts to it
    changes nothing (which covers deletions)."""
    doc: Doc[Any] = Doc()
    doc.apply_update(snapshot)
    state = doc.get_state()
    # A V1 update whose first number (the count of clients with structs) is 0 holds only
    # deletions: get_update(part, state) keeps just what ``state`` lacks.
    if any(get_update(part, state)[0] != 0 for part in parts):
        return False
    changed = False

    def on_change(_: TransactionEvent) -> None:
        nonlocal changed
        changed = True

    subscription = doc.observe(on_change)
    try:
        for part in parts:
            doc.apply_update(part)
    finally:
        doc.unobserve(subscription)
    return not changed


def fold_log(doc_id: str, parts: list[bytes], expected: bytes | None = None) -> bytes:
    """The snapshot for ``parts``: the integrated document re-encoded, so adjacent items
    squash and it loads ~40x faster than a merge of the raw updates. If some update could not
    be integrated (its dependencies are missing), encoding would drop it; then the lossless
    merge is kept instead."""
    doc: Doc[Any] = Doc()
    for part in parts:
        doc.apply_update(part)
    integrated = decode_state_vector(doc.get_state())
    merged = merge_updates(*parts)
    if get_update(merged, doc.get_state())[0] == 0:
        snapshot = doc.get_update()
    else:
        log.warning("%s holds updates with missing dependencies; keeping them verbatim", doc_id)
        snapshot = merged
    check: Doc[Any] = Doc()
    check.apply_update(snapshot)
    wanted = decode_state_vector(expected) if expected is not None else integrated
    if decode_state_vector(check.get_state()) != wanted:
        raise CompactionMismatch(
            f"{doc_id}: the snapshot's state vector differs from the log's; nothing deleted"
        )
    return snapshot


COMPACT_INTERVAL = 1.0
"""Seconds between a room's compactions however fast updates arrive: at 4,000 edits/s a
compaction every 500 updates would run eight times a second, each encoding, checking and
rewriting the whole document. The journal then holds at most about a second's worth more, and
a room still compacts when it closes."""


class CompactionSchedule:
    """When a room folds its journal: every ``compact_every`` committed updates (at most once
    per ``COMPACT_INTERVAL``) and when it closes; one compaction at a time."""

    def __init__(
        self,
        store: DocumentStore,
        doc_id: str,
        *,
        compact_every: int,
        since_snapshot: int,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry or Telemetry()
        self._store = store
        self._doc_id = doc_id
        self._every = compact_every
        self._since = since_snapshot
        self._at = -COMPACT_INTERVAL
        self._task: asyncio.Task[None] | None = None

    def committed(self, count: int, upto: int, candidate: Callable[[], bytes | None]) -> None:
        self._since += count
        if self._since >= self._every and time.monotonic() - self._at >= COMPACT_INTERVAL:
            self.start(upto, candidate)

    def start(self, upto: int, candidate: Callable[[], bytes | None]) -> asyncio.Task[None] | None:
        """``candidate`` encodes the room's Doc when everything it applied is committed up to
        ``upto`` (then the Doc itself is the snapshot), else returns None."""
        if self._task is not None and not self._task.done():
            return self._task
        if self._since == 0:
            return None
        self._since = 0
        self._at = time.monotonic()
        self._task = asyncio.create_task(
            self._compact(upto, candidate()), name=f"compact:{self._doc_id}"
        )
        return self._task

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _compact(self, upto: int, candidate: bytes | None) -> None:
        try:
            await compact_document(self._store, self._doc_id, upto, candidate=candidate)
            self._telemetry.compaction("done")
        except MaintenanceRaced:
            self._telemetry.compaction("skipped")
            # Another process compacted the same rows first: its snapshot covers them.
            log.info("compaction of %s up to %d skipped: compacted meanwhile", self._doc_id, upto)
        except Exception:
            self._telemetry.compaction("failed")
            log.exception("compaction of %s up to %d failed", self._doc_id, upto)
