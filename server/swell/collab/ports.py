"""The narrow seams the domain needs from storage; ``swell.storage`` fits them structurally."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from swell.records import (
    ActivityRecord,
    AuthorRecord,
    DocumentRecord,
    PendingUpdate,
    StoredState,
)

__all__ = [
    "ActivityLog",
    "ActivityRecord",
    "AuthorDirectory",
    "AuthorRecord",
    "DocumentCatalog",
    "DocumentRecord",
    "DocumentStore",
    "PendingUpdate",
    "StoredState",
]


class DocumentCatalog(Protocol):
    """Document metadata: who may open what, and its title."""

    async def create_document(
        self,
        doc_id: str,
        title: str,
        edit_token_hash: bytes,
        view_token_hash: bytes,
        created_by: str | None = None,
    ) -> DocumentRecord:
        """``created_by``: the id of the author who created it (None: anonymous)."""
        ...

    async def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    async def rename_document(self, doc_id: str, title: str) -> DocumentRecord | None: ...

    async def delete_document(self, doc_id: str) -> bool: ...

    async def rotate_token(self, doc_id: str, role: str, token_hash: bytes) -> bool:
        """Replace the token hash of ``role`` (``"edit"`` or ``"view"``); False if the
        document does not exist."""
        ...


class DocumentStore(Protocol):
    """The CRDT content: an append-only update journal folded into snapshots."""

    async def load_state(self, doc_id: str) -> StoredState: ...

    async def append_updates(self, doc_id: str, updates: Sequence[PendingUpdate]) -> int:
        """Commit the updates in one transaction; returns the id of the last one."""
        ...

    async def load_log(self, doc_id: str, upto_update_id: int) -> StoredState:
        """The snapshot and log rows a compaction up to ``upto_update_id`` would replace."""
        ...

    async def compact(self, doc_id: str, state: bytes, upto_update_id: int) -> None:
        """Atomically write the snapshot and delete the log rows it covers."""
        ...


class ActivityLog(Protocol):
    """Stored activity events, numbered per document."""

    async def append_activity(
        self,
        doc_id: str,
        kind: str,
        user: str,
        summary: str,
        *,
        author_id: str | None = None,
        from_rev: int | None = None,
        to_rev: int | None = None,
    ) -> ActivityRecord:
        """The stored event; its ``author`` is the author's current name and colour."""
        ...

    async def list_activity(
        self, doc_id: str, after_seq: int | None, limit: int
    ) -> tuple[list[ActivityRecord], int, int]:
        """Events after ``after_seq`` (or the newest ``limit``), the oldest and newest seq kept
        (0 and 0 when there are none)."""
        ...


class AuthorDirectory(Protocol):
    """Authors, found by the hash of their secret (the secret itself is never stored)."""

    async def create_author(
        self, author_id: str, name: str, color: str, secret_hash: bytes
    ) -> AuthorRecord: ...

    async def find_author(self, secret_hash: bytes) -> AuthorRecord | None: ...

    async def update_author(
        self, author_id: str, *, name: str | None = None, color: str | None = None
    ) -> AuthorRecord | None:
        """Change what is given; None if there is no such author."""
        ...
