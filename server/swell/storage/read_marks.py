"""Read marks (fits ``collab.ports.ReadMarkStore``): per author and document, the newest
revision seen. One upsert that never moves a mark back, so two tabs reporting out of order
cannot un-read anything."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from swell.records import ReadMarkRecord
from swell.storage.engine import runs_to_the_end
from swell.storage.models import ReadMark


class SqlReadMarks:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert: Any = sqlite.insert
        if engine.dialect.name == "postgresql":
            # Imported here: the dialect's module costs a SQLite server 35 ms of every start.
            from sqlalchemy.dialects import postgresql

            self._insert = postgresql.insert

    @runs_to_the_end
    async def mark_read(self, author_id: str, doc_id: str, rev: int) -> ReadMarkRecord | None:
        """None when the document (or author) is gone: deleted since the caller checked."""
        now = datetime.now(UTC)
        table = ReadMark.__table__
        statement = self._insert(table).values(
            author_id=author_id, document_id=doc_id, rev=rev, read_at=now
        )
        newer = statement.excluded.rev > table.c.rev
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.author_id, table.c.document_id],
            set_={
                "rev": case((newer, statement.excluded.rev), else_=table.c.rev),
                "read_at": statement.excluded.read_at,
            },
        ).returning(table.c.rev, table.c.read_at)
        try:
            async with self._engine.begin() as connection:
                row = (await connection.execute(statement)).one()
        except IntegrityError:  # the foreign key: deleted meanwhile
            return None
        return ReadMarkRecord(doc_id, int(row.rev), _aware(row.read_at))

    async def read_marks(self, author_id: str, doc_ids: Iterable[str]) -> dict[str, ReadMarkRecord]:
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return {}
        table = ReadMark.__table__
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(table.c.document_id, table.c.rev, table.c.read_at).where(
                        table.c.author_id == author_id, table.c.document_id.in_(wanted)
                    )
                )
            ).all()
        return {
            row.document_id: ReadMarkRecord(row.document_id, int(row.rev), _aware(row.read_at))
            for row in rows
        }


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
