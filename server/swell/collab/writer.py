"""The room's single writer: inbox -> apply -> commit -> settled. Nothing is forwarded,
answered or acknowledged before the batch that holds it is committed; the room does that in
``on_batch``, which runs only after the commit. Any exception in any stage fails the room."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Snapshot, get_update, merge_updates

from swell.collab.edit_counter import EditCounter
from swell.collab.events import RoomEvent
from swell.collab.peer import CloseCode, Peer
from swell.collab.ports import ANONYMOUS, Change, DocumentStore
from swell.collab.revisions import (
    Checkpoint,
    Ranges,
    add_range,
    clip,
    decode_delete_set,
    encode_delete_set,
    encode_ids,
    subtract,
    union,
)
from swell.protocol.messages import decode_state_vector, encode_update
from swell.protocol.updates import MalformedUpdate, read_update, read_update_refs
from swell.records import AuthorRecord
from swell.telemetry import Telemetry

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"
COMMIT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class LocalUpdate:
    """An update a socket of this process sent: applied, stored, then forwarded."""

    peer: Peer
    update: bytes
    frame: bytes  # the message forwarded to the others


@dataclass(frozen=True, slots=True)
class RelayedUpdate:
    """An update another process committed (or storage held that the room lacked): applied
    and forwarded, never stored again; ``events`` are published once it is forwarded."""

    update: bytes
    frame: bytes
    events: tuple[RoomEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerChange:
    """A change the server makes itself (a restore): applied, stored as a revision of its
    own ``kind`` by ``author``, then forwarded to every socket. ``done`` gets its revision (0
    when it changed nothing)."""

    update: bytes
    author: AuthorRecord | None
    kind: str
    done: asyncio.Future[int]

    @property
    def frame(self) -> bytes:
        return encode_update(self.update)


Operation = LocalUpdate | RelayedUpdate | ServerChange


@dataclass(frozen=True, slots=True)
class Edit:
    """One committed revision: who made it (``peer`` None for the server's own), what it
    changed in the rich text."""

    peer: Peer | None
    author: AuthorRecord | None
    kind: str
    added: int
    removed: int
    rev: int = 0


@dataclass(frozen=True, slots=True)
class Batch:
    """A committed batch, for the room to forward, answer and acknowledge."""

    applied: list[Operation]
    senders: list[Peer]  # every socket whose updates were in the batch (applied or not)
    sync_requests: dict[Peer, bytes]
    awareness_queries: list[Peer]
    edits: list[Edit]  # in revision order
    committed: int  # revisions written


class StageFailed(RuntimeError):
    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


@dataclass
class _Inbox:
    ops: list[Operation] = field(default_factory=list)
    sync_requests: dict[Peer, bytes] = field(default_factory=dict)
    awareness_queries: dict[Peer, None] = field(default_factory=dict)
    size: int = 0  # bytes of the updates in ``ops``

    def __bool__(self) -> bool:
        return bool(self.ops or self.sync_requests or self.awareness_queries)


class Writer:
    def __init__(
        self,
        doc_id: str,
        doc: Doc[Any],
        store: DocumentStore,
        counter: EditCounter,
        *,
        size: int,
        max_document_bytes: int,
        max_inbox_bytes: int = 64 << 20,
        on_batch: Callable[[Batch], None],
        on_failure: Callable[[str], None],
        telemetry: Telemetry | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.rev = 0  # the newest committed revision
        self._doc = doc
        self._store = store
        self._counter = counter
        self._size = size  # encoded size, over-estimated by the updates since the last measure
        self._max_bytes = max_document_bytes
        self._max_inbox_bytes = max_inbox_bytes
        self._bindings: dict[int, str] = {}  # Yjs client id -> author id (or ANONYMOUS)
        self._new_bindings: dict[int, str] = {}
        # Per update of the batch being applied: {client: (first, end clock)} of its structs,
        # None for bytes that are not an update.
        self._structs: dict[LocalUpdate, Read | None] = {}
        # What the Doc holds, kept up to date from every update applied (each update is read
        # once anyway, for its client ids): its clocks and everything deleted. A run's revision
        # is what its updates add to these. (pycrdt's transaction events carry the same, but
        # observing them doubled the cost of applying an update: measured.)
        known = Checkpoint.decode(Snapshot.from_doc(doc).encode())
        self._clocks = known.clocks
        self._deleted = known.deleted
        self._on_batch = on_batch
        self._on_failure = on_failure
        self._telemetry = telemetry or Telemetry()
        self._inbox = _Inbox()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._settled = asyncio.Event()  # clear while an applied batch is not committed yet
        self._settled.set()
        self._stopped = False
        self._task = asyncio.create_task(self._run(), name=f"room-writer:{doc_id}")
        self._task.add_done_callback(self._on_done)

    @property
    def consistent(self) -> bool:
        """True when everything applied to the Doc is also committed."""
        return self._settled.is_set()

    async def settled(self) -> None:
        await self._settled.wait()

    def measured(self, size: int) -> None:
        """The document's exact encoded size (compaction just encoded it)."""
        self._size = size

    # ---- the inbox ------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing is observed: kept so the room's release stays symmetrical."""

    def submit(self, op: Operation) -> None:
        """Queue an update. What waits for the next commit is bounded in bytes: while a commit
        is slow (a locked database retried), a socket that would pass the bound is closed with
        1013; nothing of it was acknowledged, and its client sends it again on reconnect."""
        if self._stopped:
            return
        if self._inbox.size + len(op.update) > self._max_inbox_bytes:
            if isinstance(op, ServerChange):
                op.done.set_exception(RuntimeError("too much waiting to be saved"))
                return
            if isinstance(op, LocalUpdate):
                log.warning(
                    "%s: %d bytes wait for the next commit; closing peer %s",
                    self.doc_id,
                    self._inbox.size,
                    op.peer.id,
                )
                op.peer.close(CloseCode.TRY_AGAIN, "too much waiting to be saved; reconnect")
                return
        self._inbox.ops.append(op)
        self._inbox.size += len(op.update)
        self._wakeup()

    def request_sync(self, peer: Peer, state_vector: bytes) -> None:
        """At most one answer pending per socket: a newer request replaces an older one."""
        if not self._stopped:
            self._inbox.sync_requests[peer] = state_vector
            self._wakeup()

    def request_awareness(self, peer: Peer) -> None:
        if not self._stopped:
            self._inbox.awareness_queries[peer] = None
            self._wakeup()

    def _wakeup(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything received so far is committed and forwarded."""
        while not self._idle.is_set() and not self._task.done():
            await asyncio.wait(
                [asyncio.ensure_future(self._idle.wait()), self._task],
                return_when=asyncio.FIRST_COMPLETED,
            )

    async def stop(self) -> None:
        """Stop taking work and end the task (what was not processed is dropped)."""
        self._stopped = True
        self._drop_inbox()
        self._idle.set()
        self._settled.set()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    # ---- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._inbox:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            inbox, self._inbox = self._inbox, _Inbox()
            try:
                await self._process(inbox)
            except BaseException as e:
                for op in inbox.ops:
                    if isinstance(op, ServerChange) and not op.done.done():
                        op.done.set_exception(RuntimeError("the change could not be saved"))
                if isinstance(e, StageFailed):
                    self._fail(e.stage, e.__cause__)
                elif isinstance(e, Exception):
                    self._fail("process", e)
                else:
                    raise
                return

    def _drop_inbox(self) -> None:
        """Forget what waits; whoever waits on a server change learns it was not made."""
        for op in self._inbox.ops:
            if isinstance(op, ServerChange) and not op.done.done():
                op.done.set_exception(RuntimeError("the document closed before the change"))
        self._inbox = _Inbox()

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """A writer that ends while the room still takes work would leave sockets open on a
        dead writer: fail the room instead. (Cancelled means the loop itself is closing.)"""
        if not self._stopped and not task.cancelled():
            self._fail("writer ended", task.exception())

    def _fail(self, stage: str, error: BaseException | None) -> None:
        if self._stopped:
            return
        self._stopped = True
        log.error("room %s failed in stage %r", self.doc_id, stage, exc_info=error or None)
        self._drop_inbox()
        self._settled.set()
        self._idle.set()
        self._on_failure(f"{stage}: {type(error).__name__ if error else 'stopped'}")

    async def _process(self, inbox: _Inbox) -> None:
        started = time.perf_counter()
        try:
            await self._learn_bindings(inbox.ops)
        except Exception as e:
            raise StageFailed("bindings") from e
        try:
            applied, changes, senders = self._apply(inbox.ops)
        except Exception as e:
            raise StageFailed("apply") from e
        edits = [edit for edit, _ in changes]
        if changes:
            await self._commit([change for _, change in changes])
            first = self.rev - len(changes) + 1
            edits = [
                Edit(e.peer, e.author, e.kind, e.added, e.removed, first + i)
                for i, e in enumerate(edits)
            ]
        self._settled.set()
        for op in applied:
            if isinstance(op, ServerChange) and not op.done.done():
                made = [e.rev for e in edits if e.peer is None]
                op.done.set_result(made[0] if made else 0)
        batch = Batch(
            applied,
            senders,
            inbox.sync_requests,
            list(inbox.awareness_queries),
            edits,
            len(changes),
        )
        try:
            self._on_batch(batch)
        except Exception as e:
            raise StageFailed("forward") from e
        if applied:
            self._telemetry.forwarded(time.perf_counter() - started)

    def _apply(
        self, ops: list[Operation]
    ) -> tuple[list[Operation], list[tuple[Edit, Change]], list[Peer]]:
        """Apply the updates; each socket's in a batch in one transaction where that changes
        nothing (``_Runs``), so observers (the edit counter among them) run once per run, not
        once per update, and the run is one revision: 24 µs an update alone, 5 µs in runs of
        10 (measured). Four people typing fast make batches of interleaved updates: taken in
        arrival order, every update was a run of its own."""
        applied: list[Operation] = []
        changes: list[tuple[Edit, Change]] = []
        senders: dict[Peer, None] = {}
        runs = _Runs()
        for op in ops:
            if isinstance(op, LocalUpdate):
                senders[op.peer] = None
                if op.update == EMPTY_UPDATE or op.peer.close_code is not None:
                    continue  # nothing to store or forward; the sender still gets an ack
                read = self._structs.get(op) if op in self._structs else _clients(op.update)
                if read is None:
                    log.warning("malformed update from peer %s in %s", op.peer.id, self.doc_id)
                    op.peer.close(CloseCode.INVALID, "invalid update")
                    continue
                self._structs[op] = read
                if not self._may_write(op, read[0]):
                    continue
                if runs and self._size + len(op.update) > self._max_bytes:
                    for run in runs.take():  # measure with all accepted applied
                        self._apply_run(run, applied, changes)
                if not self._fits(op):
                    continue
                runs.add_local(op, read)
            else:
                runs.add_other(op)
        for run in runs.take():
            self._apply_run(run, applied, changes)
        self._structs.clear()
        return applied, changes, list(senders)

    # ---- who may write with which Yjs client id ---------------------------------------------

    async def _learn_bindings(self, ops: list[Operation]) -> None:
        """Fetch the bindings of client ids this room has not seen yet (one query per batch
        that brings new ones; a client id is new once per socket's first update)."""
        unknown: set[int] = set()
        for op in ops:
            if isinstance(op, LocalUpdate):
                read = self._structs[op] = _clients(op.update)
                unknown.update(c for c in (read[0] if read else ()) if c not in self._bindings)
        if unknown:
            found = await self._store.client_authors(self.doc_id, sorted(unknown))
            self._bindings.update(found)

    def _may_write(self, op: LocalUpdate, clients: dict[int, tuple[int, int]]) -> bool:
        """A Yjs client id belongs to the first author whose connection used it: new structs
        of it from anyone else are refused (1008), so nobody writes in someone else's name.
        Structs the document already holds (a client re-sending what it received) pass."""
        me = op.peer.author.id if op.peer.author is not None else ANONYMOUS
        foreign: list[int] = []
        for client in clients:
            owner = self._bindings.get(client)
            if owner is None:
                self._bindings[client] = self._new_bindings[client] = me
            elif owner != me:
                foreign.append(client)
        if not foreign:
            return True
        # New structs: ones past what the Doc holds of that client.
        taken = [c for c in foreign if clients[c][1] > self._clocks.get(c, 0)]
        if not taken:
            return True
        log.warning(
            "peer %s of %s wrote with client id %d, which belongs to another author",
            op.peer.id,
            self.doc_id,
            taken[0],
        )
        op.peer.close(CloseCode.POLICY, "this Yjs client id belongs to another author")
        return False

    def _fits(self, op: LocalUpdate) -> bool:
        """The document stays under its size limit; the sender of an update that would pass
        it is closed with a reason the editor page shows. Only what an update adds counts:
        a client that echoes what the document already holds is not refused."""
        size = len(op.update)
        if self._size + size > self._max_bytes:
            try:
                novel = get_update(op.update, self._doc.get_state())
            except ValueError:
                return True  # not an update at all: applying it refuses it
            size = 0 if novel[0] == 0 else len(novel)  # 0: no new structs, deletions only
            self._size = len(self._doc.get_update())  # measure before refusing
        if self._size + size <= self._max_bytes:
            self._size += size
            return True
        log.warning(
            "refused an update of %d bytes from peer %s to %s: document over %d bytes",
            size,
            op.peer.id,
            self.doc_id,
            self._max_bytes,
        )
        op.peer.close(CloseCode.TOO_BIG, f"document too large (limit {self._max_bytes} bytes)")
        return False

    def _apply_run(
        self, run: list[Operation], applied: list[Operation], changes: list[tuple[Edit, Change]]
    ) -> None:
        self._counter.reset()
        self._settled.clear()
        ok: list[Operation] = []
        with self._doc.transaction():
            for op in run:
                try:
                    self._doc.apply_update(op.update)
                except ValueError as e:
                    if isinstance(op, LocalUpdate):
                        log.warning(
                            "rejected update from peer %s in %s: %s", op.peer.id, self.doc_id, e
                        )
                        op.peer.close(CloseCode.INVALID, "invalid update")
                    elif isinstance(op, ServerChange):
                        op.done.set_exception(e)
                    else:
                        log.warning("dropped a relayed update for %s: %s", self.doc_id, e)
                    continue
                ok.append(op)
        applied.extend(ok)
        first = ok[0] if ok else None
        if first is None:
            return
        inserted, deleted = self._what_is_new(ok)
        if isinstance(first, RelayedUpdate) or not (inserted or deleted):
            return  # another process's, or everything was here already: nothing to attribute
        # The updates as they came (merged): what the run added is in them, and any part the
        # Doc already held is harmless to keep.
        update = ok[0].update if len(ok) == 1 else merge_updates(*(op.update for op in ok))
        peer = first.peer if isinstance(first, LocalUpdate) else None
        author = first.peer.author if isinstance(first, LocalUpdate) else first.author
        kind = first.kind if isinstance(first, ServerChange) else "edit"
        ids = encode_ids(inserted, bytes(encode_delete_set(deleted)))
        added, removed = self._counter.added, self._counter.removed
        edit = Edit(peer, author, kind, added, removed)
        change = Change(update, author.id if author else None, ids, added, removed, kind)
        changes.append((edit, change))

    def _what_is_new(self, ops: list[Operation]) -> tuple[Ranges, Ranges]:
        """The ids the run's updates inserted and deleted that the Doc did not hold before;
        the known clocks and deletions move on. Structs a client sent before the ones they
        build on wait in the Doc (pending) and are not counted: the Doc's own state vector
        says what was integrated, read only when some update did not integrate whole."""
        inserted: Ranges = {}
        deleted: Ranges = {}
        clocks = self._clocks
        parsed = [self._read(op) for op in ops]
        state = self._doc.get_state()
        if any(get_update(op.update, state)[0] != 0 for op in ops):
            actual = decode_state_vector(state)  # some structs wait: trust only the Doc
            for client, end in actual.items():
                if end > clocks.get(client, 0):
                    add_range(inserted, client, clocks.get(client, 0), end)
            clocks.update(actual)
        else:
            for ranges, _ in parsed:
                for client, (_, end) in ranges.items():
                    have = clocks.get(client, 0)
                    if end > have:
                        add_range(inserted, client, have, end)
                        clocks[client] = end
        for _, removals in parsed:
            if removals:
                union(deleted, subtract(clip(removals, clocks), self._deleted))
        if deleted:
            union(self._deleted, deleted)
        return inserted, deleted

    def _read(self, op: Operation) -> tuple[dict[int, tuple[int, int]], Ranges]:
        """An applied update's struct ranges and deletions (the update already applied, so
        it is well formed)."""
        cached = self._structs.get(op) if isinstance(op, LocalUpdate) else None
        ranges, at = cached[:2] if cached is not None else read_update(op.update)
        removals = decode_delete_set(op.update[at:]) if op.update[at:] not in (b"", b"\x00") else {}
        return ranges, removals

    async def _commit(self, pending: list[Change]) -> None:
        delay = 0.1
        bindings, self._new_bindings = self._new_bindings, {}
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                started = time.perf_counter()
                self.rev = await self._store.append_changes(
                    self.doc_id, pending, bindings, self.rev + 1
                )
                self._telemetry.committed(time.perf_counter() - started, len(pending))
                return
            except Exception as e:
                log.warning(
                    "commit of %d updates to %s failed (attempt %d of %d): %r",
                    len(pending),
                    self.doc_id,
                    attempt,
                    COMMIT_ATTEMPTS,
                    e,
                )
                self._telemetry.failure("commit_retry")
                if attempt == COMMIT_ATTEMPTS:
                    # Nobody has seen these updates; the clients still hold them and resend
                    # them on reconnect.
                    raise StageFailed("commit") from e
                await asyncio.sleep(delay)
                delay *= 4


Read = tuple[dict[int, tuple[int, int]], int, set[int]]
"""An update's struct ranges per client, where its delete set starts, the clients it names."""


class _Runs:
    """A batch's updates grouped into the runs applied one after the other. An update joins
    its socket's run, ahead of other sockets' updates that came in between, unless it builds
    on one of them (names a client whose structs they hold, as an origin, a parent or a
    deletion: a tab that saw another tab's typing through the browser before the server did):
    updates of different sockets that do not build on each other commute, and none of them
    was forwarded yet. Relayed updates and server changes keep their place: nothing moves
    ahead of them."""

    __slots__ = ("_runs", "_owns", "_open")

    def __init__(self) -> None:
        self._runs: list[list[Operation]] = []
        self._owns: list[set[int]] = []  # the clients whose structs each run holds
        self._open: dict[Peer, int] = {}  # socket -> its run that may still grow

    def __bool__(self) -> bool:
        return bool(self._runs)

    def add_local(self, op: LocalUpdate, read: Read) -> None:
        ranges, at, refs = read
        i = self._open.get(op.peer)
        if i is not None and i + 1 < len(self._runs):
            later = set().union(*self._owns[i + 1 :])
            if later and (refs & later or _deleted_clients(op.update, at) & later):
                i = None
        if i is None:
            self._open[op.peer] = len(self._runs)
            self._runs.append([op])
            self._owns.append(set(ranges))
        else:
            self._runs[i].append(op)
            self._owns[i].update(ranges)

    def add_other(self, op: Operation) -> None:
        self._open.clear()
        last = self._runs[-1] if self._runs else None
        if (
            isinstance(op, RelayedUpdate)
            and last is not None
            and isinstance(last[0], RelayedUpdate)
        ):
            last.append(op)
            return
        self._runs.append([op])
        self._owns.append(set())

    def take(self) -> list[list[Operation]]:
        runs = self._runs
        self._runs, self._owns, self._open = [], [], {}
        return runs


def _deleted_clients(update: bytes, at: int) -> set[int]:
    rest = update[at:]
    return set(decode_delete_set(rest)) if rest not in (b"", b"\x00") else set()


def _clients(update: bytes) -> Read | None:
    """The Yjs client ids an update holds structs of, with their first and end clocks, where
    its delete set starts and which clients it names; None for bytes that are not a v1 update
    (refused: whatever cannot be read here cannot be checked for whose it is)."""
    try:
        return read_update_refs(update)
    except MalformedUpdate:
        return None
