"""``/api/docs/{id}/content``: the document rendered as text, HTML or Markdown."""

from __future__ import annotations

import re
from urllib.parse import quote

from pycrdt import XmlFragment
from quart import Blueprint, Response, request

from swell.collab.documents import Documents
from swell.collab.registry import LoadFailed, RoomRegistry
from swell.rendering import render_document_html, render_markdown, render_text
from swell.transport.access import error, token_of

FORMATS = {
    "text": ("text/plain; charset=utf-8", "txt"),
    "html": ("text/html; charset=utf-8", "html"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
}


def create_export(documents: Documents, rooms: RoomRegistry) -> Blueprint:
    bp = Blueprint("export", __name__)

    @bp.get("/api/docs/<doc_id>/content")
    async def content(doc_id: str) -> Response | tuple[Response, int]:
        record, _role = await documents.authorize(doc_id, token_of(request))
        fmt = request.args.get("format", "html")
        if fmt not in FORMATS:
            return error(400, "format must be one of: text, html, markdown")
        try:
            doc = await rooms.read(doc_id)
        except LoadFailed:
            return error(503, "document could not be loaded")
        fragment = doc.get("default", type=XmlFragment)
        if fmt == "text":
            body = render_text(fragment)
        elif fmt == "markdown":
            body = render_markdown(fragment)
        else:
            body = render_document_html(fragment, record.title)
        content_type, extension = FORMATS[fmt]
        response = Response(body, content_type=content_type)
        response.headers["Content-Disposition"] = disposition(record.title, extension)
        response.headers["X-Content-Type-Options"] = "nosniff"
        if fmt == "html":
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'unsafe-inline'"
            )
        return response

    return bp


def disposition(title: str, extension: str) -> str:
    """``inline`` with the title as file name: an ASCII fallback and the UTF-8 original."""
    ascii_name = re.sub(r"[^A-Za-z0-9 ._-]+", "_", title).strip(" ._") or "document"
    return (
        f'inline; filename="{ascii_name}.{extension}"; '
        f"filename*=UTF-8''{quote(title + '.' + extension, safe='')}"
    )
