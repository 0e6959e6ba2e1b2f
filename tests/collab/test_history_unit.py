"""History's pure parts, in process: the binary formats (a revision's ids, a chunk's packed
index, checkpoints as pycrdt encodes snapshots), how revisions are grouped into bursts, and the
revision index's checkpoints against the real document at every revision, through a room over
the in-memory store that compacts as it goes."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pycrdt import (
    Doc,
    Snapshot,
    TransactionEvent,
    XmlElement,
    XmlFragment,
    XmlText,
    create_update_message,
)

from swell.collab.compaction import compact_document
from swell.collab.history import History, _attribute, _steps
from swell.collab.peer import Peer, Role
from swell.collab.revision_index import REMEMBER_EVERY, Entry, RevisionIndex, group_entries
from swell.collab.revisions import (
    Checkpoint,
    CorruptHistory,
    Ids,
    IndexedRevision,
    checkpoint_after,
    decode_ids,
    encode_delete_set,
    encode_ids,
    pack_revisions,
    subtract,
    union,
    unpack_revisions,
)
from swell.collab.room import Room
from swell.records import AuthorRecord, JournalRow, Revision, StoredHistory
from swell.rendering import render_formats
from swell.storage.memory_store import MemoryDocumentStore
from tests.changes import as_changes

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ADA = AuthorRecord("ada-id", "Ada", "#123456")
GRACE = AuthorRecord("grace-id", "Grace", "#654321")


def fragment(doc: Doc[Any]) -> XmlFragment:
    return doc.get("default", type=XmlFragment)


def update_of(doc: Doc[Any], change: Any) -> bytes:
    """Run ``change(doc)`` in one transaction; its update."""
    before = doc.get_state()
    with doc.transaction():
        change(doc)
    return doc.get_update(before)


def snapshot_of(doc: Doc[Any]) -> Checkpoint:
    return Checkpoint.decode(Snapshot.from_doc(doc).encode())


def text_at(doc: Doc[Any], checkpoint: bytes) -> str:
    past = Doc.from_snapshot(Snapshot.decode(checkpoint), doc)
    return render_formats(fragment(past), ("text",))["text"]


# ---- a revision's ids --------------------------------------------------------------------------


def test_ids_round_trip() -> None:
    inserted = {7: [(0, 5), (9, 12)], 3: [(4, 5)], 2**53 - 1: [(1000, 1001)]}
    deleted = {7: [(1, 3)], 11: [(0, 40), (41, 42)]}
    ids = decode_ids(encode_ids(inserted, bytes(encode_delete_set(deleted))))
    assert ids == Ids(inserted, deleted)
    assert decode_ids(encode_ids({}, bytes(encode_delete_set({})))) == Ids({}, {})
    assert decode_ids(encode_ids({5: [(0, 1)]}, b"\x00")) == Ids({5: [(0, 1)]}, {})


def test_ids_keep_a_transactions_own_delete_set() -> None:
    """What the writer stores: the transaction's state vectors and its delete set, verbatim."""
    doc: Doc[Any] = Doc()
    seen: list[bytes] = []

    def on_transaction(event: TransactionEvent) -> None:
        seen.append(event.delete_set)  # type: ignore[attr-defined]

    subscription = doc.observe(on_transaction)
    text = fragment(doc).children.append(XmlElement("paragraph", {}, [XmlText("Hello brave")]))
    words = text.children[0]
    assert isinstance(words, XmlText)
    with doc.transaction():  # one transaction, two ranges
        del words[2:4]  # "ll"
        del words[6:8]  # "av" of what is left: "Heo brave"
    doc.unobserve(subscription)
    ids = decode_ids(encode_ids({}, seen[-1]))
    client = doc.client_id
    # "Hello brave": the two items (element, text) then the characters from clock 2 on
    assert ids.deleted == {client: [(4, 6), (10, 12)]}
    assert ids.inserted == {}


def test_corrupt_ids_are_refused() -> None:
    with pytest.raises(CorruptHistory):
        decode_ids(b"\x01\x05")  # a client without its ranges
    with pytest.raises(CorruptHistory):
        decode_ids(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")  # a varint without end


# ---- a chunk's packed index --------------------------------------------------------------------


def indexed(rev: int, ms: int, author: str | None, kind: str = "edit") -> IndexedRevision:
    ids = encode_ids({rev: [(0, rev)]}, bytes(encode_delete_set({1: [(rev, rev + 1)]})))
    revision = Revision(rev, T0 + timedelta(milliseconds=ms), author, kind, rev * 3, rev % 4)
    return IndexedRevision(revision, ids)


def test_pack_and_unpack_round_trip() -> None:
    revisions = [
        indexed(41, 0, "ada-id"),
        indexed(42, 0, "ada-id"),  # the same millisecond
        indexed(43, 17, None),
        indexed(44, 3_600_000, "grace-id", "restore"),
        indexed(45, 3_600_001, "ada-id"),
        indexed(46, 90 * 86_400_000, "an-author-with-a-long-id_" + "x" * 100),
    ]
    assert unpack_revisions(pack_revisions(revisions)) == revisions
    one = [indexed(1, 5, None, "restore")]
    assert unpack_revisions(pack_revisions(one)) == one


def test_a_thousand_typed_revisions_pack_small() -> None:
    """A keystroke a revision, 120 ms apart: the index stays a few bytes a revision."""
    client = 4_710_417_516_645_868
    revisions = [
        IndexedRevision(
            Revision(r, T0 + timedelta(milliseconds=120 * r), "ada-id", "edit", 1, 0),
            encode_ids({client: [(r, r + 1)]}, b"\x00"),
        )
        for r in range(1, 1001)
    ]
    packed = pack_revisions(revisions)
    assert unpack_revisions(packed) == revisions
    assert len(packed) < 4 * len(revisions)


def test_corrupt_packed_indexes_are_refused() -> None:
    packed = pack_revisions([indexed(1, 0, "ada-id"), indexed(2, 1, None)])
    for bad in (b"", b"\x09" + packed[1:], packed[:1] + b"not zlib", packed[:-3]):
        with pytest.raises(CorruptHistory):
            unpack_revisions(bad)
    raw = zlib.decompress(packed[1:])
    for cut in range(len(raw)):  # a body cut anywhere (well compressed) is refused too
        with pytest.raises(CorruptHistory):
            unpack_revisions(packed[:1] + zlib.compress(raw[:cut]))


# ---- checkpoints -------------------------------------------------------------------------------


def edited_by_three() -> tuple[Doc[Any], list[bytes]]:
    """Three clients typing, formatting and deleting in one rich-text document."""
    rng = random.Random(7)
    writers = [Doc() for _ in range(3)]
    updates: list[bytes] = []
    for i in range(60):
        doc = writers[i % 3]
        for update in updates:
            doc.apply_update(update)
        blocks = fragment(doc).children
        if not len(blocks) or rng.random() < 0.1:
            updates.append(
                update_of(
                    doc,
                    lambda d: fragment(d).children.append(
                        XmlElement("paragraph", {}, [XmlText("new words")])
                    ),
                )
            )
            continue
        block = blocks[rng.randrange(len(blocks))]
        text = block.children[0]
        assert isinstance(text, XmlText)
        size = len(text)
        choice = rng.random()
        if choice < 0.5 or size < 3:
            at = rng.randrange(size + 1)
            updates.append(update_of(doc, lambda _d, t=text, a=at: t.insert(a, "ab")))
        elif choice < 0.8:
            at = rng.randrange(size - 2)
            updates.append(update_of(doc, lambda _d, t=text, a=at: t.__delitem__(slice(a, a + 2))))
        else:
            updates.append(update_of(doc, lambda _d, t=text: t.format(0, 2, {"bold": {}})))
    whole: Doc[Any] = Doc()
    for update in updates:
        whole.apply_update(update)
    return whole, updates


def test_a_checkpoint_encodes_as_pycrdt_encodes_the_snapshot() -> None:
    doc: Doc[Any] = Doc()
    updates = [
        update_of(
            doc, lambda d: fragment(d).children.append(XmlElement("paragraph", {}, [XmlText()]))
        )
    ]
    words = fragment(doc).children[0].children[0]
    assert isinstance(words, XmlText)
    for ch in "Hello brave world":
        updates.append(update_of(doc, lambda _d, c=ch: words.insert(len(words), c)))
    updates.append(update_of(doc, lambda _d: words.__delitem__(slice(6, 12))))
    updates.append(update_of(doc, lambda _d: words.format(0, 5, {"bold": {}})))
    whole: Doc[Any] = Doc()
    for update in updates:
        whole.apply_update(update)
    checkpoint = checkpoint_after(Checkpoint.empty(), [c.ids for c in as_changes(updates)])
    # one client: the bytes are the same, byte for byte
    assert checkpoint.encode() == Snapshot.from_doc(whole).encode()
    assert checkpoint.encode() == Snapshot.from_doc(doc).encode()


def test_a_checkpoint_of_many_clients_is_pycrdts_snapshot() -> None:
    whole, updates = edited_by_three()
    checkpoint = checkpoint_after(Checkpoint.empty(), [c.ids for c in as_changes(updates)])
    snapshot = Snapshot.from_doc(whole).encode()
    # Yrs writes a state vector's clients in the order of its hash map: the same snapshot,
    # the clients perhaps in another order. Decoded they are equal, and equal once re-encoded.
    assert snapshot_of(whole) == checkpoint
    assert Checkpoint.decode(snapshot).encode() == checkpoint.encode()
    assert len(checkpoint.clocks) == 3 and checkpoint.deleted
    # and the document it shows is the document
    history: Doc[Any] = Doc(skip_gc=True)
    for update in updates:
        history.apply_update(update)
    assert (
        text_at(history, checkpoint.encode()) == render_formats(fragment(whole), ("text",))["text"]
    )


def test_checkpoints_advance_without_changing_the_start() -> None:
    _, updates = edited_by_three()
    changes = as_changes(updates)
    start = checkpoint_after(Checkpoint.empty(), [c.ids for c in changes[:20]])
    before = start.encode()
    later = checkpoint_after(start, [c.ids for c in changes[20:]])
    assert start.encode() == before
    assert later == checkpoint_after(Checkpoint.empty(), [c.ids for c in changes])
    assert Checkpoint.decode(later.encode()) == later
    assert Checkpoint.empty().encode() == b"\x00\x00"


# ---- bursts ------------------------------------------------------------------------------------


def rev(n: int, seconds: float, author: str | None = "ada-id", kind: str = "edit") -> Revision:
    return Revision(n, T0 + timedelta(seconds=seconds), author, kind, 2, 1)


def spans(entries: list[Entry]) -> list[tuple[int, int, str | None, str]]:
    return [(e.from_rev, e.to_rev, e.author_id, e.kind) for e in entries]


def test_one_authors_consecutive_revisions_are_one_entry() -> None:
    entries = group_entries(
        [rev(1, 0), rev(2, 1), rev(3, 2.5), rev(4, 4)], quiet_seconds=3, longest_seconds=60
    )
    assert spans(entries) == [(1, 4, "ada-id", "edit")]
    (entry,) = entries
    assert (entry.added, entry.removed) == (8, 4)
    assert entry.started_at == T0.timestamp()
    assert entry.ended_at == (T0 + timedelta(seconds=4)).timestamp()
    assert group_entries([], quiet_seconds=3, longest_seconds=60) == []


def test_another_author_starts_a_new_entry() -> None:
    revisions = [
        rev(1, 0),
        rev(2, 0.1, "grace-id"),
        rev(3, 0.2, "grace-id"),
        rev(4, 0.3),
        rev(5, 0.4, None),
        rev(6, 0.5, None),
        rev(7, 0.6),
    ]
    assert spans(group_entries(revisions, quiet_seconds=3, longest_seconds=60)) == [
        (1, 1, "ada-id", "edit"),
        (2, 3, "grace-id", "edit"),
        (4, 4, "ada-id", "edit"),
        (5, 6, None, "edit"),
        (7, 7, "ada-id", "edit"),
    ]


def test_a_restore_is_always_an_entry_of_its_own() -> None:
    revisions = [
        rev(1, 0),
        rev(2, 0.1, kind="restore"),
        rev(3, 0.2, kind="restore"),
        rev(4, 0.3),
        rev(5, 0.4),
    ]
    assert spans(group_entries(revisions, quiet_seconds=3, longest_seconds=60)) == [
        (1, 1, "ada-id", "edit"),
        (2, 2, "ada-id", "restore"),
        (3, 3, "ada-id", "restore"),
        (4, 5, "ada-id", "edit"),
    ]


def test_a_quiet_gap_ends_a_burst() -> None:
    revisions = [rev(1, 0), rev(2, 3.0), rev(3, 6.01), rev(4, 6.5)]
    # exactly the quiet time apart still belongs together; longer does not
    assert spans(group_entries(revisions, quiet_seconds=3, longest_seconds=60)) == [
        (1, 2, "ada-id", "edit"),
        (3, 4, "ada-id", "edit"),
    ]


def test_a_burst_ends_once_it_lasted_the_longest_time() -> None:
    revisions = [rev(n, n * 2.0) for n in range(1, 41)]  # typing without pause for 80 s
    entries = group_entries(revisions, quiet_seconds=3, longest_seconds=60)
    assert spans(entries) == [(1, 31, "ada-id", "edit"), (32, 40, "ada-id", "edit")]
    for entry in entries:
        assert entry.ended_at - entry.started_at <= 60


# ---- the index against the real document, through a room --------------------------------------


def tiptap_typing() -> list[Any]:
    """Edits as a TipTap user makes them: paragraphs typed a key at a time, words deleted and
    formatted, a heading, a paragraph removed, keys typed at the start of a paragraph."""
    edits: list[Any] = []

    def add_paragraph(d: Doc[Any]) -> None:
        fragment(d).children.append(XmlElement("paragraph", {}, [XmlText()]))

    def last_text(d: Doc[Any]) -> XmlText:
        blocks = fragment(d).children
        text = blocks[len(blocks) - 1].children[0]
        assert isinstance(text, XmlText)
        return text

    edits.append(add_paragraph)
    for word in ("Hello", "brave", "new", "world"):
        for ch in word + " ":
            edits.append(lambda d, c=ch: last_text(d).insert(len(last_text(d)), c))
    edits.append(lambda d: last_text(d).__delitem__(slice(6, 12)))
    edits.append(lambda d: last_text(d).format(0, 5, {"bold": {}}))
    edits.append(
        lambda d: fragment(d).children.insert(
            0, XmlElement("heading", {"level": 2}, [XmlText("Title")])
        )
    )
    edits.append(add_paragraph)
    for ch in "Second one":
        edits.append(lambda d, c=ch: last_text(d).insert(len(last_text(d)), c))
    edits.append(lambda d: last_text(d).format(0, 6, {"italic": {}}))
    edits.append(lambda d: fragment(d).children.__delitem__(1))  # the first paragraph
    for _ in range(8):
        edits.append(lambda d: last_text(d).insert(0, "x"))
    return edits


async def test_the_index_checkpoint_is_the_document_at_every_revision() -> None:
    """A room over the in-memory store, compacting every 4 revisions (history chunks) and on
    close; each edit its own revision by Ada or Grace. The index rebuilt from storage gives,
    for every revision, the snapshot pycrdt takes of the document right after it."""
    store = MemoryDocumentStore()
    store.add_document("doc")
    room = await Room.load("doc", store, compact_every=4)
    peers = {ADA.id: Peer(Role.EDIT, author=ADA), GRACE.id: Peer(Role.EDIT, author=GRACE)}
    for peer in peers.values():
        room.join(peer)
    writers = {ADA.id: Doc(), GRACE.id: Doc()}
    mirror: Doc[Any] = Doc()
    expected: dict[int, Checkpoint] = {}
    edits = tiptap_typing()
    for i, edit in enumerate(edits):
        who = ADA.id if (i // 7) % 2 == 0 else GRACE.id
        doc = writers[who]
        doc.apply_update(mirror.get_update(doc.get_state()))
        update = update_of(doc, edit)
        room.receive(peers[who], create_update_message(update))
        await room.flush()
        mirror.apply_update(update)
        expected[room.rev] = snapshot_of(mirror)
        assert room.rev == i + 1, "each edit its own revision"
        if i % 9 == 8:  # besides the room's own, every 4 revisions (at most once a second)
            compaction = room.start_compaction()
            if compaction is not None:
                await compaction
    await room.close()

    history = await store.load_history("doc", data=False)
    assert len(history.chunks) >= 3 and not history.rows
    index = RevisionIndex()
    index.extend(history)
    assert index.newest == len(edits)
    assert [index.revision(r).author_id for r in (1, 8, 15)] == [ADA.id, GRACE.id, ADA.id]
    assert Checkpoint.decode(index.checkpoint(0)) == Checkpoint.empty()
    for r in sorted(expected, reverse=True):  # from the newest down: no order is assumed
        assert Checkpoint.decode(index.checkpoint(r)) == expected[r], r

    # an index extended piece by piece agrees
    grown = RevisionIndex()
    for upto in (3, 10, len(edits)):
        grown.extend(await store.load_history("doc", after_rev=grown.newest, upto_rev=upto))
    for r in expected:
        assert grown.checkpoint(r) == index.checkpoint(r), r


async def test_every_revision_renders_as_the_document_was() -> None:
    """The same room; ``History.render`` of every revision, after compaction, is the text
    the document had right after it."""
    store = MemoryDocumentStore()
    store.add_document("doc")
    room = await Room.load("doc", store, compact_every=4)
    peer = Peer(Role.EDIT, author=ADA)
    room.join(peer)
    writer: Doc[Any] = Doc()
    texts: dict[int, str] = {}
    for edit in tiptap_typing():
        update = update_of(writer, edit)
        room.receive(peer, create_update_message(update))
        await room.flush()
        texts[room.rev] = render_formats(fragment(writer), ("text",))["text"]
    await room.close()
    await compact_document(store, "doc", room.rev)

    history = History(store, cast(Any, None), quiet_seconds=3)
    try:
        wrong = {}
        for r, text in texts.items():
            rendered = (await history.render("doc", r, ("text",)))["text"]
            if rendered != text:
                wrong[r] = (text, rendered)
        assert not wrong
    finally:
        history.close()


def test_remembered_checkpoints_do_not_change_answers() -> None:
    """Past ``REMEMBER_EVERY`` revisions the index keeps checkpoints on the way; asking in any
    order gives the same answers."""
    _, updates = edited_by_three()
    many = updates * (REMEMBER_EVERY // len(updates) + 2)  # re-sent updates: empty ids
    changes = as_changes(many)
    rows = [
        IndexedRevision(Revision(i + 1, T0, None, "edit", 0, 0), c.ids)
        for i, c in enumerate(changes)
    ]

    def build() -> RevisionIndex:
        index = RevisionIndex()
        index.extend(
            StoredHistory(chunks=[], rows=[JournalRow(r.revision, b"", r.ids) for r in rows])
        )
        return index

    forward, backward = build(), build()
    revs = list(range(1, len(rows) + 1))
    answers = {r: forward.checkpoint(r) for r in revs}
    for r in reversed(revs):
        assert backward.checkpoint(r) == answers[r]
    final = checkpoint_after(Checkpoint.empty(), [c.ids for c in changes])
    assert Checkpoint.decode(answers[revs[-1]]) == final


@pytest.mark.parametrize("every", [5, 10_000])
async def test_sparse_checkpoints_render_every_revision(
    every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks store a checkpoint only every ``CHECKPOINT_EVERY`` revisions (their size grows
    with the document's deletions); every revision still renders as it was, and the stored
    data is compressed."""
    from swell.collab import compaction
    from swell.collab.revisions import unpack_blob

    monkeypatch.setattr(compaction, "CHECKPOINT_EVERY", every)
    monkeypatch.setattr(compaction, "COMPACT_INTERVAL", 0.0)
    store = MemoryDocumentStore()
    store.add_document("doc")
    room = await Room.load("doc", store, compact_every=3)
    peer = Peer(Role.EDIT, author=ADA)
    room.join(peer)
    writer: Doc[Any] = Doc()
    texts: dict[int, str] = {}
    for edit in tiptap_typing():
        room.receive(peer, create_update_message(update_of(writer, edit)))
        await room.flush()
        texts[room.rev] = render_formats(fragment(writer), ("text",))["text"]
        await room._compaction.wait()  # as often as compact_every allows
    await room.close()
    chunks = (await store.load_history("doc")).chunks
    stored = [c for c in chunks if c.checkpoint]
    assert len(chunks) > 3
    if every == 5:
        assert 1 < len(stored) < len(chunks)
    else:
        assert stored == []
    for chunk in stored:
        Checkpoint.decode(unpack_blob(chunk.checkpoint))
    history = History(store, cast(Any, None), quiet_seconds=3)
    try:
        for r, text in texts.items():
            assert (await history.render("doc", r, ("text",)))["text"] == text, r
    finally:
        history.close()


async def test_a_flood_of_history_jobs_for_one_document_is_refused_not_queued() -> None:
    """The one history thread is shared by every document: one document may have at most
    ``MAX_WAITING`` jobs waiting or running; more are refused (429 over HTTP) at once."""
    import asyncio
    import threading

    from swell.collab.history_docs import MAX_WAITING, HistoryBusy, HistoryDocs

    store = MemoryDocumentStore()
    store.add_document("doc")
    docs = HistoryDocs(store)
    gate = threading.Event()
    try:
        jobs = [
            asyncio.ensure_future(docs.run("doc", 0, lambda _doc: gate.wait(10)))
            for _ in range(MAX_WAITING)
        ]
        await asyncio.sleep(0)  # every job registered (the first one running)
        with pytest.raises(HistoryBusy):
            await docs.run("doc", 0, lambda _doc: True)
        gate.set()
        assert all(await asyncio.gather(*jobs))
        assert await docs.run("doc", 0, lambda _doc: "again") == "again"
    finally:
        gate.set()
        docs.close()


# ---- attribution by id -----------------------------------------------------------------------


def _random_history(count: int, first: int = 1) -> RevisionIndex:
    """Three authors typing (one id each) and deleting scattered ids of anyone's."""
    rng = random.Random(7)
    index = RevisionIndex()
    clocks = {101: 0, 202: 0, 303: 0}
    alive: list[tuple[int, int]] = []
    for rev in range(first, first + count):
        client = (101, 202, 303)[rev % 3]
        inserted = {client: [(clocks[client], clocks[client] + 1)]}
        alive.append((client, clocks[client]))
        clocks[client] += 1
        deleted: dict[int, list[tuple[int, int]]] = {}
        if rev % 2 == 0 and len(alive) > 5:
            gone, clock = alive.pop(rng.randrange(len(alive) - 1))
            deleted = {gone: [(clock, clock + 1)]}
        ids = encode_ids(inserted, bytes(encode_delete_set(deleted)))
        index.extend(
            StoredHistory(
                [], [JournalRow(Revision(rev, T0, f"author-{client}", "edit", 1, 0), b"", ids)]
            )
        )
    return index


def _attribute_by_hand(index: RevisionIndex, start: int, end: int) -> dict[Any, tuple[Any, Any]]:
    """The same answer, one range at a time with ``union``: slow and obviously right."""
    mine: dict[Any, tuple[dict, dict]] = {}
    everything: tuple[dict, dict] = ({}, {})
    for rev in range(max(start + 1, index.first), end + 1):
        ids = decode_ids(index.ids(rev))
        own = mine.setdefault(index.revision(rev).author_id, ({}, {}))
        union(own[0], ids.inserted)
        union(own[1], ids.deleted)
        union(everything[0], ids.inserted)
        union(everything[1], ids.deleted)
    found = {
        author: (subtract(added, everything[1]), subtract(removed, everything[0]))
        for author, (added, removed) in mine.items()
    }
    return {author: pair for author, pair in found.items() if pair[0] or pair[1]}


@pytest.mark.parametrize(("first", "start"), [(1, 0), (1, 700), (1, 1999), (5000, 0), (5000, 5900)])
def test_attribution_names_each_authors_surviving_and_deleted_ids(first: int, start: int) -> None:
    """Gathered and merged once (not range by range), and from 0 of a history whose oldest
    revisions were folded away (``--history-keep-days``) too."""
    index = _random_history(2000, first)
    end = index.newest
    found = _attribute(index, start, end)
    assert {a.author_id: (a.inserted, a.deleted) for a in found} == _attribute_by_hand(
        index, start, end
    )
    assert [a.author_id for a in found] == list(
        dict.fromkeys(index.revision(r).author_id for r in range(max(start + 1, first), end + 1))
    )[: len(found)]


def test_changes_from_0_of_a_folded_history_start_at_its_oldest_revision() -> None:
    index = _random_history(50, first=5000)
    runs = _steps(index, 0, index.newest, 64)
    assert runs[-1][1] == index.newest
    assert len(runs) == 50  # the three authors take turns: one run per revision
