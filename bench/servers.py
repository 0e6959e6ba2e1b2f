"""The servers under test: how each one is started, reached, measured and stopped.

Every server runs on loopback with its own defaults, pinned to its own core (``taskset``), with
its output in a log file. Every process started here is registered and killed at exit, even on
errors.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
NODE_MODULES = BENCH_DIR / "node_modules"
PEERS_PYTHON = BENCH_DIR / ".venv-peers" / "bin" / "python"
SERVER_CPU = 1
GENERATOR_CPU = 0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
HOST = "127.0.0.1"

_live: set[subprocess.Popen[bytes]] = set()


def _kill_all() -> None:
    for proc in list(_live):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the session this suite started for it
            except ProcessLookupError:
                pass
            proc.wait()
        _live.discard(proc)


atexit.register(_kill_all)


def kill_all() -> None:
    """Kill every process this suite started and that still runs."""
    _kill_all()


def register(proc: subprocess.Popen[bytes]) -> None:
    _live.add(proc)


def unregister(proc: subprocess.Popen[bytes]) -> None:
    _live.discard(proc)


def pinning_available() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cpu: int, command: list[str]) -> list[str]:
    """The command, pinned to one core when the machine has two."""
    return ["taskset", "-c", str(cpu), *command] if pinning_available() else command


def unpinned(command: list[str]) -> list[str]:
    """The command free to run on every core (the runner pins itself to the generator's core,
    and what it starts inherits that)."""
    if shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", f"0-{(os.cpu_count() or 1) - 1}", *command]


def swell_executable() -> Path:
    beside = Path(sys.executable).parent / "swell"
    if beside.exists():
        return beside
    found = shutil.which("swell")
    if found is None:
        raise RuntimeError("no `swell` executable: run `make install` first")
    return Path(found)


@dataclass(frozen=True)
class Room:
    """Where the clients of one document connect."""

    url: str
    name: str
    sse_url: str | None = None


@dataclass(frozen=True)
class ServerSpec:
    key: str
    label: str
    protocol: str  # "yws" (stock y-websocket messages) or "hocuspocus" (its framing)
    persists: bool  # stores documents (cold load and SIGTERM apply)
    stateful: bool  # holds the document, so a client joining late gets it (not the relay)
    is_peer: bool  # one of the servers Swell is compared with (the relay is the yardstick)
    command: Callable[[int, Path], list[str]]
    # what it runs on: "node", "peers-venv", "swell", "swell-uvicorn", "swell-granian" or
    # "swell-before" (another checkout's Swell, see _swell_before)
    needs: str
    swell_app: bool = False  # serves Swell's app: documents are made through its API
    env: Callable[[], dict[str, str]] | None = None  # more environment for its process

    def unavailable(self) -> str | None:
        """Why this server cannot run here, or None."""
        if self.needs == "node" and not (NODE_MODULES / "ws").is_dir():
            return "bench/node_modules is missing: run `make bench` (npm ci in bench/)"
        if self.needs == "peers-venv" and not PEERS_PYTHON.exists():
            return "bench/.venv-peers is missing: run `make bench` (it creates it)"
        if self.needs in ("swell", "swell-uvicorn", "swell-granian"):
            try:
                swell_executable()
            except RuntimeError as e:
                return str(e)
        for server in ("uvicorn", "granian"):
            if self.needs == f"swell-{server}" and importlib.util.find_spec(server) is None:
                return f"{server} is missing: run `make bench` (it installs Swell's `bench` extra)"
        if self.needs == "swell-before":
            return before_unavailable()
        return None


# Every bench client connects from 127.0.0.1: the per-address limits (made for one person's
# browser) are lifted, and the per-document caps raised past the largest scenario. Saturation
# drives one room from 4 writers at up to 16,000 edits/s each, past the per-socket default of
# 2,000 messages/s: that limit is raised (still checked, so its cost is measured). Typing with
# cursors sends one caret per keystroke and socket (about 190 accepted awareness bytes; one or
# two keystrokes a second), far under the default --awareness-bytes-per-second of 64 KiB/s:
# that limit is kept (checked, as in production).
SWELL_BENCH_LIMITS = [
    "--creates-per-minute", "0",
    "--connects-per-minute", "0",
    "--writes-per-minute", "0",
    "--sockets-per-document", "20000",
    "--streams-per-document", "20000",
    "--socket-messages-per-second", "100000",
]  # fmt: skip


def _swell(port: int, data: Path) -> list[str]:
    url = f"sqlite+aiosqlite:///{data / 'swell.db'}"
    command = [str(swell_executable()), "serve", "--port", str(port), "--database-url", url]
    return command + SWELL_BENCH_LIMITS


def _swell_uvicorn(port: int, data: Path) -> list[str]:
    url = f"sqlite+aiosqlite:///{data / 'swell.db'}"
    script = BENCH_DIR / "peers" / "swell_uvicorn.py"
    return [sys.executable, str(script), "--port", str(port), "--database-url", url] + (
        SWELL_BENCH_LIMITS
    )


def _swell_granian(port: int, data: Path) -> list[str]:
    url = f"sqlite+aiosqlite:///{data / 'swell.db'}"
    script = BENCH_DIR / "peers" / "swell_granian.py"
    return [sys.executable, str(script), "--port", str(port), "--database-url", url] + (
        SWELL_BENCH_LIMITS
    )


# ---- Swell before: another checkout's code, to measure before and after in one run -------------

BEFORE_VARIABLE = "SWELL_BENCH_BEFORE"


def before_checkout() -> Path | None:
    """The checkout ``$SWELL_BENCH_BEFORE`` names (e.g. ``git worktree add /tmp/before
    <commit>``), or None."""
    raw = os.environ.get(BEFORE_VARIABLE, "").strip()
    return Path(raw).expanduser().resolve() if raw else None


def _before_env() -> dict[str, str]:
    """Its ``server/`` first on the path: this virtualenv's Python and dependencies run the
    checkout's ``swell`` package (this one's is on the path through its editable install,
    after ``PYTHONPATH``)."""
    checkout = before_checkout()
    assert checkout is not None
    path = [str(checkout / "server"), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in path if p)}


def _before_python() -> list[str]:
    # -P: no current directory (bench/, the servers' cwd) first on the path, whose modules
    # (generator, profiles, ...) could shadow the checkout's imports
    return [sys.executable, "-P", "-m", "swell"]


@functools.cache
def before_unavailable() -> str | None:
    checkout = before_checkout()
    if checkout is None:
        return f"${BEFORE_VARIABLE} is not set (the path of a checkout of the code before)"
    if not (checkout / "server" / "swell" / "__main__.py").is_file():
        return f"${BEFORE_VARIABLE}={checkout} has no server/swell/__main__.py"
    probe = subprocess.run(
        [sys.executable, "-P", "-c", "import swell; print(swell.__file__)"],
        env={**os.environ, **_before_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = Path(probe.stdout.strip() or ".").resolve()
    if probe.returncode != 0 or checkout not in found.parents:
        return f"this Python does not import swell from {checkout}: {probe.stderr.strip()[-300:]}"
    return None


@functools.cache
def before_flags() -> frozenset[str]:
    """The flags the checkout's ``swell serve`` knows (an older one may lack a limit)."""
    shown = subprocess.run(
        [*_before_python(), "serve", "--help"],
        env={**os.environ, **_before_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", shown))


def _swell_before(port: int, data: Path) -> list[str]:
    """``swell serve`` as for Swell, run from the checkout: the same flags and limits, less
    any limit the older code does not have (said once on the runner's output), its own
    migrations on a fresh database. The checkout needs no web build (``server/swell/web`` is
    not committed): without it the pages answer 503 with a placeholder, and no scenario that
    runs it loads a page (the browser one runs Swell only)."""
    url = f"sqlite+aiosqlite:///{data / 'swell.db'}"
    known = before_flags()
    limits = []
    pairs = list(zip(SWELL_BENCH_LIMITS[::2], SWELL_BENCH_LIMITS[1::2], strict=True))
    for flag, value in pairs:
        if flag in known:
            limits += [flag, value]
        elif flag not in _said_missing:
            _said_missing.add(flag)
            print(f"  note: Swell (before) has no {flag}: it runs with its own default", flush=True)
    return [*_before_python(), "serve", "--port", str(port), "--database-url", url, *limits]


_said_missing: set[str] = set()


def _yws(port: int, data: Path) -> list[str]:
    return ["sh", str(BENCH_DIR / "peers" / "yws.sh"), str(port), str(data / "leveldb")]


def _hocuspocus(port: int, data: Path) -> list[str]:
    return ["node", str(BENCH_DIR / "peers" / "hocuspocus.mjs"), str(port), str(data / "hp.sqlite")]


def _pycrdt(port: int, data: Path) -> list[str]:
    script = BENCH_DIR / "peers" / "pycrdt_server.py"
    return [str(PEERS_PYTHON), str(script), str(port), str(data / "ystore.db")]


def _relay(port: int, data: Path) -> list[str]:
    return ["node", str(BENCH_DIR / "peers" / "relay.mjs"), str(port)]


def _pyrelay(port: int, data: Path) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "peers" / "pyrelay.py"), str(port)]


SPECS: dict[str, ServerSpec] = {
    spec.key: spec
    for spec in (
        ServerSpec("swell", "Swell", "yws", True, True, False, _swell, "swell", swell_app=True),
        ServerSpec(
            "swell-before",
            "Swell (before)",
            "yws",
            True,
            True,
            False,
            _swell_before,
            "swell-before",
            swell_app=True,
            env=_before_env,
        ),
        ServerSpec("yws", "y-websocket", "yws", True, True, True, _yws, "node"),
        ServerSpec("hocuspocus", "Hocuspocus", "hocuspocus", True, True, True, _hocuspocus, "node"),
        ServerSpec("pycrdt", "pycrdt-websocket", "yws", True, True, True, _pycrdt, "peers-venv"),
        ServerSpec("relay", "bare relay", "yws", False, False, False, _relay, "node"),
        ServerSpec("pyrelay", "relay on Quart", "yws", False, False, False, _pyrelay, "swell"),
        ServerSpec(
            "swell-uvicorn",
            "Swell on uvicorn",
            "yws",
            True,
            True,
            False,
            _swell_uvicorn,
            "swell-uvicorn",
            swell_app=True,
        ),
        ServerSpec(
            "swell-granian",
            "Swell on granian",
            "yws",
            True,
            True,
            False,
            _swell_granian,
            "swell-granian",
            swell_app=True,
        ),
    )
}
DEFAULT_ORDER = ["relay", "swell", "yws", "hocuspocus", "pycrdt"]  # diagnostics: on request


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class ServerFailed(RuntimeError):
    pass


class RunningServer:
    """One server process; restartable on the same port and data directory."""

    def __init__(
        self, spec: ServerSpec, data_dir: Path, log_dir: Path, tag: str, *, pin: bool = True
    ) -> None:
        self.spec = spec
        self.pin = pin  # on the server's core; False: on every core (several processes)
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.key}-{tag}.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._rooms = 0

    # ---- process ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> float:
        """Start (or restart) the server; returns the seconds until it accepted connections."""
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"---- start {self.starts}\n".encode())
        log.flush()
        env = dict(os.environ)
        env.pop("NODE_OPTIONS", None)
        # Python servers keep their compiled bytecode, as an installed wheel has it (this
        # workplace sets the variable, and an editable install then compiles ~15,000 lines of
        # Swell again at every start: 100 ms of a restart).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.spec.env is not None:
            env.update(self.spec.env())
        command = self.spec.command(self.port, self.data_dir)
        started = time.monotonic()
        self.proc = subprocess.Popen(
            pinned(SERVER_CPU, command) if self.pin else unpinned(command),
            cwd=BENCH_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        register(self.proc)
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"{self.spec.label} exited with {self.proc.returncode} on start; "
                    f"see {self.log_path}"
                )
            if time.monotonic() - started > timeout:
                raise ServerFailed(f"{self.spec.label} did not listen within {timeout:.0f} s")
            time.sleep(0.02)
        return time.monotonic() - started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> tuple[int | None, float, bool]:
        """Wait for the exit; kill after the timeout. Returns (code, seconds, killed)."""
        assert self.proc is not None
        started = time.monotonic()
        killed = False
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(self.pid, signal.SIGKILL)
            code = self.proc.wait()
        unregister(self.proc)
        return code, time.monotonic() - started, killed

    def stop(self, timeout: float = 20.0) -> tuple[int | None, float, bool]:
        """SIGTERM, as a service manager stops it; SIGKILL if it takes longer than timeout."""
        if not self.alive:
            return (self.proc.returncode if self.proc else None), 0.0, False
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            unregister(self.proc)

    # ---- measurements -------------------------------------------------------------------------

    def rss(self) -> int:
        """Resident memory of the server process, in bytes."""
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) the server used so far."""
        return process_cpu(self.pid)

    def wait_idle(self, quiet: float = 1.5, limit: float = 60.0, threshold: float = 0.03) -> float:
        """Wait until the server used under `threshold` of a core for `quiet` seconds."""
        started = time.monotonic()
        last = self.cpu()
        calm_since = time.monotonic()
        while time.monotonic() - started < limit:
            time.sleep(0.25)
            now = self.cpu()
            if now - last > threshold * 0.25:
                calm_since = time.monotonic()
            last = now
            if time.monotonic() - calm_since >= quiet:
                break
        return time.monotonic() - started

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data_dir.rglob("*") if p.is_file())

    # ---- rooms --------------------------------------------------------------------------------

    def new_room(self, hint: str) -> Room:
        """A fresh document to connect to."""
        self._rooms += 1
        name = f"{hint}-{self._rooms}"
        if self.spec.swell_app:
            body = json.dumps({"title": name}).encode()
            request = urllib.request.Request(
                f"http://{HOST}:{self.port}/api/docs",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                doc = json.load(response)
            return Room(
                url=f"ws://{HOST}:{self.port}/ws/{doc['id']}?token={doc['edit_token']}",
                name=doc["id"],
                sse_url=f"http://{HOST}:{self.port}/api/docs/{doc['id']}/events?token={doc['view_token']}",
            )
        if self.spec.protocol == "hocuspocus":
            return Room(url=f"ws://{HOST}:{self.port}", name=name)
        return Room(url=f"ws://{HOST}:{self.port}/{name}", name=name)


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def machine_busy() -> float:
    """CPU seconds all processes have used since boot (user, nice, system: not the interrupt
    time, where the kernel moves our own loopback traffic)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (values[0] + values[1] + values[2]) / CLK_TCK


def machine_steal() -> float:
    """CPU seconds the hypervisor gave to other guests while ours wanted to run."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[7] / CLK_TCK
