"""Several Swell processes on one PostgreSQL database and one Redis (issue 12, "Numbers").

Three scenarios, each comparing cluster layouts of Swell on PostgreSQL (a fresh database per
layout, dropped afterwards) and Redis (a fresh key prefix per layout, its keys deleted
afterwards), every process a ``swell serve`` of its own on its own port, so that the generator
decides which client talks to which process:

- ``cluster_rooms``: many rooms (500 x 4 clients typing); the highest total edit rate held with
  p99 (edit to the room's other clients) ≤ 100 ms, with 1 process and with 2 (a room's clients
  assigned round-robin, so every room spans both). Target: 2 processes ≥ 1.7x 1 process.
- ``cluster_fanout``: one room of 200 clients typing once a second, on 1 process and split over 2.
  Target: p99 on 2 within 1.5x of 1.
- ``cluster_failover``: 2 processes under load, one SIGKILLed: how long until each of its clients
  is resynced through the other (goal p99 ≤ 3 s), and how many updates anyone was shown are
  missing from the final document (goal 0), read from the survivor and then from a fresh
  process that loads it from PostgreSQL.

Layouts: 2 processes with Redis; 1 process with Redis (the baseline of the targets); 1 process
on PostgreSQL without Redis; and, for reference, 1 process on SQLite (the default). The
smoke version runs only the 2 processes. The bare relay (1 process) runs first: whatever it
cannot carry, the generator cannot drive.

Unlike the single-process scenarios nothing is pinned: on this 2-core machine the generator,
PostgreSQL and Redis share the cores with the servers, so every step records the CPU each of
them used (the servers, the generator, PostgreSQL's processes, Redis, the rest).

They run when PostgreSQL and Redis are given (``--postgres-url``/``--redis-url``, or
``SWELL_BENCH_POSTGRES_URL``/``SWELL_BENCH_REDIS_URL``, or the test suite's
``SWELL_TEST_POSTGRES_URL``/``SWELL_TEST_REDIS_URL``); otherwise they are skipped with a note.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.generator import GeneratorFailed, GeneratorRun, Json, run_generator
from bench.report import Cell, Row, Table, Target, _ms
from bench.scenarios import Context
from bench.servers import (
    HOST,
    SPECS,
    SWELL_BENCH_LIMITS,
    Room,
    RunningServer,
    ServerFailed,
    ServerSpec,
    machine_busy,
    machine_steal,
    process_cpu,
    swell_executable,
)

POSTGRES_ENVS = ("SWELL_BENCH_POSTGRES_URL", "SWELL_TEST_POSTGRES_URL")
REDIS_ENVS = ("SWELL_BENCH_REDIS_URL", "SWELL_TEST_REDIS_URL")


def default_postgres_url() -> str:
    return next((os.environ[k] for k in POSTGRES_ENVS if os.environ.get(k)), "")


def default_redis_url() -> str:
    return next((os.environ[k] for k in REDIS_ENVS if os.environ.get(k)), "")


@dataclass(frozen=True)
class Layout:
    """How many processes, and whether they share Redis (without it a process is alone); on
    PostgreSQL, or (the single-process default, for reference) on SQLite."""

    key: str
    label: str
    processes: int
    redis: bool
    sqlite: bool = False


SQLITE = Layout("sqlite", "1 process on SQLite", 1, False, sqlite=True)
ALONE = Layout("alone", "1 process, no Redis", 1, False)
ONE = Layout("one", "1 process", 1, True)
TWO = Layout("two", "2 processes", 2, True)
LAYOUTS = [SQLITE, ALONE, ONE, TWO]
RELAY = "relay"  # the generator's yardstick, one process


def _layouts(ctx: Context) -> list[Layout]:
    """Every layout; the smoke version runs the one that matters (its point is that the
    scenarios run and converge, in seconds)."""
    return [TWO] if ctx.quick else LAYOUTS


# ---- a cluster: a fresh database, a fresh Redis prefix, N processes ----------------------------


def _admin(base_url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL server of ``base_url`` (outside a transaction)."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under ``prefix:`` (never anything else: the Redis is shared)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
        return deleted
    finally:
        client.close()


class Cluster:
    """``layout.processes`` Swell processes on a fresh PostgreSQL database (and, with Redis, a
    fresh key prefix); started one after the other (the first applies the migrations)."""

    def __init__(self, ctx: Context, scenario: str, layout: Layout) -> None:
        self.ctx = ctx
        self.layout = layout
        self.scenario = scenario
        tag = uuid.uuid4().hex[:10]
        self.database = f"swell_bench_{tag}"
        self.prefix = f"swellbench-{tag}"
        base = ctx.postgres_url
        self.database_url = (
            f"sqlite+aiosqlite:///{ctx.work / f'{scenario}-{tag}.db'}"
            if layout.sqlite
            else _with_database(base, self.database)
        )
        redis_url = ctx.redis_url if layout.redis else ""
        prefix = self.prefix

        def command(port: int, data: Path) -> list[str]:
            cmd = [str(swell_executable()), "serve", "--port", str(port)]
            cmd += ["--database-url", self.database_url]
            if redis_url:
                cmd += ["--redis-url", redis_url, "--redis-prefix", prefix]
            return cmd + SWELL_BENCH_LIMITS

        self.spec = ServerSpec(
            "swell", f"Swell, {layout.label}", "yws", True, True, False, command, "swell", True
        )
        self.servers: list[RunningServer] = []
        self._created = False

    def start(self) -> None:
        if not self.layout.sqlite:
            _admin(self.ctx.postgres_url, f'CREATE DATABASE "{self.database}"')
            self._created = True
        for _ in range(self.layout.processes):
            self.add_process()

    def add_process(self) -> RunningServer:
        """One more process on the same database and prefix (started, listening)."""
        n = len(self.servers)
        srv = RunningServer(
            self.spec,
            self.ctx.work / f"{self.scenario}-{self.layout.key}-{n}",
            self.ctx.logs,
            f"{self.scenario}-{self.layout.key}-p{n}",
            pin=False,
        )
        self.servers.append(srv)
        srv.start()
        return srv

    @property
    def live(self) -> list[RunningServer]:
        return [s for s in self.servers if s.alive]

    def close(self) -> None:
        for srv in self.servers:
            if srv.alive:
                srv.stop(timeout=10)
            srv.kill()
        if self._created:
            try:
                _admin(
                    self.ctx.postgres_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
                )
            except Exception as e:  # the run's numbers stand; say what was left behind
                self.ctx.notes.append(f"could not drop the database {self.database}: {e!r}")
        if self.layout.redis:
            try:
                _delete_redis_keys(self.ctx.redis_url, self.prefix)
            except Exception as e:
                self.ctx.notes.append(f"could not delete Redis keys {self.prefix}:*: {e!r}")


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextmanager
def cluster(ctx: Context, scenario: str, layout: Layout) -> Iterator[Cluster]:
    c = Cluster(ctx, scenario, layout)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _skip_reason(ctx: Context) -> str | None:
    if not ctx.postgres_url or not ctx.redis_url:
        return (
            "needs PostgreSQL and Redis: --postgres-url and --redis-url (or "
            "SWELL_BENCH_POSTGRES_URL and SWELL_BENCH_REDIS_URL)"
        )
    if "swell" not in {s.key for s in ctx.servers}:
        return "Swell is not among --servers"
    return None


def _rooms_file(ctx: Context, name: str, bases: list[str], rooms: list[Room]) -> Path:
    """The rooms the generator connects to: each process's address, each room's path."""
    path = ctx.work / f"{name}-rooms.json"
    specs = []
    for room in rooms:
        parts = urlsplit(room.url)
        specs.append(
            {"name": room.name, "path": parts.path + (f"?{parts.query}" if parts.query else "")}
        )
    path.write_text(json.dumps({"bases": bases, "rooms": specs}))
    return path


def _bases(servers: list[RunningServer]) -> list[str]:
    return [f"ws://{HOST}:{srv.port}" for srv in servers]


# ---- CPU: the servers, PostgreSQL, Redis, everything else ---------------------------------------


@dataclass
class CpuSample:
    t: float
    busy: float  # every process's CPU seconds since boot
    steal: float
    groups: dict[int, tuple[str, float]]  # pid -> (servers | postgres | redis, CPU seconds)


def cpu_sample(server_pids: list[int]) -> CpuSample:
    """CPU seconds so far of the servers and of every PostgreSQL and Redis process."""
    groups: dict[int, tuple[str, float]] = {}
    for pid in server_pids:
        groups[pid] = ("servers", _cpu_or_none(pid) or 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in groups:
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        group = "postgres" if comm == "postgres" else "redis" if comm.startswith("redis") else ""
        if group:
            cpu = _cpu_or_none(int(entry))
            if cpu is not None:
                groups[int(entry)] = (group, cpu)
    return CpuSample(time.monotonic(), machine_busy(), machine_steal(), groups)


def _cpu_or_none(pid: int) -> float | None:
    try:
        return process_cpu(pid)
    except (OSError, IndexError, ValueError):
        return None


def cpu_shares(a: CpuSample, b: CpuSample, generator: float | None = None) -> Json:
    """Cores each group used between two samples (a process started meanwhile counts whole);
    ``other`` is the machine's busy time less the servers, PostgreSQL, Redis and the generator."""
    wall = max(1e-6, b.t - a.t)
    used = {"servers": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (group, cpu) in b.groups.items():
        before = a.groups.get(pid, (group, 0.0))[1]
        used[group] += max(0.0, cpu - before)
    shares: Json = {k: round(v / wall, 3) for k, v in used.items()}
    shares["generator"] = generator
    busy = (b.busy - a.busy) / wall
    shares["machine"] = round(busy, 3)
    shares["other"] = round(max(0.0, busy - sum(used.values()) / wall - (generator or 0.0)), 3)
    shares["steal"] = round((b.steal - a.steal) / wall, 3)
    return shares


# ---- running the generator against a cluster ----------------------------------------------------


def _run(
    ctx: Context,
    name: str,
    servers: list[RunningServer],
    config: Json,
    *,
    timeout: float,
    on_mark: Callable[[Json], None] | None = None,
    on_event: Callable[[Json], None] | None = None,
) -> tuple[GeneratorRun, Json]:
    """The generator, unpinned, against these servers; with their CPU and memory meanwhile."""
    pids = [s.pid for s in servers if s.alive]
    before = cpu_sample(pids)
    run = run_generator(
        {"protocol": "yws", **config},
        log_path=ctx.logs / f"loadgen-{name}.log",
        on_mark=on_mark,
        on_event=on_event,
        timeout=timeout,
        pin=False,
    )
    after = cpu_sample(pids)
    shares = cpu_shares(before, after, round(run.cpu_s / max(1e-6, after.t - before.t), 3))
    rss = [round(s.rss() / 2**20, 1) for s in servers if s.alive]
    return run, {"cpu_whole_run": shares, "server_rss_mib": rss}


def settle(servers: list[RunningServer], quick: bool) -> float:
    """Wait until every server is done with what the connects started (room loads, joins,
    awareness), so that the first measured step does not pay for them; the seconds waited."""
    started = time.monotonic()
    for srv in servers:
        if srv.alive:
            srv.wait_idle(quiet=0.3 if quick else 2.0, limit=10 if quick else 120, threshold=0.1)
    return time.monotonic() - started


class StepCpu:
    """The CPU each group used during every rate step (the generator marks each step's ends);
    at the generator's "settle" mark, waits until the servers are idle."""

    def __init__(self, servers: list[RunningServer], quick: bool) -> None:
        self.servers = servers
        self.quick = quick
        self.pids = [s.pid for s in servers]
        self.start: CpuSample | None = None
        self.steps: list[Json] = []
        self.settled_s = 0.0

    def __call__(self, mark: Json) -> None:
        if mark["name"] == "settle":
            self.settled_s += settle(self.servers, self.quick)
        elif mark["name"] == "step-start":
            self.start = cpu_sample(self.pids)
        elif mark["name"] == "step-end" and self.start is not None:
            self.steps.append(cpu_shares(self.start, cpu_sample(self.pids)))
            self.start = None

    def attach(self, steps: list[Json]) -> None:
        """Each step's CPU into the generator's step (in order; its own CPU share included)."""
        for step, cpu in zip(steps, self.steps, strict=False):
            cpu["generator"] = step["generator"]["cpu"]
            cpu["other"] = round(max(0.0, cpu["other"] - (cpu["generator"] or 0.0)), 3)
            step["cpu"] = cpu


def _say_step(ctx: Context) -> Callable[[Json], None]:
    def step(message: Json) -> None:
        if message.get("event") == "step":
            lat = message["latency_ms"]
            ctx.say(
                f"    {message['rate']:>6}/s offered, {message['achieved']:>6}/s sent: "
                f"p99 {lat['p99']} ms, missing {message['missing']}, "
                f"generator CPU {message['generator']['cpu']:.0%}"
                + ("" if message["ok"] else "  ✗")
            )

    return step


def _held_cpu(run: Json) -> Json | None:
    good = [s for s in run.get("steps", []) if s["ok"] and s["rate"] == run.get("held_rate")]
    return good[-1].get("cpu") if good else None


# ---- 1. many rooms ------------------------------------------------------------------------------


def rooms_params(quick: bool) -> Json:
    if quick:
        params: Json = {"rooms": 8, "start_rate": 100, "max_rate": 200, "step_s": 0.6}
        params.update(refine=0, retry=False, drain_s=2, joiners=2)
    else:
        params = {"rooms": 500, "start_rate": 25, "max_rate": 64000, "step_s": 4, "warmup_s": 0.5}
        params.update(refine=3, rate_unit=5, drain_s=5, joiners=10)
    return {**params, "per_room": 4, "p99_limit_ms": 100}


def cluster_rooms(ctx: Context) -> Json:
    params = rooms_params(ctx.quick)
    runs: dict[str, Any] = {}
    why = _skip_reason(ctx)
    if why is not None:
        return _skipped(ctx, "cluster_rooms", params, why)
    stepper = _say_step(ctx)

    def measure(name: str, servers: list[RunningServer], rooms: list[Room], stateful: bool) -> Json:
        cpu = StepCpu(servers, ctx.quick)
        config: Json = {
            "mode": "rooms",
            "stateful": stateful,
            "rooms_file": str(_rooms_file(ctx, name, _bases(servers), rooms)),
            **params,
        }
        run, measured = _run(
            ctx, name, servers, config, timeout=1500, on_mark=cpu, on_event=stepper
        )
        r = {**run.result, **measured, "settled_s": round(cpu.settled_s, 1)}
        cpu.attach(r["steps"])
        held = _held_cpu(r)
        ctx.say(
            f"  held {r['held_rate']}/s (p99 {r['held_p99_ms']} ms); first failure: "
            f"{r['first_failed']}; CPU at that rate: {_cpu_text(held)}"
        )
        return r

    if any(s.key == RELAY for s in ctx.servers):
        ctx.say("- bare relay (1 process: the generator's yardstick)")
        relay = RunningServer(
            SPECS[RELAY], ctx.work / "cluster-relay", ctx.logs, "cluster_rooms", pin=False
        )
        try:
            relay.start()
            rooms = [relay.new_room("rooms") for _ in range(params["rooms"])]
            runs[RELAY] = measure("cluster-rooms-relay", [relay], rooms, stateful=False)
            if not runs[RELAY]["converged"]:
                ctx.fail("cluster_rooms", SPECS[RELAY], "; ".join(runs[RELAY]["problems"]))
        except (GeneratorFailed, ServerFailed, OSError) as e:
            runs[RELAY] = {"error": str(e)}
            ctx.fail("cluster_rooms", SPECS[RELAY], str(e))
        finally:
            relay.kill()
    for layout in _layouts(ctx):
        ctx.say(f"- Swell, {layout.label}")
        c = Cluster(ctx, "cluster_rooms", layout)
        try:
            c.start()
            rooms = [c.servers[0].new_room("rooms") for _ in range(params["rooms"])]
            r = measure(f"cluster-rooms-{layout.key}", c.servers, rooms, stateful=True)
            r["processes"] = layout.processes
            r["redis"] = layout.redis
            runs[layout.key] = r
            if not r["converged"]:
                ctx.fail("cluster_rooms", c.spec, "; ".join(r["problems"]))
            _all_alive(ctx, "cluster_rooms", c)
        except (GeneratorFailed, ServerFailed, OSError) as e:
            runs[layout.key] = {"error": str(e)}
            ctx.fail("cluster_rooms", c.spec, str(e))
        finally:
            c.close()
    return {"params": params, "runs": runs}


def _all_alive(ctx: Context, scenario: str, c: Cluster) -> bool:
    dead = [s for s in c.servers if not s.alive]
    for srv in dead:
        ctx.fail(scenario, c.spec, f"a process died (exit {srv.proc and srv.proc.returncode})")
    return not dead


def _cpu_text(cpu: Json | None) -> str:
    if not cpu:
        return "–"
    gen = cpu.get("generator")
    return (
        f"servers {cpu['servers']:.2f}, generator {gen if gen is None else f'{gen:.2f}'}, "
        f"PostgreSQL {cpu['postgres']:.2f}, Redis {cpu['redis']:.2f}, other {cpu['other']:.2f} "
        f"cores (machine {cpu['machine']:.2f} of {os.cpu_count()})"
    )


def _skipped(ctx: Context, scenario: str, params: Json, why: str) -> Json:
    ctx.say(f"  skipped: {why}")
    ctx.notes.append(f"{scenario}: skipped: {why}")
    return {"params": params, "runs": {}, "skipped": why}


# ---- 2. one big room ----------------------------------------------------------------------------


def fanout_params(quick: bool) -> Json:
    if quick:
        return {"clients": 10, "period_s": 0.5, "duration_s": 0.6, "drain_s": 3}
    return {"clients": 200, "period_s": 1.0, "duration_s": 20, "drain_s": 30}


def cluster_fanout(ctx: Context) -> Json:
    params = fanout_params(ctx.quick)
    why = _skip_reason(ctx)
    if why is not None:
        return _skipped(ctx, "cluster_fanout", params, why)
    runs: dict[str, Any] = {}

    def measure(name: str, servers: list[RunningServer], room: Room, stateful: bool) -> Json:
        parts = urlsplit(room.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        urls = [base + path for base in _bases(servers)]
        config: Json = {
            "mode": "fanout",
            "stateful": stateful,
            "url": urls[0],
            "urls": urls,
            "joiner_url": urls[-1],
            "room": room.name,
            **params,
        }
        timeout = params["duration_s"] + params["drain_s"] + 180
        run, measured = _run(ctx, name, servers, config, timeout=timeout)
        r = {**run.result, **measured}
        lat, cpu = r["latency_ms"], r["cpu_whole_run"]
        ctx.say(
            f"  p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, missing {r['missing']}; "
            f"CPU over the run: {_cpu_text(cpu)}"
            + ("" if r["converged"] else f"  NOT CONVERGED: {r['problems']}")
        )
        return r

    if any(s.key == RELAY for s in ctx.servers):
        ctx.say("- bare relay (1 process: the generator's yardstick)")
        relay = RunningServer(
            SPECS[RELAY], ctx.work / "cluster-relay", ctx.logs, "cluster_fanout", pin=False
        )
        try:
            relay.start()
            runs[RELAY] = measure("cluster-fanout-relay", [relay], relay.new_room("fan"), False)
            if not runs[RELAY]["converged"]:
                ctx.fail("cluster_fanout", SPECS[RELAY], "; ".join(runs[RELAY]["problems"]))
        except (GeneratorFailed, ServerFailed, OSError) as e:
            runs[RELAY] = {"error": str(e)}
            ctx.fail("cluster_fanout", SPECS[RELAY], str(e))
        finally:
            relay.kill()
    for layout in _layouts(ctx):
        ctx.say(f"- Swell, {layout.label}")
        c = Cluster(ctx, "cluster_fanout", layout)
        try:
            c.start()
            r = measure(
                f"cluster-fanout-{layout.key}", c.servers, c.servers[0].new_room("fan"), True
            )
            r["processes"] = layout.processes
            r["redis"] = layout.redis
            runs[layout.key] = r
            if not r["converged"]:
                ctx.fail("cluster_fanout", c.spec, "; ".join(r["problems"]))
            _all_alive(ctx, "cluster_fanout", c)
        except (GeneratorFailed, ServerFailed, OSError) as e:
            runs[layout.key] = {"error": str(e)}
            ctx.fail("cluster_fanout", c.spec, str(e))
        finally:
            c.close()
    return {"params": params, "runs": runs}


# ---- 3. one of two processes killed -------------------------------------------------------------


class HttpFailed(RuntimeError):
    pass


def _text(srv: RunningServer, room: Room) -> str:
    """The document's text as that process serves it (``GET …/content?format=text``)."""
    token = parse_qs(urlsplit(room.url).query)["token"][0]
    request = urllib.request.Request(
        f"http://{HOST}:{srv.port}/api/docs/{room.name}/content?format=text",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.read().decode())
    except OSError as e:
        raise HttpFailed(f"GET content of {room.name} on port {srv.port}: {e}") from e


MARKER = re.compile(r"#(\d+):([a-z]*)")


def held_edits(text: str) -> dict[int, int]:
    """Edits each generator client's paragraph holds: its marker ("#g:") and one per letter."""
    held: dict[int, int] = {}
    for block in text.split("\n\n"):
        m = MARKER.fullmatch(block.strip())
        if m:
            held[int(m.group(1))] = 1 + len(m.group(2))
    return held


def count_lost(tally: list[list[Any]], texts: dict[str, str]) -> Json:
    """Against the server's text: updates some client was shown that it does not hold, and
    updates sent that it does not hold (clients resend what a dead process never committed)."""
    held: dict[int, int] = {}
    for text in texts.values():
        held.update(held_edits(text))
    lost_shown = lost_sent = clients_short = 0
    shown_total = sent_total = 0
    for _room, g, sent, shown in tally:
        have = held.get(int(g), 0)
        lost_shown += max(0, int(shown) - have)
        lost_sent += max(0, int(sent) - have)
        clients_short += int(have < int(sent))
        shown_total += int(shown)
        sent_total += int(sent)
    return {
        "sent": sent_total,
        "shown": shown_total,
        "lost_although_shown": lost_shown,
        "missing_of_sent": lost_sent,
        "clients_short": clients_short,
    }


def failover_params(quick: bool) -> Json:
    if quick:
        params: Json = {"rooms": 6, "rate": 60, "before_s": 1.0, "after_s": 3.0, "joiners": 2}
    else:
        params = {"rooms": 200, "rate": 25, "before_s": 5.0, "after_s": 10.0, "joiners": 10}
    return {**params, "per_room": 4, "drain_s": 30, "resync_limit_s": 30}


def cluster_failover(ctx: Context) -> Json:
    params = failover_params(ctx.quick)
    why = _skip_reason(ctx)
    if why is not None:
        return _skipped(ctx, "cluster_failover", params, why)
    runs: dict[str, Any] = {}
    ctx.say(f"- Swell, {TWO.label}, the second SIGKILLed")
    c = Cluster(ctx, "cluster_failover", TWO)
    try:
        c.start()
        rooms = [c.servers[0].new_room("failover") for _ in range(params["rooms"])]
        by_name = {room.name: room for room in rooms}
        killed: dict[str, float] = {}

        def kill(mark: Json) -> None:
            if mark["name"] == "settle":
                settle(c.servers, ctx.quick)
            elif mark["name"] == "kill":
                victim = c.servers[int(mark["process"])]
                killed["at"] = time.monotonic()
                victim.kill()  # SIGKILL, its whole process group

        config: Json = {
            "mode": "failover",
            "joiner_base": 0,  # the survivor
            "rooms_file": str(_rooms_file(ctx, "cluster-failover", _bases(c.servers), rooms)),
            **params,
        }
        run, measured = _run(ctx, "cluster-failover", c.servers, config, timeout=600, on_mark=kill)
        r = {**run.result, **measured}
        tally = r.pop("tally")
        survivor = c.servers[0]
        r["lost_survivor"] = count_lost(tally, {n: _text(survivor, by_name[n]) for n in by_name})
        # PostgreSQL is the truth: the survivor SIGKILLed too (nothing flushed on the way out),
        # a fresh process loads every document from the database
        survivor.kill()
        fresh = c.add_process()
        r["lost_database"] = count_lost(tally, {n: _text(fresh, by_name[n]) for n in by_name})
        runs["two"] = r
        rs, back = r["resync_ms"], r["reconnect_ms"]
        ls, ld = r["lost_survivor"], r["lost_database"]
        ctx.say(
            f"  {r['victims']} clients on the killed process: resynced p50 {rs['p50']} p99 "
            f"{rs['p99']} max {rs['max']} ms (reconnected and synced p99 {back['p99']} ms), "
            f"{r['not_resynced']} not resynced; lost although shown: {ls['lost_although_shown']} "
            f"(survivor), {ld['lost_although_shown']} (fresh process, from PostgreSQL) of "
            f"{ld['shown']}; sent but missing: {ld['missing_of_sent']} of {ld['sent']}; "
            f"CPU over the run: {_cpu_text(r['cpu_whole_run'])}"
        )
        if not r["converged"]:
            ctx.fail("cluster_failover", c.spec, "; ".join(r["problems"]))
        for where, lost in (("survivor", ls), ("PostgreSQL", ld)):
            if lost["lost_although_shown"]:
                ctx.fail(
                    "cluster_failover",
                    c.spec,
                    f"{lost['lost_although_shown']} updates clients were shown are not in the "
                    f"document ({where})",
                )
        if r["not_resynced"]:
            ctx.fail("cluster_failover", c.spec, f"{r['not_resynced']} clients never resynced")
    except (GeneratorFailed, ServerFailed, HttpFailed, OSError, KeyError) as e:
        runs["two"] = {"error": str(e)}
        ctx.fail("cluster_failover", c.spec, str(e))
    finally:
        c.close()
    return {"params": params, "runs": runs}


SCENARIOS: dict[str, tuple[str, Callable[[Context], Json]]] = {
    "cluster_rooms": ("9. several processes: many rooms (PostgreSQL + Redis)", cluster_rooms),
    "cluster_fanout": (
        "10. several processes: one room of many (PostgreSQL + Redis)",
        cluster_fanout,
    ),
    "cluster_failover": (
        "11. several processes: one of two killed (PostgreSQL + Redis)",
        cluster_failover,
    ),
}


# ---- tables and targets -------------------------------------------------------------------------


def _column(key: str, label: str) -> ServerSpec:
    """A table column for a layout (the tables only read key and label)."""
    return ServerSpec(key, label, "yws", False, False, False, lambda p, d: [], "swell")


def _columns(result: Json) -> list[ServerSpec]:
    labels = {RELAY: "bare relay (1 process)", **{layout.key: layout.label for layout in LAYOUTS}}
    return [_column(key, label) for key, label in labels.items() if key in result["runs"]]


def _skipped_table(title: str, result: Json) -> Table | None:
    if "skipped" not in result:
        return None
    table = Table(title, [_column("swell", "Swell")])
    table.rows.append(Row("skipped", {"swell": Cell(None, result["skipped"])}))
    return table


def _cpu_cells(rows: dict[str, dict[str, Cell]], key: str, cpu: Json | None) -> None:
    if not cpu:
        return
    for group, label in (
        ("servers", "servers"),
        ("generator", "generator"),
        ("postgres", "PostgreSQL"),
        ("redis", "Redis"),
        ("other", "other"),
    ):
        value = cpu.get(group)
        rows.setdefault(label, {})[key] = Cell(value, "–" if value is None else f"{value:.2f}")


def rooms_table(result: Json, quick: bool) -> Table:
    p = result["params"]
    title = (
        f"9. Several processes: {p['rooms']:,} rooms × {p['per_room']} clients typing, highest "
        f"rate held with p99 ≤ {p['p99_limit_ms']} ms"
    )
    skipped = _skipped_table(title, result)
    if skipped:
        return skipped
    table = Table(title, _columns(result))
    held: dict[str, Cell] = {}
    p99: dict[str, Cell] = {}
    first: dict[str, Cell] = {}
    per_core: dict[str, Cell] = {}
    cpu_rows: dict[str, dict[str, Cell]] = {}
    for key, run in result["runs"].items():
        if "error" in run:
            held[key] = Cell(None, "error", ok=False)
            continue
        text = f"{run['held_rate']:,}/s"
        if key == RELAY and run.get("generator_limited"):
            text += " (generator's limit)"
        held[key] = Cell(run["held_rate"], text, run["converged"])
        p99[key] = Cell(run["held_p99_ms"], _ms(run["held_p99_ms"]), run["converged"])
        ff = run["first_failed"]
        first[key] = Cell(None, f"{ff['rate']:,}/s: {ff['reason']}" if ff else "none")
        cpu = _held_cpu(run)
        _cpu_cells(cpu_rows, key, cpu)
        if cpu and cpu["servers"] > 0:
            per_core[key] = Cell(None, f"{run['held_rate'] / cpu['servers']:,.0f}/s")
    table.rows += [
        Row("edits/s held", held),
        Row("p99 at that rate", p99),
        Row("first rate not held", first),
    ]
    table.rows += [Row(f"at that rate, cores used by: {k}", v) for k, v in cpu_rows.items()]
    table.rows.append(Row("edits/s held per core the servers used", per_core))
    ratio = _rooms_ratio(result)
    if ratio is not None:
        table.notes.append(
            f"2 processes ÷ 1 process (both with Redis): {ratio:.2f}x (target ≥ 1.7x)"
        )
    table.notes.append(
        f"nothing pinned: servers, generator, PostgreSQL and Redis share the machine's "
        f"{os.cpu_count()} cores"
    )
    return table


def _rooms_ratio(result: Json) -> float | None:
    runs = result.get("runs", {})
    one, two = runs.get(ONE.key, {}), runs.get(TWO.key, {})
    if not one.get("held_rate") or "held_rate" not in two:
        return None
    return float(two["held_rate"]) / float(one["held_rate"])


def fanout_table(result: Json, quick: bool) -> Table:
    p = result["params"]
    title = (
        f"10. Several processes: one room of {p['clients']} clients, each typing every "
        f"{p['period_s']:g} s"
    )
    skipped = _skipped_table(title, result)
    if skipped:
        return skipped
    table = Table(title, _columns(result))
    rows: dict[str, dict[str, Cell]] = {}
    cpu_rows: dict[str, dict[str, Cell]] = {}
    for key, run in result["runs"].items():
        if "error" in run:
            rows.setdefault("p99", {})[key] = Cell(None, "error", ok=False)
            continue
        ok = run["converged"] and run["missing"] == 0
        for stat in ("p50", "p95", "p99", "max"):
            value = run["latency_ms"][stat]
            text = _ms(value) + (f" ({run['missing']} undelivered)" if run["missing"] else "")
            rows.setdefault(stat, {})[key] = Cell(value, text, ok)
        _cpu_cells(cpu_rows, key, run.get("cpu_whole_run"))
    table.rows += [Row(f"edit to every other client: {k}", v) for k, v in rows.items()]
    table.rows += [Row(f"cores used by: {k}", v) for k, v in cpu_rows.items()]
    ratio = _fanout_ratio(result)
    if ratio is not None:
        table.notes.append(
            f"p99, 2 processes ÷ 1 process (both with Redis): {ratio:.2f}x (target ≤ 1.5x)"
        )
    return table


def _fanout_ratio(result: Json) -> float | None:
    runs = result.get("runs", {})
    one = runs.get(ONE.key, {}).get("latency_ms", {}).get("p99")
    two = runs.get(TWO.key, {}).get("latency_ms", {}).get("p99")
    if not one or two is None:
        return None
    return float(two) / float(one)


def failover_table(result: Json, quick: bool) -> Table:
    p = result["params"]
    title = (
        f"11. Several processes: 2 processes, {p['rooms']:,} rooms × {p['per_room']} clients "
        f"typing {p['rate']:,} edits/s in all, one process SIGKILLed"
    )
    skipped = _skipped_table(title, result)
    if skipped:
        return skipped
    table = Table(title, [_column("two", "Swell")])
    run = result["runs"].get("two", {})
    if "error" in run:
        table.rows.append(Row("error", {"two": Cell(None, run["error"], ok=False)}))
        return table

    def row(label: str, text: str, ok: bool = True) -> None:
        table.rows.append(Row(label, {"two": Cell(None, text, ok)}))

    def spread(s: Json) -> str:
        return f"{_ms(s['p50'])} / {_ms(s['p99'])} / {_ms(s['max'])}"

    ls, ld = run["lost_survivor"], run["lost_database"]
    row("clients on the killed process", f"{run['victims']:,} of {run['clients']:,}")
    row("kill to resynced (p50 / p99 / max)", spread(run["resync_ms"]), not run["not_resynced"])
    row("kill to reconnected and synced (p50 / p99 / max)", spread(run["reconnect_ms"]))
    row("not resynced within the limit", f"{run['not_resynced']}", not run["not_resynced"])
    row(
        "updates lost although shown: survivor",
        f"{ls['lost_although_shown']:,} of {ls['shown']:,}",
        not ls["lost_although_shown"],
    )
    row(
        "updates lost although shown: fresh process (PostgreSQL)",
        f"{ld['lost_although_shown']:,} of {ld['shown']:,}",
        not ld["lost_although_shown"],
    )
    row(
        "updates sent, not in the document at the end",
        f"{ld['missing_of_sent']:,} of {ld['sent']:,}",
    )
    row("edit latency p99 before the kill", _ms(run["latency_before_ms"]["p99"]))
    row(
        "edit latency p99 after: the survivor's clients / the killed process's",
        f"{_ms(run['latency_after_survivors_ms']['p99'])} / "
        f"{_ms(run['latency_after_victims_ms']['p99'])}",
    )
    row("converged", "yes" if run["converged"] else "; ".join(run["problems"]), run["converged"])
    cpu = run.get("cpu_whole_run")
    if cpu:
        table.notes.append(f"CPU over the whole run: {_cpu_text(cpu)}")
    return table


TABLES: dict[str, Callable[[Json, bool], Table]] = {
    "cluster_rooms": rooms_table,
    "cluster_fanout": fanout_table,
    "cluster_failover": failover_table,
}


def targets(results: Json) -> list[Target]:
    out: list[Target] = []
    rooms = results.get("cluster_rooms", {})
    ratio = _rooms_ratio(rooms) if rooms else None
    name = "several processes: many rooms, 2 processes hold ≥ 1.7x the edits/s of 1"
    if ratio is not None:
        one, two = rooms["runs"][ONE.key], rooms["runs"][TWO.key]
        out.append(
            Target(
                name,
                f"1 process {one['held_rate']:,}/s, 2 processes {two['held_rate']:,}/s: "
                f"{ratio:.2f}x",
                ratio >= 1.7 and bool(two.get("converged")),
            )
        )
    else:
        out.append(Target(name, "not measured", None))
    fan = results.get("cluster_fanout", {})
    fratio = _fanout_ratio(fan) if fan else None
    name = "several processes: one room split over 2, fan-out p99 within 1.5x of 1 process"
    if fratio is not None:
        one, two = fan["runs"][ONE.key], fan["runs"][TWO.key]
        out.append(
            Target(
                name,
                f"1 process {_ms(one['latency_ms']['p99'])}, 2 processes "
                f"{_ms(two['latency_ms']['p99'])}: {fratio:.2f}x",
                fratio <= 1.5 and bool(two.get("converged")),
            )
        )
    else:
        out.append(Target(name, "not measured", None))
    fail = results.get("cluster_failover", {}).get("runs", {}).get("two")
    name_resync = "one of 2 processes killed: its clients resynced within 3 s (p99)"
    name_lost = "one of 2 processes killed: 0 updates lost that anyone was shown"
    if fail and "error" not in fail:
        p99 = fail["resync_ms"]["p99"]
        out.append(
            Target(
                name_resync,
                f"p99 {_ms(p99)}, max {_ms(fail['resync_ms']['max'])}; "
                f"{fail['not_resynced']} not resynced",
                p99 is not None and p99 <= 3000 and not fail["not_resynced"],
            )
        )
        lost = (
            fail["lost_database"]["lost_although_shown"]
            + fail["lost_survivor"]["lost_although_shown"]
        )
        out.append(
            Target(
                name_lost,
                f"{fail['lost_survivor']['lost_although_shown']} (survivor), "
                f"{fail['lost_database']['lost_although_shown']} (from PostgreSQL) of "
                f"{fail['lost_database']['shown']:,} shown",
                lost == 0,
            )
        )
    else:
        out.append(Target(name_resync, "not measured", None))
        out.append(Target(name_lost, "not measured", None))
    return out
