"""The update journal and its snapshots in memory (fits ``collab.ports.DocumentStore``).

For fast in-process tests: it passes the same contract tests as ``SqlDocumentStore`` on SQLite
and PostgreSQL (``tests/storage/test_store.py``). Like the SQL journal, whose rows reference the
documents table, it only stores content for documents it knows: ``add_document`` stands in for
the catalog's ``create_document`` and ``delete_document`` for its cascade. Nothing survives the
process, so it is never a production store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from swell.records import PendingUpdate, StoredState


class UnknownDocumentError(LookupError):
    """Content written for a document that was never added (the SQL store's foreign key)."""


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    data: bytes
    author: str | None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    upto_update_id: int
    state: bytes


@dataclass(slots=True)
class _Journal:
    rows: list[_Row] = field(default_factory=list)  # in id order
    snapshots: list[_Snapshot] = field(default_factory=list)


class MemoryDocumentStore:
    def __init__(self) -> None:
        self._journals: dict[str, _Journal] = {}
        # One counter for every document, like the SQL journal's AUTOINCREMENT ids: never reused.
        self._last_id = 0

    def add_document(self, doc_id: str) -> None:
        """Register a document (idempotent); the SQL store's rows need the catalog's row."""
        self._journals.setdefault(doc_id, _Journal())

    def delete_document(self, doc_id: str) -> bool:
        """Forget a document and all its content, as the catalog's delete cascades."""
        return self._journals.pop(doc_id, None) is not None

    async def load_state(self, doc_id: str) -> StoredState:
        return self._load(doc_id, upto_update_id=None)

    async def load_log(self, doc_id: str, upto_update_id: int) -> StoredState:
        return self._load(doc_id, upto_update_id=upto_update_id)

    def _load(self, doc_id: str, upto_update_id: int | None) -> StoredState:
        # An unknown document loads as an empty one, as a SELECT that finds no rows would.
        journal = self._journals.get(doc_id, _Journal())
        snap = max(journal.snapshots, key=lambda s: s.upto_update_id, default=None)
        after = snap.upto_update_id if snap is not None else 0
        rows = [
            row
            for row in journal.rows
            if row.id > after and (upto_update_id is None or row.id <= upto_update_id)
        ]
        return StoredState(
            snapshot=snap.state if snap is not None else None,
            updates=[row.data for row in rows],
            last_update_id=rows[-1].id if rows else after,
            updates_since_snapshot=len(rows),
        )

    async def append_updates(self, doc_id: str, updates: Sequence[PendingUpdate]) -> int:
        journal = self._journal(doc_id)
        if not updates:
            raise ValueError("no updates to append")
        rows = [_Row(self._last_id + i, u.data, u.author) for i, u in enumerate(updates, 1)]
        self._last_id += len(rows)
        journal.rows.extend(rows)  # all or nothing: nothing above can fail half-way
        return self._last_id

    async def compact(self, doc_id: str, state: bytes, upto_update_id: int) -> None:
        journal = self._journal(doc_id)
        new = _Snapshot(upto_update_id, state)
        journal.rows = [row for row in journal.rows if row.id > upto_update_id]
        # Only snapshots that cover less: a concurrent compaction that went further wins.
        kept = [s for s in journal.snapshots if s.upto_update_id > upto_update_id]
        journal.snapshots = [*kept, new]

    async def count_updates(self, doc_id: str) -> int:
        """For tests: rows in the journal."""
        journal = self._journals.get(doc_id)
        return len(journal.rows) if journal is not None else 0

    def _journal(self, doc_id: str) -> _Journal:
        journal = self._journals.get(doc_id)
        if journal is None:
            raise UnknownDocumentError(f"no document {doc_id!r}")
        return journal
