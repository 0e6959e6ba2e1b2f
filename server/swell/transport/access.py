"""Reading a capability token from a request, and the contract's JSON errors."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from quart import Quart, Response, jsonify, request
from quart.wrappers import Request, Websocket
from werkzeug.exceptions import HTTPException

from swell.collab.authors import Authors, UnknownAuthor
from swell.collab.documents import DocumentNotFound, InvalidToken, ReadOnly
from swell.collab.history_docs import HistoryBusy
from swell.collab.names import clean_name
from swell.collab.ports import AuthorRecord
from swell.transport.rate_limit import RateLimited, retry_after_header

AUTHOR_HEADER = "X-Swell-Author"
AUTHOR_PARAM = "author"


def token_of(request: Request) -> str | None:
    return bearer_or_query(request.headers.get("Authorization", ""), request.args.get("token"))


def bearer_or_query(authorization: str, query_token: str | None) -> str | None:
    """``Authorization: Bearer <token>``, else ``?token=`` (browsers' WebSocket/EventSource)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query_token or None


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


UNREAD_BODY_SECONDS = 2.0


def register_error_handlers(app: Quart) -> None:
    """The domain's refusals as the contract's JSON errors, for every route; every other
    HTTP error and any unexpected exception too, so no client ever parses an HTML page or
    sees a traceback."""

    async def not_found(_e: Exception) -> tuple[Response, int]:
        return error(404, "document not found")

    async def invalid_token(_e: Exception) -> tuple[Response, int]:
        return error(401, "missing or invalid token")

    async def unknown_author(_e: Exception) -> tuple[Response, int]:
        return error(401, "unknown author")

    async def history_busy(_e: Exception) -> tuple[Response, int]:
        response, status = error(429, "too many history requests for this document; try again")
        response.headers["Retry-After"] = "1"
        return response, status

    async def read_only(_e: Exception) -> tuple[Response, int]:
        return error(403, "this token can only view the document")

    async def rate_limited(e: RateLimited) -> tuple[Response, int]:
        response, status = error(429, e.message)
        response.headers["Retry-After"] = retry_after_header(e.retry_after)
        return response, status

    async def http_error(e: HTTPException) -> tuple[Response, int]:
        status = e.code or 500
        response, _ = error(status, (e.name or "error").lower())
        for name, value in e.get_headers():  # Allow on 405, for one
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    async def internal_error(_e: Exception) -> tuple[Response, int]:
        # Quart has logged the exception with the method and path (never the query string,
        # where tokens travel) before calling this; the client learns nothing more.
        return error(500, "internal server error")

    @app.after_request
    async def unread_body(response: Response) -> Response:
        """A refusal answered before its body was read (a 429 of the rate limit, a 401) left
        the body on the connection, and Hypercorn then closed it without a word: a client
        that reuses kept-alive connections sent its next request into a closed one ("server
        disconnected", a flaky test). A small body is read and dropped, within a bound, so
        the connection stays usable; otherwise the answer says ``Connection: close``."""
        length = request.content_length
        if response.status_code < 400 or not length:
            return response
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        try:
            if length > limit:
                raise ValueError("too large to read for nothing")
            async with asyncio.timeout(UNREAD_BODY_SECONDS):
                await request.get_data(cache=False)
        except Exception:  # too large, too slow, cut off: the connection ends after this
            response.headers["Connection"] = "close"
        return response

    app.register_error_handler(DocumentNotFound, not_found)
    app.register_error_handler(InvalidToken, invalid_token)
    app.register_error_handler(UnknownAuthor, unknown_author)
    app.register_error_handler(ReadOnly, read_only)
    app.register_error_handler(HistoryBusy, history_busy)
    app.register_error_handler(RateLimited, rate_limited)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(500, internal_error)


def user_of(request: Request | Websocket) -> str | None:
    """The person's display name for activity, from ``X-Swell-User`` (URL-encoded UTF-8),
    through the one name rule; None when nothing is left of it."""
    raw = request.headers.get("X-Swell-User", "").strip()
    name = clean_name(unquote(raw), fallback="")
    return name or None


def author_secret(header: str | None, query: str | None = None) -> str | None:
    """The author secret a connection gives: the ``X-Swell-Author`` header, else (where a
    browser cannot set headers: WebSocket, EventSource) ``?author=``; None for neither."""
    value = (header or "").strip() or (query or "").strip()
    return value or None


async def author_of(
    authors: Authors, request: Request | Websocket, *, query: bool = False
) -> AuthorRecord | None:
    """The author a request acts as (None: anonymous); raises UnknownAuthor (401) for a
    secret nobody has. ``query``: also read ``?author=`` (streams only: a REST client can set
    the header, and query strings end up in logs)."""
    header = request.headers.get(AUTHOR_HEADER)
    return await authors.authenticate(
        author_secret(header, request.args.get(AUTHOR_PARAM) if query else None)
    )
