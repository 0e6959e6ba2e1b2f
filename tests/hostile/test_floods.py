"""Issue 9, row 3 and the rate-limit rows: packed frames, floods and amplification. The attacker
is closed with 1008; /healthz keeps answering; the honest clients keep syncing; and a fast but
honest client (1,000 messages and 4 MiB a second) is never mistaken for a flood."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pycrdt import Doc, Text

from tests.client import synced_doc, text_of, wait_for
from tests.hostile.attacker import (
    QUERY_AWARENESS,
    awareness,
    awareness_of,
    connect,
    exchange_edits,
    frames_until,
    healthz_within,
    message_kind,
    raw_awareness_states,
    send_and_close_code,
    still_open,
    successive_updates,
    sync_step1,
    sync_update,
    text_update,
)
from tests.server import ServerProcess

ADA = {"user": {"name": "Ada", "color": "#112233"}}


def state_after(updates: list[bytes]) -> bytes:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc.get_state()


async def typed_document(
    server: ServerProcess, doc: dict[str, str], ada: Doc[Any], grace: Doc[Any], size: int
) -> None:
    """Give the document ``size`` characters, so every sync answer costs something."""
    ada.get("text", type=Text).insert(0, "w" * size)
    await wait_for(lambda: len(text_of(grace)) == size, "the text to reach grace")


# ---- row 3: one frame packed with thousands of messages -----------------------------------


@pytest.mark.parametrize("message", ["sync-step-1", "query-awareness"])
async def test_row3_packed_frame_closes_1008_and_healthz_stays_fast(
    server: ServerProcess, message: str
) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ada_ws),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        await typed_document(server, doc, ada, grace, 64 * 1024)
        await ada_ws.send(awareness(ada.client_id, 1, ADA))
        one = sync_step1() if message == "sync-step-1" else QUERY_AWARENESS
        attacker = await connect(server, doc, "view")
        await attacker.send(one * 5000)
        await healthz_within(server, 1.0)
        code, _ = await send_and_close_code(attacker, [])
        assert code == 1008
        await exchange_edits(ada, grace, "row3")
        await healthz_within(server, 1.0)


async def test_frame_of_the_allowed_size_is_accepted(shared_server: ServerProcess) -> None:
    """32 messages in a frame (the default cap) are fine."""
    doc = await shared_server.create_document()
    async with await connect(shared_server, doc, "view") as ws:
        await ws.send(awareness(8800, 1, {"user": {"name": "n"}}) + QUERY_AWARENESS * 31)
        await awareness_of(ws, 8800)
        assert still_open(ws)


async def test_sync_step1s_in_one_frame_get_one_answer(shared_server: ServerProcess) -> None:
    """At most one sync-step-1 answer pending per socket: twenty in a frame, one answer."""
    doc = await shared_server.create_document()
    async with (
        synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        await typed_document(shared_server, doc, ada, grace, 1000)
        async with await connect(shared_server, doc, "edit") as attacker:
            await attacker.send(sync_step1() * 20)
            await frames_until(attacker, lambda f: message_kind(f) == (0, 1))
            # A later edit is forwarded in a later batch: the answers come before it.
            ada.get("text", type=Text).insert(0, "MARK")
            frames = await frames_until(
                attacker, lambda f: message_kind(f) == (0, 2) and b"MARK" in f
            )
            extra = [f for f in frames if message_kind(f) == (0, 1)]
            assert extra == [], f"{len(extra) + 1} answers to one frame of sync step 1s"


async def test_query_awareness_in_one_frame_gets_one_answer(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with (
        await connect(shared_server, doc, "edit") as ada,
        await connect(shared_server, doc, "view") as attacker,
    ):
        await ada.send(awareness(1001, 1, ADA))
        await awareness_of(attacker, 1001)
        await attacker.send(QUERY_AWARENESS * 20)
        await awareness_of(attacker, 1001)  # the (one) answer
        await ada.send(awareness(1002, 1, {"user": {"name": "marker"}}))
        seen, _ = await awareness_of(attacker, 1002)
        answers = [f for f in seen[:-1] if 1001 in raw_awareness_states(f)]
        assert answers == [], f"{len(answers) + 1} answers to one frame of queries"


# ---- rate limits (defaults) -------------------------------------------------------------------


async def test_message_flood_closes_1008(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (viewer, _),
    ):
        attacker = await connect(server, doc, "view")
        tiny = sync_update(text_update("a"))
        started = time.monotonic()
        code, _ = await send_and_close_code(attacker, (tiny for _ in range(40_000)))
        assert code == 1008
        assert time.monotonic() - started < 10
        await healthz_within(server, 1.0)
        await exchange_edits(ada, viewer, "flood", both_ways=False)


async def test_byte_flood_closes_1008(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        attacker = await connect(server, doc, "view")
        mebibyte = sync_update(text_update("x" * (1 << 20)))
        code, _ = await send_and_close_code(attacker, (mebibyte for _ in range(64)))
        assert code == 1008
        await healthz_within(server, 1.0)
        await exchange_edits(ada, grace, "byte-flood")
        assert "x" not in text_of(grace)


async def test_fast_honest_client_is_not_closed(server: ServerProcess) -> None:
    """1,000 messages and 4 MiB per second, for three seconds, on the default limits."""
    chunk = 4200
    seconds = 3
    rate = 1000
    updates = successive_updates("f" * chunk for _ in range(rate * seconds))
    frames = [sync_update(u) for u in updates]
    assert sum(len(f) for f in frames) / seconds >= 4 * 1024 * 1024

    doc = await server.create_document()
    async with synced_doc(server.ws_url, doc["id"], doc["view_token"]) as (reader, _):
        async with await connect(server, doc, "edit") as script:
            started = time.monotonic()
            for i, frame in enumerate(frames):
                ahead = started + i / rate - time.monotonic()
                if ahead > 0:  # pacing the sender, not waiting for the server
                    await asyncio.sleep(ahead)
                await script.send(frame)
            assert time.monotonic() - started < seconds + 1, "the sender itself was too slow"
            await wait_for(
                lambda: len(text_of(reader)) == chunk * rate * seconds, "every update", within=20
            )
            await script.send(sync_step1(state_after(updates)))
            await frames_until(script, lambda f: message_kind(f) == (0, 1), within=20)
            assert still_open(script)
        await healthz_within(server, 1.0)
