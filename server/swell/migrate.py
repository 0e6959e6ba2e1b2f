"""Bringing a database to the newest Alembic revision (sync: runs before the event loop)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = "swell:migrations"
"""The migrations ship inside the package: Alembic finds ``package:resource`` locations through
importlib.resources, so an installed wheel works as well as a checkout (pyproject's
``[tool.alembic]`` names the same location for the ``alembic`` command)."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
