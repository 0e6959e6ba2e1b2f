"""Fixtures for the domain's tests: a real, migrated SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swell.migrate import upgrade_database
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqlDocumentCatalog, SqlDocumentStore]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'room.db'}"
    await asyncio.to_thread(upgrade_database, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    yield SqlDocumentCatalog(sessions), SqlDocumentStore(sessions)
    await engine.dispose()
