"""Which Yjs ids a v1 update holds structs for: ``{client: (first clock, end clock)}``.

pycrdt's ``get_state(update)`` follows Yjs' ``encodeStateVectorFromUpdate``, which only counts
clients whose structs start at clock 0: for the incremental updates clients send while typing it
returns nothing. Attribution and client-id binding need the ranges of every update, so this reads
the struct headers itself (the lengths, skipping contents), per Yjs' ``UpdateEncoderV1``.
Sans-IO; raises ``MalformedUpdate`` for bytes that are not a v1 update."""

from __future__ import annotations

_BITS5 = 0x1F
_HAS_ORIGIN = 0x80
_HAS_RIGHT_ORIGIN = 0x40
_HAS_PARENT_SUB = 0x20
_MAX_DEPTH = 64


class MalformedUpdate(ValueError):
    pass


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise MalformedUpdate("truncated update")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self) -> int:
        result = shift = 0
        data = self.data
        pos = self.pos
        while True:
            if pos >= len(data):
                raise MalformedUpdate("truncated varint")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return result
            shift += 7
            if shift > 63:
                raise MalformedUpdate("varint too long")

    def skip(self, size: int) -> None:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedUpdate("truncated bytes")
        self.pos += size

    def string(self) -> str:
        size = self.uint()
        start = self.pos
        self.skip(size)
        try:
            return self.data[start : self.pos].decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedUpdate("string is not UTF-8") from e

    def skip_string(self) -> None:
        self.skip(self.uint())

    def skip_any(self, depth: int = 0) -> None:
        """A lib0 ``any`` value (iteratively bounded: nesting deeper than 64 is refused)."""
        if depth > _MAX_DEPTH:
            raise MalformedUpdate("value nested too deeply")
        tag = self.byte()
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:  # varint
            self.uint()  # signed varints use the same continuation bits
        elif tag == 124:  # float32
            self.skip(4)
        elif tag in (123, 122):  # float64, bigint
            self.skip(8)
        elif tag == 119:  # string
            self.skip_string()
        elif tag == 118:  # object
            for _ in range(self.uint()):
                self.skip_string()
                self.skip_any(depth + 1)
        elif tag == 117:  # array
            for _ in range(self.uint()):
                self.skip_any(depth + 1)
        elif tag == 116:  # Uint8Array
            self.skip(self.uint())
        else:
            raise MalformedUpdate(f"unknown value type {tag}")


def _utf16_length(text: str) -> int:
    """Yjs counts string lengths in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _struct_length(r: _Reader, info: int, refs: set[int]) -> int:
    kind = info & _BITS5
    if kind == 0 or kind == 10:  # GC, Skip
        return r.uint()
    if info & _HAS_ORIGIN:
        refs.add(r.uint())
        r.uint()
    if info & _HAS_RIGHT_ORIGIN:
        refs.add(r.uint())
        r.uint()
    if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
        if r.uint() == 1:  # parent is a root type, by name
            r.skip_string()
        else:  # parent is an item, by id
            refs.add(r.uint())
            r.uint()
        if info & _HAS_PARENT_SUB:
            r.skip_string()
    if kind == 1:  # Deleted
        return r.uint()
    if kind == 2:  # JSON
        count = r.uint()
        for _ in range(count):
            r.skip_string()
        return count
    if kind == 3:  # Binary
        r.skip(r.uint())
        return 1
    if kind == 4:  # String
        return _utf16_length(r.string())
    if kind == 5:  # Embed
        r.skip_string()
        return 1
    if kind == 6:  # Format
        r.skip_string()
        r.skip_string()
        return 1
    if kind == 7:  # Type
        ref = r.uint()
        if ref in (3, 5):  # XmlElement, XmlHook carry a name
            r.skip_string()
        return 1
    if kind == 8:  # Any
        count = r.uint()
        for _ in range(count):
            r.skip_any()
        return count
    if kind == 9:  # Doc
        r.skip_string()
        r.skip_any()
        return 1
    raise MalformedUpdate(f"unknown struct kind {kind}")


def struct_ranges(update: bytes) -> dict[int, tuple[int, int]]:
    """``{client: (first clock, end clock)}`` of the structs in a Yjs v1 update (Skips, the
    gaps ``merge_updates`` leaves, included in the span)."""
    return read_update(update)[0]


def read_update(update: bytes) -> tuple[dict[int, tuple[int, int]], int]:
    """``struct_ranges`` and the offset where the update's delete set starts."""
    ranges, at, _refs = read_update_refs(update)
    return ranges, at


def read_update_refs(update: bytes) -> tuple[dict[int, tuple[int, int]], int, set[int]]:
    """``struct_ranges``, the offset where the update's delete set starts, and the clients
    whose items its structs name (as origins or parents): whose structs it builds on.

    On the hot path (every update a socket sends, every transaction): one-byte varints and
    ASCII strings are read inline, the rest through ``_Reader``."""
    r = _Reader(update)
    refs: set[int] = set()
    data = update
    size = len(data)
    ranges: dict[int, tuple[int, int]] = {}
    for _ in range(r.uint()):
        structs = r.uint()
        client = r.uint()
        start = clock = r.uint()
        for _ in range(structs):
            pos = r.pos
            # The common case: a string item with a left origin and nothing else.
            if pos + 1 < size and data[pos] == 0x84:
                r.pos = pos + 1
                refs.add(r.uint())
                r.uint()
                pos = r.pos
                if pos < size and data[pos] < 0x80:
                    length = data[pos]
                    end = pos + 1 + length
                    if end > size:
                        raise MalformedUpdate("truncated bytes")
                    text = data[pos + 1 : end]
                    if text.isascii():
                        clock += length
                        r.pos = end
                        continue
                r.pos = pos
                clock += _utf16_length(r.string())
                continue
            clock += _struct_length(r, r.byte(), refs)
        if clock > start:
            old = ranges.get(client)
            ranges[client] = (min(old[0], start), max(old[1], clock)) if old else (start, clock)
    return ranges, r.pos, refs
