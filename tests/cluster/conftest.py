"""Several ``swell serve`` processes on one PostgreSQL database and one Redis.

Each cluster gets its own key prefix (``SWELL_REDIS_PREFIX``), so clusters of different tests
and other users of the shared Redis never see each other, and its keys are deleted at the end
(SCAN on the prefix; never FLUSHALL). The servers' logs go to the test's tmp directory, and a
failing test's report ends with their tails."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster.redis_proxy import RedisProxy
from tests.server import ServerProcess

REDIS_ENV = "SWELL_TEST_REDIS_URL"
SIZE = 3
LOG_TAIL_LINES = 60
CLUSTERS = pytest.StashKey[list["Cluster"]]()

# Quick bursts and renders so presence and activity show within the tests' deadlines; rate
# limits off (every client of every test comes from 127.0.0.1).
CLUSTER_ENV = {
    "SWELL_EDIT_BURST_SECONDS": "0.5",
    "SWELL_CONTENT_INTERVAL_SECONDS": "0.05",
    "SWELL_SSE_PING_SECONDS": "1",
    "SWELL_CREATES_PER_MINUTE": "0",
    "SWELL_CONNECTS_PER_MINUTE": "0",
    "SWELL_WRITES_PER_MINUTE": "0",
    "SWELL_SHUTDOWN_SECONDS": "3",
}


class Cluster:
    """``SIZE`` servers sharing a database, a Redis and a prefix; start, kill or restart one."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        log_dir: Path,
        size: int = SIZE,
        env: dict[str, str] | None = None,
    ) -> None:
        self.prefix = f"swelltest-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.env = {
            **CLUSTER_ENV,
            "SWELL_REDIS_URL": redis_url,
            "SWELL_REDIS_PREFIX": self.prefix,
            **(env or {}),
        }
        self.processes = [
            ServerProcess(database_url, log_dir / f"server{i + 1}.log", dict(self.env))
            for i in range(size)
        ]

    def __getitem__(self, index: int) -> ServerProcess:
        return self.processes[index]

    def __len__(self) -> int:
        return len(self.processes)

    def start(self) -> None:
        """Start every server at once (each waits for its ``listening on`` line)."""
        with ThreadPoolExecutor(len(self.processes)) as pool:
            for future in [pool.submit(p.start) for p in self.processes]:
                future.result()

    def kill(self, index: int) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye to Redis."""
        self.processes[index].kill()

    def restart(self, index: int) -> None:
        """Start a stopped or killed server again on its port."""
        self.processes[index].restart()

    def alive(self, index: int) -> bool:
        proc = self.processes[index].proc
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.processes)) as pool:
            list(pool.map(lambda p: p.stop(), self.processes))

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        out = []
        for i, process in enumerate(self.processes):
            text = process.log_path.read_text(errors="replace") if process.log_path.exists() else ""
            tail = "\n".join(_records(text)[-lines:])
            state = "running" if self.alive(i) else "not running"
            out.append(f"--- server {i + 1} ({process.base_url}, {state}) ---\n{tail}")
        return "\n".join(out)

    def delete_keys(self) -> int:
        """Delete this cluster's keys (and nobody else's)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            return len(keys)
        finally:
            client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    return url


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
EXCEPTION = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt|Expired|Timeout)\b")


def _records(text: str) -> list[str]:
    """Log records, a traceback folded into its record's line and its last line (so the tail
    shows what happened, not forty lines of one stack)."""
    records: list[str] = []
    last_line: dict[int, str] = {}
    for line in text.splitlines():
        if LOG_RECORD.match(line) or not records:
            records.append(line)
        elif EXCEPTION.match(line):
            last_line[len(records) - 1] = line.strip()
    return [r + (f"  [{last_line[i]}]" if i in last_line else "") for i, r in enumerate(records)]


def _cluster(
    postgres_url: str, redis_url: str, log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    cluster = Cluster(postgres_url, redis_url, log_dir, env=env)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            cluster.delete_keys()


def _watch(request: pytest.FixtureRequest, cluster: Cluster) -> None:
    request.node.stash.setdefault(CLUSTERS, []).append(cluster)


@pytest.fixture(scope="module")
def shared_cluster(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """One cluster per module, for tests that kill nothing; each makes its own documents."""
    yield from _cluster(postgres_url, redis_url, tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, postgres_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Cluster]:
    """A cluster of this test's own (it may kill or restart its servers)."""
    for c in _cluster(postgres_url, redis_url, tmp_path):
        _watch(request, c)
        yield c


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[RedisProxy]:
    """A proxy in front of the real Redis that the test can cut, stall and restore."""
    proxy = RedisProxy(redis_url)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def proxied_cluster(
    request: pytest.FixtureRequest,
    postgres_url: str,
    redis_url: str,
    redis_proxy: RedisProxy,
    tmp_path: Path,
) -> Iterator[Cluster]:
    """A cluster of this test's own whose servers reach Redis only through ``redis_proxy``
    (its keys are deleted through the real Redis)."""
    for c in _cluster(postgres_url, redis_url, tmp_path, env={"SWELL_REDIS_URL": redis_proxy.url}):
        _watch(request, c)
        yield c


@pytest.fixture(autouse=True)
def _shared_cluster_logs(request: pytest.FixtureRequest) -> None:
    """A test on the module's cluster gets that cluster's log tails when it fails too."""
    if "shared_cluster" in request.fixturenames:
        _watch(request, request.getfixturevalue("shared_cluster"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for c in item.stash.get(CLUSTERS, []):
            report.sections.append((f"servers of cluster {c.prefix}", c.log_tails()))
