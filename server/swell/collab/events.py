"""What happens in a room, in the past tense, for whoever listens (the viewers' feed)."""

from __future__ import annotations

from dataclasses import dataclass

from swell.collab.peer import Role


@dataclass(frozen=True, slots=True)
class PeerJoined:
    doc_id: str
    peer_id: int
    role: Role


@dataclass(frozen=True, slots=True)
class PeerLeft:
    doc_id: str
    peer_id: int
    role: Role
    name: str | None


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    doc_id: str


@dataclass(frozen=True, slots=True)
class DocumentEdited:
    """Committed updates of one peer, with how many characters of the rich text they added
    and removed (text inside removed blocks is not counted: it is gone before we see it)."""

    doc_id: str
    peer_id: int
    author: str | None
    added: int
    removed: int


@dataclass(frozen=True, slots=True)
class DocumentCreated:
    doc_id: str
    user: str | None


@dataclass(frozen=True, slots=True)
class DocumentRenamed:
    doc_id: str
    title: str
    user: str | None


@dataclass(frozen=True, slots=True)
class DocumentDeleted:
    doc_id: str


@dataclass(frozen=True, slots=True)
class RoomUnloaded:
    doc_id: str


RoomEvent = (
    PeerJoined
    | PeerLeft
    | PresenceChanged
    | DocumentEdited
    | DocumentCreated
    | DocumentRenamed
    | DocumentDeleted
    | RoomUnloaded
)
