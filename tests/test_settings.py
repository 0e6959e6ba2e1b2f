"""Settings come from SWELL_* variables and flags, read once; nothing reads them elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swell.__main__ import build_parser, load_settings
from swell.settings import Settings

SERVER = Path(__file__).resolve().parents[1] / "server" / "swell"


def test_defaults_match_the_contract() -> None:
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database_url == "sqlite+aiosqlite:///./swell.db"
    assert settings.max_message_bytes == 16 * 1024 * 1024


def test_environment_is_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "SWELL_PORT": "9000",
            "SWELL_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "SWELL_WS_COMPRESSION": "true",
            "SWELL_ROOM_IDLE_SECONDS": "0.5",
            "UNRELATED": "x",
        }
    )
    assert settings.port == 9000
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.ws_compression is True
    assert settings.room_idle_seconds == 0.5


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="SWELL_PORT"):
        Settings.from_env({"SWELL_PORT": "eighty"})


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWELL_PORT", "9000")
    monkeypatch.setenv("SWELL_HOST", "0.0.0.0")
    args = build_parser().parse_args(["serve", "--port", "9100", "--database-url", "sqlite://x"])
    settings = load_settings(args)
    assert (settings.host, settings.port, settings.database_url) == ("0.0.0.0", 9100, "sqlite://x")


def test_every_setting_has_a_flag() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for name in Settings.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in help_text


def test_only_settings_reads_the_environment() -> None:
    readers = [
        path.relative_to(SERVER).as_posix()
        for path in SERVER.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    # The two entry points (the CLI, and Alembic's env.py when run by the alembic command) hand
    # os.environ to Settings.from_env; nothing else reads it.
    assert sorted(readers) == ["__main__.py", "migrations/env.py"]


def test_importing_swell_runs_nothing() -> None:
    code = "import swell, sys; print('quart' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_db_upgrade_command(tmp_path: Path) -> None:
    db = tmp_path / "up.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "swell",
            "db",
            "upgrade",
            "--database-url",
            f"sqlite+aiosqlite:///{db}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"documents", "document_updates", "document_snapshots", "activities"} <= tables
