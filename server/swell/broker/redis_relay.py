"""Processes joined through Redis Streams (fits ``collab.relay.Relay``).

One stream per document (``<prefix>:doc:<id>``, trimmed by age) and one for notices
(``<prefix>:events``). Three tasks per process, none of which a document can stop:
- the publisher drains an outbox (bounded in bytes) into pipelined XADDs; while Redis is
  unreachable entries wait, and commits never do;
- the reader runs one XREAD over every followed stream; an entry is decoded once, a malformed
  one is logged and skipped for its document alone (yhub#61), and delivering never awaits;
- the heartbeat keeps this process's lease (``<prefix>:process:<origin>``, 3 s) and checks
  the leases of the processes it heard from: one that expired is gone, and followers forget
  its presence. After an outage followers get a ``Resync`` (repair from the database)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from swell.protocol.cluster import (
    Delivery,
    Fields,
    MalformedEntry,
    OnDelivery,
    OriginGone,
    RelayedEntry,
    RelayedNotice,
    Resync,
    decode_entry,
    encode_entry,
)
from swell.telemetry import Telemetry

log = logging.getLogger(__name__)

LEASE_MS = 3000
HEARTBEAT_SECONDS = 1.0
BLOCK_MS = 2000
READ_COUNT = 1000
STREAM_SECONDS = 120.0  # entries older than this are trimmed (a reader further behind repairs)
KEY_TTL_MS = 3_600_000  # a document's stream nobody writes goes away
FOLLOW_TIMEOUT = 1.0
OUTBOX_BYTES = 64 << 20
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)
Failures = (RedisError, OSError, asyncio.TimeoutError)


def _cancelled() -> bool:
    """Whether this task is being cancelled: an error raised meanwhile (redis-py may turn a
    cancellation into a connection error) must end the loop, not be taken for an outage."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class RedisRelay:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        telemetry: Telemetry | None = None,
        outbox_bytes: int = OUTBOX_BYTES,
    ) -> None:
        self.origin = f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._prefix = prefix
        self._telemetry = telemetry or Telemetry()
        # Writes and lease checks on one connection pool; the blocking read on its own.
        self._redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._reader = Redis.from_url(
            url, socket_timeout=BLOCK_MS / 1000 + 5, socket_connect_timeout=2
        )
        self._events_key = f"{prefix}:events".encode()
        self._wake_key = f"{prefix}:wake:{self.origin}".encode()
        self._lease_key = f"{prefix}:process:{self.origin}".encode()
        self._followers: dict[str, set[_Following]] = {}
        self._positions: dict[str, bytes | None] = {}  # doc id -> last id read (None: unknown)
        self._notice_listeners: list[OnDelivery] = []
        self._events_pos = b"$"
        self._wake_pos = b"$"
        self._outbox: deque[tuple[bytes, Fields, int]] = deque()
        self.outbox_bytes = 0
        self._outbox_limit = outbox_bytes
        self._outbox_ready = asyncio.Event()
        self._stale: set[str] = set()  # documents whose entries were dropped (outbox full)
        self._origins: dict[str, float] = {}  # processes heard from -> when
        self.connected = False
        self._had_lease = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        telemetry_gauges = self._telemetry.gauge_from
        telemetry_gauges("swell_relay_outbox_bytes", lambda: float(self.outbox_bytes))
        telemetry_gauges("swell_redis_connected", lambda: 1.0 if self.connected else 0.0)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the three tasks; Redis may be down (they wait for it, loudly)."""
        try:
            await asyncio.wait_for(self._first_positions(), FOLLOW_TIMEOUT * 2)
            self.connected = True
        except Failures as e:
            log.warning("Redis is unreachable at start (%r); retrying in the background", e)
        loop = asyncio.get_running_loop()
        for name, run in (
            ("relay-publisher", self._publisher),
            ("relay-reader", self._read_forever),
            ("relay-heartbeat", self._heartbeat),
        ):
            self._tasks.append(loop.create_task(run(), name=name))

    async def _first_positions(self) -> None:
        self._events_pos = await self._last_id(self._events_key)
        self._wake_pos = await self._last_id(self._wake_key)

    async def ping(self) -> None:
        """For readiness: raises when Redis does not answer."""
        await self._redis.ping()

    async def close(self, flush_seconds: float = 2.0) -> None:
        """Send what waits (briefly), give up the lease (the others drop this process's
        presence at once), stop."""
        self._closing = True
        deadline = time.monotonic() + flush_seconds
        while self._outbox and self.connected and time.monotonic() < deadline:
            self._outbox_ready.set()
            await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        # A cancellation that lands as redis-py turns a timeout into its own error is taken
        # for an outage by the loops; they also stop on ``_closing``, and are not waited on
        # for ever.
        await asyncio.wait(self._tasks, timeout=2.0)
        try:
            await asyncio.wait_for(self._redis.delete(self._lease_key), 1.0)
        except Failures:
            pass
        await self._redis.aclose()
        await self._reader.aclose()

    # ---- following ------------------------------------------------------------------------------

    def _doc_key(self, doc_id: str) -> bytes:
        return f"{self._prefix}:doc:{doc_id}".encode()

    async def follow(self, doc_id: str) -> _Following:
        following = _Following(self, doc_id)
        followers = self._followers.setdefault(doc_id, set())
        followers.add(following)
        if doc_id not in self._positions:
            self._positions[doc_id] = None
            if not self.connected:  # known to be away: the reader finds the position later
                return following
            try:
                position = await asyncio.wait_for(
                    self._last_id(self._doc_key(doc_id)), FOLLOW_TIMEOUT
                )
            except Failures as e:
                log.warning("%s: cannot read its stream position (%r); will repair", doc_id, e)
                position = None
            if doc_id in self._positions and self._positions[doc_id] is None:
                self._positions[doc_id] = position
            self._wake()
        return following

    def _unfollow(self, following: _Following) -> None:
        followers = self._followers.get(following.doc_id)
        if followers is None:
            return
        followers.discard(following)
        if not followers:
            del self._followers[following.doc_id]
            self._positions.pop(following.doc_id, None)

    def follow_notices(self, on_delivery: OnDelivery) -> Callable[[], None]:
        self._notice_listeners.append(on_delivery)

        def unsubscribe() -> None:
            if on_delivery in self._notice_listeners:
                self._notice_listeners.remove(on_delivery)

        return unsubscribe

    async def _last_id(self, key: bytes) -> bytes:
        last: Any = await self._redis.xrevrange(key, count=1)
        return bytes(last[0][0]) if last else b"0-0"

    def _wake(self) -> None:
        """Make the reader's XREAD return, so it reads the streams just followed."""
        self._enqueue(self._wake_key, {b"o": self.origin.encode(), b"t": b"w"})

    # ---- publishing -----------------------------------------------------------------------------

    def publish(self, doc_id: str, entry: RelayedEntry) -> None:
        self._enqueue(self._doc_key(doc_id), encode_entry(entry))

    def publish_notice(self, entry: RelayedNotice) -> None:
        self._enqueue(self._events_key, encode_entry(entry))

    def _enqueue(self, key: bytes, fields: Fields) -> None:
        size = len(key) + sum(len(k) + len(v) for k, v in fields.items())
        while self._outbox and self.outbox_bytes + size > self._outbox_limit:
            old_key, _, old_size = self._outbox.popleft()
            self.outbox_bytes -= old_size
            self._note_dropped(old_key)
        self._outbox.append((key, fields, size))
        self.outbox_bytes += size
        self._outbox_ready.set()

    def _note_dropped(self, key: bytes) -> None:
        doc_prefix = f"{self._prefix}:doc:".encode()
        if key.startswith(doc_prefix):
            doc_id = key[len(doc_prefix) :].decode()
            if doc_id not in self._stale:
                log.error(
                    "%s: the outbox to Redis is full (%d bytes); dropped entries, the other "
                    "processes will repair it from the database",
                    doc_id,
                    self._outbox_limit,
                )
            self._stale.add(doc_id)
        self._telemetry.failure("relay_publish")

    async def _publisher(self) -> None:
        attempt = 0
        while not self._closing:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = list(self._outbox)
                try:
                    await self._send(batch)
                except Failures as e:
                    if _cancelled():
                        raise asyncio.CancelledError from e
                    self._lost("publishing", e)
                    self._telemetry.failure("relay_publish")
                    if self._closing:
                        return
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    attempt += 1
                    continue
                attempt = 0
                for _ in batch:  # entries queued meanwhile stay, in order
                    _, _, size = self._outbox.popleft()
                    self.outbox_bytes -= size
                self._telemetry.relay_out(len(batch))
                if self._stale:
                    stale, self._stale = self._stale, set()
                    for doc_id in stale:
                        self.publish_notice(RelayedNotice(self.origin, "stale", doc_id))

    async def _send(self, batch: list[tuple[bytes, Fields, int]]) -> None:
        """One round trip: every XADD (trimming entries older than STREAM_SECONDS), then a
        TTL on each stream written. A batch that fails part-way is sent again whole: followers
        know repeated changes by their revisions."""
        now_ms = int(time.time() * 1000)
        min_id = f"{now_ms - int(STREAM_SECONDS * 1000)}-0"
        pipe = self._redis.pipeline(transaction=False)
        keys: set[bytes] = set()
        for key, fields, _ in batch:
            if key == self._wake_key:
                pipe.xadd(key, fields, maxlen=16, approximate=True)  # type: ignore[arg-type]
            else:
                pipe.xadd(key, fields, minid=min_id, approximate=True)  # type: ignore[arg-type]
            keys.add(key)
        for key in keys:
            pipe.pexpire(key, KEY_TTL_MS)
        await pipe.execute()
        self._found()

    # ---- reading --------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._read_once()
                attempt = 0
            except Failures as e:
                if _cancelled():
                    raise asyncio.CancelledError from e
                self._lost("reading", e)
                self._telemetry.failure("relay_read")
                await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
            except Exception as e:
                if _cancelled():
                    raise asyncio.CancelledError from e
                # A bug here must not stop every document of this process: log, go on.
                log.exception("the relay's reader failed; going on")
                self._telemetry.failure("relay_read")
                await asyncio.sleep(0.5)

    async def _read_once(self) -> None:
        if not self.connected:
            await self._recover()
        unknown = [doc_id for doc_id, pos in self._positions.items() if pos is None]
        for doc_id in unknown:  # followed while Redis was away: from now, and repair
            position = await self._last_id(self._doc_key(doc_id))
            if doc_id in self._positions:
                self._positions[doc_id] = position
                self._resync(doc_id)
        streams: dict[Any, Any] = {
            self._wake_key: self._wake_pos,
            self._events_key: self._events_pos,
        }
        for doc_id, known in self._positions.items():
            if known is not None:
                streams[self._doc_key(doc_id)] = known
        response: Any = await self._reader.xread(streams, count=READ_COUNT, block=BLOCK_MS)
        self._found()
        now_ms = time.time() * 1000
        for key, entries in response or []:
            for entry_id, fields in entries:
                self._dispatch(bytes(key), bytes(entry_id), fields, now_ms)

    def _dispatch(self, key: bytes, entry_id: bytes, fields: Fields, now_ms: float) -> None:
        if key == self._wake_key:
            self._wake_pos = entry_id
            return
        if key == self._events_key:
            self._events_pos = entry_id
            doc_id = ""
        else:
            doc_id = key[len(self._prefix) + 5 :].decode()
            if doc_id not in self._positions:
                return  # unfollowed meanwhile
            self._positions[doc_id] = entry_id
        if fields.get(b"o") == self.origin.encode():
            return
        try:
            entry = decode_entry(fields)
        except MalformedEntry as e:
            log.warning("skipped a malformed entry %s of %s: %s", entry_id.decode(), key, e)
            self._telemetry.failure("relay_malformed")
            return
        self._telemetry.relay_in(max(0.0, now_ms - int(entry_id.split(b"-")[0])) / 1000)
        self._origins[entry.origin] = time.monotonic()
        if doc_id:
            for following in list(self._followers.get(doc_id, ())):
                following.deliver(entry)
        else:
            for listener in list(self._notice_listeners):
                _safely(listener, entry)

    def _resync(self, doc_id: str) -> None:
        for following in list(self._followers.get(doc_id, ())):
            following.deliver(Resync())

    async def _recover(self) -> None:
        """Back after an outage: the notices stream goes on from now; every followed document
        may have missed entries, so each repairs from the database."""
        await self._redis.ping()
        self._events_pos = await self._last_id(self._events_key)
        self._wake_pos = await self._last_id(self._wake_key)
        self.connected = True
        log.warning("Redis is reachable again; repairing %d documents", len(self._followers))
        for doc_id in list(self._followers):
            self._resync(doc_id)

    def _lost(self, doing: str, error: BaseException) -> None:
        if self.connected:
            log.error(
                "Redis unreachable while %s (%r): documents are saved, others hear "
                "of them once it is back",
                doing,
                error,
            )
        self.connected = False

    def _found(self) -> None:
        if not self.connected:
            self.connected = True

    # ---- leases ---------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while not self._closing:
            try:
                await self._beat()
            except Failures as e:
                if _cancelled():
                    raise asyncio.CancelledError from e
                self._lost("renewing the lease", e)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _beat(self) -> None:
        previous = await self._redis.set(self._lease_key, b"1", px=LEASE_MS, get=True)
        if previous is None and self._had_lease:
            # It lapsed (Redis restarted, or this process stalled): the others may have
            # forgotten our sockets; tell every follower to announce them again.
            log.warning("this process's lease had lapsed; announcing its documents again")
            for doc_id in list(self._followers):
                self._resync(doc_id)
        self._had_lease = True
        if not self._origins:
            return
        origins = list(self._origins)
        alive = await self._redis.mget([f"{self._prefix}:process:{o}" for o in origins])
        for origin, lease in zip(origins, alive, strict=True):
            if lease is None and origin in self._origins:
                del self._origins[origin]
                log.info("process %s is gone; forgetting its sockets", origin)
                for followers in list(self._followers.values()):
                    for following in list(followers):
                        following.deliver(OriginGone(origin))


class _Following:
    def __init__(self, relay: RedisRelay, doc_id: str) -> None:
        self._relay = relay
        self.doc_id = doc_id
        self._waiting: list[Delivery] | None = []
        self._on_delivery: OnDelivery | None = None

    def deliver(self, delivery: Delivery) -> None:
        if self._waiting is not None:
            self._waiting.append(delivery)
        elif self._on_delivery is not None:
            _safely(self._on_delivery, delivery)

    def start(self, on_delivery: OnDelivery) -> None:
        """What arrived meanwhile goes out on the next loop turn (the room is still being
        built when it starts following), before anything newer."""
        self._on_delivery = on_delivery
        asyncio.get_running_loop().call_soon(self._replay)

    def _replay(self) -> None:
        waiting, self._waiting = self._waiting, None
        for delivery in waiting or ():
            if self._on_delivery is not None:
                _safely(self._on_delivery, delivery)

    def close(self) -> None:
        self._on_delivery = None
        self._waiting = None
        self._relay._unfollow(self)


def _safely(on_delivery: OnDelivery, delivery: Delivery) -> None:
    try:
        on_delivery(delivery)
    except Exception:
        log.exception("a follower failed on %s; the others go on", type(delivery).__name__)
