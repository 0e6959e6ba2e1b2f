"""The hottest functions in a py-spy raw profile (collapsed stacks: ``a;b;c count`` lines).

    python -m bench.profiles bench/results/<run>-logs/profile-fanout-200.txt [top]

*Self* is where the samples were taken; *inclusive* counts every function on the stack.
Idle waiting (the selector, aiosqlite's worker thread waiting for work) is left out of the total.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

IDLE = ("EpollSelector.select", "_connection_worker_thread", "Thread.wait", "Condition.wait")
PLUMBING = ("runners.py", "base_events.py", "threading.py", "(swell/__main__.py)", "<module>")


def _name(frame: str) -> str:
    """``func (path/to/file.py:123)`` → ``func (package/file.py)``."""
    frame = frame.strip()
    if " (" not in frame:
        return frame
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/server/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"


def summarize(path: Path, top: int = 15) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        names = [_name(f) for f in stack.split(";")]
        if any(idle in names[-1] for idle in IDLE):
            continue
        n = int(count)
        total += n
        own[names[-1]] += n
        for name in set(names):
            if not any(p in name for p in PLUMBING):
                inclusive[name] += n
    if total == 0:
        return f"{path.name}: no busy samples"
    lines = [f"{path.name}: {total} busy samples", "  self:"]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        sys.exit(2)
    print(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
