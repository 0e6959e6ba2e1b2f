"""One connected socket as the room sees it: where its frames go (a link to the socket, or a
byte-bounded outbox a sender task drains), an inbound budget, and the awareness ids it owns."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from swell.records import AuthorRecord

if TYPE_CHECKING:
    from swell.collab.events import Participant

log = logging.getLogger(__name__)


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

    __slots__ = ("_rates", "_messages", "_bytes", "_awareness", "_at")

    def __init__(
        self,
        messages_per_second: float,
        bytes_per_second: float,
        awareness_bytes_per_second: float = 0,
    ) -> None:
        self._start(
            (float(messages_per_second), float(bytes_per_second), float(awareness_bytes_per_second))
        )

    @classmethod
    def of(cls, rates: tuple[float, float, float]) -> InboundBudget:
        """A budget on ``rates``, one tuple shared by every socket's budget."""
        budget = cls.__new__(cls)
        budget._start(rates)
        return budget

    def _start(self, rates: tuple[float, float, float]) -> None:
        self._rates = rates
        self._messages, self._bytes, self._awareness = (2 * r for r in rates)
        self._at = time.monotonic()

    def spend(self, messages: int, size: int, awareness: int = 0) -> bool:
        now = time.monotonic()
        elapsed, self._at = now - self._at, now
        rates = self._rates
        ok = True
        if rates[0] > 0:
            self._messages = min(2 * rates[0], self._messages + elapsed * rates[0]) - messages
            ok = self._messages >= 0
        if rates[1] > 0:
            self._bytes = min(2 * rates[1], self._bytes + elapsed * rates[1]) - size
            ok = ok and self._bytes >= 0
        if rates[2] > 0:
            self._awareness = min(2 * rates[2], self._awareness + elapsed * rates[2]) - awareness
            ok = ok and self._awareness >= 0
        return ok


class Link(Protocol):
    """A socket the room writes to directly, without a task in between: ``write`` hands the
    frame to the socket at once (the kernel takes it, or the transport's buffer keeps it) and
    returns the bytes still waiting to be written; ``close`` starts the closing handshake."""

    def write(self, frame: bytes) -> int: ...

    def close(self, code: int, reason: str) -> None: ...


class Peer:
    """Frames are sent without waiting: written to the socket's ``link`` at once, or (no link)
    queued for a sender task that reads ``next_frame``. A peer whose unwritten bytes pass
    ``limit_bytes`` is closed (1013) so that one slow socket never delays the room or its other
    sockets. Its ``id`` is given by the room it joins."""

    __slots__ = (
        "id",
        "role",
        "author",
        "wants_extensions",
        "budget",
        "client_ids",
        "announced",
        "participant",
        "last_received",
        "close_code",
        "close_reason",
        "_link",
        "_limit_bytes",
        "_queued_bytes",
        "_outbox",
        "_wake",
    )

    def __init__(
        self,
        role: Role,
        *,
        wants_extensions: bool = False,
        limit_bytes: int = 64 << 20,
        budget: InboundBudget | None = None,
        author: AuthorRecord | None = None,
        link: Link | None = None,
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
        self._link = link
        self._limit_bytes = limit_bytes
        self._queued_bytes = 0
        # Only a peer without a link queues (an idle socket's deque and event cost 1.5 KiB).
        self._outbox: deque[bytes] = deque() if link is None else _NO_OUTBOX
        self._wake: asyncio.Event | None = asyncio.Event() if link is None else None

    @property
    def can_edit(self) -> bool:
        return self.role is Role.EDIT

    def send(self, frame: bytes) -> None:
        if self.close_code is not None:
            return
        if self._link is not None:
            if self._link.write(frame) > self._limit_bytes:
                self._fell_behind()
            return
        if self._queued_bytes + len(frame) > self._limit_bytes:
            self._fell_behind()
            return
        self._queued_bytes += len(frame)
        self._outbox.append(frame)
        assert self._wake is not None
        self._wake.set()

    def _fell_behind(self) -> None:
        log.info(
            "closing peer %s (1013): over %d bytes it has not read", self.id, self._limit_bytes
        )
        self.close(CloseCode.TRY_AGAIN, "too far behind")

    def close(self, code: int, reason: str = "") -> None:
        """Ask the transport to close this socket; queued frames are dropped."""
        if self.close_code is None:
            self.close_code = code
            # A close frame's reason is at most 123 bytes (of UTF-8).
            self.close_reason = reason.encode()[:120].decode(errors="ignore")
            if self._link is not None:
                self._link.close(code, self.close_reason)
                return
            self._outbox.clear()
            self._queued_bytes = 0
            assert self._wake is not None
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
            assert self._wake is not None, "a linked peer has no outbox to read"
            self._wake.clear()
            await self._wake.wait()

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self.role}>"


_NO_OUTBOX: deque[bytes] = deque(maxlen=0)
"""Shared by every linked peer: nothing is ever queued in it."""
