"""/healthz, /readyz and /metrics: a tiny Quart app with the health blueprint and fake checks
(a check that fails, hangs, ignores cancellation, or is hammered), then the real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import pytest
import redis.exceptions
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Text
from quart import Quart

from swell.telemetry import Telemetry
from swell.transport.health import Readiness, create_health, describe
from tests.client import synced_doc
from tests.server import ServerProcess

SECRET_URL = "postgresql+asyncpg://swell:hunter2@db.internal:5432/swell"
DEADLINE = 10.0


class FakeCheck:
    """Counts its runs; fails with ``error`` when set; blocks while ``gate`` is closed."""

    def __init__(self) -> None:
        self.runs = 0
        self.error: BaseException | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> None:
        self.runs += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error


async def hangs() -> None:
    await asyncio.Event().wait()


async def ignores_cancellation(release: asyncio.Event) -> None:
    """A check that swallows its cancellation and goes on (a badly written driver) until the
    test releases it."""
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue


def app_with(
    checks: Mapping[str, Callable[[], Awaitable[None]]],
    telemetry: Telemetry | None = None,
    **options: float,
) -> Quart:
    app = Quart(__name__)
    app.register_blueprint(create_health(telemetry or Telemetry(), checks, **options))
    return app


async def test_healthz_is_alive_and_uncached() -> None:
    client = app_with({"database": FakeCheck()}).test_client()
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert await r.get_json() == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


async def test_readyz_is_200_when_every_check_answers() -> None:
    database, redis_check = FakeCheck(), FakeCheck()
    client = app_with({"database": database, "redis": redis_check}).test_client()
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert await r.get_json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert r.headers["Cache-Control"] == "no-store"
    assert (database.runs, redis_check.runs) == (1, 1)


async def test_readyz_with_no_checks_is_ready() -> None:
    r = await app_with({}).test_client().get("/readyz")
    assert r.status_code == 200
    assert await r.get_json() == {"status": "ready", "checks": {}}


async def test_a_failing_check_is_a_503_naming_it_without_its_secrets() -> None:
    database, redis_check = FakeCheck(), FakeCheck()
    redis_check.error = redis.exceptions.ConnectionError(f"Error connecting to {SECRET_URL}")
    client = app_with({"database": database, "redis": redis_check}).test_client()
    r = await client.get("/readyz")
    assert r.status_code == 503
    body = await r.get_json()
    assert body["status"] == "unready"
    assert body["checks"] == {"database": "ok", "redis": "unreachable: ConnectionError"}
    assert body["error"] == "not ready: redis"
    text = await r.get_data(as_text=True)
    assert "hunter2" not in text and "db.internal" not in text


@pytest.mark.timeout(10)
async def test_a_hanging_check_is_a_503_within_the_timeout() -> None:
    client = app_with({"database": FakeCheck(), "redis": hangs}, timeout=0.3).test_client()
    started = time.monotonic()
    r = await client.get("/readyz")
    took = time.monotonic() - started
    assert r.status_code == 503
    body = await r.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("timeout")
    assert 0.3 <= took < 2.0, took


@pytest.mark.timeout(10)
async def test_a_check_that_ignores_cancellation_cannot_hold_readyz_or_pile_up() -> None:
    runs = 0
    release = asyncio.Event()
    stuck: list[asyncio.Task[None]] = []

    async def stubborn() -> None:
        nonlocal runs
        runs += 1
        stuck.append(asyncio.current_task())  # type: ignore[arg-type]
        await ignores_cancellation(release)

    client = app_with({"redis": stubborn}, timeout=0.2, check_ttl=0.0).test_client()
    try:
        for _ in range(3):
            started = time.monotonic()
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert (await r.get_json())["checks"]["redis"].startswith("timeout")
            assert time.monotonic() - started < 2.0
        assert runs == 1  # still stuck: never a second one beside it
    finally:
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck, return_exceptions=True), DEADLINE)


async def test_a_flood_of_readyz_runs_each_check_once_per_ttl() -> None:
    """Callers while a check runs share its run; callers within the TTL share its result."""
    database = FakeCheck()
    database.gate.clear()
    client = app_with({"database": database}, check_ttl=60.0).test_client()
    flood = [asyncio.ensure_future(client.get("/readyz")) for _ in range(50)]
    deadline = time.monotonic() + DEADLINE
    while database.runs == 0:
        assert time.monotonic() < deadline, "the check never started"
        await asyncio.sleep(0.01)
    database.gate.set()
    answers = await asyncio.gather(*flood)
    assert {r.status_code for r in answers} == {200}
    assert database.runs == 1
    database.error = ConnectionRefusedError("later")  # cached: not seen within the TTL
    assert (await client.get("/readyz")).status_code == 200
    assert database.runs == 1


async def test_a_check_runs_again_after_the_ttl_and_recovery_is_seen() -> None:
    now = [100.0]
    database = FakeCheck()
    readiness = Readiness({"database": database}, timeout=1.0, ttl=1.0, clock=lambda: now[0])
    assert await readiness.results() == {"database": "ok"}
    database.error = ConnectionRefusedError(111, "refused")
    now[0] += 0.5
    assert await readiness.results() == {"database": "ok"}  # cached
    now[0] += 0.6
    assert await readiness.results() == {"database": "unreachable: ConnectionRefusedError"}
    database.error = None
    now[0] += 1.0
    assert await readiness.results() == {"database": "ok"}
    assert database.runs == 3


async def test_a_caller_that_hangs_up_does_not_cancel_the_shared_run() -> None:
    database = FakeCheck()
    database.gate.clear()
    readiness = Readiness({"database": database}, timeout=5.0)
    first = asyncio.ensure_future(readiness.results())
    second = asyncio.ensure_future(readiness.results())
    deadline = time.monotonic() + DEADLINE
    while database.runs == 0:
        assert time.monotonic() < deadline, "the check never started"
        await asyncio.sleep(0.01)
    first.cancel()
    database.gate.set()
    assert await second == {"database": "ok"}
    assert database.runs == 1


def test_describe_names_the_type_never_the_message() -> None:
    class OperationalError(Exception):
        """Like SQLAlchemy's: wraps the driver's error."""

    wrapped = OperationalError(f"could not connect to {SECRET_URL}")
    wrapped.__cause__ = ConnectionRefusedError(111, "refused")
    assert describe(redis.exceptions.ConnectionError("x")) == "unreachable: ConnectionError"
    assert describe(ConnectionRefusedError(111, "x")) == "unreachable: ConnectionRefusedError"
    assert describe(wrapped) == "unreachable: OperationalError"
    assert describe(TimeoutError()) == "timeout: TimeoutError"
    assert describe(ValueError(SECRET_URL)) == "failed: ValueError"
    assert "hunter2" not in describe(wrapped)


async def test_metrics_is_prometheus_text_uncached_by_clients() -> None:
    telemetry = Telemetry()
    telemetry.committed(0.001, 2)
    client = app_with({}, telemetry, metrics_ttl=0.0).test_client()
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    assert r.headers["Cache-Control"] == "no-store"
    families = {f.name: f for f in text_string_to_metric_families(await r.get_data(as_text=True))}
    assert families["swell_commits"].samples[0].value == 1
    telemetry.committed(0.001, 1)
    r = await client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(await r.get_data(as_text=True))}
    assert families["swell_commits"].samples[0].value == 2


async def test_a_flood_of_metrics_renders_once_per_ttl() -> None:
    telemetry = Telemetry()
    renders = 0
    render = telemetry.render

    def counting_render() -> tuple[bytes, str]:
        nonlocal renders
        renders += 1
        return render()

    telemetry.render = counting_render  # type: ignore[method-assign]
    client = app_with({}, telemetry, metrics_ttl=60.0).test_client()
    answers = await asyncio.gather(*(client.get("/metrics") for _ in range(30)))
    assert {r.status_code for r in answers} == {200}
    assert renders == 1


# ---- the real server ---------------------------------------------------------------------


async def scrape(server: ServerProcess) -> dict[str, float]:
    """Unlabelled samples and ``name{label=value}`` -> value, from the server's /metrics."""
    async with server.http() as http:
        r = await http.get("/metrics")
    assert r.status_code == 200
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def test_the_real_server_is_ready_and_exposes_its_metrics(
    shared_server: ServerProcess,
) -> None:
    async with shared_server.http() as http:
        r = await http.get("/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ready" and body["checks"]["database"] == "ok"
        r = await http.get("/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    found = await scrape(shared_server)
    for name in (
        "swell_commits_total",
        "swell_revisions_total",
        "swell_commit_seconds_count",
        "swell_forward_seconds_count",
        "swell_relay_lag_seconds_count",
        "swell_documents_open",
        "swell_sockets",
        "swell_event_streams",
        "swell_relay_outbox_bytes",
        "swell_redis_connected",
        "swell_compactions_total{result=done}",
        "swell_failures_total{kind=room}",
        "swell_relay_entries_total{direction=out}",
    ):
        assert name in found, name


@pytest.mark.timeout(60)
async def test_the_real_server_counts_commits_and_sockets(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    before = await scrape(shared_server)
    async with synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (ydoc, _ws):
        ydoc.get("text", type=Text).insert(0, "metrics")
        deadline = time.monotonic() + DEADLINE
        while True:
            now = await scrape(shared_server)
            if (
                now["swell_commits_total"] > before["swell_commits_total"]
                and now["swell_commit_seconds_count"] > before["swell_commit_seconds_count"]
                and now["swell_sockets"] >= 1
                and now["swell_documents_open"] >= 1
            ):
                break
            assert time.monotonic() < deadline, f"metrics did not move: {now}"
            await asyncio.sleep(0.2)
