"""Author rows: found by their secret's hash only, changed in place."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from swell.records import AuthorRecord
from swell.storage.authors import SqlAuthorDirectory
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.models import Author

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def directory(database_url: str) -> AsyncIterator[SqlAuthorDirectory]:
    engine = create_engine(database_url)
    yield SqlAuthorDirectory(create_session_factory(engine))
    # The PostgreSQL database is shared by the session: remove what the test created.
    async with engine.begin() as connection:
        await connection.execute(delete(Author).where(Author.id.like("s-%")))
    await engine.dispose()


async def test_an_author_is_found_by_its_hash_and_nothing_else(
    directory: SqlAuthorDirectory,
) -> None:
    ada = await directory.create_author("s-ada", "Ada", "#123456", b"a" * 32)
    grace = await directory.create_author("s-grace", "Grace", "#654321", b"g" * 32)
    assert ada == AuthorRecord("s-ada", "Ada", "#123456")
    assert await directory.find_author(b"g" * 32) == grace
    assert await directory.find_author(b"a" * 32) == ada
    assert await directory.find_author(b"a" * 31 + b"b") is None
    assert await directory.find_author(b"") is None


async def test_an_update_changes_what_is_given(directory: SqlAuthorDirectory) -> None:
    await directory.create_author("s-grace", "Grace", "#123456", b"g" * 32)
    renamed = await directory.update_author("s-grace", name="Grace Hopper")
    assert renamed == AuthorRecord("s-grace", "Grace Hopper", "#123456")
    recolored = await directory.update_author("s-grace", color="#abcdef")
    assert recolored == AuthorRecord("s-grace", "Grace Hopper", "#abcdef")
    assert await directory.find_author(b"g" * 32) == recolored
    assert await directory.update_author("s-nobody", name="X") is None


async def test_two_authors_never_share_a_secret_hash(directory: SqlAuthorDirectory) -> None:
    await directory.create_author("s-one", "One", "#123456", b"s" * 32)
    with pytest.raises(IntegrityError):
        await directory.create_author("s-two", "Two", "#123456", b"s" * 32)
