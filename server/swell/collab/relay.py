"""The seam between processes of one deployment: a stream per document, in commit order, and
one for document-wide notices.

A room follows its document's stream while it is open: what another process committed
(changes, carrying their revisions), accepted (awareness) or saw (presence, activity). The
database stays the truth: a follower that notices a gap, or is told it may have missed entries
(``Resync``), repairs from storage. ``InProcessRelay`` joins registries inside one process (for
tests); ``swell.broker.RedisRelay`` joins processes through Redis Streams. Without a relay a
process assumes it is alone and pays nothing for this seam."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from itertools import count
from typing import Protocol

from swell.protocol.cluster import (
    Delivery,
    OnDelivery,
    OriginGone,
    RelayedEntry,
    RelayedNotice,
    Resync,
)

__all__ = ["Delivery", "Following", "InProcessRelay", "OnDelivery", "OriginGone", "Relay", "Resync"]

log = logging.getLogger(__name__)


class Following(Protocol):
    def start(self, on_delivery: OnDelivery) -> None:
        """Deliver what arrived since ``follow`` returned, then everything after, in stream
        order; entries of this process are never delivered back."""
        ...

    def close(self) -> None: ...


class Relay(Protocol):
    origin: str  # this process, as its entries name it

    async def follow(self, doc_id: str) -> Following:
        """Follow the document's stream from before this call returned (so a room loaded
        from storage afterwards misses nothing: what it loaded comes again, and is known by
        its revisions). Never raises: an unreachable broker is followed once it is back, with
        a ``Resync``."""
        ...

    def publish(self, doc_id: str, entry: RelayedEntry) -> None:
        """Queue an entry for the document's stream; never blocks the caller."""
        ...

    def follow_notices(self, on_delivery: OnDelivery) -> Callable[[], None]:
        """Deployment-wide notices of the other processes; returns the unsubscribe function."""
        ...

    def publish_notice(self, entry: RelayedNotice) -> None: ...


class InProcessRelay:
    """Relays of one process, joined as if they were processes: ``InProcessRelay()`` makes the
    first, ``sibling()`` another that shares its streams. Deliveries are asynchronous (the
    next loop iteration), like a real stream's."""

    _origins = count(1)

    def __init__(self, hub: _Hub | None = None) -> None:
        self._hub = hub or _Hub()
        self.origin = f"local-{next(self._origins)}"

    def sibling(self) -> InProcessRelay:
        return InProcessRelay(self._hub)

    async def follow(self, doc_id: str) -> Following:
        following = _LocalFollowing(self._hub, doc_id, self.origin)
        self._hub.followers.setdefault(doc_id, set()).add(following)
        return following

    def publish(self, doc_id: str, entry: RelayedEntry) -> None:
        for following in list(self._hub.followers.get(doc_id, ())):
            if following.origin != self.origin:
                following.deliver(entry)

    def follow_notices(self, on_delivery: OnDelivery) -> Callable[[], None]:
        listener = (self.origin, on_delivery)
        self._hub.notices.append(listener)
        return lambda: self._hub.notices.remove(listener) if listener in self._hub.notices else None

    def publish_notice(self, entry: RelayedNotice) -> None:
        loop = asyncio.get_running_loop()
        for origin, on_delivery in list(self._hub.notices):
            if origin != self.origin:
                loop.call_soon(_safely, on_delivery, entry)

    def gone(self) -> None:
        """Act out this process's death: the others forget what it owned."""
        for followers in self._hub.followers.values():
            for following in list(followers):
                if following.origin != self.origin:
                    following.deliver(OriginGone(self.origin))


class _Hub:
    def __init__(self) -> None:
        self.followers: dict[str, set[_LocalFollowing]] = {}
        self.notices: list[tuple[str, OnDelivery]] = []


class _LocalFollowing:
    def __init__(self, hub: _Hub, doc_id: str, origin: str) -> None:
        self._hub = hub
        self.doc_id = doc_id
        self.origin = origin
        self._waiting: list[Delivery] | None = []
        self._on_delivery: OnDelivery | None = None

    def deliver(self, delivery: Delivery) -> None:
        if self._waiting is not None:
            self._waiting.append(delivery)
        elif self._on_delivery is not None:
            asyncio.get_running_loop().call_soon(_safely, self._on_delivery, delivery)

    def start(self, on_delivery: OnDelivery) -> None:
        waiting, self._waiting = self._waiting or [], None
        self._on_delivery = on_delivery
        for delivery in waiting:
            self.deliver(delivery)

    def close(self) -> None:
        self._on_delivery = None
        self._waiting = None
        followers = self._hub.followers.get(self.doc_id)
        if followers is not None:
            followers.discard(self)
            if not followers:
                del self._hub.followers[self.doc_id]


def _safely(on_delivery: OnDelivery, delivery: Delivery) -> None:
    try:
        on_delivery(delivery)
    except Exception:
        log.exception("a follower failed on %s", type(delivery).__name__)
