"""``swell serve --workers N``: the parent binds the port once and keeps N workers serving on it.

The parent serves nothing itself. Each worker is ``python -m swell serve`` with the same
settings, ``workers=1`` and ``listen_fd`` naming the inherited listening socket, so the kernel
hands each new connection to whichever worker accepts it first, and a worker that dies leaves
the port answering through the others while the parent starts it again. Workers share state
only through PostgreSQL and Redis (``--redis-url``), which is why more than one needs both.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields

from swell.server import WORKER_READY, listening_socket
from swell.settings import Settings, env_name

log = logging.getLogger("swell.supervisor")

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
# A worker that served this long before dying is restarted after the first backoff again.
STABLE_SECONDS = 10.0
# Time allowed on top of --shutdown-seconds for every worker to stop before it is killed.
STOP_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def setting_text(value: object) -> str:
    """A setting as its ``SWELL_*`` variable spells it, so a worker parses back the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def worker_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker: every setting spelled out (not on the command line, where
    ``ps`` would show the database password), ``workers=1``."""
    env = dict(base)
    for f in fields(Settings):
        env[env_name(f.name)] = setting_text(getattr(settings, f.name))
    env[env_name("workers")] = "1"
    return env


def follow_parent() -> None:
    """A worker stops (SIGTERM: it flushes) when its supervisor dies, even of SIGKILL, instead
    of serving on as an orphan nobody will stop. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("could not ask to be stopped with the supervisor (prctl)")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Worker:
    """One of the N places a worker process fills; its process is replaced when it dies."""

    index: int
    proc: asyncio.subprocess.Process | None = None
    ready_at: float | None = None
    clean: bool = True


class Supervisor:
    """Starts the workers, restarts the ones that die, forwards SIGTERM and SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket, environ: Mapping[str, str]) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.count = settings.workers
        # Workers serve the real port (the setting may be 0) on the inherited socket.
        self.worker_settings = settings.replace(port=self.port, listen_fd=sock.fileno())
        self.shutdown_seconds = settings.shutdown_seconds
        self.host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self.workers = [_Worker(i + 1) for i in range(self.count)]
        self.stopping = asyncio.Event()
        self.announced = False
        self.env = worker_environment(self.worker_settings, environ)

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 when every worker then stopped cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig)
        tasks = [asyncio.create_task(self._keep(worker)) for worker in self.workers]
        await self.stopping.wait()
        deadline = self.shutdown_seconds + STOP_GRACE_SECONDS
        _, late = await asyncio.wait(tasks, timeout=deadline)
        if late:
            for worker in self.workers:
                if worker.proc is not None and worker.proc.returncode is None:
                    log.error(
                        "worker %d of %d (pid %d) did not stop within %.1f s: killing it",
                        worker.index,
                        self.count,
                        worker.proc.pid,
                        deadline,
                    )
                    worker.clean = False
                    worker.proc.kill()
            await asyncio.wait(late)
        self.sock.close()
        if all(worker.clean for worker in self.workers):
            log.info("stopped")
            return 0
        log.error("stopped, but not every worker stopped cleanly")
        return 1

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Ask every worker to stop: each closes its sockets and flushes its documents.

        Workers get SIGTERM for SIGINT too: they run in their own process group (a terminal's
        Ctrl-C reaches only this parent), and SIGTERM ends one that is still starting quietly.
        """
        if self.stopping.is_set():
            return
        log.info("%s: stopping %d workers", sig.name, self.count)
        self.stopping.set()
        for worker in self.workers:
            if worker.proc is not None and worker.proc.returncode is None:
                worker.proc.send_signal(signal.SIGTERM)

    async def _keep(self, worker: _Worker) -> None:
        """Keep one worker running until the supervisor stops, restarting it after a backoff
        that grows while it keeps dying."""
        backoff = FIRST_BACKOFF_SECONDS
        while not self.stopping.is_set():
            worker.ready_at = None
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "swell",
                    "serve",
                    stdout=asyncio.subprocess.PIPE,
                    env=self.env,
                    pass_fds=(self.sock.fileno(),),
                    process_group=0,
                )
            except OSError as e:
                log.error("could not start worker %d of %d: %s", worker.index, self.count, e)
            else:
                worker.proc = proc
                if self.stopping.is_set():  # stopped while it was being started
                    proc.send_signal(signal.SIGTERM)
                code = await self._watch(worker, proc)
                if self.stopping.is_set():
                    # SIGTERM's default action ends a worker that had not started serving.
                    worker.clean = code in (0, -signal.SIGTERM)
                    if not worker.clean:
                        log.error(
                            "worker %d of %d (pid %d) %s while stopping",
                            worker.index,
                            self.count,
                            proc.pid,
                            _describe_exit(code),
                        )
                    return
                served = time.monotonic() - worker.ready_at if worker.ready_at else 0.0
                if served >= STABLE_SECONDS:
                    backoff = FIRST_BACKOFF_SECONDS
                log.error(
                    "worker %d of %d (pid %d) %s unexpectedly; starting another in %.1f s",
                    worker.index,
                    self.count,
                    proc.pid,
                    _describe_exit(code),
                    backoff,
                )
            try:
                await asyncio.wait_for(self.stopping.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _watch(self, worker: _Worker, proc: asyncio.subprocess.Process) -> int:
        """Read the worker's stdout until it closes (its ready line; anything else is passed
        on), then its exit code."""
        assert proc.stdout is not None
        pending = b""
        while chunk := await proc.stdout.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip() == WORKER_READY.encode():
                    self._ready(worker, proc)
                else:
                    sys.stdout.buffer.write(line + b"\n")
                    sys.stdout.flush()
        code = await proc.wait()
        worker.proc = None
        return code

    def _ready(self, worker: _Worker, proc: asyncio.subprocess.Process) -> None:
        worker.ready_at = time.monotonic()
        log.info("worker %d of %d ready (pid %d)", worker.index, self.count, proc.pid)
        if not self.announced and all(w.ready_at is not None for w in self.workers):
            self.announced = True
            log.info("listening on http://%s:%d", self.host, self.port)


def supervise(settings: Settings, environ: Mapping[str, str]) -> int:
    """Bind once, then run ``settings.workers`` workers on that socket until stopped; they get
    ``environ`` (the CLI's own environment) with every setting spelled out on top."""
    sock = listening_socket(settings)
    return asyncio.run(Supervisor(settings, sock, environ).run())
