"""``swell serve`` with a memory snapshot on SIGUSR1: a diagnostic for bench/memory.py, not the
product.

The server is Swell's own CLI (``swell.__main__.main``) with the given arguments, unchanged:
only a SIGUSR1 handler is installed first (in the main thread, before asyncio starts; the
server's loop handles SIGTERM and SIGINT and leaves SIGUSR1 alone). Allocations are traced when
``PYTHONTRACEMALLOC`` is set (bench/memory.py sets 25 frames), from the interpreter's start.

On SIGUSR1 the handler collects garbage (cycles nobody holds are not what a socket holds) and
reads the process's VmRSS, RssAnon, RssFile and Threads (/proc/self/status) and tracemalloc's
own memory. Traced, it then forks, and the child takes the snapshot and writes it: the
snapshot's hundreds of megabytes never land in the server's memory, so its RSS stays comparable
from one snapshot to the next. Untraced, it only writes the numbers. Either way a pickle of
``{"snapshot" (or None), "status", "tracemalloc_bytes", "traced_bytes"}`` goes to
``$SWELL_TRACED_SNAPSHOT``, through a ``.tmp`` file and a rename.

Usage: python swell_traced.py serve [any ``swell serve`` flag]
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
import traceback
import tracemalloc
from types import FrameType
from typing import Any

SNAPSHOT_VARIABLE = "SWELL_TRACED_SNAPSHOT"


def status() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile in bytes, and Threads, from /proc/self/status."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                found[name] = int(value.split()[0]) * 1024
            elif name == "Threads":
                found[name] = int(value)
    return found


def _write(target: str, data: dict[str, Any]) -> None:
    with open(target + ".tmp", "wb") as f:
        pickle.dump(data, f, pickle.HIGHEST_PROTOCOL)
    os.replace(target + ".tmp", target)


def _snapshot(signum: int, frame: FrameType | None) -> None:
    target = os.environ[SNAPSHOT_VARIABLE]
    gc.collect()
    info = {
        "status": status(),
        "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory(),
        "traced_bytes": tracemalloc.get_traced_memory()[0],
        "snapshot": None,
    }
    if not tracemalloc.is_tracing():
        _write(target, info)
        return
    pid = os.fork()
    if pid == 0:  # the child: the parent's heap as it was, copied on write
        code = 0
        try:
            _write(target, {**info, "snapshot": tracemalloc.take_snapshot()})
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()


def main() -> int:
    signal.signal(signal.SIGUSR1, _snapshot)
    from swell.__main__ import main as swell_main

    return swell_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
