"""Every revision of one document in memory: its metadata and ids, and the state right after
any of them (a checkpoint, computed from the nearest stored or remembered one).

Built from the stored index (chunks' packed revisions and the journal's rows, without update
data) and extended as revisions are added; pure, no I/O."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from swell.collab.revisions import (
    Checkpoint,
    CorruptHistory,
    IndexedRevision,
    Ranges,
    decode_ids,
    union,
    unpack_blob,
    unpack_revisions,
)
from swell.records import Revision, StoredHistory

REMEMBER_EVERY = 256
"""Checkpoints computed on the way to a revision are kept this often, so rendering any
revision advances through at most this many revisions' ids from a known state."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One author's burst of consecutive revisions (what the history lists)."""

    from_rev: int
    to_rev: int
    author_id: str | None
    kind: str
    added: int
    removed: int
    started_at: float  # seconds since the epoch
    ended_at: float


class RevisionIndex:
    def __init__(self) -> None:
        self.revisions: list[Revision] = []  # revisions[i].rev == first + i
        self._ids: list[bytes] = []
        self._first = 1
        self._checkpoints: dict[int, bytes] = {}  # rev -> encoded checkpoint after it
        self._checkpoint_revs: list[int] = []  # sorted keys of _checkpoints

    @property
    def first(self) -> int:
        """The oldest revision held (above 1 once ``--history-keep-days`` folded older ones)."""
        return self._first

    @property
    def newest(self) -> int:
        return self._first + len(self.revisions) - 1 if self.revisions else self._first - 1

    def extend(self, history: StoredHistory) -> None:
        """Add what ``history`` holds after ``newest`` (it may overlap what is known)."""
        for chunk in history.chunks:
            if chunk.to_rev > self.newest:
                self._add_run(unpack_revisions(chunk.revisions))
            if chunk.checkpoint:
                self._remember(chunk.to_rev, unpack_blob(chunk.checkpoint))
        for row in history.rows:
            self._add(row.revision, row.ids)

    def _add_run(self, items: Sequence[IndexedRevision]) -> None:
        """Consecutive revisions (a chunk's), those after ``newest`` added at once."""
        if self.revisions:
            items = items[max(0, self.newest + 1 - items[0].revision.rev) :] if items else items
        if not items:
            return
        if self.revisions and items[0].revision.rev != self.newest + 1:
            raise CorruptHistory(f"revision {items[0].revision.rev} follows {self.newest}")
        if not self.revisions:
            self._first = items[0].revision.rev
        self.revisions.extend(item.revision for item in items)
        self._ids.extend(item.ids for item in items)

    def _add(self, revision: Revision, ids: bytes) -> None:
        if revision.rev <= self.newest:
            return
        if not self.revisions:
            self._first = revision.rev
        elif revision.rev != self.newest + 1:
            raise CorruptHistory(f"revision {revision.rev} follows {self.newest}")
        self.revisions.append(revision)
        self._ids.append(ids)

    def _remember(self, rev: int, checkpoint: bytes) -> None:
        if rev not in self._checkpoints:
            self._checkpoints[rev] = checkpoint
            self._checkpoint_revs.insert(bisect_right(self._checkpoint_revs, rev), rev)

    def revision(self, rev: int) -> Revision:
        return self.revisions[rev - self._first]

    def ids(self, rev: int) -> bytes:
        return self._ids[rev - self._first]

    def has(self, rev: int) -> bool:
        return self._first <= rev <= self.newest

    def checkpoint(self, rev: int) -> bytes:
        """The encoded ``pycrdt.Snapshot`` of the document right after ``rev`` (0: empty)."""
        return self.state(rev)[1]

    def state(self, rev: int) -> tuple[Checkpoint, bytes]:
        """The state right after ``rev``, decoded and encoded (one decode, not two)."""
        if rev in self._checkpoints:
            encoded = self._checkpoints[rev]
            return Checkpoint.decode(encoded), encoded
        i = bisect_right(self._checkpoint_revs, rev)
        if i:
            start = self._checkpoint_revs[i - 1]
            state = Checkpoint.decode(self._checkpoints[start])
        else:
            start, state = self._first - 1, Checkpoint.empty()
        for r in range(start + 1, rev + 1):
            state.advance(decode_ids(self.ids(r)))
            if (r - start) % REMEMBER_EVERY == 0 and r != rev:
                self._remember(r, state.encode())
        encoded = state.encode()
        self._remember(rev, encoded)
        return state, encoded

    def changed_after(self, rev: int, upto: int) -> tuple[Ranges, Ranges]:
        """Everything inserted and deleted by the revisions after ``rev`` up to ``upto``."""
        inserted: Ranges = {}
        deleted: Ranges = {}
        for r in range(max(rev + 1, self._first), upto + 1):
            ids = decode_ids(self.ids(r))
            union(inserted, ids.inserted)
            union(deleted, ids.deleted)
        return inserted, deleted


def group_entries(
    revisions: Sequence[Revision], *, quiet_seconds: float, longest_seconds: float
) -> list[Entry]:
    """Bursts, oldest first: consecutive revisions of one author and kind, split where the
    author was quiet longer than ``quiet_seconds`` or the burst passed ``longest_seconds``
    (the activity feed's rule, so both describe the same bursts). Each revision's time is
    read once: 50,000 revisions are grouped on the first history request."""
    entries: list[Entry] = []
    if not revisions:
        return entries
    head = revisions[0]
    started = ended = head.at.timestamp()
    added, removed, last_rev = head.added, head.removed, head.rev
    for revision in revisions[1:]:
        at = revision.at.timestamp()
        if (
            revision.author_id != head.author_id
            or revision.kind != head.kind
            or revision.kind == "restore"
            or at - ended > quiet_seconds
            or ended - started >= longest_seconds
        ):
            entries.append(
                Entry(head.rev, last_rev, head.author_id, head.kind, added, removed, started, ended)
            )
            head, started, added, removed = revision, at, 0, 0
        ended = at
        added += revision.added
        removed += revision.removed
        last_rev = revision.rev
    entries.append(
        Entry(head.rev, last_rev, head.author_id, head.kind, added, removed, started, ended)
    )
    return entries
