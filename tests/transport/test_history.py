"""History (contract v2) over real servers: every stored change is a revision numbered 1, 2, 3…
without gaps (also with two processes on one PostgreSQL database), any revision can be read
back exactly after compaction and restarts, each burst is attributed to the author of the
connection that delivered it (never to what a client claims), restores are forward changes that
every client receives (pycrdt's provider and the stock y-websocket one alike), and the changes
view and named versions behave as the contract says.

Documents are shaped like TipTap's: paragraphs and headings of XmlText in the XmlFragment
"default". A change counts as committed once a view-token client received it (the server
forwards nothing before it is committed) and ``GET /api/docs/{id}`` shows a stable ``rev``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import websockets
from pycrdt import (
    Doc,
    XmlElement,
    XmlFragment,
    XmlText,
    create_sync_message,
    create_update_message,
)
from websockets.asyncio.client import ClientConnection

from swell.collab.revisions import unpack_revisions
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from tests.client import DEADLINE, awareness_message, fragment_of, synced_doc, wait_for, ws_url
from tests.conftest import POSTGRES_ENV
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
STOCK_CLIENT = ROOT / "tests" / "stock_client.mjs"
HEADER = "X-Swell-Author"
COMPACT_EVERY = 5
SETTINGS = {
    # compaction folds the journal often, so every test reads revisions from history chunks
    "SWELL_COMPACT_EVERY": str(COMPACT_EVERY),
    "SWELL_CREATES_PER_MINUTE": "1000",
    "SWELL_WRITES_PER_MINUTE": "10000",
}
BACKENDS = ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@pytest.fixture
def server_settings() -> dict[str, str]:
    """For the ``server`` fixture (the restart test)."""
    return dict(SETTINGS)


@pytest.fixture(scope="module", params=BACKENDS)
def history_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module (``shared_server`` with this module's settings:
    frequent compaction, and room for the authors and documents the tests create)."""
    tmp = tmp_path_factory.mktemp("history")
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'swell.db'}"
    process = ServerProcess(url, tmp / "server.log", SETTINGS)
    process.start()
    yield process
    process.stop()


# ---- helpers ---------------------------------------------------------------------------------


def bearer(token: str, author: dict[str, Any] | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if author is not None:
        headers[HEADER] = author["secret"]
    return headers


async def create_author(http: httpx.AsyncClient, name: str, color: str) -> dict[str, Any]:
    response = await http.post("/api/authors", json={"name": name, "color": color})
    assert response.status_code == 201, response.text
    return dict(response.json())


def public(author: dict[str, Any]) -> dict[str, str]:
    return {"id": author["id"], "name": author["name"], "color": author["color"]}


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll an async check until it returns something, with a deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def text_of(node: Any) -> str:
    if isinstance(node, XmlText):
        return "".join(part for part, _ in node.diff() if isinstance(part, str))
    if isinstance(node, XmlElement | XmlFragment):
        return "".join(text_of(child) for child in node.children)
    return ""


def plain(doc: Doc) -> str:
    """The server's text format for paragraphs and headings: non-empty blocks, blank line apart."""
    return "\n\n".join(t for t in (text_of(block) for block in fragment_of(doc).children) if t)


def new_paragraph(doc: Doc, words: str = "") -> XmlText:
    paragraph = fragment_of(doc).children.append(XmlElement("paragraph", {}, [XmlText(words)]))
    text = paragraph.children[0]
    assert isinstance(text, XmlText)
    return text


def first_block(doc: Doc) -> XmlElement | None:
    blocks = fragment_of(doc).children
    return blocks[0] if len(blocks) else None  # type: ignore[return-value]


def block_text(doc: Doc, index: int) -> XmlText:
    text = fragment_of(doc).children[index].children[0]
    assert isinstance(text, XmlText)
    return text


async def type_text(text: XmlText, words: str, at: int | None = None) -> None:
    """One keystroke per transaction, the event loop let through between them so that the
    provider sends each one as a browser would."""
    position = len(text) if at is None else at
    for ch in words:
        text.insert(position, ch)
        position += 1
        await asyncio.sleep(0)


async def delete_chars(text: XmlText, at: int, count: int) -> None:
    for _ in range(count):
        del text[at]
        await asyncio.sleep(0)


async def doc_info(http: httpx.AsyncClient, doc: dict[str, str]) -> dict[str, Any]:
    response = await http.get(f"/api/docs/{doc['id']}", headers=bearer(doc["view_token"]))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def content(
    http: httpx.AsyncClient, doc: dict[str, str], fmt: str = "text", rev: Any = None
) -> httpx.Response:
    params = {"format": fmt} if rev is None else {"format": fmt, "rev": str(rev)}
    return await http.get(
        f"/api/docs/{doc['id']}/content", params=params, headers=bearer(doc["view_token"])
    )


async def content_at(http: httpx.AsyncClient, doc: dict[str, str], rev: Any) -> tuple[str, str]:
    text = await content(http, doc, "text", rev)
    html = await content(http, doc, "html", rev)
    assert text.status_code == 200, (rev, text.text)
    assert html.status_code == 200, (rev, html.text)
    return text.text, html.text


async def committed(
    http: httpx.AsyncClient, doc: dict[str, str], local: Doc, observer: Doc | None = None
) -> int:
    """Wait until the server committed everything ``local`` holds: an observer received it
    (forwarded only after the commit), the server's text is the local text and ``rev`` stopped
    moving. Returns that ``rev``."""
    if observer is not None:
        wanted = str(fragment_of(local))
        await wait_for(lambda: str(fragment_of(observer)) == wanted, "the observer to get it")
    expected = plain(local)
    last: list[int] = []

    async def check() -> int | None:
        rev = int((await doc_info(http, doc))["rev"])
        text = (await content(http, doc)).text
        stable = text == expected and last[-1:] == [rev]
        last.append(rev)
        return rev if stable else None

    return await eventually(check, f"the server to commit {expected!r}")


async def history_page(
    http: httpx.AsyncClient, doc: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await http.get(
        f"/api/docs/{doc['id']}/history", params=params, headers=bearer(doc["view_token"])
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def all_entries(http: httpx.AsyncClient, doc: dict[str, str], limit: int) -> list[dict]:
    """Every history entry, page by page (``before`` = the previous page's ``next``)."""
    entries: list[dict] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(10_000):
        page = await history_page(http, doc, **params)
        assert 0 < len(page["entries"]) <= limit or (not entries and not page["entries"])
        entries += page["entries"]
        if page["next"] is None:
            return entries
        assert "before" not in params or page["next"] < params["before"], "pages must advance"
        params["before"] = page["next"]
    raise AssertionError("the history never ended")


def assert_tiles(entries: list[dict], newest: int) -> None:
    """Newest first, covering revisions 1..newest exactly once, in order, without gaps."""
    assert entries, "no history"
    assert entries[0]["to_rev"] == newest
    assert entries[-1]["from_rev"] == 1
    for entry in entries:
        assert entry["from_rev"] <= entry["to_rev"], entry
        assert set(entry) == {
            "from_rev",
            "to_rev",
            "started_at",
            "ended_at",
            "author",
            "kind",
            "added",
            "removed",
            "summary",
        }
    for newer, older in zip(entries, entries[1:], strict=False):
        assert newer["from_rev"] == older["to_rev"] + 1, (older, newer)
    covered = [r for e in entries for r in range(e["from_rev"], e["to_rev"] + 1)]
    assert sorted(covered) == list(range(1, newest + 1))


async def stored_revisions(database_url: str, doc_id: str) -> tuple[list[int], int, int]:
    """The revision numbers the database holds for a document (history chunks' packed indexes,
    then journal rows), how many history chunks and how many journal rows hold them."""
    engine = create_engine(database_url)
    try:
        store = SqlDocumentStore(create_session_factory(engine))
        history = await store.load_history(doc_id, data=False)
    finally:
        await engine.dispose()
    revs = [item.revision.rev for c in history.chunks for item in unpack_revisions(c.revisions)]
    for chunk in history.chunks:
        folded = [i.revision.rev for i in unpack_revisions(chunk.revisions)]
        assert folded == list(range(chunk.from_rev, chunk.to_rev + 1))
    rows = [row.revision.rev for row in history.rows]
    return revs + rows, len(history.chunks), len(rows)


async def barrier(ws: ClientConnection) -> None:
    """Ask for the server's state (sync step 1) and wait for the answer: it comes only after
    everything this socket sent before was committed (or refused)."""
    await ws.send(create_sync_message(Doc()))
    deadline = time.monotonic() + DEADLINE
    while True:
        frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
        if isinstance(frame, bytes) and frame[:2] == b"\x00\x01":
            return


async def closed_with(ws: ClientConnection) -> int | None:
    """The close code the server sent (None: still open after the deadline)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.wait_closed(), DEADLINE)
    return ws.close_code


# ---- revisions, compaction and restarts --------------------------------------------------------


@pytest.mark.timeout(180)
async def test_revisions_survive_compaction_and_restart(server: ServerProcess) -> None:
    doc = await server.create_document("Restart")
    edit, view = doc["edit_token"], doc["view_token"]
    recorded: dict[int, tuple[str, str]] = {}  # rev -> (text, html) right after it
    ada: Doc = Doc()

    async with server.http() as http:

        async def record(observer: Doc) -> int:
            rev = await committed(http, doc, ada, observer)
            now_text, now_html = await content_at(http, doc, None)
            assert now_text == plain(ada)
            recorded[rev] = (now_text, now_html)
            return rev

        async with (
            synced_doc(server.ws_url, doc["id"], edit, doc=ada),
            synced_doc(server.ws_url, doc["id"], view) as (watcher, _),
        ):
            first = new_paragraph(ada)
            await type_text(first, "Hello brave world")
            await record(watcher)
            second = new_paragraph(ada)
            await type_text(second, "Second paragraph")
            fragment_of(ada).children.insert(
                0, XmlElement("heading", {"level": 2}, [XmlText("Title")])
            )
            await record(watcher)
            await delete_chars(first, 6, 6)  # "brave "
            await record(watcher)

        # The sockets left: the room unloads and compacts. Wait for that, then edit on.
        async def folded() -> int | None:
            revs, chunks, rows = await stored_revisions(server.database_url, doc["id"])
            assert revs == list(range(1, max(recorded) + 1))
            return chunks if chunks and not rows else None

        await eventually(folded, "the unloaded room's compaction")

        async with (
            synced_doc(server.ws_url, doc["id"], edit, doc=ada),
            synced_doc(server.ws_url, doc["id"], view) as (watcher, _),
        ):
            first, second = block_text(ada, 1), block_text(ada, 2)
            first.format(0, 5, {"bold": {}})
            second.format(0, 6, {"italic": {}})
            await record(watcher)
            first.format(0, 5, {"bold": None})  # formatting taken off again
            await record(watcher)
            del fragment_of(ada).children[2]  # a whole paragraph
            await record(watcher)
            # more than COMPACT_EVERY revisions, one keystroke each
            previous = max(recorded)
            for ch in " and then some":
                first.insert(len(first), ch)
                rev = await record(watcher)
                assert rev == previous + 1, "one keystroke, one revision, the next number"
                previous = rev
            newest = previous

        assert len(recorded) > 2 * COMPACT_EVERY
        assert len(set(recorded.values())) == len(recorded)  # every revision looks different
        for rev, expected in recorded.items():  # served from memory and journal
            assert await content_at(http, doc, rev) == expected, rev

    server.stop()
    revs, chunks, _ = await stored_revisions(server.database_url, doc["id"])
    assert revs == list(range(1, newest + 1))  # every revision kept, none twice
    assert chunks >= 2, "compaction ran while editing and when the room unloaded"
    server.start()

    async with server.http() as http:
        assert (await doc_info(http, doc))["rev"] == newest
        for rev, expected in sorted(recorded.items()):
            assert await content_at(http, doc, rev) == expected, rev
        assert await content_at(http, doc, None) == recorded[newest]
        for fmt in ("text", "html", "markdown"):
            for missing in (0, newest + 1, newest + 1000):
                response = await content(http, doc, fmt, missing)
                assert response.status_code == 404, (fmt, missing)
                assert "error" in response.json()
            for bad in ("abc", "-1", "1.5", "0x1"):
                response = await content(http, doc, fmt, bad)
                assert response.status_code == 400, (fmt, bad)
        assert_tiles(await all_entries(http, doc, limit=200), newest)


async def test_revisions_strictly_increase_without_gaps(history_server: ServerProcess) -> None:
    server = history_server
    doc = await server.create_document("Gapless")
    async with (
        server.http() as http,
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
        synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
    ):
        ada_text = new_paragraph(ada)
        await wait_for(lambda: len(fragment_of(grace).children) == 1, "Ada's paragraph")
        grace_text = new_paragraph(grace)

        async def ada_types() -> None:
            """Each keystroke committed before the next (a revision each), while Grace types
            as fast as she can."""
            for ch in "ada types here; " * 2:
                ada_text.insert(len(ada_text), ch)
                await wait_for(
                    lambda: text_of(first_block(watcher)) == text_of(ada_text),
                    "Ada's keystroke to be committed",
                )
            await delete_chars(ada_text, 0, 4)

        async def grace_types() -> None:
            await type_text(grace_text, "grace too; " * 4)
            grace_text.format(0, 5, {"bold": {}})
            await type_text(grace_text, "and more", at=0)

        await asyncio.gather(ada_types(), grace_types())
        await wait_for(lambda: str(fragment_of(ada)) == str(fragment_of(grace)), "convergence")
        newest = await committed(http, doc, ada, watcher)
        assert newest >= 32  # a revision per keystroke of Ada's at least

        revs, _, _ = await stored_revisions(server.database_url, doc["id"])
        assert revs == list(range(1, newest + 1))
        whole = (await history_page(http, doc, limit=200))["entries"]
        assert_tiles(whole, newest)
        for limit in (1, 2, 3):
            paged = await all_entries(http, doc, limit)
            assert paged == whole, limit
        # ``before`` lists what ends before it, newest first
        page = await history_page(http, doc, limit=200, before=newest)
        assert page["entries"] == [e for e in whole if e["to_rev"] < newest]
        for bad in ({"limit": "0"}, {"limit": "x"}, {"before": "abc"}, {"limit": "100000"}):
            response = await http.get(
                f"/api/docs/{doc['id']}/history", params=bad, headers=bearer(doc["view_token"])
            )
            assert response.status_code == 400, bad
        response = await http.get(f"/api/docs/{doc['id']}/history")
        assert response.status_code == 401


@pytest.mark.timeout(180)
async def test_two_processes_write_one_document_through_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    """Without ``--redis-url`` neither process relays to the other, but both number their
    commits in the one database: together they make revisions 1..N, and after a restart each
    serves the merge of everything either stored."""
    one = ServerProcess(postgres_url, tmp_path / "one.log", SETTINGS)
    two = ServerProcess(postgres_url, tmp_path / "two.log", SETTINGS)
    one.start()
    try:
        two.start()
        try:
            async with one.http() as http:
                ada_author = await create_author(http, "Ada", "#123456")
                grace_author = await create_author(http, "Grace", "#654321")
            doc = await one.create_document("Two processes")
            edit, view = doc["edit_token"], doc["view_token"]
            ada: Doc = Doc()
            grace: Doc = Doc()
            async with (
                one.http() as http_one,
                two.http() as http_two,
                synced_doc(one.ws_url, doc["id"], edit, doc=ada, author=ada_author["secret"]),
                synced_doc(two.ws_url, doc["id"], edit, doc=grace, author=grace_author["secret"]),
                synced_doc(one.ws_url, doc["id"], view) as (watch_one, _),
                synced_doc(two.ws_url, doc["id"], view) as (watch_two, _),
            ):
                ada_text, grace_text = new_paragraph(ada), new_paragraph(grace)

                async def keystrokes(text: XmlText, words: str, local: Doc, watcher: Doc) -> None:
                    """Each keystroke committed before the next: both processes' commits
                    interleave, one revision each."""
                    for ch in words:
                        text.insert(len(text), ch)
                        await wait_for(
                            lambda: str(fragment_of(watcher)) == str(fragment_of(local)),
                            "the keystroke to be committed",
                        )

                async def ada_types() -> None:
                    await keystrokes(ada_text, "Ada on process one. " * 2, ada, watch_one)
                    await delete_chars(ada_text, 0, 4)

                async def grace_types() -> None:
                    await keystrokes(grace_text, "Grace on process two. " * 2, grace, watch_two)
                    grace_text.format(0, 5, {"bold": {}})

                await asyncio.gather(ada_types(), grace_types())
                await committed(http_one, doc, ada, watch_one)
                await committed(http_two, doc, grace, watch_two)
                newest = (await doc_info(http_one, doc))["rev"]
                assert (await doc_info(http_two, doc))["rev"] == newest
                assert newest >= 80  # a revision per keystroke

                entries = await all_entries(http_one, doc, limit=200)
                assert_tiles(entries, newest)
                assert await all_entries(http_two, doc, limit=7) == entries
                authors = {e["author"]["id"] for e in entries}
                assert authors == {ada_author["id"], grace_author["id"]}
                assert len(entries) >= 4, "the two processes' commits interleave"
        finally:
            two.stop()
    finally:
        one.stop()

    revs, _, _ = await stored_revisions(postgres_url, doc["id"])
    assert revs == list(range(1, newest + 1))

    merged: Doc = Doc()
    merged.apply_update(ada.get_update())
    merged.apply_update(grace.get_update())
    expected = plain(merged)
    assert "Ada on process one" in expected and "Grace on process two" in expected

    one.start()
    try:
        two.start()
        try:
            async with (
                one.http() as http_one,
                two.http() as http_two,
                synced_doc(one.ws_url, doc["id"], edit, doc=ada, author=ada_author["secret"]),
                synced_doc(two.ws_url, doc["id"], edit, doc=grace, author=grace_author["secret"]),
            ):
                for http in (http_one, http_two):
                    assert (await content(http, doc)).text == expected
                    assert (await doc_info(http, doc))["rev"] == newest
                    assert (await content_at(http, doc, newest))[0] == expected
                    assert_tiles(await all_entries(http, doc, limit=200), newest)
                # each client, reconnected, holds the merge too
                await wait_for(lambda: plain(ada) == expected, "Ada's client to merge")
                await wait_for(lambda: plain(grace) == expected, "Grace's client to merge")
        finally:
            two.stop()
    finally:
        one.stop()


# ---- attribution -------------------------------------------------------------------------------


async def test_bursts_are_attributed_to_the_connections_author(
    history_server: ServerProcess,
) -> None:
    server = history_server
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        grace_author = await create_author(http, "Grace", "#654321")
        doc = await server.create_document("Attribution")
        edit = doc["edit_token"]
        async with (
            synced_doc(server.ws_url, doc["id"], edit, author=ada_author["secret"]) as (ada, ws),
            synced_doc(server.ws_url, doc["id"], edit, author=grace_author["secret"]) as (
                grace,
                _,
            ),
            synced_doc(server.ws_url, doc["id"], edit) as (anonymous, _),
            synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
        ):
            # Ada's awareness claims to be Grace: her changes are Ada's all the same
            claim = {"user": {"name": "Grace", "color": "#654321"}}
            await ws.send(awareness_message(ada.client_id, 1, claim))
            ends = []
            for who, words in ((ada, "Hello"), (grace, "Hi"), (ada, "again"), (anonymous, "anon")):
                text = new_paragraph(who)
                await type_text(text, words)
                for other in (ada, grace, anonymous):
                    await wait_for(
                        lambda o=other, w=who: plain(o) == plain(w), "the others to receive it"
                    )
                ends.append(await committed(http, doc, who, watcher))

        entries = await all_entries(http, doc, limit=200)
    assert_tiles(entries, ends[-1])
    entries.reverse()  # oldest first
    assert [e["author"] for e in entries] == [
        public(ada_author),
        public(grace_author),
        public(ada_author),
        None,
    ]
    starts = [1, *(end + 1 for end in ends[:-1])]
    assert [(e["from_rev"], e["to_rev"]) for e in entries] == list(zip(starts, ends, strict=True))
    assert [e["kind"] for e in entries] == ["edit"] * 4
    assert [e["added"] for e in entries] == [5, 2, 5, 4]
    assert [e["removed"] for e in entries] == [0, 0, 0, 0]
    assert entries[0]["summary"].startswith("Ada ")
    assert entries[1]["summary"].startswith("Grace ")
    for entry in entries:
        assert entry["started_at"] <= entry["ended_at"]


async def test_a_client_id_belongs_to_its_first_author(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        grace_author = await create_author(http, "Grace", "#654321")
        doc = await server.create_document("Hijack")
        edit = doc["edit_token"]
        async with (
            synced_doc(server.ws_url, doc["id"], edit, author=ada_author["secret"]) as (ada, _),
            synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
        ):
            await type_text(new_paragraph(ada), "Ada wrote this")
            before = await committed(http, doc, ada, watcher)
            ada_id = ada.client_id

            # Grace (and then an anonymous connection) write with Ada's client id
            for who, params in (
                ("Grace", {"author": grace_author["secret"]}),
                ("anonymous", {}),
            ):
                forger: Doc = Doc(client_id=ada_id)
                async with synced_doc(server.ws_url, doc["id"], edit, doc=forger, **params) as (
                    _,
                    forged_ws,
                ):
                    assert plain(forger) == "Ada wrote this"
                    assert forger.client_id == ada_id
                    await type_text(block_text(forger, 0), f" forged by {who}")
                    assert await closed_with(forged_ws) == 1008, who
                assert "forged" not in (await content(http, doc)).text
                assert "forged" not in plain(ada) and "forged" not in plain(watcher)
                assert (await doc_info(http, doc))["rev"] == before

            # Ada herself, on a new connection with her client id, writes on
            again: Doc = Doc(client_id=ada_id)
            async with synced_doc(
                server.ws_url, doc["id"], edit, doc=again, author=ada_author["secret"]
            ) as (_, again_ws):
                await type_text(block_text(again, 0), " and more")
                await wait_for(lambda: plain(ada) == "Ada wrote this and more", "Ada's addition")
                newest = await committed(http, doc, again, watcher)
                assert again_ws.close_code is None
        entries = await all_entries(http, doc, limit=200)
    assert_tiles(entries, newest)
    assert newest > before
    assert [e["author"] for e in entries] == [public(ada_author)] * len(entries)


async def test_resent_updates_are_not_new_revisions(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        grace_author = await create_author(http, "Grace", "#654321")
        doc = await server.create_document("Re-sent")
        edit = doc["edit_token"]
        url = server.ws_url
        as_ada = {"author": ada_author["secret"]}
        as_grace = {"author": grace_author["secret"]}
        async with (
            synced_doc(url, doc["id"], edit, **as_ada) as (ada, _),
            synced_doc(url, doc["id"], doc["view_token"]) as (watcher, _),
        ):
            keystrokes: list[bytes] = []
            subscription = ada.observe(lambda event: keystrokes.append(event.update))
            await type_text(new_paragraph(ada), "Hello world")
            ada.unobserve(subscription)
            rev = await committed(http, doc, ada, watcher)

            # Ada, on another connection, sends the very same bytes again (and her whole state)
            async with websockets.connect(ws_url(url, doc["id"], edit, **as_ada)) as raw:
                await barrier(raw)
                for update in [*keystrokes, ada.get_update()]:
                    await raw.send(create_update_message(update))
                await barrier(raw)
                assert raw.close_code is None
            assert (await doc_info(http, doc))["rev"] == rev

            # Grace holds a copy of Ada's document: syncing it, and sending all of it again,
            # adds nothing and attributes nothing to her
            copy: Doc = Doc()
            copy.apply_update(ada.get_update())
            assert copy.client_id != ada.client_id
            async with synced_doc(url, doc["id"], edit, doc=copy, **as_grace) as (_, grace_ws):
                assert plain(copy) == "Hello world"
                async with websockets.connect(ws_url(url, doc["id"], edit, **as_grace)) as raw:
                    await barrier(raw)
                    await raw.send(create_update_message(copy.get_update()))
                    for update in keystrokes:
                        await raw.send(create_update_message(update))
                    await barrier(raw)
                    assert raw.close_code is None
                assert (await doc_info(http, doc))["rev"] == rev
                page = await history_page(http, doc, limit=200)
                assert [e["author"] for e in page["entries"]] == [public(ada_author)]
                assert page["entries"][0]["to_rev"] == rev

                # her own new edit is hers, and the very next revision
                await type_text(block_text(copy, 0), "!")
                newest = await committed(http, doc, copy, watcher)
                assert grace_ws.close_code is None
        assert newest == rev + 1
        entries = await all_entries(http, doc, limit=200)
    assert_tiles(entries, newest)
    assert [(e["from_rev"], e["to_rev"], e["author"]) for e in entries] == [
        (newest, newest, public(grace_author)),
        (1, rev, public(ada_author)),
    ]
    assert entries[0]["added"] == 1


# ---- restore -----------------------------------------------------------------------------------


class StockClient:
    """tests/stock_client.mjs: yjs and y-websocket as the editor page ships them, in Node."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.states: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.states.append(json.loads(line))

    @property
    def latest(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    async def wait(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> None:
        await wait_for(lambda: bool(self.states) and predicate(self.latest), what)


@contextlib.asynccontextmanager
async def stock_client(base_ws: str, doc_id: str, token: str) -> AsyncIterator[StockClient]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the stock y-websocket client"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(STOCK_CLIENT),
        base_ws,
        doc_id,
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = StockClient(proc)
    try:
        await client.wait(lambda s: s.get("event") == "synced", "the stock client to sync")
        yield client
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), DEADLINE)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await asyncio.wait_for(client._reader, DEADLINE)


async def test_restore_is_a_forward_change_every_client_receives(
    history_server: ServerProcess,
) -> None:
    server = history_server
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        doc = await server.create_document("Restore")
        edit, view = doc["edit_token"], doc["view_token"]
        path = f"/api/docs/{doc['id']}/restore"
        async with (
            synced_doc(server.ws_url, doc["id"], edit, author=ada_author["secret"]) as (ada, _),
            stock_client(server.ws_url, doc["id"], edit) as stock,
        ):
            first = new_paragraph(ada)
            await type_text(first, "First draft of the text")
            one = await committed(http, doc, ada)
            at_one = await content_at(http, doc, one)
            await stock.wait(lambda s: s["text"] == at_one[0], "the stock client at revision 1")
            ada_one, stock_one = str(fragment_of(ada)), stock.latest["xml"]

            await delete_chars(first, 6, 5)  # "draft"
            await type_text(first, "version", at=6)
            first.format(0, 5, {"bold": {}})
            await type_text(new_paragraph(ada), "A second paragraph")
            two = await committed(http, doc, ada)
            at_two = await content_at(http, doc, two)
            await stock.wait(lambda s: s["text"] == at_two[0], "the stock client at revision 2")
            ada_two, stock_two = str(fragment_of(ada)), stock.latest["xml"]
            assert at_two != at_one and ada_two != ada_one and stock_two != stock_one

            restored = await http.post(path, json={"rev": one}, headers=bearer(edit, ada_author))
            assert restored.status_code == 200, restored.text
            assert restored.json() == {"rev": two + 1}
            made = two + 1
            # both clients receive it live
            await wait_for(lambda: str(fragment_of(ada)) == ada_one, "pycrdt to show revision 1")
            await stock.wait(lambda s: s["xml"] == stock_one, "the stock client to show rev 1")
            assert stock.latest["text"] == at_one[0] == plain(ada)
            assert (await doc_info(http, doc))["rev"] == made
            assert await content_at(http, doc, None) == at_one
            assert await content_at(http, doc, made) == at_one
            # nothing earlier is lost
            assert await content_at(http, doc, one) == at_one
            assert await content_at(http, doc, two) == at_two
            newest = (await history_page(http, doc, limit=1))["entries"][0]
            assert newest["kind"] == "restore"
            assert newest["author"] == public(ada_author)
            assert (newest["from_rev"], newest["to_rev"]) == (made, made)
            assert newest["summary"] == "Ada restored an earlier version"

            # restoring the revision just before the restore undoes it
            undone = await http.post(path, json={"rev": made - 1}, headers=bearer(edit))
            assert undone.status_code == 200, undone.text
            assert undone.json() == {"rev": made + 1}
            await wait_for(lambda: str(fragment_of(ada)) == ada_two, "pycrdt back at rev 2")
            await stock.wait(lambda s: s["xml"] == stock_two, "the stock client back at rev 2")
            assert stock.latest["text"] == at_two[0]
            assert await content_at(http, doc, None) == at_two
            assert await content_at(http, doc, made) == at_one
            latest = (await history_page(http, doc, limit=1))["entries"][0]
            assert (latest["kind"], latest["author"]) == ("restore", None)  # no author header

            # and the clients edit on from there
            await type_text(block_text(ada, 1), " (kept)")
            after = await committed(http, doc, ada)
            await stock.wait(lambda s: s["text"] == plain(ada), "the stock client to follow")
            assert after > made + 1

            # refusals change nothing
            refusals = [
                ({"rev": one}, bearer(view), 403),
                ({"rev": one}, {}, 401),
                ({"rev": one}, bearer("not-a-token"), 401),
                ({}, bearer(edit), 400),
                ({"rev": "1"}, bearer(edit), 400),
                ({"rev": 0}, bearer(edit), 400),
                ({"rev": -1}, bearer(edit), 400),
                ({"rev": 1.5}, bearer(edit), 400),
                ({"rev": True}, bearer(edit), 400),
                ({"rev": one, "extra": 1}, bearer(edit), 400),
                ([one], bearer(edit), 400),
                ({"rev": after + 1}, bearer(edit), 404),
                ({"rev": 10**9}, bearer(edit), 404),
            ]
            for body, headers, status in refusals:
                response = await http.post(path, json=body, headers=headers)
                assert response.status_code == status, (body, headers, response.text)
                assert "error" in response.json()
            response = await http.post(
                path,
                content=b'{"rev": ',
                headers={**bearer(edit), "Content-Type": "application/json"},
            )
            assert response.status_code == 400
            unknown = await http.post(
                "/api/docs/nosuchdocument/restore", json={"rev": 1}, headers=bearer(edit)
            )
            assert unknown.status_code in (401, 404)
            assert (await doc_info(http, doc))["rev"] == after
            assert plain(ada) == (await content(http, doc)).text
        assert_tiles(await all_entries(http, doc, limit=200), after)


# ---- what changed ------------------------------------------------------------------------------


async def test_changes_mark_insertions_deletions_and_formatting_by_author(
    history_server: ServerProcess,
) -> None:
    server = history_server
    hostile = "<img src=x onerror=alert(1)>"
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        grace_author = await create_author(http, "Grace", "#654321")
        doc = await server.create_document("Changes")
        edit = doc["edit_token"]
        ada_id, grace_id = ada_author["id"], grace_author["id"]
        async with (
            synced_doc(server.ws_url, doc["id"], edit, author=ada_author["secret"]) as (ada, _),
            synced_doc(server.ws_url, doc["id"], edit, author=grace_author["secret"]) as (
                grace,
                _,
            ),
            synced_doc(server.ws_url, doc["id"], edit) as (anonymous, _),
            synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (watcher, _),
        ):

            async def settle(who: Doc) -> int:
                for other in (ada, grace, anonymous):
                    await wait_for(lambda o=other: plain(o) == plain(who), "convergence")
                await wait_for(
                    lambda: all(str(fragment_of(o)) == str(fragment_of(who)) for o in (ada, grace)),
                    "formatting to converge",
                )
                return await committed(http, doc, who, watcher)

            await type_text(new_paragraph(ada), "Hello brave world")
            start = await settle(ada)
            await delete_chars(block_text(grace, 0), 6, 6)  # Grace deletes "brave "
            await settle(grace)
            await type_text(new_paragraph(ada), hostile)  # Ada types markup, as text
            await settle(ada)
            block_text(grace, 0).format(0, 5, {"bold": {}})  # Grace makes "Hello" bold
            await settle(grace)
            await type_text(new_paragraph(anonymous), "anonymous words")
            end = await settle(anonymous)

        response = await http.get(
            f"/api/docs/{doc['id']}/changes",
            params={"from": start},
            headers=bearer(doc["view_token"]),
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        page = response.text

        assert re.search(rf'<del data-author="{grace_id}">[^<]*brave[^<]*</del>', page), page
        assert re.search(rf'<ins data-author="{grace_id}" data-change="format">Hello</ins>', page)
        assert f'<strong><ins data-author="{grace_id}" data-change="format">Hello' in page
        escaped = "&lt;img src=x onerror=alert(1)&gt;"
        assert f'<ins data-author="{ada_id}">{escaped}</ins>' in page, page
        assert f'<p data-author="{ada_id}" data-change="inserted">' in page
        assert "<ins>anonymous words</ins>" in page  # anonymous: no data-author at all
        assert "<img" not in page and "onerror=alert(1)>" not in page
        assert not re.search(r"<(ins|del)[^>]*>[^<]*world", page)  # untouched text is plain

        # the whole range: Ada's first paragraph is Ada's insertion
        everything = await http.get(
            f"/api/docs/{doc['id']}/changes", params={"from": 0, "to": end}, headers=bearer(edit)
        )
        assert everything.status_code == 200
        assert re.search(rf'<ins data-author="{ada_id}">[^<]*world', everything.text)
        # no range, no change marked
        nothing = await http.get(
            f"/api/docs/{doc['id']}/changes",
            params={"from": start, "to": start},
            headers=bearer(edit),
        )
        assert nothing.status_code == 200
        assert "<ins" not in nothing.text and "<del" not in nothing.text
        for params, status in (
            ({}, 400),
            ({"from": "x"}, 400),
            ({"from": end + 1}, 404),
            ({"from": 1, "to": end + 1}, 404),
        ):
            response = await http.get(
                f"/api/docs/{doc['id']}/changes", params=params, headers=bearer(edit)
            )
            assert response.status_code == status, (params, response.text)
        response = await http.get(f"/api/docs/{doc['id']}/changes", params={"from": 1})
        assert response.status_code == 401


# ---- named versions ----------------------------------------------------------------------------


async def test_named_versions(history_server: ServerProcess) -> None:
    server = history_server
    async with server.http() as http:
        ada_author = await create_author(http, "Ada", "#123456")
        doc = await server.create_document("Versions")
        edit, view = doc["edit_token"], doc["view_token"]
        path = f"/api/docs/{doc['id']}/versions"
        async with synced_doc(server.ws_url, doc["id"], edit) as (ada, _):
            words = new_paragraph(ada)
            await type_text(words, "Words")
            earlier = await committed(http, doc, ada)
            await type_text(words, " and more")
            newest = await committed(http, doc, ada)
        assert newest > earlier >= 1

        draft = await http.post(path, json={"name": "Draft"}, headers=bearer(edit, ada_author))
        assert draft.status_code == 201, draft.text
        body = draft.json()
        assert set(body) == {"id", "name", "rev", "created_at", "author"}
        assert (body["name"], body["rev"], body["author"]) == ("Draft", newest, public(ada_author))
        first = await http.post(path, json={"name": "  First  ", "rev": 1}, headers=bearer(edit))
        assert first.status_code == 201, first.text
        assert (first.json()["name"], first.json()["rev"], first.json()["author"]) == (
            "First",
            1,
            None,
        )
        assert first.json()["id"] != body["id"]

        listed = await http.get(path, headers=bearer(view))
        assert listed.status_code == 200
        assert listed.json() == {"versions": [body, first.json()]}  # newest revision first

        for payload, headers, status in (
            ({"name": "Mine"}, bearer(view), 403),
            ({"name": "Mine"}, {}, 401),
            ({"name": "Late", "rev": newest + 1}, bearer(edit), 404),
            ({"name": "Late", "rev": 10**9}, bearer(edit), 404),
            ({"name": ""}, bearer(edit), 400),
            ({"name": "   "}, bearer(edit), 400),
            ({}, bearer(edit), 400),
            ({"name": 5}, bearer(edit), 400),
            ({"name": "x" * 201}, bearer(edit), 400),
            ({"name": "Bad", "rev": 0}, bearer(edit), 400),
            ({"name": "Bad", "rev": "1"}, bearer(edit), 400),
            ({"name": "Bad", "extra": True}, bearer(edit), 400),
        ):
            response = await http.post(path, json=payload, headers=headers)
            assert response.status_code == status, (payload, response.text)
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, headers=bearer(view))).json() == listed.json()
