"""The ASGI app the server runs: ``/ws/`` WebSockets go straight to the y-websocket endpoint,
everything else (HTTP, SSE, lifespan) to Quart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from swell.transport.ws import PREFIX, Receive, Scope, Send, WebsocketEndpoint


class WebsocketRouter:
    """Installed as ``app.asgi_app`` (middleware in the Flask manner): Quart still wraps every
    call, its lifespan events start and stop the services, and ``app`` is what Hypercorn runs."""

    def __init__(self, endpoint: WebsocketEndpoint, app: Callable[..., Awaitable[None]]) -> None:
        self._endpoint = endpoint
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(PREFIX):
            await self._endpoint(scope, receive, send)
        else:
            await self._app(scope, receive, send)
