"""The benchmark suite's smoke version (``python -m bench --quick``) against Swell and the
y-websocket reference server: every scenario runs, every run converges, nothing crashes.
It asserts no time: the numbers of a smoke run mean nothing (see docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_bench_smoke_version_converges_everywhere(tmp_path: Path) -> None:
    if not (BENCH / "node_modules" / "ws").is_dir():
        pytest.fail("bench/node_modules is missing: `make test` installs it (npm ci in bench/)")
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
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    [path] = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert record["failures"] == []
    results = record["results"]
    assert set(results) == {
        "fanout",
        "saturation",
        "connections",
        "cold",
        "viewers",
        "sigterm",
        "history",
        "history_ui",
    }
    for scenario in ("fanout", "saturation", "connections", "viewers"):
        for server, run in results[scenario]["runs"].items():
            assert "error" not in run, (scenario, server, run)
            cases = run.values() if scenario == "fanout" else [run]
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
