"""A document's whole history as one JSON file, and back: how a document moves between
servers with its past (Etherpad's ``.etherpad`` export is the model).

Format ``swell-history`` version 1 (documented in docs/protocol.md)::

    {"format": "swell-history", "version": 1, "title": str, "exported_at": iso,
     "authors": [{"id", "name", "color"}],
     "revisions": [{"rev", "at", "author": id|null, "kind", "added", "removed", "ids": b64}],
     "updates": [{"from_rev", "to_rev", "update": b64}]}

``updates`` hold every revision's changes in order: a Yjs v1 update per revision where the
server still has it on its own, else one merged update per group of revisions (what compaction
folded). ``ids`` are the Yjs ids each revision inserted and deleted (collab/revisions.py).

Importing trusts nothing in the file: every field is checked, revisions must be consecutive and
the updates must cover them exactly, every update must be a valid Yjs update, and the state the
updates build must be the state the revisions' ids describe; checkpoints are recomputed."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc, XmlFragment

from swell.collab.history_docs import doc_at
from swell.collab.revisions import (
    CHECKPOINT_EVERY,
    KINDS,
    Checkpoint,
    CorruptHistory,
    IndexedRevision,
    decode_ids,
    pack_blob,
    pack_revisions,
    unpack_blob,
    unpack_revisions,
)
from swell.protocol.messages import decode_state_vector
from swell.records import AuthorRecord, Chunk, Revision, StoredHistory

FORMAT = "swell-history"
VERSION = 1
MAX_REVISIONS = 2_000_000
_AUTHOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class InvalidHistoryFile(ValueError):
    """The file is not a history this server can import; the message says why."""


@dataclass(frozen=True, slots=True)
class ImportedAuthor:
    id: str
    name: str
    color: str


@dataclass(frozen=True, slots=True)
class HistoryFile:
    title: str
    authors: dict[str, ImportedAuthor]
    revisions: list[IndexedRevision]
    updates: list[tuple[int, int, bytes]]  # (from_rev, to_rev, update)


def stored_revisions(stored: StoredHistory) -> list[IndexedRevision]:
    """Every revision ``stored`` holds, in order (the packed indexes unpacked)."""
    revisions: list[IndexedRevision] = []
    for chunk in stored.chunks:
        revisions += unpack_revisions(chunk.revisions)
    revisions += [IndexedRevision(row.revision, row.ids) for row in stored.rows]
    return revisions


def encode_history_file(
    title: str,
    stored: StoredHistory,
    revisions: list[IndexedRevision],
    authors: dict[str, AuthorRecord],
) -> bytes:
    """The file as UTF-8 JSON (``revisions``: ``stored_revisions(stored)``). CPU-bound for a
    long history: run it off the event loop."""
    updates = [_update(c.from_rev, c.to_rev, unpack_blob(c.data)) for c in stored.chunks]
    updates += [_update(r.revision.rev, r.revision.rev, r.data) for r in stored.rows]
    used = {r.revision.author_id for r in revisions if r.revision.author_id}
    file = {
        "format": FORMAT,
        "version": VERSION,
        "title": title,
        "exported_at": _iso(datetime.now(UTC)),
        "authors": [
            {"id": a.id, "name": a.name, "color": a.color}
            for a in (authors[i] for i in sorted(used) if i in authors)
        ],
        "revisions": [
            {
                "rev": r.revision.rev,
                "at": _iso(r.revision.at),
                "author": r.revision.author_id,
                "kind": r.revision.kind,
                "added": r.revision.added,
                "removed": r.revision.removed,
                "ids": base64.b64encode(r.ids).decode("ascii"),
            }
            for r in revisions
        ],
        "updates": updates,
    }
    return json.dumps(file, separators=(",", ":")).encode()


def _update(from_rev: int, to_rev: int, data: bytes) -> dict[str, Any]:
    return {"from_rev": from_rev, "to_rev": to_rev, "update": base64.b64encode(data).decode()}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- reading a file -----------------------------------------------------------------------


def decode_history_file(body: Any) -> HistoryFile:
    """Check the file's shape (not yet its CRDT content: ``build_import`` does that)."""
    if not isinstance(body, dict):
        raise InvalidHistoryFile("the history must be a JSON object")
    if body.get("format") != FORMAT or body.get("version") != VERSION:
        raise InvalidHistoryFile(f'format must be "{FORMAT}" version {VERSION}')
    title = body.get("title", "")
    if not isinstance(title, str):
        raise InvalidHistoryFile("title must be a string")
    authors: dict[str, ImportedAuthor] = {}
    for raw in _list(body, "authors"):
        author_id, name, color = _field(raw, "id", str), _field(raw, "name", str), raw.get("color")
        if not _AUTHOR_ID.match(author_id):
            raise InvalidHistoryFile("an author id is malformed")
        if not isinstance(color, str) or not _COLOR.match(color):
            raise InvalidHistoryFile("an author colour is not #rrggbb")
        authors[author_id] = ImportedAuthor(author_id, name, color.lower())
    revisions: list[IndexedRevision] = []
    raw_revisions = _list(body, "revisions")
    if not raw_revisions or len(raw_revisions) > MAX_REVISIONS:
        raise InvalidHistoryFile(f"there must be 1 to {MAX_REVISIONS} revisions")
    for raw in raw_revisions:
        rev = _whole(raw, "rev", low=1)
        if revisions and rev != revisions[-1].revision.rev + 1:
            raise InvalidHistoryFile("revisions must be consecutive")
        author = raw.get("author")
        if author is not None and author not in authors:
            raise InvalidHistoryFile(f"revision {rev} names an author the file does not list")
        kind = _field(raw, "kind", str)
        if kind not in KINDS:
            raise InvalidHistoryFile(f"revision {rev} has an unknown kind")
        ids = _b64(_field(raw, "ids", str))
        try:
            decode_ids(ids)
        except CorruptHistory:
            raise InvalidHistoryFile(f"revision {rev} has malformed ids") from None
        revision = Revision(
            rev, _time(_field(raw, "at", str)), author, kind,
            _whole(raw, "added", low=0), _whole(raw, "removed", low=0),
        )  # fmt: skip
        revisions.append(IndexedRevision(revision, ids))
    updates: list[tuple[int, int, bytes]] = []
    expected = revisions[0].revision.rev
    for raw in _list(body, "updates"):
        start, end = _whole(raw, "from_rev", low=1), _whole(raw, "to_rev", low=1)
        if start != expected or end < start:
            raise InvalidHistoryFile("updates must cover the revisions in order, without gaps")
        updates.append((start, end, _b64(_field(raw, "update", str))))
        expected = end + 1
    if expected != revisions[-1].revision.rev + 1:
        raise InvalidHistoryFile("updates must cover every revision")
    return HistoryFile(title, authors, revisions, updates)


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise InvalidHistoryFile(f"{key} must be a list")
    return value


def _field(raw: Any, key: str, kind: type) -> Any:
    if not isinstance(raw, dict) or not isinstance(raw.get(key), kind):
        raise InvalidHistoryFile(f"{key} must be a {kind.__name__}")
    return raw[key]


def _whole(raw: Any, key: str, *, low: int) -> int:
    value = _field(raw, key, int)
    if isinstance(value, bool) or value < low or value >= 2**53:
        raise InvalidHistoryFile(f"{key} is out of range")
    return int(value)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidHistoryFile("a base64 field is malformed") from None


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidHistoryFile("a time is not ISO 8601") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ImportedHistory:
    snapshot: bytes
    chunks: list[Chunk]
    rev: int


def build_import(file: HistoryFile) -> ImportedHistory:
    """In a worker thread: checkpoints recomputed, every update applied, and the result
    checked against the ids. Authors keep the file's ids (see ``remap_authors``)."""
    history: Doc[Any] = Doc(skip_gc=True)
    chunks: list[Chunk] = []
    by_rev = {r.revision.rev: r for r in file.revisions}
    checkpoint = Checkpoint.empty()
    stored_at = 0
    for start, end, update in file.updates:
        try:
            history.apply_update(update)
        except Exception:
            raise InvalidHistoryFile(f"the update of revisions {start}-{end} is invalid") from None
        items = [by_rev[r] for r in range(start, end + 1)]
        for item in items:
            checkpoint.advance(decode_ids(item.ids))
        keep = not chunks or end - stored_at >= CHECKPOINT_EVERY
        if keep:
            stored_at = end
        stored = pack_blob(checkpoint.encode()) if keep else b""
        chunks.append(Chunk(start, end, pack_blob(update), pack_revisions(items), stored))
    clocks = {c: k for c, k in decode_state_vector(history.get_state()).items() if k}
    if clocks != {c: k for c, k in checkpoint.clocks.items() if k}:
        raise InvalidHistoryFile("the updates do not hold what the revisions' ids say")
    now = doc_at(history, checkpoint.encode())
    collected: Doc[Any] = Doc()
    collected.apply_update(now.get_update())
    collected.get("default", type=XmlFragment)  # the rich text must be an XmlFragment
    return ImportedHistory(collected.get_update(), chunks, file.revisions[-1].revision.rev)


def remap_authors(imported: ImportedHistory, author_ids: dict[str, str]) -> ImportedHistory:
    """The same history with the file's author ids replaced by this server's."""
    chunks = [
        Chunk(
            c.from_rev,
            c.to_rev,
            c.data,
            pack_revisions([_remap(i, author_ids) for i in unpack_revisions(c.revisions)]),
            c.checkpoint,
        )
        for c in imported.chunks
    ]
    return ImportedHistory(imported.snapshot, chunks, imported.rev)


def _remap(item: IndexedRevision, author_ids: dict[str, str]) -> IndexedRevision:
    old = item.revision.author_id
    if old is None:
        return item
    revision = item.revision
    return IndexedRevision(
        Revision(
            revision.rev,
            revision.at,
            author_ids.get(old),
            revision.kind,
            revision.added,
            revision.removed,
        ),  # fmt: skip
        item.ids,
    )
