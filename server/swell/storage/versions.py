"""Named versions of documents (fits ``collab.ports.VersionStore``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from swell.records import VersionRecord
from swell.storage.engine import runs_to_the_end
from swell.storage.models import DocumentVersion

MAX_VERSIONS = 1000


class SqlVersionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @runs_to_the_end
    async def create_version(
        self, doc_id: str, name: str, rev: int, author_id: str | None
    ) -> VersionRecord:
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            new_id = await connection.scalar(
                insert(DocumentVersion)
                .values(document_id=doc_id, name=name, rev=rev, author_id=author_id, created_at=now)
                .returning(DocumentVersion.id)
            )
        assert new_id is not None
        return VersionRecord(int(new_id), doc_id, name, rev, author_id, now)

    async def list_versions(self, doc_id: str) -> list[VersionRecord]:
        """Newest first, at most ``MAX_VERSIONS``."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(DocumentVersion.__table__)
                    .where(DocumentVersion.document_id == doc_id)
                    .order_by(DocumentVersion.rev.desc(), DocumentVersion.id.desc())
                    .limit(MAX_VERSIONS)
                )
            ).all()
        return [_record(row) for row in rows]


def _record(row: Any) -> VersionRecord:
    at = row.created_at if row.created_at.tzinfo is not None else row.created_at.replace(tzinfo=UTC)
    return VersionRecord(row.id, row.document_id, row.name, row.rev, row.author_id, at)
