"""Issue 9, awareness rows (1, 2, 4, 5, 11, 13, 14): a view link is enough to try each of these;
each closes the attacker with the policy's code while the honest clients go on."""

from __future__ import annotations

import contextlib
import json
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
    raw_awareness,
    raw_awareness_states,
    rss_bytes,
    send_and_close_code,
    state_json,
    still_open,
    strict_json,
    sync_step1,
)
from tests.server import ServerProcess
from tests.sse import SseClient

ADA = {"user": {"name": "Ada", "color": "#112233"}}
MALLORY = {"user": {"name": "Mallory", "color": "#000000"}, "role": "edit"}


@contextlib.asynccontextmanager
async def honest_pair(server: ServerProcess, doc: dict[str, str]) -> Any:
    """Ada (an editor who has announced herself) and Grace (a second editor)."""
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (ada, ada_ws),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (grace, grace_ws),
    ):
        ada.get("text", type=Text).insert(0, "hello")
        await wait_for(lambda: text_of(grace) == "hello", "the first edit to reach grace")
        await ada_ws.send(awareness(ada.client_id, 1, ADA))
        yield ada, ada_ws, grace, grace_ws


async def join_payload(server: ServerProcess, doc: dict[str, str]) -> list[bytes]:
    """What a newcomer receives before the answer to its own sync step 1."""
    async with await connect(server, doc, "view") as newcomer:
        await newcomer.send(sync_step1())
        return await frames_until(newcomer, lambda f: f[:2] == b"\x00\x01")


async def after_the_attack(
    server: ServerProcess, doc: dict[str, str], ada: Doc[Any], grace: Doc[Any], marker: str
) -> None:
    await exchange_edits(ada, grace, marker)
    await healthz_within(server, 1.0)


async def stored_text(server: ServerProcess, doc: dict[str, str]) -> str:
    async with synced_doc(server.ws_url, doc["id"], doc["edit_token"]) as (fresh, _):
        return text_of(fresh)


# ---- row 1: a non-object state for an editor's id ------------------------------------------


@pytest.mark.parametrize("state", ["[]", "5", '"x"'])
async def test_row1_view_socket_sets_editors_state_to_non_object(
    shared_server: ServerProcess, state: str
) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, _ada_ws, grace, _):
        async with await connect(shared_server, doc) as witness:
            await awareness_of(witness, ada.client_id)
            attacker = await connect(shared_server, doc, "view")
            code, _ = await send_and_close_code(attacker, [raw_awareness(ada.client_id, 2, state)])
            # Both rules are broken (someone else's id, not an object): either code says so.
            assert code in (1007, 1008)
            await after_the_attack(shared_server, doc, ada, grace, "row1")
            final = text_of(ada)
    assert await stored_text(shared_server, doc) == final


@pytest.mark.parametrize("state", ["[]", "5", '"x"', "true"])
async def test_non_object_state_for_own_id_closes_1007(
    shared_server: ServerProcess, state: str
) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, _, grace, _):
        attacker = await connect(shared_server, doc, "view")
        code, _ = await send_and_close_code(attacker, [raw_awareness(7007, 1, state)])
        assert code == 1007
        await after_the_attack(shared_server, doc, ada, grace, "own-non-object")


# ---- row 2: a lone surrogate in a name ----------------------------------------------------

SURROGATE_ADA = '{"user": {"name": "\\ud800Ada\\t L\\udfff", "color": "#112233"}}'


def name_of(raw_state: bytes) -> str:
    state = strict_json(raw_state)
    name = state["user"]["name"]
    name.encode("utf-8")  # raises on a lone surrogate, escaped or not
    return str(name)


async def test_row2_lone_surrogate_name_does_not_stop_saving(server: ServerProcess) -> None:
    doc = await server.create_document()
    sse = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    try:
        async with (
            honest_pair(server, doc) as (ada, ada_ws, grace, _),
            await connect(server, doc) as witness,
        ):
            # An attacker with the view link gives Ada the name: refused, someone else's id.
            attacker = await connect(server, doc, "view")
            code, _ = await send_and_close_code(
                attacker, [raw_awareness(ada.client_id, 2**20, SURROGATE_ADA)]
            )
            assert code == 1008
            # Ada's own (say, a buggy browser's) name with lone surrogates: cleaned, not fatal.
            await ada_ws.send(raw_awareness(ada.client_id, 2, SURROGATE_ADA))
            _, raw = await awareness_of(witness, ada.client_id)
            while strict_json(raw)["user"]["name"] == "Ada":  # her first state, from before
                _, raw = await awareness_of(witness, ada.client_id)
            assert name_of(raw) == "Ada L"
            await after_the_attack(server, doc, ada, grace, "row2")
            ada.get("text", type=Text).insert(0, "saved ")
            await wait_for(lambda: text_of(grace).startswith("saved "), "ada's next edit")
            final = text_of(ada)
            assert still_open(ada_ws)
            # Presence is valid JSON with the cleaned name, on the open stream and a new one.
            event = await sse.wait_for(
                lambda e: (
                    e.event == "presence" and any(u.get("name") == "Ada L" for u in e.data["users"])
                )
            )
            json.dumps(event.data, ensure_ascii=False).encode("utf-8")
            late = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
            try:
                assert late.status == 200
                assert late.headers["content-type"].startswith("text/event-stream")
                presence = await late.wait_for(lambda e: e.event == "presence")
                names = [u["name"] for u in presence.data["users"]]
                assert "Ada L" in names
                for name in names:
                    name.encode("utf-8")
            finally:
                await late.close()
    finally:
        await sse.close()
    server.stop()
    server.restart()
    assert await stored_text(server, doc) == final


# ---- row 4: someone else's id at clock 2^53-1 ------------------------------------------------


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"SWELL_EDIT_BURST_SECONDS": "0.3"}


async def test_row4_view_socket_cannot_take_over_an_editors_id(server: ServerProcess) -> None:
    doc = await server.create_document()
    sse = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
    try:
        async with (
            honest_pair(server, doc) as (ada, ada_ws, grace, _),
            await connect(server, doc) as witness,
        ):
            await awareness_of(witness, ada.client_id)
            attacker = await connect(server, doc, "view")
            code, _ = await send_and_close_code(
                attacker, [awareness(ada.client_id, 2**53 - 1, MALLORY)]
            )
            assert code == 1008
            # Ada's own next state still counts, and nobody was ever shown Mallory.
            await ada_ws.send(awareness(ada.client_id, 2, {"user": {"name": "Ada L."}}))
            seen, raw = await awareness_of(witness, ada.client_id)
            while strict_json(raw)["user"]["name"] != "Ada L.":
                more, raw = await awareness_of(witness, ada.client_id)
                seen += more
            assert not any(b"Mallory" in frame for frame in seen)
            # A viewer's own state claiming "edit" is shown with the role of its token.
            async with await connect(server, doc, "view") as viewer:
                await viewer.send(awareness(4242, 1, {"user": {"name": "Vic"}, "role": "edit"}))
                await awareness_of(witness, 4242)
                late = await SseClient.connect(server.base_url, doc["id"], doc["view_token"])
                try:
                    presence = await late.wait_for(
                        lambda e: (
                            e.event == "presence"
                            and {u["name"] for u in e.data["users"]} >= {"Ada L.", "Vic"}
                        )
                    )
                finally:
                    await late.close()
                roles = {u["name"]: u["role"] for u in presence.data["users"]}
                assert roles["Ada L."] == "edit"
                assert roles["Vic"] == "view"
                assert "Mallory" not in roles
            await after_the_attack(server, doc, ada, grace, "row4")
            # The activity of Ada's edits names Ada, never Mallory.
            edit = await sse.wait_for(lambda e: e.event == "activity" and e.data["kind"] == "edit")
            assert "Mallory" not in json.dumps(edit.data)
        assert not any("Mallory" in json.dumps(e.data) for e in sse.events)
    finally:
        await sse.close()


# ---- row 5: many ids, big states -------------------------------------------------------------


async def test_row5_awareness_ids_are_capped_per_socket(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    filler = "x" * 7900  # each state just under the 8 KiB cap
    async with honest_pair(shared_server, doc) as (ada, _, grace, _):
        attacker = await connect(shared_server, doc, "view")
        frames = [
            awareness(9000 + i, 1, {"user": {"name": f"m{i}"}, "f": filler}) for i in range(40)
        ]
        code, _ = await send_and_close_code(attacker, frames)
        assert code == 1008
        payload = await join_payload(shared_server, doc)
        awareness_bytes = sum(len(f) for f in payload if f[0] == 1)
        assert awareness_bytes < 4 * 8192 + 4096, awareness_bytes
        await after_the_attack(shared_server, doc, ada, grace, "row5")


async def test_row5_state_over_the_size_cap_closes_1009(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, _, grace, _):
        fits = await connect(shared_server, doc, "view")
        await fits.send(awareness(9100, 1, {"user": {"name": "ok"}, "f": "y" * 8000}))
        async with await connect(shared_server, doc) as witness:
            await witness.send(QUERY_AWARENESS)
            await awareness_of(witness, 9100)  # 8 KiB fits
        attacker = await connect(shared_server, doc, "view")
        code, _ = await send_and_close_code(
            attacker, [awareness(9200, 1, {"user": {"name": "big"}, "f": "z" * 9000})]
        )
        assert code == 1009
        assert still_open(fits)
        await fits.close()
        await after_the_attack(shared_server, doc, ada, grace, "row5-size")


@pytest.mark.slow
async def test_row5_forty_ids_of_a_mebibyte(server: ServerProcess) -> None:
    doc = await server.create_document()
    async with honest_pair(server, doc) as (ada, _, grace, _):
        before = rss_bytes(server)
        attacker = await connect(server, doc, "view")
        big = "m" * (1 << 20)
        frames = (awareness(9300 + i, 1, {"user": {"name": f"m{i}"}, "f": big}) for i in range(40))
        code, _ = await send_and_close_code(attacker, frames)
        assert code in (1008, 1009)
        payload = await join_payload(server, doc)
        assert sum(len(f) for f in payload) < 64 * 1024
        growth = rss_bytes(server) - before
        assert growth < 24 << 20, f"server grew by {growth >> 20} MiB"
        await after_the_attack(server, doc, ada, grace, "row5-mib")


# ---- row 11: cursors of the wrong shape -------------------------------------------------------

REL = {
    "type": {"client": 12, "clock": 3},
    "tname": None,
    "item": {"client": 12, "clock": 4},
    "assoc": 0,
}
GOOD_CURSOR = {"anchor": REL, "head": {"type": None, "tname": "default", "item": None, "assoc": -1}}
BAD_CURSORS: list[Any] = [
    5,
    "x",
    [1, 2],
    {"anchor": 5, "head": 5},
    {"anchor": REL},
    {"anchor": REL, "head": {"type": "evil", "tname": None, "item": None, "assoc": 0}},
    {"anchor": REL, "head": {**REL, "assoc": "0"}},
    {"anchor": REL, "head": {**REL, "item": {"client": "1", "clock": 2}}},
]


async def test_row11_bad_cursor_shapes_are_dropped(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, ada_ws, grace, _):
        async with await connect(shared_server, doc) as witness:
            await awareness_of(witness, ada.client_id)
            clock = 2
            sent = {"user": {"name": "Ada", "color": "#112233"}, "cursor": GOOD_CURSOR}
            await ada_ws.send(awareness(ada.client_id, clock, sent))
            _, raw = await awareness_of(witness, ada.client_id)
            assert strict_json(raw) == sent, "a well-formed cursor is kept as it is"
            for cursor in BAD_CURSORS:
                clock += 1
                await ada_ws.send(awareness(ada.client_id, clock, {**ADA, "cursor": cursor}))
                _, raw = await awareness_of(witness, ada.client_id)
                assert strict_json(raw) == ADA, f"cursor {cursor!r} should be dropped"
            # The name rule and the colour rule apply to what others receive too.
            clock += 1
            messy = {"user": {"name": "  Ada\u0007\n  Lovelace ", "color": "red"}}
            await ada_ws.send(awareness(ada.client_id, clock, messy))
            _, raw = await awareness_of(witness, ada.client_id)
            user = strict_json(raw)["user"]
            assert user["name"] == "Ada Lovelace"
            assert "color" not in user
        await after_the_attack(shared_server, doc, ada, grace, "row11")


# ---- row 13: a non-object state, then leave ---------------------------------------------------


@pytest.mark.parametrize("state", ["[]", "5"])
async def test_row13_leaving_after_a_non_object_state_removes_every_id(
    shared_server: ServerProcess, state: str
) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, _, grace, _):
        async with await connect(shared_server, doc) as witness:
            attacker = await connect(shared_server, doc, "view")
            await attacker.send(awareness(5005, 1, {"user": {"name": "Ghost"}}))
            await awareness_of(witness, 5005)
            code, _ = await send_and_close_code(attacker, [raw_awareness(5005, 2, state)])
            assert code == 1007
            # The witness is told the ghost is gone (possibly after the bad state went by).
            _, raw = await awareness_of(witness, 5005)
            while raw != b"null":
                _, raw = await awareness_of(witness, 5005)
            # and a newcomer never hears of it
            payload = await join_payload(shared_server, doc)
            for frame in payload:
                if frame[0] == 1:
                    assert 5005 not in raw_awareness_states(frame)
        await after_the_attack(shared_server, doc, ada, grace, "row13")


# ---- row 14: NaN and Infinity -------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_row14_nan_closes_1007_and_nobody_receives_invalid_json(
    shared_server: ServerProcess, constant: str
) -> None:
    doc = await shared_server.create_document()
    async with honest_pair(shared_server, doc) as (ada, ada_ws, grace, _):
        async with await connect(shared_server, doc) as witness:
            await awareness_of(witness, ada.client_id)
            attacker = await connect(shared_server, doc, "view")
            bad = '{"user": {"name": "Nan"}, "x": ' + constant + "}"
            code, _ = await send_and_close_code(attacker, [raw_awareness(6006, 1, bad)])
            assert code == 1007
            await ada_ws.send(awareness(ada.client_id, 2, {"user": {"name": "Ada again"}}))
            seen, _ = await awareness_of(witness, ada.client_id)
            for frame in seen:
                for raw in raw_awareness_states(frame).values():
                    strict_json(raw)
            for frame in await join_payload(shared_server, doc):
                if frame[0] == 1:
                    for raw in raw_awareness_states(frame).values():
                        strict_json(raw)
        await after_the_attack(shared_server, doc, ada, grace, "row14")


def test_state_json_helper_round_trips() -> None:
    assert state_json(None) == b"null"
    assert strict_json(state_json(ADA)) == ADA
    with pytest.raises(ValueError):
        strict_json(b'{"x": NaN}')
    assert raw_awareness_states(raw_awareness(7, 1, SURROGATE_ADA)) == {7: SURROGATE_ADA.encode()}
