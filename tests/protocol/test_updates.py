"""``struct_ranges`` reads every struct kind pycrdt writes, and agrees with the state vectors."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    XmlElement,
    XmlFragment,
    XmlText,
    merge_updates,
)

from swell.protocol.messages import decode_state_vector
from swell.protocol.updates import MalformedUpdate, read_update_refs, struct_ranges


def moved(before: dict[int, int], after: dict[int, int]) -> dict[int, tuple[int, int]]:
    return {c: (before.get(c, 0), end) for c, end in after.items() if end > before.get(c, 0)}


def edits(doc: Doc[Any], rng: random.Random) -> list[tuple[bytes, dict[int, tuple[int, int]]]]:
    """Every kind of change the app or a script makes, each as an incremental update with the
    ranges its transaction moved the state vector by."""
    fragment = doc.get("default", type=XmlFragment)
    text = doc.get("text", type=Text)
    array = doc.get("array", type=Array)
    meta = doc.get("meta", type=Map)
    steps = [
        lambda: fragment.children.append(
            XmlElement("heading", {"level": "2"}, [XmlText("Zoë 山田 😀")])
        ),
        lambda: fragment.children.append(XmlElement("paragraph", {}, [XmlText("plain")])),
        lambda: fragment.children[0].children[0].format(0, 3, {"bold": {}}),
        lambda: fragment.children[len(fragment.children) - 1].children[0].insert(2, "𝄞 clef"),
        lambda: text.insert(0, "hello 🌊 world"),
        lambda: text.insert_embed(1, {"image": "x.png"}),
        lambda: text.__delitem__(slice(0, 3)),
        lambda: array.extend([1, 2.5, "three", None, True, {"k": [1, {"deep": b"\x00\x01"}]}]),
        lambda: array.append(b"binary bytes"),
        lambda: meta.__setitem__("title", "a title"),
        lambda: meta.__setitem__("nested", Map({"x": 1})),
        lambda: meta.__setitem__("sub", Doc()),
        lambda: meta.__delitem__("title"),
        lambda: fragment.children.__delitem__(0),
    ]
    out = []
    for step in steps + [rng.choice(steps[:2] + steps[4:5]) for _ in range(10)]:
        before_sv = decode_state_vector(doc.get_state())
        before = doc.get_state()
        step()
        out.append((doc.get_update(before), moved(before_sv, decode_state_vector(doc.get_state()))))
    return out


def test_ranges_of_incremental_updates_match_the_state_vector() -> None:
    doc: Doc[Any] = Doc()
    for update, expected in edits(doc, random.Random(7)):
        assert struct_ranges(update) == expected


def test_a_whole_document_and_a_merge_start_at_zero() -> None:
    doc: Doc[Any] = Doc()
    updates = [u for u, _ in edits(doc, random.Random(8))]
    whole = {c: (0, end) for c, end in decode_state_vector(doc.get_state()).items()}
    assert struct_ranges(doc.get_update()) == whole
    assert struct_ranges(merge_updates(*updates)) == whole


def test_a_garbage_collected_document_counts_its_gc_structs() -> None:
    doc: Doc[Any] = Doc()
    edits(doc, random.Random(9))  # deletes a whole heading: its items become GC structs
    collected: Doc[Any] = Doc()
    collected.apply_update(doc.get_update())
    whole = {c: (0, end) for c, end in decode_state_vector(collected.get_state()).items()}
    assert struct_ranges(collected.get_update()) == whole


@pytest.mark.parametrize(
    "garbage", [b"", b"\x01", b"\x01\x01\x05\x00\x1f", b"\x01\x01\x05\x00\x04\x05ab"]
)
def test_bytes_that_are_not_an_update_are_refused(garbage: bytes) -> None:
    with pytest.raises(MalformedUpdate):
        struct_ranges(garbage)


def test_the_clients_an_update_builds_on_are_named() -> None:
    """What the writer's grouping checks: an update's origins and parents, by client."""
    ada: Doc[Any] = Doc()
    text = ada.get("t", type=Text)
    text += "ab"
    fresh = read_update_refs(ada.get_update())
    assert fresh[2] <= {ada.client_id}  # a root type by name, then its own items
    grace: Doc[Any] = Doc()
    grace.apply_update(ada.get_update())
    before = grace.get_state()
    grace.get("t", type=Text).insert(1, "Z")  # between Ada's a and b
    assert ada.client_id in read_update_refs(grace.get_update(before))[2]
    frag = grace.get("f", type=XmlFragment)
    paragraph = XmlElement("p")
    frag.children.append(paragraph)
    before = grace.get_state()
    paragraph.children.append(XmlText("x"))  # its parent is Grace's element, by id
    assert grace.client_id in read_update_refs(grace.get_update(before))[2]
