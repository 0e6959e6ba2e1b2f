"""The history API of the contract: entries, changes between revisions, restore, named
versions. (A revision's content is ``/content?rev=``, in export.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, jsonify, request
from quart.wrappers import Request

from swell.collab.activity import summarize_edit
from swell.collab.authors import Authors
from swell.collab.documents import Documents, clean_title, isoformat
from swell.collab.history import History, NothingToRestore, RevisionNotFound
from swell.collab.history_file import InvalidHistoryFile
from swell.collab.history_transfer import HistoryTransfer
from swell.collab.ports import VersionStore
from swell.collab.revision_index import Entry
from swell.collab.revisions import Ranges
from swell.records import AuthorRecord, VersionRecord
from swell.rendering import document_html
from swell.transport.access import author_of, error, token_of, user_of
from swell.transport.body import BadRequest, json_body, register_body_errors
from swell.transport.export import disposition
from swell.transport.rate_limit import ClientLimits

HISTORY_TYPE = "application/vnd.swell-history+json"
AuthorLookup = Callable[[Iterable[str]], Awaitable[dict[str, AuthorRecord]]]
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_VERSION_NAME = 200
MAX_ATTRIBUTED_RANGES = 20_000
"""An attribution answer lists at most this many id ranges (about 400 KB of JSON)."""
SOMEONE = "Someone"
CHANGES_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def create_history(
    documents: Documents,
    history: History,
    transfer: HistoryTransfer,
    versions: VersionStore,
    authors: Authors,
    lookup: AuthorLookup,
    *,
    max_body_bytes: int,
    limits: ClientLimits,
) -> Blueprint:
    bp = Blueprint("history", __name__)
    register_body_errors(bp, max_body_bytes)

    @bp.get("/api/docs/<doc_id>/history/export")
    async def export(doc_id: str) -> Response:
        record, _ = await documents.authorize(doc_id, token_of(request))
        file = await transfer.export(doc_id, record.title)
        response = Response(file, content_type=HISTORY_TYPE)
        response.headers["Content-Disposition"] = disposition(record.title, "swell-history.json")
        return response

    @bp.errorhandler(RevisionNotFound)
    async def no_revision(_e: RevisionNotFound) -> tuple[Response, int]:
        return error(404, "revision not found")

    @bp.get("/api/docs/<doc_id>/history")
    async def entries(doc_id: str) -> Response:
        await documents.authorize(doc_id, token_of(request))
        limit = _int_arg("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        before = _int_arg("before", None, low=1)
        page, following = await history.entries(doc_id, limit=limit, before=before)
        known = await lookup({e.author_id for e in page if e.author_id})
        return jsonify({"entries": [_entry(e, known) for e in page], "next": following})

    @bp.get("/api/docs/<doc_id>/changes")
    async def changes(doc_id: str) -> Response:
        record, _ = await documents.authorize(doc_id, token_of(request))
        start = _int_arg("from", None, low=0)
        if start is None:
            raise BadRequest("from is required")
        end = _int_arg("to", None, low=1)
        body = await history.changes(doc_id, start, end)
        response = Response(document_html(body, record.title), content_type="text/html")
        response.headers["Content-Security-Policy"] = CHANGES_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.get("/api/docs/<doc_id>/attribution")
    async def attribution(doc_id: str) -> Response:
        await documents.authorize(doc_id, token_of(request))
        start = _int_arg("from", None, low=0)
        if start is None:
            raise BadRequest("from is required")
        end, found = await history.attribution(doc_id, start, _int_arg("to", None, low=1))
        known = await lookup({a.author_id for a in found if a.author_id})
        room = MAX_ATTRIBUTED_RANGES
        changes: list[dict[str, Any]] = []
        for item in found:
            inserted, room = _id_ranges(item.inserted, room)
            deleted, room = _id_ranges(item.deleted, room)
            author = known.get(item.author_id) if item.author_id else None
            changes.append(
                {"author": author_json(author), "inserted": inserted, "deleted": deleted}
            )
        return jsonify({"from": start, "to": end, "changes": changes, "truncated": room < 0})

    @bp.post("/api/docs/<doc_id>/restore")
    async def restore(doc_id: str) -> Response:
        limits.enforce(limits.writes, request.scope)
        await documents.authorize_edit(doc_id, token_of(request))
        author = await author_of(authors, request)
        body = await json_body(
            request, required={"rev"}, allowed={"rev"}, max_body_bytes=max_body_bytes
        )
        rev = _rev(body["rev"])
        try:
            made = await history.restore(doc_id, rev, author)
        except NothingToRestore:
            made = await history.newest(doc_id)  # it already is that revision
        return jsonify({"rev": made})

    @bp.post("/api/docs/<doc_id>/versions")
    async def name_version(doc_id: str) -> tuple[Response, int]:
        limits.enforce(limits.writes, request.scope)
        await documents.authorize_edit(doc_id, token_of(request))
        author = await author_of(authors, request)
        body = await json_body(
            request, required={"name"}, allowed={"name", "rev"}, max_body_bytes=max_body_bytes
        )
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("name must be a non-empty string")
        name = clean_title(name)
        if len(name) > MAX_VERSION_NAME:
            raise BadRequest(f"name must be at most {MAX_VERSION_NAME} characters")
        newest = await history.newest(doc_id)
        rev = _rev(body["rev"]) if body.get("rev") is not None else newest
        if not 1 <= rev <= newest:
            raise RevisionNotFound(rev)
        version = await versions.create_version(
            doc_id, name, rev, author.id if author is not None else None
        )
        known = {author.id: author} if author is not None else {}
        return jsonify(_version(version, known)), 201

    @bp.get("/api/docs/<doc_id>/versions")
    async def list_versions(doc_id: str) -> Response:
        await documents.authorize(doc_id, token_of(request))
        found = await versions.list_versions(doc_id)
        known = await lookup({v.author_id for v in found if v.author_id})
        return jsonify({"versions": [_version(v, known) for v in found]})

    return bp


def is_history_file(request: Request) -> bool:
    """A ``POST /api/docs`` whose body is a history file (its body may be larger: see
    ``transport.asgi.body_limits``)."""
    if request.method != "POST" or request.path != "/api/docs":
        return False
    content_type = request.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == HISTORY_TYPE


def history_importer(
    transfer: HistoryTransfer, authors: Authors, *, max_import_bytes: int
) -> Callable[[], Awaitable[tuple[Response, int]]]:
    """``POST /api/docs`` with a history file (``HISTORY_TYPE``): a new document holding it.
    The file may be larger than other bodies, up to ``max_import_bytes``."""

    async def create_from_file() -> tuple[Response, int]:
        author = await author_of(authors, request)
        length = request.content_length
        if length is not None and length > max_import_bytes:
            return error(413, f"history file larger than {max_import_bytes} bytes")
        raw = await request.get_data(as_text=False)
        assert isinstance(raw, bytes)
        if len(raw) > max_import_bytes:
            return error(413, f"history file larger than {max_import_bytes} bytes")
        try:
            body = await asyncio.to_thread(json.loads, raw)  # up to --max-import-bytes
        except (ValueError, RecursionError):
            return error(400, "the history file is not valid JSON")
        try:
            created = await transfer.import_file(body, author, user_of(request))
        except InvalidHistoryFile as e:
            return error(400, str(e))
        return jsonify(
            {
                "id": created.record.id,
                "title": created.record.title,
                "edit_token": created.edit_token,
                "view_token": created.view_token,
                "created_at": isoformat(created.record.created_at),
            }
        ), 201

    return create_from_file


def _int_arg(name: str, default: int | None, *, low: int, high: int | None = None) -> Any:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name} must be a whole number")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" + (f" and at most {high}" if high is not None else "")
        raise BadRequest(f"{name} must be {bounds}")
    return value


def _id_ranges(ranges: Ranges, room: int) -> tuple[list[list[int]], int]:
    """``[[client, clock, length], ...]``, at most ``room`` of them; the room left (below
    zero when some were left out)."""
    out: list[list[int]] = []
    for client in sorted(ranges):
        for start, end in ranges[client]:
            if room <= 0:
                return out, -1
            out.append([client, start, end - start])
            room -= 1
    return out, room


def _rev(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest("rev must be a positive whole number")
    return value


def author_json(author: AuthorRecord | None) -> dict[str, str] | None:
    if author is None:
        return None
    return {"id": author.id, "name": author.name, "color": author.color}


def _entry(entry: Entry, known: dict[str, AuthorRecord]) -> dict[str, Any]:
    author = known.get(entry.author_id) if entry.author_id else None
    name = author.name if author is not None else SOMEONE
    if entry.kind == "restore":
        summary = f"{name} restored an earlier version"
    else:
        summary = summarize_edit(name, entry.added, entry.removed)
    return {
        "from_rev": entry.from_rev,
        "to_rev": entry.to_rev,
        "started_at": isoformat(datetime.fromtimestamp(entry.started_at, UTC)),
        "ended_at": isoformat(datetime.fromtimestamp(entry.ended_at, UTC)),
        "author": author_json(author),
        "kind": entry.kind,
        "added": entry.added,
        "removed": entry.removed,
        "summary": summary,
    }


def _version(version: VersionRecord, known: dict[str, AuthorRecord]) -> dict[str, Any]:
    author = known.get(version.author_id) if version.author_id else None
    return {
        "id": version.id,
        "name": version.name,
        "rev": version.rev,
        "created_at": isoformat(version.created_at),
        "author": author_json(author),
    }
