"""Server-Sent Events encoding (sans-IO)."""

from __future__ import annotations

import json
from typing import Any

PING = b": ping\n\n"


def encode_event(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One event; JSON never holds a raw newline, so ``data:`` is always a single line."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def encode_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


def parse_last_event_id(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)
