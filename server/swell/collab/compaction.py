"""Folding a document's journal into one snapshot, checked before anything is deleted."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Doc, get_update, merge_updates

from swell.collab.ports import DocumentStore
from swell.protocol.messages import decode_state_vector
from swell.records import StoredState

log = logging.getLogger(__name__)


def build_doc(state: StoredState) -> Doc[Any]:
    """A Doc holding the snapshot and the log rows after it."""
    doc: Doc[Any] = Doc()
    if state.snapshot is not None:
        doc.apply_update(state.snapshot)
    for update in state.updates:
        doc.apply_update(update)
    return doc


class CompactionMismatch(RuntimeError):
    """The merged snapshot would not hold what the log holds."""


async def compact_document(
    store: DocumentStore, doc_id: str, upto: int, *, expected: bytes | None = None
) -> None:
    """Fold the snapshot and log rows up to ``upto`` into one snapshot, after checking that it
    holds what the log holds (``expected``: a state vector it must have, for tests). The CRDT
    work runs in a worker thread so the room's event loop keeps forwarding meanwhile."""
    old = await store.load_log(doc_id, upto)
    if not old.updates:
        return
    snapshot = await asyncio.to_thread(fold_log, doc_id, old, expected)
    await store.compact(doc_id, snapshot, old.last_update_id)


def fold_log(doc_id: str, old: StoredState, expected: bytes | None = None) -> bytes:
    """The snapshot for ``old``: the integrated document re-encoded, so adjacent items squash
    and it loads ~40x faster than a merge of the raw updates. If some update could not be
    integrated (its dependencies are missing), encoding would drop it; then the lossless merge
    is kept instead."""
    parts = ([old.snapshot] if old.snapshot is not None else []) + list(old.updates)
    doc = build_doc(old)
    integrated = decode_state_vector(doc.get_state())
    merged = merge_updates(*parts)
    # What the log holds beyond the integrated document: a V1 update whose first number (the
    # count of clients with structs) is 0 holds only deletions, all of them already applied.
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
