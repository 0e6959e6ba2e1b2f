"""Plain records that cross the domain/storage seam (no behaviour, no imports of either)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: str
    title: str
    edit_token_hash: bytes
    view_token_hash: bytes
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a room loads: the newest snapshot and the log rows after it."""

    snapshot: bytes | None
    updates: Sequence[bytes]
    last_update_id: int
    updates_since_snapshot: int


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    data: bytes
    author: str | None


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    document_id: str
    seq: int
    at: datetime
    kind: str
    user: str
    summary: str
