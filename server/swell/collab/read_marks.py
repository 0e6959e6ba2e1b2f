"""What changed since an author last looked (Wave's unread state): read marks, moved forward
by the pages as their reader catches up, and per-document summaries for the home page.

The newest revision is read from what is committed (the journal, else the history chunk that
holds it), not from the document row: on SQLite that row moves every few seconds, and a
summary that lagged would call a document read that was not."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from swell.collab.documents import DocumentNotFound
from swell.collab.ports import DocumentRecord, DocumentStore, ReadMarkRecord, ReadMarkStore
from swell.collab.revisions import unpack_revisions
from swell.records import AuthorRecord, Revision

NEWEST_KEPT = 1024


@dataclass(frozen=True, slots=True)
class ReadSummary:
    """One document as the home page lists it for an author."""

    record: DocumentRecord
    newest: Revision | None  # None: no revision yet
    mark: ReadMarkRecord | None  # None: never read (or an anonymous reader)

    @property
    def rev(self) -> int:
        return self.newest.rev if self.newest is not None else 0

    @property
    def unread(self) -> bool:
        """Changed since the reader's mark (a document never read is not "unread": the home
        page lists documents this browser opened, and the mark came with issue 11)."""
        return self.mark is not None and self.rev > self.mark.rev


class ReadMarks:
    def __init__(self, marks: ReadMarkStore, store: DocumentStore) -> None:
        self._marks = marks
        self._store = store
        self._chunk_newest: OrderedDict[tuple[str, int], Revision] = OrderedDict()

    async def newest(self, record: DocumentRecord) -> Revision | None:
        """The newest committed revision of the document (its number, time and author):
        the journal's newest row, else the last entry of the newest history chunk's index
        (read and unpacked off the loop once per chunk; a chunk may hold many thousand
        revisions)."""
        newest = await self._store.load_newest(record.id)
        if newest.revision is not None or not newest.folded_to:
            return newest.revision
        key = (record.id, newest.folded_to)
        found = self._chunk_newest.get(key)
        if found is None:
            packed = await self._store.load_chunk_index(record.id, newest.folded_to)
            if not packed:
                return None  # folded again meanwhile (retention): the next ask finds it
            found = (await asyncio.to_thread(unpack_revisions, packed))[-1].revision
            self._chunk_newest[key] = found
            while len(self._chunk_newest) > NEWEST_KEPT:
                self._chunk_newest.popitem(last=False)
        self._chunk_newest.move_to_end(key)
        return found

    async def mark(
        self, record: DocumentRecord, author: AuthorRecord, rev: int | None
    ) -> ReadMarkRecord:
        """Moves ``author``'s mark on the document to ``rev`` (at most the newest revision;
        None: the newest). A mark never moves back."""
        newest = await self.newest(record)
        top = newest.rev if newest is not None else 0
        mark = await self._marks.mark_read(
            author.id, record.id, top if rev is None else min(rev, top)
        )
        if mark is None:
            raise DocumentNotFound(record.id)  # deleted since it was authorized
        return mark

    async def mark_of(self, record: DocumentRecord, author: AuthorRecord) -> ReadMarkRecord | None:
        return (await self._marks.read_marks(author.id, [record.id])).get(record.id)

    async def summaries(
        self, records: Sequence[DocumentRecord], author: AuthorRecord | None
    ) -> list[ReadSummary]:
        marks = (
            await self._marks.read_marks(author.id, [r.id for r in records])
            if author is not None
            else {}
        )
        newest: dict[str, Revision | None] = {}  # a document asked about twice costs once
        for r in records:
            if r.id not in newest:
                newest[r.id] = await self.newest(r)
        return [ReadSummary(r, newest[r.id], marks.get(r.id)) for r in records]
