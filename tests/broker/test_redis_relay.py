"""The Redis relay against the real Redis: entries reach the other processes' followers in
order and never their own; a malformed entry is skipped for its document alone; a process
whose lease ends is gone for the others; entries wait out an outage and a follower is told to
repair."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from swell.broker.redis_relay import RedisRelay
from swell.protocol.cluster import (
    Delivery,
    OriginGone,
    RelayedChange,
    RelayedHello,
    RelayedNotice,
    Resync,
)
from tests.cluster.redis_proxy import RedisProxy

REDIS_ENV = "SWELL_TEST_REDIS_URL"
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"{REDIS_ENV} is not set"),
]


async def wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = f"swelltest-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(os.environ[REDIS_ENV])
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def started(url: str, prefix: str) -> RedisRelay:
    relay = RedisRelay(url, prefix)
    await relay.start()
    return relay


def change(origin: str, rev: int) -> RelayedChange:
    return RelayedChange(origin, rev, rev, b"\x00\x00", ())


async def test_entries_reach_other_processes_in_order_and_never_their_own(prefix: str) -> None:
    url = os.environ[REDIS_ENV]
    one, two = await started(url, prefix), await started(url, prefix)
    try:
        got_one: list[Delivery] = []
        got_two: list[Delivery] = []
        (await one.follow("d")).start(got_one.append)
        (await two.follow("d")).start(got_two.append)
        notices: list[Delivery] = []
        two.follow_notices(notices.append)
        for rev in range(1, 51):
            one.publish("d", change(one.origin, rev))
        one.publish_notice(RelayedNotice(one.origin, "title", "d", title="T"))
        await wait_for(lambda: len([d for d in got_two if isinstance(d, RelayedChange)]) == 50)
        revs = [d.from_rev for d in got_two if isinstance(d, RelayedChange)]
        assert revs == list(range(1, 51))
        await wait_for(lambda: bool(notices))
        assert notices == [RelayedNotice(one.origin, "title", "d", title="T")]
        # one hears two's entries, never its own
        two.publish("d", RelayedHello(two.origin))
        await wait_for(lambda: any(isinstance(d, RelayedHello) for d in got_one))
        assert not any(isinstance(d, RelayedChange) for d in got_one)
    finally:
        await one.close()
        await two.close()


async def test_a_malformed_entry_is_skipped_for_its_document_alone(prefix: str) -> None:
    url = os.environ[REDIS_ENV]
    one, two = await started(url, prefix), await started(url, prefix)
    raw = Redis.from_url(url)
    try:
        a: list[Delivery] = []
        b: list[Delivery] = []
        (await two.follow("a")).start(a.append)
        (await two.follow("b")).start(b.append)
        for fields in (
            {b"o": b"evil", b"t": b"c", b"f": b"1", b"r": b"1", b"u": b"", b"m": b"[]"},
            {b"o": b"evil", b"t": b"zz"},
            {b"x": b"y"},
            {b"o": b"evil", b"t": b"c", b"f": b"nope", b"r": b"1", b"u": b"\x01", b"m": b"{"},
            {b"o": b"evil", b"t": b"p", b"m": b'[1, "root", null, null, null, false]'},
        ):
            await raw.xadd(f"{prefix}:doc:a", fields)  # type: ignore[arg-type]
        one.publish("a", change(one.origin, 1))
        one.publish("b", change(one.origin, 1))
        await wait_for(lambda: any(isinstance(d, RelayedChange) for d in a))
        await wait_for(lambda: any(isinstance(d, RelayedChange) for d in b))
        assert [d for d in a if isinstance(d, RelayedChange)] == [change(one.origin, 1)]
    finally:
        await raw.aclose()
        await one.close()
        await two.close()


async def test_a_follower_that_fails_stops_nobody(prefix: str) -> None:
    url = os.environ[REDIS_ENV]
    one, two = await started(url, prefix), await started(url, prefix)
    try:
        good: list[Delivery] = []

        def bad(_: Delivery) -> None:
            raise RuntimeError("a bug in one room")

        (await two.follow("a")).start(bad)
        (await two.follow("b")).start(good.append)
        for rev in range(1, 4):
            one.publish("a", change(one.origin, rev))
            one.publish("b", change(one.origin, rev))
        await wait_for(lambda: len([d for d in good if isinstance(d, RelayedChange)]) == 3)
    finally:
        await one.close()
        await two.close()


async def test_a_process_whose_lease_ends_is_gone_for_the_others(prefix: str) -> None:
    url = os.environ[REDIS_ENV]
    one, two = await started(url, prefix), await started(url, prefix)
    got: list[Delivery] = []
    try:
        (await two.follow("d")).start(got.append)
        (await one.follow("d")).start(lambda _: None)
        one.publish("d", change(one.origin, 1))
        await wait_for(lambda: any(isinstance(d, RelayedChange) for d in got))
        # Act out a SIGKILL: its tasks stop, its lease is left to expire (3 s).
        for task in one._tasks:
            task.cancel()
        killed = time.monotonic()
        await wait_for(lambda: OriginGone(one.origin) in got, within=8)
        assert time.monotonic() - killed < 5.0
    finally:
        await one._redis.aclose()
        await one._reader.aclose()
        await two.close()


async def test_entries_wait_out_an_outage_and_followers_repair(prefix: str) -> None:
    url = os.environ[REDIS_ENV]
    proxy = RedisProxy(url)
    proxy.start()
    one, two = await started(proxy.url, prefix), await started(url, prefix)
    try:
        got: list[Delivery] = []
        mine: list[Delivery] = []
        (await two.follow("d")).start(got.append)
        (await one.follow("d")).start(mine.append)
        one.publish("d", change(one.origin, 1))
        await wait_for(lambda: change(one.origin, 1) in got)
        proxy.cut()
        for rev in range(2, 6):
            one.publish("d", change(one.origin, rev))  # never blocks
        await wait_for(lambda: not one.connected)
        assert one.outbox_bytes > 0
        proxy.restore()
        await wait_for(
            lambda: [c for c in got if isinstance(c, RelayedChange)][-1:] == [change(one.origin, 5)]
        )
        assert [d.from_rev for d in got if isinstance(d, RelayedChange)] == [1, 2, 3, 4, 5]
        await wait_for(lambda: any(isinstance(d, Resync) for d in mine))  # one may have missed some
        assert one.outbox_bytes == 0
    finally:
        await one.close()
        await two.close()
        proxy.close()
