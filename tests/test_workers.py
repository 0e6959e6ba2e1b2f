"""``swell serve --workers N``: the refusals, and N workers behind one port that a supervisor
restarts when one dies and stops cleanly on SIGTERM, leaving no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REDIS_ENV = "SWELL_TEST_REDIS_URL"
LISTENING = re.compile(r"swell\.supervisor: listening on (http://[\d.]+:\d+)")
READY = re.compile(r"worker (\d+) of (\d+) ready \(pid (\d+)\)")
NOWHERE = "postgresql+asyncpg://nobody@127.0.0.1:1/nothing"  # never reached: refused before


def clean_env() -> dict[str, str]:
    """This environment without SWELL_* settings, so only the flags under test count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWELL_")}


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swell", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )


def test_two_workers_on_sqlite_refuse_to_start(tmp_path: Path) -> None:
    db = tmp_path / "swell.db"
    result = serve("--workers", "2", "--database-url", f"sqlite+aiosqlite:///{db}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "swell: --workers 2 needs PostgreSQL (--database-url postgresql+asyncpg://…): "
        "SQLite is one file that one process writes"
    ]
    assert not db.exists()  # refused before anything started (no migration either)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--workers", "0"], "--workers must be at least 1 (got 0)"),
        (["--workers", "-3"], "--workers must be at least 1 (got -3)"),
        (["--workers", "2", "--database-url", NOWHERE], "--workers 2 needs --redis-url"),
        (["--redis-url", "redis://127.0.0.1:6379/0"], "--redis-url needs PostgreSQL"),
        (
            ["--database-url", NOWHERE, "--redis-url", "http://127.0.0.1:6379"],
            "--redis-url must start with redis://, rediss:// or unix:// (got http://)",
        ),
        (
            ["--database-url", NOWHERE, "--redis-url", "127.0.0.1:6379"],
            "--redis-url must start with redis://, rediss:// or unix:// (got no scheme)",
        ),
    ],
)
def test_what_cannot_act_as_one_server_is_refused(args: list[str], says: str) -> None:
    result = serve(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"swell: {says}"), result.stderr


def test_the_environment_is_checked_like_the_flags(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "swell", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **clean_env(),
            "SWELL_WORKERS": "3",
            "SWELL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'swell.db'}",
        },
    )
    assert result.returncode == 2
    assert result.stderr.startswith("swell: --workers 3 needs PostgreSQL")


# ---- a real supervisor on PostgreSQL and Redis -------------------------------------------


def wait_until(condition: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid: int) -> bool:
    """No such process any more (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class Cluster:
    """``swell serve --workers N`` in a subprocess, its log in a file."""

    def __init__(self, database_url: str, redis_url: str, log_path: Path, workers: int) -> None:
        self.log_path = log_path
        self.workers = workers
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "swell",
                    "serve",
                    "--port",
                    "0",
                    "--workers",
                    str(workers),
                    "--database-url",
                    database_url,
                    "--redis-url",
                    redis_url,
                    # Keys of their own: clusters of other tests never see this one.
                    "--redis-prefix",
                    f"test-workers-{uuid.uuid4().hex[:12]}",
                ],
                stdout=log,
                stderr=log,
                env={**clean_env(), "SWELL_LOG_LEVEL": "info"},
            )
        self.base_url = ""

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"supervisor exited:\n{self.log()}")
            match = LISTENING.search(self.log())
            if match:
                self.base_url = match.group(1)
            return bool(match)

        wait_until(listening, "the supervisor's 'listening on' line", within=60)

    def log(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace")

    def ready(self) -> dict[int, int]:
        """The newest pid of each worker, from the supervisor's log."""
        return {int(m[1]): int(m[3]) for m in READY.finditer(self.log())}

    def answers(self) -> bool:
        # A new connection each time: whichever worker accepts it answers.
        response = httpx.get(self.base_url + "/healthz", timeout=5)
        return response.status_code == 200

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"{REDIS_ENV} is not set")
    running = Cluster(postgres_url, redis_url, tmp_path / "cluster.log", workers=2)
    yield running
    pids = running.ready().values()
    running.stop()
    for pid in pids:  # whatever happened, leave nothing running
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(120)
def test_two_workers_share_one_port_and_a_killed_one_is_replaced(cluster: Cluster) -> None:
    log = cluster.log()
    assert log.count("listening on") == 1  # the supervisor's line; workers say "ready"
    first = cluster.ready()
    assert sorted(first) == [1, 2] and first[1] != first[2]
    for pid in first.values():
        assert parent_of(pid) == cluster.proc.pid
    assert all(cluster.answers() for _ in range(10))

    os.kill(first[1], signal.SIGKILL)
    wait_until(lambda: cluster.ready().get(1, first[1]) != first[1], "worker 1 restarted")
    assert f"worker 1 of 2 (pid {first[1]}) was killed by SIGKILL" in cluster.log()
    # The port answered throughout: the other worker accepts on the same socket.
    assert all(cluster.answers() for _ in range(10))
    second = cluster.ready()
    assert second[2] == first[2] and parent_of(second[1]) == cluster.proc.pid
    assert gone(first[1])

    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(30) == 0
    assert all(gone(pid) for pid in second.values())
    log = cluster.log()
    assert log.count("swell: stopped") == 2  # each worker flushed and said so
    assert "Traceback" not in log


@pytest.mark.timeout(120)
def test_sigint_stops_every_worker_cleanly(cluster: Cluster) -> None:
    pids = cluster.ready().values()
    cluster.proc.send_signal(signal.SIGINT)
    assert cluster.proc.wait(30) == 0
    assert all(gone(pid) for pid in pids)


@pytest.mark.timeout(120)
def test_workers_stop_when_their_supervisor_is_killed(cluster: Cluster) -> None:
    pids = list(cluster.ready().values())
    cluster.proc.kill()  # SIGKILL: no chance to forward anything
    cluster.proc.wait(10)
    wait_until(lambda: all(gone(pid) for pid in pids), "orphaned workers to stop")
