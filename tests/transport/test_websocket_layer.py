"""The server's own WebSocket layer (``transport/front_door.py``, ``websocket_connection.py``):
what reaches Hypercorn and what does not, handshakes that stall or come wrong, frames sent
before the answer, pings, a socket that stops reading, and one broadcast framed once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator

import pytest
from pycrdt import Text
from websockets.frames import Frame, Opcode

from swell.transport.websocket_connection import Framer, is_websocket_start
from tests.client import synced_doc, text_of, wait_for
from tests.hostile.attacker import (
    connect,
    open_non_reader,
    rss_bytes,
    successive_updates,
    sync_step1,
    sync_update,
    text_update,
)
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(60)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(host: str, doc: dict[str, str], role: str = "edit") -> bytes:
    return (
        f"GET /ws/{doc['id']}?token={doc[f'{role}_token']} HTTP/1.1\r\n"
        f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def client_frame(payload: bytes, opcode: Opcode = Opcode.BINARY) -> bytes:
    return Frame(opcode, payload).serialize(mask=True)


class RawSocket:
    """A TCP connection to the server that speaks exactly the bytes a test writes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def head(self) -> bytes:
        """An HTTP response's status line and headers."""
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)

    async def frame(self, within: float = 10) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload); server frames are never masked."""

        async def read() -> tuple[int, bytes]:
            b1, b2 = await self.reader.readexactly(2)
            assert not b2 & 0x80, "a server frame must not be masked"
            length = b2 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return b1 & 0x0F, await self.reader.readexactly(length)

        return await asyncio.wait_for(read(), within)

    async def data(self, within: float = 10) -> tuple[int, bytes]:
        """The next frame that is not a ping or pong."""
        while True:
            opcode, payload = await self.frame(within)
            if opcode not in (Opcode.PING, Opcode.PONG):
                return opcode, payload

    async def closed(self, within: float = 10) -> bool:
        """True once the server ended the connection."""
        try:
            async with asyncio.timeout(within):
                while await self.reader.read(65536):
                    pass
        except (ConnectionError, TimeoutError):
            return False
        return True

    def send(self, data: bytes) -> None:
        self.writer.write(data)


@contextlib.asynccontextmanager
async def raw(server: ServerProcess) -> AsyncIterator[RawSocket]:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield RawSocket(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def host_of(server: ServerProcess) -> str:
    return server.base_url.removeprefix("http://")


@contextlib.asynccontextmanager
async def observer(server: ServerProcess, doc: dict[str, str]) -> AsyncIterator[Text]:
    """The document's Y.Text "text" as a synced client holds it."""
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (ydoc, _):
        yield ydoc.get("text", type=Text)


async def arrives(text: Text, expected: str) -> None:
    await wait_for(lambda: expected in str(text), repr(expected))


# ---- what goes where ---------------------------------------------------------------------------


def test_the_first_bytes_decide() -> None:
    assert is_websocket_start(b"GET /ws/abc HTTP/1.1\r\n") is True
    assert is_websocket_start(b"GET /w") is None  # too early to tell
    assert is_websocket_start(b"GET /api/docs HTTP/1.1") is False
    assert is_websocket_start(b"POST /ws/abc HTTP/1.1") is False
    assert is_websocket_start(b"PRI * HTTP/2.0") is False


async def test_upgrade_on_a_kept_alive_connection_is_still_served(
    shared_server: ServerProcess,
) -> None:
    """A proxy may reuse an HTTP connection for an upgrade: Hypercorn serves that socket, with
    the same gate and the same room."""
    doc = await shared_server.create_document()
    async with observer(shared_server, doc) as seen, raw(shared_server) as sock:
        sock.send(f"GET /healthz HTTP/1.1\r\nHost: {host_of(shared_server)}\r\n\r\n".encode())
        head = await sock.head()
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await sock.reader.readexactly(length)
        sock.send(upgrade_request(host_of(shared_server), doc))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        opcode, payload = await sock.data()
        assert opcode == Opcode.BINARY and payload[:2] == b"\x00\x00"  # sync step 1
        sock.send(client_frame(sync_update(text_update("through hypercorn"))))
        await arrives(seen, "through hypercorn")


async def test_other_requests_under_ws_reach_the_http_app(shared_server: ServerProcess) -> None:
    async with shared_server.http() as http:
        r = await http.post("/ws/whatever", json={})
        assert r.status_code in (404, 405) and "error" in r.json()


async def test_a_plain_get_under_ws_is_answered_not_hung(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        request = f"GET /ws/{doc['id']} HTTP/1.1\r\nHost: {host_of(shared_server)}\r\n\r\n"
        sock.send(request.encode())
        head = await sock.head()
        assert head.split(b" ")[1] in (b"400", b"426"), head
        assert await sock.closed()


# ---- handshakes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("server_settings", [{"SWELL_WS_HANDSHAKE_SECONDS": "0.5"}])
@pytest.mark.parametrize("sent", [b"", b"GE", b"GET /ws/x HTTP/1.1\r\nHost: a\r\n"])
async def test_a_stalled_handshake_is_dropped(server: ServerProcess, sent: bytes) -> None:
    """Slow-loris: a connection that never finishes its request holds nothing for long."""
    async with raw(server) as sock:
        sock.send(sent)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await sock.closed(within=5)
        assert loop.time() - started < 3
    async with server.http() as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_frames_sent_with_the_request_are_applied(shared_server: ServerProcess) -> None:
    """A client that does not wait for the 101 (allowed to pipeline by nothing, done by some)
    loses nothing: its frames are read once the socket is let in."""
    doc = await shared_server.create_document()
    async with observer(shared_server, doc) as seen, raw(shared_server) as sock:
        sock.send(
            upgrade_request(host_of(shared_server), doc)
            + client_frame(sync_step1())
            + client_frame(sync_update(text_update("early bird")))
        )
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        await arrives(seen, "early bird")


async def test_refusals_keep_the_contracts_shape(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        request = upgrade_request(host_of(shared_server), doc).replace(
            b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n"
        )
        sock.send(request)
        head = await sock.head()
        assert head.startswith(b"HTTP/1.1 403"), head
        assert b"application/json" in head.lower()
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert json.loads(await sock.reader.readexactly(length)) == {"error": "origin not allowed"}


# ---- an open socket -----------------------------------------------------------------------------


@pytest.mark.parametrize("server_settings", [{"SWELL_WS_PING_SECONDS": "0.4"}])
async def test_idle_sockets_are_pinged(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with raw(server) as sock:
        sock.send(upgrade_request(host_of(server), doc, "view"))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        opcodes = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                while Opcode.PING not in opcodes:
                    opcodes.append((await sock.frame())[0])
        assert Opcode.PING in opcodes


async def test_a_fragmented_message_is_one_message(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    message = sync_update(text_update("in three parts"))
    parts = [message[:3], message[3:9], message[9:]]
    frames = [
        Frame(Opcode.BINARY, parts[0], fin=False).serialize(mask=True),
        Frame(Opcode.CONT, parts[1], fin=False).serialize(mask=True),
        Frame(Opcode.CONT, parts[2], fin=True).serialize(mask=True),
    ]
    async with observer(shared_server, doc) as seen, raw(shared_server) as sock:
        sock.send(upgrade_request(host_of(shared_server), doc))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        sock.send(b"".join(frames))
        await arrives(seen, "in three parts")


async def test_a_client_close_is_answered_and_the_socket_leaves(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        sock.send(upgrade_request(host_of(shared_server), doc))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        sock.send(client_frame(struct.pack("!H", 1000), Opcode.CLOSE))
        while True:
            opcode, payload = await sock.frame()
            if opcode == Opcode.CLOSE:
                break
        assert struct.unpack("!H", payload[:2])[0] == 1000
        assert await sock.closed()


@pytest.mark.parametrize("server_settings", [{"SWELL_SEND_QUEUE_BYTES": str(256 * 1024)}])
async def test_a_socket_that_stops_reading_is_closed_1013_and_others_carry_on(
    server: ServerProcess,
) -> None:
    """Frames wait for a reader that is behind only up to the bound; then it gets 1013, its
    close frame right behind what the kernel and the transport already hold (the backlog is
    dropped), while everyone else keeps getting every change."""
    mebibyte = 1 << 20
    frames = [
        sync_update(u)
        for u in successive_updates(("b" * mebibyte for _ in range(16)), delete_each=True)
    ]
    doc = await server.create_document()
    sleeper = await asyncio.to_thread(open_non_reader, server, doc)
    try:
        async with (
            synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (reader, _),
            await connect(server, doc, "edit") as sender,
        ):
            for i in range(len(frames) // 2):
                await sender.send(frames[2 * i])
                await wait_for(lambda: len(text_of(reader)) == mebibyte, "the insert")
                await sender.send(frames[2 * i + 1])
                await wait_for(lambda: len(text_of(reader)) == 0, "the delete")
                if "(1013)" in server.log_text():
                    break
            assert "(1013)" in server.log_text(), "the sleeper was never closed"
        code = await asyncio.to_thread(close_code_of, sleeper)
        assert code == 1013
    finally:
        sleeper.close()


def close_code_of(sock: socket.socket) -> int | None:
    """Read everything the server sent on a raw socket; the code of its close frame."""
    sock.settimeout(10)
    data = bytearray()
    while chunk := sock.recv(1 << 20):
        data += chunk
    pos = 0
    while pos + 2 <= len(data):
        opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack("!H", data[pos : pos + 2])
            pos += 2
        elif length == 127:
            (length,) = struct.unpack("!Q", data[pos : pos + 8])
            pos += 8
        if opcode == Opcode.CLOSE:
            return int(struct.unpack("!H", data[pos : pos + 2])[0])
        pos += length
    return None


def test_one_broadcast_is_framed_once() -> None:
    framer = Framer()
    message = b"\x00\x02\x03abc"
    first = framer.frame(message)
    assert framer.frame(message) is first  # the next socket of the same broadcast
    assert first == Frame(Opcode.BINARY, message).serialize(mask=False)
    other = bytes(message)  # equal bytes, another message: framed again, and right
    assert framer.frame(b"\x00\x02\x03abd") == Frame(Opcode.BINARY, b"\x00\x02\x03abd").serialize(
        mask=False
    )
    assert framer.frame(other) == first


# ---- what the review of issue 13 found ----------------------------------------------------------


async def revision_of(server: ServerProcess, doc: dict[str, str]) -> int:
    async with server.http() as http:
        r = await http.get(
            f"/api/docs/{doc['id']}", headers={"Authorization": f"Bearer {doc['edit_token']}"}
        )
        return int(r.json()["rev"])


@pytest.mark.parametrize("goes", ["close frame", "end of stream", "reset"])
async def test_what_a_client_sent_before_it_left_is_kept(
    shared_server: ServerProcess, goes: str
) -> None:
    """A tab closed right after typing: its last update, already received, is applied and
    stored (it never reconnects to send it again). Leaving is not being refused."""
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        sock.send(upgrade_request(host_of(shared_server), doc))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        await sock.data()  # joined: the room's sync step 1
        last = client_frame(sync_update(text_update("the last words")))
        if goes == "close frame":
            sock.send(last + client_frame(struct.pack("!H", 1000), Opcode.CLOSE))
        elif goes == "end of stream":
            sock.send(last)
            sock.writer.write_eof()
        else:
            sock.send(last)
            await sock.writer.drain()
            sock.writer.transport.abort()
    deadline = asyncio.get_running_loop().time() + 10
    while await revision_of(shared_server, doc) < 1:
        assert asyncio.get_running_loop().time() < deadline, "the last update was dropped"
        await asyncio.sleep(0.05)


async def test_a_client_that_does_not_read_is_not_read_either(server: ServerProcess) -> None:
    """Each ping wants a pong: a client that pings without reading would make the server
    write (and hold) pongs without end. Once its socket is full the server stops reading it:
    pinging for seconds grows the server by little."""
    doc = await server.create_document()
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    try:
        sock.sendall(upgrade_request(host_of(server), doc, "view"))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101")
        before = rss_bytes(server)
        pings = client_frame(b"p" * 125, Opcode.PING) * 512

        def flood() -> None:
            """Pings for up to 8 s, as fast as the server takes them (blocked 2 s: it stopped)."""
            sock.settimeout(2)
            until = time.monotonic() + 8
            with contextlib.suppress(TimeoutError):
                while time.monotonic() < until:
                    sock.sendall(pings)

        await asyncio.to_thread(flood)
        growth = rss_bytes(server) - before
        assert growth < 32 << 20, f"the server grew by {growth >> 20} MiB"
    finally:
        sock.close()
    async with server.http() as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_a_socket_refused_after_the_handshake_closes_cleanly(
    shared_server: ServerProcess,
) -> None:
    """4401 after the handshake: the client's answering close frame is read and the server
    ends the connection at once (not after the close timeout, with a reset)."""
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        bad = {**doc, "edit_token": "not-a-token"}
        sock.send(upgrade_request(host_of(shared_server), bad))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        opcode, payload = await sock.data()
        assert opcode == Opcode.CLOSE and struct.unpack("!H", payload[:2])[0] == 4401
        loop = asyncio.get_running_loop()
        started = loop.time()
        sock.send(client_frame(payload[:2], Opcode.CLOSE))
        assert await sock.closed(within=5)
        assert loop.time() - started < 1.0


async def test_nothing_goes_out_before_the_handshake_answer(shared_server: ServerProcess) -> None:
    """A ping sent with the request is answered after the 101, not before it; a close frame
    sent with a request that is refused at once ends the connection quietly (no traceback)."""
    doc = await shared_server.create_document()
    async with raw(shared_server) as sock:
        sock.send(upgrade_request(host_of(shared_server), doc) + client_frame(b"hi", Opcode.PING))
        assert (await sock.head()).startswith(b"HTTP/1.1 101")
        assert await sock.frame() == (Opcode.PONG, b"hi")
    async with raw(shared_server) as sock:
        request = upgrade_request(host_of(shared_server), doc).replace(
            b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n"
        )
        sock.send(request + client_frame(struct.pack("!H", 1000), Opcode.CLOSE))
        await sock.closed(within=5)
    async with shared_server.http() as http:
        assert (await http.get("/healthz")).status_code == 200
    assert "Traceback" not in shared_server.log_text()
