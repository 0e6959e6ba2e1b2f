"""``python -m bench.compare OLD.json NEW.json``: the headline numbers of two runs side by side.

Each row is one number of one server in one scenario (fan-out p99 and CPU per delivered frame,
typing with cursors, edits/s held, memory per connection, cold load, viewer delay, updates lost),
with the change from the old run to the new. Runs on different machines, or with other processes
busy (see each run's notes), differ anyway.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def headline(record: Json) -> dict[str, float]:
    """The numbers worth comparing, by a readable name."""
    out: dict[str, float] = {}
    results = record.get("results", {})
    for scenario in ("fanout", "cursors"):
        for server, cases in results.get(scenario, {}).get("runs", {}).items():
            for case, run in cases.items():
                if not isinstance(run, dict):
                    continue
                if run.get("latency_ms", {}).get("p99") is not None:
                    out[f"{scenario} {case} p99 ms [{server}]"] = run["latency_ms"]["p99"]
                if (run.get("cursor_latency_ms") or {}).get("p99") is not None:
                    out[f"{scenario} {case} caret p99 ms [{server}]"] = run["cursor_latency_ms"][
                        "p99"
                    ]
                if run.get("server_cpu_us_per_frame") is not None:
                    out[f"{scenario} {case} CPU µs per frame [{server}]"] = run[
                        "server_cpu_us_per_frame"
                    ]
    for server, run in results.get("saturation", {}).get("runs", {}).items():
        if "held_rate" in run:
            out[f"saturation edits/s held [{server}]"] = run["held_rate"]
    for server, run in results.get("connections", {}).get("runs", {}).items():
        for stage in run.get("stages", []):
            n = stage["clients"]
            out[f"connections {n} KiB each [{server}]"] = stage["per_connection_kib"]
            out[f"connections {n} connect s [{server}]"] = stage["connect_wall_s"]
    for server, sizes in results.get("cold", {}).get("runs", {}).items():
        for size, run in sizes.items():
            if run.get("load_ms") is not None:
                out[f"cold load {size} ms [{server}]"] = run["load_ms"]
    for server, run in results.get("viewers", {}).get("runs", {}).items():
        if "viewer_latency_ms" in run:
            out[f"viewers content p99 ms [{server}]"] = run["viewer_latency_ms"]["p99"]
            out[f"viewers editor p99 ms [{server}]"] = run["editor_latency_ms"]["p99"]
    for server, run in results.get("sigterm", {}).get("runs", {}).items():
        if "lost_pct" in run:
            out[f"sigterm lost % [{server}]"] = run["lost_pct"]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0])
        return 2
    old, new = (json.loads(Path(p).read_text()) for p in argv)
    a, b = headline(old), headline(new)
    print(f"old: {argv[0]} ({old.get('started')}, git {old.get('environment', {}).get('git')})")
    print(f"new: {argv[1]} ({new.get('started')}, git {new.get('environment', {}).get('git')})")
    width = max((len(k) for k in a | b), default=10)
    for key in sorted(a | b):
        before, after = a.get(key), b.get(key)
        change = ""
        if before not in (None, 0) and after is not None:
            change = f"{(after - before) / before:+.0%}"
        show = [("–" if v is None else f"{v:,.1f}").rjust(12) for v in (before, after)]
        print(f"{key.ljust(width)}  {show[0]}  {show[1]}  {change:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
