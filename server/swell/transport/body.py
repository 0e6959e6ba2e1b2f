"""JSON request bodies, checked the same way by every route that takes one: only
``application/json``, bounded in bytes, valid UTF-8 JSON without lone surrogates, an object
with no unknown and no missing field. Refusals are the contract's JSON errors (400, 413, 415)."""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response
from quart.wrappers import Request

from swell.transport.access import error

JSON_TYPE = "application/json"


class BadRequest(ValueError):
    """400, with a message that names what is wrong."""


class UnsupportedMediaType(ValueError):
    pass


class BodyTooLarge(Exception):
    pass


def register_body_errors(bp: Blueprint, max_body_bytes: int) -> None:
    """The refusals of ``json_body`` as JSON errors, for the routes of ``bp``."""

    @bp.errorhandler(BadRequest)
    async def bad_request(e: BadRequest) -> tuple[Response, int]:
        return error(400, str(e))

    @bp.errorhandler(UnsupportedMediaType)
    async def unsupported(e: UnsupportedMediaType) -> tuple[Response, int]:
        return error(415, str(e))

    @bp.errorhandler(413)
    async def too_large_http(_e: Exception) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")

    @bp.errorhandler(BodyTooLarge)
    async def too_large(_e: BodyTooLarge) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")


async def json_body(
    request: Request, *, required: set[str], allowed: set[str], max_body_bytes: int
) -> dict[str, Any]:
    """The request's JSON object. Only ``application/json`` is read: a cross-site form or a
    ``no-cors`` fetch can send ``text/plain`` or form bodies without a preflight, never JSON.
    A request with neither a body nor a type (``curl -X POST``) is ``{}``."""
    length = request.content_length
    if length is not None and length > max_body_bytes:
        raise BodyTooLarge()
    content_type = request.headers.get("Content-Type")
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    if len(raw) > max_body_bytes:
        raise BodyTooLarge()
    if content_type is None and not raw:
        return _checked({}, required, allowed)
    if content_type is None or _media_type(content_type) != JSON_TYPE:
        raise UnsupportedMediaType(f"the body must be {JSON_TYPE}")
    return _checked(_parse(raw), required, allowed)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _parse(raw: bytes) -> Any:
    """JSON text, refused (400) when it is not valid, not UTF-8, nested too deep for the
    parser, or holds a lone surrogate (``"\\ud800"``), which no database or browser can take."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
        # A lone surrogate parses, but cannot be encoded; find it here, not in the database.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None
    except UnicodeEncodeError:
        raise BadRequest("body holds text that is not valid Unicode") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    return body


def _checked(body: Any, required: set[str], allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field: {unknown[0]}")
    missing = sorted(required - set(body))
    if missing:
        raise BadRequest(f"missing field: {missing[0]}")
    return body
