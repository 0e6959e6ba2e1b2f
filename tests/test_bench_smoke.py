"""The benchmark suite's smoke version (``python -m bench --quick``) against Swell and the
y-websocket reference server: every scenario runs, every run converges, nothing crashes.
It asserts no time: the numbers of a smoke run mean nothing (see docs/performance.md).
The several-process scenarios run on the test suite's PostgreSQL and Redis when both are
configured (as in CI), and are skipped by the suite otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


CLUSTER = ("cluster_rooms", "cluster_fanout", "cluster_failover")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_bench_smoke_version_converges_everywhere(tmp_path: Path) -> None:
    if not (BENCH / "node_modules" / "ws").is_dir():
        pytest.fail("bench/node_modules is missing: `make test` installs it (npm ci in bench/)")
    postgres = os.environ.get("SWELL_TEST_POSTGRES_URL", "")
    redis = os.environ.get("SWELL_TEST_REDIS_URL", "")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--servers",
            "swell,yws",
            "--out",
            str(tmp_path),
            f"--postgres-url={postgres}",
            f"--redis-url={redis}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    [path] = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert record["failures"] == []
    results = record["results"]
    assert set(results) == {
        "fanout",
        "cursors",
        "saturation",
        "connections",
        "cold",
        "viewers",
        "sigterm",
        "history",
        "history_ui",
        *CLUSTER,
    }
    for scenario in ("fanout", "cursors", "saturation", "connections", "viewers"):
        for server, run in results[scenario]["runs"].items():
            assert "error" not in run, (scenario, server, run)
            cases = run.values() if scenario in ("fanout", "cursors") else [run]
            for case in cases:
                assert case["converged"], (scenario, server, case["problems"])
    for server, runs in results["cold"]["runs"].items():
        for size, run in runs.items():
            assert run["complete"], ("cold", server, size, run)
    for workload, run in results["history"]["runs"]["swell"].items():
        assert "error" not in run, ("history", workload, run)
        assert run["renders"]["newest_matches_live"], ("history", workload)
    ui = results["history_ui"]["runs"]["swell"]  # skipped where Playwright is not installed
    assert "error" not in ui, ui
    for page, measured in ui.get("pages", {}).items():
        times = measured["times"]
        assert times["open_first"]["frame_ms"]["count"] == 1, (page, times)
        assert times["arrow"]["frame_ms"]["count"] >= 1, (page, times)
        assert not any(t.get("not_shown") for t in times.values()), (page, times)
    swell_after_sigterm = results["sigterm"]["runs"]["swell"]
    assert swell_after_sigterm["lost_after_seen"] == 0  # nothing anyone was shown is ever lost
    for scenario in CLUSTER:
        result = results[scenario]
        if not (postgres and redis):
            assert "skipped" in result, (scenario, result)
            continue
        assert "skipped" not in result, (scenario, result["skipped"])
        assert "two" in result["runs"], (scenario, result)  # two processes, one room across both
        for layout, run in result["runs"].items():
            assert "error" not in run, (scenario, layout, run)
            assert run["converged"], (scenario, layout, run["problems"])
    if postgres and redis:
        failover = results["cluster_failover"]["runs"]["two"]
        assert failover["not_resynced"] == 0, failover
        for where in ("lost_survivor", "lost_database"):
            assert failover[where]["lost_although_shown"] == 0, (where, failover[where])
            assert failover[where]["shown"] > 0, (where, failover[where])
