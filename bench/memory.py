"""What each idle WebSocket holds in Swell's server process, by tracemalloc.

    .venv/bin/python -m bench.memory                 # 2,000 idle sockets (about 5 minutes)
    .venv/bin/python -m bench.memory --sockets 500 --keep /tmp/mem   # keep snapshots and logs
    .venv/bin/python -m bench.memory --again /tmp/mem                # report those again

A real ``swell serve`` (bench/peers/swell_traced.py: Swell's CLI, unchanged, with a SIGUSR1
handler that writes a snapshot) runs on a free port and a temporary SQLite database, with the
suite's limits (bench/servers.py ``SWELL_BENCH_LIMITS``: every client comes from 127.0.0.1).
One document is created through ``POST /api/docs``; the load generator's ``idle`` mode (as the
``connections`` scenario runs it) connects one writer that types 20 characters: snapshot A.
Then N/2 idle clients connect and sync (snapshot H), then N/2 more (snapshot B), all of them
still connected; then they go. Each snapshot is taken once the server has been idle for a
second, after a garbage collection, by a forked child (the server's RSS never holds it).

This runs twice: first untraced, for the RSS growth per socket as the product has it (VmRSS of
/proc/PID/status at A, H and B), then with ``PYTHONTRACEMALLOC=25``, whose snapshots B and A are
compared (``Snapshot.compare_to(..., "traceback")``). Each allocation's growth goes to a group
by the innermost frame of its traceback that is not a generic helper (weakref, dataclasses,
...), named by what is held there: asyncio's transport, the socket object, the selector's
registration, websockets' ``ServerProtocol``, its parser generators, ``StreamReader`` and the
handshake request they keep, Swell's ``WebsocketConnection``, ``Peer``, ``InboundBudget``, room
dicts, awareness and presence, and so on. Printed: bytes (and blocks) per socket per group, the
traced total per socket next to the untraced RSS growth per socket (A to B, and H to B, where
the connect burst's one-off costs, such as the database pool's threads, are paid already), and
the top allocation sites (file:line, with the source line and its callers) by growth per
socket. tracemalloc blames an object that CPython reuses from a free list (tuples, floats,
dicts, contexts) on its first allocation: a few such sites are odd, not wrong in sum.
"""

from __future__ import annotations

import argparse
import dataclasses
import linecache
import pickle
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generator import run_generator
from bench.servers import (
    BENCH_DIR,
    SWELL_BENCH_LIMITS,
    RunningServer,
    ServerSpec,
    kill_all,
)

LAUNCHER = BENCH_DIR / "peers" / "swell_traced.py"
FRAMES = 25
STDLIB = sysconfig.get_paths()["stdlib"] + "/"

# Frames that say nothing about who wanted the memory: the one calling them is blamed.
GENERIC = (
    "<frozen ",
    "<string>",
    "<unknown>",
    "weakref.py",
    "_weakrefset.py",
    "functools.py",
    "enum.py",
    "typing.py",
    "abc.py",
    "copy.py",
    "contextlib.py",
    "dataclasses.py",
    "collections/__init__.py",
    "logging/__init__.py",
    "tracemalloc.py",
)

# (a fragment of the blamed frame's short path, a fragment of its source line, the group): the
# first that matches wins. Named by what is held (the sites list says exactly where).
REQUEST = "websockets handshake Request + Headers (parser frame keeps it)"
PARSERS = "websockets parser generators (3 suspended frames)"
PROTOCOL = "websockets ServerProtocol (object, lists, UUID id)"
TRANSPORT = "asyncio transport (+ extra info, reader Handle, registry)"
CONNECTION = "Swell WebsocketConnection (+ FrontDoor registry)"
PEER = "Swell Peer (object, client_ids set, last_received)"
BUDGET = "Swell InboundBudget (object, rates, tokens)"
GROUPS = (
    ("websockets/datastructures.py", "", REQUEST),
    ("websockets/http11.py", "", REQUEST),
    ("websockets/protocol.py", "self.parse()", PARSERS),
    ("websockets/protocol.py", "at_eof()", PARSERS),
    ("websockets/server.py", "super().parse()", PARSERS),
    ("websockets/frames.py", "", "websockets last frame received (parser frame keeps it)"),
    ("websockets/protocol.py", "StreamReader()", "websockets StreamReader (object, buffer)"),
    ("websockets/streams.py", "", "websockets StreamReader (object, buffer)"),
    ("websockets/", "", PROTOCOL),
    ("swell/transport/websocket_connection.py", "ServerProtocol(", PROTOCOL),
    ("uuid.py", "", PROTOCOL),
    ("asyncio/selector_events.py", "", TRANSPORT),
    ("asyncio/transports.py", "", TRANSPORT),
    ("asyncio/trsock.py", "", TRANSPORT),
    ("asyncio/events.py", "copy_context()", TRANSPORT),
    ("asyncio/", "", "asyncio (other: tasks, handles)"),
    ("selectors.py", "", "selector registration (SelectorKey, fd map)"),
    ("socket.py", "", "socket.socket object (+ accept's address)"),
    ("swell/transport/websocket_connection.py", "", CONNECTION),
    ("swell/transport/front_door.py", "", CONNECTION),
    ("swell/transport/ws.py", "InboundBudget(", BUDGET),
    ("swell/transport/ws.py", "Peer(", PEER),
    ("swell/transport/ws.py", "Admitted(", "Swell Admitted (the gate's verdict)"),
    ("swell/collab/peer.py", "_tokens", BUDGET),
    ("swell/collab/peer.py", "_rates", BUDGET),
    ("swell/collab/peer.py", "float(", BUDGET),
    ("swell/collab/peer.py", "now = time.monotonic()", BUDGET),
    ("swell/collab/peer.py", "", PEER),
    ("swell/collab/room.py", "now = time.monotonic()", PEER),  # peer.last_received
    ("swell/collab/room.py", "", "Swell Room (peers dict, join)"),
    ("swell/collab/fanout.py", "", "Swell Room (peers dict, join)"),
    ("swell/collab/awareness.py", "", "Swell awareness, participants, presence"),
    ("swell/collab/events.py", "", "Swell awareness, participants, presence"),
    ("swell/feed/", "", "Swell awareness, participants, presence"),
    ("swell/collab/activity.py", "", "Swell awareness, participants, presence"),
    ("swell/", "", "Swell (other)"),
)


def short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/server/swell/" in path:
        return "swell/" + path.split("/server/swell/", 1)[1]
    if path.startswith(STDLIB):
        return path[len(STDLIB) :]
    return path


def blamed(traceback: tracemalloc.Traceback) -> tracemalloc.Frame:
    """The innermost frame that is not a generic helper (else the innermost)."""
    for frame in reversed(traceback):  # most recent last in a Traceback
        if not any(g in frame.filename for g in GENERIC):
            return frame
    return traceback[-1]


def group_of(frame: tracemalloc.Frame) -> str:
    name = short(frame.filename)
    source = linecache.getline(frame.filename, frame.lineno)
    for path, text, group in GROUPS:
        if path in name and text in source:
            return group
    top = Path(name).name if name.startswith("/") else name.split("/", 1)[0]
    return f"other: {top.removesuffix('.py')}"


# ---- the run -----------------------------------------------------------------------------------


@dataclass
class Taken:
    snapshot: tracemalloc.Snapshot | None  # None: an untraced server
    status: dict[str, int]  # the server's VmRSS, RssAnon, RssFile, Threads then (after its gc)
    tracemalloc_bytes: int  # tracemalloc's own bookkeeping (in the RSS, not in the traces)
    traced_bytes: int

    @property
    def rss(self) -> int:
        return self.status["VmRSS"]


def load(path: Path) -> Taken:
    with path.open("rb") as f:
        data: dict[str, Any] = pickle.load(f)
    snapshot = data["snapshot"]
    if snapshot is not None:
        snapshot = snapshot.filter_traces(
            [
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<unknown>"),
            ]
        )
    return Taken(snapshot, data["status"], data["tracemalloc_bytes"], data["traced_bytes"])


def take_snapshot(srv: RunningServer, target: Path, keep: Path, timeout: float = 900) -> Taken:
    """SIGUSR1 to the server; waits for the file it (or its forked child) writes."""
    target.unlink(missing_ok=True)
    started = time.monotonic()
    srv.signal(signal.SIGUSR1)
    while not target.exists():
        if not srv.alive:
            raise RuntimeError(f"the server died; see {srv.log_path}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"no snapshot within {timeout:.0f} s; see {srv.log_path}")
        time.sleep(0.1)
    target.rename(keep)
    print(f"  snapshot {keep.stem}: {time.monotonic() - started:.1f} s", flush=True)
    return load(keep)


Run = tuple[dict[str, Taken], dict[str, int]]


def run(sockets: int, work: Path, *, traced: bool) -> Run:
    """Snapshots A (the writer alone), H (half the idle clients connected) and B (all of them),
    and the idle clients connected at H and B."""
    work.mkdir(parents=True, exist_ok=True)
    env = {"SWELL_TRACED_SNAPSHOT": str(work / "snapshot")}
    if traced:
        env["PYTHONTRACEMALLOC"] = str(FRAMES)

    def command(port: int, data: Path) -> list[str]:
        url = f"sqlite+aiosqlite:///{data / 'swell.db'}"
        serve = ["serve", "--port", str(port), "--database-url", url, *SWELL_BENCH_LIMITS]
        return [sys.executable, str(LAUNCHER), *serve]

    label = "Swell (traced)" if traced else "Swell"
    spec = ServerSpec("swell-traced", label, "yws", True, True, False, command, "swell", True)
    spec = dataclasses.replace(spec, env=lambda: env)
    srv = RunningServer(spec, work / "data", work, "memory")
    how = f"under tracemalloc ({FRAMES} frames)" if traced else "untraced"
    print(f"swell serve {how}; log: {srv.log_path}", flush=True)
    print(f"  listening after {srv.start(timeout=300):.1f} s", flush=True)
    srv.wait_idle(quiet=1.0, limit=60)
    room = srv.new_room("memory")
    taken: dict[str, Taken] = {}
    clients: dict[str, int] = {}

    def at_mark(mark: dict[str, Any]) -> None:
        if mark["name"] == "baseline":
            name = "A"
        elif mark["name"] == "stage":
            name = "H" if "H" not in taken else "B"
            clients[name] = mark["clients"]
            print(
                f"  {mark['clients']} idle clients connected ({mark['connect_wall_s']} s), "
                f"closed {mark['closed']}",
                flush=True,
            )
        else:
            return
        srv.wait_idle(quiet=1.0, limit=60)
        taken[name] = take_snapshot(srv, work / "snapshot", work / f"{name}.pickle")

    config = {"protocol": "yws", "stateful": True, "mode": "idle", "url": room.url}
    config |= {"room": room.name, "stages": [sockets // 2, sockets], "settle_s": 2}
    result = run_generator(config, log_path=work / "loadgen.log", on_mark=at_mark, timeout=1800)
    if not result.result.get("converged", False):
        print(f"  note: the clients did not converge: {result.result.get('problems')}")
    srv.stop(timeout=30)
    (work / "sockets.txt").write_text(f"{clients['H']} {clients['B']}\n")
    return taken, clients


def again(work: Path) -> Run:
    half, n = map(int, (work / "sockets.txt").read_text().split())
    return {name: load(work / f"{name}.pickle") for name in "AHB"}, {"H": half, "B": n}


# ---- the report --------------------------------------------------------------------------------


def line(label: str, *values: str) -> None:
    print(f"{label:<52}" + "".join(f"{v:>12}" for v in values))


def report(traced_run: Run, untraced_run: Run, top: int) -> None:
    taken, clients = traced_run
    a, h, b, n = taken["A"], taken["H"], taken["B"], clients["B"]
    assert a.snapshot is not None and b.snapshot is not None
    diffs = b.snapshot.compare_to(a.snapshot, "traceback")
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sites: dict[tuple[str, int], list[Any]] = {}
    for d in diffs:
        if not (d.size_diff or d.count_diff):
            continue
        g = groups[group_of(blamed(d.traceback))]
        g[0] += d.size_diff
        g[1] += d.count_diff
        site = d.traceback[-1]
        s = sites.setdefault((site.filename, site.lineno), [0, 0, None, 0])
        s[0] += d.size_diff
        s[1] += d.count_diff
        if d.size_diff > s[3]:  # the biggest traceback of the site says who called it
            s[2], s[3] = d.traceback, d.size_diff
    traced = sum(g[0] for g in groups.values())
    blocks = sum(g[1] for g in groups.values())

    print(f"\n{n} idle sockets: growth from snapshot A (1 socket) to B ({n + 1} sockets)\n")
    shown = [(k, v) for k, v in groups.items() if abs(v[0]) / n >= 1 or abs(v[1]) / n >= 0.01]
    width = max(len(k) for k, _ in shown)
    print(f"{'group (what is held)':<{width}} {'B/socket':>9} {'blocks':>7} {'share':>6}")
    for name, (size, count) in sorted(shown, key=lambda kv: -kv[1][0]):
        print(f"{name:<{width}} {size / n:>9.0f} {count / n:>7.2f} {size / traced:>6.1%}")
    print(f"{'traced total':<{width}} {traced / n:>9.0f} {blocks / n:>7.2f}")

    u, u_clients = untraced_run
    second, u_second = n - clients["H"], u_clients["B"] - u_clients["H"]
    u_n = u_clients["B"]
    u_rss = (u["B"].rss - u["A"].rss) / u_n
    u_half = (u["B"].rss - u["H"].rss) / u_second
    t_half = (b.traced_bytes - h.traced_bytes) / second
    print()
    line("bytes per socket", "A to B", "H to B")
    line("RSS growth, untraced server (VmRSS)", f"{u_rss:.0f}", f"{u_half:.0f}")
    line("traced growth (tracemalloc)", f"{traced / n:.0f}", f"{t_half:.0f}")
    line(
        "traced share of the untraced RSS growth",
        f"{traced / n / u_rss:.0%}",
        f"{t_half / u_half:.0%}",
    )
    line(
        "RSS growth, traced server", f"{(b.rss - a.rss) / n:.0f}", f"{(b.rss - h.rss) / second:.0f}"
    )
    line(
        "  tracemalloc's own (as it counts: no malloc slack)",
        f"{(b.tracemalloc_bytes - a.tracemalloc_bytes) / n:.0f}",
        f"{(b.tracemalloc_bytes - h.tracemalloc_bytes) / second:.0f}",
    )
    for what, run_taken in (("untraced", u), ("traced", taken)):
        print(
            f"  {what}: RSS "
            + ", ".join(f"{k} {t.rss / 2**20:.1f}" for k, t in run_taken.items())
            + " MiB; threads "
            + ", ".join(f"{k} {t.status['Threads']}" for k, t in run_taken.items())
        )

    print(
        f"\ntop {top} allocation sites by growth per socket (innermost frame, then its callers)\n"
    )
    print(f"{'B/socket':>9} {'blocks':>6}  site")
    for (filename, lineno), (size, count, traceback, _) in sorted(
        sites.items(), key=lambda kv: -kv[1][0]
    )[:top]:
        source = linecache.getline(filename, lineno).strip()
        print(f"{size / n:>9.0f} {count / n:>6.2f}  {short(filename)}:{lineno}  {source[:64]}")
        if traceback is not None:
            callers = [f for f in reversed(traceback) if f.filename != filename][:2]
            via = " <- ".join(f"{short(f.filename)}:{f.lineno}" for f in callers)
            print(f"{'':>18}<- {via}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--sockets", type=int, default=2000, help="idle sockets to add (default 2000)")
    p.add_argument("--top", type=int, default=25, help="allocation sites to list (default 25)")
    p.add_argument("--keep", type=Path, help="keep the snapshots and logs in this directory")
    p.add_argument("--again", type=Path, help="report again from what --keep kept there")
    args = p.parse_args(argv)
    if args.again is not None:
        report(again(args.again / "traced"), again(args.again / "untraced"), args.top)
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="swell-memory-"))
    try:
        untraced = run(args.sockets, work / "untraced", traced=False)
        traced = run(args.sockets, work / "traced", traced=True)
        report(traced, untraced, args.top)
    finally:
        kill_all()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
