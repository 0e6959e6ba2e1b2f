"""y-websocket message decoding and encoding on pycrdt's own codec helpers.

A frame may carry several messages (we accept that); we always send one message per frame,
because y-websocket v3 clients read exactly one message per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pycrdt import (
    Decoder,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
    write_message,
)

QUERY_AWARENESS = 3
"""y-websocket's "please send me every awareness state" message (no payload)."""


class SwellMessageType(IntEnum):
    """Extension messages, sent only to clients that asked with ``?swell=1``."""

    SAVED = 100
    TITLE = 101


class MalformedMessage(ValueError):
    """The bytes are not a well-formed y-websocket message."""


class UnsupportedMessage(ValueError):
    """A well-formed message of a type this server does not accept."""


class TooManyMessages(ValueError):
    """A frame packs more messages than a client needs (an amplification attempt)."""


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """Sync step 2 or update: both carry a document update that must be applied."""

    update: bytes
    raw: bytes
    step2: bool


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's state in an awareness update: ``state`` is the JSON text ("null" or ""
    for a removal), not parsed yet."""

    client_id: int
    clock: int
    state: str


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    update: bytes
    raw: bytes
    entries: tuple[AwarenessEntry, ...]


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


Message = SyncStep1 | SyncUpdate | AwarenessUpdate | QueryAwareness


def decode_frame(frame: bytes, max_messages: int | None = None) -> list[Message]:
    """Split one binary frame into its messages; raises MalformedMessage/UnsupportedMessage,
    and TooManyMessages past ``max_messages``."""
    if not frame:
        raise MalformedMessage("empty frame")
    decoder = Decoder(frame)
    messages: list[Message] = []
    while decoder.length > 0:
        if max_messages is not None and len(messages) >= max_messages:
            raise TooManyMessages(f"more than {max_messages} messages in one frame")
        start = decoder.i0
        kind = _read_uint(decoder)
        if kind == YMessageType.SYNC:
            sub = _read_uint(decoder)
            payload = _read_payload(decoder)
            if sub == YSyncMessageType.SYNC_STEP1:
                messages.append(SyncStep1(payload))
            elif sub in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
                raw = frame[start : decoder.i0]
                messages.append(SyncUpdate(payload, raw, sub == YSyncMessageType.SYNC_STEP2))
            else:
                raise UnsupportedMessage(f"unknown sync message type {sub}")
        elif kind == YMessageType.AWARENESS:
            payload = _read_payload(decoder)
            entries = decode_awareness_entries(payload)
            messages.append(AwarenessUpdate(payload, frame[start : decoder.i0], entries))
        elif kind == QUERY_AWARENESS:
            messages.append(QueryAwareness())
        else:
            raise UnsupportedMessage(f"unknown message type {kind}")
    return messages


def decode_awareness_entries(payload: bytes) -> tuple[AwarenessEntry, ...]:
    """The entries of an awareness update. pycrdt reads a truncated update without complaint
    and measures strings in characters; we read UTF-8 byte lengths, as Yjs writes them."""
    decoder = Decoder(payload)
    entries: list[AwarenessEntry] = []
    count = _read_uint(decoder)
    if count > decoder.length:  # every entry takes at least three bytes
        raise MalformedMessage("awareness update announces more entries than it holds")
    for _ in range(count):
        client_id = _read_uint(decoder)
        clock = _read_uint(decoder)
        state = _read_payload(decoder)
        try:
            text = state.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("awareness state is not UTF-8") from None
        entries.append(AwarenessEntry(client_id, clock, text))
    if decoder.length != 0:
        raise MalformedMessage("trailing bytes after awareness update")
    return tuple(entries)


def encode_awareness_entries(entries: list[tuple[int, int, str]]) -> bytes:
    """An awareness update from (client id, clock, JSON text): lengths in UTF-8 bytes (pycrdt's
    ``write_var_string`` writes character counts, unreadable to Yjs for non-ASCII text)."""
    out = bytearray(_var_uint(len(entries)))
    for client_id, clock, text in entries:
        data = text.encode("utf-8")
        out += _var_uint(client_id) + _var_uint(clock) + _var_uint(len(data)) + data
    return bytes(out)


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_uint(decoder: Decoder) -> int:
    if decoder.length <= 0:
        raise MalformedMessage("truncated message")
    try:
        value = decoder.read_var_uint()
    except IndexError:
        raise MalformedMessage("truncated number") from None
    if value >= 1 << 53:
        raise MalformedMessage("number out of range")
    return value


def _read_payload(decoder: Decoder) -> bytes:
    length = _read_uint(decoder)
    if length > decoder.length:
        raise MalformedMessage("truncated payload")
    start = decoder.i0
    decoder.i0 += length
    decoder.length -= length
    return bytes(decoder.stream[start : decoder.i0])


def encode_sync_step1(state_vector: bytes) -> bytes:
    return bytes((YMessageType.SYNC, YSyncMessageType.SYNC_STEP1)) + write_message(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return bytes((YMessageType.SYNC, YSyncMessageType.SYNC_STEP2)) + write_message(update)


def encode_update(update: bytes) -> bytes:
    return create_update_message(update)


def as_update_message(message: SyncUpdate) -> bytes:
    """The message to forward: a step 2 becomes an update with the very same update bytes."""
    if not message.step2:
        return message.raw
    return bytes((YMessageType.SYNC, YSyncMessageType.SYNC_UPDATE)) + message.raw[2:]


def encode_awareness(update: bytes) -> bytes:
    return create_awareness_message(update)


def encode_saved(state_vector: bytes) -> bytes:
    """Extension: the state vector the database now holds."""
    return bytes((SwellMessageType.SAVED,)) + write_message(state_vector)


def encode_title(title_json: bytes) -> bytes:
    """Extension: UTF-8 JSON ``{"title": ...}`` after a rename."""
    return bytes((SwellMessageType.TITLE,)) + write_message(title_json)


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """Yjs state vector bytes as {client: clock}; the byte order of entries is not stable."""
    decoder = Decoder(state_vector)
    entries = _read_uint(decoder)
    result: dict[int, int] = {}
    for _ in range(entries):
        client = _read_uint(decoder)
        result[client] = _read_uint(decoder)
    return result
