"""The revision journal, snapshots and history chunks in memory (fits
``collab.ports.DocumentStore``).

For fast in-process tests: it passes the same contract tests as ``SqlDocumentStore`` on SQLite
and PostgreSQL (``tests/storage/test_store.py``). Like the SQL journal, whose rows reference the
documents table, it only stores content for documents it knows: ``add_document`` stands in for
the catalog's ``create_document`` and ``delete_document`` for its cascade. Nothing survives the
process, so it is never a production store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from swell.records import (
    Change,
    Chunk,
    JournalRow,
    JournalSlice,
    MaintenanceRaced,
    NewestRevision,
    Revision,
    StoredHistory,
    StoredState,
)


class UnknownDocumentError(LookupError):
    """Content written for a document that was never added (the SQL store's foreign key)."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    upto_rev: int
    state: bytes


@dataclass(slots=True)
class _Journal:
    rev: int = 0
    rows: list[JournalRow] = field(default_factory=list)  # in revision order
    snapshots: list[_Snapshot] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    clients: dict[int, str] = field(default_factory=dict)


class MemoryDocumentStore:
    def __init__(self) -> None:
        self._journals: dict[str, _Journal] = {}

    def add_document(self, doc_id: str) -> None:
        """Register a document (idempotent); the SQL store's rows need the catalog's row."""
        self._journals.setdefault(doc_id, _Journal())

    def delete_document(self, doc_id: str) -> bool:
        """Forget a document and all its content, as the catalog's delete cascades."""
        return self._journals.pop(doc_id, None) is not None

    async def load_state(self, doc_id: str) -> StoredState:
        # An unknown document loads as an empty one, as a SELECT that finds no rows would.
        journal = self._journals.get(doc_id, _Journal())
        snap = self._snapshot(journal)
        after = snap.upto_rev if snap is not None else 0
        rows = [row for row in journal.rows if row.revision.rev > after]
        return StoredState(
            snapshot=snap.state if snap is not None else None,
            updates=[row.data for row in rows],
            rev=rows[-1].revision.rev if rows else after,
            updates_since_snapshot=len(rows),
        )

    @staticmethod
    def _snapshot(journal: _Journal) -> _Snapshot | None:
        return max(journal.snapshots, key=lambda s: s.upto_rev, default=None)

    async def append_changes(
        self,
        doc_id: str,
        changes: Sequence[Change],
        bindings: dict[int, str],
        first_rev: int | None = None,
    ) -> int:
        journal = self._journal(doc_id)
        if not changes:
            raise ValueError("no changes to append")
        now = datetime.now(UTC)
        first = journal.rev + 1
        rows = [
            JournalRow(
                Revision(first + i, now, c.author_id, c.kind, c.added, c.removed), c.data, c.ids
            )
            for i, c in enumerate(changes)
        ]
        journal.rows.extend(rows)  # all or nothing: nothing above can fail half-way
        journal.rev += len(rows)
        for client, author in bindings.items():
            journal.clients.setdefault(client, author)
        return journal.rev

    async def client_authors(self, doc_id: str, clients: Sequence[int]) -> dict[int, str]:
        known = self._journals.get(doc_id, _Journal()).clients
        return {c: known[c] for c in clients if c in known}

    async def load_log(self, doc_id: str, upto_rev: int) -> JournalSlice:
        journal = self._journals.get(doc_id, _Journal())
        snap = self._snapshot(journal)
        after = snap.upto_rev if snap is not None else 0
        stored = [c for c in journal.chunks if c.checkpoint]
        checkpoint_rev = stored[-1].to_rev if stored else 0
        return JournalSlice(
            snapshot=snap.state if snap is not None else None,
            rows=[row for row in journal.rows if after < row.revision.rev <= upto_rev],
            checkpoint=stored[-1].checkpoint if stored else None,
            checkpoint_rev=checkpoint_rev,
            between=[c.revisions for c in journal.chunks if c.from_rev > checkpoint_rev],
            snapshot_rev=after,
        )

    async def compact(
        self,
        doc_id: str,
        state: bytes,
        upto_rev: int,
        chunk: Chunk | None,
        *,
        base_rev: int | None = None,
    ) -> None:
        journal = self._journal(doc_id)
        snap = self._snapshot(journal)
        if base_rev is not None and (snap.upto_rev if snap is not None else 0) != base_rev:
            raise MaintenanceRaced(f"{doc_id}: compacted meanwhile")
        if chunk is not None:
            if any(c.from_rev == chunk.from_rev for c in journal.chunks):
                raise ValueError(f"revisions from {chunk.from_rev} are already folded")
            journal.chunks.append(chunk)
            journal.chunks.sort(key=lambda c: c.from_rev)
            journal.rows = [row for row in journal.rows if row.revision.rev > chunk.to_rev]
        # Only snapshots that cover less: a concurrent compaction that went further wins.
        kept = [s for s in journal.snapshots if s.upto_rev > upto_rev]
        journal.snapshots = [*kept, _Snapshot(upto_rev, state)]

    async def import_history(
        self, doc_id: str, snapshot: bytes, chunks: Sequence[Chunk], rev: int
    ) -> None:
        journal = self._journal(doc_id)
        if journal.rev:
            raise ValueError(f"{doc_id} already has revisions")
        journal.chunks = list(chunks)
        journal.snapshots = [_Snapshot(rev, snapshot)]
        journal.rev = rev

    async def replace_history(
        self, doc_id: str, upto_rev: int, chunk: Chunk, *, expected_chunks: int | None = None
    ) -> None:
        journal = self._journal(doc_id)
        count = sum(1 for c in journal.chunks if c.to_rev <= upto_rev)
        if expected_chunks is not None and count != expected_chunks:
            raise MaintenanceRaced(f"{doc_id}: history folded meanwhile")
        journal.chunks = [chunk, *(c for c in journal.chunks if c.to_rev > upto_rev)]

    async def load_history(
        self, doc_id: str, after_rev: int = 0, upto_rev: int | None = None, *, data: bool = True
    ) -> StoredHistory:
        journal = self._journals.get(doc_id, _Journal())
        upto = upto_rev if upto_rev is not None else 2**62
        chunks = [c for c in journal.chunks if c.to_rev > after_rev and c.from_rev <= upto]
        folded = chunks[-1].to_rev if chunks else 0
        rows = [row for row in journal.rows if max(after_rev, folded) < row.revision.rev <= upto]
        if not data:
            chunks = [replace(c, data=b"") for c in chunks]
            rows = [replace(row, data=b"") for row in rows]
        return StoredHistory(chunks=chunks, rows=rows)

    async def load_newest(self, doc_id: str) -> NewestRevision:
        journal = self._journals.get(doc_id, _Journal())
        if journal.rows:
            return NewestRevision(journal.rows[-1].revision)
        return NewestRevision(None, max((c.to_rev for c in journal.chunks), default=0))

    async def load_chunk_index(self, doc_id: str, to_rev: int) -> bytes:
        journal = self._journals.get(doc_id, _Journal())
        return next((c.revisions for c in journal.chunks if c.to_rev == to_rev), b"")

    async def count_updates(self, doc_id: str) -> int:
        """For tests: rows in the journal."""
        journal = self._journals.get(doc_id)
        return len(journal.rows) if journal is not None else 0

    def _journal(self, doc_id: str) -> _Journal:
        journal = self._journals.get(doc_id)
        if journal is None:
            raise UnknownDocumentError(f"no document {doc_id!r}")
        return journal
