"""Documents and their capability tokens: create, authorize, rename, delete."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from swell.collab.bus import EventBus
from swell.collab.events import (
    DocumentCreated,
    DocumentDeleted,
    DocumentRenamed,
    RoomEvent,
    TokenRotated,
)
from swell.collab.names import clean_text
from swell.collab.peer import CloseCode, Role
from swell.collab.ports import AuthorRecord, DocumentCatalog, DocumentRecord
from swell.collab.registry import RoomRegistry
from swell.protocol.messages import encode_title

TOKEN_BYTES = 24  # 192 bits
DOC_ID_BYTES = 12
MAX_TITLE = 200
DEFAULT_TITLE = "Untitled"


class DocumentNotFound(LookupError):
    pass


class InvalidToken(PermissionError):
    pass


class ReadOnly(PermissionError):
    """A view token used for an edit-only call."""


@dataclass(frozen=True, slots=True)
class CreatedDocument:
    record: DocumentRecord
    edit_token: str
    view_token: str


def hash_token(token: str) -> bytes:
    """Tokens carry 192 random bits, so one SHA-256 is enough; only this hash is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def clean_title(title: str) -> str:
    """NFC, no control characters or lone surrogates (no database stores NUL or a lone
    surrogate), whitespace trimmed and collapsed; empty becomes the default, long is an error
    upstream. Format characters stay: emoji sequences need the zero-width joiner."""
    return clean_text(title, lambda category: category == "Cc") or DEFAULT_TITLE


class Documents:
    def __init__(
        self, catalog: DocumentCatalog, rooms: RoomRegistry, bus: EventBus | None = None
    ) -> None:
        self._catalog = catalog
        self._rooms = rooms
        self._bus = bus or EventBus()
        self.rotations = 0
        """Rotations so far, process-wide: a socket reads it before its token is checked and
        again once it joined its room; a change means its token may have been replaced in
        between (it is closed with 4401 and reconnects: harmless if its own token still works)."""

    def listen(self, listener: Callable[[RoomEvent], None]) -> None:
        self._bus.subscribe(listener)

    async def create(
        self, title: str, user: str | None = None, author: AuthorRecord | None = None
    ) -> CreatedDocument:
        """``author``: who creates it (recorded with it); ``user``: the name an anonymous
        caller gave."""
        edit_token = secrets.token_urlsafe(TOKEN_BYTES)
        view_token = secrets.token_urlsafe(TOKEN_BYTES)
        record = await self._catalog.create_document(
            secrets.token_urlsafe(DOC_ID_BYTES),
            clean_title(title),
            hash_token(edit_token),
            hash_token(view_token),
            created_by=author.id if author is not None else None,
        )
        self._emit(DocumentCreated(record.id, _name(user, author), author))
        return CreatedDocument(record, edit_token, view_token)

    def with_newest_rev(self, record: DocumentRecord) -> DocumentRecord:
        """The record with the newest committed revision: a room knows it before the document
        row does (on SQLite the row's ``rev`` moves every few seconds, and when the room
        unloads)."""
        rev = self._rooms.newest_rev(record.id)
        if rev is None or rev <= record.rev:
            return record
        return replace(record, rev=rev)

    async def authorize(self, doc_id: str, token: str | None) -> tuple[DocumentRecord, Role]:
        """The document and the role the token grants; raises DocumentNotFound/InvalidToken."""
        record = await self._catalog.get_document(doc_id) if _plausible_id(doc_id) else None
        if record is None:
            raise DocumentNotFound(doc_id)
        if not token:
            raise InvalidToken(doc_id)
        digest = hash_token(token)
        # Compare against both hashes every time so timing does not tell which one matched.
        is_edit = hmac.compare_digest(digest, record.edit_token_hash)
        is_view = hmac.compare_digest(digest, record.view_token_hash)
        if is_edit:
            return record, Role.EDIT
        if is_view:
            return record, Role.VIEW
        raise InvalidToken(doc_id)

    async def authorize_edit(self, doc_id: str, token: str | None) -> DocumentRecord:
        record, role = await self.authorize(doc_id, token)
        if role is not Role.EDIT:
            raise ReadOnly(doc_id)
        return record

    async def rename(
        self,
        doc_id: str,
        token: str | None,
        title: str,
        user: str | None = None,
        author: AuthorRecord | None = None,
    ) -> DocumentRecord:
        await self.authorize_edit(doc_id, token)
        record = await self._catalog.rename_document(doc_id, clean_title(title))
        if record is None:
            raise DocumentNotFound(doc_id)
        room = self._rooms.get(doc_id)
        if room is not None:
            room.send_extension(encode_title(json.dumps({"title": record.title}).encode()))
        self._emit(DocumentRenamed(doc_id, record.title, _name(user, author), author))
        return record

    async def delete(self, doc_id: str, token: str | None) -> None:
        await self.authorize_edit(doc_id, token)
        deleted = await self._catalog.delete_document(doc_id)
        await self._rooms.evict(doc_id)
        if not deleted:
            raise DocumentNotFound(doc_id)
        self._emit(DocumentDeleted(doc_id))

    async def rotate_token(self, doc_id: str, token: str | None, role: Role) -> str:
        """A new token for ``role`` (edit token only). Once stored, the old one fails every
        lookup; the sockets opened with it are closed (4401) and streams told to end."""
        await self.authorize_edit(doc_id, token)
        new_token = secrets.token_urlsafe(TOKEN_BYTES)
        if not await self._catalog.rotate_token(doc_id, role.value, hash_token(new_token)):
            raise DocumentNotFound(doc_id)
        self.rotations += 1
        room = self._rooms.get(doc_id)
        if room is not None:
            room.close_peers(CloseCode.BAD_TOKEN, reason="the token was replaced", role=role)
        self._emit(TokenRotated(doc_id, role))
        return new_token

    def _emit(self, event: RoomEvent) -> None:
        self._bus.publish(event)


def _name(user: str | None, author: AuthorRecord | None) -> str | None:
    """Who did it, as activity says: the author's name, else what an anonymous caller gave."""
    return author.name if author is not None else user


def _plausible_id(doc_id: str) -> bool:
    return 0 < len(doc_id) <= 32


def isoformat(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
