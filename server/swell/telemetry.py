"""What a Swell process counts and measures, for ``GET /metrics`` (Prometheus text format).

One ``Telemetry`` per app, with a registry of its own (never prometheus_client's global one:
several apps live in one test process). The domain calls a few typed methods; each is a couple
of prometheus_client operations (about a microsecond each), because ``committed`` sits on the
commit path. Gauges (documents open, sockets, ...) are not kept up to date by anyone: they are
read from callables at scrape time, so nothing on a hot path pays for them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

CompactionResult = Literal["done", "skipped", "failed"]
FailureKind = Literal[
    "room", "commit_retry", "relay_malformed", "relay_publish", "relay_read", "repair"
]
COMPACTION_RESULTS: tuple[CompactionResult, ...] = ("done", "skipped", "failed")
FAILURE_KINDS: tuple[FailureKind, ...] = (
    "room",
    "commit_retry",
    "relay_malformed",
    "relay_publish",
    "relay_read",
    "repair",
)

# Seconds, from half a millisecond (a commit on a quiet SQLite) to 5 s (something is wrong).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    math.inf,
)

GAUGES: dict[str, str] = {
    "swell_documents_open": "Documents held in memory by this process.",
    "swell_sockets": "WebSocket connections open on this process.",
    "swell_event_streams": "Server-sent event streams open on this process.",
    "swell_relay_outbox_bytes": "Bytes committed but not yet published to the relay.",
    "swell_redis_connected": "1 when this process reaches Redis, else 0.",
}


class _ScrapeGauges(Collector):
    """Gauges read from callables at scrape time; a name with no callable reads 0, and a
    callable that raises reads NaN (logged once until it answers again): a scrape never fails."""

    def __init__(self) -> None:
        self.helps: dict[str, str] = dict(GAUGES)
        self.sources: dict[str, Callable[[], float]] = {}
        self._failing: set[str] = set()

    def collect(self) -> Iterable[Metric]:
        for name, help_text in self.helps.items():
            yield GaugeMetricFamily(name, help_text, value=self._read(name))

    def _read(self, name: str) -> float:
        source = self.sources.get(name)
        if source is None:
            return 0.0
        try:
            value = float(source())
        except Exception:
            if name not in self._failing:
                self._failing.add(name)
                log.warning("gauge %s could not be read", name, exc_info=True)
            return math.nan
        self._failing.discard(name)
        return value


class Telemetry:
    """The counters, histograms and scrape-time gauges of one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._commits = Counter("swell_commits", "Batches of updates committed.", registry=registry)
        self._revisions = Counter(
            "swell_revisions", "Document revisions committed.", registry=registry
        )
        compactions = Counter(
            "swell_compactions",
            "Compactions of a document's updates, by result.",
            ["result"],
            registry=registry,
        )
        self._compactions = {
            result: compactions.labels(result=result) for result in COMPACTION_RESULTS
        }
        self._failure_counter = Counter(
            "swell_failures", "Failures that were handled, by kind.", ["kind"], registry=registry
        )
        self._failures = {kind: self._failure_counter.labels(kind=kind) for kind in FAILURE_KINDS}
        relay = Counter(
            "swell_relay_entries",
            "Relay entries published (out) and read from other processes (in).",
            ["direction"],
            registry=registry,
        )
        self._relay_out = relay.labels(direction="out")
        self._relay_in = relay.labels(direction="in")
        self._repairs = Counter(
            "swell_repairs", "Documents caught up from the database after a gap.", registry=registry
        )
        self._commit_seconds = Histogram(
            "swell_commit_seconds",
            "Time to commit one batch.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._forward_seconds = Histogram(
            "swell_forward_seconds",
            "Time from a batch's first update received to its forwarding to other clients.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._relay_lag_seconds = Histogram(
            "swell_relay_lag_seconds",
            "Age of a relay entry when another process reads it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._gauges = _ScrapeGauges()
        registry.register(self._gauges)
        ProcessCollector(registry=registry)  # memory, CPU, open files of this process

    # ---- what the domain calls (cheap: they sit on hot paths) ----------------------------

    def committed(self, seconds: float, revisions: int) -> None:
        """One batch committed in ``seconds``, adding ``revisions`` revisions."""
        self._commits.inc()
        if revisions:
            self._revisions.inc(revisions)
        self._commit_seconds.observe(seconds)

    def forwarded(self, seconds: float) -> None:
        """A batch forwarded ``seconds`` after its first update arrived."""
        self._forward_seconds.observe(seconds)

    def compaction(self, result: CompactionResult) -> None:
        self._compactions[result].inc()

    def failure(self, kind: FailureKind) -> None:
        """A handled failure; an unknown kind is counted under its own label, never raised."""
        counter = self._failures.get(kind)
        if counter is None:
            counter = self._failures[kind] = self._failure_counter.labels(kind=kind)
        counter.inc()

    def relay_out(self, n: int = 1) -> None:
        """``n`` entries published to the relay."""
        self._relay_out.inc(n)

    def relay_in(self, lag_seconds: float) -> None:
        """One entry of another process read, ``lag_seconds`` after it was written (clocks of
        two machines may disagree: a negative lag counts as 0)."""
        self._relay_in.inc()
        self._relay_lag_seconds.observe(max(0.0, lag_seconds))

    def repaired(self) -> None:
        """A document caught up from the database (a gap, a restart, a Redis outage)."""
        self._repairs.inc()

    # ---- wiring and scraping -------------------------------------------------------------

    def gauge_from(self, name: str, fn: Callable[[], float], help_text: str | None = None) -> None:
        """Read gauge ``name`` from ``fn`` at every scrape (``fn`` runs on the event loop: it
        must be cheap and must not block). The gauges of ``GAUGES`` need no help text."""
        if name not in self._gauges.helps:
            if help_text is None:
                raise ValueError(f"gauge {name} needs a help text")
            self._gauges.helps[name] = help_text
        elif help_text is not None:
            self._gauges.helps[name] = help_text
        self._gauges.sources[name] = fn

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition: (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
