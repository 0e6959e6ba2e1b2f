"""Awareness that trusts no client: ownership, shape, size and the name rule."""

from __future__ import annotations

import json

import pytest
from pycrdt import Doc

from swell.collab.awareness import AwarenessRefused, OwnedAwareness, clean_state
from swell.collab.events import Participant
from swell.collab.peer import CloseCode, Peer, Role
from swell.protocol.messages import AwarenessEntry, decode_awareness_entries


def book(changes: list[Participant] | None = None) -> OwnedAwareness:
    sink = changes if changes is not None else []
    return OwnedAwareness(Doc(), ids_per_socket=2, state_bytes=512, on_change=sink.append)


def entry(client_id: int, clock: int, state: object) -> AwarenessEntry:
    return AwarenessEntry(client_id, clock, json.dumps(state))


def peer(role: Role, peer_id: int) -> Peer:
    p = Peer(role)
    p.id = peer_id
    return p


def test_an_id_belongs_to_the_socket_that_announced_it_first() -> None:
    awareness = book()
    editor, mallory = peer(Role.EDIT, 1), peer(Role.VIEW, 2)
    awareness.apply(editor, (entry(7, 1, {"user": {"name": "Ada"}}),))
    with pytest.raises(AwarenessRefused) as refused:
        awareness.apply(mallory, (entry(7, 2**53 - 1, {"user": {"name": "Mallory"}}),))
    assert refused.value.code == CloseCode.POLICY
    with pytest.raises(AwarenessRefused):
        awareness.apply(mallory, (entry(7, 2**53 - 1, None),))  # nor remove it
    assert awareness.states[7] == {"user": {"name": "Ada"}}
    assert awareness.participant(editor) == Participant(1, Role.EDIT, "Ada", None)


def test_a_socket_announces_a_bounded_number_of_ids() -> None:
    awareness = book()
    p = peer(Role.VIEW, 1)
    awareness.apply(p, (entry(1, 1, {}), entry(2, 1, {})))
    with pytest.raises(AwarenessRefused) as refused:
        awareness.apply(p, (entry(3, 1, {}),))
    assert refused.value.code == CloseCode.POLICY


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[]", CloseCode.INVALID),
        ("5", CloseCode.INVALID),
        ('{"a": NaN}', CloseCode.INVALID),
        ('{"a": Infinity}', CloseCode.INVALID),
        ("{" * 3000 + "}" * 3000, CloseCode.TOO_BIG),
        ('{"a": "' + "x" * 600 + '"}', CloseCode.TOO_BIG),
    ],
)
def test_states_must_be_small_json_objects(text: str, code: int) -> None:
    with pytest.raises(AwarenessRefused) as refused:
        clean_state(text, 512)
    assert refused.value.code == code


def test_names_colors_and_cursors_are_cleaned() -> None:
    text = json.dumps(
        {
            "user": {"name": "  Zo\u0065\u0308\ud800 \n 山田\x00 ", "color": "red"},
            "cursor": {"anchor": [1], "head": 2},
        }
    )
    assert clean_state(text, 512) == {"user": {"name": "Zoë 山田"}}
    good_cursor = {
        "anchor": {"type": {"client": 1, "clock": 2}, "tname": None, "item": None, "assoc": 0},
        "head": {"type": None, "tname": "default", "item": {"client": 1, "clock": 3}, "assoc": -1},
    }
    state = {"user": {"name": "Ada", "color": "#A1B2C3"}, "cursor": good_cursor}
    assert clean_state(json.dumps(state), 512) == {
        "user": {"name": "Ada", "color": "#a1b2c3"},
        "cursor": good_cursor,
    }


def test_others_receive_the_cleaned_state_and_removals_on_leave() -> None:
    changes: list[Participant] = []
    awareness = book(changes)
    p = peer(Role.EDIT, 3)
    update = awareness.apply(p, (entry(9, 1, {"user": {"name": "\ud800Ada"}}),))
    assert update is not None
    (sent,) = decode_awareness_entries(update)
    assert json.loads(sent.state) == {"user": {"name": "Ada"}}
    assert sent.state.isascii()  # readable by Yjs whatever the name
    assert changes == [Participant(3, Role.EDIT, "Ada", None)]
    removal = awareness.remove(p)
    assert removal is not None
    (gone,) = decode_awareness_entries(removal)
    assert gone.client_id == 9 and gone.state == "null"
    assert awareness.everyone() is None


def test_echoes_of_others_states_are_ignored_not_refused() -> None:
    """y-websocket's provider re-sends every state it hears of (same clock), and announces a
    timeout removal of others with the same clock: neither may change or remove the state."""
    awareness = book()
    editor, stock = peer(Role.EDIT, 1), peer(Role.VIEW, 2)
    awareness.apply(editor, (entry(7, 3, {"user": {"name": "Ada"}}),))
    assert awareness.apply(stock, (entry(7, 3, {"user": {"name": "Ada"}}),)) is None
    assert awareness.apply(stock, (entry(7, 3, None),)) is None
    assert awareness.states[7] == {"user": {"name": "Ada"}}
    assert stock.client_ids == set() and stock.announced == 0


def test_a_late_echo_of_a_departed_state_is_not_claimed() -> None:
    awareness = book()
    ada, bob = peer(Role.EDIT, 1), peer(Role.EDIT, 2)
    awareness.apply(ada, (entry(7, 4, {"user": {"name": "Ada"}}),))
    assert awareness.remove(ada) is not None
    assert awareness.apply(bob, (entry(7, 4, {"user": {"name": "Ada"}}),)) is None
    assert 7 not in awareness.states and bob.client_ids == set()


def test_a_new_clients_first_state_at_clock_zero_is_ignored_as_yjs_does() -> None:
    """A stock y-websocket client sends its first (empty) state with clock 0; Yjs and pycrdt
    only take a new client's state from clock 1. It is ignored, never an error (it failed the
    whole room), and the client's next state is taken."""
    awareness = book()
    stock = peer(Role.EDIT, 1)
    assert awareness.apply(stock, (entry(12345, 0, {}),)) is None
    assert 12345 not in stock.client_ids
    assert awareness.apply(stock, (entry(12345, 0, {}), entry(77, 1, {"a": 1}))) is not None
    update = awareness.apply(stock, (entry(12345, 1, {"user": {"name": "Ada"}}),))
    assert update is not None
    assert awareness.states[12345] == {"user": {"name": "Ada"}}
    assert [e.client_id for e in decode_awareness_entries(update)] == [12345]
