"""The activity recorder folds the rooms' events into stored activity: one entry per person's
burst of consecutive revisions (per author, or per socket for anonymous ones), restores on
their own, names from the author before anything a client claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import delete

from swell.collab.activity import ActivityRecorder
from swell.collab.events import DocumentCreated, DocumentEdited, Participant, PeerChanged
from swell.collab.peer import Role
from swell.records import ActivityRecord, AuthorRecord
from swell.storage.activity_log import SqlActivityLog
from swell.storage.authors import SqlAuthorDirectory
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.models import Author

pytestmark = pytest.mark.timeout(30)

DOC = "act1"


@dataclass
class Setup:
    recorder: ActivityRecorder
    log: SqlActivityLog
    ada: AuthorRecord
    grace: AuthorRecord


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[Setup]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await SqlDocumentCatalog(sessions).create_document(DOC, "T", b"e" * 32, b"v" * 32)
    directory = SqlAuthorDirectory(sessions)
    ada = await directory.create_author("ada-id", "Ada", "#123456", b"a" * 32)
    grace = await directory.create_author("grace-id", "Grace", "#654321", b"g" * 32)
    log = SqlActivityLog(sessions)
    # bursts that only an interruption or the flush ends: the test decides where they end
    recorder = ActivityRecorder(log, burst_seconds=60)
    yield Setup(recorder, log, ada, grace)
    # The PostgreSQL database is shared by the session: leave it as it was found.
    await SqlDocumentCatalog(sessions).delete_document(DOC)
    async with engine.begin() as connection:
        await connection.execute(delete(Author).where(Author.id.in_(["ada-id", "grace-id"])))
    await engine.dispose()


def edited(
    peer: int,
    author: AuthorRecord | None,
    revs: tuple[int, int],
    added: int = 1,
    name: str | None = None,
    kind: str = "edit",
) -> DocumentEdited:
    return DocumentEdited(DOC, peer, author, name, added, 0, revs[0], revs[1], kind)


async def stored(setup: Setup) -> list[ActivityRecord]:
    await setup.recorder.flush()
    records, _, _ = await setup.log.list_activity(DOC, None, 100)
    return records


def summary(record: ActivityRecord) -> tuple[str, str | None, int | None, int | None]:
    author = record.author.id if record.author is not None else None
    return (record.summary, author, record.from_rev, record.to_rev)


async def test_bursts_are_consecutive_revisions_of_one_person(setup: Setup) -> None:
    ada, grace = setup.ada, setup.grace
    for event in (
        edited(1, ada, (1, 1), 3, name="Mallory"),  # the awareness name is never used
        edited(2, ada, (2, 3), 2),  # Ada's second tab: the same burst
        edited(3, grace, (4, 4)),  # Grace in between ends Ada's burst
        edited(1, ada, (5, 6)),
        edited(7, None, (7, 7), name="Zoë"),  # anonymous sockets: one burst each
        edited(8, None, (8, 8), name="Zoë"),
        edited(8, None, (9, 9), name="Zoë"),
        edited(9, None, (10, 10)),  # nameless
    ):
        setup.recorder.on_event(event)
    assert [summary(r) for r in await stored(setup)] == [
        ("Ada added 5 characters", "ada-id", 1, 3),
        ("Grace added 1 character", "grace-id", 4, 4),
        ("Ada added 1 character", "ada-id", 5, 6),
        ("Zoë added 1 character", None, 7, 7),
        ("Zoë added 2 characters", None, 8, 9),
        ("Someone added 1 character", None, 10, 10),
    ]


async def test_another_process_edit_splits_the_burst_at_its_revision(setup: Setup) -> None:
    """Grace's revision 3 was committed by another process and is heard of after Ada's 4:
    Ada's activity is what one server would have recorded, 1-2 then 4-5 (Grace's is recorded
    by the other process); Ada's own edits through another process end nothing."""
    ada, grace = setup.ada, setup.grace
    on = setup.recorder.on_event
    on(edited(1, ada, (1, 1), 1))
    on(edited(1, ada, (2, 2), 2))
    on(edited(1, ada, (4, 4), 4))
    on(replace(edited(5, grace, (3, 3)), remote=True))
    on(edited(1, ada, (5, 5), 8))
    on(replace(edited(6, ada, (6, 6)), remote=True))  # Ada's other tab, on another process
    on(edited(1, ada, (7, 7), 16))
    assert [summary(r) for r in await stored(setup)] == [
        ("Ada added 3 characters", "ada-id", 1, 2),
        ("Ada added 28 characters", "ada-id", 4, 7),
    ]


async def test_a_restore_is_an_entry_of_its_own_and_ends_the_burst_before_it(
    setup: Setup,
) -> None:
    ada = setup.ada
    setup.recorder.on_event(edited(1, ada, (1, 2)))
    setup.recorder.on_event(edited(0, ada, (3, 3), 0, kind="restore"))
    setup.recorder.on_event(edited(0, None, (4, 4), 0, kind="restore"))
    setup.recorder.on_event(edited(1, ada, (5, 5)))
    records = await stored(setup)
    assert [(r.kind, *summary(r)) for r in records] == [
        ("edit", "Ada added 1 character", "ada-id", 1, 2),
        ("restore", "Ada restored an earlier version", "ada-id", 3, 3),
        ("restore", "Someone restored an earlier version", None, 4, 4),
        ("edit", "Ada added 1 character", "ada-id", 5, 5),
    ]
    assert [r.user for r in records] == ["Ada", "Ada", "Someone", "Ada"]


async def test_joins_and_creation_carry_the_author_with_its_current_name(setup: Setup) -> None:
    ada = setup.ada
    setup.recorder.on_event(DocumentCreated(DOC, ada.name, ada))
    setup.recorder.on_event(PeerChanged(DOC, Participant(1, Role.EDIT, "Ada", "#123456", ada)))
    setup.recorder.on_event(PeerChanged(DOC, Participant(2, Role.EDIT, "Bob", None)))
    records = await stored(setup)
    assert [(r.kind, r.summary, r.author) for r in records] == [
        ("created", "Ada created the document", ada),
        ("join", "Ada joined", ada),
        ("join", "Bob joined", None),
    ]
    assert all(r.from_rev is None and r.to_rev is None for r in records)
