"""The document REST API of the contract."""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, jsonify, request

from swell.collab.documents import (
    MAX_TITLE,
    CreatedDocument,
    Documents,
    clean_title,
    isoformat,
)
from swell.collab.peer import Role
from swell.collab.ports import DocumentRecord
from swell.transport.access import error, token_of, user_of
from swell.transport.rate_limit import ClientLimits

JSON_TYPE = "application/json"


class BadRequest(ValueError):
    pass


class UnsupportedMediaType(ValueError):
    pass


def create_api(documents: Documents, *, max_body_bytes: int, limits: ClientLimits) -> Blueprint:
    api = Blueprint("api", __name__)

    @api.errorhandler(BadRequest)
    async def bad_request(e: BadRequest) -> tuple[Response, int]:
        return error(400, str(e))

    @api.errorhandler(UnsupportedMediaType)
    async def unsupported(e: UnsupportedMediaType) -> tuple[Response, int]:
        return error(415, str(e))

    async def json_body(required: set[str], allowed: set[str]) -> dict[str, Any]:
        """The request's JSON object. Only ``application/json`` is read: a cross-site form or
        a ``no-cors`` fetch can send ``text/plain`` or form bodies without a preflight, never
        JSON. A request with neither a body nor a type (``curl -X POST``) is ``{}``."""
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise _TooLarge()
        content_type = request.headers.get("Content-Type")
        raw = await request.get_data(as_text=False)
        assert isinstance(raw, bytes)
        if len(raw) > max_body_bytes:
            raise _TooLarge()
        if content_type is None and not raw:
            return _checked({}, required, allowed)
        if content_type is None or _media_type(content_type) != JSON_TYPE:
            raise UnsupportedMediaType(f"the body must be {JSON_TYPE}")
        return _checked(_parse(raw), required, allowed)

    @api.errorhandler(413)
    async def too_large_http(_e: Exception) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")

    @api.errorhandler(_TooLarge)
    async def too_large(_e: _TooLarge) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")

    def limit_writes() -> None:
        limits.enforce(limits.writes, request.scope)

    @api.post("/api/docs")
    async def create() -> tuple[Response, int]:
        limits.enforce(limits.creates, request.scope)
        body = await json_body(required=set(), allowed={"title"})
        title = _title(body.get("title", ""))
        created = await documents.create(title, user_of(request))
        return jsonify(_created(created)), 201

    @api.get("/api/docs/<doc_id>")
    async def read(doc_id: str) -> Response:
        record, role = await documents.authorize(doc_id, token_of(request))
        return jsonify(_document(record, role.value))

    @api.patch("/api/docs/<doc_id>")
    async def rename(doc_id: str) -> Response:
        limit_writes()
        await documents.authorize_edit(doc_id, token_of(request))
        body = await json_body(required={"title"}, allowed={"title"})
        record = await documents.rename(
            doc_id, token_of(request), _title(body["title"]), user_of(request)
        )
        return jsonify(_document(record, "edit"))

    @api.delete("/api/docs/<doc_id>")
    async def delete(doc_id: str) -> Response:
        limit_writes()
        await documents.delete(doc_id, token_of(request))
        return Response(status=204)

    @api.post("/api/docs/<doc_id>/tokens")
    async def rotate(doc_id: str) -> Response:
        """A new token for a role; the old one stops working at once (contract v2)."""
        limit_writes()
        await documents.authorize_edit(doc_id, token_of(request))
        body = await json_body(required={"role"}, allowed={"role"})
        try:
            role = Role(body["role"])
        except (ValueError, TypeError):
            raise BadRequest('role must be "edit" or "view"') from None
        token = await documents.rotate_token(doc_id, token_of(request), role)
        return jsonify({f"{role.value}_token": token})

    return api


class _TooLarge(Exception):
    pass


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


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("title must be a string")
    title = clean_title(value)
    if len(title) > MAX_TITLE:
        raise BadRequest(f"title must be at most {MAX_TITLE} characters")
    return title


def _document(record: DocumentRecord, role: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "role": role,
        "created_at": isoformat(record.created_at),
        "updated_at": isoformat(record.updated_at),
    }


def _created(created: CreatedDocument) -> dict[str, Any]:
    return {
        "id": created.record.id,
        "title": created.record.title,
        "edit_token": created.edit_token,
        "view_token": created.view_token,
        "created_at": isoformat(created.record.created_at),
    }
