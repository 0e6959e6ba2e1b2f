"""Migrations on databases that already hold data."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from pycrdt import Doc, Text

from swell.migrate import alembic_config, upgrade_database
from swell.records import PendingUpdate
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory

INITIAL = "30dae7d4086c"


def one_update() -> bytes:
    doc: Doc = Doc()
    doc.get("t", type=Text).insert(0, "after the upgrade")
    return doc.get_update()


def test_journal_ids_continue_past_every_snapshot_after_the_upgrade(tmp_path: Path) -> None:
    """A database from the first schema, compacted down to an empty journal: after upgrading,
    the next update must be numbered past the snapshot, or loading would skip it."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), INITIAL)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO documents VALUES ('d', 'T', ?, ?, '2026-01-01', '2026-01-01')",
            (b"e" * 32, b"v" * 32),
        )
        db.executemany(
            "INSERT INTO document_updates (document_id, data, created_at) VALUES (?, ?, ?)",
            [("d", b"\x00\x00", "2026-01-01")] * 3,
        )
        db.execute(
            "INSERT INTO document_snapshots (document_id, upto_update_id, state, created_at)"
            " VALUES ('d', 3, ?, '2026-01-01')",
            (b"\x00\x00",),
        )
        db.execute("DELETE FROM document_updates")
    upgrade_database(url)
    update = one_update()
    new_id, loaded = asyncio.run(append_and_load(url, update))
    assert new_id > 3
    assert loaded == [update]


async def append_and_load(url: str, update: bytes) -> tuple[int, list[bytes]]:
    engine = create_engine(url)
    try:
        store = SqlDocumentStore(create_session_factory(engine))
        new_id = await store.append_updates("d", [PendingUpdate(update, None)])
        return new_id, list((await store.load_state("d")).updates)
    finally:
        await engine.dispose()
