"""The viewers' Server-Sent Events feed over a real server."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import websockets
from pycrdt import XmlElement, XmlText

from tests.client import awareness_message, fragment_of, synced_doc, ws_url
from tests.server import ServerProcess
from tests.sse import Event, SseClient

ADA = {"user": {"name": "Ada", "color": "#ff0000"}}


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {
        "SWELL_EDIT_BURST_SECONDS": "0.3",
        "SWELL_SSE_PING_SECONDS": "0.5",
        "SWELL_CONTENT_INTERVAL_SECONDS": "0.05",
        "SWELL_ACTIVITY_KEEP": "5",
    }


def kind(name: str) -> object:
    return lambda e: e.event == name


def activity(kind_name: str) -> object:
    return lambda e: e.event == "activity" and e.data["kind"] == kind_name


def users(event: Event) -> list[tuple[str, str]]:
    return [(u["name"], u["role"]) for u in event.data["users"]]


async def test_stream_headers_retry_and_initial_state(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"], name="Bob")
    assert feed.status == 200
    assert feed.headers["content-type"].startswith("text/event-stream")
    assert feed.headers["cache-control"] == "no-cache"
    assert feed.headers["x-accel-buffering"] == "no"
    presence = await feed.next_event()
    assert presence is not None and presence.event == "presence"
    assert users(presence) == [("Bob", "view")]
    assert feed.retry is not None and 2000 <= feed.retry <= 4000  # base 2000 + jitter
    mark = len(feed.events)  # content and the created activity come in no defined order
    created = await feed.wait_for(kind("activity"), since=mark)
    assert created.data["kind"] == "created" and created.id == 1
    content = await feed.wait_for(kind("content"), since=mark)
    assert content.data == {"html": "", "text": ""}
    await feed.close()


async def test_heartbeat_comments_arrive(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    deadline = time.monotonic() + 5
    while feed.pings < 2:
        assert time.monotonic() < deadline, "no ping"
        try:
            await feed.next_event(within=max(0.01, deadline - time.monotonic()))
        except AssertionError:
            pass
    await feed.close()


async def test_refusals_come_before_the_stream(server: ServerProcess) -> None:
    doc = await server.create_document()
    for token, status in ((None, 401), ("wrong", 401)):
        feed = await SseClient.connect(server.base_url, doc["id"], token)
        assert feed.status == status and b"error" in await feed.body()
        await feed.close()
    feed = await SseClient.connect(server.base_url, "missing", doc["view_token"])
    assert feed.status == 404
    await feed.close()


async def test_presence_follows_editors_in_and_out_even_without_a_close_frame(
    server: ServerProcess,
) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(kind("content"))
    ws = await websockets.connect(ws_url(server.ws_url, doc["id"], doc["edit_token"]))
    mark = feed.mark()
    await ws.send(awareness_message(4242, 1, {"user": {"name": "Zoë 山田", "color": "#00f"}}))
    joined = await feed.wait_for(
        lambda e: e.event == "presence" and len(e.data["users"]) == 2, since=mark
    )
    assert ("Zoë 山田", "edit") in users(joined)
    join = await feed.wait_for(activity("join"), since=mark)
    assert join.data["user"] == "Zoë 山田"
    mark = feed.mark()
    ws.transport.abort()  # killed: no close frame
    left = await feed.wait_for(
        lambda e: e.event == "presence" and len(e.data["users"]) == 1, since=mark
    )
    assert users(left) == [("Viewer", "view")]
    leave = await feed.wait_for(activity("leave"), since=mark)
    assert leave.data["summary"] == "Zoë 山田 left"
    await feed.close()


async def test_edits_are_attributed_summarised_and_rendered(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ws):
        await ws.send(awareness_message(ada.client_id, 1, ADA))
        await feed.wait_for(activity("join"))
        mark = feed.mark()
        text = XmlText("Hello")
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [text]))
        text.insert(5, " world!")
        # Updates applied in one transaction are counted by their net effect: let the server
        # hold the insert before the deletion comes, as it would while a person types.
        await feed.wait_for(
            lambda e: e.event == "content" and e.data["text"] == "Hello world!", since=mark
        )
        del text[0:1]
        content = await feed.wait_for(
            lambda e: e.event == "content" and e.data["text"] == "ello world!", since=mark
        )
        assert content.data["html"] == "<p>ello world!</p>"
        edit = await feed.wait_for(activity("edit"), since=mark)
        assert edit.data["user"] == "Ada"
        assert edit.data["summary"] == "Ada added 12 characters and removed 1"
    await feed.close()


async def test_hostile_content_is_rendered_harmless(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        link = XmlText()
        fragment_of(ada).children.append(XmlElement("paragraph", {}, [link]))
        link.insert(0, "click", {"link": {"href": "javascript:alert(1)"}})
        fragment_of(ada).children.append(
            XmlElement("paragraph", {}, [XmlText("<script>alert(1)</script><img onerror=x>")])
        )
        fragment_of(ada).children.append(
            XmlElement("script", {"onload": "alert(2)"}, [XmlText("evil()")])
        )
        content = await feed.wait_for(lambda e: e.event == "content" and "img" in e.data["text"])
    html = content.data["html"]
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "onload" not in html and "&lt;script&gt;" in html
    assert "click" in html
    await feed.close()


async def test_title_changes_are_activity(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with server.http() as http:
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            json={"title": "Plans"},
            headers={"Authorization": f"Bearer {doc['edit_token']}", "X-Swell-User": "Grace"},
        )
        assert r.status_code == 200
    title = await feed.wait_for(activity("title"))
    assert title.data["user"] == "Grace"
    assert title.data["summary"] == "Grace renamed the document to “Plans”"
    await feed.close()


async def test_the_user_header_goes_through_the_name_rule(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    async with server.http() as http:
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            json={"title": "Plans"},
            headers={
                "Authorization": f"Bearer {doc['edit_token']}",
                "X-Swell-User": "%00Gr%C3%A2ce%E2%80%8B%0A  Hopper",
            },
        )
        assert r.status_code == 200
    title = await feed.wait_for(activity("title"))
    assert title.data["user"] == "Grâce Hopper"
    await feed.close()


async def rename(server: ServerProcess, doc: dict[str, str], title: str) -> None:
    async with server.http() as http:
        r = await http.patch(
            f"/api/docs/{doc['id']}",
            json={"title": title},
            headers={"Authorization": f"Bearer {doc['edit_token']}"},
        )
        assert r.status_code == 200


async def test_last_event_id_resumes_without_duplicates_or_gaps(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    await rename(server, doc, "one")
    seen = await feed.wait_for(activity("title"))
    assert seen.id == 2
    await feed.close()
    await rename(server, doc, "two")
    await rename(server, doc, "three")
    resumed = await SseClient.connect(
        server.base_url, doc["id"], doc["view_token"], last_event_id=2
    )
    got = []
    while len(got) < 2:
        event = await resumed.wait_for(kind("activity"))
        got.append((event.id, event.data["summary"]))
    await rename(server, doc, "four")
    event = await resumed.wait_for(kind("activity"))
    got.append((event.id, event.data["summary"]))
    assert [i for i, _ in got] == [3, 4, 5]
    assert "“two”" in got[0][1] and "“three”" in got[1][1] and "“four”" in got[2][1]
    await resumed.close()


async def test_a_last_event_id_older_than_what_is_kept_gets_a_reset(
    server: ServerProcess,
) -> None:
    doc = await server.create_document()
    for i in range(12):  # keep is 5: the oldest rows are pruned
        await rename(server, doc, f"t{i}")
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"], last_event_id=1)
    first = await feed.next_event()
    assert first is not None and first.event == "reset"
    assert (await feed.next_event()).event == "presence"  # type: ignore[union-attr]
    replayed = await feed.wait_for(kind("activity"))
    assert replayed.id is not None and replayed.id > 2
    await feed.wait_for(kind("content"))
    await feed.close()


async def test_deleting_the_document_ends_its_streams(server: ServerProcess) -> None:
    doc = await server.create_document()
    feed = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    await feed.wait_for(kind("content"))
    async with server.http() as http:
        r = await http.delete(
            f"/api/docs/{doc['id']}", headers={"Authorization": f"Bearer {doc['edit_token']}"}
        )
        assert r.status_code == 204
    await feed.wait_for(kind("deleted"))
    assert await feed.next_event() is None  # the stream ended
    await feed.close()
    again = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    assert again.status == 404
    await again.close()


async def test_open_streams_end_promptly_on_sigterm(server: ServerProcess) -> None:
    doc = await server.create_document()
    feeds = [
        await SseClient.connect(server.base_url, doc["id"], doc["view_token"]) for _ in range(5)
    ]
    for feed in feeds:
        await feed.wait_for(kind("content"))
    assert server.proc is not None
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for feed in feeds:
        while await feed.next_event(within=10) is not None:
            pass
        await feed.close()
    assert await asyncio.to_thread(server.proc.wait, 10) == 0
    assert time.monotonic() - started < 10


async def test_an_editors_own_panel_is_not_listed_as_a_viewer(server: ServerProcess) -> None:
    doc = await server.create_document()
    panel = await SseClient.connect(server.base_url, doc["id"], doc["edit_token"], name="Ada")
    first = await panel.wait_for(kind("presence"))
    assert users(first) == []
    viewer = await SseClient.connect(server.base_url, doc["id"], doc["view_token"], name="Bob")
    seen = await viewer.wait_for(kind("presence"))
    assert users(seen) == [("Bob", "view")]
    update = await panel.wait_for(kind("presence"))
    assert users(update) == [("Bob", "view")]
    await panel.close()
    await viewer.close()
