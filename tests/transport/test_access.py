"""The contract's refusals over real sockets, and read-only enforcement."""

from __future__ import annotations

import pytest
import websockets
from pycrdt import Text
from websockets.exceptions import InvalidStatus

from tests.client import synced_doc, text_of, wait_for, ws_url
from tests.server import ServerProcess


async def handshake_status(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


async def test_missing_or_wrong_token_is_refused_with_401(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    assert await handshake_status(ws_url(shared_server.ws_url, doc["id"], None)) == 401
    assert await handshake_status(ws_url(shared_server.ws_url, doc["id"], "nope")) == 401
    other = await shared_server.create_document()
    wrong = ws_url(shared_server.ws_url, doc["id"], other["edit_token"])
    assert await handshake_status(wrong) == 401


async def test_unknown_document_is_refused_with_404(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, "no-such-doc", doc["edit_token"])
    assert await handshake_status(url) == 404


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
