"""What processes of one deployment tell each other (sans-IO): the entries of the per-document
and deployment-wide streams, encoded as flat field maps (what a Redis Stream entry is).

Every entry names its ``origin`` (the process that wrote it) and its type ``t``. Decoding is
strict: anything unexpected raises ``MalformedEntry``, which a reader logs and skips for that
document alone (one bad entry must never stop a process's reading: yhub#61)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from swell.records import ActivityRecord, AuthorRecord

Fields = dict[bytes, bytes]
MAX_ORIGIN = 64


class MalformedEntry(ValueError):
    """A stream entry this process cannot read."""


@dataclass(frozen=True, slots=True)
class EditNote:
    """One run of revisions by one socket of the origin (``peer`` is its id there; 0: the
    server's own change), what the viewers' feed shows as someone editing."""

    peer: int
    author: AuthorRecord | None
    name: str | None
    added: int
    removed: int
    from_rev: int
    to_rev: int
    kind: str


@dataclass(frozen=True, slots=True)
class RelayedChange:
    """Committed revisions ``from_rev``..``to_rev`` (gapless, one commit) and their updates."""

    origin: str
    from_rev: int
    to_rev: int
    update: bytes
    edits: tuple[EditNote, ...]


@dataclass(frozen=True, slots=True)
class RelayedAwareness:
    """An awareness message (a whole y-websocket frame) the origin accepted from its sockets."""

    origin: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class RelayedPresence:
    """A socket of the origin as presence shows it; ``left`` once it closed."""

    origin: str
    peer: int
    role: str
    name: str | None
    color: str | None
    author: AuthorRecord | None
    left: bool = False


@dataclass(frozen=True, slots=True)
class RelayedHello:
    """The origin opened the document: the others announce their sockets' presence and
    awareness to it."""

    origin: str


@dataclass(frozen=True, slots=True)
class RelayedActivity:
    """An activity record the origin stored."""

    origin: str
    record: ActivityRecord


@dataclass(frozen=True, slots=True)
class RelayedNotice:
    """Something that happened to a document as a whole (deployment-wide stream): ``kind``
    is ``deleted``, ``rotated`` (``role`` says which token), ``title`` or ``author`` (an
    author renamed themselves; ``doc_id`` empty)."""

    origin: str
    kind: str
    doc_id: str = ""
    role: str = ""
    title: str = ""
    author: AuthorRecord | None = None


RelayedEntry = (
    RelayedChange
    | RelayedAwareness
    | RelayedPresence
    | RelayedHello
    | RelayedActivity
    | RelayedNotice
)


@dataclass(frozen=True, slots=True)
class Resync:
    """Never encoded: a reader tells its followers that entries may have been missed (the
    stream could not be read for a while, or this process's lease lapsed): repair from
    storage and announce yourself again."""


@dataclass(frozen=True, slots=True)
class OriginGone:
    """Never encoded: a process stopped (its lease expired); forget what it owned."""

    origin: str


Delivery = RelayedEntry | Resync | OriginGone
OnDelivery = Callable[[Delivery], None]
NOTICE_KINDS = frozenset({"deleted", "rotated", "title", "author", "stale"})


def encode_entry(entry: RelayedEntry) -> Fields:
    o = entry.origin.encode()
    if isinstance(entry, RelayedChange):
        edits = [
            [e.peer, _author(e.author), e.name, e.added, e.removed, e.from_rev, e.to_rev, e.kind]
            for e in entry.edits
        ]
        return {
            b"o": o,
            b"t": b"c",
            b"f": str(entry.from_rev).encode(),
            b"r": str(entry.to_rev).encode(),
            b"u": entry.update,
            b"m": _json(edits),
        }
    if isinstance(entry, RelayedAwareness):
        return {b"o": o, b"t": b"a", b"u": entry.frame}
    if isinstance(entry, RelayedPresence):
        data = [
            entry.peer,
            entry.role,
            entry.name,
            entry.color,
            _author(entry.author),
            entry.left,
        ]
        return {b"o": o, b"t": b"p", b"m": _json(data)}
    if isinstance(entry, RelayedHello):
        return {b"o": o, b"t": b"h"}
    if isinstance(entry, RelayedActivity):
        r = entry.record
        data = [
            r.document_id,
            r.seq,
            r.at.isoformat(),
            r.kind,
            r.user,
            r.summary,
            _author(r.author),
            r.from_rev,
            r.to_rev,
        ]
        return {b"o": o, b"t": b"v", b"m": _json(data)}
    data = [entry.kind, entry.doc_id, entry.role, entry.title, _author(entry.author)]
    return {b"o": o, b"t": b"n", b"m": _json(data)}


def decode_entry(fields: Fields) -> RelayedEntry:
    """Raises MalformedEntry for anything but an entry ``encode_entry`` could have written."""
    try:
        origin = fields[b"o"].decode()
        kind = fields[b"t"]
        if not 0 < len(origin) <= MAX_ORIGIN:
            raise MalformedEntry("bad origin")
        if kind == b"c":
            first, last = _int(fields[b"f"]), _int(fields[b"r"])
            update = fields[b"u"]
            if not 0 < first <= last or not update:
                raise MalformedEntry("bad revisions")
            notes = tuple(_edit(item) for item in _list(_load(fields[b"m"])))
            return RelayedChange(origin, first, last, bytes(update), notes)
        if kind == b"a":
            frame = fields[b"u"]
            if not frame:
                raise MalformedEntry("empty awareness")
            return RelayedAwareness(origin, bytes(frame))
        if kind == b"p":
            peer, role, name, color, author, left = _list(_load(fields[b"m"]), 6)
            if role not in ("edit", "view") or not isinstance(left, bool):
                raise MalformedEntry("bad presence")
            return RelayedPresence(
                origin,
                _pos(peer),
                role,
                _opt_str(name),
                _opt_str(color),
                _read_author(author),
                left,
            )
        if kind == b"h":
            return RelayedHello(origin)
        if kind == b"v":
            doc_id, seq, at, what, user, summary, author, first, last = _list(
                _load(fields[b"m"]), 9
            )
            record = ActivityRecord(
                _str(doc_id),
                _pos(seq),
                datetime.fromisoformat(_str(at)),
                _str(what),
                _str(user),
                _str(summary),
                _read_author(author),
                None if first is None else _pos(first),
                None if last is None else _pos(last),
            )
            return RelayedActivity(origin, record)
        if kind == b"n":
            what, doc_id, role, title, author = _list(_load(fields[b"m"]), 5)
            if what not in NOTICE_KINDS:
                raise MalformedEntry(f"unknown notice {what!r}")
            return RelayedNotice(
                origin, what, _str(doc_id), _str(role), _str(title), _read_author(author)
            )
    except MalformedEntry:
        raise
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise MalformedEntry(f"{type(e).__name__}: {e}") from e
    raise MalformedEntry(f"unknown type {kind!r}")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def _load(raw: bytes) -> Any:
    return json.loads(raw)


def _author(author: AuthorRecord | None) -> list[str] | None:
    return None if author is None else [author.id, author.name, author.color]


def _read_author(value: Any) -> AuthorRecord | None:
    if value is None:
        return None
    author_id, name, color = _list(value, 3)
    return AuthorRecord(_str(author_id), _str(name), _str(color))


def _edit(value: Any) -> EditNote:
    peer, author, name, added, removed, first, last, kind = _list(value, 8)
    if not 0 < _pos(first) <= _pos(last):
        raise MalformedEntry("bad edit revisions")
    return EditNote(
        _nonneg(peer),
        _read_author(author),
        _opt_str(name),
        _nonneg(added),
        _nonneg(removed),
        first,
        last,
        _str(kind),
    )


def _list(value: Any, length: int | None = None) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise MalformedEntry("bad shape")
    return value


def _int(raw: bytes) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise MalformedEntry("bad number")
    return int(raw)


def _nonneg(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedEntry("bad number")
    return value


def _pos(value: Any) -> int:
    if _nonneg(value) == 0:
        raise MalformedEntry("bad number")
    return int(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedEntry("bad text")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)
