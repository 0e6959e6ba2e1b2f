"""Many viewers, and a viewer that stops reading: nobody else waits for it."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from pycrdt import Text, XmlElement, XmlText

from tests.client import fragment_of, synced_doc, text_of, wait_for
from tests.server import ServerProcess
from tests.sse import SseClient


def stalled_viewer(server: ServerProcess, doc_id: str, token: str) -> socket.socket:
    """A viewer that sends its request and then never reads a byte (a tiny receive window)."""
    url = urlsplit(server.base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    request = f"GET /api/docs/{doc_id}/events?token={token} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"SWELL_CONTENT_INTERVAL_SECONDS": "0.02", "SWELL_SSE_QUEUE_BYTES": "16384"}


def rss_bytes(server: ServerProcess) -> int:
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def read_content_events(sock: socket.socket, final_length: int, within: float = 20) -> int:
    """Read a stalled viewer's backlog until the content of ``final_length`` characters; how
    many content events it took."""
    sock.settimeout(within)
    buffer, contents = b"", 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        chunk = sock.recv(1 << 20)
        assert chunk, "the stream ended"
        buffer += chunk
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            if b"event: content" in block:
                contents += 1
                data = json.loads(block.split(b"data: ", 1)[1].split(b"\r\n", 1)[0])
                if len(data["text"]) == final_length:
                    return contents
    raise AssertionError("the newest content never arrived")


@pytest.mark.timeout(120)
async def test_viewers_that_do_not_read_hold_one_render_and_nobody_waits(
    server: ServerProcess,
) -> None:
    """Ten viewers stop reading while someone types 80 changes into a 500 KB document (each
    render ~1 MB): each holds at most one pending render, the server's memory stays flat, the
    editors are not slowed down, and a stalled viewer that reads again gets the newest content
    after a handful of frames, not one per change."""
    doc = await server.create_document()
    stalled = [stalled_viewer(server, doc["id"], doc["view_token"]) for _ in range(10)]
    fast = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        body = XmlText("x" * 500_000)
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [body]))
        worst_sync = 0.0
        baseline = 0
        for i in range(80):
            if i == 5:
                baseline = rss_bytes(server)  # buffers of every stalled viewer are full now
            body.insert(0, str(i % 10))
            marker = f"m{i};"
            ada.get("text", type=Text).insert(0, marker)
            started = time.monotonic()
            await wait_for(lambda m=marker: text_of(grace).startswith(m), "editor sync")
            worst_sync = max(worst_sync, time.monotonic() - started)
            expected = len(body)
            await fast.wait_for(
                lambda e, n=expected: e.event == "content" and len(e.data["text"]) == n,
                within=5,
            )
        growth = rss_bytes(server) - baseline
        assert growth < 40 * 1024 * 1024, f"the server grew by {growth / 2**20:.0f} MiB"
        assert worst_sync < 1.0, f"an edit took {worst_sync:.2f} s to reach the other editor"
        contents = await asyncio.to_thread(read_content_events, stalled[0], len(body))
        assert contents <= 8, f"{contents} content events for 80 changes"
    for sock in stalled:
        sock.close()
    await fast.close()


@pytest.mark.timeout(60)
async def test_a_viewer_over_its_byte_limit_is_dropped(server: ServerProcess) -> None:
    """Content is coalesced, but everything else counts: a stalled viewer whose queue passes
    ``sse_queue_bytes`` (16 KiB here) is dropped, and reconnects later with Last-Event-ID."""
    doc = await server.create_document()
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [XmlText("y" * 4_000_000)]))
        fast = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
        await fast.wait_for(lambda e: e.event == "content" and len(e.data["text"]) > 1000)
        slow = stalled_viewer(server, doc["id"], doc["view_token"])  # stuck in its first render
        async with server.http() as http:
            for i in range(200):
                r = await http.patch(
                    f"/api/docs/{doc['id']}",
                    json={"title": f"title {i} " + "t" * 60},
                    headers={"Authorization": f"Bearer {doc['edit_token']}"},
                )
                assert r.status_code == 200
                if "dropped a viewer" in server.log_text():
                    break
        assert "dropped a viewer" in server.log_text(), "the slow viewer was never dropped"
    slow.close()
    await fast.close()


@pytest.mark.timeout(180)
async def test_200_concurrent_viewers_each_receive_an_edit(server: ServerProcess) -> None:
    doc = await server.create_document()
    viewers = await asyncio.gather(
        *(SseClient.connect(server.base_url, doc["id"], doc["view_token"]) for _ in range(200))
    )
    assert all(v.status == 200 for v in viewers)
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        fragment_of(ada).children.append(
            XmlElement("paragraph", {}, [XmlText("seen by two hundred")])
        )
        events = await asyncio.gather(
            *(
                v.wait_for(
                    lambda e: e.event == "content" and e.data["text"] == "seen by two hundred",
                    within=30,
                )
                for v in viewers
            )
        )
    assert len(events) == 200
    for viewer in viewers:
        await viewer.close()
