"""The ASGI app the server runs: ``/ws/`` WebSockets go straight to the y-websocket endpoint,
everything else (HTTP, SSE, lifespan) to Quart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hypercorn.typing import ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Request

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


def body_limits(is_large: Callable[[Request], bool], limit: int) -> type[ASGIHTTPConnection]:
    """Quart buffers every request body up to one ``MAX_CONTENT_LENGTH`` before any handler
    runs. This connection class gives the requests ``is_large`` picks (history imports) a
    larger buffer of their own, sized before the first byte arrives, and every other request
    keeps the small one."""

    class Connection(ASGIHTTPConnection):
        def _create_request_from_scope(self, send: ASGISendCallable) -> Request:
            request = super()._create_request_from_scope(send)
            if is_large(request):
                request.body = request.body_class(request.content_length, limit)
            return request

    return Connection
