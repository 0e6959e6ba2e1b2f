"""Token rotation (contract v2): ``POST /api/docs/{id}/tokens`` gives a role a new token; the
old one fails every HTTP call at once, and whatever was opened with it ends within 1 s."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets
from pycrdt import Text

from tests.client import synced_doc, text_of, wait_for, ws_url
from tests.server import ServerProcess
from tests.sse import SseClient

WITHIN = 1.0  # the contract's bound for sockets and streams


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def rotate(http: httpx.AsyncClient, doc: dict[str, str], role: str) -> httpx.Response:
    return await http.post(
        f"/api/docs/{doc['id']}/tokens", json={"role": role}, headers=bearer(doc["edit_token"])
    )


@pytest.mark.parametrize("role", ["view", "edit"])
async def test_the_old_token_gets_401_at_once_and_the_new_one_works(
    shared_server: ServerProcess, role: str
) -> None:
    doc = await shared_server.create_document("Rotating")
    url = f"/api/docs/{doc['id']}"
    async with shared_server.http() as http:
        r = await rotate(http, doc, role)
        assert r.status_code == 200
        assert set(r.json()) == {f"{role}_token"}
        new = r.json()[f"{role}_token"]
        old = doc[f"{role}_token"]
        assert new != old and len(new) >= 22
        for call in (
            http.get(url, headers=bearer(old)),
            http.get(url, params={"token": old}),
            http.get(f"{url}/content", params={"format": "text", "token": old}),
        ):
            r = await call
            assert r.status_code == 401 and r.json() == {"error": "missing or invalid token"}
        r = await http.get(url, headers=bearer(new))
        assert r.status_code == 200 and r.json()["role"] == role
        other = "edit" if role == "view" else "view"
        r = await http.get(url, headers=bearer(doc[f"{other}_token"]))  # untouched
        assert r.status_code == 200 and r.json()["role"] == other
        if role == "edit":
            for write in (
                http.patch(url, json={"title": "x"}, headers=bearer(old)),
                http.post(f"{url}/tokens", json={"role": "view"}, headers=bearer(old)),
                http.delete(url, headers=bearer(old)),
            ):
                assert (await write).status_code == 401
            r = await http.patch(url, json={"title": "Renamed"}, headers=bearer(new))
            assert r.status_code == 200 and r.json()["title"] == "Renamed"


async def test_rotation_refusals(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = f"/api/docs/{doc['id']}/tokens"
    async with shared_server.http() as http:
        r = await http.post(url, json={"role": "view"}, headers=bearer(doc["view_token"]))
        assert r.status_code == 403 and "error" in r.json()
        r = await http.post(url, json={"role": "view"})
        assert r.status_code == 401 and "error" in r.json()
        r = await http.post(url, json={"role": "view"}, headers=bearer("wrong"))
        assert r.status_code == 401
        r = await http.post(
            "/api/docs/no-such-doc/tokens", json={"role": "view"}, headers=bearer("x")
        )
        assert r.status_code == 404 and r.json() == {"error": "document not found"}
        for body in ({"role": "admin"}, {"role": 7}, {}, {"role": "view", "x": 1}, ["view"]):
            r = await http.post(url, json=body, headers=bearer(doc["edit_token"]))
            assert r.status_code == 400 and "error" in r.json(), body
        r = await http.post(
            url,
            content=b'{"role": "view"}',
            headers={**bearer(doc["edit_token"]), "Content-Type": "text/plain"},
        )
        assert r.status_code == 415
        # None of the refusals changed a token.
        r = await http.get(f"/api/docs/{doc['id']}", headers=bearer(doc["view_token"]))
        assert r.status_code == 200


async def close_code_within(ws: websockets.ClientConnection, seconds: float) -> int:
    """Read (and drop) whatever arrives until the server closes the socket."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code


async def test_sockets_opened_with_the_old_edit_token_close_with_4401(
    shared_server: ServerProcess,
) -> None:
    doc = await shared_server.create_document()
    old_url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with (
        websockets.connect(old_url) as victim,
        synced_doc(shared_server.ws_url, doc["id"], doc["view_token"]) as (viewer, _),
    ):
        await victim.recv()  # the server's sync step 1: the socket is in the room
        async with shared_server.http() as http:
            r = await rotate(http, doc, "edit")
            assert r.status_code == 200
        rotated_at = time.monotonic()
        assert await close_code_within(victim, WITHIN) == 4401
        assert time.monotonic() - rotated_at <= WITHIN
        # A socket of the other role stays, and sees an editor with the new token.
        new_token = r.json()["edit_token"]
        async with synced_doc(shared_server.ws_url, doc["id"], new_token) as (editor, _):
            editor.get("text", type=Text).insert(0, "still here")
            await wait_for(lambda: text_of(viewer) == "still here", "the viewer to sync")
    # Opening with the old token now fails like any wrong token.
    async with websockets.connect(old_url) as late:
        assert await close_code_within(late, 10) == 4401


async def test_streams_opened_with_the_old_view_token_end(shared_server: ServerProcess) -> None:
    """Needs the feed hub to end streams of a rotated role on ``TokenRotated``."""
    doc = await shared_server.create_document()
    victim = await SseClient.connect(shared_server.base_url, doc["id"], doc["view_token"])
    editor_feed = await SseClient.connect(shared_server.base_url, doc["id"], doc["edit_token"])
    try:
        assert victim.status == 200 and editor_feed.status == 200
        await victim.wait_for(lambda e: e.event == "content")  # streaming
        await editor_feed.wait_for(lambda e: e.event == "content")
        async with shared_server.http() as http:
            r = await rotate(http, doc, "view")
            assert r.status_code == 200
        rotated_at = time.monotonic()
        while (await victim.next_event(WITHIN)) is not None:
            pass  # events already on their way may still arrive; then the end
        assert time.monotonic() - rotated_at <= WITHIN
        # A stream of the other role goes on: a rename still reaches it.
        async with shared_server.http() as http:
            r = await http.patch(
                f"/api/docs/{doc['id']}", json={"title": "Still"}, headers=bearer(doc["edit_token"])
            )
            assert r.status_code == 200
        await editor_feed.wait_for(lambda e: e.event == "activity" and e.data["kind"] == "title")
        late = await SseClient.connect(shared_server.base_url, doc["id"], doc["view_token"])
        assert late.status == 401
        await late.close()
    finally:
        await victim.close()
        await editor_feed.close()
