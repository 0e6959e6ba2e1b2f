"""Per-address limits: the bucket arithmetic and its memory bound (a fake clock), who the
client is behind a proxy, and 429 + Retry-After from a real server with low limits."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from swell.transport.rate_limit import (
    ConcurrencyCap,
    RateLimiter,
    client_address,
    parse_networks,
    rate_key,
    retry_after_header,
)
from tests.client import ws_url
from tests.server import ServerProcess
from tests.sse import SseClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_minute_allowance_then_one_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    wait = limiter.check("a")
    assert wait is not None and 19.9 < wait <= 20.0  # 3 a minute: one every 20 s
    assert limiter.check("b") is None  # keys are independent
    clock.now += 10
    assert limiter.check("a") is not None  # refused calls do not reset the refill
    clock.now += 10
    assert limiter.check("a") is None
    assert limiter.check("a") is not None


def test_a_call_doing_the_work_of_several_costs_as_much() -> None:
    """``POST /api/unread`` about 100 documents counts as 10 writes."""
    clock = Clock()
    limiter = RateLimiter(30, clock=clock)
    assert limiter.check("a", cost=10) is None
    assert limiter.check("a", cost=10) is None
    assert limiter.check("a", cost=10) is None
    wait = limiter.check("a", cost=10)
    assert wait is not None and 19.9 < wait <= 20.0  # 10 units at 30 a minute
    assert limiter.check("a", cost=100) is not None  # capped at a full allowance, not never
    clock.now += 60
    assert limiter.check("a", cost=100) is None


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check("a") is None for _ in range(10_000))
    assert len(limiter) == 0


def test_memory_is_bounded_by_pruning_and_a_cap() -> None:
    clock = Clock()
    limiter = RateLimiter(5, max_keys=100, clock=clock)
    for i in range(10_000):  # an attacker with many addresses
        limiter.check(f"10.0.{i // 256}.{i % 256}")
        assert len(limiter) <= 100
    clock.now += 61  # every bucket refilled: nothing worth keeping
    limiter.check("fresh")
    assert len(limiter) == 1


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(19.2) == "20"
    assert retry_after_header(20.0) == "20"


def scope(peer: str | None, forwarded: list[str] | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded or []]
    return {"client": (peer, 5555) if peer else None, "headers": headers}


def test_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    trusted = parse_networks(["10.0.0.0/8", "::1"])
    # Not a proxy we trust: its header is a claim, the socket is the client.
    assert client_address(scope("203.0.113.9", ["1.2.3.4"]), trusted) == "203.0.113.9"
    assert client_address(scope("203.0.113.9", ["1.2.3.4"]), ()) == "203.0.113.9"
    # A trusted proxy: the right-most entry that is not a proxy. Entries left of it are what
    # the client sent, so a spoofed "1.1.1.1" is never believed.
    header = ["1.1.1.1, 198.51.100.7, 10.0.0.2"]
    assert client_address(scope("10.0.0.1", header), trusted) == "198.51.100.7"
    assert client_address(scope("::1", ["198.51.100.7:4321"]), trusted) == "198.51.100.7"
    assert client_address(scope("10.0.0.1", ["1.1.1.1", "198.51.100.8"]), trusted) == (
        "198.51.100.8"  # several header lines are one list
    )
    assert client_address(scope("10.0.0.1"), trusted) == "10.0.0.1"  # no header: the proxy
    assert client_address(scope("10.0.0.1", ["10.0.0.3"]), trusted) == "10.0.0.3"
    assert client_address(scope(None), trusted) == "unknown"
    assert client_address(scope("::ffff:10.0.0.1", ["198.51.100.9"]), trusted) == "198.51.100.9"


def test_a_bad_trusted_proxy_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="proxy.example"):
        parse_networks(["proxy.example"])


def test_an_ipv6_client_is_its_slash_64() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::2")
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:1.2.3.4") == "1.2.3.4"
    assert rate_key("1.2.3.4") == "1.2.3.4"


def test_concurrency_cap_counts_what_is_open() -> None:
    cap = ConcurrencyCap(2)
    assert cap.acquire("d") and cap.acquire("d")
    assert not cap.acquire("d")
    assert cap.acquire("other")
    cap.release("d")
    assert cap.acquire("d")
    for _ in range(3):
        cap.release("d")
    cap.release("other")
    assert cap.count("d") == 0 and cap.count("other") == 0


# ---- over real sockets -----------------------------------------------------------------


def assert_limited(response: Any) -> None:
    assert response.status_code == 429
    assert "error" in response.json()
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("server_settings", [{"SWELL_CREATES_PER_MINUTE": "3"}])
async def test_document_creation_is_limited_per_address(server: ServerProcess) -> None:
    async with server.http() as http:
        for _ in range(3):
            assert (await http.post("/api/docs", json={})).status_code == 201
        r = await http.post("/api/docs", json={})
        assert_limited(r)
        assert 15 <= int(r.headers["Retry-After"]) <= 20  # 3 a minute: one every 20 s
        # A spoofed X-Forwarded-For from an untrusted peer changes nothing.
        r = await http.post("/api/docs", json={}, headers={"X-Forwarded-For": "198.51.100.1"})
        assert_limited(r)
        assert (await http.get("/healthz")).status_code == 200  # reads are not limited


@pytest.mark.parametrize(
    "server_settings",
    [{"SWELL_CREATES_PER_MINUTE": "2", "SWELL_TRUSTED_PROXIES": "127.0.0.0/8"}],
)
async def test_forwarded_for_names_the_client_behind_a_trusted_proxy(
    server: ServerProcess,
) -> None:
    async with server.http() as http:

        async def create(client: str) -> int:
            headers = {"X-Forwarded-For": f"6.6.6.6, {client}"}
            return (await http.post("/api/docs", json={}, headers=headers)).status_code

        assert [await create("198.51.100.1") for _ in range(3)] == [201, 201, 429]
        assert [await create("198.51.100.2") for _ in range(3)] == [201, 201, 429]
        # The proxy itself (no header) is one more client with its own allowance.
        assert (await http.post("/api/docs", json={})).status_code == 201


@pytest.mark.parametrize("server_settings", [{"SWELL_WRITES_PER_MINUTE": "3"}])
async def test_rest_writes_are_limited_per_address(server: ServerProcess) -> None:
    doc = await server.create_document()
    auth = {"Authorization": f"Bearer {doc['edit_token']}"}
    url = f"/api/docs/{doc['id']}"
    async with server.http() as http:
        for i in range(3):
            r = await http.patch(url, json={"title": f"t{i}"}, headers=auth)
            assert r.status_code == 200
        assert_limited(await http.patch(url, json={"title": "x"}, headers=auth))
        assert_limited(await http.post(f"{url}/tokens", json={"role": "view"}, headers=auth))
        assert_limited(await http.delete(url, headers=auth))
        assert (await http.get(url, headers=auth)).status_code == 200  # reads go on


@pytest.mark.parametrize("server_settings", [{"SWELL_CONNECTS_PER_MINUTE": "3"}])
async def test_event_stream_connects_are_limited_per_address(server: ServerProcess) -> None:
    doc = await server.create_document()
    feeds = [await SseClient.connect(server.base_url, doc["id"], doc["view_token"])]
    feeds.append(await SseClient.connect(server.base_url, doc["id"], "wrong"))  # counts too
    feeds.append(await SseClient.connect(server.base_url, doc["id"], doc["view_token"]))
    try:
        assert [f.status for f in feeds] == [200, 401, 200]
        refused = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
        feeds.append(refused)
        assert refused.status == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert b'"error"' in await refused.body()
    finally:
        await asyncio.gather(*(f.close() for f in feeds))


@pytest.mark.parametrize("server_settings", [{"SWELL_STREAMS_PER_DOCUMENT": "2"}])
async def test_open_event_streams_per_document_are_capped(server: ServerProcess) -> None:
    doc = await server.create_document()
    other = await server.create_document()
    first = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    second = await SseClient.connect(server.base_url, doc["id"], doc["edit_token"])
    feeds = [first, second]
    try:
        refused = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
        feeds.append(refused)
        assert refused.status == 429 and int(refused.headers["retry-after"]) >= 1
        assert b'"error"' in await refused.body()
        elsewhere = await SseClient.connect(server.base_url, other["id"], other["view_token"])
        feeds.append(elsewhere)
        assert elsewhere.status == 200  # the cap is per document
        # A stream that ends frees its place (the server notices the close on its own time).
        await first.close()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            again = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
            feeds.append(again)
            if again.status == 200:
                break
            assert asyncio.get_running_loop().time() < deadline, "the place was never freed"
            await again.close()
            await asyncio.sleep(0.05)
    finally:
        await asyncio.gather(*(f.close() for f in feeds))


@pytest.mark.parametrize("server_settings", [{"SWELL_CONNECTS_PER_MINUTE": "3"}])
async def test_websockets_and_streams_share_the_connect_allowance(server: ServerProcess) -> None:
    doc = await server.create_document()
    url = ws_url(server.ws_url, doc["id"], doc["edit_token"])
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    refused_feed: SseClient | None = None
    try:
        assert feed.status == 200
        async with websockets.connect(url), websockets.connect(url):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            response = refused.value.response
            assert response.status_code == 429
            assert int(response.headers["Retry-After"]) >= 1
            refused_feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
            assert refused_feed.status == 429
    finally:
        await feed.close()
        if refused_feed is not None:
            await refused_feed.close()


@pytest.mark.parametrize("server_settings", [{"SWELL_CREATES_PER_MINUTE": "1"}])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_refusal_sent_before_the_body_arrived_keeps_the_connection(
    server: ServerProcess,
) -> None:
    """The 429 goes out before the request's body is read (here: before it is even sent).
    The connection stays usable for the next request on it, or the answer says it closes:
    never a silent close that a client reusing the connection runs into."""
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))

    async def answer() -> tuple[bytes, bytes]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await asyncio.wait_for(reader.readexactly(length), 10)
        return head.split(b" ")[1], head.lower()

    request = f"POST /api/docs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    try:
        writer.write(f"{request}Content-Length: 2\r\n\r\n{{}}".encode())
        assert (await answer())[0] == b"201"
        writer.write(f"{request}Content-Length: 2\r\n\r\n".encode())  # the body comes later
        status, head = await answer()
        assert status == b"429"
        writer.write(b"{}")  # now
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        if b"connection: close" not in head:
            assert (await answer())[0] == b"200"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
