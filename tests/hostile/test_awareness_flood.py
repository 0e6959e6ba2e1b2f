"""Awareness reaches every other socket, so it has its own budget per socket: a flood of one's
own states is closed (1008), while echoes of others' states (stock y-websocket clients re-send
every state they hear of) cost nothing and never close an honest client."""

from __future__ import annotations

from tests.client import synced_doc
from tests.hostile.attacker import (
    awareness,
    close_of,
    connect,
    exchange_edits,
    frames_until,
    healthz_within,
    message_kind,
    still_open,
    sync_step1,
)
from tests.server import ServerProcess


async def test_a_flood_of_ones_own_awareness_closes_1008(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        flooder = await connect(server, doc, "view")
        state = {"user": {"name": "Mallory"}, "pad": "x" * 4000}
        for clock in range(1, 200):  # 800 KB of states, far past 2 x 64 KiB
            try:
                await flooder.send(awareness(4242, clock, state))
            except Exception:
                break
        code, reason = await close_of(flooder)
        assert code == 1008, (code, reason)
        assert "awareness" in reason
        await exchange_edits(ada, grace, "after-flood")
    await healthz_within(server, 1.0)


async def test_echoes_of_others_states_do_not_count(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ada_ws):
        echoer = await connect(server, doc, "view")
        state = {"user": {"name": "Ada"}, "pad": "y" * 4000}
        await ada_ws.send(awareness(ada.client_id, 1, state))
        # Once the echoer has heard Ada's state (frames of two sockets are not ordered), it
        # echoes it: the same state, same clock, 300 times (1.2 MB), as a stock client would.
        await frames_until(echoer, lambda f: message_kind(f)[0] == 1 and b"y" * 100 in f)
        echo = awareness(ada.client_id, 1, state)
        for _ in range(300):
            await echoer.send(echo)
        await echoer.send(awareness(777, 1, {"user": {"name": "Echoer"}}))  # its own, once
        await echoer.send(sync_step1())  # answered after everything above was dispatched
        await frames_until(echoer, lambda f: message_kind(f) == (0, 1))
        assert still_open(echoer)
