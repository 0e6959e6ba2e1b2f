"""What happens in a room, in the past tense, carrying what its consumers need (the viewers'
feed, the activity recorder), so that none of them reads a room's internals."""

from __future__ import annotations

from dataclasses import dataclass

from swell.collab.peer import Role
from swell.records import ActivityRecord, AuthorRecord


@dataclass(frozen=True, slots=True)
class Participant:
    """One socket as presence shows it. ``role`` is what its token grants, never what its
    awareness claims; ``name`` is None until its awareness announced a user (cleaned by the
    name rule), ``color`` is ``#rrggbb`` or None. A socket that acts as an ``author`` shows
    the author's name and colour, whatever its awareness says."""

    peer_id: int
    role: Role
    name: str | None
    color: str | None
    author: AuthorRecord | None = None


@dataclass(frozen=True, slots=True)
class PeerJoined:
    """``remote``: a socket of another process (presence shows it; activity is its
    process's to record)."""

    doc_id: str
    peer: Participant
    remote: bool = False


@dataclass(frozen=True, slots=True)
class PeerChanged:
    """A socket's name or colour changed (cursor moves are not events)."""

    doc_id: str
    peer: Participant
    remote: bool = False


@dataclass(frozen=True, slots=True)
class PeerLeft:
    doc_id: str
    peer: Participant
    remote: bool = False


@dataclass(frozen=True, slots=True)
class DocumentEdited:
    """Committed revisions ``from_rev``..``to_rev`` of one peer (or of the server, for a
    restore: ``peer_id`` 0), with how many characters of the rich text they added and removed
    (text inside removed blocks is not counted: it is gone before we see it). ``author`` is
    the connection's author (None: anonymous); ``name`` what the peer's awareness calls it."""

    doc_id: str
    peer_id: int
    author: AuthorRecord | None
    name: str | None
    added: int
    removed: int
    from_rev: int
    to_rev: int
    kind: str = "edit"
    remote: bool = False  # committed by another process (recorded there)


@dataclass(frozen=True, slots=True)
class DocumentCreated:
    """``user``: the creator's name (the author's, else the one the request gave)."""

    doc_id: str
    user: str | None
    author: AuthorRecord | None = None


@dataclass(frozen=True, slots=True)
class DocumentRenamed:
    doc_id: str
    title: str
    user: str | None
    author: AuthorRecord | None = None


@dataclass(frozen=True, slots=True)
class DocumentDeleted:
    doc_id: str


@dataclass(frozen=True, slots=True)
class TokenRotated:
    """The token of ``role`` was replaced: whatever was opened with the old one must end."""

    doc_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class RoomFailed:
    """The room stopped (a stage of a batch raised): its sockets were closed with 1011 and
    nothing it applied after its last commit was shown to anyone. Streams bound to it end."""

    doc_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoomUnloaded:
    doc_id: str


@dataclass(frozen=True, slots=True)
class ActivityRelayed:
    """An activity record another process stored, for this process's event streams."""

    doc_id: str
    record: ActivityRecord


@dataclass(frozen=True, slots=True)
class AuthorChanged:
    """An author renamed themselves or changed colour: what shows them follows (presence of
    every socket and stream acting as them). Not tied to one document."""

    author: AuthorRecord


RoomEvent = (
    PeerJoined
    | PeerChanged
    | PeerLeft
    | DocumentEdited
    | DocumentCreated
    | DocumentRenamed
    | DocumentDeleted
    | TokenRotated
    | RoomFailed
    | RoomUnloaded
    | AuthorChanged
    | ActivityRelayed
)
