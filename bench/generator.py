"""Running the Node load generator (``loadgen.mjs``) pinned to its own core.

The generator prints JSON lines; ``mark`` lines are handed to a callback (which measures the
server at that moment, or signals it) and, when they ask for it, answered on stdin so that the
generator goes on only after the measurement.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import (
    BENCH_DIR,
    GENERATOR_CPU,
    machine_busy,
    pinned,
    process_cpu,
    register,
    unpinned,
    unregister,
)

Json = dict[str, Any]
MarkHandler = Callable[[Json], None]


class GeneratorFailed(RuntimeError):
    pass


@dataclass
class GeneratorRun:
    result: Json
    marks: list[Json] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the generator's CPU time
    busy_s: float = 0.0  # CPU time all cores were busy meanwhile (everyone's)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise GeneratorFailed("node is not on PATH (Node 20 or newer is needed)")
    return found


def run_generator(
    config: Json,
    *,
    log_path: Path,
    on_mark: MarkHandler | None = None,
    on_event: MarkHandler | None = None,
    timeout: float = 600.0,
    pin: bool = True,
) -> GeneratorRun:
    """Run one generator process to its result line; kill it if it overruns ``timeout``.
    ``pin=False`` lets it run on every core (with several server processes, see bench/cluster)."""
    config = {**config, "timeout_s": max(5.0, timeout - 10.0)}
    # a larger young generation: fewer scavenges (pauses) while thousands of messages arrive
    node_args = [node(), "--max-semi-space-size=32", str(BENCH_DIR / "loadgen.mjs")]
    command = [*node_args, json.dumps(config)]
    command = pinned(GENERATOR_CPU, command) if pin else unpinned(command)
    log = log_path.open("ab")
    busy_before = machine_busy()
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=BENCH_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    register(proc)
    lines: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    run = GeneratorRun(result={})
    cpu = 0.0
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                raise GeneratorFailed(f"the generator overran {timeout:.0f} s ({config['mode']})")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                message: Json = json.loads(line)
            except json.JSONDecodeError:
                continue
            event = message.get("event")
            if event == "mark":
                run.marks.append(message)
                if on_mark is not None:
                    on_mark(message)
                if message.get("wait"):
                    assert proc.stdin is not None
                    proc.stdin.write(b"go\n")
                    proc.stdin.flush()
            elif event == "result":
                with_cpu = _cpu_or_zero(proc.pid)
                cpu = with_cpu if with_cpu else cpu
                run.result = message
            elif on_event is not None:
                on_event(message)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        unregister(proc)
    run.wall_s = time.monotonic() - started
    run.cpu_s = cpu
    run.busy_s = machine_busy() - busy_before
    if not run.result:
        raise GeneratorFailed(
            f"the generator ended without a result ({config['mode']}); see {log_path}"
        )
    if run.result.get("error"):
        raise GeneratorFailed(f"the generator failed: {run.result['error']}")
    return run


def _cpu_or_zero(pid: int) -> float:
    try:
        return process_cpu(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
