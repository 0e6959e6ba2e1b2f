"""Operability endpoints: ``/healthz`` (the process answers), ``/readyz`` (the database and
Redis answer it) and ``/metrics`` (Prometheus text).

All three are unauthenticated, so each must stay cheap under a flood: a readiness check runs at
most once per ``CHECK_TTL`` seconds whatever the number of callers (callers in the meantime
share its result, or its run in flight), and the metrics text is rendered at most once per
``METRICS_TTL`` seconds. They are not rate-limited per address: like every read in Swell they
cost next to nothing, and a prober or scraper that gets a 429 would report an outage that is
not there. Answers never carry an exception's text (a database URL, a host, a password could be
in it), only its type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Response, jsonify

from swell.telemetry import Telemetry

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
OK = "ok"
CHECK_TTL = 1.0
METRICS_TTL = 1.0
NO_STORE = "no-store"


def describe(exc: BaseException) -> str:
    """A short, secret-free account of why a check failed: its type, never its message."""
    name = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return f"timeout: {name}"
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, OSError) or "Connection" in type(chain).__name__:
            return f"unreachable: {name}"
        chain = chain.__cause__ or chain.__context__
    return f"failed: {name}"


@dataclass
class _CheckState:
    result: str | None = None
    at: float = 0.0
    probe: asyncio.Future[str] | None = None  # the run callers share while it lasts
    check_task: asyncio.Future[None] | None = None  # the check itself, perhaps still stuck


@dataclass
class Readiness:
    """Runs named checks concurrently, each bounded by ``timeout`` and cached for ``ttl``."""

    checks: Mapping[str, Check]
    timeout: float = 2.0
    ttl: float = CHECK_TTL
    clock: Callable[[], float] = time.monotonic
    _states: dict[str, _CheckState] = field(default_factory=dict)

    async def results(self) -> dict[str, str]:
        """Each check's ``"ok"`` or short error. Never raises, and returns within about
        ``timeout`` even when a check hangs and ignores cancellation."""
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._result(name) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _result(self, name: str) -> str:
        state = self._states.setdefault(name, _CheckState())
        if state.result is not None and self.clock() - state.at < self.ttl:
            return state.result
        if state.probe is None:
            state.probe = asyncio.ensure_future(self._probe(name, state))
        # A caller that hangs up must not cancel the run others wait for.
        return await asyncio.shield(state.probe)

    async def _probe(self, name: str, state: _CheckState) -> str:
        try:
            result = await self._run(name, state)
        except Exception as exc:  # never expected: still, a probe must answer
            log.exception("readiness check %s could not run", name)
            result = describe(exc)
        if result != (state.result or OK):
            if result == OK:
                log.info("readiness check %s passes again", name)
            else:
                log.warning("readiness check %s fails: %s", name, result)
        state.result, state.at, state.probe = result, self.clock(), None
        return result

    async def _run(self, name: str, state: _CheckState) -> str:
        stuck = state.check_task
        if stuck is not None and not stuck.done():
            return f"timeout: no answer in {self.timeout:g} s"  # never start a second one
        task = asyncio.ensure_future(self.checks[name]())
        state.check_task = task
        task.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if not done:
            task.cancel()  # not awaited: a check that ignores cancellation cannot hold us
            return f"timeout: no answer in {self.timeout:g} s"
        if task.cancelled():
            return "failed: cancelled"
        exc = task.exception()
        if exc is not None:
            log.debug("readiness check %s failed", name, exc_info=exc)
            return describe(exc)
        return OK


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark a check's exception as seen (a timed-out check may fail after nobody waits)."""
    if not task.cancelled():
        task.exception()


class _CachedMetrics:
    """The rendered metrics, at most ``ttl`` seconds old (a render costs about a millisecond)."""

    def __init__(
        self, telemetry: Telemetry, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._telemetry = telemetry
        self._ttl = ttl
        self._clock = clock
        self._rendered: tuple[bytes, str] | None = None
        self._at = 0.0

    def get(self) -> tuple[bytes, str]:
        now = self._clock()
        if self._rendered is None or now - self._at >= self._ttl:
            self._rendered, self._at = self._telemetry.render(), now
        return self._rendered


def create_health(
    telemetry: Telemetry,
    checks: Mapping[str, Check],
    *,
    timeout: float = 2.0,
    check_ttl: float = CHECK_TTL,
    metrics_ttl: float = METRICS_TTL,
) -> Blueprint:
    """``checks``: name -> an async callable that returns when the dependency answers and
    raises otherwise (``"database"``: ``SELECT 1``; ``"redis"``: ``PING``)."""
    bp = Blueprint("health", __name__)
    readiness = Readiness(checks, timeout=timeout, ttl=check_ttl)
    metrics = _CachedMetrics(telemetry, metrics_ttl)

    def no_store(response: Response, status: int = 200) -> Response:
        response.status_code = status
        response.headers["Cache-Control"] = NO_STORE
        return response

    @bp.get("/healthz")
    async def healthz() -> Response:
        """Alive: answers without touching the database, so it stays fast when that is slow."""
        return no_store(jsonify({"status": "ok"}))

    @bp.get("/readyz")
    async def readyz() -> Response:
        results = await readiness.results()
        failing = [name for name, result in results.items() if result != OK]
        body: dict[str, Any] = {"status": "ready" if not failing else "unready", "checks": results}
        if failing:
            body["error"] = "not ready: " + ", ".join(failing)
        return no_store(jsonify(body), 503 if failing else 200)

    @bp.get("/metrics")
    async def metrics_text() -> Response:
        body, content_type = metrics.get()
        return no_store(Response(body, content_type=content_type))

    return bp
