"""One small event bus: publishers never see a listener's failure, and a failing listener
never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Callable

from swell.collab.events import RoomEvent

log = logging.getLogger(__name__)

Listener = Callable[[RoomEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: RoomEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("listener %r failed on %s", listener, type(event).__name__)
