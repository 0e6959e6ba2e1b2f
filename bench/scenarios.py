"""The scenarios: each runs every selected server through the generator and returns raw results.

A scenario's result is ``{"params": ..., "runs": {server: ...}}``; a run that failed records
``{"error": ...}`` instead of numbers. Problems that make a run a failure (no convergence, a
crash) are collected in ``Context.failures``.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.generator import GeneratorFailed, GeneratorRun, Json, run_generator
from bench.profiles import summarize
from bench.servers import (
    BENCH_DIR,
    GENERATOR_CPU,
    HOST,
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
    postgres_url: str = ""  # the several-process scenarios (bench/cluster.py) need both
    redis_url: str = ""
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
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_share": round(server_cpu / wall, 3),
        "generator_cpu_share": round(run.cpu_s / wall, 3),
        "other_cpu_cores": round(other / wall, 3),  # everything else on the machine
        "steal_cores": round((machine_steal() - steal_before) / wall, 3),  # the hypervisor's
        "server_rss_mib": round(srv.rss() / 2**20, 1) if srv.alive else None,
    }
    # CPU per delivered frame: the server's CPU time over this generator run (its whole life:
    # connects, syncs, the measured window, the drain, the convergence check, the closes)
    # divided by the WebSocket messages (of any type) every client received over the same
    # run (loadgen's frames_received). What one frame sent costs the server, everything
    # amortized into it (reading and storing the edits, the awareness, the protocol).
    frames = run.result.get("frames_received")
    if frames and srv.alive:
        measured["server_cpu_us_per_frame"] = round(server_cpu / frames * 1e6, 2)
    # The same per (edit or caret move, receiver) pair delivered (fan-out and cursors): a
    # server that merges a busy room's updates into one message sends fewer frames than
    # y-websocket, which sends one per update and receiver.
    deliveries = run.result.get("deliveries")
    if deliveries and srv.alive:
        measured["server_cpu_us_per_delivery"] = round(server_cpu / deliveries * 1e6, 2)
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
    return _typing(ctx, "fanout", fanout_cases(ctx.quick))


def _per_frame(r: Json) -> str:
    us = r.get("server_cpu_us_per_frame")
    frames = r.get("frames_received")
    typing = r.get("server_cpu_while_typing")
    text = "" if typing is None else f", {typing:.0%} while typing"
    if us is not None:
        text += f"; {us:.1f} µs per delivered frame ({frames:,} frames)"
    if r.get("server_cpu_us_per_delivery") is not None:
        what = "edit or caret" if r.get("cursor_latency_ms") else "edit"
        text += f", {r['server_cpu_us_per_delivery']:.1f} µs per delivered {what}"
    return text


def _typing(ctx: Context, scenario: str, cases: list[tuple[int, float, float]]) -> Json:
    """Fan-out and typing with cursors: N clients in one room, each typing one character per
    period at a random phase (loadgen's "fanout" or "cursors" mode, which is the same typing
    followed by a caret move after every edit)."""
    runs: dict[str, Any] = {}
    for spec in ctx.servers:
        ctx.say(f"- {spec.label}")
        results: dict[str, Any] = {}
        runs[spec.key] = results
        try:
            with ctx.server(spec, scenario) as srv:
                for n, period, duration in cases:
                    key = case_key(n, period)
                    drain = 3 if ctx.quick else 30
                    config = {
                        "mode": scenario,
                        "clients": n,
                        "period_s": period,
                        "duration_s": duration,
                        "drain_s": drain,
                    }
                    room = srv.new_room(f"{scenario}{n}")
                    config.update(url=room.url, room=room.name)
                    profile = ctx.profile and n >= 200 and period == 1.0
                    marks: dict[str, tuple[float, float]] = {}

                    def at_mark(
                        mark: Json,
                        srv: RunningServer = srv,
                        marks: dict[str, tuple[float, float]] = marks,
                    ) -> None:
                        if mark["name"] in ("measure-start", "measure-end") and srv.alive:
                            marks[mark["name"]] = (srv.cpu(), time.monotonic())

                    with profiled(ctx, srv, f"{scenario}-{n}") if profile else _nothing():
                        run, measured = _gen(
                            ctx, srv, config, timeout=duration + 2 * drain + 120, on_mark=at_mark
                        )
                    r = {**run.result, **measured}
                    if len(marks) == 2:  # the server's CPU share while the clients typed
                        (c0, t0), (c1, t1) = marks["measure-start"], marks["measure-end"]
                        r["server_cpu_while_typing"] = round((c1 - c0) / max(1e-3, t1 - t0), 3)
                    results[key] = r
                    lat = r["latency_ms"]
                    caret = r.get("cursor_latency_ms")
                    ctx.say(
                        f"  {key}: p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
                        f"missing {r['missing']}"
                        + (
                            f"; carets p50 {caret['p50']} p99 {caret['p99']} max "
                            f"{caret['max']} ms, missing {r['cursor_missing']}"
                            if caret
                            else ""
                        )
                        + f"; server CPU {measured['server_cpu_share']:.0%}{_per_frame(r)}; "
                        f"generator CPU {r['generator']['cpu']:.0%}"
                        + ("" if r["converged"] else f"  NOT CONVERGED: {r['problems']}")
                    )
                    if not r["converged"]:
                        ctx.fail(scenario, spec, f"{key}: {'; '.join(r['problems'])}")
                    if not _alive_or_fail(ctx, scenario, srv):
                        break
                    if not ctx.quick:
                        srv.wait_idle(quiet=1.0, limit=30)
        except (GeneratorFailed, ServerFailed, OSError) as e:
            results["error"] = str(e)
            ctx.fail(scenario, spec, str(e))
    return {"params": {"cases": cases}, "runs": runs}


# ---- 1b. typing with cursors --------------------------------------------------------------------


def cursors_cases(quick: bool) -> list[tuple[int, float, float]]:
    """(clients, seconds between one client's edits, measured seconds)."""
    if quick:
        return [(10, 0.5, 0.6)]
    return [(50, 1.0, 15), (200, 1.0, 20)]


def cursors(ctx: Context) -> Json:
    """Fan-out's typing, each edit followed at once by an awareness update moving the typist's
    caret, as TipTap's collaboration caret sends on every keystroke: edit latency as in
    fan-out, and caret latency (the awareness update's send to its arrival, by client id and
    clock, at every other client)."""
    return _typing(ctx, "cursors", cursors_cases(ctx.quick))


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


# ---- 7. history ---------------------------------------------------------------------------------

# The documents (see docs/performance.md): the cold scenario's typing workload paced as people
# type, so that every update is a revision (loadgen's `paced` mode: HISTORY_SOCKETS writers at
# once, rounds by HISTORY_AUTHORS authors in turn); the same with every REPLACE_EVERY-th update
# of a writer typing over REPLACE_SPAN characters (most of what is typed is deleted); and the
# cold scenario's own build (one socket, as fast as it goes: the server stores fewer revisions).
HISTORY_AUTHORS = 4
HISTORY_SOCKETS = 8
REPLACE_EVERY = 4
REPLACE_SPAN = (12, 20)


class HttpFailed(RuntimeError):
    pass


class _Http:
    """One kept-alive HTTP/1.1 connection to the server; each call returns (ms, status, body)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[float, int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()  # the server closed a kept-alive connection: once more
                if attempt:
                    raise
                continue
            return (time.perf_counter() - started) * 1000, response.status, body
        raise AssertionError("unreachable")

    def json(self, path: str) -> tuple[float, Json]:
        ms, status, body = self.get(path)
        if status != 200:
            raise HttpFailed(f"GET {path.split('?')[0]}: {status} {body[:200]!r}")
        return ms, json.loads(body)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _stats(values: list[float]) -> Json:
    """p50, p99 and max as the generator computes them (nearest rank), in ms."""
    ordered = sorted(values)

    def rank(p: float) -> float | None:
        if not ordered:
            return None
        return round(
            ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * p / 100) - 1))], 2
        )

    top = round(ordered[-1], 2) if ordered else None
    return {"count": len(ordered), "p50": rank(50), "p99": rank(99), "max": top}


def _make_author(srv: RunningServer, name: str) -> str:
    """A new author's secret (``POST /api/authors``)."""
    conn = http.client.HTTPConnection(HOST, srv.port, timeout=10)
    try:
        body = json.dumps({"name": name})
        conn.request("POST", "/api/authors", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 201:
            raise HttpFailed(f"POST /api/authors: {response.status} {data[:200]!r}")
        return str(json.loads(data)["secret"])
    finally:
        conn.close()


def _stored_bytes(db: Path, doc_id: str) -> Json:
    """What the SQLite file holds for one document: history chunks, snapshots, journal rows
    (read after the server stopped); and the file itself, with its free pages."""
    files = {p.name: p.stat().st_size for p in db.parent.glob(db.name + "*")}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:

        def one(sql: str) -> tuple[int, ...]:
            row = conn.execute(sql, (doc_id,)).fetchone()
            return tuple(int(v or 0) for v in row)

        chunks, data, revisions, checkpoint = one(
            "SELECT count(*), sum(length(data)), sum(length(revisions)), "
            "sum(length(checkpoint)) FROM document_history WHERE document_id = ?"
        )
        snapshots, state = one(
            "SELECT count(*), sum(length(state)) FROM document_snapshots WHERE document_id = ?"
        )
        newest = one(
            "SELECT coalesce((SELECT length(state) FROM document_snapshots WHERE document_id = ? "
            "ORDER BY upto_rev DESC LIMIT 1), 0)"
        )
        rows, journal = one(
            "SELECT count(*), sum(length(data) + length(ids)) FROM document_updates "
            "WHERE document_id = ?"
        )
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    return {
        "history_chunks": chunks,
        "history_bytes": data + revisions + checkpoint,
        "history_data_bytes": data,
        "history_index_bytes": revisions,
        "history_checkpoint_bytes": checkpoint,
        "snapshots": snapshots,
        "snapshot_bytes": newest[0],
        "snapshots_bytes": state,
        "journal_rows": rows,
        "journal_bytes": journal,
        "file_bytes": files.get(db.name, 0),
        "wal_bytes": sum(v for k, v in files.items() if k != db.name),
        "free_bytes": free * page_size,
        "used_bytes": (pages - free) * page_size,
    }


def _history_list(client: _Http, doc: str, newest: int, warm: int) -> Json:
    """``/history?limit=50``: the first request of a fresh process, then warm; every page to
    the first revision through ``next``; a page ending before an early revision."""
    first_ms, page = client.json(f"{doc}/history?limit=50")
    plain_ms = [client.json(doc)[0] for _ in range(warm)]  # the yardstick: a trivial request
    warm_ms = [client.json(f"{doc}/history?limit=50")[0] for _ in range(warm)]
    entries, pages, page_ms = len(page["entries"]), 1, []
    following = page["next"]
    while following is not None:
        ms, page = client.json(f"{doc}/history?limit=50&before={following}")
        page_ms.append(ms)
        entries += len(page["entries"])
        pages += 1
        following = page["next"]
    early = max(2, newest // 50)
    early_ms = [client.json(f"{doc}/history?limit=50&before={early}")[0] for _ in range(warm)]
    return {
        "first_ms": round(first_ms, 2),
        "warm_ms": _stats(warm_ms),
        "plain_ms": _stats(plain_ms),
        "entries": entries,
        "pages": pages,
        "paging_ms": _stats(page_ms),
        "early_before": early,
        "early_ms": _stats(early_ms),
    }


def _renders(client: _Http, doc: str, newest: int, samples: int, seed: int) -> Json:
    """``/content?format=html&rev=R`` for random revisions: the first (fresh process, nothing
    cached) apart from the rest; then the newest revision against the live document."""
    revs = random.Random(seed).sample(range(1, newest + 1), min(samples, newest))
    times: list[float] = []
    for rev in revs:
        ms, status, body = client.get(f"{doc}/content?format=html&rev={rev}")
        if status != 200:
            raise HttpFailed(f"content?rev={rev}: {status} {body[:200]!r}")
        times.append(ms)
    slowest = sorted(zip(times, revs, strict=True), reverse=True)
    _, status, past = client.get(f"{doc}/content?format=html&rev={newest}")
    _, live_status, live = client.get(f"{doc}/content?format=html")
    _, missing_status, _ = client.get(f"{doc}/content?format=html&rev={newest + 1}")
    return {
        "first_ms": round(times[0], 2),
        "first_rev": revs[0],
        "rest_ms": _stats(times[1:]),
        "all_ms": _stats(times),
        "slowest": [(round(ms, 2), rev) for ms, rev in slowest[:5]],  # (ms, revision)
        "newest_matches_live": status == live_status == 200 and past == live,
        "beyond_newest_status": missing_status,
        "newest_html_bytes": len(past),
    }


def edit_token(room: Room) -> str:
    """The edit token of a Swell document's room (it is in its WebSocket URL)."""
    return parse_qs(urlsplit(room.url).query)["token"][0]


def build_history_document(
    ctx: Context, srv: RunningServer, workload: str, name: str, params: Json, options: Json
) -> tuple[Room, Json, GeneratorRun, Json]:
    """A new document on a running Swell, written by ``params["authors"]`` new authors through
    the generator (``options["mode"]``: "paced" or "build", see the history scenario); returns
    its room, the generator's config, its run and the server-side measurements."""
    room = srv.new_room(f"history-{workload}")
    secrets = [_make_author(srv, f"Author {k + 1}") for k in range(params["authors"])]
    config = {
        "url": room.url,
        "room": room.name,
        "updates": params["updates"],
        "writer_urls": [f"{room.url}&author={secret}" for secret in secrets],
        "sockets": params["sockets"],
        "paragraph_every": params["paragraph_every"],
        "state_file": str(ctx.work / f"{name}.json"),  # the build mode writes it
        "drain_s": 120,
        **options,
    }
    run, measured = _gen(ctx, srv, config, timeout=1800)
    return room, config, run, measured


def history(ctx: Context) -> Json:
    size = 120 if ctx.quick else 50000
    params: Json = {
        "updates": size,
        "authors": 2 if ctx.quick else HISTORY_AUTHORS,
        "sockets": 3 if ctx.quick else HISTORY_SOCKETS,
        "paragraph_every": 20 if ctx.quick else 100,
        "samples": 5 if ctx.quick else 200,
        "warm": 2 if ctx.quick else 20,
        "workloads": {
            "typing": {"mode": "paced"},
            "deleting": {
                "mode": "paced",
                "replace_every": REPLACE_EVERY,
                "replace_span": list(REPLACE_SPAN),
            },
            "typing unpaced": {"mode": "build"},
        },
    }
    quiet = 0.3 if ctx.quick else 3.0
    runs: dict[str, Any] = {}
    for spec in [s for s in ctx.servers if s.key == "swell"]:
        ctx.say(f"- {spec.label}")
        results: dict[str, Any] = {}
        runs[spec.key] = results
        for seed, (workload, options) in enumerate(params["workloads"].items()):
            name = f"{spec.key}-history-{workload.replace(' ', '-')}"
            srv = RunningServer(spec, ctx.work / name, ctx.logs, "history")
            client: _Http | None = None
            try:
                srv.start()
                room, config, run, measured = build_history_document(
                    ctx, srv, workload, name, params, options
                )
                client = _Http(srv.port, edit_token(room))
                b = run.result
                srv.wait_idle(quiet=quiet, limit=300)  # the room unloads (and compacts)
                code, stop_s, _killed = srv.stop(timeout=30)  # closing compacts what is left
                stored = _stored_bytes(srv.data_dir / "swell.db", room.name)
                stored["dir_bytes"] = srv.disk_bytes()
                doc = f"/api/docs/{room.name}"
                srv.start()
                _, record = client.json(doc)
                newest = int(record["rev"])
                listing = _history_list(client, doc, newest, params["warm"])
                client.close()
                srv.stop(timeout=30)
                srv.start()  # a fresh process: no index, no history Doc, no render cached
                rss_before = srv.rss()
                with profiled(ctx, srv, f"history-{workload.replace(' ', '-')}"):
                    renders = _renders(client, doc, newest, params["samples"], seed)
                renders["server_rss_mib_before"] = round(rss_before / 2**20, 1)
                renders["server_rss_mib_after"] = round(srv.rss() / 2**20, 1)
                r = {
                    "updates": b["updates"],
                    "build_rate": b["rate"],
                    "build_server_cpu_share": measured["server_cpu_share"],
                    "build_missing": b["missing"],
                    "build_late": b.get("late", 0),
                    "rounds": b.get("rounds"),
                    "typed_chars": b.get("typed_chars", sum(1 + i % 8 for i in range(size))),
                    "deleted_chars": b.get("deleted_chars", 0),
                    "doc_chars": b["doc_chars"],
                    "rev": newest,
                    "stop_code": code,
                    "stop_s": round(stop_s, 2),
                    "disk": stored,
                    "history": listing,
                    "renders": renders,
                }
                results[workload] = r
                per_k = 1000 / max(1, b["updates"])
                ratio = stored["history_bytes"] / max(1, stored["snapshot_bytes"])
                ctx.say(
                    f"  {workload}: {b['updates']} updates built at {b['rate']}/s "
                    f"(typed {r['typed_chars']}, deleted {r['deleted_chars']} characters), "
                    f"rev {newest}; history {stored['history_bytes'] * per_k / 1024:.1f} KiB "
                    f"per 1,000 updates in {stored['history_chunks']} chunks, snapshot "
                    f"{stored['snapshot_bytes'] / 1024:.1f} KiB: {ratio:.2f}x; journal rows left "
                    f"{stored['journal_rows']}; file {stored['file_bytes'] / 2**20:.2f} MiB"
                )
                hl, rd = listing, renders
                ctx.say(
                    f"  {workload}: history list first {hl['first_ms']:.1f} ms, warm p50 "
                    f"{hl['warm_ms']['p50']} ms, {hl['entries']} entries in {hl['pages']} pages "
                    f"(p99 {hl['paging_ms']['p99']} ms); render first {rd['first_ms']:.0f} ms "
                    f"(rev {rd['first_rev']}), then p50 {rd['rest_ms']['p50']} p99 "
                    f"{rd['rest_ms']['p99']} max {rd['rest_ms']['max']} ms; RSS "
                    f"{rd['server_rss_mib_before']} → {rd['server_rss_mib_after']} MiB"
                )
                problems = []
                if b["missing"] or (config["mode"] == "paced" and newest != b["updates"]):
                    problems.append(
                        f"{newest} revisions for {b['updates']} updates sent ({b['missing']} "
                        f"not forwarded, {r['build_late']} forwarded only after 30 s)"
                    )
                if not rd["newest_matches_live"]:
                    problems.append("the newest revision renders unlike the live document")
                if rd["beyond_newest_status"] != 404:
                    problems.append(f"a revision past the newest gave {rd['beyond_newest_status']}")
                if stored["history_chunks"] == 0 or stored["journal_rows"]:
                    problems.append(
                        f"not compacted: {stored['history_chunks']} chunks, "
                        f"{stored['journal_rows']} journal rows"
                    )
                for problem in problems:
                    ctx.fail("history", spec, f"{workload}: {problem}")
            except (GeneratorFailed, ServerFailed, HttpFailed, OSError, KeyError) as e:
                results[workload] = {"error": str(e)}
                ctx.fail("history", spec, f"{workload}: {e}")
            except (http.client.HTTPException, sqlite3.Error, ValueError) as e:
                results[workload] = {"error": repr(e)}
                ctx.fail("history", spec, f"{workload}: {e!r}")
            finally:
                if client is not None:
                    client.close()
                srv.kill()
                shutil.rmtree(srv.data_dir, ignore_errors=True)
    return {"params": params, "runs": runs}


# ---- 8. the history view in a browser -----------------------------------------------------------


def history_ui(ctx: Context) -> Json:
    """Issue 11 §4: a 50,000-update document by 3 authors (typed paced, so every update is a
    revision: the longest history for its size), compacted, on a restarted server; then the
    history view's latency in Chromium, on the editor page and on the viewer page (the server
    restarted before each, so each page's first open is a fresh process's): see bench/ui_timing."""
    from bench import ui_timing

    params: Json = {
        "updates": 120 if ctx.quick else 50000,
        "authors": 2 if ctx.quick else 3,
        "sockets": 3 if ctx.quick else HISTORY_SOCKETS,
        "paragraph_every": 20 if ctx.quick else 100,
        "workload": {"mode": "paced"},
        "reopen": 1 if ctx.quick else 5,
        "arrows": 3 if ctx.quick else 30,
        "home_end": 1 if ctx.quick else 3,
        "pointer": 2 if ctx.quick else 20,
        "targets_ms": {"open": 300, "step": 200},
    }
    runs: dict[str, Any] = {}
    why = ui_timing.unavailable()
    for spec in [s for s in ctx.servers if s.key == "swell"]:
        if why is not None:
            ctx.say(f"  skipped: {why}")
            ctx.notes.append(f"history_ui: skipped: {why}")
            runs[spec.key] = {"skipped": why}
            continue
        ctx.say(f"- {spec.label}")
        name = f"{spec.key}-history-ui"
        srv = RunningServer(spec, ctx.work / name, ctx.logs, "history_ui")
        try:
            srv.start()
            room, _config, run, _measured = build_history_document(
                ctx, srv, "ui", name, params, params["workload"]
            )
            b = run.result
            srv.wait_idle(quiet=0.3 if ctx.quick else 3.0, limit=300)  # it unloads and compacts
            srv.stop(timeout=30)  # closing compacts what is left
            stored = _stored_bytes(srv.data_dir / "swell.db", room.name)
            view = parse_qs(urlsplit(room.sse_url or "").query)["token"][0]
            pages = [
                ("editor", f"/d/{room.name}#{edit_token(room)}"),
                ("viewer", f"/v/{room.name}#{view}"),
            ]

            def restart(page: str, srv: RunningServer = srv) -> None:
                srv.stop(timeout=30)
                srv.start()  # a fresh process: no history index, no rendering cached

            measured = ui_timing.measure(f"http://{HOST}:{srv.port}", pages, params, restart)
            runs[spec.key] = {
                "updates": b["updates"],
                "build_rate": b["rate"],
                "build_missing": b["missing"],
                "history_chunks": stored["history_chunks"],
                "journal_rows": stored["journal_rows"],
                "pages": measured,
            }
            ctx.say(
                f"  {b['updates']} updates by {params['authors']} authors at {b['rate']}/s; "
                f"{stored['history_chunks']} history chunks, {stored['journal_rows']} journal rows"
            )
            for page, m in measured.items():
                ctx.say(f"  {page}: {history_ui_summary(m)}")
                if m["console_errors"]:
                    ctx.fail("history_ui", spec, f"{page}: console errors: {m['console_errors']}")
                for kind, t in m["times"].items():
                    if t.get("not_shown"):
                        ctx.fail(
                            "history_ui",
                            spec,
                            f"{page}: {kind}: {t['not_shown']} not shown within "
                            f"{ui_timing.STEP_TIMEOUT_MS / 1000:.0f} s",
                        )
            if b["missing"]:
                ctx.fail("history_ui", spec, f"{b['missing']} updates not forwarded")
        except (GeneratorFailed, ServerFailed, HttpFailed, OSError, KeyError) as e:
            runs[spec.key] = {"error": str(e)}
            ctx.fail("history_ui", spec, str(e))
        except Exception as e:  # Playwright's errors (a page that never loaded...)
            runs[spec.key] = {"error": repr(e)}
            ctx.fail("history_ui", spec, repr(e))
        finally:
            srv.kill()
            shutil.rmtree(srv.data_dir, ignore_errors=True)
    return {"params": params, "runs": runs}


def history_ui_summary(page: Json) -> str:
    """One line: p50/p95/max per kind (until the frame showing the change is rendered), in ms."""
    parts = []
    for kind, t in page["times"].items():
        f = t.get("frame_ms")
        text = f"{kind} {f['p50']}/{f['p95']}/{f['max']}" if f else kind
        if t.get("not_shown"):
            text += f" ({t['not_shown']} not shown)"
        parts.append(text)
    return (
        f"p50/p95/max ms: {'; '.join(parts)} (revision {page['newest']}; the machine's busy "
        f"cores meanwhile {page.get('machine_busy_cores')}, load {page.get('load_average'):.2f})"
    )


SCENARIOS: dict[str, tuple[str, Callable[[Context], Json]]] = {
    "fanout": ("1. fan-out latency", fanout),
    "cursors": ("1b. typing with cursors", cursors),
    "saturation": ("2. saturation", saturation),
    "connections": ("3. idle connections", connections),
    "cold": ("4. cold load", cold_load),
    "viewers": ("5. viewers (SSE)", viewers),
    "sigterm": ("6. SIGTERM right after a burst", sigterm),
    "history": ("7. history (Swell only)", history),
    "history_ui": ("8. the history view in a browser (Swell only)", history_ui),
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
