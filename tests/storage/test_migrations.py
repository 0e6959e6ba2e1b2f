"""Migrations on databases that already hold data."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from pycrdt import Doc, Text

from swell.collab.revisions import unpack_blob
from swell.migrate import alembic_config, upgrade_database
from swell.records import StoredHistory
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from tests.changes import as_changes

INITIAL = "30dae7d4086c"


PREVIOUS = "f4e9f4edb544"  # the schema before revisions and history


def typed(doc: Doc, text: str) -> bytes:
    before = doc.get_state()
    doc.get("t", type=Text).insert(len(doc.get("t", type=Text)), text)
    return doc.get_update(before)


def test_journal_ids_continue_past_every_snapshot_after_the_upgrade(tmp_path: Path) -> None:
    """A database from the first schema, compacted down to an empty journal, still upgrades
    (through the AUTOINCREMENT migration and the history one)."""
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
    doc: Doc = Doc()
    update = typed(doc, "after the upgrade")
    rev, loaded, _ = asyncio.run(append_and_load(url, update))
    assert rev == 2  # revision 1 is what the document held before
    assert loaded[-1] == update


def test_existing_content_becomes_revision_one_and_nothing_is_lost(tmp_path: Path) -> None:
    """A snapshot plus journal rows from before history: after the upgrade the document loads
    the same, its history starts with revision 1 holding all of it, and new edits follow."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), PREVIOUS)
    source: Doc = Doc()
    snapshot_part = typed(source, "hello ")
    rows = [typed(source, "wor"), typed(source, "ld")]
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO documents VALUES ('d', 'T', ?, ?, '2026-01-01', '2026-01-02')",
            (b"e" * 32, b"v" * 32),
        )
        db.execute(
            "INSERT INTO document_snapshots (document_id, upto_update_id, state, created_at)"
            " VALUES ('d', 0, ?, '2026-01-01')",
            (snapshot_part,),
        )
        db.executemany(
            "INSERT INTO document_updates (document_id, data, author, created_at)"
            " VALUES ('d', ?, 'Ada', '2026-01-02')",
            [(row,) for row in rows],
        )
    upgrade_database(url)
    rev, loaded, history = asyncio.run(append_and_load(url, typed(source, "!")))
    assert rev == 2
    doc: Doc = Doc()
    for part in loaded:
        doc.apply_update(part)
    assert str(doc.get("t", type=Text)) == "hello world!"
    assert [(c.from_rev, c.to_rev) for c in history.chunks] == [(1, 1)]
    assert [r.revision.rev for r in history.rows] == [2]
    rebuilt: Doc = Doc()
    rebuilt.apply_update(unpack_blob(history.chunks[0].data))
    assert str(rebuilt.get("t", type=Text)) == "hello world"


async def append_and_load(url: str, update: bytes) -> tuple[int, list[bytes], StoredHistory]:
    engine = create_engine(url)
    try:
        store = SqlDocumentStore(create_session_factory(engine))
        rev = await store.append_changes("d", as_changes([update]), {})
        state = await store.load_state("d")
        parts = ([state.snapshot] if state.snapshot else []) + list(state.updates)
        return rev, parts, await store.load_history("d")
    finally:
        await engine.dispose()
