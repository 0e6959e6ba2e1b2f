"""Three processes on one PostgreSQL and one Redis act as one server (contract, "Several
processes"): what is done through one of them is seen, within 1 s, by clients of the others.

These tests share one cluster (they kill nothing); each makes its own documents."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.cluster.conftest import Cluster
from tests.cluster.editor import (
    Editor,
    FirstSeen,
    Watcher,
    assert_gapless,
    bearer,
    get_doc,
    get_rev,
    get_text,
    history_ranges,
    stock_client,
    tokens_in,
    wait_until,
)
from tests.sse import Event

pytestmark = pytest.mark.timeout(120)

WITHIN = 1.0  # the contract: a change or awareness update reaches every process within 1 s
SSE_WITHIN = 5.0  # presence, activity and content renders (bursts, debounces) for viewers


async def converged(editors: list[Editor], what: str, within: float = 5.0) -> str:
    """Wait until every editor shows the same text; return it."""
    await wait_until(lambda: len({e.text() for e in editors}) == 1, what, within)
    return editors[0].text()


async def assert_one_document_everywhere(
    cluster: Cluster, doc: dict[str, str], expected_text: str
) -> None:
    """Every process serves the same text, the same ``rev`` and a gapless history."""
    revs = [await get_rev(p, doc["id"], doc["view_token"]) for p in cluster.processes]
    assert len(set(revs)) == 1, f"rev differs between processes: {revs}"
    for i, process in enumerate(cluster.processes):
        assert await get_text(process, doc["id"], doc["view_token"]) == expected_text, i
        ranges = await history_ranges(process, doc["id"], doc["view_token"])
        assert_gapless(ranges, revs[0], f"history on server {i + 1}")


# ---- 1. editing, awareness, viewers -------------------------------------------------------


async def test_editors_on_three_processes_converge_each_change_within_a_second(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Three processes")
    editors = [Editor("Ada"), Editor("Linus"), Editor("Grace")]
    typed: set[str] = set()
    latencies: list[tuple[float, str]] = []
    async with contextlib.AsyncExitStack() as stack:
        for editor, server in zip(editors, c.processes, strict=True):
            await editor.connect(server, doc["id"], doc["edit_token"])
            stack.push_async_callback(editor.disconnect)
        stock = await stack.enter_async_context(stock_client(c[1], doc["id"], doc["view_token"]))
        n = 0
        for round_number in range(10):
            for editor in editors:
                n += 1
                token = editor.type(n)
                typed.add(token)
                others = [e for e in editors if e is not editor]
                took = await wait_until(
                    lambda: all(token in o.text() for o in others),  # noqa: B023
                    f"{token} (typed on {editor.server.base_url if editor.server else '?'}) "
                    "on the other processes",
                )
                if round_number >= 2:  # the first rounds load and warm up
                    latencies.append((took, token))
        slow = [(round(t, 3), token) for t, token in latencies if t > WITHIN]
        assert not slow, f"changes that took more than {WITHIN} s to cross: {slow}"
        text = await converged(editors, "the three editors to agree")
        assert tokens_in(text) == typed
        await wait_until(lambda: stock.text == text, "the stock Yjs client on process 2 to agree")
        await wait_until(lambda: all(e.all_saved() for e in editors), "every change saved")
        await assert_one_document_everywhere(c, doc, text)


async def test_awareness_crosses_processes_and_leaves_with_its_socket(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Awareness")
    ada, bob, carol = Editor("Ada"), Editor("Bob"), Editor("Carol")
    async with contextlib.AsyncExitStack() as stack:
        for editor in (ada, bob, carol):
            stack.push_async_callback(editor.disconnect)
        await bob.connect(c[1], doc["id"], doc["edit_token"])
        await carol.connect(c[2], doc["id"], doc["edit_token"], announce=False)
        await ada.connect(c[0], doc["id"], doc["edit_token"], announce=False)

        first = {"user": {"name": "Ada", "color": "#ff0000"}, "cursor": None}
        await ada.announce(first)
        took = await wait_until(
            lambda: (
                carol.awareness.get(ada.client_id) == first
                and bob.awareness_name(ada.client_id) == "Ada"
            ),
            "Ada's state (process 1) on processes 3 and 2",
        )
        assert took <= WITHIN, f"Ada's awareness took {took:.3f} s to cross"

        here = {"type": None, "tname": "default", "item": {"client": ada.client_id, "clock": 3}}
        moved = {
            "user": {"name": "Ada", "color": "#ff0000"},
            "cursor": {"anchor": {**here, "assoc": 0}, "head": {**here, "assoc": -1}},
        }  # y-prosemirror's shape (the server drops any other)
        await ada.announce(moved)
        took = await wait_until(
            lambda: carol.awareness.get(ada.client_id) == moved, "Ada's cursor on process 3"
        )
        assert took <= WITHIN, f"Ada's cursor took {took:.3f} s to cross"
        took = await wait_until(
            lambda: ada.awareness_name(bob.client_id) == "Bob", "Bob's state (process 2) on 1"
        )

        # A newcomer on process 3 is greeted with the states of people on other processes.
        dave = Editor("Dave")
        stack.push_async_callback(dave.disconnect)
        await dave.connect(c[2], doc["id"], doc["edit_token"], announce=False)
        await wait_until(
            lambda: (
                dave.awareness.get(ada.client_id) == moved
                and dave.awareness_name(bob.client_id) == "Bob"
            ),
            "Ada's and Bob's states greeting a newcomer on process 3",
        )

        closed_at = time.monotonic()
        await ada.disconnect()
        took = await wait_until(
            lambda: (
                ada.client_id in carol.awareness
                and carol.awareness[ada.client_id] is None
                and dave.awareness.get(ada.client_id, "absent") is None
            ),
            "Ada's state removed on process 3 after her socket closed",
        )
        assert time.monotonic() - closed_at <= WITHIN, f"removal took {took:.3f} s"
        await wait_until(
            lambda: bob.awareness.get(ada.client_id, "absent") is None,
            "Ada's state removed on process 2",
            WITHIN,
        )


def presence_of(users: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
    for user in users or []:
        if user["name"] == name:
            return user
    return None


def is_presence(predicate: Callable[[list[dict[str, Any]]], bool]) -> Callable[[Event], bool]:
    return lambda e: e.event == "presence" and predicate(e.data["users"])


def editing(name: str, value: bool) -> Callable[[list[dict[str, Any]]], bool]:
    """``name`` is listed, and editing (or not)."""

    def check(users: list[dict[str, Any]]) -> bool:
        user = presence_of(users, name)
        return user is not None and user["editing"] is value

    return check


def activity_of(kind: str, user: str) -> Callable[[Event], bool]:
    return lambda e: e.event == "activity" and e.data["kind"] == kind and e.data["user"] == user


async def test_a_viewer_on_one_process_sees_presence_activity_and_content_of_the_others(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Watched")
    watcher = await Watcher.open(c[1], doc["id"], doc["view_token"], name="Watcher")
    ada, grace = Editor("Ada"), Editor("Grace")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(watcher.close)
        for editor in (ada, grace):
            stack.push_async_callback(editor.disconnect)
        await watcher.wait_for(lambda e: e.event == "content", "the initial content")
        await ada.connect(c[0], doc["id"], doc["edit_token"])
        await grace.connect(c[2], doc["id"], doc["edit_token"])

        def both_listed(users: list[dict[str, Any]]) -> bool:
            ada_entry, grace_entry = presence_of(users, "Ada"), presence_of(users, "Grace")
            return bool(
                ada_entry
                and grace_entry
                and ada_entry["role"] == "edit"
                and grace_entry["role"] == "edit"
            )

        await watcher.wait_for(
            is_presence(both_listed),
            "Ada (process 1) and Grace (process 3) in presence on 2",
            SSE_WITHIN,
        )
        for who in ("Ada", "Grace"):
            await watcher.wait_for(activity_of("join", who), f"{who}'s join on 2", SSE_WITHIN)

        # Typing on 1 and 3: presence on 2 says who is editing, content follows.
        typed: set[str] = set()
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 1.5:  # a steady burst of both
            for editor in (ada, grace):
                n += 1
                typed.add(editor.type(n))
            await asyncio.sleep(0.05)  # pacing a person's typing, not synchronisation
            if n == 6:
                for who in ("Ada", "Grace"):
                    await watcher.wait_for(
                        is_presence(editing(who, True)),
                        f"{who} editing, on process 2",
                        SSE_WITHIN,
                        since=started,
                    )
        await wait_until(
            lambda: (
                (watcher.content_text() or "") != ""
                and tokens_in(watcher.content_text() or "") == typed
            ),
            "the viewer on process 2 to render every token typed on 1 and 3",
            SSE_WITHIN,
        )
        text = await converged([ada, grace], "Ada and Grace to agree")
        assert watcher.content_text() == text

        # Both bursts end: each was announced as an edit with its revisions.
        await watcher.wait_for(
            is_presence(
                lambda users: editing("Ada", False)(users) and editing("Grace", False)(users)
            ),
            "Ada and Grace no longer editing",
            SSE_WITHIN,
        )
        rev = await get_rev(c[1], doc["id"], doc["view_token"])

        def edits_cover_every_revision() -> bool:
            ranges = sorted((e["from_rev"], e["to_rev"]) for e in watcher.activities("edit"))
            return bool(ranges) and ranges[-1][1] >= rev

        try:
            await wait_until(edits_cover_every_revision, "edits up to the newest rev", SSE_WITHIN)
        except AssertionError as e:
            seen = [(a["user"], a["from_rev"], a["to_rev"]) for a in watcher.activities("edit")]
            raise AssertionError(f"{e}: rev {rev}, edit activities on process 2: {seen}") from None
        edits = watcher.activities("edit")
        assert {e["user"] for e in edits} == {"Ada", "Grace"}, edits
        ranges = sorted((e["from_rev"], e["to_rev"]) for e in edits)
        for first, last in ranges:
            assert isinstance(first, int) and isinstance(last, int) and 1 <= first <= last <= rev
        for (_, last), (first, _) in zip(ranges, ranges[1:], strict=False):
            assert first > last, f"edit activities overlap: {ranges}"

        # Leaving is seen too.
        mark = time.monotonic()
        await ada.disconnect()
        await watcher.wait_for(
            is_presence(lambda users: presence_of(users, "Ada") is None),
            "Ada gone from presence on process 2",
            SSE_WITHIN,
            since=mark,
        )


async def test_viewers_on_other_processes_are_listed_in_presence(shared_cluster: Cluster) -> None:
    """Presence lists every viewer of the document, as one server's does, not only this
    process's own."""
    c = shared_cluster
    doc = await c[0].create_document("Viewers")
    one = await Watcher.open(c[1], doc["id"], doc["view_token"], name="Viewer Two")
    other = await Watcher.open(c[2], doc["id"], doc["view_token"], name="Viewer Three")
    try:
        for watcher, name in ((one, "Viewer Three"), (other, "Viewer Two")):
            await watcher.wait_for(
                is_presence(lambda users: (presence_of(users, name) or {}).get("role") == "view"),  # noqa: B023
                f"{name}, on another process, in presence",
                SSE_WITHIN,
            )
        await other.close()
        mark = time.monotonic()
        await one.wait_for(
            is_presence(lambda users: presence_of(users, "Viewer Three") is None),
            "Viewer Three gone from presence on process 2",
            SSE_WITHIN,
            since=mark,
        )
    finally:
        await one.close()
        await other.close()


# ---- 2. renames, deletes, rotated links, revisions ----------------------------------------


async def test_a_rename_on_one_process_reaches_editors_and_viewers_on_the_others(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Before")
    bob = Editor("Bob")
    watcher = await Watcher.open(c[2], doc["id"], doc["view_token"])
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(watcher.close)
        stack.push_async_callback(bob.disconnect)
        await bob.connect(c[1], doc["id"], doc["edit_token"])
        await watcher.wait_for(lambda e: e.event == "content", "the stream to start")
        async with c[0].http() as http:
            r = await http.patch(
                f"/api/docs/{doc['id']}",
                json={"title": "Plans"},
                headers={**bearer(doc["edit_token"]), "X-Swell-User": "Grace"},
            )
            assert r.status_code == 200, r.text
        renamed_at = time.monotonic()
        await wait_until(
            lambda: any(title == "Plans" for _, title in bob.titles),
            "the title message on process 2",
            WITHIN,
        )
        at, title = await watcher.wait_for(
            lambda e: e.event == "activity" and e.data["kind"] == "title",
            "the title activity on process 3",
            SSE_WITHIN,
        )
        assert title.data["user"] == "Grace"
        assert "“Plans”" in title.data["summary"]
        assert at - renamed_at <= WITHIN, f"the title activity took {at - renamed_at:.3f} s"
        for process in c.processes:
            r = await get_doc(process, doc["id"], doc["view_token"])
            assert r.json()["title"] == "Plans"


async def closed_with(editor: Editor, code: int, since: float, what: str) -> None:
    await wait_until(lambda: editor.closed_at is not None, what, WITHIN + 1)
    assert editor.close_code == code, f"{what}: closed with {editor.close_code}, not {code}"
    assert editor.closed_at is not None and editor.closed_at - since <= WITHIN, (
        f"{what}: took {editor.closed_at - since:.3f} s"  # type: ignore[operator]
    )


async def stream_ended(watcher: Watcher, since: float, what: str) -> None:
    await wait_until(lambda: watcher.ended_at is not None, what, WITHIN + 1)
    assert watcher.ended_at is not None and watcher.ended_at - since <= WITHIN, (
        f"{what}: took {watcher.ended_at - since:.3f} s"  # type: ignore[operator]
    )


async def test_a_delete_on_one_process_closes_sockets_and_streams_on_the_others(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Doomed")
    editors = [Editor("Bob"), Editor("Carol")]
    watchers: list[Watcher] = []
    async with contextlib.AsyncExitStack() as stack:
        for editor, server in zip(editors, (c[1], c[2]), strict=True):
            stack.push_async_callback(editor.disconnect)
            await editor.connect(server, doc["id"], doc["edit_token"])
            watcher = await Watcher.open(server, doc["id"], doc["view_token"])
            stack.push_async_callback(watcher.close)
            watchers.append(watcher)
            await watcher.wait_for(lambda e: e.event == "content", "the stream to start")
        async with c[0].http() as http:
            r = await http.delete(f"/api/docs/{doc['id']}", headers=bearer(doc["edit_token"]))
            assert r.status_code == 204, r.text
        deleted_at = time.monotonic()
        for i, editor in enumerate(editors):
            await closed_with(editor, 4404, deleted_at, f"the socket on server {i + 2}")
        for i, watcher in enumerate(watchers):
            await stream_ended(watcher, deleted_at, f"the stream on server {i + 2}")
            assert watcher.find(lambda e: e.event == "deleted") is not None
        for process in c.processes:
            r = await get_doc(process, doc["id"], doc["edit_token"])
            assert r.status_code == 404


async def test_a_rotated_link_closes_what_it_opened_on_every_process(
    shared_cluster: Cluster,
) -> None:
    c = shared_cluster
    doc = await c[0].create_document("Rotating")
    edit_sockets = [Editor("E2"), Editor("E3")]
    view_sockets = [Editor("V2"), Editor("V3")]
    view_streams: list[Watcher] = []
    edit_streams: list[Watcher] = []
    async with contextlib.AsyncExitStack() as stack:
        for i, server in enumerate((c[1], c[2])):
            for editor, token in ((edit_sockets[i], "edit_token"), (view_sockets[i], "view_token")):
                stack.push_async_callback(editor.disconnect)
                await editor.connect(server, doc["id"], doc[token])
            for streams, token in ((view_streams, "view_token"), (edit_streams, "edit_token")):
                watcher = await Watcher.open(server, doc["id"], doc[token])
                stack.push_async_callback(watcher.close)
                await watcher.wait_for(lambda e: e.event == "content", "the stream to start")
                streams.append(watcher)

        async def rotate(role: str, token: str) -> str:
            async with c[0].http() as http:
                r = await http.post(
                    f"/api/docs/{doc['id']}/tokens", json={"role": role}, headers=bearer(token)
                )
            assert r.status_code == 200, r.text
            new: str = r.json()[f"{role}_token"]
            return new

        new_view = await rotate("view", doc["edit_token"])
        rotated_at = time.monotonic()
        for i, process in enumerate((c[1], c[2])):
            r = await get_doc(process, doc["id"], doc["view_token"])
            assert r.status_code == 401, f"the old view token still opens it on server {i + 2}"
            assert (await get_doc(process, doc["id"], new_view)).status_code == 200
        for i in range(2):
            await closed_with(view_sockets[i], 4401, rotated_at, f"view socket on server {i + 2}")
            await stream_ended(view_streams[i], rotated_at, f"view stream on server {i + 2}")
        for i in range(2):  # what the other token opened stays
            assert edit_sockets[i].connected, f"the edit socket on server {i + 2} was closed"
            assert edit_streams[i].ended_at is None, f"the edit stream on {i + 2} ended"
        survivor = Editor("V2new")
        stack.push_async_callback(survivor.disconnect)
        await survivor.connect(c[1], doc["id"], new_view)

        new_edit = await rotate("edit", doc["edit_token"])
        rotated_at = time.monotonic()
        for i, process in enumerate((c[1], c[2])):
            r = await get_doc(process, doc["id"], doc["edit_token"])
            assert r.status_code == 401, f"the old edit token still opens it on server {i + 2}"
            assert (await get_doc(process, doc["id"], new_edit)).status_code == 200
        for i in range(2):
            await closed_with(edit_sockets[i], 4401, rotated_at, f"edit socket on server {i + 2}")
            await stream_ended(edit_streams[i], rotated_at, f"edit stream on server {i + 2}")
        assert survivor.connected, "the socket opened with the new view token was closed"


async def test_activity_written_on_every_process_at_once_is_numbered_once(
    shared_cluster: Cluster,
) -> None:
    """Renames on three processes at the same moment: every one is an activity, numbered
    once per document (the ids a reconnecting viewer resumes from), the same on every
    process."""
    c = shared_cluster
    doc = await c[0].create_document("Busy titles")
    watchers = [await Watcher.open(p, doc["id"], doc["view_token"]) for p in c.processes]
    try:
        for watcher in watchers:
            await watcher.wait_for(lambda e: e.event == "content", "the stream to start")

        async def rename(process_index: int, title: str) -> None:
            async with c[process_index].http() as http:
                r = await http.patch(
                    f"/api/docs/{doc['id']}",
                    json={"title": title},
                    headers=bearer(doc["edit_token"]),
                )
                assert r.status_code == 200, r.text

        titles = [f"T{round_number}-{i + 1}" for round_number in range(3) for i in range(3)]
        for round_number in range(3):
            await asyncio.gather(*(rename(i, f"T{round_number}-{i + 1}") for i in range(3)))

        def renames(watcher: Watcher) -> list[tuple[int | None, str]]:
            return [
                (e.id, e.data["summary"])
                for _, e in watcher.events
                if e.event == "activity" and e.data["kind"] == "title"
            ]

        for i, watcher in enumerate(watchers):
            try:
                await wait_until(lambda: len(renames(watcher)) >= 9, "nine renames", SSE_WITHIN)  # noqa: B023
            except AssertionError as e:
                raise AssertionError(f"{e} on server {i + 1}: {renames(watcher)}") from None
        seen = [sorted(renames(w), key=lambda r: r[0] or 0) for w in watchers]
        for i, listed in enumerate(seen):
            ids = [event_id for event_id, _ in listed]
            assert len(set(ids)) == len(ids) == 9, f"server {i + 1}: ids {ids}"
            for title in titles:
                assert sum(f"“{title}”" in summary for _, summary in listed) == 1, (i, listed)
            assert listed == seen[0], f"server {i + 1} numbered them differently"
        for i, process in enumerate(c.processes):  # a newcomer's replay agrees too
            late = await Watcher.open(process, doc["id"], doc["view_token"])
            try:
                await late.wait_for(lambda e: e.event == "content", "the replay")
                replayed = sorted(renames(late), key=lambda r: r[0] or 0)
                assert replayed == seen[0], f"server {i + 1} replays {replayed}"
            finally:
                await late.close()
    finally:
        for watcher in watchers:
            await watcher.close()


# ---- 5. a poisoned stream entry -------------------------------------------------------------


async def test_a_poisoned_stream_entry_stops_nothing(
    shared_cluster: Cluster, redis_url: str
) -> None:
    c = shared_cluster
    doc_a = await c[0].create_document("Poisoned")
    doc_b = await c[0].create_document("Bystander")
    a = [Editor(f"A{i + 1}") for i in range(3)]
    b = [Editor(f"B{i + 1}") for i in range(3)]
    n = 0

    async def crosses(editors: list[Editor], what: str) -> None:
        nonlocal n
        for editor in editors:
            n += 1
            token = editor.type(n)
            took = await wait_until(
                lambda: all(token in e.text() for e in editors),  # noqa: B023
                f"{token} of {what} on every process",
            )
            assert took <= WITHIN, f"{token} of {what} took {took:.3f} s"

    async with contextlib.AsyncExitStack() as stack:
        for i, process in enumerate(c.processes):
            for editor, doc in ((a[i], doc_a), (b[i], doc_b)):
                stack.push_async_callback(editor.disconnect)
                await editor.connect(process, doc["id"], doc["edit_token"])
        await crosses(a, "document A")
        await crosses(b, "document B")
        rev_a = await get_rev(c[0], doc_a["id"], doc_a["view_token"])

        poison: list[dict[str | bytes, str | bytes]] = [
            {"o": "intruder", "t": "zz"},  # unknown type
            {"t": "c"},  # no origin, no revisions, no update
            {"o": "intruder", "t": "c"},  # a change without its fields
            {  # the next revision's number, and bytes that are no Yjs update
                "o": "intruder",
                "t": "c",
                "f": str(rev_a + 1),
                "r": str(rev_a + 1),
                "u": b"\xff\x00\x13garbage\x00",
                "m": "[]",
            },
            {"o": "intruder", "t": "c", "f": "x", "r": "-1", "u": b"", "m": "{"},
            {"o": "intruder", "t": "a", "u": b"\x01\xff\xff\xff\xff"},  # awareness garbage
            {"o": "intruder", "t": "p", "m": b"\xff{not json"},
            {"o": "intruder", "t": "v", "m": "[1, 2, 3]"},
            {b"\xff\xfe": b"\x00"},  # not even UTF-8
        ]
        client = aioredis.Redis.from_url(redis_url)
        try:
            for fields in poison:
                await client.xadd(f"{c.prefix}:doc:{doc_a['id']}", fields)  # type: ignore[arg-type]
            await client.xadd(f"{c.prefix}:events", {"o": "intruder", "t": "n", "m": "[7]"})
            await client.xadd(f"{c.prefix}:events", {"t": "?"})
        finally:
            await client.aclose()

        await crosses(b, "document B after A's poison")
        await crosses(a, "document A after its poison")
        for i in range(len(c)):
            assert c.alive(i), f"server {i + 1} died"
            async with c[i].http() as http:
                assert (await http.get("/healthz")).status_code == 200
        # Renames still cross (the deployment-wide stream had garbage too).
        async with c[0].http() as http:
            r = await http.patch(
                f"/api/docs/{doc_b['id']}",
                json={"title": "Still here"},
                headers=bearer(doc_b["edit_token"]),
            )
            assert r.status_code == 200
        await wait_until(
            lambda: any(t == "Still here" for _, t in b[2].titles), "a rename on process 3", WITHIN
        )
        for editors, doc in ((a, doc_a), (b, doc_b)):
            text = await converged(editors, "editors to agree")
            await wait_until(lambda: all(e.all_saved() for e in editors), "saved")  # noqa: B023
            await assert_one_document_everywhere(c, doc, text)


# ---- 6. loading a document another process holds --------------------------------------------


async def test_a_process_that_loads_a_busy_document_follows_it_without_gap_or_duplicate(
    shared_cluster: Cluster,
) -> None:
    """Process 2 loads the document while process 1 is committing to it: from the loaded
    revision on, it follows (no change missed or waited for, nothing twice)."""
    c = shared_cluster
    doc = await c[0].create_document("Busy")
    ada, bob = Editor("Ada"), Editor("Bob")
    total = 200
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ada.disconnect)
        stack.push_async_callback(bob.disconnect)
        await ada.connect(c[0], doc["id"], doc["edit_token"])

        async def burst() -> None:
            for i in range(1, total + 1):
                ada.type(i)
                await asyncio.sleep(0.005)  # pacing fast typing, not synchronisation

        typing = asyncio.create_task(burst())
        try:
            await wait_until(lambda: len(ada.typed) >= 40, "Ada's burst to be under way")
            joined_at = time.monotonic()
            await bob.connect(c[1], doc["id"], doc["edit_token"])  # process 2 loads it now
            seen = FirstSeen([bob])
            stack.push_async_callback(seen.stop)
            not_prefix: list[tuple[str, str]] = []

            def watch() -> bool:
                shown, now = bob.text(), ada.text()
                if not now.startswith(shown):
                    not_prefix.append((shown, now))
                return typing.done()

            await wait_until(watch, "the burst to end", 30)
            await typing
        finally:
            typing.cancel()
        assert not not_prefix, f"process 2 showed text out of order: {not_prefix[:1]}"
        await wait_until(lambda: bob.text() == ada.text(), "Bob to have all of Ada's burst")
        await seen.stop()
        late = [
            (token, round(seen.at[("Bob", token)] - typed_at, 3))
            for token, _, typed_at in ada.typed
            if typed_at > joined_at and seen.at[("Bob", token)] - typed_at > WITHIN
        ]
        assert not late, f"process 2 lagged (a gap waited for?): {late[:10]}"
        text = bob.text()
        for i in range(1, total + 1):
            assert text.count(f"[Ada.{i}]") == 1, f"[Ada.{i}] is not there exactly once"

        await wait_until(lambda: ada.all_saved(), "Ada's burst saved")
        await assert_one_document_everywhere(c, doc, ada.text())
