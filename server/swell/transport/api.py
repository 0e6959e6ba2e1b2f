"""The document REST API of the contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, jsonify, request

from swell.collab.authors import Authors
from swell.collab.documents import (
    MAX_TITLE,
    CreatedDocument,
    Documents,
    clean_title,
    isoformat,
)
from swell.collab.peer import Role
from swell.collab.ports import DocumentRecord
from swell.transport.access import author_of, token_of, user_of
from swell.transport.body import BadRequest, json_body, register_body_errors
from swell.transport.history import is_history_file
from swell.transport.rate_limit import ClientLimits


def create_api(
    documents: Documents,
    authors: Authors,
    *,
    max_body_bytes: int,
    limits: ClientLimits,
    importer: Callable[[], Awaitable[tuple[Response, int]]] | None = None,
) -> Blueprint:
    """The calls that change a document take ``X-Swell-Author`` (who does it; 401 for a
    secret nobody has) and, from anonymous callers, ``X-Swell-User`` (a name)."""
    api = Blueprint("api", __name__)
    register_body_errors(api, max_body_bytes)

    async def body(required: set[str], allowed: set[str]) -> dict[str, Any]:
        return await json_body(
            request, required=required, allowed=allowed, max_body_bytes=max_body_bytes
        )

    def limit_writes() -> None:
        limits.enforce(limits.writes, request.scope)

    @api.post("/api/docs")
    async def create() -> tuple[Response, int]:
        limits.enforce(limits.creates, request.scope)
        if importer is not None and is_history_file(request):
            return await importer()  # a document created with an exported history
        author = await author_of(authors, request)
        fields = await body(required=set(), allowed={"title"})
        title = _title(fields.get("title", ""))
        created = await documents.create(title, user_of(request), author)
        return jsonify(_created(created)), 201

    @api.get("/api/docs/<doc_id>")
    async def read(doc_id: str) -> Response:
        record, role = await documents.authorize(doc_id, token_of(request))
        return jsonify(_document(documents.with_newest_rev(record), role.value))

    @api.patch("/api/docs/<doc_id>")
    async def rename(doc_id: str) -> Response:
        limit_writes()
        await documents.authorize_edit(doc_id, token_of(request))
        author = await author_of(authors, request)
        fields = await body(required={"title"}, allowed={"title"})
        record = await documents.rename(
            doc_id, token_of(request), _title(fields["title"]), user_of(request), author
        )
        return jsonify(_document(documents.with_newest_rev(record), "edit"))

    @api.delete("/api/docs/<doc_id>")
    async def delete(doc_id: str) -> Response:
        limit_writes()
        await documents.authorize_edit(doc_id, token_of(request))
        await author_of(authors, request)  # a bad secret is refused, never ignored
        await documents.delete(doc_id, token_of(request))
        return Response(status=204)

    @api.post("/api/docs/<doc_id>/tokens")
    async def rotate(doc_id: str) -> Response:
        """A new token for a role; the old one stops working at once (contract v2)."""
        limit_writes()
        await documents.authorize_edit(doc_id, token_of(request))
        await author_of(authors, request)  # a bad secret is refused, never ignored
        fields = await body(required={"role"}, allowed={"role"})
        try:
            role = Role(fields["role"])
        except (ValueError, TypeError):
            raise BadRequest('role must be "edit" or "view"') from None
        token = await documents.rotate_token(doc_id, token_of(request), role)
        return jsonify({f"{role.value}_token": token})

    return api


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
        "rev": record.rev,
    }


def _created(created: CreatedDocument) -> dict[str, Any]:
    return {
        "id": created.record.id,
        "title": created.record.title,
        "edit_token": created.edit_token,
        "view_token": created.view_token,
        "created_at": isoformat(created.record.created_at),
    }
