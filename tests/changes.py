"""Journal rows for storage and compaction tests: updates as ``Change``s, with the ids they
insert and delete worked out the way the room's writer does (by applying them in order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycrdt import Doc, TransactionEvent

from swell.collab.revisions import encode_ids, inserted_between
from swell.protocol.messages import decode_state_vector
from swell.records import Change

NO_IDS = encode_ids({}, b"\x00")


def as_changes(updates: Sequence[bytes], author: str | None = None) -> list[Change]:
    """Each update a revision by ``author``; an update that does not apply (corrupt, or its
    dependencies missing) is kept with no ids, as the tests that store such rows want."""
    doc: Doc[Any] = Doc()
    seen: list[bytes] = []

    def on_transaction(event: TransactionEvent) -> None:
        seen.append(
            encode_ids(
                inserted_between(
                    decode_state_vector(event.before_state),  # type: ignore[attr-defined]
                    decode_state_vector(event.after_state),  # type: ignore[attr-defined]
                ),
                event.delete_set,  # type: ignore[attr-defined]
            )
        )

    subscription = doc.observe(on_transaction)
    out = []
    try:
        for update in updates:
            seen.clear()
            try:
                doc.apply_update(update)
            except ValueError:
                pass
            out.append(Change(update, author, seen[-1] if seen else NO_IDS))
    finally:
        doc.unobserve(subscription)
    return out
