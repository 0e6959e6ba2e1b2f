"""Plain records that cross the domain/storage seam (no behaviour, no imports of either)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

ANONYMOUS = ""
"""The author a Yjs client id is bound to when an anonymous connection used it first."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: str
    title: str
    edit_token_hash: bytes
    view_token_hash: bytes
    created_at: datetime
    updated_at: datetime
    rev: int = 0  # the newest revision


@dataclass(frozen=True, slots=True)
class AuthorRecord:
    """Who a change is attributed to, as shown: the current name and colour."""

    id: str
    name: str
    color: str


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a room loads: the newest snapshot and the journal's updates after it."""

    snapshot: bytes | None
    updates: Sequence[bytes]
    rev: int  # the newest revision
    updates_since_snapshot: int


@dataclass(frozen=True, slots=True)
class Change:
    """One revision to commit: what it changed (its transaction's update), by whom, and the
    Yjs ids it inserted and deleted (``collab.revisions`` encodes them)."""

    data: bytes
    author_id: str | None
    ids: bytes
    added: int = 0
    removed: int = 0
    kind: str = "edit"


@dataclass(frozen=True, slots=True)
class Revision:
    """A committed revision's metadata (what the history lists)."""

    rev: int
    at: datetime
    author_id: str | None
    kind: str
    added: int
    removed: int


@dataclass(frozen=True, slots=True)
class NewestRevision:
    """The journal's newest revision; with an empty journal, None and the revision the newest
    history chunk ends at (``folded_to``; 0 for none), whose metadata is in its packed index."""

    revision: Revision | None
    folded_to: int = 0


@dataclass(frozen=True, slots=True)
class JournalRow:
    """A revision still in the journal, with its update and ids."""

    revision: Revision
    data: bytes
    ids: bytes


@dataclass(frozen=True, slots=True)
class Chunk:
    """Revisions ``from_rev``..``to_rev`` folded: merged update, packed index, checkpoint."""

    from_rev: int
    to_rev: int
    data: bytes
    revisions: bytes
    checkpoint: bytes


@dataclass(frozen=True, slots=True)
class JournalSlice:
    """What a compaction folds: the snapshot and the journal rows up to a revision; and, to
    know the state after them, the last stored checkpoint (packed; None before the first), the
    revision it is at (0 for none), and the packed revision indexes of the chunks after it."""

    snapshot: bytes | None
    rows: Sequence[JournalRow]
    checkpoint: bytes | None
    checkpoint_rev: int = 0
    between: Sequence[bytes] = ()
    snapshot_rev: int = 0  # what ``snapshot`` covers: the fencing token of the compaction


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """Everything needed to rebuild revisions up to ``rows[-1]``: chunks in order, then the
    journal rows after the last chunk."""

    chunks: Sequence[Chunk]
    rows: Sequence[JournalRow]


class NewActivity(Protocol):
    """An activity event to store (the recorder's entries fit it; the log stores them)."""

    @property
    def doc_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def author_id(self) -> str | None: ...
    @property
    def from_rev(self) -> int | None: ...
    @property
    def to_rev(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    document_id: str
    seq: int
    at: datetime
    kind: str
    user: str
    summary: str
    author: AuthorRecord | None = None
    from_rev: int | None = None
    to_rev: int | None = None


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A named revision."""

    id: int
    document_id: str
    name: str
    rev: int
    author_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReadMarkRecord:
    """The newest revision an author has seen of a document, and when they saw it."""

    document_id: str
    rev: int
    read_at: datetime


class MaintenanceRaced(RuntimeError):
    """Another compaction or fold (another process's, most likely) changed what this one read
    before it could write: it wrote and deleted nothing."""
