"""Authors: who changes are attributed to. A browser creates one once and keeps its secret;
the server keeps only the secret's hash, and finds the author by it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from swell.collab.bus import EventBus
from swell.collab.documents import hash_token
from swell.collab.events import AuthorChanged
from swell.collab.names import clean_color, clean_name, color_for
from swell.collab.ports import AuthorDirectory, AuthorRecord

SECRET_BYTES = 24  # 192 bits, like the documents' tokens
AUTHOR_ID_BYTES = 12


class InvalidAuthorField(ValueError):
    """A name that is empty after the name rule, or a colour that is not ``#rrggbb``."""


class UnknownAuthor(LookupError):
    """No author has this secret (or the author is gone)."""


@dataclass(frozen=True, slots=True)
class CreatedAuthor:
    record: AuthorRecord
    secret: str


def author_name(raw: object) -> str:
    """The name through the one name rule; raises InvalidAuthorField when nothing is left."""
    if not isinstance(raw, str):
        raise InvalidAuthorField("name must be a string")
    name = clean_name(raw, fallback="")
    if not name:
        raise InvalidAuthorField("name must not be empty")
    return name


def author_color(raw: object) -> str:
    color = clean_color(raw)
    if color is None:
        raise InvalidAuthorField('color must be "#rrggbb"')
    return color


class Authors:
    def __init__(self, directory: AuthorDirectory, bus: EventBus) -> None:
        self._directory = directory
        self._bus = bus

    async def create(self, name: object, color: object = None) -> CreatedAuthor:
        """A new author; without a colour, one derived from its id. Raises
        InvalidAuthorField."""
        cleaned = author_name(name)
        author_id = secrets.token_urlsafe(AUTHOR_ID_BYTES)
        chosen = color_for(author_id) if color is None else author_color(color)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        record = await self._directory.create_author(author_id, cleaned, chosen, hash_token(secret))
        return CreatedAuthor(record, secret)

    async def authenticate(self, secret: str | None) -> AuthorRecord | None:
        """The author with this secret, None for none given; raises UnknownAuthor for a
        secret nobody has (a client bug or a forgotten author: never silently anonymous)."""
        if secret is None:
            return None
        if not secret or len(secret) > 256:
            raise UnknownAuthor()
        record = await self._directory.find_author(hash_token(secret))
        if record is None:
            raise UnknownAuthor()
        return record

    async def update(
        self, author: AuthorRecord, *, name: object = None, color: object = None
    ) -> AuthorRecord:
        """Rename or recolour (None: keep); everything showing the author follows (an
        ``AuthorChanged`` event). Raises InvalidAuthorField, UnknownAuthor."""
        new_name = None if name is None else author_name(name)
        new_color = None if color is None else author_color(color)
        if new_name is None and new_color is None:
            return author
        record = await self._directory.update_author(author.id, name=new_name, color=new_color)
        if record is None:
            raise UnknownAuthor()
        self._bus.publish(AuthorChanged(record))
        return record
