"""Test clients that nobody here wrote the protocol for: pycrdt's Provider over a
``websockets`` connection, plus raw frame helpers for awareness and bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import websockets
from pycrdt import Doc, Provider, Text, XmlFragment, write_var_uint
from websockets.asyncio.client import ClientConnection

DEADLINE = 10.0


class WebsocketChannel:
    """pycrdt's ``Channel`` over a websockets client connection."""

    def __init__(self, ws: ClientConnection, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WebsocketChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except websockets.ConnectionClosed:
            raise StopAsyncIteration() from None

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(message)

    async def recv(self) -> bytes:
        message = await self._ws.recv()
        assert isinstance(message, bytes)
        return message


def ws_url(base_ws: str, doc_id: str, token: str | None, **params: str) -> str:
    query = dict(params)
    if token is not None:
        query["token"] = token
    return f"{base_ws}/{doc_id}" + (f"?{urlencode(query)}" if query else "")


@contextlib.asynccontextmanager
async def synced_doc(
    base_ws: str, doc_id: str, token: str, doc: Doc | None = None, **params: str
) -> AsyncIterator[tuple[Doc, ClientConnection]]:
    """A Doc kept in sync with the server by pycrdt's own Provider (``params``: more of the
    query string, e.g. ``author``)."""
    doc = doc if doc is not None else Doc()
    async with websockets.connect(
        ws_url(base_ws, doc_id, token, **params), max_size=None, open_timeout=DEADLINE
    ) as ws:
        provider = Provider(doc, WebsocketChannel(ws, doc_id))
        async with provider:
            await asyncio.wait_for(provider.synced.wait(), DEADLINE)
            yield doc, ws


async def wait_for(condition: Callable[[], bool], what: str, within: float = DEADLINE) -> None:
    """Poll a condition with a deadline (no fixed sleeps as synchronisation)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_until(condition: Callable[[], bool], within: float = DEADLINE) -> None:
    """Like ``wait_for``, checking after every loop iteration: for in-process tests that must
    see what happens between iterations."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0)


def text_of(doc: Doc, name: str = "text") -> str:
    return str(doc.get(name, type=Text))


def fragment_of(doc: Doc) -> XmlFragment:
    return doc.get("default", type=XmlFragment)


def awareness_update(client_id: int, clock: int, state: dict[str, Any] | None) -> bytes:
    """Encoded exactly as Yjs does: the JSON's UTF-8 byte length, not its character count."""
    payload = b"null" if state is None else json.dumps(state, ensure_ascii=False).encode()
    return (
        write_var_uint(1)
        + write_var_uint(client_id)
        + write_var_uint(clock)
        + write_var_uint(len(payload))
        + payload
    )


def awareness_message(client_id: int, clock: int, state: dict[str, Any] | None) -> bytes:
    update = awareness_update(client_id, clock, state)
    return bytes([1]) + write_var_uint(len(update)) + update


def decode_awareness(frame: bytes) -> dict[int, dict[str, Any] | None]:
    """Decode an awareness message as Yjs would (UTF-8 byte lengths)."""
    assert frame[0] == 1
    pos = 1

    def uint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = frame[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    uint()  # payload length
    states: dict[int, dict[str, Any] | None] = {}
    for _ in range(uint()):
        client = uint()
        uint()  # clock
        length = uint()
        states[client] = json.loads(frame[pos : pos + length].decode())
        pos += length
    return states


async def next_awareness(ws: ClientConnection, within: float = DEADLINE) -> dict[int, Any]:
    """The next awareness message on a raw connection, skipping sync frames."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no awareness message arrived")
        frame = await asyncio.wait_for(ws.recv(), remaining)
        assert isinstance(frame, bytes)
        if frame[0] == 1:
            return decode_awareness(frame)
