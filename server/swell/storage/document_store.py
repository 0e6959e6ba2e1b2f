"""The revision journal, its snapshots and history chunks (fits ``collab.ports.DocumentStore``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from swell.records import (
    ANONYMOUS,
    Change,
    Chunk,
    JournalRow,
    JournalSlice,
    MaintenanceRaced,
    NewestRevision,
    Revision,
    StoredHistory,
    StoredState,
)
from swell.storage.engine import runs_to_the_end
from swell.storage.models import (
    Document,
    DocumentClient,
    DocumentSnapshot,
    DocumentUpdate,
    HistoryChunk,
)
from swell.storage.sqlite_journal import SqliteJournal

_CHUNKS = HistoryChunk.__table__
TOUCHED_KEPT = 1024
TOUCH_SECONDS = 5.0
_JOURNAL_COLUMNS = (
    DocumentUpdate.rev,
    DocumentUpdate.created_at,
    DocumentUpdate.author_id,
    DocumentUpdate.kind,
    DocumentUpdate.added,
    DocumentUpdate.removed,
    DocumentUpdate.data,
    DocumentUpdate.ids,
)


class DocumentGone(LookupError):
    """Revisions for a document that no longer exists (deleted while a room held it)."""


class SqlDocumentStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        bind = sessions.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        self._engine = bind
        self._dialect = bind.dialect.name
        self._lock_revisions = self._dialect != "sqlite"
        self._touched: dict[str, float] = {}
        database = bind.url.database
        # SQLite's hot path bypasses SQLAlchemy (one trip to one thread per commit); an
        # in-memory database is one per connection, so it keeps the engine's.
        self._journal = (
            SqliteJournal(bind.url.render_as_string(hide_password=False))
            if self._dialect == "sqlite" and database not in (None, "", ":memory:")
            else None
        )

    async def close(self) -> None:
        """Release the journal's own connection (the engine's pool is the engine's)."""
        if self._journal is not None:
            await self._journal.close()

    async def load_state(self, doc_id: str) -> StoredState:
        async with self._consistent() as connection:
            snap = await _newest_snapshot(connection, doc_id)
            after = snap.upto_rev if snap is not None else 0
            rows = (
                await connection.execute(
                    select(DocumentUpdate.rev, DocumentUpdate.data)
                    .where(DocumentUpdate.document_id == doc_id, DocumentUpdate.rev > after)
                    .order_by(DocumentUpdate.rev)
                )
            ).all()
        rev = rows[-1].rev if rows else after
        if rev and not self._lock_revisions:
            # The row's rev may lag (it moves every few seconds, and a kill -9 stops that).
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(Document)
                    .where(Document.id == doc_id, Document.rev < rev)
                    .values(rev=rev)
                )
        return StoredState(
            snapshot=snap.state if snap is not None else None,
            updates=[row.data for row in rows],
            rev=rev,
            updates_since_snapshot=len(rows),
        )

    async def append_changes(
        self,
        doc_id: str,
        changes: Sequence[Change],
        bindings: dict[int, str],
        first_rev: int | None = None,
    ) -> int:
        """The hot path, on one connection. On PostgreSQL (or without ``first_rev``) one
        UPDATE of the document row takes the next revision numbers and holds the row's lock
        until commit, so another process's commit waits and numbers after this one. On SQLite
        (one process: SQLite serialises writers anyway) the room numbers its own revisions
        from ``first_rev`` and the unique (document, rev) constraint refuses any clash; the
        row's ``rev`` and ``updated_at`` move at most every few seconds (a statement less per
        commit: it cost as much as the INSERT, measured) and whenever a room loads or compacts.
        One multi-row INSERT writes the journal."""
        now = datetime.now(UTC)
        if self._journal is not None and first_rev is not None:
            try:
                await self._journal.append(
                    doc_id, first_rev, changes, bindings, now, self._touch_due(doc_id)
                )
            except IntegrityError as e:
                if "FOREIGN KEY" in str(e.orig):
                    raise DocumentGone(doc_id) from e
                raise
            return first_rev + len(changes) - 1
        async with self._engine.begin() as connection:
            if self._lock_revisions or first_rev is None:
                last = (
                    await connection.execute(
                        update(Document)
                        .where(Document.id == doc_id)
                        .values(rev=Document.rev + len(changes), updated_at=now)
                        .returning(Document.rev)
                    )
                ).scalar_one_or_none()
                if last is None:
                    raise DocumentGone(doc_id)
            else:
                last = first_rev + len(changes) - 1
                if self._touch_due(doc_id):
                    await connection.execute(
                        update(Document)
                        .where(Document.id == doc_id)
                        .values(rev=last, updated_at=now)
                    )
            first = last - len(changes) + 1
            await connection.execute(
                insert(DocumentUpdate),
                [
                    {
                        "document_id": doc_id,
                        "rev": first + i,
                        "kind": c.kind,
                        "author_id": c.author_id,
                        "added": c.added,
                        "removed": c.removed,
                        "ids": c.ids,
                        "data": c.data,
                        "created_at": now,
                    }
                    for i, c in enumerate(changes)
                ],
            )
            if bindings:
                await connection.execute(
                    self._insert_ignoring_conflicts(DocumentClient),
                    [
                        {"document_id": doc_id, "client_id": client, "author_id": author or None}
                        for client, author in bindings.items()
                    ],
                )
        return int(last)

    def _touch_due(self, doc_id: str) -> bool:
        mono = time.monotonic()
        if mono - self._touched.get(doc_id, -TOUCH_SECONDS) < TOUCH_SECONDS:
            return False
        if len(self._touched) >= TOUCHED_KEPT:  # entries past TOUCH_SECONDS mean nothing
            self._touched = {k: t for k, t in self._touched.items() if mono - t < TOUCH_SECONDS}
        self._touched[doc_id] = mono
        return True

    def _insert_ignoring_conflicts(self, table: Any) -> Any:
        """Two processes may bind one client id at once: the first binding stands."""
        if self._dialect == "postgresql":
            # Imported here: the dialect's module costs a SQLite server 35 ms of every start.
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table).on_conflict_do_nothing()
        if self._dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        return insert(table)

    async def client_authors(self, doc_id: str, clients: Sequence[int]) -> dict[int, str]:
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(DocumentClient.client_id, DocumentClient.author_id).where(
                        DocumentClient.document_id == doc_id,
                        DocumentClient.client_id.in_(list(clients)),
                    )
                )
            ).all()
        return {int(row.client_id): row.author_id or ANONYMOUS for row in rows}

    @contextlib.asynccontextmanager
    async def _consistent(self) -> AsyncIterator[AsyncConnection]:
        """Reads that see one moment: on PostgreSQL a REPEATABLE READ transaction, so a
        compaction another process commits between reading the snapshot and reading the rows
        after it cannot make revisions vanish in between (the snapshot read old, the rows it
        folded already deleted). SQLite has one writing process, whose rooms never load while
        they compact."""
        async with self._engine.connect() as connection:
            if self._dialect == "postgresql":
                connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                yield connection

    async def _fence(self, connection: AsyncConnection, doc_id: str) -> None:
        """One compaction or fold of a document at a time across processes (PostgreSQL: a
        transaction-scoped advisory lock, gone with the transaction or the connection)."""
        if self._dialect == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"swell:maintenance:{doc_id}"},
            )

    async def load_log(self, doc_id: str, upto_rev: int) -> JournalSlice:
        async with self._consistent() as connection:
            snap = await _newest_snapshot(connection, doc_id)
            after = snap.upto_rev if snap is not None else 0
            rows = (
                await connection.execute(
                    select(*_JOURNAL_COLUMNS)
                    .where(
                        DocumentUpdate.document_id == doc_id,
                        DocumentUpdate.rev > after,
                        DocumentUpdate.rev <= upto_rev,
                    )
                    .order_by(DocumentUpdate.rev)
                )
            ).all()
            stored = (
                await connection.execute(
                    select(HistoryChunk.checkpoint, HistoryChunk.to_rev)
                    .where(HistoryChunk.document_id == doc_id, HistoryChunk.checkpoint != b"")
                    .order_by(HistoryChunk.to_rev.desc())
                    .limit(1)
                )
            ).first()
            checkpoint_rev = stored.to_rev if stored is not None else 0
            between = (
                await connection.scalars(
                    select(HistoryChunk.revisions)
                    .where(
                        HistoryChunk.document_id == doc_id,
                        HistoryChunk.from_rev > checkpoint_rev,
                    )
                    .order_by(HistoryChunk.from_rev)
                )
            ).all()
        return JournalSlice(
            snapshot=snap.state if snap is not None else None,
            rows=[_journal_row(row) for row in rows],
            checkpoint=stored.checkpoint if stored is not None else None,
            checkpoint_rev=checkpoint_rev,
            between=list(between),
            snapshot_rev=snap.upto_rev if snap is not None else 0,
        )

    async def compact(
        self,
        doc_id: str,
        state: bytes,
        upto_rev: int,
        chunk: Chunk | None,
        *,
        base_rev: int | None = None,
    ) -> None:
        """``base_rev``: what the newest snapshot covered when the log was read (the fencing
        token). If another compaction moved it since, this one raises MaintenanceRaced having
        written and deleted nothing: it read rows that may be gone."""
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            await self._fence(connection, doc_id)
            if base_rev is not None:
                newest = await _newest_snapshot(connection, doc_id)
                if (newest.upto_rev if newest is not None else 0) != base_rev:
                    raise MaintenanceRaced(f"{doc_id}: compacted meanwhile")
            new_id = await connection.scalar(
                insert(DocumentSnapshot)
                .values(document_id=doc_id, upto_rev=upto_rev, state=state, created_at=now)
                .returning(DocumentSnapshot.id)
            )
            if chunk is not None:
                # Unique per (document, from_rev): a concurrent compaction of the same
                # revisions fails here, and this transaction deletes nothing.
                await connection.execute(
                    insert(HistoryChunk).values(_chunk_row(doc_id, chunk, now))
                )
                await connection.execute(
                    delete(DocumentUpdate).where(
                        DocumentUpdate.document_id == doc_id, DocumentUpdate.rev <= chunk.to_rev
                    )
                )
            await connection.execute(
                update(Document)
                .where(Document.id == doc_id, Document.rev < upto_rev)
                .values(rev=upto_rev)
            )
            # Only snapshots that cover less: a concurrent compaction that went further wins.
            await connection.execute(
                delete(DocumentSnapshot).where(
                    DocumentSnapshot.document_id == doc_id,
                    DocumentSnapshot.id != new_id,
                    DocumentSnapshot.upto_rev <= upto_rev,
                )
            )

    @runs_to_the_end  # a request's: an import cancelled mid-way must not keep SQLite's lock
    async def import_history(
        self, doc_id: str, snapshot: bytes, chunks: Sequence[Chunk], rev: int
    ) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            moved = await connection.execute(
                update(Document).where(Document.id == doc_id, Document.rev == 0).values(rev=rev)
            )
            if moved.rowcount != 1:
                raise DocumentGone(doc_id)
            await connection.execute(
                insert(HistoryChunk), [_chunk_row(doc_id, c, now) for c in chunks]
            )
            await connection.execute(
                insert(DocumentSnapshot).values(
                    document_id=doc_id, upto_rev=rev, state=snapshot, created_at=now
                )
            )

    async def replace_history(
        self, doc_id: str, upto_rev: int, chunk: Chunk, *, expected_chunks: int | None = None
    ) -> None:
        """``expected_chunks``: how many chunks ended at or before ``upto_rev`` when they were
        read (the fencing token of a fold): a different count raises MaintenanceRaced."""
        async with self._engine.begin() as connection:
            await self._fence(connection, doc_id)
            if expected_chunks is not None:
                count = await connection.scalar(
                    select(func.count()).where(
                        HistoryChunk.document_id == doc_id, HistoryChunk.to_rev <= upto_rev
                    )
                )
                if count != expected_chunks:
                    raise MaintenanceRaced(f"{doc_id}: history folded meanwhile")
            await connection.execute(
                delete(HistoryChunk).where(
                    HistoryChunk.document_id == doc_id, HistoryChunk.to_rev <= upto_rev
                )
            )
            await connection.execute(
                insert(HistoryChunk).values(_chunk_row(doc_id, chunk, datetime.now(UTC)))
            )

    async def load_history(
        self, doc_id: str, after_rev: int = 0, upto_rev: int | None = None, *, data: bool = True
    ) -> StoredHistory:
        """Journal rows are read before chunks: a compaction in between then shows up as
        overlap (dropped here), never as a gap. Without ``data``, only the index: chunks and
        rows come with empty ``data``."""
        upto = upto_rev if upto_rev is not None else 2**62
        columns = _JOURNAL_COLUMNS if data else _JOURNAL_COLUMNS[:-2] + (DocumentUpdate.ids,)
        chunk_columns = [_CHUNKS.c.from_rev, _CHUNKS.c.to_rev, _CHUNKS.c.revisions]
        chunk_columns += [_CHUNKS.c.checkpoint] + ([_CHUNKS.c.data] if data else [])
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(*columns)
                    .where(
                        DocumentUpdate.document_id == doc_id,
                        DocumentUpdate.rev > after_rev,
                        DocumentUpdate.rev <= upto,
                    )
                    .order_by(DocumentUpdate.rev)
                )
            ).all()
            await connection.commit()  # PostgreSQL: the next statement sees later commits
            chunks = (
                (
                    await connection.execute(
                        select(*chunk_columns)
                        .where(
                            _CHUNKS.c.document_id == doc_id,
                            _CHUNKS.c.to_rev > after_rev,
                            _CHUNKS.c.from_rev <= upto,
                        )
                        .order_by(_CHUNKS.c.from_rev)
                    )
                )
                .mappings()
                .all()
            )
        folded = chunks[-1]["to_rev"] if chunks else 0
        return StoredHistory(
            chunks=[
                Chunk(
                    c["from_rev"],
                    c["to_rev"],
                    c["data"] if data else b"",
                    c["revisions"],
                    c["checkpoint"],
                )
                for c in chunks
            ],
            rows=[_journal_row(row) for row in rows if row.rev > folded],
        )

    async def load_newest(self, doc_id: str) -> NewestRevision:
        """Two index seeks at most: the journal's newest row (its metadata only), else the end
        of the newest history chunk."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(*_JOURNAL_COLUMNS[:-2])
                    .where(DocumentUpdate.document_id == doc_id)
                    .order_by(DocumentUpdate.rev.desc())
                    .limit(1)
                )
            ).first()
            if row is not None:
                return NewestRevision(_revision(row))
            folded = await connection.scalar(
                select(func.max(_CHUNKS.c.to_rev)).where(_CHUNKS.c.document_id == doc_id)
            )
        return NewestRevision(None, int(folded or 0))

    async def load_chunk_index(self, doc_id: str, to_rev: int) -> bytes:
        async with self._engine.connect() as connection:
            packed = await connection.scalar(
                select(_CHUNKS.c.revisions).where(
                    _CHUNKS.c.document_id == doc_id, _CHUNKS.c.to_rev == to_rev
                )
            )
        return bytes(packed) if packed is not None else b""

    async def count_updates(self, doc_id: str) -> int:
        """For tests and benchmarks: rows in the journal."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).where(DocumentUpdate.document_id == doc_id)
            )
        return int(count or 0)


def _chunk_row(doc_id: str, chunk: Chunk, now: datetime) -> dict[str, Any]:
    return {
        "document_id": doc_id,
        "from_rev": chunk.from_rev,
        "to_rev": chunk.to_rev,
        "data": chunk.data,
        "revisions": chunk.revisions,
        "checkpoint": chunk.checkpoint,
        "created_at": now,
    }


async def _newest_snapshot(connection: AsyncConnection, doc_id: str) -> Any:
    return (
        await connection.execute(
            select(DocumentSnapshot.state, DocumentSnapshot.upto_rev)
            .where(DocumentSnapshot.document_id == doc_id)
            .order_by(DocumentSnapshot.upto_rev.desc())
            .limit(1)
        )
    ).first()


def _journal_row(row: Any) -> JournalRow:
    return JournalRow(_revision(row), getattr(row, "data", b""), row.ids)


def _revision(row: Any) -> Revision:
    at = row.created_at if row.created_at.tzinfo is not None else row.created_at.replace(tzinfo=UTC)
    return Revision(row.rev, at, row.author_id, row.kind, row.added, row.removed)
