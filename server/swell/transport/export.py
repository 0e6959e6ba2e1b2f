"""``/api/docs/{id}/content``: the document (or, with ``rev``, any past revision of it)
rendered as text, HTML or Markdown."""

from __future__ import annotations

import re
from urllib.parse import quote

from quart import Blueprint, Response, request

from swell.collab.documents import Documents
from swell.collab.history import History, RevisionNotFound
from swell.collab.registry import LoadFailed, RoomRegistry
from swell.feed.render_cache import RenderCache, committed_state
from swell.rendering import document_html
from swell.transport.access import error, token_of

FORMATS = {
    "text": ("text/plain; charset=utf-8", "txt"),
    "html": ("text/html; charset=utf-8", "html"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
}


def create_export(
    documents: Documents, rooms: RoomRegistry, renders: RenderCache, history: History
) -> Blueprint:
    bp = Blueprint("export", __name__)

    @bp.get("/api/docs/<doc_id>/content")
    async def content(doc_id: str) -> Response | tuple[Response, int]:
        record, _role = await documents.authorize(doc_id, token_of(request))
        fmt = request.args.get("format", "html")
        if fmt not in FORMATS:
            return error(400, "format must be one of: text, html, markdown")
        rev = request.args.get("rev")
        if rev is not None:
            if not rev.isdigit() or len(rev) > 18:
                return error(400, "rev must be a whole number")
            try:
                body = (await history.render(doc_id, int(rev), (fmt,)))[fmt]
            except RevisionNotFound:
                return error(404, "revision not found")
            return _response(record.title, fmt, body)
        try:
            state, snapshot = await committed_state(rooms, doc_id)
        except LoadFailed:
            return error(503, "document could not be loaded")
        # Off the loop, and only once per state however often it is exported.
        body = (await renders.render(doc_id, state, snapshot, (fmt,)))[fmt]
        return _response(record.title, fmt, body)

    return bp


def _response(title: str, fmt: str, body: str) -> Response:
    if fmt == "html":
        body = document_html(body, title)
    content_type, extension = FORMATS[fmt]
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = disposition(title, extension)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if fmt == "html":
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
    return response


def disposition(title: str, extension: str) -> str:
    """``inline`` with the title as file name: an ASCII fallback and the UTF-8 original."""
    ascii_name = re.sub(r"[^A-Za-z0-9 ._-]+", "_", title).strip(" ._") or "document"
    return (
        f'inline; filename="{ascii_name}.{extension}"; '
        f"filename*=UTF-8''{quote(title + '.' + extension, safe='')}"
    )
