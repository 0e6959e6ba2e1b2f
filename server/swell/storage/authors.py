"""Author rows (fits ``collab.ports.AuthorDirectory``): found by their secret's hash."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from swell.records import AuthorRecord
from swell.storage.engine import runs_to_the_end
from swell.storage.models import Author


class SqlAuthorDirectory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @runs_to_the_end
    async def create_author(
        self, author_id: str, name: str, color: str, secret_hash: bytes
    ) -> AuthorRecord:
        now = datetime.now(UTC)
        row = Author(
            id=author_id,
            name=name,
            color=color,
            secret_hash=secret_hash,
            created_at=now,
            updated_at=now,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return _record(row)

    async def find_author(self, secret_hash: bytes) -> AuthorRecord | None:
        async with self._sessions() as session:
            row = (
                await session.execute(select(Author).where(Author.secret_hash == secret_hash))
            ).scalar_one_or_none()
        # The index found it; compare the whole hash once more, in constant time, so that no
        # collation or driver quirk can ever let a near miss through.
        if row is None or not hmac.compare_digest(bytes(row.secret_hash), secret_hash):
            return None
        return _record(row)

    @runs_to_the_end
    async def update_author(
        self, author_id: str, *, name: str | None = None, color: str | None = None
    ) -> AuthorRecord | None:
        values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
        if name is not None:
            values["name"] = name
        if color is not None:
            values["color"] = color
        async with self._sessions() as session, session.begin():
            await session.execute(update(Author).where(Author.id == author_id).values(**values))
            row = await session.get(Author, author_id, populate_existing=True)
        return _record(row) if row is not None else None

    async def get_authors(self, author_ids: Iterable[str]) -> dict[str, AuthorRecord]:
        """Current names and colours of the given authors (unknown ids are left out)."""
        wanted = sorted(set(author_ids))
        found: dict[str, AuthorRecord] = {}
        async with self._sessions() as session:
            for start in range(0, len(wanted), 500):  # bound the IN list
                rows = await session.scalars(
                    select(Author).where(Author.id.in_(wanted[start : start + 500]))
                )
                found.update((row.id, _record(row)) for row in rows)
        return found


def _record(row: Author) -> AuthorRecord:
    return AuthorRecord(id=row.id, name=row.name, color=row.color)
