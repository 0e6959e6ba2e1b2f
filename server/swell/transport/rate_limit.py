"""What one client address may do per minute, and who that client is behind a proxy.

A token bucket per key: a client may spend a whole minute's allowance at once (a page load
opens several connections), then one more every ``60 / per_minute`` seconds. Memory is
bounded: a bucket untouched for a minute is full again, so it is forgotten (which is the same
as keeping it), and at most ``max_keys`` buckets are kept (the least recently used goes first).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from swell.settings import Settings

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_KEYS = 100_000
WINDOW_SECONDS = 60.0
MAX_FORWARDED_ENTRIES = 32  # a longer X-Forwarded-For is read from its right end only
UNKNOWN_CLIENT = "unknown"


class RateLimiter:
    """``check(key)`` spends one unit of ``key``'s allowance (``cost`` units for a call that
    does the work of several); 0 per minute means no limit."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / WINDOW_SECONDS  # units regained per second
        self._max_keys = max_keys
        self._clock = clock
        # key -> (units left, when last touched); oldest touch first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._warned_full = False

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, cost: float = 1.0) -> float | None:
        """None if allowed (and counted), else the seconds until such a call is allowed."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        self._prune(now)
        units, touched = self._buckets.pop(key, (float(self.per_minute), now))
        units = min(float(self.per_minute), units + (now - touched) * self._rate)
        cost = min(cost, float(self.per_minute))  # never more than a full allowance
        if units >= cost:
            self._buckets[key] = (units - cost, now)
            return None
        self._buckets[key] = (units, now)
        return (cost - units) / self._rate

    def _prune(self, now: float) -> None:
        """Forget buckets that refilled (touched a window ago), then the least recent ones
        beyond the cap: an attacker with many addresses cannot grow this without bound."""
        buckets = self._buckets
        while buckets:
            key, (_units, touched) = next(iter(buckets.items()))
            if now - touched < WINDOW_SECONDS:
                break
            del buckets[key]
        while len(buckets) >= self._max_keys:
            buckets.popitem(last=False)
            if not self._warned_full:
                self._warned_full = True
                log.warning(
                    "rate limiter holds %d client addresses: forgetting the oldest", self._max_keys
                )


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` is whole seconds; round up so a client that waits is let in."""
    return str(max(1, math.ceil(seconds)))


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """IPs or CIDRs (``10.0.0.0/8``, ``::1``); raises ValueError naming a bad entry."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def _in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def client_address(scope: Mapping[str, Any], trusted: tuple[IPNetwork, ...]) -> str:
    """The client an ASGI scope (HTTP or WebSocket) comes from: the socket peer, unless that
    peer is a trusted proxy; then the right-most ``X-Forwarded-For`` entry that is not one
    (entries left of it are whatever the client claimed, so they are never believed)."""
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN_CLIENT
    if not trusted or not _in(peer, trusted):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    entries = [_strip_port(entry) for entry in forwarded if entry][-MAX_FORWARDED_ENTRIES:]
    for entry in reversed(entries):
        if not _in(entry, trusted):
            return entry
    return entries[0] if entries else peer


def _strip_port(entry: str) -> str:
    """Some proxies append a port (``1.2.3.4:5678``, ``[::1]:5678``); the address is the key."""
    entry = entry[:64]
    if entry.startswith("[") and "]" in entry:
        return entry[1 : entry.index("]")]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def rate_key(address: str) -> str:
    """The key an address is limited under: an IPv6 client usually holds a whole /64, so its
    /64 is one client; anything else is itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class RateLimited(Exception):
    """Over a limit: answered 429 with ``Retry-After`` (see ``access.register_error_handlers``)."""

    def __init__(self, retry_after: float, message: str = "too many requests, slow down") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


@dataclass
class ClientLimits:
    """The per-address limits of one server, shared by every transport: WebSockets and event
    streams draw on the same ``connects`` allowance."""

    trusted: tuple[IPNetwork, ...]
    creates: RateLimiter
    connects: RateLimiter
    writes: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        """Raises ValueError for a ``trusted_proxies`` entry that is not an IP or CIDR."""
        return cls(
            parse_networks(settings.trusted_proxies),
            RateLimiter(settings.creates_per_minute),
            RateLimiter(settings.connects_per_minute),
            RateLimiter(settings.writes_per_minute),
        )

    def client(self, scope: Mapping[str, Any]) -> str:
        return client_address(scope, self.trusted)

    def check(
        self, limiter: RateLimiter, scope: Mapping[str, Any], cost: float = 1.0
    ) -> float | None:
        """None if the scope's client may go on, else the seconds it should wait."""
        return limiter.check(rate_key(self.client(scope)), cost)

    def enforce(self, limiter: RateLimiter, scope: Mapping[str, Any], cost: float = 1.0) -> None:
        """For HTTP routes: raise RateLimited (a 429) when over the limit."""
        retry_after = self.check(limiter, scope, cost)
        if retry_after is not None:
            raise RateLimited(retry_after)


class ConcurrencyCap:
    """At most ``limit`` things open at once per key (event streams per document); 0 means no
    cap. Keys at zero are dropped, so this holds only what is open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        count = self._open.get(key, 0)
        if self.limit > 0 and count >= self.limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def count(self, key: str) -> int:
        return self._open.get(key, 0)
