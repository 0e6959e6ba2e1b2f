"""The update journal and its snapshots (fits ``collab.ports.DocumentStore``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from swell.records import PendingUpdate, StoredState
from swell.storage.models import Document, DocumentSnapshot, DocumentUpdate

TOUCHED_KEPT = 1024
TOUCH_SECONDS = 5.0
_UPDATES = DocumentUpdate.__table__
_INSERT_UPDATES = insert(DocumentUpdate).returning(_UPDATES.c.id, sort_by_parameter_order=True)


class SqlDocumentStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        bind = sessions.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        self._engine = bind
        self._touched: dict[str, float] = {}

    async def load_state(self, doc_id: str) -> StoredState:
        return await self._load(doc_id, upto_update_id=None)

    async def load_log(self, doc_id: str, upto_update_id: int) -> StoredState:
        return await self._load(doc_id, upto_update_id=upto_update_id)

    async def _load(self, doc_id: str, upto_update_id: int | None) -> StoredState:
        async with self._sessions() as session:
            snap = (
                await session.execute(
                    select(DocumentSnapshot.state, DocumentSnapshot.upto_update_id)
                    .where(DocumentSnapshot.document_id == doc_id)
                    .order_by(DocumentSnapshot.upto_update_id.desc())
                    .limit(1)
                )
            ).first()
            after = snap.upto_update_id if snap is not None else 0
            query = (
                select(DocumentUpdate.id, DocumentUpdate.data)
                .where(DocumentUpdate.document_id == doc_id, DocumentUpdate.id > after)
                .order_by(DocumentUpdate.id)
            )
            if upto_update_id is not None:
                query = query.where(DocumentUpdate.id <= upto_update_id)
            rows = (await session.execute(query)).all()
        return StoredState(
            snapshot=snap.state if snap is not None else None,
            updates=[row.data for row in rows],
            last_update_id=rows[-1].id if rows else after,
            updates_since_snapshot=len(rows),
        )

    async def append_updates(self, doc_id: str, updates: Sequence[PendingUpdate]) -> int:
        """The hot path: SQLAlchemy Core on one connection, one multi-row INSERT … RETURNING,
        no ORM unit of work (which cost more CPU per commit than everything else together)."""
        now = datetime.now(UTC)
        rows = [
            {"document_id": doc_id, "data": u.data, "author": u.author, "created_at": now}
            for u in updates
        ]
        async with self._engine.begin() as connection:
            result = await connection.execute(_INSERT_UPDATES, rows)
            last = int(max(result.scalars().all()))
            # The document's updated_at moves at most every few seconds, not with every commit.
            mono = time.monotonic()
            if mono - self._touched.get(doc_id, -TOUCH_SECONDS) >= TOUCH_SECONDS:
                if len(self._touched) >= TOUCHED_KEPT:  # entries past TOUCH_SECONDS mean nothing
                    self._touched = {
                        k: t for k, t in self._touched.items() if mono - t < TOUCH_SECONDS
                    }
                self._touched[doc_id] = mono
                await connection.execute(
                    update(Document).where(Document.id == doc_id).values(updated_at=now)
                )
        return last

    async def compact(self, doc_id: str, state: bytes, upto_update_id: int) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            new_id = await session.scalar(
                insert(DocumentSnapshot)
                .values(
                    document_id=doc_id, upto_update_id=upto_update_id, state=state, created_at=now
                )
                .returning(DocumentSnapshot.id)
            )
            await session.execute(
                delete(DocumentUpdate).where(
                    DocumentUpdate.document_id == doc_id, DocumentUpdate.id <= upto_update_id
                )
            )
            # Only snapshots that cover less: a concurrent compaction that went further wins.
            await session.execute(
                delete(DocumentSnapshot).where(
                    DocumentSnapshot.document_id == doc_id,
                    DocumentSnapshot.id != new_id,
                    DocumentSnapshot.upto_update_id <= upto_update_id,
                )
            )

    async def count_updates(self, doc_id: str) -> int:
        """For tests and benchmarks: rows in the journal."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).where(DocumentUpdate.document_id == doc_id)
            )
        return int(count or 0)
