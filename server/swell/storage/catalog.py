"""Document metadata rows (fits ``collab.ports.DocumentCatalog``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from swell.records import DocumentRecord
from swell.storage.engine import runs_to_the_end
from swell.storage.models import Document


class SqlDocumentCatalog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @runs_to_the_end
    async def create_document(
        self,
        doc_id: str,
        title: str,
        edit_token_hash: bytes,
        view_token_hash: bytes,
        created_by: str | None = None,
    ) -> DocumentRecord:
        now = datetime.now(UTC)
        row = Document(
            id=doc_id,
            title=title,
            edit_token_hash=edit_token_hash,
            view_token_hash=view_token_hash,
            created_at=now,
            updated_at=now,
            created_by=created_by,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return _record(row)

    async def get_document(self, doc_id: str) -> DocumentRecord | None:
        async with self._sessions() as session:
            row = await session.get(Document, doc_id)
        return _record(row) if row is not None else None

    @runs_to_the_end
    async def rename_document(self, doc_id: str, title: str) -> DocumentRecord | None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Document)
                .where(Document.id == doc_id)
                .values(title=title, updated_at=datetime.now(UTC))
            )
            row = (await session.execute(select(Document).where(Document.id == doc_id))).scalar()
        return _record(row) if row is not None else None

    @runs_to_the_end
    async def rotate_token(self, doc_id: str, role: str, token_hash: bytes) -> bool:
        """One UPDATE: once it commits, every later lookup sees only the new hash."""
        if role == "edit":
            values = {"edit_token_hash": token_hash}
        elif role == "view":
            values = {"view_token_hash": token_hash}
        else:
            raise ValueError(f"unknown role: {role!r}")
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Document).where(Document.id == doc_id).values(**values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    @runs_to_the_end
    async def delete_document(self, doc_id: str) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(Document).where(Document.id == doc_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _record(row: Document) -> DocumentRecord:
    return DocumentRecord(
        id=row.id,
        title=row.title,
        edit_token_hash=row.edit_token_hash,
        view_token_hash=row.view_token_hash,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        rev=row.rev or 0,
    )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
