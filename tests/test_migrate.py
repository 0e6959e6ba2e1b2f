"""``swell serve`` migrates what is behind, and skips Alembic when the database is at the newest
revision (a restart): real SQLite files, and PostgreSQL databases when configured."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from swell.migrate import (
    VERSIONS,
    alembic_config,
    database_revisions,
    newest_revision,
    upgrade_database,
    upgrade_unless_newest,
)
from tests.conftest import POSTGRES_ENV
from tests.server import LISTENING, ServerProcess

pytestmark = pytest.mark.timeout(90)

PREVIOUS = "2b7e8899139a"  # an older revision (before read marks): a database behind


def alembic_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("unused")).get_current_head()
    assert head is not None
    return head


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated: a SQLite file that does not exist yet, or a new
    PostgreSQL database (dropped at the end)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"swell_migrate_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_in_fresh_process(database_url: str) -> dict[str, object]:
    """``upgrade_unless_newest`` in a new interpreter: whether Alembic ran, and whether it was
    imported at all."""
    code = (
        "import json, sys\n"
        "from swell.migrate import upgrade_unless_newest\n"
        f"ran = upgrade_unless_newest({database_url!r})\n"
        "print(json.dumps({'ran': ran, 'alembic': 'alembic' in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_newest_revision_is_alembics_head() -> None:
    """Read from the scripts without Alembic; adding a migration changes it with no constant to
    update."""
    assert newest_revision() == alembic_head()


def test_a_database_at_the_newest_revision_starts_without_alembic(database_url: str) -> None:
    assert database_revisions(database_url) == (alembic_head(),)
    assert run_in_fresh_process(database_url) == {"ran": False, "alembic": False}


def test_a_database_nothing_migrated_is_migrated(empty_database: str) -> None:
    assert run_in_fresh_process(empty_database) == {"ran": True, "alembic": True}
    assert database_revisions(empty_database) == (alembic_head(),)
    # and the next start finds it there
    assert run_in_fresh_process(empty_database) == {"ran": False, "alembic": False}


def test_a_database_at_an_older_revision_is_upgraded(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), PREVIOUS)
    assert database_revisions(empty_database) == (PREVIOUS,)
    assert upgrade_unless_newest(empty_database) is True
    assert database_revisions(empty_database) == (alembic_head(),)


def test_a_sqlite_file_without_a_version_table_goes_through_alembic(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    url = f"sqlite+aiosqlite:///{path}"
    assert upgrade_unless_newest(url) is True
    assert database_revisions(url) == (alembic_head(),)


def test_a_version_table_with_more_than_the_newest_goes_through_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "branched.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_database(url)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO alembic_version VALUES ('0a0a0a0a0a0a')")
    assert database_revisions(url) == tuple(sorted((alembic_head(), "0a0a0a0a0a0a")))
    ran: list[str] = []
    monkeypatch.setattr("swell.migrate.upgrade_database", ran.append)
    assert upgrade_unless_newest(url) is True
    assert ran == [url]


def test_sqlite_urls_the_check_does_not_read_go_through_alembic(tmp_path: Path) -> None:
    """A query string (driver options), or no file at all: Alembic decides, as before."""
    path = tmp_path / "swell.db"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    for url in (f"sqlite+aiosqlite:///{path}?timeout=20", f"sqlite+aiosqlite:///{path}x"):
        with pytest.raises((ValueError, sqlite3.Error)):
            database_revisions(url)
    assert not Path(f"{path}x").exists()  # the check never creates a file
    assert upgrade_unless_newest(f"sqlite+aiosqlite:///{path}?timeout=20") is True


def test_swell_serve_upgrades_an_older_database_before_it_listens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), PREVIOUS)
    server = ServerProcess(url, tmp_path / "server.log")
    server.start()
    try:
        assert database_revisions(url) == (alembic_head(),)
        asyncio.run(server.create_document())
    finally:
        server.stop()


def test_swell_serve_restarts_without_importing_alembic(database_url: str, tmp_path: Path) -> None:
    """The real command on a database at the newest revision, in a process where importing
    Alembic fails: it listens (and serves) all the same."""
    log_path = tmp_path / "serve.log"
    code = (
        "import sys\n"
        "sys.modules['alembic'] = None  # any import of it raises ImportError\n"
        "from swell.__main__ import main\n"
        f"sys.exit(main(['serve', '--port', '0', '--database-url', {database_url!r}]))\n"
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not (found := LISTENING.search(log_path.read_text())):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        response = httpx.get(found.group(1) + "/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(15) == 0, log_path.read_text()


def migrations(tmp_path: Path, *scripts: tuple[str, str]) -> Path:
    """A versions directory of (file name, text) scripts."""
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, text in scripts:
        (versions / name).write_text(text)
    return versions


def script(revision: str, down: str | None) -> str:
    return (
        f'"""{revision}\n\nRevision ID: {revision}\nRevises: {down}\n"""\n\n'
        f"revision: str = {revision!r}\ndown_revision: str | None = {down!r}\n"
        "branch_labels: str | None = None\ndepends_on: str | None = None\n\n\n"
        "def upgrade() -> None:\n    pass\n"
    )


def test_the_newest_revision_of_a_line_of_scripts(tmp_path: Path) -> None:
    versions = migrations(
        tmp_path,
        ("1_a.py", script("a", None)),
        ("2_b.py", script("b", "a")),
        ("3_c.py", script("c", "b").replace("'", '"')),
        ("__init__.py", "revision = 'x'\n"),  # not a migration to Alembic
        (".#3_c.py", "revision = 'y'\n"),  # an editor's lock file
        ("notes.txt", "revision = 'z'\n"),
    )
    assert newest_revision(versions) == "c"


@pytest.mark.parametrize(
    "scripts",
    [
        pytest.param([], id="no-scripts"),
        pytest.param(
            [("1.py", script("a", None)), ("2.py", script("b", "a")), ("3.py", script("c", "a"))],
            id="branch",
        ),
        pytest.param(
            [
                ("1.py", script("a", None)),
                ("2.py", script("b", "a")),
                ("3.py", script("c", "a")),
                ("4.py", script("d", "b").replace("= 'b'", "= ('b', 'c')")),
            ],
            id="merge",
        ),
        pytest.param([("1.py", script("a", "z")), ("2.py", script("b", "a"))], id="unknown-parent"),
        pytest.param([("1.py", script("a", None)), ("2.py", script("a", "a"))], id="duplicate"),
        pytest.param(
            [("1.py", script("a", None)), ("2.py", script("b", "a").replace("'b'", "B"))],
            id="revision-not-a-literal",
        ),
        pytest.param(
            [("1.py", script("a", None)), ("2.py", "revision = 'b'\n")], id="no-down-revision"
        ),
        pytest.param(
            [("1.py", script("a", None)), ("2.py", script("b", "a") + "revision = 'c'\n")],
            id="assigned-twice",
        ),
        pytest.param(
            [("1.py", script("a", "c")), ("2.py", script("b", "a")), ("3.py", script("c", "b"))],
            id="cycle",
        ),
        pytest.param(
            [
                ("1.py", script("a", None)),
                ("2.py", script("b", "a")),
                ("3.py", script("c", "d")),
                ("4.py", script("d", "c")),
            ],
            id="cycle-beside-the-line",
        ),
        pytest.param(
            [
                ("1.py", script("a", None)),
                (
                    "2.py",
                    '"""\nrevision = "b"\n"""\nREV = "b"\nrevision = REV\ndown_revision = "a"\n',
                ),
            ],
            id="revision-in-a-string-and-written-otherwise",
        ),
    ],
)
def test_no_newest_revision_unless_the_scripts_are_one_line(
    tmp_path: Path, scripts: list[tuple[str, str]]
) -> None:
    """Anything but one line of plainly written revisions: Alembic decides."""
    assert newest_revision(migrations(tmp_path, *scripts)) is None


def test_the_shipped_scripts_read_the_same_from_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "versions"
    shutil.copytree(VERSIONS, copy)
    assert newest_revision(copy) == alembic_head()
