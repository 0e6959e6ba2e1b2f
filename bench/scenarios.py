"""The scenarios: each runs every selected server through the generator and returns raw results.

A scenario's result is ``{"params": ..., "runs": {server: ...}}``; a run that failed records
``{"error": ...}`` instead of numbers. Problems that make a run a failure (no convergence, a
crash) are collected in ``Context.failures``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generator import GeneratorFailed, GeneratorRun, Json, run_generator
from bench.profiles import summarize
from bench.servers import (
    BENCH_DIR,
    GENERATOR_CPU,
    PEERS_PYTHON,
    Room,
    RunningServer,
    ServerFailed,
    ServerSpec,
    machine_steal,
    pinned,
    register,
    unregister,
)


@dataclass
class Context:
    quick: bool
    servers: list[ServerSpec]
    work: Path  # data directories (deleted at the end)
    logs: Path  # server and generator logs (kept with the results)
    profile: bool = False
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _shared: dict[str, RunningServer] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def fail(self, scenario: str, spec: ServerSpec, problem: str, *, hard: bool = True) -> None:
        """Record a failed run; in the smoke version every failure counts, otherwise Swell's."""
        line = f"{scenario}: {spec.label}: {problem}"
        self.say(f"  ✗ {line}")
        if hard and (self.quick or spec.key == "swell"):
            self.failures.append(line)
        else:
            self.notes.append(line)

    @contextmanager
    def server(self, spec: ServerSpec, scenario: str) -> Iterator[RunningServer]:
        """A running server: a fresh one per scenario, or (smoke version) one shared by all."""
        if self.quick and spec.key in self._shared and self._shared[spec.key].alive:
            yield self._shared[spec.key]
            return
        srv = RunningServer(spec, self.work / f"{spec.key}-{scenario}", self.logs, scenario)
        srv.start()
        if self.quick:
            self._shared[spec.key] = srv
            yield srv
            return
        try:
            yield srv
        finally:
            srv.stop(timeout=10)

    def close(self) -> None:
        for srv in self._shared.values():
            srv.stop(timeout=10)
        self._shared.clear()


def _gen(
    ctx: Context,
    srv: RunningServer,
    config: Json,
    *,
    timeout: float,
    on_mark: Callable[[Json], None] | None = None,
    on_event: Callable[[Json], None] | None = None,
) -> tuple[GeneratorRun, Json]:
    """Run the generator against a server; returns the run and server-side measurements."""
    cpu_before = srv.cpu()
    steal_before = machine_steal()
    started = time.monotonic()
    run = run_generator(
        {"protocol": srv.spec.protocol, "stateful": srv.spec.stateful, **config},
        log_path=ctx.logs / f"loadgen-{srv.spec.key}.log",
        on_mark=on_mark,
        on_event=on_event,
        timeout=timeout,
    )
    wall = time.monotonic() - started
    server_cpu = srv.cpu() - cpu_before if srv.alive else 0.0
    other = max(0.0, run.busy_s - server_cpu - run.cpu_s)
    measured: Json = {
        "server_cpu_share": round(server_cpu / wall, 3),
        "generator_cpu_share": round(run.cpu_s / wall, 3),
        "other_cpu_cores": round(other / wall, 3),  # everything else on the machine
        "steal_cores": round((machine_steal() - steal_before) / wall, 3),  # the hypervisor's
        "server_rss_mib": round(srv.rss() / 2**20, 1) if srv.alive else None,
    }
    if measured["other_cpu_cores"] > 0.15 or measured["steal_cores"] > 0.05:
        ctx.notes.append(
            f"{config['mode']} {srv.spec.label}: other processes used "
            f"{measured['other_cpu_cores']:.2f} cores and the hypervisor stole "
            f"{measured['steal_cores']:.2f} meanwhile (numbers are noisy)"
        )
    return run, measured


def _load_after_restart(ctx: Context, srv: RunningServer, room: Room, state: Path) -> Json:
    """A new client loads the document from the restarted server; its result (cold load and
    completeness, against the state the builder saved)."""
    load, _ = _gen(
        ctx,
        srv,
        {"mode": "load", "url": room.url, "room": room.name, "state_file": str(state)}
        | {"quiet_s": 1 if ctx.quick else 3},
        timeout=120,
    )
    return load.result


def _alive_or_fail(ctx: Context, scenario: str, srv: RunningServer) -> bool:
    if srv.alive:
        return True
    ctx.fail(scenario, srv.spec, f"the server died (exit {srv.proc and srv.proc.returncode})")
    return False


# ---- profiling ----------------------------------------------------------------------------------


@contextmanager
def profiled(ctx: Context, srv: RunningServer, name: str) -> Iterator[None]:
    """py-spy on Swell while the block runs (``--profile``), as raw collapsed stacks; the
    summary of the hottest functions goes next to it."""
    spy = PEERS_PYTHON.parent / "py-spy"
    if not (ctx.profile and srv.spec.key == "swell" and spy.exists()):
        yield
        return
    out = ctx.logs / f"profile-{name}.txt"
    proc = subprocess.Popen(
        pinned(
            GENERATOR_CPU,
            [str(spy), "record", "--pid", str(srv.pid), "--format", "raw", "--rate", "200"]
            + ["--nonblocking", "--output", str(out)],
        ),
        stdout=subprocess.DEVNULL,
        stderr=(ctx.logs / "py-spy.log").open("ab"),
        start_new_session=True,
    )
    register(proc)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        unregister(proc)
        if out.exists():
            summary = summarize(out, 12)
            out.with_suffix(".top.txt").write_text(summary + "\n")
            ctx.say(f"  profile of Swell: {out}\n" + summary)


# ---- 1. fan-out ---------------------------------------------------------------------------------


def fanout_cases(quick: bool) -> list[tuple[int, float, float]]:
    """(clients, seconds between one client's edits, measured seconds)."""
    if quick:
        return [(2, 0.2, 0.6), (10, 0.5, 0.6)]
    return [(2, 1.0, 10), (10, 1.0, 10), (50, 1.0, 15), (200, 1.0, 20), (200, 4.0, 30)]


def case_key(n: int, period: float) -> str:
    return f"N={n} every {period:g}s"


def fanout(ctx: Context) -> Json:
    cases = fanout_cases(ctx.quick)
    runs: dict[str, Any] = {}
    for spec in ctx.servers:
        ctx.say(f"- {spec.label}")
        results: dict[str, Any] = {}
        runs[spec.key] = results
        try:
            with ctx.server(spec, "fanout") as srv:
                for n, period, duration in cases:
                    key = case_key(n, period)
                    drain = 3 if ctx.quick else 30
                    config = {
                        "mode": "fanout",
                        "clients": n,
                        "period_s": period,
                        "duration_s": duration,
                        "drain_s": drain,
                    }
                    room = srv.new_room(f"fanout{n}")
                    config.update(url=room.url, room=room.name)
                    profile = ctx.profile and n >= 200 and period == 1.0
                    with profiled(ctx, srv, f"fanout-{n}") if profile else _nothing():
                        run, measured = _gen(ctx, srv, config, timeout=duration + drain + 120)
                    r = {**run.result, **measured}
                    results[key] = r
                    lat = r["latency_ms"]
                    ctx.say(
                        f"  {key}: p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
                        f"missing {r['missing']}, server CPU {measured['server_cpu_share']:.0%}, "
                        f"generator CPU {r['generator']['cpu']:.0%}"
                        + ("" if r["converged"] else f"  NOT CONVERGED: {r['problems']}")
                    )
                    if not r["converged"]:
                        ctx.fail("fanout", spec, f"{key}: {'; '.join(r['problems'])}")
                    if not _alive_or_fail(ctx, "fanout", srv):
                        break
                    if not ctx.quick:
                        srv.wait_idle(quiet=1.0, limit=30)
        except (GeneratorFailed, ServerFailed, OSError) as e:
            results["error"] = str(e)
            ctx.fail("fanout", spec, str(e))
    return {"params": {"cases": cases}, "runs": runs}


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ---- 2. saturation ------------------------------------------------------------------------------


def saturation(ctx: Context) -> Json:
    if ctx.quick:
        params: Json = {
            "start_rate": 100,
            "max_rate": 200,
            "step_s": 0.6,
            "refine": 0,
            "retry": False,
        }
    else:
        params = {"start_rate": 250, "max_rate": 64000, "step_s": 3, "warmup_s": 0.5, "refine": 3}
    params.update(writers=4, observers=4, p99_limit_ms=100, drain_s=2 if ctx.quick else 5)
    runs: dict[str, Any] = {}
    for spec in ctx.servers:
        ctx.say(f"- {spec.label}")

        def step(message: Json) -> None:
            if message.get("event") == "step":
                lat = message["latency_ms"]
                ctx.say(
                    f"  {message['rate']:>6}/s offered, {message['achieved']:>6}/s sent: "
                    f"p99 {lat['p99']} ms, missing {message['missing']}, "
                    f"generator CPU {message['generator']['cpu']:.0%}"
                    + ("" if message["ok"] else "  ✗")
                )

        try:
            with ctx.server(spec, "saturation") as srv:
                room = srv.new_room("saturation")
                config: Json = {"mode": "saturation", "url": room.url, "room": room.name, **params}
                with profiled(ctx, srv, "saturation"):
                    run, measured = _gen(ctx, srv, config, timeout=900, on_event=step)
                r = {**run.result, **measured}
                runs[spec.key] = r
                ctx.say(
                    f"  held {r['held_rate']}/s (p99 {r['held_p99_ms']} ms); "
                    f"first failure: {r['first_failed']}"
                )
                if not r["converged"]:
                    ctx.fail("saturation", spec, "; ".join(r["problems"]))
                _alive_or_fail(ctx, "saturation", srv)
        except (GeneratorFailed, ServerFailed, OSError) as e:
            runs[spec.key] = {"error": str(e)}
            ctx.fail("saturation", spec, str(e))
    return {"params": params, "runs": runs}


# ---- 3. idle connections ------------------------------------------------------------------------


def connections(ctx: Context) -> Json:
    stages = [20, 50] if ctx.quick else [1000, 5000]
    runs: dict[str, Any] = {}
    for spec in ctx.servers:
        ctx.say(f"- {spec.label}")
        try:
            with ctx.server(spec, "connections") as srv:
                srv.wait_idle(quiet=0.3 if ctx.quick else 1.0, limit=10)
                rss: dict[str, int] = {}

                def measure(
                    mark: Json, srv: RunningServer = srv, rss: dict[str, int] = rss
                ) -> None:
                    if mark["name"] == "baseline":
                        rss["baseline"] = srv.rss()
                    elif mark["name"] == "stage":
                        rss[str(mark["clients"])] = srv.rss()

                room = srv.new_room("idle")
                config: Json = {
                    "mode": "idle",
                    "url": room.url,
                    "room": room.name,
                    "stages": stages,
                }
                config["settle_s"] = 0.2 if ctx.quick else 2
                run, measured = _gen(ctx, srv, config, timeout=600, on_mark=measure)
                r = {**run.result, **measured}
                for stage in r["stages"]:
                    n = stage["clients"]
                    delta = rss[str(n)] - rss["baseline"]
                    stage["rss_mib"] = round(rss[str(n)] / 2**20, 1)
                    stage["per_connection_kib"] = round(delta / n / 1024, 1)
                    ctx.say(
                        f"  {n} clients: connected in {stage['connect_wall_s']} s "
                        f"(p99 {stage['connect_ms']['p99']} ms), "
                        f"{stage['per_connection_kib']} KiB each, closed {stage['closed']}"
                    )
                r["baseline_rss_mib"] = round(rss["baseline"] / 2**20, 1)
                runs[spec.key] = r
                if not r["converged"]:
                    ctx.fail("connections", spec, "; ".join(r["problems"]))
                _alive_or_fail(ctx, "connections", srv)
        except (GeneratorFailed, ServerFailed, OSError, KeyError) as e:
            runs[spec.key] = {"error": str(e)}
            ctx.fail("connections", spec, str(e))
    return {"params": {"stages": stages}, "runs": runs}


# ---- 4. cold load -------------------------------------------------------------------------------


def cold_load(ctx: Context) -> Json:
    sizes = [300] if ctx.quick else [10000, 50000]
    quiet = 0.3 if ctx.quick else 3.0  # Hocuspocus stores 2 s after the last change
    runs: dict[str, Any] = {}
    for spec in [s for s in ctx.servers if s.persists]:
        ctx.say(f"- {spec.label}")
        results: dict[str, Any] = {}
        runs[spec.key] = results
        for size in sizes:
            srv = RunningServer(spec, ctx.work / f"{spec.key}-cold-{size}", ctx.logs, "cold")
            state = ctx.work / f"{spec.key}-cold-{size}.json"
            try:
                srv.start()
                room = srv.new_room("cold")
                config = {
                    "mode": "build",
                    "url": room.url,
                    "room": room.name,
                    "updates": size,
                    "state_file": str(state),
                    "drain_s": 120,
                }

                def built(mark: Json, srv: RunningServer = srv) -> None:
                    srv.wait_idle(quiet=quiet, limit=300)  # clients still connected

                run, _ = _gen(ctx, srv, config, timeout=900, on_mark=built)
                b = run.result
                srv.wait_idle(quiet=quiet, limit=300)  # everyone left
                code, stop_s, killed = srv.stop(timeout=30)
                disk = srv.disk_bytes()
                listen_s = srv.start()
                lr = _load_after_restart(ctx, srv, room, state)
                r = {
                    "updates": size,
                    "build_rate": b["rate"],
                    "build_missing": b["missing"],
                    "stop_s": round(stop_s, 2),
                    "stop_killed": killed,
                    "stop_code": code,
                    "disk_mib": round(disk / 2**20, 2),
                    "restart_listen_s": round(listen_s, 3),
                    "load_ms": lr["load_ms"],
                    "held": lr["held"],
                    "complete": lr["complete"],
                    "load_error": lr["load_error"],
                }
                results[str(size)] = r
                ctx.say(
                    f"  {size} updates: built at {b['rate']}/s, stop {r['stop_s']} s, "
                    f"restart {r['restart_listen_s']} s, cold load {r['load_ms']} ms, "
                    f"holds {lr['held']}/{size}" + ("" if lr["complete"] else "  INCOMPLETE")
                )
                if not lr["complete"]:
                    ctx.fail("cold load", spec, f"{size}: the reloaded document is incomplete")
            except (GeneratorFailed, ServerFailed, OSError) as e:
                results[str(size)] = {"error": str(e)}
                ctx.fail("cold load", spec, f"{size}: {e}")
            finally:
                srv.kill()
                shutil.rmtree(srv.data_dir, ignore_errors=True)
    return {"params": {"sizes": sizes}, "runs": runs}


# ---- 5. viewers ---------------------------------------------------------------------------------


def viewers(ctx: Context) -> Json:
    count = 20 if ctx.quick else 1000
    params = {"viewers": count, "rate": 10, "duration_s": 1.5 if ctx.quick else 30}
    runs: dict[str, Any] = {}
    for spec in [s for s in ctx.servers if s.key == "swell"]:
        ctx.say(f"- {spec.label}")
        try:
            with ctx.server(spec, "viewers") as srv:
                marks: dict[str, tuple[int, float, float]] = {}

                def measure(
                    mark: Json,
                    srv: RunningServer = srv,
                    marks: dict[str, tuple[int, float, float]] = marks,
                ) -> None:
                    marks[mark["name"]] = (srv.rss(), srv.cpu(), time.monotonic())

                room = srv.new_room("viewers")
                config: Json = {"mode": "viewers", "url": room.url, "room": room.name, **params}
                config["sse_url"] = room.sse_url
                with profiled(ctx, srv, "viewers"):
                    run, measured = _gen(ctx, srv, config, timeout=600, on_mark=measure)
                r = {**run.result, **measured}
                base, connected = marks["baseline"], marks["viewers-connected"]
                start, end = marks["measure-start"], marks["measure-end"]
                r["per_viewer_kib"] = round(
                    (connected[0] - base[0]) / max(1, r["viewers"]) / 1024, 1
                )
                r["server_cpu_while_typing"] = round((end[1] - start[1]) / (end[2] - start[2]), 3)
                runs[spec.key] = r
                vl, el = r["viewer_latency_ms"], r["editor_latency_ms"]
                ctx.say(
                    f"  {r['viewers']} viewers: content p50 {vl['p50']} p99 {vl['p99']} ms; "
                    f"editor p99 {el['p99']} ms; server CPU {r['server_cpu_while_typing']:.0%}; "
                    f"{r['per_viewer_kib']} KiB per viewer; "
                    f"behind at end {r['viewers_behind_at_end']}"
                )
                if not r["converged"]:
                    ctx.fail("viewers", spec, "; ".join(r["problems"]))
                if r["viewer_errors"] or r["viewers_behind_at_end"]:
                    ctx.fail(
                        "viewers",
                        spec,
                        f"{r['viewer_errors']} viewers failed, "
                        f"{r['viewers_behind_at_end']} never saw the last edit",
                        hard=ctx.quick,
                    )
                _alive_or_fail(ctx, "viewers", srv)
        except (GeneratorFailed, ServerFailed, OSError, KeyError) as e:
            runs[spec.key] = {"error": str(e)}
            ctx.fail("viewers", spec, str(e))
    return {"params": params, "runs": runs}


# ---- 6. SIGTERM after a burst -------------------------------------------------------------------


def sigterm(ctx: Context) -> Json:
    updates = 300 if ctx.quick else 10000
    runs: dict[str, Any] = {}
    for spec in [s for s in ctx.servers if s.persists]:
        ctx.say(f"- {spec.label}")
        srv = RunningServer(spec, ctx.work / f"{spec.key}-sigterm", ctx.logs, "sigterm")
        state = ctx.work / f"{spec.key}-sigterm.json"
        try:
            srv.start()
            room = srv.new_room("burst")
            signalled: list[float] = []

            def terminate(
                mark: Json, srv: RunningServer = srv, signalled: list[float] = signalled
            ) -> None:
                if mark["name"] == "sent":
                    srv.signal(signal.SIGTERM)
                    signalled.append(time.monotonic())

            config = {
                "mode": "burst",
                "url": room.url,
                "room": room.name,
                "updates": updates,
                "state_file": str(state),
            }
            run, _ = _gen(ctx, srv, config, timeout=120, on_mark=terminate)
            code, waited, killed = srv.wait(timeout=30)
            exit_s = (time.monotonic() - signalled[0]) if signalled else None
            srv.start()
            lr = _load_after_restart(ctx, srv, room, state)
            seen = run.result["seen_by_observer"]
            r = {
                "updates": updates,
                "held": lr["held"],
                "lost_pct": round(100 * (updates - lr["held"]) / updates, 2),
                "seen_by_observer": seen,
                "lost_after_seen": max(0, seen - lr["held"]),
                "exit_s": round(exit_s, 2) if exit_s is not None else None,
                "exit_code": code,
                "killed": killed,
            }
            runs[spec.key] = r
            ctx.say(
                f"  {updates} updates: {r['held']} held after restart ({r['lost_pct']} % lost), "
                f"{seen} had been forwarded, {r['lost_after_seen']} of those lost; "
                f"exit {code} after {r['exit_s']} s" + (" (killed)" if killed else "")
            )
            if spec.key == "swell" and r["lost_after_seen"]:
                ctx.fail("sigterm", spec, f"{r['lost_after_seen']} forwarded updates were lost")
        except (GeneratorFailed, ServerFailed, OSError, IndexError) as e:
            runs[spec.key] = {"error": str(e)}
            ctx.fail("sigterm", spec, str(e))
        finally:
            srv.kill()
            shutil.rmtree(srv.data_dir, ignore_errors=True)
    return {"params": {"updates": updates}, "runs": runs}


SCENARIOS: dict[str, tuple[str, Callable[[Context], Json]]] = {
    "fanout": ("1. fan-out latency", fanout),
    "saturation": ("2. saturation", saturation),
    "connections": ("3. idle connections", connections),
    "cold": ("4. cold load", cold_load),
    "viewers": ("5. viewers (SSE)", viewers),
    "sigterm": ("6. SIGTERM right after a burst", sigterm),
}


def environment() -> Json:
    """What the numbers were measured on and with."""

    def run(command: list[str]) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in run(["lscpu"]).splitlines()
            if "Model name" in line
        ),
        "",
    )
    lock = BENCH_DIR / "package-lock.json"
    pins: dict[str, str] = {}
    if lock.exists():
        packages = json.loads(lock.read_text()).get("packages", {})
        for name in (
            "yjs",
            "y-protocols",
            "lib0",
            "ws",
            "@y/websocket-server",
            "@hocuspocus/server",
        ):
            pins[name] = packages.get(f"node_modules/{name}", {}).get("version", "?")
    if PEERS_PYTHON.exists():
        for line in run([str(PEERS_PYTHON), "-m", "pip", "freeze"]).splitlines():
            name, _, version = line.partition("==")
            if name.lower() in ("pycrdt-websocket", "pycrdt", "hypercorn", "pycrdt-store"):
                pins[name.lower()] = version
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": run(["free", "-h"]).splitlines()[1:2],
        "kernel": run(["uname", "-r"]),
        "node": run(["node", "--version"]),
        "git": run(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short", "HEAD"]),
        "git_subject": run(["git", "-C", str(BENCH_DIR.parent), "log", "-1", "--format=%s"]),
        "server_changes": run(
            ["git", "-C", str(BENCH_DIR.parent), "status", "--porcelain", "--", "server"]
        ).splitlines(),  # uncommitted changes to Swell itself when this ran
        "load_average": os.getloadavg(),
        "pinned": run(["sh", "-c", "command -v taskset"]) != "",
        "versions": pins,
    }
