"""``/api/authors``: create an author (once per browser), read and change yourself."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from swell.collab.authors import Authors, InvalidAuthorField, UnknownAuthor
from swell.collab.ports import AuthorRecord
from swell.transport.access import author_of
from swell.transport.body import BadRequest, json_body, register_body_errors
from swell.transport.rate_limit import ClientLimits


def create_authors_api(authors: Authors, *, max_body_bytes: int, limits: ClientLimits) -> Blueprint:
    bp = Blueprint("authors", __name__)
    register_body_errors(bp, max_body_bytes)

    async def body(required: set[str], allowed: set[str]) -> dict[str, Any]:
        return await json_body(
            request, required=required, allowed=allowed, max_body_bytes=max_body_bytes
        )

    async def me() -> AuthorRecord:
        author = await author_of(authors, request)
        if author is None:
            raise UnknownAuthor()  # 401: these calls are about the caller
        return author

    @bp.post("/api/authors")
    async def create() -> tuple[Response, int]:
        """201 with the secret: the only time it is ever shown (only its hash is kept)."""
        limits.enforce(limits.creates, request.scope)  # like documents: per client address
        fields = await body(required={"name"}, allowed={"name", "color"})
        try:
            created = await authors.create(fields["name"], fields.get("color"))
        except InvalidAuthorField as e:
            raise BadRequest(str(e)) from None
        return jsonify({**_author(created.record), "secret": created.secret}), 201

    @bp.get("/api/authors/me")
    async def read() -> Response:
        return jsonify(_author(await me()))

    @bp.patch("/api/authors/me")
    async def change() -> Response:
        limits.enforce(limits.writes, request.scope)
        author = await me()
        fields = await body(required=set(), allowed={"name", "color"})
        if fields.get("name", "") is None or fields.get("color", "") is None:
            raise BadRequest("name and color cannot be null")
        try:
            record = await authors.update(
                author, name=fields.get("name"), color=fields.get("color")
            )
        except InvalidAuthorField as e:
            raise BadRequest(str(e)) from None
        return jsonify(_author(record))

    return bp


def _author(record: AuthorRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "color": record.color}
