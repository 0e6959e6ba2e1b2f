"""The narrow seams the domain needs from storage; ``swell.storage`` fits them structurally."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from swell.records import (
    ANONYMOUS,
    ActivityRecord,
    AuthorRecord,
    Change,
    Chunk,
    DocumentRecord,
    JournalSlice,
    NewActivity,
    NewestRevision,
    ReadMarkRecord,
    StoredHistory,
    StoredState,
    VersionRecord,
)

__all__ = [
    "ANONYMOUS",
    "ActivityLog",
    "ActivityRecord",
    "AuthorDirectory",
    "AuthorRecord",
    "Change",
    "Chunk",
    "DocumentCatalog",
    "DocumentRecord",
    "DocumentStore",
    "JournalSlice",
    "NewActivity",
    "NewestRevision",
    "ReadMarkRecord",
    "ReadMarkStore",
    "StoredHistory",
    "StoredState",
    "VersionRecord",
    "VersionStore",
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
    """The CRDT content: a journal of revisions, folded by compaction into a snapshot (what
    editing loads) and history chunks (what revisions are rebuilt from)."""

    async def load_state(self, doc_id: str) -> StoredState: ...

    async def append_changes(
        self,
        doc_id: str,
        changes: Sequence[Change],
        bindings: dict[int, str],
        first_rev: int | None = None,
    ) -> int:
        """Commit the changes in one transaction as the document's next revisions (gapless,
        in commit order, across processes) with the new client-id ``bindings`` (client id ->
        author id, ``ANONYMOUS`` for none); returns the last revision. ``first_rev``: the
        number the caller expects the first to get (a store whose process is the only writer
        may use it instead of locking the document row)."""
        ...

    async def client_authors(self, doc_id: str, clients: Sequence[int]) -> dict[int, str]:
        """The author each of ``clients`` is bound to (``ANONYMOUS`` for none); clients
        never used are absent."""
        ...

    async def load_log(self, doc_id: str, upto_rev: int) -> JournalSlice:
        """What a compaction up to ``upto_rev`` folds."""
        ...

    async def compact(
        self,
        doc_id: str,
        state: bytes,
        upto_rev: int,
        chunk: Chunk | None,
        *,
        base_rev: int | None = None,
    ) -> None:
        """Atomically write the snapshot and the history chunk, and delete the journal rows
        they cover. ``base_rev`` (the slice's ``snapshot_rev``) fences: if the newest snapshot
        moved since the slice was read, raise MaintenanceRaced and change nothing."""
        ...

    async def import_history(
        self, doc_id: str, snapshot: bytes, chunks: Sequence[Chunk], rev: int
    ) -> None:
        """Give a new, empty document a whole history at once (an imported file)."""
        ...

    async def replace_history(
        self, doc_id: str, upto_rev: int, chunk: Chunk, *, expected_chunks: int | None = None
    ) -> None:
        """Atomically replace every history chunk ending at or before ``upto_rev`` with
        ``chunk`` (old history folded away). ``expected_chunks`` fences: if that many chunks no
        longer end there, raise MaintenanceRaced and change nothing."""
        ...

    async def load_history(
        self, doc_id: str, after_rev: int = 0, upto_rev: int | None = None, *, data: bool = True
    ) -> StoredHistory:
        """The chunks and journal rows holding the revisions after ``after_rev`` up to
        ``upto_rev`` (None: the newest), in order. Without ``data``, only the index (chunks'
        and rows' ``data`` empty)."""
        ...

    async def load_newest(self, doc_id: str) -> NewestRevision:
        """The newest committed revision without reading any update or history blob."""
        ...

    async def load_chunk_index(self, doc_id: str, to_rev: int) -> bytes:
        """The packed revision index of the history chunk ending at ``to_rev`` (b"": none)."""
        ...


class ActivityLog(Protocol):
    """Stored activity events, numbered per document."""

    async def append_activities(self, entries: Sequence[NewActivity]) -> list[ActivityRecord]:
        """Store the entries (of one or several documents) in one transaction, each document's
        numbered consecutively after its newest, in the order given, across processes. Returns
        the stored records in that order, each ``author`` with its current name and colour;
        entries of documents that no longer exist are left out. Any other failure raises and
        stores none of them."""
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

    async def get_authors(self, author_ids: Iterable[str]) -> dict[str, AuthorRecord]:
        """Current names and colours of the given authors (unknown ids are left out)."""
        ...


class VersionStore(Protocol):
    """Named revisions."""

    async def create_version(
        self, doc_id: str, name: str, rev: int, author_id: str | None
    ) -> VersionRecord: ...

    async def list_versions(self, doc_id: str) -> list[VersionRecord]:
        """Newest revision first."""
        ...


class ReadMarkStore(Protocol):
    """Per author and document, the newest revision the author has seen."""

    async def mark_read(self, author_id: str, doc_id: str, rev: int) -> ReadMarkRecord | None:
        """Moves the mark to ``rev`` unless it is already further; returns the mark (None:
        the document or the author no longer exists)."""
        ...

    async def read_marks(self, author_id: str, doc_ids: Iterable[str]) -> dict[str, ReadMarkRecord]:
        """The author's marks on those documents (documents never read are left out)."""
        ...
