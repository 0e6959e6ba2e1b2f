"""The document REST API: shapes, status codes and JSON errors of the contract."""

from __future__ import annotations

from datetime import datetime

from tests.server import ServerProcess


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_returns_tokens_and_trimmed_title(shared_server: ServerProcess) -> None:
    async with shared_server.http() as http:
        r = await http.post("/api/docs", json={"title": "  Design   notes  "})
        assert r.status_code == 201
        body = r.json()
        assert set(body) == {"id", "title", "edit_token", "view_token", "created_at"}
        assert body["title"] == "Design notes"
        assert body["edit_token"] != body["view_token"]
        assert len(body["edit_token"]) >= 22  # 128 bits or more, URL-safe base64
        datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
        r = await http.post("/api/docs")
        assert r.status_code == 201 and r.json()["title"] == "Untitled"


async def test_get_reports_role_per_token(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document("Roles")
    async with shared_server.http() as http:
        r = await http.get(f"/api/docs/{doc['id']}", headers=bearer(doc["edit_token"]))
        assert r.status_code == 200
        assert set(r.json()) == {"id", "title", "role", "created_at", "updated_at", "rev"}
        assert r.json()["role"] == "edit"
        assert r.json()["rev"] == 0  # nothing stored yet
        r = await http.get(f"/api/docs/{doc['id']}", params={"token": doc["view_token"]})
        assert r.json()["role"] == "view"


async def test_rename_needs_edit_token(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document("Old")
    url = f"/api/docs/{doc['id']}"
    async with shared_server.http() as http:
        r = await http.patch(url, json={"title": "New"}, headers=bearer(doc["view_token"]))
        assert r.status_code == 403 and "error" in r.json()
        r = await http.patch(url, json={"title": " New "}, headers=bearer(doc["edit_token"]))
        assert r.status_code == 200 and r.json()["title"] == "New"
        r = await http.get(url, headers=bearer(doc["view_token"]))
        assert r.json()["title"] == "New"


async def test_delete_then_404(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = f"/api/docs/{doc['id']}"
    async with shared_server.http() as http:
        assert (await http.delete(url, headers=bearer(doc["view_token"]))).status_code == 403
        assert (await http.delete(url, headers=bearer(doc["edit_token"]))).status_code == 204
        r = await http.get(url, headers=bearer(doc["edit_token"]))
        assert r.status_code == 404 and r.json() == {"error": "document not found"}


async def test_errors_are_json_with_the_contract_codes(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    url = f"/api/docs/{doc['id']}"
    async with shared_server.http() as http:
        r = await http.get(url)
        assert r.status_code == 401 and r.json() == {"error": "missing or invalid token"}
        r = await http.get(url, headers=bearer("wrong"))
        assert r.status_code == 401
        r = await http.get("/api/docs/unknown", headers=bearer(doc["edit_token"]))
        assert r.status_code == 404
        r = await http.post(
            "/api/docs", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and "JSON" in r.json()["error"]
        r = await http.post("/api/docs", json={"title": "x", "color": "red"})
        assert r.status_code == 400 and "color" in r.json()["error"]
        r = await http.post("/api/docs", json={"title": 7})
        assert r.status_code == 400 and "title" in r.json()["error"]
        r = await http.post("/api/docs", json=["title"])
        assert r.status_code == 400
        r = await http.post("/api/docs", json={"title": "x" * 201})
        assert r.status_code == 400 and "200" in r.json()["error"]
        r = await http.patch(url, json={}, headers=bearer(doc["edit_token"]))
        assert r.status_code == 400 and "title" in r.json()["error"]
        r = await http.post("/api/docs", json={"title": "x" * 100_000})
        assert r.status_code == 413 and "error" in r.json()
        assert (await http.get("/healthz")).status_code == 200


async def test_tokens_never_reach_the_log(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with shared_server.http() as http:
        await http.get(f"/api/docs/{doc['id']}", params={"token": doc["edit_token"]})
        await http.get(f"/api/docs/{doc['id']}", headers=bearer(doc["view_token"]))
    log = shared_server.log_text()
    assert f"/api/docs/{doc['id']}" in log  # the access line is there...
    assert doc["edit_token"] not in log and doc["view_token"] not in log  # ...its token is not
