"""The journal's hot path on SQLite: one commit, one trip to one thread.

Through SQLAlchemy and aiosqlite a commit of one revision was five trips to aiosqlite's
thread (cursor, statements, commit), each ending in a wake-up of the event loop, plus
SQLAlchemy's statement machinery on the loop: about 1.5 ms of CPU per commit, a quarter of the
server's CPU with 50 people typing (issue 13's profile). Here the whole transaction runs as one
function on a thread of its own, on a connection of its own, with statements compiled once
from the models: the loop pays one hand-off and one wake-up per commit. The transaction and its
durability are SQLite's as before (WAL, synchronous=FULL, the same busy timeout); the rows are
exactly what SQLAlchemy would write (its own bind processors convert the values).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from swell.records import Change
from swell.storage.engine import sqlite_pragmas
from swell.storage.models import Document, DocumentClient, DocumentUpdate

_DIALECT = sqlite.dialect(paramstyle="qmark")
_ROW_KEYS = (
    "document_id",
    "rev",
    "kind",
    "author_id",
    "added",
    "removed",
    "ids",
    "data",
    "created_at",
)


def _sql(statement: Any, keys: Sequence[str]) -> tuple[str, list[str]]:
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(keys))
    return str(compiled), list(compiled.positiontup or ())


def _ordered(statement: tuple[str, list[str]], **values: Any) -> tuple[Any, ...]:
    """The values in the order of the compiled statement's placeholders."""
    return tuple(values[key] for key in statement[1])


def _converter(column: Any) -> Callable[[Any], Any] | None:
    converter: Callable[[Any], Any] | None = column.type.dialect_impl(_DIALECT).bind_processor(
        _DIALECT
    )
    return converter


_INSERT_ROWS = _sql(insert(DocumentUpdate), _ROW_KEYS)
_INSERT_CLIENTS = _sql(
    sqlite.insert(DocumentClient).on_conflict_do_nothing(),
    ("document_id", "client_id", "author_id"),
)
_TOUCH = _sql(
    update(Document)
    .where(Document.id == bindparam("doc_id"))
    .values(rev=bindparam("new_rev"), updated_at=bindparam("at")),
    (),
)
_TIME = _converter(DocumentUpdate.__table__.c.created_at)


class SqliteJournal:
    """Appends revisions to one SQLite database from a thread of its own."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._path = url.database or ":memory:"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="swell-journal")
        self._connection: sqlite3.Connection | None = None

    async def append(
        self,
        doc_id: str,
        first_rev: int,
        changes: Sequence[Change],
        bindings: dict[int, str],
        now: datetime,
        touch: bool,
    ) -> None:
        """The revisions ``first_rev``… of ``changes`` and the new client-id bindings, in one
        transaction; with ``touch`` the document row's ``rev`` and ``updated_at`` too. Raises
        what SQLite raises (a clash with another revision of that number, a deleted
        document), and nothing is written then."""
        at = _TIME(now) if _TIME is not None else now
        last = first_rev + len(changes) - 1
        # The statements' parameters are made here, so the thread runs SQLite and little else
        # (it needs the GIL for every line of Python, and the loop wants it back).
        rows = [
            _ordered(
                _INSERT_ROWS,
                document_id=doc_id,
                rev=first_rev + i,
                kind=c.kind,
                author_id=c.author_id,
                added=c.added,
                removed=c.removed,
                ids=c.ids,
                data=c.data,
                created_at=at,
            )
            for i, c in enumerate(changes)
        ]
        touched = _ordered(_TOUCH, doc_id=doc_id, new_rev=last, at=at) if touch else None
        clients = [
            _ordered(
                _INSERT_CLIENTS, document_id=doc_id, client_id=client, author_id=author or None
            )
            for client, author in bindings.items()
        ]
        loop = asyncio.get_running_loop()
        write = functools.partial(self._write, rows, touched, clients)
        try:
            await loop.run_in_executor(self._executor, write)
        except sqlite3.DatabaseError as e:  # as the engine would say it
            error = IntegrityError if isinstance(e, sqlite3.IntegrityError) else DBAPIError
            raise error(_INSERT_ROWS[0], None, e) from e

    def _write(
        self,
        rows: list[tuple[Any, ...]],
        touched: tuple[Any, ...] | None,
        clients: list[tuple[Any, ...]],
    ) -> None:
        connection = self._connect()
        with connection:  # BEGIN … COMMIT, or ROLLBACK on any error
            connection.executemany(_INSERT_ROWS[0], rows)
            if touched is not None:
                connection.execute(_TOUCH[0], touched)
            if clients:
                connection.executemany(_INSERT_CLIENTS[0], clients)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level="DEFERRED")
            sqlite_pragmas(connection, None)
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
