"""permessage-deflate is a decision (a setting), not Hypercorn's silent default."""

from __future__ import annotations

import pytest
import websockets

from tests.client import ws_url
from tests.server import ServerProcess


@pytest.fixture(params=["false", "true"])
def server_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    return {"SWELL_WS_COMPRESSION": request.param}


async def test_compression_follows_the_setting(
    server: ServerProcess, server_settings: dict[str, str]
) -> None:
    doc = await server.create_document()
    url = ws_url(server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url, compression="deflate") as ws:  # offers it, as browsers do
        assert ws.response is not None
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await ws.recv()
    if server_settings["SWELL_WS_COMPRESSION"] == "true":
        assert "permessage-deflate" in negotiated
    else:
        assert negotiated == ""
