"""Awareness is forwarded, greeted and cleaned up so no ghost cursor stays behind."""

from __future__ import annotations

import websockets

from tests.client import awareness_message, next_awareness, ws_url
from tests.server import ServerProcess

ZOE = {"user": {"name": "Zoë 山田", "color": "#e91e63"}, "cursor": None}


async def test_awareness_is_forwarded_with_non_ascii_names(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url) as zoe, websockets.connect(url) as bob:
        await zoe.send(awareness_message(1001, 1, ZOE))
        states = await next_awareness(bob)
        assert states == {1001: ZOE}


async def test_new_peer_receives_current_states_on_join(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url) as zoe, websockets.connect(url) as witness:
        await zoe.send(awareness_message(1001, 1, ZOE))
        await next_awareness(witness)  # the server has applied it
        async with websockets.connect(
            ws_url(shared_server.ws_url, doc["id"], doc["view_token"])
        ) as late:
            assert await next_awareness(late) == {1001: ZOE}


async def test_query_awareness_answers_with_every_state(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url) as zoe, websockets.connect(url) as other:
        await zoe.send(awareness_message(1001, 1, ZOE))
        await next_awareness(other)
        await other.send(bytes([3]))
        assert await next_awareness(other) == {1001: ZOE}


async def test_states_are_removed_when_a_socket_drops_without_close_frame(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url) as watcher:
        zoe = await websockets.connect(url)
        await zoe.send(awareness_message(1001, 1, ZOE))
        assert await next_awareness(watcher) == {1001: ZOE}
        zoe.transport.abort()  # TCP reset: no close frame
        assert await next_awareness(watcher) == {1001: None}
        async with websockets.connect(url) as late:
            await late.send(bytes([3]))
            # Nothing is left to report, so the query gets no answer; a new state proves the
            # socket works and that the removed one did not come back.
            await late.send(awareness_message(2002, 1, {"user": {"name": "Late"}}))
            assert await next_awareness(watcher) == {2002: {"user": {"name": "Late"}}}


async def test_view_token_awareness_is_forwarded(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with (
        websockets.connect(ws_url(shared_server.ws_url, doc["id"], doc["view_token"])) as viewer,
        websockets.connect(ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])) as editor,
    ):
        await viewer.send(awareness_message(3003, 1, {"user": {"name": "Viewer"}}))
        assert await next_awareness(editor) == {3003: {"user": {"name": "Viewer"}}}
