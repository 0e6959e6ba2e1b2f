"""Event streams over a real server: failed rooms and rotated tokens end them, presence shows
who is editing, joining and leaving in a loop is one row of activity."""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest
import websockets
from pycrdt import XmlElement, XmlText

from tests.client import awareness_message, fragment_of, next_awareness, synced_doc, ws_url
from tests.server import ServerProcess
from tests.sse import Event, SseClient

pytestmark = pytest.mark.timeout(120)

BURST = 0.5


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {
        "SWELL_EDIT_BURST_SECONDS": str(BURST),
        "SWELL_CONTENT_INTERVAL_SECONDS": "0.05",
    }


def is_content(words: str) -> object:
    return lambda e: e.event == "content" and words in e.data["text"]


async def ended(feed: SseClient, within: float) -> list[Event]:
    """Read until the stream ends (within ``within`` seconds); what arrived meanwhile."""
    seen: list[Event] = []
    deadline = time.monotonic() + within
    while True:
        event = await feed.next_event(within=max(0.01, deadline - time.monotonic()))
        if event is None:
            return seen
        seen.append(event)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # locks the SQLite file
async def test_a_failed_room_ends_its_streams_and_shows_nothing_uncommitted(
    server: ServerProcess, database_url: str
) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    locker = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
    try:
        with contextlib.suppress(Exception):
            async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
                fragment_of(ada).children.append(
                    XmlElement("paragraph", {}, [XmlText("committed")])
                )
                await feed.wait_for(is_content("committed"))
                locker.execute("BEGIN EXCLUSIVE")  # every commit fails from now on
                fragment_of(ada).children.append(
                    XmlElement("paragraph", {}, [XmlText("uncommitted")])
                )
                after = await ended(feed, within=90)
        assert "room" in server.log_text() and "failed" in server.log_text()
        assert not any("uncommitted" in str(e.data) for e in after)
    finally:
        locker.close()  # rolls back: the database works again
    again = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    content = await again.wait_for(lambda e: e.event == "content")
    assert content.data["text"] == "committed"  # a fresh room, from what was stored
    await again.close()
    await feed.close()


async def test_rotating_a_token_ends_the_streams_opened_with_it(server: ServerProcess) -> None:
    doc = await server.create_document()
    viewer = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    panel = await SseClient.connect(server.base_url, doc["id"], doc["edit_token"])
    for feed in (viewer, panel):
        await feed.wait_for(lambda e: e.event == "content")
    async with server.http() as http:
        r = await http.post(
            f"/api/docs/{doc['id']}/tokens",
            json={"role": "view"},
            headers={"Authorization": f"Bearer {doc['edit_token']}"},
        )
        assert r.status_code == 200
    started = time.monotonic()
    # Its last event says why, so a page can tell at once instead of after a retry.
    revoked = await viewer.wait_for(lambda e: e.event == "revoked", within=1.0)
    assert revoked.data == {"role": "view"}
    await ended(viewer, within=1.0)
    assert time.monotonic() - started < 1.0
    # The edit token's stream goes on: it sees the viewer leave.
    await panel.wait_for(lambda e: e.event == "presence" and e.data["users"] == [])
    refused = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    assert refused.status == 401
    for feed in (viewer, panel, refused):
        await feed.close()


def entry(event: Event, name: str) -> dict[str, object] | None:
    if event.event != "presence":
        return None
    return next((u for u in event.data["users"] if u["name"] == name), None)


async def test_presence_shows_who_is_editing_until_their_burst_ends(
    server: ServerProcess,
) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"], name="Vic")
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ws):
        await ws.send(awareness_message(ada.client_id, 1, {"user": {"name": "Ada"}}))
        here = await feed.wait_for(lambda e: entry(e, "Ada") is not None)
        assert entry(here, "Ada") == {
            "name": "Ada",
            "color": entry(here, "Ada")["color"],  # type: ignore[index]
            "role": "edit",
            "editing": False,
        }
        assert {"name": "Vic", "role": "view", "editing": False}.items() <= (
            entry(here, "Vic") or {}
        ).items()
        typed = time.monotonic()
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [XmlText("hi")]))
        await feed.wait_for(lambda e: (entry(e, "Ada") or {}).get("editing") is True, within=1)
        assert time.monotonic() - typed < 1.0
        await feed.wait_for(lambda e: (entry(e, "Ada") or {}).get("editing") is False, within=5)
        assert time.monotonic() - typed >= BURST
    await feed.close()


async def test_reconnecting_in_a_loop_is_one_join_and_one_leave(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(lambda e: e.event == "content")
    mark = feed.mark()
    for i in range(6):
        async with websockets.connect(ws_url(server.ws_url, doc["id"], doc["edit_token"])) as ws:
            await ws.send(awareness_message(9000 + i, 1, {"user": {"name": "Loopy"}}))
            await next_awareness(ws)  # the room has it (echoed back to its sender)
    await feed.wait_for(
        lambda e: e.event == "activity" and e.data["kind"] == "leave", since=mark, within=10
    )
    # A title change after it: everything recorded before it is in by then.
    async with server.http() as http:
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            json={"title": "sentinel"},
            headers={"Authorization": f"Bearer {doc['edit_token']}"},
        )
        assert r.status_code == 200
    await feed.wait_for(lambda e: e.event == "activity" and e.data["kind"] == "title", since=0)
    rows = [
        (e.data["kind"], e.data["summary"])
        for e in feed.events
        if e.event == "activity" and e.data["kind"] in ("join", "leave")
    ]
    assert rows == [("join", "Loopy joined"), ("leave", "Loopy left")]
    await feed.close()


async def test_a_viewer_named_by_query_goes_through_the_name_rule(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(
        server.base_url, doc["id"], doc["view_token"], name="  Eve\u200b\x07  " + "x" * 300
    )
    presence = await feed.wait_for(lambda e: e.event == "presence")
    (user,) = presence.data["users"]
    assert user["name"] == ("Eve " + "x" * 300)[:100] and user["editing"] is False
    await feed.close()
