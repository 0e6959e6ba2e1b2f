"""Telemetry: every call moves its metric, the text parses as Prometheus' own parser reads it,
gauges are read at scrape time, and two Telemetry objects never share a number."""

from __future__ import annotations

import math
import timeit

from prometheus_client.parser import text_string_to_metric_families

from swell.telemetry import COMPACTION_RESULTS, FAILURE_KINDS, GAUGES, Telemetry


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from the rendered text."""
    body, content_type = telemetry.render()
    assert content_type.startswith("text/plain")
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(telemetry: Telemetry, name: str, **labels: str) -> float:
    return samples(telemetry)[(name, tuple(sorted(labels.items())))]


def test_every_series_is_there_from_the_start_at_zero() -> None:
    """Rates need a first sample of 0, not a series that appears with its first event."""
    telemetry = Telemetry()
    found = samples(telemetry)
    for name in (
        "swell_commits_total",
        "swell_revisions_total",
        "swell_repairs_total",
        "swell_commit_seconds_count",
        "swell_forward_seconds_count",
        "swell_relay_lag_seconds_count",
        *GAUGES,
    ):
        assert found[(name, ())] == 0.0, name
    for result in COMPACTION_RESULTS:
        assert found[("swell_compactions_total", (("result", result),))] == 0.0
    for kind in FAILURE_KINDS:
        assert found[("swell_failures_total", (("kind", kind),))] == 0.0
    for direction in ("in", "out"):
        assert found[("swell_relay_entries_total", (("direction", direction),))] == 0.0


def test_the_calls_move_their_metrics() -> None:
    telemetry = Telemetry()
    telemetry.committed(0.002, 3)
    telemetry.committed(0.0004, 0)  # a batch that made no revision (e.g. only a no-op)
    telemetry.forwarded(0.003)
    telemetry.compaction("done")
    telemetry.compaction("done")
    telemetry.compaction("failed")
    telemetry.failure("relay_malformed")
    telemetry.relay_out(4)
    telemetry.relay_in(0.02)
    telemetry.relay_in(-0.5)  # another machine's clock is ahead: counted as no lag
    telemetry.repaired()

    assert value(telemetry, "swell_commits_total") == 2
    assert value(telemetry, "swell_revisions_total") == 3
    assert value(telemetry, "swell_commit_seconds_count") == 2
    assert math.isclose(value(telemetry, "swell_commit_seconds_sum"), 0.0024)
    assert value(telemetry, "swell_commit_seconds_bucket", le="0.0005") == 1
    assert value(telemetry, "swell_commit_seconds_bucket", le="0.0025") == 2
    assert value(telemetry, "swell_commit_seconds_bucket", le="+Inf") == 2
    assert value(telemetry, "swell_forward_seconds_count") == 1
    assert value(telemetry, "swell_compactions_total", result="done") == 2
    assert value(telemetry, "swell_compactions_total", result="failed") == 1
    assert value(telemetry, "swell_compactions_total", result="skipped") == 0
    assert value(telemetry, "swell_failures_total", kind="relay_malformed") == 1
    assert value(telemetry, "swell_failures_total", kind="room") == 0
    assert value(telemetry, "swell_relay_entries_total", direction="out") == 4
    assert value(telemetry, "swell_relay_entries_total", direction="in") == 2
    assert value(telemetry, "swell_relay_lag_seconds_bucket", le="0.0005") == 1
    assert math.isclose(value(telemetry, "swell_relay_lag_seconds_sum"), 0.02)
    assert value(telemetry, "swell_repairs_total") == 1


def test_latency_buckets_span_half_a_millisecond_to_five_seconds() -> None:
    found = samples(Telemetry())
    bounds = sorted(
        float(dict(labels)["le"])
        for (name, labels) in found
        if name == "swell_commit_seconds_bucket"
    )
    assert bounds[0] == 0.0005 and bounds[-2] == 5.0 and bounds[-1] == math.inf


def test_gauges_are_read_at_scrape_time() -> None:
    telemetry = Telemetry()
    sockets = [0]
    telemetry.gauge_from("swell_sockets", lambda: sockets[0])
    telemetry.gauge_from("swell_redis_connected", lambda: True)
    sockets[0] = 7
    assert value(telemetry, "swell_sockets") == 7
    assert value(telemetry, "swell_redis_connected") == 1
    assert value(telemetry, "swell_documents_open") == 0  # nobody registered it
    sockets[0] = 2
    assert value(telemetry, "swell_sockets") == 2


def test_a_gauge_that_fails_reads_nan_and_the_scrape_still_answers() -> None:
    telemetry = Telemetry()

    def broken() -> float:
        raise RuntimeError("boom")

    telemetry.gauge_from("swell_event_streams", broken)
    telemetry.committed(0.001, 1)
    assert math.isnan(value(telemetry, "swell_event_streams"))
    assert value(telemetry, "swell_commits_total") == 1


def test_a_new_gauge_needs_its_help_text() -> None:
    telemetry = Telemetry()
    try:
        telemetry.gauge_from("swell_rooms_loading", lambda: 1)
    except ValueError:
        pass
    else:
        raise AssertionError("a gauge without help text was accepted")
    telemetry.gauge_from("swell_rooms_loading", lambda: 1, "Documents being loaded.")
    assert value(telemetry, "swell_rooms_loading") == 1


def test_two_telemetries_share_nothing() -> None:
    """Several apps live in one test process: each counts its own."""
    first, second = Telemetry(), Telemetry()
    first.committed(0.001, 1)
    assert value(first, "swell_commits_total") == 1
    assert value(second, "swell_commits_total") == 0


def test_process_metrics_are_exposed() -> None:
    names = {name for (name, _labels) in samples(Telemetry())}
    assert "process_resident_memory_bytes" in names


def test_the_hot_path_calls_are_cheap() -> None:
    """``committed`` runs once per commit: a generous bound that only a regression (a lock
    taken per label lookup, a registry walk) would break, not a slow CI machine."""
    telemetry = Telemetry()
    runs = 2_000
    seconds = min(timeit.repeat(lambda: telemetry.committed(0.001, 1), number=runs, repeat=3))
    assert seconds / runs < 50e-6, f"committed() took {seconds / runs * 1e6:.1f} us"
