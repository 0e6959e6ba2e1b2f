"""Read marks and unread summaries (issue 11; README "What changed since you last looked"):
``PUT``/``GET /api/docs/{id}/read`` and ``POST /api/unread``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from swell.collab.authors import Authors
from swell.collab.documents import DocumentNotFound, Documents, InvalidToken, isoformat
from swell.collab.read_marks import ReadMarks, ReadSummary
from swell.records import AuthorRecord, DocumentRecord, ReadMarkRecord
from swell.transport.access import author_of, error, token_of
from swell.transport.body import BadRequest, json_body, register_body_errors
from swell.transport.history import AuthorLookup, author_json
from swell.transport.rate_limit import ClientLimits

MAX_SUMMARIES = 100
"""Documents one ``POST /api/unread`` may ask about."""
DOCS_PER_WRITE = 10
"""Documents one ``POST /api/unread`` may summarise for one unit of ``--writes-per-minute``."""
MAX_ID_CHARS = 64
MAX_TOKEN_CHARS = 256


def create_read_marks(
    documents: Documents,
    marks: ReadMarks,
    authors: Authors,
    lookup: AuthorLookup,
    *,
    max_body_bytes: int,
    limits: ClientLimits,
) -> Blueprint:
    bp = Blueprint("read_marks", __name__)
    register_body_errors(bp, max_body_bytes)

    async def reader() -> AuthorRecord:
        """Marks are an author's: 401 without one (or with a secret nobody has)."""
        author = await author_of(authors, request)
        if author is None:
            raise NoAuthor()
        return author

    @bp.errorhandler(NoAuthor)
    async def no_author(_e: NoAuthor) -> tuple[Response, int]:
        return error(401, "read marks need an author (X-Swell-Author)")

    @bp.put("/api/docs/<doc_id>/read")
    async def mark(doc_id: str) -> Response:
        limits.enforce(limits.writes, request.scope)
        record, _ = await documents.authorize(doc_id, token_of(request))
        author = await reader()
        body = await json_body(
            request, required=set(), allowed={"rev"}, max_body_bytes=max_body_bytes
        )
        rev = body.get("rev")
        if rev is not None and (isinstance(rev, bool) or not isinstance(rev, int) or rev < 0):
            raise BadRequest("rev must be a whole number")
        return jsonify(_mark(await marks.mark(record, author, rev)))

    @bp.get("/api/docs/<doc_id>/read")
    async def read(doc_id: str) -> Response:
        record, _ = await documents.authorize(doc_id, token_of(request))
        found = await marks.mark_of(record, await reader())
        return jsonify(_mark(found) if found is not None else {"rev": 0, "read_at": None})

    @bp.post("/api/unread")
    async def unread() -> Response:
        author = await author_of(authors, request)
        body = await json_body(
            request, required={"docs"}, allowed={"docs"}, max_body_bytes=max_body_bytes
        )
        asked = _asked(body["docs"])
        # a summary costs a few queries per document: ten documents count as one write
        limits.enforce(limits.writes, request.scope, cost=max(1.0, len(asked) / DOCS_PER_WRITE))
        answers: list[dict[str, Any] | DocumentRecord] = []
        for doc_id, token in asked:
            try:
                answers.append((await documents.authorize(doc_id, token))[0])
            except DocumentNotFound:
                answers.append({"id": doc_id, "error": "not found"})
            except InvalidToken:
                answers.append({"id": doc_id, "error": "invalid token"})
        found = await marks.summaries([a for a in answers if isinstance(a, DocumentRecord)], author)
        summaries = iter(found)
        editors = await lookup(
            {s.newest.author_id for s in found if s.newest and s.newest.author_id}
        )
        return jsonify(
            {
                "docs": [
                    _summary(next(summaries), editors) if isinstance(a, DocumentRecord) else a
                    for a in answers
                ]
            }
        )

    return bp


class NoAuthor(PermissionError):
    pass


def _asked(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise BadRequest("docs must be a list")
    if len(value) > MAX_SUMMARIES:
        raise BadRequest(f"docs may hold at most {MAX_SUMMARIES} documents")
    asked: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"id", "token"}:
            raise BadRequest('each of docs must be {"id": str, "token": str}')
        doc_id, token = item["id"], item["token"]
        if not isinstance(doc_id, str) or not isinstance(token, str):
            raise BadRequest('each of docs must be {"id": str, "token": str}')
        if not doc_id or len(doc_id) > MAX_ID_CHARS or len(token) > MAX_TOKEN_CHARS:
            raise BadRequest("a document id or token is too long")
        asked.append((doc_id, token))
    if len(set(asked)) < len(asked):
        raise BadRequest("each document and token may be asked about once")
    return asked


def _mark(mark: ReadMarkRecord) -> dict[str, Any]:
    return {"rev": mark.rev, "read_at": isoformat(mark.read_at)}


def _summary(summary: ReadSummary, editors: dict[str, AuthorRecord]) -> dict[str, Any]:
    record, newest = summary.record, summary.newest
    last_edit = None
    if newest is not None:
        author = editors.get(newest.author_id) if newest.author_id else None
        last_edit = {"rev": newest.rev, "at": isoformat(newest.at), "author": author_json(author)}
    return {
        "id": record.id,
        "title": record.title,
        "rev": summary.rev,
        "updated_at": isoformat(record.updated_at),
        "read_rev": summary.mark.rev if summary.mark is not None else None,
        "unread": summary.unread,
        "last_edit": last_edit,
    }
