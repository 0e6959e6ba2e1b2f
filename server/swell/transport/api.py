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
from swell.collab.ports import DocumentRecord
from swell.transport.access import error, token_of, user_of


class BadRequest(ValueError):
    pass


def create_api(documents: Documents, *, max_body_bytes: int) -> Blueprint:
    api = Blueprint("api", __name__)

    @api.errorhandler(BadRequest)
    async def bad_request(e: BadRequest) -> tuple[Response, int]:
        return error(400, str(e))

    async def json_body(required: set[str], allowed: set[str]) -> dict[str, Any]:
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise _TooLarge()
        raw = await request.get_data(as_text=False)
        if len(raw) > max_body_bytes:
            raise _TooLarge()
        if not raw.strip():
            body: Any = {}
        else:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise BadRequest("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadRequest(f"unknown field: {unknown[0]}")
        missing = sorted(required - set(body))
        if missing:
            raise BadRequest(f"missing field: {missing[0]}")
        return body

    @api.errorhandler(413)
    async def too_large_http(_e: Exception) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")

    @api.errorhandler(_TooLarge)
    async def too_large(_e: _TooLarge) -> tuple[Response, int]:
        return error(413, f"body larger than {max_body_bytes} bytes")

    @api.post("/api/docs")
    async def create() -> tuple[Response, int]:
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
        await documents.authorize_edit(doc_id, token_of(request))
        body = await json_body(required={"title"}, allowed={"title"})
        record = await documents.rename(
            doc_id, token_of(request), _title(body["title"]), user_of(request)
        )
        return jsonify(_document(record, "edit"))

    @api.delete("/api/docs/<doc_id>")
    async def delete(doc_id: str) -> Response:
        await documents.delete(doc_id, token_of(request))
        return Response(status=204)

    return api


class _TooLarge(Exception):
    pass


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
