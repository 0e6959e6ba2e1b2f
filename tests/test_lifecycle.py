"""Nothing is lost: restarts, SIGKILL right after edits, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time

import websockets
from pycrdt import Doc, Text, create_update_message

from tests.client import synced_doc, text_of, wait_for, ws_url
from tests.server import ServerProcess


async def test_content_survives_a_sigterm_restart(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        ada.get("text", type=Text).insert(0, "kept across restarts")
        async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (witness, _):
            await wait_for(lambda: text_of(witness) == "kept across restarts", "witness")
    assert server.stop() == 0
    server.restart()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == "kept across restarts", "content after restart")


async def test_every_forwarded_update_survives_kill_9(server: ServerProcess) -> None:
    doc = await server.create_document()
    writer_url = ws_url(server.ws_url, doc["id"], doc["edit_token"])
    async with (
        synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (reader, _),
        websockets.connect(writer_url) as writer,
    ):
        source: Doc = Doc()
        text = source.get("text", type=Text)
        for i in range(200):
            before = source.get_state()
            text.insert(len(text), f"{i},")
            await writer.send(create_update_message(source.get_update(before)))
        await wait_for(lambda: text_of(reader).count(",") == 200, "reader to get all 200")
        server.kill()  # SIGKILL: no flush, no goodbye
    server.restart()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == text_of(reader), "all 200 edits after kill -9")
    assert text_of(fresh) == "".join(f"{i}," for i in range(200))


async def test_sigterm_closes_sockets_with_1001_and_exits_promptly(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with websockets.connect(ws_url(server.ws_url, doc["id"], doc["edit_token"])) as ws:
        await ws.recv()  # greeted: the socket is in its room
        assert server.proc is not None
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1001
        assert server.proc.wait(10) == 0
        assert time.monotonic() - started < 10
    assert "listening on" in server.log_text() and "Traceback" not in server.log_text()


async def test_sigterm_right_after_a_burst_loses_nothing(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with websockets.connect(ws_url(server.ws_url, doc["id"], doc["edit_token"])) as writer:
        await writer.recv()  # in the room
        source: Doc = Doc()
        text = source.get("text", type=Text)
        for i in range(2000):
            before = source.get_state()
            text.insert(len(text), f"{i},")
            await writer.send(create_update_message(source.get_update(before)))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)  # at once: most of the burst is still in flight
        try:
            while True:
                await asyncio.wait_for(writer.recv(), 15)
        except websockets.ConnectionClosed:
            pass
    assert await asyncio.to_thread(server.proc.wait, 15) == 0
    server.restart()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == str(text), "the whole burst after SIGTERM")
