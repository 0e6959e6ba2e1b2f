"""The ``swell`` command: ``swell serve`` and ``swell db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
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


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args)
    except ValueError as e:
        print(f"swell: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    from swell.migrate import upgrade_database

    upgrade_database(settings.database_url)
    if args.command == "db":
        logging.getLogger("swell").info("database is at the newest revision")
        return 0
    from swell.server import run

    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
