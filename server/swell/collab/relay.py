"""The seam between rooms of the same document in different server processes.

A room publishes every message it has committed (updates) or accepted (awareness) and applies
what other processes publish. ``InProcessRelay`` connects rooms inside one process (the single-
process server, and tests that run two registries side by side); a Redis relay can fit the
same two methods without touching the room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes], None]


class Relay(Protocol):
    def publish(self, doc_id: str, sender: object, message: bytes) -> None:
        """Tell the document's other rooms about one y-websocket message."""
        ...

    def subscribe(self, doc_id: str, room: object, on_message: OnMessage) -> Callable[[], None]:
        """Receive the messages other rooms publish; returns the unsubscribe function."""
        ...


class InProcessRelay:
    def __init__(self) -> None:
        self._subscribers: dict[str, dict[object, OnMessage]] = {}

    def publish(self, doc_id: str, sender: object, message: bytes) -> None:
        for room, on_message in list(self._subscribers.get(doc_id, {}).items()):
            if room is not sender:
                try:
                    on_message(message)
                except Exception:
                    log.exception("relay subscriber of %s failed", doc_id)

    def subscribe(self, doc_id: str, room: object, on_message: OnMessage) -> Callable[[], None]:
        self._subscribers.setdefault(doc_id, {})[room] = on_message

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(doc_id, {})
            subscribers.pop(room, None)
            if not subscribers:
                self._subscribers.pop(doc_id, None)

        return unsubscribe
