"""Bad frames close only their own socket, with a code that says why; the room goes on."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from pycrdt import Text, write_var_uint

from tests.client import synced_doc, text_of, wait_for, ws_url
from tests.server import ServerProcess

LIMIT = 64 * 1024


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"SWELL_MAX_MESSAGE_BYTES": str(LIMIT)}


async def close_code_after(url: str, frame: bytes | str) -> int:
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(frame)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "server closed without a close frame"
            return closed.rcvd.code
    raise AssertionError("unreachable")


BAD_FRAMES: list[tuple[str, bytes | str, int]] = [
    ("text frame", "hello", 1003),
    ("unknown message type", bytes([9, 1, 2]), 1003),
    ("unknown sync type", bytes([0, 7, 0]), 1003),
    ("truncated payload", bytes([0, 2, 50, 1, 2, 3]), 1007),
    ("truncated number", bytes([0, 0x80]), 1007),
    ("garbage update", bytes([0, 2, 4, 0xFF, 0xFF, 0xFF, 0x01]), 1007),
    ("garbage awareness", bytes([1, 3, 1, 5, 9]), 1007),
    ("oversized frame", bytes([0, 2]) + write_var_uint(LIMIT + 10) + b"\0" * (LIMIT + 10), 1009),
]


async def test_each_bad_frame_closes_only_its_socket(server: ServerProcess) -> None:
    doc = await server.create_document()
    url = ws_url(server.ws_url, doc["id"], doc["edit_token"])
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        ada_text = ada.get("text", type=Text)
        grace_text = grace.get("text", type=Text)
        stop = asyncio.Event()

        async def keep_typing(text: Text, letter: str) -> int:
            typed = 0
            while not stop.is_set():
                text += letter
                typed += 1
                await asyncio.sleep(0.005)
            return typed

        typists = [
            asyncio.create_task(keep_typing(ada_text, "a")),
            asyncio.create_task(keep_typing(grace_text, "g")),
        ]
        codes = {}
        for name, frame, _expected in BAD_FRAMES:
            codes[name] = await close_code_after(url, frame)
        stop.set()
        typed_a, typed_g = await asyncio.gather(*typists)
        assert codes == {name: expected for name, _frame, expected in BAD_FRAMES}
        await wait_for(
            lambda: text_of(ada) == text_of(grace) and len(text_of(ada)) == typed_a + typed_g,
            "good clients to converge",
        )
        final = text_of(ada)
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == final, "stored document intact")
    log = server.log_text()
    assert "Traceback" not in log
