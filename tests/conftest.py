"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured) and real
``swell serve`` processes on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from swell.migrate import upgrade_database
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from tests.server import ServerProcess

POSTGRES_ENV = "SWELL_TEST_POSTGRES_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@contextlib.contextmanager
def fresh_postgres_database(base: str, prefix: str = "swell_test") -> Iterator[str]:
    """A new, migrated database beside ``base``'s, dropped at the end. The async steps run on a
    thread of their own: under Playwright's sync API an event loop runs on the main thread,
    and ``asyncio.run`` (asyncpg's, Alembic's) refuses to start there."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    fresh = url.set(database=name).render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create() -> None:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        upgrade_database(fresh)

    def drop() -> None:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    with ThreadPoolExecutor(1) as pool:
        pool.submit(create).result()
        try:
            yield fresh
        finally:
            pool.submit(drop).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    with fresh_postgres_database(base) as url:
        yield url


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database: a new SQLite file, or this session's PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'swell.db'}"
    upgrade_database(url)
    return url


@pytest.fixture
def server(
    database_url: str, tmp_path: Path, server_settings: dict[str, str]
) -> Iterator[ServerProcess]:
    """A real ``swell serve`` of this test's own, for tests that stop, kill or restart it."""
    process = ServerProcess(database_url, tmp_path / "server.log", server_settings)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module", params=_backends())
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real server per test module and backend; tests make their own documents."""
    tmp = tmp_path_factory.mktemp("server")
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'swell.db'}"
    process = ServerProcess(url, tmp / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def server_settings() -> dict[str, str]:
    """Extra SWELL_* variables for the ``server`` fixture; tests override this."""
    return {}


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqlDocumentCatalog, SqlDocumentStore]]:
    """A migrated SQLite file for the domain's tests (rooms, feeds)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'room.db'}"
    await asyncio.to_thread(upgrade_database, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    store = SqlDocumentStore(sessions)
    yield SqlDocumentCatalog(sessions), store
    await store.close()
    await engine.dispose()
