"""Many viewers, and a viewer that stops reading: nobody else waits for it."""

from __future__ import annotations

import asyncio
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
    return {"SWELL_CONTENT_INTERVAL_SECONDS": "0.02", "SWELL_SSE_QUEUE_EVENTS": "16"}


async def test_a_slow_viewer_is_dropped_and_nobody_else_waits(server: ServerProcess) -> None:
    doc = await server.create_document()
    slow = stalled_viewer(server, doc["id"], doc["view_token"])
    fast = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        body = XmlText("x" * 200_000)  # every content event is ~200 KB
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [body]))
        worst_sync = 0.0
        for i in range(60):
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
            if "dropped a viewer" in server.log_text():
                break
        assert "dropped a viewer" in server.log_text(), "the slow viewer was never dropped"
        assert worst_sync < 1.0, f"an edit took {worst_sync:.2f} s to reach the other editor"
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
