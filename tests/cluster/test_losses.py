"""Losing a process or Redis loses nothing anyone was shown (contract, "Several processes").

"Shown" is what a client received from a server (other people's text) or what a ``saved``
acknowledgement covered (its own text, as a state vector): the servers promised both are in
the database. Every test here has its own cluster, since they kill servers or Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from tests.cluster.conftest import Cluster
from tests.cluster.editor import (
    Editor,
    FirstSeen,
    Watcher,
    assert_gapless,
    covers,
    get_rev,
    get_text,
    history_ranges,
    names,
    tokens_in,
    wait_until,
)
from tests.cluster.redis_proxy import RedisProxy
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

WITHIN = 1.0  # a change crosses, and a commit is acknowledged, within 1 s
PRESENCE_GONE = 5.0  # a dead process's clients leave every other process's presence
TYPING_EVERY = 0.03  # a fast typist, about 33 changes a second


class Typists:
    """Editors typing tokens in the background, each at its own pace, until stopped (or until
    its socket is lost)."""

    def __init__(self, editors: list[Editor]) -> None:
        self.editors = editors
        self._stop = asyncio.Event()
        self._numbers = dict.fromkeys((e.name for e in editors), 0)
        self._tasks = [asyncio.create_task(self._type(e)) for e in editors]

    async def _type(self, editor: Editor) -> None:
        while not self._stop.is_set() and editor.connected:
            self._numbers[editor.name] += 1
            editor.type(self._numbers[editor.name])
            await asyncio.sleep(TYPING_EVERY)  # pacing a person's typing, not synchronisation

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def disconnect_all(editors: list[Editor]) -> None:
    for editor in editors:
        await editor.disconnect()


def editor_names(users: list[dict[str, Any]]) -> list[str]:
    return names([u for u in users if u["role"] == "edit"])


async def assert_one_document(servers: list[ServerProcess], doc: dict[str, str], text: str) -> None:
    """The surviving servers serve ``text``, one ``rev``, and a gapless history."""
    revs = [await get_rev(s, doc["id"], doc["view_token"]) for s in servers]
    assert len(set(revs)) == 1, f"rev differs between processes: {revs}"
    for server in servers:
        assert await get_text(server, doc["id"], doc["view_token"]) == text, server.base_url
        ranges = await history_ranges(server, doc["id"], doc["view_token"])
        assert_gapless(ranges, revs[0], f"history on {server.base_url}")


# ---- 3. SIGKILL one process in the middle of a burst -----------------------------------------


async def test_sigkill_mid_burst_loses_nothing_shown_and_its_clients_carry_on(
    cluster: Cluster,
) -> None:
    c = cluster
    doc = await c[0].create_document("Killed")
    editors = [Editor(f"P{p + 1}{who}") for p in range(3) for who in "ab"]
    victims, survivors = editors[:2], editors[2:]
    watchers: list[Watcher] = []
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(disconnect_all, editors)
        for i, editor in enumerate(editors):
            await editor.connect(c[i // 2], doc["id"], doc["edit_token"])
        for process in (c[1], c[2]):
            watcher = await Watcher.open(process, doc["id"], doc["view_token"], name="Watcher")
            stack.push_async_callback(watcher.close)
            watchers.append(watcher)
        everyone = sorted(e.name for e in editors)
        for watcher in watchers:
            await watcher.wait_for(
                lambda e: e.event == "presence" and editor_names(e.data["users"]) == everyone,
                "all six editors in presence",
            )
        for survivor in survivors:
            await wait_until(
                lambda: all(
                    survivor.awareness_name(v.client_id) == v.name  # noqa: B023
                    for v in victims
                ),
                "the victims' awareness on the other processes",
            )

        typists = Typists(editors)
        await wait_until(lambda: all(len(e.typed) >= 20 for e in editors), "everyone typing", 20)
        await asyncio.to_thread(c.kill, 0)
        killed_at = time.monotonic()
        await wait_until(
            lambda: all(v.closed_at is not None for v in victims),
            "the victims' sockets to drop",
        )
        shown = {token for e in editors for token in e.shown()}
        victims_shown = {token for v in victims for token in v.shown()}
        assert any(t.startswith("[P1") for t in victims_shown), "nothing of process 1 was saved"

        # Their presence leaves the other processes within 5 s (the others keep typing).
        for survivor in survivors:
            for victim in victims:
                await wait_until(
                    lambda: survivor.awareness.get(victim.client_id, "absent") is None,  # noqa: B023
                    f"{victim.name}'s awareness gone at {survivor.name}",
                    killed_at + PRESENCE_GONE - time.monotonic(),
                )
        for watcher in watchers:
            await watcher.wait_for(
                lambda e: (
                    e.event == "presence"
                    and not {v.name for v in victims} & set(editor_names(e.data["users"]))
                ),
                "the victims gone from presence",
                killed_at + PRESENCE_GONE - time.monotonic(),
                since=killed_at,
            )
        await typists.stop()

        # Everything anyone was shown is on the survivors, before the victims come back
        # (they would bring their own copy).
        text = await converged(survivors, "the survivors to agree")
        await wait_until(lambda: all(e.all_saved() for e in survivors), "survivors saved")
        missing = shown - tokens_in(text)
        assert not missing, f"lost after the kill: {sorted(missing)}"
        assert await get_text(c[1], doc["id"], doc["view_token"]) == text
        fresh = Editor("Fresh")
        stack.push_async_callback(fresh.disconnect)
        await fresh.connect(c[2], doc["id"], doc["view_token"], announce=False)
        assert fresh.text() == text

        # The victims reconnect to the others with what they have (typed offline too) and
        # their awareness (same client ids, as a Yjs tab keeps its own).
        offline = {victim.type(10_000) for victim in victims}
        for victim, process in zip(victims, (c[1], c[2]), strict=True):
            await victim.connect(process, doc["id"], doc["edit_token"], announce=False)
            victim.skip_awareness_clock(10)
            await victim.announce()
        everything = {token for e in editors for token, _, _ in e.typed}
        assert offline <= everything
        text = await converged(editors, "all six to agree after the reconnects", 10)
        assert tokens_in(text) == everything
        await wait_until(lambda: all(e.all_saved() for e in editors), "everything saved")
        for watcher in watchers:
            await watcher.wait_for(
                lambda e: e.event == "presence" and editor_names(e.data["users"]) == everyone,
                "the victims back in presence",
                since=killed_at,
            )
        for survivor in survivors:
            await wait_until(
                lambda: all(
                    survivor.awareness_name(v.client_id) == v.name  # noqa: B023
                    for v in victims
                ),
                "the victims' awareness back",
            )
        await assert_one_document([c[1], c[2]], doc, text)


async def converged(editors: list[Editor], what: str, within: float = 5.0) -> str:
    await wait_until(lambda: len({e.text() for e in editors}) == 1, what, within)
    return editors[0].text()


# ---- 4. Redis unreachable for a few seconds -------------------------------------------------


@pytest.mark.parametrize("outage", ["cut", "stall"])
async def test_redis_unreachable_mid_burst_blocks_no_commit_and_loses_nothing(
    proxied_cluster: Cluster, redis_proxy: RedisProxy, outage: str
) -> None:
    c, proxy = proxied_cluster, redis_proxy
    doc = await c[0].create_document("Outage")
    editors = [Editor(f"P{p + 1}{who}") for p in range(3) for who in "ab"]
    pairs = [(editors[i], editors[i ^ 1]) for i in range(6)]  # each with its process partner
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(disconnect_all, editors)
        for i, editor in enumerate(editors):
            await editor.connect(c[i // 2], doc["id"], doc["edit_token"])
        assert proxy.accepted > 0, "the servers do not reach Redis through the proxy"
        for editor in editors:  # everything crosses before the outage
            token = editor.type(0)
            await wait_until(
                lambda: all(token in e.text() for e in editors),  # noqa: B023
                f"{token} everywhere before the outage",
            )
        for editor in editors:
            await wait_until(
                lambda: all(
                    editor.awareness_name(o.client_id) == o.name  # noqa: B023
                    for o in editors
                    if o is not editor  # noqa: B023
                ),
                "everyone's awareness everywhere",
            )

        seen = FirstSeen(editors)
        stack.push_async_callback(seen.stop)
        typists = Typists(editors)
        await wait_until(lambda: all(len(e.typed) >= 10 for e in editors), "everyone typing")
        if outage == "cut":
            await asyncio.to_thread(proxy.cut)
        else:
            await asyncio.to_thread(proxy.stall)
        lost_at = time.monotonic()
        await wait_until(  # three seconds of typing without Redis
            lambda: time.monotonic() - lost_at >= 3.0, "the outage to last 3 s", 5
        )
        await asyncio.to_thread(proxy.restore)
        back_at = time.monotonic()
        await wait_until(lambda: time.monotonic() - back_at >= 1.0, "a second more typing", 3)
        await typists.stop()
        stopped_at = time.monotonic()

        # Commits never blocked: every change typed during the outage was acknowledged as
        # saved, and shown to the typist's neighbour on the same process, within 1 s.
        slow_acks, slow_local = [], []
        for editor, partner in pairs:
            for token, clock, typed_at in editor.typed:
                if not lost_at <= typed_at <= back_at:
                    continue
                acked = editor.saved_at(clock)
                if acked is None or acked - typed_at > WITHIN:
                    slow_acks.append((token, None if acked is None else round(acked - typed_at, 3)))
                shown = seen.at.get((partner.name, token))
                if shown is None or shown - typed_at > WITHIN:
                    slow_local.append(
                        (token, None if shown is None else round(shown - typed_at, 3))
                    )
        assert not slow_acks, f"saved acknowledgements late during the outage: {slow_acks[:10]}"
        assert not slow_local, f"local forwarding late during the outage: {slow_local[:10]}"

        # Afterwards every client on every process converges, nothing lost.
        everything = {token for e in editors for token, _, _ in e.typed}
        text = await converged(editors, "every client to converge after the outage", 15)
        converged_in = time.monotonic() - stopped_at
        assert tokens_in(text) == everything, sorted(everything - tokens_in(text))[:10]
        await wait_until(lambda: all(e.all_saved() for e in editors), "everything saved")
        await assert_one_document(c.processes, doc, text)
        for editor in editors:  # and nobody vanished from anyone's awareness
            await wait_until(
                lambda: all(
                    editor.awareness_name(o.client_id) == o.name  # noqa: B023
                    for o in editors
                    if o is not editor  # noqa: B023
                ),
                f"everyone's awareness at {editor.name} after the outage",
                5,
            )
        print(f"converged {converged_in:.2f} s after the typing stopped ({outage})")
        for i in range(len(c)):
            assert c.alive(i), f"server {i + 1} died"


# ---- 7. saved acknowledgements stay true on another process ----------------------------------


async def test_a_saved_acknowledgement_holds_on_the_processes_a_client_moves_to(
    cluster: Cluster,
) -> None:
    c = cluster
    doc = await c[0].create_document("Acknowledged")
    writer, witness = Editor("Writer"), Editor("Witness")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(disconnect_all, [writer, witness])
        await writer.connect(c[0], doc["id"], doc["edit_token"])
        await witness.connect(c[1], doc["id"], doc["edit_token"])  # process 2 holds it too
        for i in range(1, 31):
            writer.type(i)
            await asyncio.sleep(0.01)  # pacing typing, not synchronisation
        await wait_until(writer.all_saved, "the writer's text acknowledged")
        acked = dict(writer.saved)
        acked_tokens = writer.acked_tokens()
        assert len(acked_tokens) == 30
        for i in range(31, 41):  # more, not waited for
            writer.type(i)
        await asyncio.to_thread(c.kill, 0)
        killed_at = time.monotonic()
        acked, acked_tokens = dict(writer.saved), writer.acked_tokens()  # late acks count too

        # What the acknowledgement covered is on the survivors: the one that held the
        # document (its client gets it without typing anything) and one that loads it now.
        await wait_until(
            lambda: covers(witness.state_vector(), acked),
            "the acknowledged state at the witness on process 2",
            killed_at + PRESENCE_GONE - time.monotonic(),
        )
        for process in (c[1], c[2]):
            fresh = Editor("Fresh")
            await fresh.connect(process, doc["id"], doc["view_token"], announce=False)
            try:
                assert covers(fresh.state_vector(), acked), (
                    f"{process.base_url} lacks acknowledged changes: "
                    f"{fresh.state_vector()} does not cover {acked}"
                )
                assert acked_tokens <= fresh.tokens()
            finally:
                await fresh.disconnect()

        # The writer moves to process 3: the first saved vector there covers the old one,
        # and what process 1 never acknowledged is sent again and saved.
        frames_before = len(writer.saved_frames)
        await writer.connect(c[2], doc["id"], doc["edit_token"])
        await wait_until(
            lambda: len(writer.saved_frames) > frames_before, "a saved message on process 3"
        )
        first = writer.saved_frames[frames_before][1]
        assert covers(first, acked), f"process 3 acknowledged less: {first} vs {acked}"
        await wait_until(writer.all_saved, "the writer's whole text saved on process 3")
        everything = {token for token, _, _ in writer.typed}
        await wait_until(
            lambda: witness.tokens() == everything, "the witness on process 2 to have it all"
        )
        await assert_one_document([c[1], c[2]], doc, writer.text())
