"""Issue 9, rows 1 (deep update), 6 (a socket that never reads), 9/12 (a failed room is
released) and the document size limit."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from tests.client import fragment_of, synced_doc, text_of, wait_for
from tests.hostile.attacker import (
    connect,
    exchange_edits,
    healthz_within,
    open_non_reader,
    rss_bytes,
    send_and_close_code,
    still_open,
    successive_updates,
    sync_update,
    text_update,
)
from tests.server import ServerProcess
from tests.sse import SseClient

# ---- row 1: an update nested 1,200 levels deep -------------------------------------------

DEPTH = 1200


def deepest(fragment: XmlFragment) -> tuple[int, str | None]:
    """How deep the first chain of elements goes, and the text at its bottom (iteratively)."""
    node: Any = fragment
    depth = 0
    while True:
        children = list(node.children)
        if not children:
            return depth, None
        if isinstance(children[0], XmlText):
            return depth, str(children[0])
        node = children[0]
        depth += 1


async def test_row1_update_nested_1200_deep_is_stored_and_forwarded(
    server: ServerProcess,
) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ada_ws),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, grace_ws),
    ):
        with ada.transaction():
            node: Any = fragment_of(ada)
            for _ in range(DEPTH):
                node = node.children.append(XmlElement("blockquote"))
            node.children.append(XmlText("at the bottom"))
        await wait_for(
            lambda: deepest(fragment_of(grace)) == (DEPTH, "at the bottom"), "grace sees it"
        )
        await exchange_edits(ada, grace, "deep")
        assert still_open(ada_ws) and still_open(grace_ws)
        await healthz_within(server, 1.0)
    server.stop()
    server.restart()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(
            lambda: deepest(fragment_of(fresh)) == (DEPTH, "at the bottom"), "stored in full"
        )
        assert "[deep-a]" in text_of(fresh)


# ---- document size limit ------------------------------------------------------------------

DOC_LIMIT = 256 * 1024


@pytest.fixture
def server_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    settings = {"SWELL_MAX_DOCUMENT_BYTES": str(DOC_LIMIT)}
    if "non_reader" in request.node.name:
        settings.update(
            {
                "SWELL_SEND_QUEUE_BYTES": str(4 << 20),
                "SWELL_SOCKET_BYTES_PER_SECOND": str(1 << 30),
                "SWELL_SOCKET_MESSAGES_PER_SECOND": str(100_000),
                "SWELL_MAX_DOCUMENT_BYTES": str(64 << 20),
            }
        )
    return settings


async def test_update_past_the_document_size_limit_closes_1009(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        ada.get("text", type=Text).insert(0, "kept")
        await wait_for(lambda: text_of(grace) == "kept", "the first edit")
        attacker = await connect(server, doc, "edit")
        code, reason = await send_and_close_code(
            attacker, [sync_update(text_update("x" * (DOC_LIMIT + 1024)))]
        )
        assert code == 1009
        assert reason.startswith("document too large"), reason
        await exchange_edits(ada, grace, "size")
        await healthz_within(server, 1.0)
        final = text_of(ada)
        assert "x" not in final
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == final, "the document kept what it had")


async def test_growing_past_the_document_size_limit_closes_1009(server: ServerProcess) -> None:
    """Many updates each under the limit: the one that would pass it is refused."""
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        attacker = await connect(server, doc, "edit")
        updates = successive_updates("y" * (32 * 1024) for _ in range(12))
        code, reason = await send_and_close_code(attacker, [sync_update(u) for u in updates])
        assert code == 1009
        assert reason.startswith("document too large"), reason
        await exchange_edits(ada, grace, "grow")
        assert len(text_of(grace).encode()) <= DOC_LIMIT
        final = text_of(grace)
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (fresh, _):
        await wait_for(lambda: text_of(fresh) == final, "the document kept what it had")


# ---- row 6: a socket that never reads --------------------------------------------------


@pytest.mark.slow
async def test_row6_non_reader_keeps_server_memory_bounded(server: ServerProcess) -> None:
    mebibyte = 1 << 20
    rounds = 48  # 48 MiB through the room, while the document stays small
    frames = [
        sync_update(u)
        for u in successive_updates(("b" * mebibyte for _ in range(rounds)), delete_each=True)
    ]

    doc = await server.create_document()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (reader, reader_ws):
        sleepers = [open_non_reader(server, doc) for _ in range(2)]
        try:
            async with await connect(server, doc, "edit") as sender:

                async def one_round(i: int) -> None:
                    # paced by the honest reader, so that only the sleepers fall behind
                    await sender.send(frames[2 * i])
                    await wait_for(lambda: len(text_of(reader)) == mebibyte, "the insert")
                    await sender.send(frames[2 * i + 1])
                    await wait_for(lambda: len(text_of(reader)) == 0, "the delete")

                await one_round(0)
                before = peak = rss_bytes(server)
                for i in range(1, rounds):
                    await one_round(i)
                    peak = max(peak, rss_bytes(server))
                assert still_open(sender) and still_open(reader_ws)
            growth = peak - before
            # Unbounded, each sleeper would hold up to ~47 MiB; bounded, 4 MiB each plus noise.
            assert growth < 40 << 20, f"server grew by {growth >> 20} MiB"
            await healthz_within(server, 1.0)
            async with (
                synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
                synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
            ):
                await exchange_edits(ada, grace, "after-sleepers")
        finally:
            for sock in sleepers:
                sock.close()


# ---- rows 9 and 12: a failed room is released -----------------------------------------------


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("failure injection uses the SQLite file")
    assert url.database
    return Path(url.database)


@contextlib.contextmanager
def failing_inserts(path: Path) -> Iterator[None]:
    """Every insert into the update journal fails at once, until the block ends."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(
            "CREATE TRIGGER hostile_fail BEFORE INSERT ON document_updates "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        yield
    finally:
        db.execute("DROP TRIGGER IF EXISTS hostile_fail")
        db.close()


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Another process holding the database's write lock."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def add_paragraph(doc: Doc[Any], text: str) -> None:
    fragment_of(doc).children.append(XmlElement("paragraph", contents=[XmlText(text)]))


def close_code(ws: ClientConnection) -> int | None:
    if ws.protocol.state is not State.CLOSED or ws.protocol.close_rcvd is None:
        return None
    return ws.protocol.close_rcvd.code


async def room_failure(
    server: ServerProcess, database_url: str, inject: Any, within: float
) -> None:
    path = sqlite_path(database_url)
    doc = await server.create_document()
    sse = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    try:
        async with contextlib.AsyncExitStack() as stack:
            ada, ada_ws = await stack.enter_async_context(
                synced_doc(server.ws_url, doc["id"], doc["edit_token"])
            )
            grace, grace_ws = await stack.enter_async_context(
                synced_doc(server.ws_url, doc["id"], doc["edit_token"])
            )
            await exchange_edits(ada, grace, "before")
            committed = text_of(ada)
            add_paragraph(ada, "committed paragraph")
            await wait_for(lambda: "committed paragraph" in str(fragment_of(grace)), "paragraph")
            await sse.wait_for(lambda e: e.event == "content")
            with inject(path):
                add_paragraph(ada, "[lost]")
                await wait_for(
                    lambda: close_code(ada_ws) is not None and close_code(grace_ws) is not None,
                    "every editor socket to close",
                    within,
                )
                await healthz_within(server, 1.0)
                assert close_code(ada_ws) == 1011
                assert close_code(grace_ws) == 1011
                assert "[lost]" not in str(fragment_of(grace)), "an update never committed"
                while (event := await sse.next_event()) is not None:  # the stream ends
                    assert "[lost]" not in str(event.data)
                await healthz_within(server, 1.0)
    finally:
        await sse.close()
    # Released: a fresh room from the database, where syncing works again.
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada2, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace2, _),
    ):
        assert text_of(ada2) == committed
        assert "committed paragraph" in str(fragment_of(ada2))
        assert "[lost]" not in str(fragment_of(ada2))
        await exchange_edits(ada2, grace2, "after")
        add_paragraph(ada2, "after the failure")
        again = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
        try:
            assert again.status == 200
            await again.wait_for(
                lambda e: e.event == "content" and "after the failure" in e.data["text"]
            )
        finally:
            await again.close()
    await healthz_within(server, 1.0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # fails the SQLite file
async def test_row12_failed_commit_closes_1011_and_releases_the_room(
    server: ServerProcess, database_url: str
) -> None:
    await room_failure(server, database_url, failing_inserts, within=10)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # locks the SQLite file
async def test_row12_locked_database_closes_1011_and_releases_the_room(
    server: ServerProcess, database_url: str
) -> None:
    """The lock the issue names. SQLite's busy timeout (10 s an attempt) makes this slow."""
    await room_failure(server, database_url, exclusive_lock, within=45)
