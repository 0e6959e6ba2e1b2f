"""Reading a capability token from a request, and the contract's JSON errors."""

from __future__ import annotations

from quart import Response, jsonify
from quart.wrappers import Request, Websocket


def token_of(request: Request | Websocket) -> str | None:
    """``Authorization: Bearer <token>``, else ``?token=`` (browsers' WebSocket/EventSource)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = request.args.get("token")
    return token or None


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status
