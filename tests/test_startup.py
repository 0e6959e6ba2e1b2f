"""What starting a process costs: what it imports, and how its garbage collector is set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swell.__main__ import STARTUP_GC_THRESHOLDS
from swell.server import GC_THRESHOLDS

pytestmark = pytest.mark.timeout(60)


def modules_after_wiring(settings: dict[str, str], tmp_path: Path) -> list[str]:
    """Build the services and the app the way ``swell serve`` does, in a new interpreter; which
    of the optional libraries it imported."""
    code = (
        "import json, sys\n"
        "from swell.app import Services, create_app\n"
        "from swell.settings import Settings\n"
        f"settings = Settings.from_env({settings!r})\n"
        "create_app(settings, services=Services(settings))\n"
        "print(json.dumps([m for m in ('redis', 'swell.broker.redis_relay', 'alembic')"
        " if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def test_a_process_without_redis_never_imports_redis(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'swell.db'}"
    assert modules_after_wiring({"SWELL_DATABASE_URL": url}, tmp_path) == []


def test_a_process_with_redis_imports_its_broker(tmp_path: Path) -> None:
    settings = {
        "SWELL_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",  # never reached
        "SWELL_REDIS_URL": "redis://127.0.0.1:1",
    }
    assert modules_after_wiring(settings, tmp_path) == ["redis", "swell.broker.redis_relay"]


def test_the_collector_runs_while_starting_as_it_runs_after() -> None:
    """Starting sets the thresholds the server runs with (before the many imports), so
    nothing about collection changes once it listens but the freeze."""
    assert STARTUP_GC_THRESHOLDS == GC_THRESHOLDS
