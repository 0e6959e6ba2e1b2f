"""The binary formats of history: which Yjs ids a revision inserted and deleted, the packed
index of a history chunk, and checkpoints (encoded ``pycrdt.Snapshot``: a delete set followed by
a state vector, the Yjs wire format).

Pure functions over bytes, no I/O: compaction packs with them, history reads unpack with them.
Ids are ranges per Yjs client: ``{client: [(start, end), ...]}``, sorted and merged."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from swell.records import Revision

Ranges = dict[int, list[tuple[int, int]]]
Spans = dict[int, list[tuple[int, int]]]
"""Id spans per client as gathered: unsorted, overlapping (``merged`` makes Ranges of them)."""

PACK_VERSION = 1
KINDS = ("edit", "restore")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CorruptHistory(ValueError):
    """Stored history bytes that do not decode: a bug or a damaged database, never ignored."""


# ---- varints -----------------------------------------------------------------------------


def write_uint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("negative varint")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def uint(self) -> int:
        result = shift = 0
        data = self.data
        while True:
            if self.pos >= len(data):
                raise CorruptHistory("truncated varint")
            byte = data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 70:
                raise CorruptHistory("varint too long")

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise CorruptHistory("truncated bytes")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


# ---- id ranges -----------------------------------------------------------------------------


def add_range(ranges: Ranges, client: int, start: int, end: int) -> None:
    """Insert ``[start, end)`` for ``client``, merging with what touches it."""
    if end <= start:
        return
    spans = ranges.setdefault(client, [])
    if not spans or spans[-1][1] < start:  # the common case: after everything so far
        spans.append((start, end))
        return
    if spans[-1][1] == start:
        spans[-1] = (spans[-1][0], end)
        return
    spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    ranges[client] = merged


def merged(spans: Spans) -> Ranges:
    """Spans gathered in any order, sorted and merged once per client (``add_range`` per span
    re-sorts whenever one lands before the end: quadratic over a long history)."""
    out: Ranges = {}
    for client, found in spans.items():
        found.sort()
        kept: list[tuple[int, int]] = []
        for start, end in found:
            if kept and start <= kept[-1][1]:
                if end > kept[-1][1]:
                    kept[-1] = (kept[-1][0], end)
            elif end > start:
                kept.append((start, end))
        if kept:
            out[client] = kept
    return out


def union(into: Ranges, other: Ranges) -> None:
    for client, spans in other.items():
        for start, end in spans:
            add_range(into, client, start, end)


def subtract(ranges: Ranges, other: Ranges) -> Ranges:
    """What ``ranges`` holds that ``other`` does not (both sorted and merged)."""
    out: Ranges = {}
    for client, spans in ranges.items():
        cut = other.get(client)
        if not cut:
            out[client] = list(spans)
            continue
        kept: list[tuple[int, int]] = []
        i = 0
        for start, end in spans:
            while i < len(cut) and cut[i][1] <= start:
                i += 1
            j = i
            while start < end and j < len(cut) and cut[j][0] < end:
                if cut[j][0] > start:
                    kept.append((start, cut[j][0]))
                start = max(start, cut[j][1])
                j += 1
            if start < end:
                kept.append((start, end))
        if kept:
            out[client] = kept
    return out


def clip(ranges: Ranges, clocks: dict[int, int]) -> Ranges:
    """The part of ``ranges`` below each client's clock (ids that exist)."""
    out: Ranges = {}
    for client, spans in ranges.items():
        limit = clocks.get(client, 0)
        kept = [(s, min(e, limit)) for s, e in spans if s < limit]
        if kept:
            out[client] = kept
    return out


def contains(ranges: Ranges, client: int, clock: int) -> bool:
    for start, end in ranges.get(client, ()):
        if start <= clock < end:
            return True
    return False


def inserted_between(before: dict[int, int], after: dict[int, int]) -> Ranges:
    """The structs a transaction integrated: per client, the clocks its state vector moved."""
    return {c: [(before.get(c, 0), end)] for c, end in after.items() if end > before.get(c, 0)}


def decode_delete_set(data: bytes, reader: Reader | None = None) -> Ranges:
    """A Yjs v1 delete set (clients, then (clock, length) ranges per client)."""
    r = reader or Reader(data)
    ranges: Ranges = {}
    for _ in range(r.uint()):
        client = r.uint()
        for _ in range(r.uint()):
            clock = r.uint()
            add_range(ranges, client, clock, clock + r.uint())
    return ranges


def encode_delete_set(ranges: Ranges, out: bytearray | None = None) -> bytearray:
    out = out if out is not None else bytearray()
    clients = [c for c in sorted(ranges) if ranges[c]]
    write_uint(out, len(clients))
    for client in clients:
        write_uint(out, client)
        write_uint(out, len(ranges[client]))
        for start, end in ranges[client]:
            write_uint(out, start)
            write_uint(out, end - start)
    return out


@dataclass(frozen=True, slots=True)
class Ids:
    """What one revision inserted and deleted."""

    inserted: Ranges
    deleted: Ranges


def encode_ids(inserted: Ranges, delete_set: bytes) -> bytes:
    """The inserted ranges in the delete set's own layout, then ``delete_set`` (already
    Yjs-encoded) verbatim."""
    out = encode_delete_set(inserted)
    out += delete_set
    return bytes(out)


def decode_ids(data: bytes) -> Ids:
    r = Reader(data)
    inserted: Ranges = {}
    for _ in range(r.uint()):
        client = r.uint()
        for _ in range(r.uint()):
            start = r.uint()
            add_range(inserted, client, start, start + r.uint())
    deleted = decode_delete_set(b"", r) if r.pos < len(data) else {}
    return Ids(inserted, deleted)


# ---- checkpoints ---------------------------------------------------------------------------


@dataclass(slots=True)
class Checkpoint:
    """The state after a revision: every client's clock, and everything deleted so far."""

    clocks: dict[int, int]
    deleted: Ranges

    @classmethod
    def empty(cls) -> Checkpoint:
        return cls({}, {})

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        r = Reader(data)
        deleted = decode_delete_set(b"", r)
        clocks: dict[int, int] = {}
        for _ in range(r.uint()):
            client = r.uint()
            clocks[client] = r.uint()
        return cls(clocks, deleted)

    def advance(self, ids: Ids) -> None:
        for client, spans in ids.inserted.items():
            end = spans[-1][1]
            if end > self.clocks.get(client, 0):
                self.clocks[client] = end
        union(self.deleted, ids.deleted)

    def copy(self) -> Checkpoint:
        return Checkpoint(dict(self.clocks), {c: list(s) for c, s in self.deleted.items()})

    def encode(self) -> bytes:
        """The ``pycrdt.Snapshot`` encoding: delete set, then state vector."""
        out = encode_delete_set(self.deleted)
        write_uint(out, len(self.clocks))
        for client in sorted(self.clocks):
            write_uint(out, client)
            write_uint(out, self.clocks[client])
        return bytes(out)


# ---- a chunk's revision index --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedRevision:
    revision: Revision
    ids: bytes


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def pack_revisions(revisions: Sequence[IndexedRevision]) -> bytes:
    """A chunk's index: per revision its time (ms since the previous), author (an index into
    the chunk's table of author ids), kind, counts and ids; zlib-compressed, as typing makes it
    very repetitive. Revisions must be consecutive."""
    authors: dict[str, int] = {}
    body = bytearray()
    previous = _ms(revisions[0].revision.at) if revisions else 0
    for item in revisions:
        rev = item.revision
        at = _ms(rev.at)
        write_uint(body, max(0, at - previous))
        previous = max(previous, at)
        author = 0 if rev.author_id is None else authors.setdefault(rev.author_id, len(authors) + 1)
        write_uint(body, author)
        write_uint(body, KINDS.index(rev.kind))
        write_uint(body, rev.added)
        write_uint(body, rev.removed)
        write_uint(body, len(item.ids))
        body += item.ids
    head = bytearray()
    write_uint(head, len(revisions))
    write_uint(head, revisions[0].revision.rev if revisions else 0)
    write_uint(head, _ms(revisions[0].revision.at) if revisions else 0)
    write_uint(head, len(authors))
    for author_id in authors:  # insertion order is index order
        encoded = author_id.encode()
        write_uint(head, len(encoded))
        head += encoded
    return bytes([PACK_VERSION]) + zlib.compress(bytes(head + body), 6)


def unpack_revisions(data: bytes) -> list[IndexedRevision]:
    """The inverse of ``pack_revisions``. Varints are read inline (one byte each, nearly
    always): the first history request of a long document unpacks every revision, and a
    method call per varint was half of that time."""
    if not data or data[0] != PACK_VERSION:
        raise CorruptHistory("unknown revision index format")
    try:
        raw = zlib.decompress(data[1:])
    except zlib.error as e:
        raise CorruptHistory(str(e)) from e
    r = Reader(raw)
    count = r.uint()
    first = r.uint()
    at = r.uint()
    authors: list[str | None] = [None]
    authors += [r.take(r.uint()).decode() for _ in range(r.uint())]
    pos, end = r.pos, len(raw)
    result: list[IndexedRevision] = []
    fields = [0] * 6  # time delta, author, kind, added, removed, ids length
    try:
        for i in range(count):
            for f in range(6):
                byte = raw[pos]
                pos += 1
                value = byte & 0x7F
                shift = 7
                while byte >= 0x80:
                    if shift > 70:
                        raise CorruptHistory("varint too long")
                    byte = raw[pos]
                    pos += 1
                    value |= (byte & 0x7F) << shift
                    shift += 7
                fields[f] = value
            delta, author, kind, added, removed, size = fields
            if pos + size > end:
                raise CorruptHistory("truncated bytes")
            ids = raw[pos : pos + size]
            pos += size
            at += delta
            if author >= len(authors) or kind >= len(KINDS):
                raise CorruptHistory("revision index out of range")
            revision = Revision(
                first + i,
                EPOCH + timedelta(milliseconds=at),
                authors[author],
                KINDS[kind],
                added,
                removed,
            )
            result.append(IndexedRevision(revision, ids))
    except IndexError:
        raise CorruptHistory("truncated varint") from None
    return result


# ---- stored blobs ----------------------------------------------------------------------

BLOB_VERSION = 1
CHECKPOINT_EVERY = 2000
"""A history chunk stores its checkpoint only when this many revisions passed since the last
stored one: each checkpoint holds the whole delete set so far, so one per chunk grows with the
square of a document's deletions. Any other revision's state is the nearest stored checkpoint
advanced through the revisions' ids in between."""


def pack_blob(data: bytes) -> bytes:
    """A chunk's merged update or checkpoint as stored: zlib-compressed (typing history is
    very repetitive: one item per keystroke, the same client id in every one)."""
    return bytes([BLOB_VERSION]) + zlib.compress(data, 6)


def unpack_blob(blob: bytes) -> bytes:
    if not blob or blob[0] != BLOB_VERSION:
        raise CorruptHistory("unknown history blob format")
    try:
        return zlib.decompress(blob[1:])
    except zlib.error as e:
        raise CorruptHistory(str(e)) from e


def checkpoint_after(start: Checkpoint, ids: Iterable[bytes]) -> Checkpoint:
    """``start`` advanced by each revision's ids (a copy; ``start`` is left as it was)."""
    checkpoint = start.copy()
    for item in ids:
        checkpoint.advance(decode_ids(item))
    return checkpoint
