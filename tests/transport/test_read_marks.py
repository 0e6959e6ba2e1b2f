"""Read marks, unread summaries and attribution by Yjs id (issue 11) over a real server: a
mark is an author's, per document, and only moves forward; the home page's summary says
whether a document changed since the reader's mark, who changed it last and when; the
attribution endpoint names the Yjs ids each author inserted and deleted, for a page to
highlight them in its own document."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from swell.storage.engine import create_engine
from swell.storage.models import Document
from tests.client import DEADLINE, synced_doc
from tests.server import ServerProcess
from tests.transport.test_history import (
    bearer,
    block_text,
    committed,
    create_author,
    delete_chars,
    doc_info,
    history_server,
    new_paragraph,
    public,
    type_text,
)

__all__ = ["history_server"]  # the module-scoped server, one per backend

pytestmark = pytest.mark.timeout(120)


async def put_read(
    http: httpx.AsyncClient, doc: dict[str, str], author: dict[str, Any] | None, body: Any = None
) -> httpx.Response:
    return await http.put(
        f"/api/docs/{doc['id']}/read",
        json={} if body is None else body,
        headers=bearer(doc["view_token"], author),
    )


async def get_read(
    http: httpx.AsyncClient, doc: dict[str, str], author: dict[str, Any]
) -> dict[str, Any]:
    response = await http.get(
        f"/api/docs/{doc['id']}/read", headers=bearer(doc["edit_token"], author)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def unread(
    http: httpx.AsyncClient, docs: list[dict[str, str]], author: dict[str, Any] | None
) -> list[dict[str, Any]]:
    headers = {"X-Swell-Author": author["secret"]} if author is not None else {}
    response = await http.post("/api/unread", json={"docs": docs}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["docs"])


async def write(
    server: ServerProcess,
    http: httpx.AsyncClient,
    doc: dict[str, str],
    author: dict[str, Any],
    words: str,
) -> int:
    """``author`` types ``words`` in a new paragraph; the revision once it is committed."""
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"], author=author["secret"]) as (
            mine,
            _,
        ),
        synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
    ):
        await type_text(new_paragraph(mine), words)
        return await committed(http, doc, mine, watcher)


async def test_a_read_mark_is_per_author_and_only_moves_forward(
    history_server: ServerProcess,
) -> None:
    server = history_server
    async with server.http() as http:
        ada = await create_author(http, "Ada", "#112233")
        grace = await create_author(http, "Grace", "#445566")
        doc = await server.create_document("Marks")
        await write(server, http, doc, ada, "Hello")
        newest = await write(server, http, doc, ada, "World")  # a revision of its own at least
        assert newest >= 2

        response = await put_read(http, doc, ada, {"rev": 1})
        assert response.status_code == 200, response.text
        assert response.json()["rev"] == 1
        first_read_at = response.json()["read_at"]
        assert first_read_at

        moved = (await put_read(http, doc, ada)).json()  # {}: up to the newest revision
        assert moved["rev"] == newest
        back = (await put_read(http, doc, ada, {"rev": 0})).json()
        assert back["rev"] == newest, "a read mark never moves back"
        beyond = (await put_read(http, doc, ada, {"rev": newest + 1000})).json()
        assert beyond["rev"] == newest, "a mark stops at the newest revision"

        assert (await get_read(http, doc, ada))["rev"] == newest
        assert await get_read(http, doc, grace) == {"rev": 0, "read_at": None}


async def test_read_marks_refuse_what_they_cannot_trust(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        ada = await create_author(http, "Ada", "#112233")
        doc = await server.create_document("Refusals")
        path = f"/api/docs/{doc['id']}/read"
        assert (await put_read(http, doc, None)).status_code == 401  # no author
        forged = {"secret": "not-a-secret-anyone-has"}
        assert (await put_read(http, doc, forged)).status_code == 401
        no_token = await http.put(path, json={}, headers={"X-Swell-Author": ada["secret"]})
        assert no_token.status_code == 401
        wrong = await http.put(path, json={}, headers=bearer("wrong-token", ada))
        assert wrong.status_code == 401
        missing = await http.put(
            "/api/docs/nosuchdocument0000/read", json={}, headers=bearer("x", ada)
        )
        assert missing.status_code == 404
        for body in ({"rev": "3"}, {"rev": -1}, {"rev": True}, {"rev": 1.5}, {"at": 1}, [1]):
            response = await put_read(http, doc, ada, body)
            assert response.status_code == 400, body
            assert "error" in response.json()
        huge = await http.put(
            path,
            content=b'{"rev": 1, "x": "' + b"a" * (2 << 20) + b'"}',
            headers={**bearer(doc["view_token"], ada), "Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        assert (await get_read(http, doc, ada))["rev"] == 0, "nothing refused was recorded"


async def test_unread_summary_says_who_changed_what_since_the_mark(
    history_server: ServerProcess,
) -> None:
    server = history_server
    async with server.http() as http:
        ada = await create_author(http, "Ada", "#112233")
        grace = await create_author(http, "Grace", "#445566")
        doc = await server.create_document("Shared")
        quiet = await server.create_document("Never read")
        gone = await server.create_document("Deleted")
        await write(server, http, doc, ada, "Ada wrote this")
        assert (await put_read(http, doc, ada)).status_code == 200
        asked = [
            {"id": doc["id"], "token": doc["view_token"]},
            {"id": quiet["id"], "token": quiet["edit_token"]},
            {"id": gone["id"], "token": gone["edit_token"]},
            {"id": doc["id"], "token": "not-the-token"},
        ]
        deleted = await http.delete(f"/api/docs/{gone['id']}", headers=bearer(gone["edit_token"]))
        assert deleted.status_code == 204

        before = await unread(http, asked, ada)
        assert before[0]["unread"] is False
        assert before[0]["read_rev"] == before[0]["rev"]
        assert before[0]["last_edit"]["author"] == public(ada)

        newest = await write(server, http, doc, grace, "Grace added more")
        summaries = await unread(http, asked, ada)
        shared, never, missing, wrong = summaries
        assert shared["id"] == doc["id"] and shared["title"] == "Shared"
        assert shared["unread"] is True
        assert shared["rev"] == newest == (await doc_info(http, doc))["rev"]
        assert shared["read_rev"] < newest
        assert shared["last_edit"]["rev"] == newest
        assert shared["last_edit"]["author"] == public(grace)
        assert shared["last_edit"]["at"] and shared["updated_at"]
        assert never == {
            "id": quiet["id"],
            "title": "Never read",
            "rev": never["rev"],
            "updated_at": never["updated_at"],
            "read_rev": None,
            "unread": False,
            "last_edit": never["last_edit"],
        }
        assert missing == {"id": gone["id"], "error": "not found"}
        assert wrong == {"id": doc["id"], "error": "invalid token"}

        # Grace's own mark is hers: Ada's summary is unchanged by it, and Ada reading clears it
        assert (await put_read(http, doc, grace)).status_code == 200
        assert (await unread(http, asked[:1], ada))[0]["unread"] is True
        assert (await put_read(http, doc, ada)).status_code == 200
        assert (await unread(http, asked[:1], ada))[0]["unread"] is False
        # an anonymous reader has no marks
        anonymous = (await unread(http, asked[:1], None))[0]
        assert anonymous["read_rev"] is None and anonymous["unread"] is False


async def test_unread_summary_refuses_bad_requests(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        doc = await server.create_document("Bad asks")
        one = {"id": doc["id"], "token": doc["view_token"]}
        for body in (
            {},
            {"docs": "x"},
            {"docs": [one] * 101},
            {"docs": [one, one]},  # each document and token once
            {"docs": [{"id": doc["id"]}]},
            {"docs": [{"id": 1, "token": "x"}]},
            {"docs": [{**one, "extra": 1}]},
            {"docs": [{"id": "x" * 65, "token": "y"}]},
            {"docs": [one], "more": 1},
        ):
            response = await http.post("/api/unread", json=body)
            assert response.status_code == 400, body
        forged = await http.post(
            "/api/unread", json={"docs": [one]}, headers={"X-Swell-Author": "nobody"}
        )
        assert forged.status_code == 401
        many = [await server.create_document(f"Doc {i}") for i in range(100)]
        asked = [{"id": d["id"], "token": d["view_token"]} for d in many]
        assert (await http.post("/api/unread", json={"docs": asked})).status_code == 200


async def test_attribution_names_each_authors_yjs_ids(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        ada = await create_author(http, "Ada", "#112233")
        grace = await create_author(http, "Grace", "#445566")
        doc = await server.create_document("Ids")
        edit = doc["edit_token"]
        async with (
            synced_doc(server.ws_url, doc["id"], edit, author=ada["secret"]) as (ada_doc, _),
            synced_doc(server.ws_url, doc["id"], edit, author=grace["secret"]) as (grace_doc, _),
            synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
        ):
            ada_text = new_paragraph(ada_doc)
            await type_text(ada_text, "Hello")
            after_ada = await committed(http, doc, ada_doc, watcher)
            await committed(http, doc, grace_doc, watcher)
            await type_text(new_paragraph(grace_doc), "World")
            await committed(http, doc, grace_doc, watcher)
            await delete_chars(block_text(grace_doc, 0), 0, 2)  # "He" of Ada's "Hello"
            newest = await committed(http, doc, grace_doc, watcher)

        async def attribution(**params: Any) -> httpx.Response:
            return await http.get(
                f"/api/docs/{doc['id']}/attribution",
                params=params,
                headers=bearer(doc["view_token"]),
            )

        everything = (await attribution(**{"from": 0})).json()
        assert everything["from"] == 0 and everything["to"] == newest
        assert everything["truncated"] is False
        by_author = {c["author"]["id"]: c for c in everything["changes"]}
        assert set(by_author) == {ada["id"], grace["id"]}
        assert {r[0] for r in by_author[ada["id"]]["inserted"]} == {ada_doc.client_id}
        assert {r[0] for r in by_author[grace["id"]]["inserted"]} == {grace_doc.client_id}
        # Ada's "He" was inserted and deleted within the range: it is in nobody's inserted
        # ids, and nothing that was there before revision 0 was deleted
        assert by_author[grace["id"]]["deleted"] == []
        ada_chars = sum(r[2] for r in by_author[ada["id"]]["inserted"])

        since = (await attribution(**{"from": after_ada})).json()
        assert since["to"] == newest
        assert [c["author"] for c in since["changes"]] == [public(grace)]
        deleted = since["changes"][0]["deleted"]
        assert {r[0] for r in deleted} == {ada_doc.client_id}
        assert sum(r[2] for r in deleted) == 2
        assert all(r[0] == grace_doc.client_id for r in since["changes"][0]["inserted"])
        assert ada_chars >= 3  # "llo" and the paragraph's structure

        upto = (await attribution(**{"from": 0, "to": after_ada})).json()
        assert [c["author"]["id"] for c in upto["changes"]] == [ada["id"]]
        assert (await attribution()).status_code == 400
        assert (await attribution(**{"from": "x"})).status_code == 400
        assert (await attribution(**{"from": newest, "to": 1})).status_code == 404
        assert (await attribution(**{"from": newest + 5})).status_code == 404
        nobody = await http.get(f"/api/docs/{doc['id']}/attribution", params={"from": 0})
        assert nobody.status_code == 401


@pytest.fixture
def server_settings() -> dict[str, str]:
    """For the ``server`` fixture: rooms unload 0.2 s after their last socket leaves."""
    return {"SWELL_ROOM_IDLE_SECONDS": "0.2", "SWELL_WRITES_PER_MINUTE": "100000"}


async def test_the_newest_rev_holds_while_a_room_unloads(server: ServerProcess) -> None:
    """On SQLite the document row's ``rev`` moves only every few seconds and at the room's
    final compaction: ``GET /api/docs/{id}`` and the unread summary must say the newest
    revision all the same, before, during and after the room unloads."""
    async with server.http() as http:
        ada = await create_author(http, "Ada", "#112233")
        doc = await server.create_document("Unloading")
        asked = [{"id": doc["id"], "token": doc["view_token"]}]
        for words in ("first words", "more words"):
            async with (
                synced_doc(server.ws_url, doc["id"], doc["edit_token"], author=ada["secret"]) as (
                    mine,
                    _,
                ),
                synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
            ):
                text = new_paragraph(mine)
                for ch in words:  # one revision per keystroke, as a person types
                    text.insert(len(text), ch)
                    await asyncio.sleep(0.03)
                newest = await committed(http, doc, mine, watcher)
            seen = set()
            deadline = time.monotonic() + DEADLINE
            while (row := await row_rev(server, doc["id"])) != newest:  # the room unloads
                seen.add((await doc_info(http, doc))["rev"])
                seen.add((await unread(http, asked, None))[0]["rev"])
                assert time.monotonic() < deadline, f"the room never unloaded (row at {row})"
            seen.add((await doc_info(http, doc))["rev"])
            assert seen == {newest}


async def row_rev(server: ServerProcess, doc_id: str) -> int:
    """The document row's own ``rev`` (it reaches the newest once the room's final compaction
    ran, i.e. once the room unloaded: typing moved it only at the first keystroke)."""
    engine = create_engine(server.database_url)
    try:
        async with engine.connect() as connection:
            rev = await connection.scalar(select(Document.rev).where(Document.id == doc_id))
    finally:
        await engine.dispose()
    return int(rev or 0)
