"""The contract's refusals over real sockets, and read-only enforcement."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest
import websockets
from pycrdt import Text
from websockets.exceptions import InvalidStatus

from tests.client import synced_doc, text_of, wait_for, ws_url
from tests.server import ServerProcess


async def close_code(url: str) -> int:
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def handshake_status(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


async def test_missing_or_wrong_token_is_closed_with_4401(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    assert await close_code(ws_url(shared_server.ws_url, doc["id"], None)) == 4401
    assert await close_code(ws_url(shared_server.ws_url, doc["id"], "nope")) == 4401
    other = await shared_server.create_document()
    wrong = ws_url(shared_server.ws_url, doc["id"], other["edit_token"])
    assert await close_code(wrong) == 4401


async def test_unknown_document_is_closed_with_4404(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, "no-such-doc", doc["edit_token"])
    assert await close_code(url) == 4404


async def test_deleting_a_document_closes_its_sockets_with_4404(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    async with websockets.connect(ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])) as ws:
        await ws.recv()
        async with shared_server.http() as http:
            r = await http.delete(
                f"/api/docs/{doc['id']}", headers={"Authorization": f"Bearer {doc['edit_token']}"}
            )
            assert r.status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_foreign_origin_is_refused_and_own_origin_allowed(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    status = await handshake_status(url, origin="https://evil.example")
    assert status == 403
    async with websockets.connect(url, origin=shared_server.base_url):  # type: ignore[arg-type]
        pass


async def test_view_token_updates_are_never_applied_or_forwarded(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    async with (
        synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (editor, _),
        synced_doc(shared_server.ws_url, doc["id"], doc["view_token"]) as (viewer, _),
    ):
        viewer.get("text", type=Text).insert(0, "viewer was here ")
        editor.get("text", type=Text).insert(0, "editor")
        await wait_for(lambda: "editor" in text_of(viewer), "viewer to receive the edit")
        assert text_of(editor) == "editor"
    # A fresh client sees only what the editor wrote: nothing of the viewer was stored.
    async with synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == "editor", "fresh client to sync")


async def raw_handshake_status(base_url: str, path: str, headers: dict[str, str]) -> int:
    """The status of a WebSocket handshake sent by hand, with whatever Host header we like
    (a DNS-rebinding page's browser sends its own name as Host)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        lines = [
            f"GET {path} HTTP/1.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_dns_rebinding_is_refused_though_host_equals_origin(
    shared_server: ServerProcess,
) -> None:
    """evil.example resolves to the server: its page's Origin and Host are both its own name."""
    doc = await shared_server.create_document()
    path = f"/ws/{doc['id']}?token={doc['edit_token']}"
    port = urlsplit(shared_server.base_url).port
    evil = f"evil.example:{port}"
    status = await raw_handshake_status(
        shared_server.base_url, path, {"Host": evil, "Origin": f"http://{evil}"}
    )
    assert status == 403
    # The scheme counts too: an https page is another origin.
    own = urlsplit(shared_server.base_url).netloc
    status = await raw_handshake_status(
        shared_server.base_url, path, {"Host": own, "Origin": f"https://{own}"}
    )
    assert status == 403
    # The server's own origin, under either loopback name, is let in.
    for name in ("127.0.0.1", "localhost"):
        status = await raw_handshake_status(
            shared_server.base_url, path, {"Host": own, "Origin": f"http://{name}:{port}"}
        )
        assert status == 101, name
