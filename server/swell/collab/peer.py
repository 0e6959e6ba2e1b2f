"""One connected socket as the room sees it: a bounded outbox and what it announced."""

from __future__ import annotations

import asyncio
from collections import deque
from enum import StrEnum
from itertools import count
from typing import Any

_ids = count(1)


class Role(StrEnum):
    EDIT = "edit"
    VIEW = "view"


class CloseCode:
    """WebSocket close codes, with the ones of the contract."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED = 1003
    INVALID = 1007
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN = 1013
    BAD_TOKEN = 4401
    NOT_FOUND = 4404


class Peer:
    """Frames are queued without waiting; a peer that falls too far behind is closed (1013)
    so that one slow socket never delays the room or its other sockets."""

    def __init__(
        self, role: Role, *, wants_extensions: bool = False, limit_bytes: int = 64 << 20
    ) -> None:
        self.id = next(_ids)
        self.role = role
        self.wants_extensions = wants_extensions
        self.client_ids: set[int] = set()
        self.sent_updates = False
        self.close_code: int | None = None
        self._limit_bytes = limit_bytes
        self._queued_bytes = 0
        self._outbox: deque[bytes] = deque()
        self._wake = asyncio.Event()

    @property
    def can_edit(self) -> bool:
        return self.role is Role.EDIT

    def send(self, frame: bytes) -> None:
        if self.close_code is not None:
            return
        if self._queued_bytes + len(frame) > self._limit_bytes:
            self.close(CloseCode.TRY_AGAIN)
            return
        self._queued_bytes += len(frame)
        self._outbox.append(frame)
        self._wake.set()

    def close(self, code: int) -> None:
        """Ask the transport to close this socket; queued frames are dropped."""
        if self.close_code is None:
            self.close_code = code
            self._outbox.clear()
            self._queued_bytes = 0
            self._wake.set()

    async def next_frame(self) -> bytes | None:
        """The next frame to write, or None once the peer is closing."""
        while True:
            if self.close_code is not None:
                return None
            if self._outbox:
                frame = self._outbox.popleft()
                self._queued_bytes -= len(frame)
                return frame
            self._wake.clear()
            await self._wake.wait()

    def name(self, states: dict[int, dict[str, Any]]) -> str | None:
        """The name this peer announced in its awareness state, if any."""
        for client_id in self.client_ids:
            user = states.get(client_id, {}).get("user")
            if isinstance(user, dict) and isinstance(user.get("name"), str):
                return str(user["name"])[:100]
        return None

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self.role}>"
