"""Stored activity, numbered per document (fits ``collab.ports.ActivityLog``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from swell.records import ActivityRecord, AuthorRecord
from swell.storage.models import Activity, Author


class SqlActivityLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], keep: int = 1000) -> None:
        self._sessions = sessions
        self._keep = keep
        self._dialect = sessions.kw["bind"].dialect.name

    async def append_activity(
        self,
        doc_id: str,
        kind: str,
        user: str,
        summary: str,
        *,
        author_id: str | None = None,
        from_rev: int | None = None,
        to_rev: int | None = None,
    ) -> ActivityRecord:
        now = datetime.now(UTC)
        author: AuthorRecord | None = None
        async with self._sessions() as session, session.begin():
            if self._dialect == "postgresql":
                # Several processes number one document's activity: one at a time (until this
                # transaction ends), or two would take the same number and one would be lost.
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"swell:activity:{doc_id}"},
                )
            last = await session.scalar(
                select(func.max(Activity.seq)).where(Activity.document_id == doc_id)
            )
            seq = (last or 0) + 1
            session.add(
                Activity(
                    document_id=doc_id,
                    seq=seq,
                    at=now,
                    kind=kind,
                    user=user,
                    summary=summary,
                    author_id=author_id,
                    from_rev=from_rev,
                    to_rev=to_rev,
                )
            )
            if author_id is not None:
                row = await session.get(Author, author_id)
                author = _author(row)
            if seq > self._keep and seq % max(1, min(100, self._keep)) == 0:
                await session.execute(
                    delete(Activity).where(
                        Activity.document_id == doc_id, Activity.seq <= seq - self._keep
                    )
                )
        return ActivityRecord(doc_id, seq, now, kind, user, summary, author, from_rev, to_rev)

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
