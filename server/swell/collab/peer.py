"""One connected socket as the room sees it: a byte-bounded outbox, an inbound budget, and
the awareness ids it owns."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING

from swell.records import AuthorRecord

if TYPE_CHECKING:
    from swell.collab.events import Participant


class Role(StrEnum):
    EDIT = "edit"
    VIEW = "view"


class CloseCode:
    """WebSocket close codes, with the ones of the contract."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED = 1003
    INVALID = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN = 1013
    BAD_TOKEN = 4401
    NOT_FOUND = 4404


class Refused(ValueError):
    """Something a socket sent breaks a rule; the socket is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class InboundBudget:
    """Token buckets for what one socket sends, each ``per second`` sustained with bursts of
    twice that: messages, bytes, and accepted awareness bytes (which every other socket
    receives, so they are what a flood would multiply). The defaults stop floods, never fast clients
    (scripts and imports send 1,000 messages and 4 MiB a second; a caret moving with every
    keystroke sends a few KiB). A rate of 0 is no limit."""

    def __init__(
        self,
        messages_per_second: float,
        bytes_per_second: float,
        awareness_bytes_per_second: float = 0,
    ) -> None:
        self._rates = (
            float(messages_per_second),
            float(bytes_per_second),
            float(awareness_bytes_per_second),
        )
        self._tokens = [2 * r for r in self._rates]
        self._at = time.monotonic()

    def spend(self, messages: int, size: int, awareness: int = 0) -> bool:
        now = time.monotonic()
        elapsed, self._at = now - self._at, now
        ok = True
        for i, amount in enumerate((messages, size, awareness)):
            rate = self._rates[i]
            if rate <= 0:
                continue
            self._tokens[i] = min(2 * rate, self._tokens[i] + elapsed * rate) - amount
            ok = ok and self._tokens[i] >= 0
        return ok


class Peer:
    """Frames are queued without waiting; a peer whose queue passes ``limit_bytes`` is closed
    (1013) so that one slow socket never delays the room or its other sockets. Its ``id`` is
    given by the room it joins."""

    def __init__(
        self,
        role: Role,
        *,
        wants_extensions: bool = False,
        limit_bytes: int = 64 << 20,
        budget: InboundBudget | None = None,
        author: AuthorRecord | None = None,
    ) -> None:
        self.id = 0
        self.role = role
        self.author = author  # who its changes are attributed to (None: anonymous)
        self.wants_extensions = wants_extensions
        self.budget = budget
        self.client_ids: set[int] = set()
        self.announced = 0  # awareness ids ever claimed: removing and re-adding still counts
        self.participant: Participant | None = None
        self.last_received = time.monotonic()
        self.close_code: int | None = None
        self.close_reason = ""
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
            self.close(CloseCode.TRY_AGAIN, "too far behind")
            return
        self._queued_bytes += len(frame)
        self._outbox.append(frame)
        self._wake.set()

    def close(self, code: int, reason: str = "") -> None:
        """Ask the transport to close this socket; queued frames are dropped."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason[:120]  # a close frame's reason is at most 123 bytes
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

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self.role}>"
