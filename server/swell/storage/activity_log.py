"""Stored activity, numbered per document (fits ``collab.ports.ActivityLog``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from swell.records import ActivityRecord, AuthorRecord, NewActivity
from swell.storage.models import Activity, Author, Document


class SqlActivityLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], keep: int = 1000) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._keep = keep
        self._dialect = self._engine.dialect.name
        # SQLite's driver begins the transaction at the first INSERT, so the max(seq) read
        # before it would race another connection of this process; SQLite has one writing
        # process, so one batch at a time here is enough.
        self._one_at_a_time = asyncio.Lock() if self._dialect == "sqlite" else None

    async def append_activities(self, entries: Sequence[NewActivity]) -> list[ActivityRecord]:
        """Store ``entries`` (of any documents) in one transaction; each document's are
        numbered on from its newest seq in the order given. Returns their records in that
        order, each with its author's current name and colour.

        Across processes, PostgreSQL numbers one document's activity under a transaction-scoped
        advisory lock per document, taken in sorted order so that two batches never deadlock.
        Entries of documents that no longer exist are left out (no record), so that a document
        deleted meanwhile never fails the others: the documents are read first, on PostgreSQL
        ``FOR KEY SHARE`` (the lock the foreign key check takes anyway), so a delete waits for
        this commit. Anything else that fails raises, and nothing of the batch is stored."""
        if not entries:
            return []
        if self._one_at_a_time is None:
            return await self._append(entries)
        async with self._one_at_a_time:
            return await self._append(entries)

    async def _append(self, entries: Sequence[NewActivity]) -> list[ActivityRecord]:
        now = datetime.now(UTC)
        docs = sorted({e.doc_id for e in entries})
        author_ids = sorted({e.author_id for e in entries if e.author_id is not None})
        async with self._engine.begin() as connection:
            existing = select(Document.id).where(Document.id.in_(docs))
            if self._dialect == "postgresql":
                # Several processes number one document's activity: one at a time (until this
                # transaction ends), or two would take the same number. unnest yields the
                # sorted keys in order: every batch takes its locks in the same order.
                await connection.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
                        " FROM unnest(CAST(:keys AS text[])) AS k"
                    ),
                    {"keys": [f"swell:activity:{doc_id}" for doc_id in docs]},
                )
                existing = existing.with_for_update(read=True, key_share=True)
            present = set((await connection.scalars(existing)).all())
            if not present:
                return []
            found_max = await connection.execute(
                select(Activity.document_id, func.max(Activity.seq))
                .where(Activity.document_id.in_(sorted(present)))
                .group_by(Activity.document_id)
            )
            newest: dict[str, int] = {doc_id: seq for doc_id, seq in found_max}
            numbered: list[tuple[NewActivity, int]] = []
            first: dict[str, int] = {}
            for entry in entries:
                if entry.doc_id in present:
                    seq = newest[entry.doc_id] = newest.get(entry.doc_id, 0) + 1
                    first.setdefault(entry.doc_id, seq)
                    numbered.append((entry, seq))
            rows = [
                {
                    "document_id": entry.doc_id,
                    "seq": seq,
                    "at": now,
                    "kind": entry.kind,
                    "user": entry.user,
                    "summary": entry.summary,
                    "author_id": entry.author_id,
                    "from_rev": entry.from_rev,
                    "to_rev": entry.to_rev,
                }
                for entry, seq in numbered
            ]
            await connection.execute(insert(Activity), rows)
            authors: dict[str, AuthorRecord] = {}
            if author_ids:
                found = await connection.execute(
                    select(Author.id, Author.name, Author.color).where(Author.id.in_(author_ids))
                )
                authors = {a.id: AuthorRecord(a.id, a.name, a.color) for a in found}
            # Prune each document's oldest every ``step`` entries, as one entry at a time did:
            # when this batch's numbers passed a multiple of it.
            step = max(1, min(100, self._keep))
            for doc_id, start in first.items():
                last = newest[doc_id]
                if last > self._keep and last // step > (start - 1) // step:
                    await connection.execute(
                        delete(Activity).where(
                            Activity.document_id == doc_id, Activity.seq <= last - self._keep
                        )
                    )
        return [
            ActivityRecord(
                e.doc_id,
                seq,
                now,
                e.kind,
                e.user,
                e.summary,
                authors.get(e.author_id) if e.author_id is not None else None,
                e.from_rev,
                e.to_rev,
            )
            for e, seq in numbered
        ]

    async def list_activity(
        self, doc_id: str, after_seq: int | None, limit: int
    ) -> tuple[list[ActivityRecord], int, int]:
        """Each event with its author's current name and colour."""
        async with self._sessions() as session:
            bounds = (
                await session.execute(
                    select(func.min(Activity.seq), func.max(Activity.seq)).where(
                        Activity.document_id == doc_id
                    )
                )
            ).one()
            oldest, newest = bounds
            query = (
                select(Activity, Author)
                .outerjoin(Author, Author.id == Activity.author_id)
                .where(Activity.document_id == doc_id)
            )
            if after_seq is None:
                query = query.order_by(Activity.seq.desc()).limit(limit)
                rows = list((await session.execute(query)).all())
                rows.reverse()
            else:
                query = query.where(Activity.seq > after_seq).order_by(Activity.seq).limit(limit)
                rows = list((await session.execute(query)).all())
        records = [
            ActivityRecord(
                r.document_id,
                r.seq,
                r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
                r.kind,
                r.user,
                r.summary,
                _author(a),
                r.from_rev,
                r.to_rev,
            )
            for r, a in rows
        ]
        return records, int(oldest or 0), int(newest or 0)


def _author(row: Author | None) -> AuthorRecord | None:
    return AuthorRecord(row.id, row.name, row.color) if row is not None else None
