"""The web app's pages and hashed assets from ``web/dist``."""

from __future__ import annotations

import re
from pathlib import Path

from quart import Blueprint, Response, send_from_directory

from swell.transport.security import page_headers

HASHED = re.compile(r"-[A-Z0-9]{8,}\.[a-z0-9]+$", re.IGNORECASE)
PLACEHOLDER = """<!doctype html><meta charset="utf-8"><title>Swell</title>
<p>The web app is not built yet: run <code>make web</code>.</p>"""


def create_pages(dist: Path) -> Blueprint:
    bp = Blueprint("pages", __name__)

    async def page(name: str) -> Response:
        path = dist / name
        if not path.is_file():
            response = Response(PLACEHOLDER, status=503, content_type="text/html")
        else:
            response = await send_from_directory(dist, name)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return page_headers(response)

    @bp.get("/")
    async def home() -> Response:
        return await page("index.html")

    @bp.get("/d/<doc_id>")
    async def editor(doc_id: str) -> Response:
        return await page("editor.html")

    @bp.get("/v/<doc_id>")
    async def viewer(doc_id: str) -> Response:
        return await page("viewer.html")

    @bp.get("/assets/<path:name>")
    async def asset(name: str) -> Response:
        response = await send_from_directory(dist / "assets", name)
        if HASHED.search(name):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response

    return bp
