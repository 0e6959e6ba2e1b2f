"""Message round-trips through pycrdt's encoder and decoder, and refusals of bad input."""

from __future__ import annotations

import json

import pytest
from pycrdt import Awareness, Doc, Text, create_update_message, write_var_uint

from swell.protocol.messages import (
    AwarenessUpdate,
    MalformedMessage,
    QueryAwareness,
    SyncStep1,
    SyncUpdate,
    UnsupportedMessage,
    as_update_message,
    decode_frame,
    decode_state_vector,
    encode_awareness,
    encode_saved,
    encode_sync_step1,
    encode_sync_step2,
    encode_title,
    encode_update,
)


def sample_update() -> tuple[Doc, bytes]:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, "héllo 山田")
    return doc, doc.get_update()


def test_sync_messages_round_trip() -> None:
    doc, update = sample_update()
    assert decode_frame(encode_sync_step1(doc.get_state())) == [SyncStep1(doc.get_state())]
    [step2] = decode_frame(encode_sync_step2(update))
    assert isinstance(step2, SyncUpdate) and step2.update == update and step2.step2
    [upd] = decode_frame(encode_update(update))
    assert isinstance(upd, SyncUpdate) and upd.update == update and not upd.step2
    assert encode_update(update) == create_update_message(update)  # pycrdt's own encoder


def test_step2_is_forwarded_as_an_update_with_the_same_bytes() -> None:
    _, update = sample_update()
    [step2] = decode_frame(encode_sync_step2(update))
    assert isinstance(step2, SyncUpdate)
    assert as_update_message(step2) == create_update_message(update)


def test_awareness_round_trip_with_pycrdt() -> None:
    doc: Doc = Doc()
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "Zoë 山田"}})
    update = awareness.encode_awareness_update([doc.client_id])
    [message] = decode_frame(encode_awareness(update))
    assert isinstance(message, AwarenessUpdate) and message.update == update
    other = Awareness(Doc())
    other.apply_awareness_update(message.update, "test")
    assert other.states[doc.client_id] == {"user": {"name": "Zoë 山田"}}


def test_yjs_encoded_utf8_awareness_is_accepted() -> None:
    state = json.dumps({"user": {"name": "Zoë 山田"}}, ensure_ascii=False).encode()
    update = write_var_uint(1) + write_var_uint(7) + write_var_uint(1)
    update += write_var_uint(len(state)) + state
    [message] = decode_frame(encode_awareness(update))
    assert isinstance(message, AwarenessUpdate)


def test_a_frame_may_carry_several_messages() -> None:
    doc, update = sample_update()
    frame = encode_update(update) + encode_sync_step1(doc.get_state()) + bytes([3])
    kinds = [type(m) for m in decode_frame(frame)]
    assert kinds == [SyncUpdate, SyncStep1, QueryAwareness]


def test_extension_messages_carry_their_payload() -> None:
    doc, _ = sample_update()
    saved = encode_saved(doc.get_state())
    assert saved[0] == 100 and saved.endswith(doc.get_state())
    title = encode_title(b'{"title":"x"}')
    assert title[0] == 101 and title.endswith(b'{"title":"x"}')


def test_state_vector_decodes_to_clocks() -> None:
    doc, _ = sample_update()
    assert decode_state_vector(doc.get_state()) == {doc.client_id: len("héllo 山田")}


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        bytes([0]),
        bytes([0, 0x80]),
        bytes([0, 2, 10, 1, 2]),
        bytes([1, 5, 1, 2]),
        bytes([1, 3, 1, 5, 9]),
        bytes([1, 4, 1, 5, 9, 2]),  # state length past the end
        bytes([1, 5, 1, 5, 9, 1, 0xFF]),  # state is not UTF-8
        bytes([0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),  # huge number
    ],
)
def test_truncated_or_malformed_input_is_refused(frame: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode_frame(frame)


def test_oversized_length_prefix_is_refused_without_allocating() -> None:
    frame = bytes([0, 2]) + write_var_uint(1 << 40) + b"x"
    with pytest.raises(MalformedMessage):
        decode_frame(frame)


@pytest.mark.parametrize("frame", [bytes([2, 0]), bytes([9]), bytes([0, 3, 0]), bytes([100, 0])])
def test_unknown_types_are_unsupported(frame: bytes) -> None:
    with pytest.raises(UnsupportedMessage):
        decode_frame(frame)
