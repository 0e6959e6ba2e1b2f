"""``python -m bench``: Swell side by side with its peers (see docs/performance.md).

    python -m bench                      # the full suite (about 40 minutes)
    python -m bench --quick              # the smoke version: seconds, asserts convergence only
    python -m bench --only fanout,cold   # some scenarios
    python -m bench --only cursors       # typing with cursors: every edit followed by a caret
    python -m bench --servers swell,yws  # some servers (the bare relay always comes first)
    python -m bench --servers swell,pyrelay  # add the relay on Quart/Hypercorn (Swell's stack)
    python -m bench --servers swell,swell-uvicorn,swell-granian  # Swell's app on other servers
    SWELL_BENCH_BEFORE=/tmp/before python -m bench --servers swell,swell-before,yws
                                         # before and after in one run: "Swell (before)" is
                                         # `swell serve` from that checkout (a git worktree)
    python -m bench --profile            # py-spy on Swell (fan-out N=200, saturation, history)
    python -m bench.compare OLD.json NEW.json

The diagnostics (relay on Quart, Swell on uvicorn or granian, Swell before) run only when named
in --servers, and like the bare relay they are never the "best peer" Swell's ratio is taken
against: that is always y-websocket, Hocuspocus or pycrdt-websocket.

Exit status: 0 when every run converged and nothing crashed (in the full suite a peer that
collapses is a result, not an error), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from bench import cluster
from bench.report import TABLES, targets, targets_text
from bench.scenarios import SCENARIOS as SINGLE_PROCESS
from bench.scenarios import Context, environment
from bench.servers import (
    BENCH_DIR,
    DEFAULT_ORDER,
    GENERATOR_CPU,
    SPECS,
    kill_all,
    pinning_available,
)

SCENARIOS = {**SINGLE_PROCESS, **cluster.SCENARIOS}
ALL_TABLES = {**TABLES, **cluster.TABLES}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the smoke version (seconds)")
    p.add_argument(
        "--only",
        default="",
        help=f"scenarios, comma separated: {','.join(SCENARIOS)} (default: all; cursors is "
        "fan-out's typing with a caret move after every edit)",
    )
    diagnostics = [k for k in SPECS if k not in DEFAULT_ORDER]
    p.add_argument(
        "--servers",
        default="",
        help=f"servers, comma separated (default: {','.join(DEFAULT_ORDER)}; on request: "
        f"{','.join(diagnostics)}; swell-before runs `swell serve` from the checkout "
        "$SWELL_BENCH_BEFORE names)",
    )
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="results directory")
    p.add_argument("--profile", action="store_true", help="record py-spy profiles of Swell")
    p.add_argument(
        "--postgres-url",
        default=cluster.default_postgres_url(),
        help="PostgreSQL for the several-process scenarios (each layout gets a fresh database "
        "on it; default: $SWELL_BENCH_POSTGRES_URL or $SWELL_TEST_POSTGRES_URL)",
    )
    p.add_argument(
        "--redis-url",
        default=cluster.default_redis_url(),
        help="Redis for the several-process scenarios (a fresh key prefix each; default: "
        "$SWELL_BENCH_REDIS_URL or $SWELL_TEST_REDIS_URL)",
    )
    return p.parse_args(argv)


def _pick(text: str, known: list[str], what: str, default: list[str] | None = None) -> list[str]:
    if not text:
        return list(default if default is not None else known)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [k for k in known if k in chosen]


def _exit_on_sigterm(signum: int, frame: Any) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    scenario_keys = _pick(args.only, list(SCENARIOS), "scenarios")
    order = DEFAULT_ORDER + [k for k in SPECS if k not in DEFAULT_ORDER]
    server_keys = _pick(args.servers, order, "servers", DEFAULT_ORDER)
    if "relay" not in server_keys:
        server_keys.insert(0, "relay")  # the generator's yardstick comes first, always
    specs = []
    for key in server_keys:
        spec = SPECS[key]
        why = spec.unavailable()
        if why is not None:
            if args.servers and key in args.servers.split(","):
                raise SystemExit(f"{spec.label} cannot run: {why}")
            print(f"skipping {spec.label}: {why}", flush=True)
            continue
        specs.append(spec)
    if not any(s.key == "relay" for s in specs):
        raise SystemExit("the bare relay cannot run: run `make bench` first (npm ci in bench/)")

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    if pinning_available():
        os.sched_setaffinity(0, {GENERATOR_CPU})  # keep the server's core to the server
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    logs = out / f"{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="swell-bench-"))
    ctx = Context(
        quick=args.quick,
        servers=specs,
        work=work,
        logs=logs,
        profile=args.profile,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
    )
    env = environment()
    print(
        f"Swell benchmark suite{' (smoke version)' if args.quick else ''}: "
        f"{env['nproc']} cores ({env['cpu']}), node {env['node']}, git {env['git']}, "
        f"load average {env['load_average'][0]:.2f}",
        flush=True,
    )
    if env["server_changes"]:
        print(f"note: server/ has uncommitted changes: {len(env['server_changes'])} files")
    if not env["pinned"] or not pinning_available():
        print("warning: no taskset or a single core: server and generator share the CPU")
    print(f"servers: {', '.join(s.label for s in specs)}; logs in {logs}", flush=True)
    started = time.time()
    results: dict[str, Any] = {}
    tables = []
    try:
        for key in scenario_keys:
            title, run = SCENARIOS[key]
            print(f"\n== {title}", flush=True)
            t0 = time.monotonic()
            results[key] = run(ctx)
            results[key]["seconds"] = round(time.monotonic() - t0, 1)
            table = ALL_TABLES[key](results[key], args.quick)
            tables.append(table)
            print("\n" + table.text(), flush=True)
    finally:
        ctx.close()
        kill_all()
        shutil.rmtree(work, ignore_errors=True)
    goals = targets(results) + cluster.targets(results)
    record = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "quick": args.quick,
        "environment": env,
        "servers": [s.key for s in specs],
        "results": results,
        "targets": [t.__dict__ for t in goals],
        "failures": ctx.failures,
        "notes": ctx.notes,
    }
    json_path = out / f"{stamp}.json"
    json_path.write_text(json.dumps(record, indent=1))
    markdown = "\n\n".join(t.markdown() for t in tables)
    markdown += "\n\n**Targets**\n\n" + targets_text(goals, markdown=True) + "\n"
    (out / f"{stamp}.md").write_text(markdown)
    print("\n== Targets (Swell against the best peer in this run)")
    print(targets_text(goals))
    if ctx.notes:
        print("\nNotes:")
        for note in ctx.notes:
            print(f"  - {note}")
    print(f"\n== Markdown (also in {out / (stamp + '.md')})\n")
    print(markdown)
    print(f"results: {json_path} ({record['seconds']:.0f} s)")
    if ctx.failures:
        print("\nFAILED:")
        for failure in ctx.failures:
            print(f"  - {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
