"""The ``swell`` command: ``swell serve``, ``swell db upgrade`` and ``swell db create``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields

from swell.settings import Settings, env_name, parse_value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swell", description="Swell collaboration server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations, then serve HTTP and WebSockets")
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        serve.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=f.type.upper()
            if isinstance(f.type, str) and f.type in ("int", "float", "str")
            else "VALUE",
            help=f"{f.metadata.get('help', '')} [{env_name(f.name)}; default: {_show(f.default)}]",
        )
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply migrations up to the newest")
    upgrade.add_argument("--database-url", dest="database_url", default=None)
    create = db_commands.add_parser(
        "create",
        help="create the PostgreSQL database named in the URL when it is missing, then upgrade it",
    )
    create.add_argument("--database-url", dest="database_url", default=None)
    return parser


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "(none)"
    return str(value)


def load_settings(args: argparse.Namespace) -> Settings:
    """Environment first, then flags on top; both parsed the same way."""
    settings = Settings.from_env(os.environ)
    changes = {}
    for f in fields(Settings):
        raw = getattr(args, f.name, None)
        if raw is not None:
            changes[f.name] = parse_value(f, raw)
    return settings.replace(**changes)


REDIS_SCHEMES = ("redis", "rediss", "unix")


def _backend(database_url: str) -> str:
    """``postgresql`` for ``postgresql+asyncpg://…``, ``sqlite`` for ``sqlite+aiosqlite:…``."""
    return database_url.split(":", 1)[0].split("+", 1)[0].lower()


def check_serving(settings: Settings) -> None:
    """Refuse, before anything starts, what cannot act as one server (ValueError: exit 2).

    Several processes share their documents through one PostgreSQL database (the truth) and
    one Redis (which tells each what the others committed); SQLite is one file one process
    writes, and processes without a shared Redis would each serve their own stale copy."""
    workers = settings.workers
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    redis_url = settings.redis_url
    if redis_url:
        scheme = redis_url.split("://", 1)[0].lower() if "://" in redis_url else ""
        if scheme not in REDIS_SCHEMES:
            raise ValueError(
                "--redis-url must start with redis://, rediss:// or unix:// "
                f"(got {scheme + '://' if scheme else 'no scheme'})"
            )
    sqlite = _backend(settings.database_url) == "sqlite"
    if workers > 1 and sqlite:
        raise ValueError(
            f"--workers {workers} needs PostgreSQL (--database-url postgresql+asyncpg://…): "
            "SQLite is one file that one process writes"
        )
    if redis_url and sqlite:
        raise ValueError(
            "--redis-url needs PostgreSQL (--database-url postgresql+asyncpg://…): processes "
            "that share Redis share one database, and SQLite is one file that one process writes"
        )
    if workers > 1 and not redis_url:
        raise ValueError(
            f"--workers {workers} needs --redis-url: the processes tell each other what they "
            "commit through Redis to act as one server"
        )


def create_database(database_url: str) -> bool:
    """Create the PostgreSQL database the URL names, when missing; True when it was created.
    (A SQLite file is created by its first use.)"""
    if _backend(database_url) != "postgresql":
        return False
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError(f"no database name in {url.render_as_string(hide_password=True)}")

    async def create() -> bool:
        # Through the maintenance database (the one named may not exist yet), outside a
        # transaction (CREATE DATABASE cannot run in one).
        engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                if exists:
                    return False
                quoted = name.replace('"', '""')
                await conn.execute(text(f'CREATE DATABASE "{quoted}"'))
                return True
        finally:
            await engine.dispose()

    return asyncio.run(create())


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


STARTUP_GC_THRESHOLDS = (20_000, 50, 50)
"""The collector's thresholds from the first import on: the ones ``swell serve`` runs with
(server.GC_THRESHOLDS), set earlier. Starting allocates hundreds of thousands of objects that
live as long as the process (modules, classes, functions); with Python's defaults the collector
walks them over and over while importing (about 250 collections, 2 of them full: ~100 ms of the
imports). The server freezes what starting allocated once it listens."""


def main(argv: Sequence[str] | None = None) -> int:
    gc.set_threshold(*STARTUP_GC_THRESHOLDS)
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args)
        if args.command == "serve":
            check_serving(settings)
    except ValueError as e:
        print(f"swell: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    log = logging.getLogger("swell")
    if args.command == "db" and args.db_command == "create":
        try:
            created = create_database(settings.database_url)
        except (OSError, ValueError) as e:
            print(f"swell: cannot create the database: {e}", file=sys.stderr)
            return 1
        if created:
            log.info("database created")
    worker = args.command == "serve" and settings.listen_fd >= 0
    if worker:
        # One of --workers: its supervisor migrated the database before starting any worker.
        from swell.supervisor import follow_parent

        follow_parent()
    elif args.command == "serve":
        from swell.migrate import upgrade_unless_newest

        upgrade_unless_newest(settings.database_url)  # restarts skip Alembic
    else:
        from swell.migrate import upgrade_database

        upgrade_database(settings.database_url)
    if args.command == "db":
        log.info("database is at the newest revision")
        return 0
    if settings.workers > 1:
        from swell.supervisor import supervise

        return supervise(settings, os.environ)
    from swell.server import run

    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
