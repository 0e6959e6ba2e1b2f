"""Moving a document with its past between servers: export its whole history as a file,
create a document from such a file."""

from __future__ import annotations

import asyncio
from typing import Any

from swell.collab.authors import Authors
from swell.collab.documents import CreatedDocument, Documents
from swell.collab.history_file import (
    HistoryFile,
    InvalidHistoryFile,
    build_import,
    decode_history_file,
    encode_history_file,
    remap_authors,
    stored_revisions,
)
from swell.collab.ports import AuthorDirectory, DocumentStore
from swell.collab.registry import RoomRegistry
from swell.records import AuthorRecord


class HistoryTransfer:
    def __init__(
        self,
        store: DocumentStore,
        rooms: RoomRegistry,
        documents: Documents,
        authors: Authors,
        directory: AuthorDirectory,
        *,
        max_document_bytes: int,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._documents = documents
        self._authors = authors
        self._directory = directory
        self._max_bytes = max_document_bytes

    async def export(self, doc_id: str, title: str) -> bytes:
        """Everything committed so far, as the file's JSON bytes (an open room is flushed
        first). The CPU work (unpacking, base64, JSON) runs off the loop."""
        room = self._rooms.get(doc_id)
        if room is not None:
            await room.flush()
        stored = await self._store.load_history(doc_id)
        revisions = await asyncio.to_thread(stored_revisions, stored)
        known = await self._directory.get_authors(
            {r.revision.author_id for r in revisions if r.revision.author_id}
        )
        return await asyncio.to_thread(encode_history_file, title, stored, revisions, known)

    async def import_file(
        self, body: Any, creator: AuthorRecord | None, user: str | None
    ) -> CreatedDocument:
        """A new document holding the file's history. Its authors become authors here (new
        ids, no secret anyone holds: nobody can act as them). Raises InvalidHistoryFile."""
        # Checking and decoding a file of up to --max-import-bytes runs off the loop.
        file: HistoryFile = await asyncio.to_thread(decode_history_file, body)
        # The CRDT content is checked before anything is created (off the loop).
        checked = await asyncio.to_thread(build_import, file)
        if len(checked.snapshot) > self._max_bytes:
            raise InvalidHistoryFile(f"the document is larger than {self._max_bytes} bytes")
        author_ids: dict[str, str] = {}
        for imported in file.authors.values():
            created = await self._authors.create(imported.name, imported.color)
            author_ids[imported.id] = created.record.id
        built = await asyncio.to_thread(remap_authors, checked, author_ids)
        created_doc = await self._documents.create(file.title, user, creator)
        try:
            await self._store.import_history(
                created_doc.record.id, built.snapshot, built.chunks, built.rev
            )
        except Exception:
            await self._documents.delete(created_doc.record.id, created_doc.edit_token)
            raise
        return created_doc
