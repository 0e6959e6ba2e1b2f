"""Authors (contract v2) over a real server: creating one and changing it, the refusals, what
the database keeps of the secret, and what connections acting as an author show: presence under
the author's name, activity attributed to the author with the revisions it covers."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc, XmlElement, XmlText

from tests.client import awareness_message, fragment_of, next_awareness, synced_doc, ws_url
from tests.server import ServerProcess
from tests.sse import Event, SseClient

pytestmark = pytest.mark.timeout(60)

SETTINGS = {
    # an edit burst ends after this long without a change by the same person
    "SWELL_EDIT_BURST_SECONDS": "0.5",
    "SWELL_CONTENT_INTERVAL_SECONDS": "0.05",
    "SWELL_CREATES_PER_MINUTE": "1000",
}
HEADER = "X-Swell-Author"


@pytest.fixture(scope="module")
def authors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One SQLite server for the module (its file is read by the hash-only test)."""
    tmp = tmp_path_factory.mktemp("authors")
    process = ServerProcess(f"sqlite+aiosqlite:///{tmp / 'swell.db'}", tmp / "server.log", SETTINGS)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def server_settings() -> dict[str, str]:
    """For the ``server`` fixture of the rate-limit test."""
    return {"SWELL_CREATES_PER_MINUTE": "3"}


def database_file(server: ServerProcess) -> Path:
    return Path(server.database_url.removeprefix("sqlite+aiosqlite:///"))


async def create_author(
    http: httpx.AsyncClient, name: str, color: str | None = None
) -> dict[str, Any]:
    body = {"name": name} if color is None else {"name": name, "color": color}
    response = await http.post("/api/authors", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def as_author(secret: str, **more: str) -> dict[str, str]:
    return {HEADER: secret, **more}


def activity(kind_name: str) -> Any:
    return lambda e: e.event == "activity" and e.data["kind"] == kind_name


def people(event: Event) -> list[tuple[str, str, str]]:
    return [(u["name"], u["color"], u["role"]) for u in event.data["users"]]


async def collect(feed: SseClient, predicate: Any, count: int) -> list[Event]:
    """The first ``count`` events of the stream that match, however many were read already."""
    while len(found := [e for e in feed.events if predicate(e)]) < count:
        if await feed.next_event() is None:
            raise AssertionError("the stream ended")
    return found[:count]


def public(author: dict[str, Any]) -> dict[str, Any]:
    return {"id": author["id"], "name": author["name"], "color": author["color"]}


def paragraph(doc: Doc, words: str) -> None:
    fragment_of(doc).children.append(XmlElement("paragraph", {}, [XmlText(words)]))


# ---- the calls --------------------------------------------------------------------------------


async def test_create_read_and_change_an_author(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        created = await create_author(http, "  Ada \u200b Lovelace ", "#1971C2")
        assert set(created) == {"id", "name", "color", "secret"}
        assert created["name"] == "Ada Lovelace"  # the one name rule
        assert created["color"] == "#1971c2"
        assert len(created["secret"]) >= 32  # 24 random bytes, URL-safe base64

        me = await http.get("/api/authors/me", headers=as_author(created["secret"]))
        assert me.status_code == 200
        assert me.json() == public(created)

        renamed = await http.patch(
            "/api/authors/me", headers=as_author(created["secret"]), json={"name": "Ada King"}
        )
        assert renamed.status_code == 200
        assert renamed.json() == {**public(created), "name": "Ada King"}
        recolored = await http.patch(
            "/api/authors/me", headers=as_author(created["secret"]), json={"color": "#2B8A3E"}
        )
        assert recolored.json() == {"id": created["id"], "name": "Ada King", "color": "#2b8a3e"}
        again = await http.get("/api/authors/me", headers=as_author(created["secret"]))
        assert again.json() == recolored.json()

        # without a colour, one of the palette; two authors never share an id or a secret
        other = await create_author(http, "Grace")
        assert other["color"].startswith("#") and len(other["color"]) == 7
        assert other["id"] != created["id"] and other["secret"] != created["secret"]


async def test_calls_without_a_valid_secret_get_401(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        await create_author(http, "Ada")
        for headers in ({}, as_author("not-a-secret"), as_author("")):
            for method in ("GET", "PATCH"):
                response = await http.request(
                    method,
                    "/api/authors/me",
                    headers=headers,
                    json={"name": "Mallory"} if method == "PATCH" else None,
                )
                assert response.status_code == 401, (method, headers)
                assert response.json() == {"error": "unknown author"}


async def test_bad_bodies_get_400(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        for body in (
            {},
            {"name": ""},
            {"name": " \u200b\t "},  # nothing left after the name rule
            {"name": 5},
            {"name": None},
            {"name": "Ada", "color": "red"},
            {"name": "Ada", "color": "#12345g"},
            {"name": "Ada", "color": "#1234567"},
            {"name": "Ada", "admin": True},
            ["Ada"],
        ):
            response = await http.post("/api/authors", json=body)
            assert response.status_code == 400, body
            assert "error" in response.json()
        response = await http.post(
            "/api/authors", content=b'{"name": "Ada"', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        response = await http.post("/api/authors", content=b"name=Ada")
        assert response.status_code == 415

        secret = (await create_author(http, "Ada"))["secret"]
        for body in (
            {"name": ""},
            {"name": None},
            {"color": "blue"},
            {"color": None},
            {"id": "x"},
            {"secret": "x"},
        ):
            response = await http.patch("/api/authors/me", headers=as_author(secret), json=body)
            assert response.status_code == 400, body
        me = await http.get("/api/authors/me", headers=as_author(secret))
        assert me.json()["name"] == "Ada"  # nothing refused was applied


async def test_creating_authors_is_rate_limited_per_address(server: ServerProcess) -> None:
    async with server.http() as http:
        for _ in range(3):
            await create_author(http, "Ada")
        refused = await http.post("/api/authors", json={"name": "Ada"})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1


async def test_only_the_secrets_hash_is_stored(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        created = await create_author(http, "Ada")
        doc = (await http.post("/api/docs", json={}, headers=as_author(created["secret"]))).json()
        assert (await http.get("/api/authors/me", headers=as_author(created["secret"]))).is_success
    secret = created["secret"].encode()
    digest = hashlib.sha256(secret).digest()
    files = [p for p in database_file(authors_server).parent.iterdir() if "swell.db" in p.name]
    stored = b"".join(p.read_bytes() for p in files)
    assert digest in stored  # the right files: the hash is there...
    assert created["id"].encode() in stored and doc["id"].encode() in stored
    assert secret not in stored  # ...and the secret nowhere, in no encoding
    assert secret.hex().encode() not in stored
    assert created["secret"].encode("utf-16-le") not in stored
    assert secret not in authors_server.log_text().encode()


# ---- connections acting as an author ----------------------------------------------------------


async def test_a_bad_secret_is_refused_everywhere(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        doc = (await http.post("/api/docs", json={})).json()
        edit = {"Authorization": f"Bearer {doc['edit_token']}"}
        bad = as_author("forgotten")

        async with websockets.connect(
            ws_url(authors_server.ws_url, doc["id"], doc["edit_token"], author="forgotten")
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

        feed = await SseClient.connect(
            authors_server.base_url, doc["id"], doc["view_token"], author="forgotten"
        )
        assert feed.status == 401 and b"unknown author" in await feed.body()
        await feed.close()

        assert (await http.post("/api/docs", json={}, headers=bad)).status_code == 401
        renamed = await http.patch(
            f"/api/docs/{doc['id']}", json={"title": "X"}, headers={**edit, **bad}
        )
        assert renamed.status_code == 401
        rotated = await http.post(
            f"/api/docs/{doc['id']}/tokens", json={"role": "view"}, headers={**edit, **bad}
        )
        assert rotated.status_code == 401
        deleted = await http.delete(f"/api/docs/{doc['id']}", headers={**edit, **bad})
        assert deleted.status_code == 401
        after = await http.get(f"/api/docs/{doc['id']}", headers=edit)
        assert after.status_code == 200 and after.json()["title"] == "Untitled"  # unchanged


async def test_presence_shows_the_authors_name_whatever_the_awareness_claims(
    authors_server: ServerProcess,
) -> None:
    async with authors_server.http() as http:
        ada = await create_author(http, "Ada Lovelace", "#123456")
        doc = (await http.post("/api/docs", json={})).json()
    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(lambda e: e.event == "content")
    mark = feed.mark()
    url = ws_url(authors_server.ws_url, doc["id"], doc["edit_token"], author=ada["secret"])
    async with websockets.connect(url) as ws:
        claim = {"user": {"name": "Mallory", "color": "#ff0000"}}
        await ws.send(awareness_message(4242, 1, claim))
        joined = await feed.wait_for(
            lambda e: e.event == "presence" and len(e.data["users"]) == 2, since=mark
        )
        assert people(joined) == [
            ("Ada Lovelace", "#123456", "edit"),
            ("Viewer", joined.data["users"][1]["color"], "view"),
        ]
        join = await feed.wait_for(activity("join"), since=mark)
        assert join.data["user"] == "Ada Lovelace"
        assert join.data["summary"] == "Ada Lovelace joined"
        assert join.data["author"] == public(ada)

        # a new awareness name changes nothing of what is shown
        await ws.send(awareness_message(4242, 2, {"user": {"name": "Eve", "color": "#00ff00"}}))
        await ws.send(bytes([3]))  # query awareness: answered once the change was applied
        while "Eve" not in str(await next_awareness(ws)):
            pass
        mark = feed.mark()
        url = ws_url(authors_server.ws_url, doc["id"], doc["edit_token"])
        async with websockets.connect(url) as anonymous:
            await anonymous.send(awareness_message(99, 1, {"user": {"name": "Zed"}}))
            three = await feed.wait_for(
                lambda e: e.event == "presence" and len(e.data["users"]) == 3, since=mark
            )
        names = [name for name, _, _ in people(three)]
        assert names == ["Ada Lovelace", "Zed", "Viewer"]
        for event in feed.events:
            if event.event == "presence":
                assert not {"Eve", "Mallory"} & {u["name"] for u in event.data["users"]}
    await feed.close()


async def test_a_rename_reaches_presence_at_once(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        ada = await create_author(http, "Ada", "#123456")
        bob = await create_author(http, "Bob", "#654321")
        doc = (await http.post("/api/docs", json={})).json()
        # Bob watches as himself: the viewers' own entry follows his author too
        feed = await SseClient.connect(
            authors_server.base_url, doc["id"], doc["view_token"], name="B.", author=bob["secret"]
        )
        first = await feed.wait_for(lambda e: e.event == "presence")
        assert people(first) == [("Bob", "#654321", "view")]
        url = ws_url(authors_server.ws_url, doc["id"], doc["edit_token"], author=ada["secret"])
        async with websockets.connect(url) as ws:
            await ws.send(awareness_message(77, 1, {"user": {"name": "Ada", "color": "#123456"}}))
            await feed.wait_for(
                lambda e: e.event == "presence" and ("Ada", "#123456", "edit") in people(e)
            )
            mark = feed.mark()
            renamed = await http.patch(
                "/api/authors/me",
                headers=as_author(ada["secret"]),
                json={"name": "Ada King", "color": "#0b7285"},
            )
            assert renamed.status_code == 200
            await feed.wait_for(
                lambda e: (
                    e.event == "presence"
                    and people(e) == [("Ada King", "#0b7285", "edit"), ("Bob", "#654321", "view")]
                ),
                since=mark,
                within=2.0,
            )
            await http.patch(
                "/api/authors/me", headers=as_author(bob["secret"]), json={"name": "Robert"}
            )
            await feed.wait_for(
                lambda e: e.event == "presence" and ("Robert", "#654321", "view") in people(e),
                within=2.0,
            )
        await feed.close()


async def test_edits_are_attributed_to_authors_with_the_revisions_they_cover(
    authors_server: ServerProcess,
) -> None:
    async with authors_server.http() as http:
        ada = await create_author(http, "Ada", "#123456")
        grace = await create_author(http, "Grace", "#654321")
        doc = (await http.post("/api/docs", json={})).json()
    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(lambda e: e.event == "content")

    async def shown(text: str) -> None:
        await feed.wait_for(lambda e: e.event == "content" and e.data["text"] == text)

    base, token = authors_server.ws_url, doc["edit_token"]
    async with (
        synced_doc(base, doc["id"], token, author=ada["secret"]) as (ada_doc, ada_ws),
        synced_doc(base, doc["id"], token, author=grace["secret"]) as (grace_doc, _),
    ):
        # Ada's awareness claims to be Grace: the activity says Ada all the same
        await ada_ws.send(awareness_message(ada_doc.client_id, 1, {"user": {"name": "Grace"}}))
        paragraph(ada_doc, "Hello")
        await shown("Hello")
        paragraph(ada_doc, "world")
        await shown("Hello\n\nworld")
        paragraph(grace_doc, "Hi")  # Grace in between: Ada's burst ends
        await shown("Hello\n\nworld\n\nHi")
        paragraph(ada_doc, "again")
        await shown("Hello\n\nworld\n\nHi\n\nagain")

        edits = await collect(feed, activity("edit"), 3)
    await feed.close()
    assert [e.data["author"] for e in edits] == [public(ada), public(grace), public(ada)]
    assert [e.data["user"] for e in edits] == ["Ada", "Grace", "Ada"]
    assert edits[0].data["summary"] == "Ada added 10 characters"
    assert edits[1].data["summary"] == "Grace added 2 characters"
    # consecutive revisions, one person's burst each, from the first revision on
    assert edits[0].data["from_rev"] == 1
    assert edits[0].data["to_rev"] >= 2  # two changes of Ada's
    for before, after in zip(edits, edits[1:], strict=False):
        assert after.data["from_rev"] == before.data["to_rev"] + 1
        assert after.data["from_rev"] <= after.data["to_rev"]
    async with authors_server.http() as http:
        auth = {"Authorization": f"Bearer {token}"}
        info = (await http.get(f"/api/docs/{doc['id']}", headers=auth)).json()
        history = (await http.get(f"/api/docs/{doc['id']}/history", headers=auth)).json()
    assert edits[-1].data["to_rev"] == info["rev"]
    # the history lists the very same bursts as the activity feed
    assert [(e["from_rev"], e["to_rev"]) for e in reversed(history["entries"])] == [
        (e.data["from_rev"], e.data["to_rev"]) for e in edits
    ]
    assert [e["author"] for e in reversed(history["entries"])] == [
        public(ada),
        public(grace),
        public(ada),
    ]


async def test_anonymous_sockets_keep_their_awareness_name(authors_server: ServerProcess) -> None:
    async with authors_server.http() as http:
        doc = (await http.post("/api/docs", json={})).json()
    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(lambda e: e.event == "content")
    async with synced_doc(authors_server.ws_url, doc["id"], doc["edit_token"]) as (zoe, ws):
        await ws.send(awareness_message(zoe.client_id, 1, {"user": {"name": "Zoë 山田"}}))
        join = await feed.wait_for(activity("join"))
        assert join.data["user"] == "Zoë 山田" and join.data["author"] is None
        paragraph(zoe, "hey")
        edit = await feed.wait_for(activity("edit"))
    await feed.close()
    assert edit.data["user"] == "Zoë 山田" and edit.data["author"] is None
    assert edit.data["summary"] == "Zoë 山田 added 3 characters"
    assert edit.data["from_rev"] <= edit.data["to_rev"]


async def test_creating_and_renaming_a_document_are_attributed(
    authors_server: ServerProcess,
) -> None:
    async with authors_server.http() as http:
        ada = await create_author(http, "Ada", "#123456")
        doc = (await http.post("/api/docs", json={}, headers=as_author(ada["secret"]))).json()
        renamed = await http.patch(
            f"/api/docs/{doc['id']}",
            json={"title": "Plans"},
            # the author wins over a name the request claims
            headers=as_author(ada["secret"], Authorization=f"Bearer {doc['edit_token']}")
            | {"X-Swell-User": "Mallory"},
        )
        assert renamed.status_code == 200
        # anonymous callers: X-Swell-User still names them
        other = (await http.post("/api/docs", json={}, headers={"X-Swell-User": "Grace"})).json()
    with sqlite3.connect(database_file(authors_server)) as db:
        rows = dict(db.execute("SELECT id, created_by FROM documents").fetchall())
    assert rows[doc["id"]] == ada["id"]
    assert rows[other["id"]] is None

    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    created = await feed.wait_for(activity("created"))
    assert created.data["summary"] == "Ada created the document"
    assert created.data["author"] == public(ada)
    assert "from_rev" not in created.data
    title = await feed.wait_for(activity("title"))
    assert title.data["summary"] == "Ada renamed the document to “Plans”"
    assert title.data["author"] == public(ada)
    await feed.close()

    # the activity shows the author's current name: it is read with the author
    async with authors_server.http() as http:
        await http.patch(
            "/api/authors/me", headers=as_author(ada["secret"]), json={"name": "Ada K"}
        )
    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    replayed = await feed.wait_for(activity("created"))
    assert replayed.data["author"] == {**public(ada), "name": "Ada K"}
    await feed.close()

    feed = await SseClient.connect(authors_server.base_url, other["id"], other["view_token"])
    created = await feed.wait_for(activity("created"))
    assert created.data["summary"] == "Grace created the document"
    assert created.data["author"] is None
    await feed.close()


async def test_a_restore_is_an_activity_of_its_own(authors_server: ServerProcess) -> None:
    """Needs the history API (``POST /api/docs/{id}/restore``, contract v2)."""
    async with authors_server.http() as http:
        ada = await create_author(http, "Ada", "#123456")
        doc = (await http.post("/api/docs", json={})).json()
    feed = await SseClient.connect(authors_server.base_url, doc["id"], doc["view_token"])
    async with synced_doc(
        authors_server.ws_url, doc["id"], doc["edit_token"], author=ada["secret"]
    ) as (ada_doc, _):
        paragraph(ada_doc, "one")
        await feed.wait_for(lambda e: e.event == "content" and e.data["text"] == "one")
        paragraph(ada_doc, "two")
        await feed.wait_for(lambda e: e.event == "content" and e.data["text"] == "one\n\ntwo")
        async with authors_server.http() as http:
            restored = await http.post(
                f"/api/docs/{doc['id']}/restore",
                json={"rev": 1},
                headers=as_author(ada["secret"], Authorization=f"Bearer {doc['edit_token']}"),
            )
        assert restored.status_code == 200, restored.text
        rev = restored.json()["rev"]
        (restore,) = await collect(feed, activity("restore"), 1)
        (edit,) = await collect(feed, activity("edit"), 1)
    await feed.close()
    assert restore.data["author"] == public(ada)
    assert restore.data["summary"] == "Ada restored an earlier version"
    assert restore.data["from_rev"] == restore.data["to_rev"] == rev
    assert edit.data["to_rev"] == rev - 1  # the burst before it ended with it
