"""What an attacker needs and the stock helpers will not do: y-protocol frames written byte by
byte (invalid JSON, lone-surrogate escapes, non-object states, packed frames), close codes read
off a real socket, and the checks every hostile test ends with (healthz, memory, the honest
clients still syncing)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Text, write_var_uint
from websockets.asyncio.client import ClientConnection

from tests.client import DEADLINE, text_of, wait_for, ws_url
from tests.server import ServerProcess

# ---- framing ---------------------------------------------------------------------------------


def var_string(payload: bytes) -> bytes:
    """A y-protocol varString / varUint8Array: the UTF-8 *byte* length, then the bytes."""
    return write_var_uint(len(payload)) + payload


def raw_awareness_update(entries: Iterable[tuple[int, int, bytes | str]]) -> bytes:
    """An awareness update whose state JSON is given verbatim (``str`` is UTF-8 encoded, so
    ``'"\\ud800"'`` stays a six-character JSON escape): varUint count, then per entry
    varUint clientID, varUint clock, varString state."""
    items = list(entries)
    out = write_var_uint(len(items))
    for client_id, clock, state in items:
        raw = state.encode() if isinstance(state, str) else state
        out += write_var_uint(client_id) + write_var_uint(clock) + var_string(raw)
    return out


def raw_awareness(client_id: int, clock: int, state: bytes | str) -> bytes:
    """One awareness message (type 1) with the state JSON given verbatim."""
    return bytes([1]) + var_string(raw_awareness_update([(client_id, clock, state)]))


def state_json(state: dict[str, Any] | None) -> bytes:
    return b"null" if state is None else json.dumps(state, ensure_ascii=False).encode()


def awareness(client_id: int, clock: int, state: dict[str, Any] | None) -> bytes:
    return raw_awareness(client_id, clock, state_json(state))


def sync_step1(state_vector: bytes = b"\x00") -> bytes:
    return bytes([0, 0]) + var_string(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes([0, 1]) + var_string(update)


def sync_update(update: bytes) -> bytes:
    return bytes([0, 2]) + var_string(update)


QUERY_AWARENESS = bytes([3])


def text_update(text: str, name: str = "text") -> bytes:
    """A standalone update inserting ``text`` into the Y.Text ``name`` of a fresh client."""
    doc: Doc[Any] = Doc()
    doc.get(name, type=Text).insert(0, text)
    return doc.get_update()


# ---- decoding what the server sends -----------------------------------------------------------


class Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def uint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def payload(self) -> bytes:
        length = self.uint()
        start = self.pos
        self.pos += length
        return self.data[start : self.pos]

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def strict_json(raw: bytes) -> Any:
    """Parse as a browser's JSON.parse would: UTF-8 only, no NaN/Infinity."""
    return json.loads(raw.decode("utf-8", errors="strict"), parse_constant=_no_constants)


def raw_awareness_states(frame: bytes) -> dict[int, bytes]:
    """client id -> the state JSON bytes exactly as sent, for a frame of awareness messages."""
    reader = Reader(frame)
    states: dict[int, bytes] = {}
    while not reader.done:
        kind = reader.uint()
        assert kind == 1, f"not an awareness message: {kind}"
        update = Reader(reader.payload())
        for _ in range(update.uint()):
            client = update.uint()
            update.uint()  # clock
            states[client] = update.payload()
    return states


def message_kind(frame: bytes) -> tuple[int, int | None]:
    """(message type, sync sub-type or None)."""
    return (frame[0], frame[1] if frame[0] == 0 else None)


# ---- sockets ------------------------------------------------------------------------------


def url_for(server: ServerProcess, doc: dict[str, str], role: str = "edit", **params: str) -> str:
    return ws_url(server.ws_url, doc["id"], doc[f"{role}_token"], **params)


async def connect(
    server: ServerProcess, doc: dict[str, str], role: str = "edit", **kwargs: Any
) -> ClientConnection:
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("open_timeout", DEADLINE)
    ws = await websockets.connect(url_for(server, doc, role), **kwargs)
    OPENED.append(ws)
    return ws


OPENED: list[ClientConnection] = []
"""Every connection ``connect`` opened, closed after each test (tests/hostile/conftest.py) so a
failing test leaves no socket behind."""


async def close_of(ws: ClientConnection, within: float = DEADLINE) -> tuple[int, str]:
    """Read (and drop) everything until the server closes; its close code and reason."""
    deadline = time.monotonic() + within
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the server did not close the socket in time")
            await asyncio.wait_for(ws.recv(), remaining)
    except TimeoutError:
        raise AssertionError("the server did not close the socket in time") from None
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection ended without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


async def send_and_close_code(
    ws: ClientConnection, frames: Iterable[bytes], within: float = DEADLINE
) -> tuple[int, str]:
    """Send frames (stopping quietly once the server has closed), then the close code."""
    try:
        for frame in frames:
            await ws.send(frame)
    except websockets.ConnectionClosed:
        pass
    return await close_of(ws, within)


async def frames_until(ws: ClientConnection, done: Any, within: float = DEADLINE) -> list[bytes]:
    """Every frame received up to and including the first for which ``done(frame)`` holds."""
    deadline = time.monotonic() + within
    frames: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the expected frame did not arrive")
        try:
            frame = await asyncio.wait_for(ws.recv(), remaining)
        except TimeoutError:
            raise AssertionError("the expected frame did not arrive") from None
        assert isinstance(frame, bytes)
        frames.append(frame)
        if done(frame):
            return frames


async def awareness_of(
    ws: ClientConnection, client_id: int, within: float = DEADLINE
) -> tuple[list[bytes], bytes]:
    """Read until an awareness message about ``client_id`` arrives: (all awareness frames
    seen, that state's raw JSON)."""
    seen: list[bytes] = []

    def about(frame: bytes) -> bool:
        if frame[0] != 1:
            return False
        seen.append(frame)
        return client_id in raw_awareness_states(frame)

    frames = await frames_until(ws, about, within)
    return seen, raw_awareness_states(frames[-1])[client_id]


def open_non_reader(
    server: ServerProcess, doc: dict[str, str], role: str = "view"
) -> socket.socket:
    """A TCP socket that completes the WebSocket handshake and then never reads again, with a
    receive buffer as small as the kernel allows."""
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE)
    sock.connect((host, int(port)))
    request = (
        f"GET /ws/{doc['id']}?token={doc[f'{role}_token']} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: read nothing past the handshake
        if not chunk:
            raise AssertionError("handshake refused")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


# ---- what every hostile test checks at the end ----------------------------------------------


async def healthz_within(server: ServerProcess, seconds: float) -> float:
    """GET /healthz answers 200 within ``seconds``; returns how long it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=seconds) as client:
        try:
            response = await client.get("/healthz")
        except httpx.TimeoutException:
            raise AssertionError(f"/healthz did not answer within {seconds} s") from None
    took = time.monotonic() - started
    assert response.status_code == 200
    assert took < seconds, f"/healthz took {took:.2f} s"
    return took


def rss_bytes(server: ServerProcess) -> int:
    """The server process's resident set size, from /proc."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def exchange_edits(a: Doc[Any], b: Doc[Any], marker: str, *, both_ways: bool = True) -> None:
    """An edit typed in ``a`` reaches ``b`` (and, for two editors, the other way round)."""
    a.get("text", type=Text).insert(len(text_of(a)), f"[{marker}-a]")
    await wait_for(lambda: f"[{marker}-a]" in text_of(b), f"{marker} edit from a to reach b")
    if both_ways:
        b.get("text", type=Text).insert(len(text_of(b)), f"[{marker}-b]")
        await wait_for(lambda: f"[{marker}-b]" in text_of(a), f"{marker} edit from b to reach a")
    await wait_for(lambda: text_of(a) == text_of(b), "both clients to converge")


def still_open(ws: ClientConnection) -> bool:
    from websockets.protocol import State

    return ws.protocol.state is State.OPEN


def successive_updates(chunks: Iterable[str], *, delete_each: bool = False) -> list[bytes]:
    """One client's updates, each prepending a chunk to its Y.Text ``text`` (and, with
    ``delete_each``, each followed by one deleting it again, so the document stays small while
    the bytes go through)."""
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    for chunk in chunks:
        before = doc.get_state()
        text.insert(0, chunk)
        updates.append(doc.get_update(before))
        if delete_each:
            before = doc.get_state()
            del text[0 : len(chunk)]
            updates.append(doc.get_update(before))
    return updates
