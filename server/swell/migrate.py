"""Bringing a database to the newest Alembic revision (sync: runs before the event loop).

``swell serve`` calls ``upgrade_unless_newest``: a database already at the newest revision (every
restart but the first after an upgrade) is recognised with one query through the database's own
driver, and Alembic is not even imported (it costs about 80 ms: importing it, loading every
migration script, an engine and an event loop of its own). Anything else, or anything unexpected,
goes through Alembic exactly as ``swell db upgrade`` does."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from ast import literal_eval
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "swell:migrations"
"""The migrations ship inside the package: Alembic finds ``package:resource`` locations through
importlib.resources, so an installed wheel works as well as a checkout (pyproject's
``[tool.alembic]`` names the same location for the ``alembic`` command)."""

VERSIONS = Path(__file__).parent / "migrations" / "versions"  # where SCRIPT_LOCATION points

# A migration's identity as script.py.mako writes it: ``revision: str = "…"`` and
# ``down_revision: str | None = "…"`` (or None), at the top level of the module.
_ASSIGNMENT = re.compile(
    r"^(revision|down_revision)(?:[ \t]*:[^=\n]*)?[ \t]*=[ \t]*"
    r"(\"[0-9A-Za-z_]+\"|'[0-9A-Za-z_]+'|None)[ \t]*(?:#.*)?$",
    re.MULTILINE,
)
_ANY_ASSIGNMENT = re.compile(r"^(?:revision|down_revision)\b", re.MULTILINE)
# The files Alembic reads as migrations (alembic.script.base: ``_only_source_rev_file``).
_MIGRATION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str) -> None:
    """Alembic's ``upgrade head``, whatever revision the database is at."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def upgrade_unless_newest(database_url: str) -> bool:
    """``upgrade_database``, skipped when the database is already at the newest revision;
    True when Alembic ran."""
    newest = newest_revision()
    if newest is not None:
        try:
            current = database_revisions(database_url)
        except Exception as e:  # a missing file or table, a driver's error: Alembic decides
            log.debug("reading the database's revision failed (%r): running migrations", e)
        else:
            if current == (newest,):
                log.debug("the database is at the newest revision (%s)", newest)
                return False
    upgrade_database(database_url)
    return True


def newest_revision(versions: Path = VERSIONS) -> str | None:
    """The revision Alembic calls ``head``, read from the migration scripts without importing
    them (or Alembic); None when the scripts are anything but one line of revisions, each file
    naming its revision and the one it follows the way script.py.mako writes them (a merge, a
    branch, a dependency, another way of writing it: Alembic has to tell)."""
    parents: dict[str, str | None] = {}
    try:
        paths = sorted(versions.iterdir())
    except OSError:
        return None
    for path in paths:
        if not path.is_file() or not _MIGRATION_FILE.match(path.name):
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        found: dict[str, str | None] = {}
        assignments = _ASSIGNMENT.findall(source)
        if len(_ANY_ASSIGNMENT.findall(source)) != len(assignments):
            return None  # written some other way
        for name, value in assignments:
            if name in found:
                return None
            found[name] = literal_eval(value)
        revision = found.get("revision")
        if revision is None or "down_revision" not in found or revision in parents:
            return None
        parents[revision] = found["down_revision"]
    followed = set(parents.values())
    heads = [revision for revision in parents if revision not in followed]
    if len(heads) != 1:
        return None
    line: list[str] = []  # from the head back to the first revision
    step: str | None = heads[0]
    while step is not None and step in parents and len(line) < len(parents):
        line.append(step)
        step = parents[step]
    if step is not None or len(line) != len(parents):
        return None  # a revision that follows an unknown one, a branch, a cycle
    return heads[0]


def database_revisions(database_url: str) -> tuple[str, ...]:
    """The revisions in the database's ``alembic_version`` table (raises when it cannot be
    read: no database, no table). SQLite through the standard library's driver, on the file
    the URL names (never created here); any other database through the app's own engine."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        name = url.database
        if not name or name == ":memory:" or name.startswith("file:") or url.query:
            raise ValueError("not a plain SQLite file URL")
        uri = Path(name).absolute().as_uri() + "?mode=rw"  # fails when the file is missing
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        return tuple(sorted(str(row[0]) for row in rows))
    return asyncio.run(_server_revisions(database_url))


async def _server_revisions(database_url: str) -> tuple[str, ...]:
    from sqlalchemy import text

    from swell.storage.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return tuple(sorted(str(row[0]) for row in result))
    finally:
        await engine.dispose()
