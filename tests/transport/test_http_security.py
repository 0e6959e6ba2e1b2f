"""HTTP hardening: the pages' Content-Security-Policy, ``nosniff`` everywhere, JSON-only
bodies (a cross-site form cannot create documents), and a JSON error for every failure,
500 included, with nothing of the traceback sent."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from quart import Quart

from swell.app import create_app
from swell.settings import Settings
from tests.server import ServerProcess

REQUIRED_CSP = [
    "default-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
]


def directives(csp: str) -> dict[str, str]:
    parsed = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        parsed[name] = value.strip()
    return parsed


async def test_every_page_has_a_strict_csp(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with shared_server.http() as http:
        for path in ("/", f"/d/{doc['id']}", f"/v/{doc['id']}"):
            r = await http.get(path)
            assert r.status_code == 200, path
            csp = r.headers["Content-Security-Policy"]
            for directive in REQUIRED_CSP:
                name, _, value = directive.partition(" ")
                assert directives(csp)[name] == value, (path, csp)
            # Nothing loosens it: no inline script or style, no eval, no other host.
            assert "unsafe-" not in csp and "*" not in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"


async def test_every_answer_is_nosniff(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with shared_server.http() as http:
        page = await http.get("/")
        asset = page.text.split('src="', 1)[1].split('"', 1)[0]  # the page's own script
        for method, path in (
            ("GET", "/healthz"),
            ("GET", asset),
            ("GET", f"/api/docs/{doc['id']}?token={doc['view_token']}"),
            ("GET", f"/api/docs/{doc['id']}"),  # 401
            ("GET", "/no/such/page"),  # 404
            ("PUT", "/api/docs"),  # 405
        ):
            r = await http.request(method, path)
            assert r.headers.get("X-Content-Type-Options") == "nosniff", (method, path)
            if r.status_code >= 400:
                assert r.headers["Content-Type"].startswith("application/json"), path
                assert "error" in r.json()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/plain", b'{"title": "cross-site"}'),
        ("application/x-www-form-urlencoded", b"title=cross-site"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\ncross-site\r\n--x--\r\n',
        ),  # fmt: skip
        ("text/plain", b""),  # a form with no fields
        (None, b'{"title": "no type"}'),  # a no-cors fetch of an untyped Blob
    ],
)
async def test_only_json_bodies_are_read(
    shared_server: ServerProcess, content_type: str | None, body: bytes
) -> None:
    """Forms and ``no-cors`` fetches cross sites without a preflight; JSON never does."""
    headers = {"Content-Type": content_type} if content_type else {}
    async with shared_server.http() as http:
        r = await http.post("/api/docs", content=body, headers=headers)
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        doc = await shared_server.create_document()
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            content=body,
            headers={**headers, "Authorization": f"Bearer {doc['edit_token']}"},
        )
        assert r.status_code == 415 and "error" in r.json()


async def test_json_bodies_with_parameters_and_empty_posts_are_fine(
    shared_server: ServerProcess,
) -> None:
    async with shared_server.http() as http:
        r = await http.post(
            "/api/docs",
            content=b'{"title": "utf-8"}',
            headers={"Content-Type": "Application/JSON; charset=utf-8"},
        )
        assert r.status_code == 201 and r.json()["title"] == "utf-8"
        r = await http.post("/api/docs")  # curl -X POST: no body, no type
        assert r.status_code == 201 and r.json()["title"] == "Untitled"


async def test_a_lone_surrogate_title_is_a_400(shared_server: ServerProcess) -> None:
    json_type = {"Content-Type": "application/json"}
    doc = await shared_server.create_document()
    async with shared_server.http() as http:
        r = await http.post("/api/docs", content=rb'{"title": "a\ud800b"}', headers=json_type)
        assert r.status_code == 400 and "error" in r.json()
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            content=rb'{"title": "\udfff"}',
            headers={**json_type, "Authorization": f"Bearer {doc['edit_token']}"},
        )
        assert r.status_code == 400 and "error" in r.json()
        # A proper pair is fine, and so is a NUL or another control character (dropped).
        r = await http.post(
            "/api/docs", content=rb'{"title": "\ud83c\udf0a a\u0000b\u0007"}', headers=json_type
        )
        assert r.status_code == 201 and r.json()["title"] == "\U0001f30a ab"
        r = await http.get(f"/api/docs/{r.json()['id']}?token={r.json()['view_token']}")
        assert r.json()["title"] == "\U0001f30a ab"


@pytest.mark.parametrize(
    "body",
    [b"[" * 60_000, b'{"title": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", b'{"a":' * 12_000],
)
async def test_deeply_nested_json_is_a_400(shared_server: ServerProcess, body: bytes) -> None:
    async with shared_server.http() as http:
        r = await http.post("/api/docs", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "error" in r.json()
        assert (await http.get("/healthz")).status_code == 200


@pytest.fixture
async def failing_app(tmp_path: Path) -> Quart:
    """The real app with one more route that fails the way a bug would."""
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))

    @app.get("/api/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals: /srv/swell/db.py line 42")

    return app


async def test_an_unexpected_exception_is_a_json_500_and_logged(
    failing_app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR):
        r = await client.get("/api/boom?token=do-not-log-me")
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("application/json")
    assert await r.get_json() == {"error": "internal server error"}
    assert "secret internals" not in await r.get_data(as_text=True)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    logged = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert logged, "the exception was not logged"
    assert any("/api/boom" in rec.getMessage() and rec.exc_info for rec in logged)
    assert not any("do-not-log-me" in rec.getMessage() for rec in logged)


async def test_http_errors_from_the_framework_are_json(shared_server: ServerProcess) -> None:
    async with shared_server.http() as http:
        r = await http.request("PUT", "/api/docs")
        assert r.status_code == 405 and "error" in r.json()
        r = await http.post("/api/docs", json={"title": "x" * 100_000})
        assert r.status_code == 413 and "error" in r.json()
