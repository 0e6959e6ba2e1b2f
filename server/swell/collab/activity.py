"""Activity: what people did, stored and numbered, folded from the rooms' events. Typing is
summarised per burst, not logged per keystroke: a burst is one author's (or, for anonymous
sockets, one socket's) consecutive revisions of a document; it ends after a few quiet seconds,
after a long stretch of typing, or as soon as somebody else changes the document, so that each
burst covers revisions ``from_rev``..``to_rev`` of one person. A restore is an entry of its own.
Joining and leaving are debounced by name: someone reconnecting in a loop is one "joined", and
"left" is written only once they stayed away for that quiet time.

Entries are written by group commit: ``_record`` only queues; one writer task (started when
something is queued and none runs) waits ``linger_seconds``, then stores everything queued in one
batch, one transaction, and what arrives meanwhile goes into the next."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from swell.collab.events import (
    DocumentCreated,
    DocumentDeleted,
    DocumentEdited,
    DocumentRenamed,
    PeerChanged,
    PeerJoined,
    PeerLeft,
    RoomEvent,
    RoomUnloaded,
)
from swell.collab.peer import Role
from swell.collab.ports import ActivityLog, ActivityRecord, AuthorRecord

log = logging.getLogger(__name__)

SOMEONE = "Someone"
MAX_BURST_SECONDS = 60.0
MAX_QUEUED = 10_000
"""Entries waiting for the database at most (small: a few hundred bytes each). Beyond, the
oldest are dropped, with a warning: a database that hangs must not grow memory without end."""
MAX_BATCH = 1_000
"""Entries in one transaction at most; the rest go into the next one straight after."""
LINGER_SECONDS = 0.25
"""How long the writer waits after an entry before writing (the server's setting; 0 in tests
that count transactions). Group commit alone leaves a batch per entry when entries come one
at a time: 50 people typing in turn closed 50 bursts a second, and those 50 transactions were
a third of the server's CPU (measured, issue 13). A quarter of a second costs nothing a watcher
sees: an edit's entry is written a burst's quiet time after the edit anyway."""


@dataclass
class _Burst:
    who: tuple[str, str | int]  # ("author", id) or ("peer", peer id)
    name: str
    author: AuthorRecord | None
    from_rev: int
    to_rev: int
    peers: set[int] = field(default_factory=set)
    added: int = 0
    removed: int = 0
    started: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None
    runs: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(from, to, added, removed) of each run it took in: another process's revision that
    turns out to lie between them splits it there."""


@dataclass(frozen=True, slots=True)
class _Entry:
    doc_id: str
    kind: str
    user: str
    summary: str
    author: AuthorRecord | None
    from_rev: int | None
    to_rev: int | None

    @property
    def author_id(self) -> str | None:
        return self.author.id if self.author is not None else None


def _listed(docs: list[str], most: int = 20) -> str:
    shown = ", ".join(docs[:most])
    return shown if len(docs) <= most else f"{shown} and {len(docs) - most} more"


def summarize_edit(name: str, added: int, removed: int) -> str:
    def chars(n: int) -> str:
        return f"{n} character" + ("" if n == 1 else "s")

    if added and removed:
        return f"{name} added {chars(added)} and removed {removed}"
    if added:
        return f"{name} added {chars(added)}"
    if removed:
        return f"{name} removed {chars(removed)}"
    return f"{name} changed the formatting"


class ActivityRecorder:
    def __init__(
        self,
        activity_log: ActivityLog,
        *,
        burst_seconds: float,
        leave_seconds: float | None = None,
        max_queued: int = MAX_QUEUED,
        max_batch: int = MAX_BATCH,
        linger_seconds: float = 0.0,
    ) -> None:
        self._log = activity_log
        self._burst_seconds = burst_seconds
        # A leave is written after this long without the same name coming back.
        self._leave_seconds = burst_seconds if leave_seconds is None else leave_seconds
        self._bursts: dict[str, _Burst] = {}  # doc -> its open burst (one at a time)
        self._joined: dict[tuple[str, int], str] = {}  # (doc, peer) -> the name it joined as
        self._present: dict[tuple[str, str], int] = {}  # (doc, name) -> sockets with it
        self._authors: dict[tuple[str, str], AuthorRecord] = {}  # (doc, name) -> its author
        self._leaving: dict[tuple[str, str], asyncio.TimerHandle] = {}  # (doc, name)
        self._queue: deque[_Entry] = deque()  # recorded, not yet taken into a batch
        self._max_queued = max(1, max_queued)
        self._max_batch = max(1, max_batch)
        self._linger = linger_seconds
        self._writer: asyncio.Task[None] | None = None  # the one writer, while there is work
        self._dropped = 0  # entries dropped since the last warning about it
        self._listeners: list[Callable[[ActivityRecord], None]] = []

    def listen(self, listener: Callable[[ActivityRecord], None]) -> None:
        self._listeners.append(listener)

    def on_event(self, event: RoomEvent) -> None:
        if isinstance(event, DocumentEdited) and event.remote:
            self._edited_elsewhere(event)
            return
        if isinstance(event, PeerJoined | PeerChanged | PeerLeft) and event.remote:
            return  # another process's socket: that process records it
        if isinstance(event, DocumentEdited):
            self._on_edit(event)
        elif isinstance(event, PeerChanged):
            self._on_named(event)
        elif isinstance(event, PeerLeft):
            key = (event.doc_id, event.peer.peer_id)
            burst = self._bursts.get(event.doc_id)
            if burst is not None and event.peer.peer_id in burst.peers:
                self._close_burst(event.doc_id)
            self._on_left(event.doc_id, self._joined.pop(key, None))
        elif isinstance(event, DocumentCreated):
            who = event.user or SOMEONE
            self._record(
                event.doc_id, "created", who, f"{who} created the document", author=event.author
            )
        elif isinstance(event, DocumentRenamed):
            who = event.user or SOMEONE
            self._record(
                event.doc_id,
                "title",
                who,
                f"{who} renamed the document to “{event.title}”",
                author=event.author,
            )
        elif isinstance(event, DocumentDeleted):
            burst = self._bursts.pop(event.doc_id, None)
            if burst is not None and burst.timer is not None:
                burst.timer.cancel()
            for left in [k for k in self._leaving if k[0] == event.doc_id]:
                self._leaving.pop(left).cancel()
            self._forget_people(event.doc_id)
        elif isinstance(event, RoomUnloaded):
            # Everyone has left: write what is pending now, keep nothing for the document.
            self._close_burst(event.doc_id)
            for person in [k for k in self._leaving if k[0] == event.doc_id]:
                self._leaving.pop(person).cancel()
                self._record_leave(person)
            self._forget_people(event.doc_id)

    def _forget_people(self, doc_id: str) -> None:
        for key in [k for k in self._joined if k[0] == doc_id]:
            del self._joined[key]
        for present in [k for k in self._present if k[0] == doc_id]:
            del self._present[present]
        for person in [k for k in self._authors if k[0] == doc_id]:
            del self._authors[person]

    def _on_named(self, event: PeerChanged) -> None:
        """The first name a socket gives is its join; later renames only follow along."""
        peer = event.peer
        if peer.name is None:
            return
        key = (event.doc_id, peer.peer_id)
        previous = self._joined.get(key)
        if previous == peer.name:
            return
        self._joined[key] = peer.name
        if previous is not None:
            self._on_left(event.doc_id, previous, quietly=True)
        person = (event.doc_id, peer.name)
        self._present[person] = self._present.get(person, 0) + 1
        if peer.author is not None:
            self._authors[person] = peer.author
        if self._present[person] > 1 or previous is not None:
            return  # another tab of someone already here, or a rename
        pending = self._leaving.pop(person, None)
        if pending is not None:
            pending.cancel()  # back within the quiet time: neither a leave nor a join
            return
        verb = "joined" if peer.role is Role.EDIT else "is watching"
        self._record(event.doc_id, "join", peer.name, f"{peer.name} {verb}", author=peer.author)

    def _on_left(self, doc_id: str, name: str | None, *, quietly: bool = False) -> None:
        if name is None:
            return
        person = (doc_id, name)
        remaining = self._present.get(person, 0) - 1
        if remaining > 0:
            self._present[person] = remaining
            return
        self._present.pop(person, None)
        if quietly:
            self._authors.pop(person, None)
            return
        if person in self._leaving:
            return
        loop = asyncio.get_running_loop()
        self._leaving[person] = loop.call_later(self._leave_seconds, self._left, person)

    def _left(self, person: tuple[str, str]) -> None:
        if self._leaving.pop(person, None) is not None:
            self._record_leave(person)

    def _record_leave(self, person: tuple[str, str]) -> None:
        doc_id, name = person
        author = None if person in self._present else self._authors.pop(person, None)
        self._record(doc_id, "leave", name, f"{name} left", author=author)

    def _edited_elsewhere(self, event: DocumentEdited) -> None:
        """Another process committed (and records) it. If it is somebody else's, the burst
        open here ends at its revision, as it would on one server, even though it is heard of
        a little later: the runs before it are recorded, the ones after go on as a new burst."""
        doc_id = event.doc_id
        burst = self._bursts.get(doc_id)
        if burst is None or (event.author is not None and burst.who == ("author", event.author.id)):
            return
        before = [run for run in burst.runs if run[1] < event.from_rev]
        after = [run for run in burst.runs if run[0] > event.to_rev]
        if not before:
            return  # the whole burst came after it
        if not after:
            self._close_burst(doc_id)
            return
        self._bursts[doc_id] = _Burst(
            burst.who,
            burst.name,
            burst.author,
            before[0][0],
            before[-1][1],
            added=sum(run[2] for run in before),
            removed=sum(run[3] for run in before),
            runs=before,
        )
        self._close_burst(doc_id)  # records the runs before it
        burst.runs = after  # the rest goes on, with its timer
        burst.from_rev = after[0][0]
        burst.added = sum(run[2] for run in after)
        burst.removed = sum(run[3] for run in after)
        self._bursts[doc_id] = burst

    def _on_edit(self, event: DocumentEdited) -> None:
        doc_id = event.doc_id
        burst = self._bursts.get(doc_id)
        author = event.author
        who: tuple[str, str | int] = (
            ("author", author.id) if author is not None else ("peer", event.peer_id)
        )
        if burst is not None and (burst.who != who or event.kind != "edit"):
            self._close_burst(doc_id)  # somebody else changed it: their revisions start
            burst = None
        name = (
            author.name
            if author is not None
            else event.name or self._joined.get((doc_id, event.peer_id)) or SOMEONE
        )
        if event.kind == "restore":
            self._record(
                doc_id,
                "restore",
                name,
                f"{name} restored an earlier version",
                author=author,
                from_rev=event.from_rev,
                to_rev=event.to_rev,
            )
            return
        if burst is None:
            burst = self._bursts[doc_id] = _Burst(who, name, author, event.from_rev, event.to_rev)
        burst.to_rev = max(burst.to_rev, event.to_rev)
        burst.runs.append((event.from_rev, event.to_rev, event.added, event.removed))
        if event.peer_id:
            burst.peers.add(event.peer_id)
        burst.added += event.added
        burst.removed += event.removed
        if burst.timer is not None:
            burst.timer.cancel()
        if time.monotonic() - burst.started >= MAX_BURST_SECONDS:
            self._close_burst(doc_id)
            return
        loop = asyncio.get_running_loop()
        burst.timer = loop.call_later(self._burst_seconds, self._close_burst, doc_id)

    def _close_burst(self, doc_id: str) -> None:
        burst = self._bursts.pop(doc_id, None)
        if burst is None:
            return
        if burst.timer is not None:
            burst.timer.cancel()
        summary = summarize_edit(burst.name, burst.added, burst.removed)
        self._record(
            doc_id,
            "edit",
            burst.name,
            summary,
            author=burst.author,
            from_rev=burst.from_rev,
            to_rev=burst.to_rev,
        )

    def _record(
        self,
        doc_id: str,
        kind: str,
        user: str,
        summary: str,
        *,
        author: AuthorRecord | None = None,
        from_rev: int | None = None,
        to_rev: int | None = None,
    ) -> None:
        if len(self._queue) >= self._max_queued:
            dropped = self._queue.popleft()
            self._dropped += 1
            if self._dropped == 1:
                log.warning(
                    "%d activity entries wait for the database: dropping the oldest (%s of %s)",
                    len(self._queue) + 1,
                    dropped.kind,
                    dropped.doc_id,
                )
        self._queue.append(_Entry(doc_id, kind, user, summary, author, from_rev, to_rev))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_queued())

    async def _write_queued(self) -> None:
        """The one writer: batch after batch until the queue is empty, then it ends (and the
        next entry starts a new one). One batch at a time is what keeps each document's
        records in the order they were recorded, numbered increasingly, delivered once."""
        try:
            if self._linger > 0:
                await asyncio.sleep(self._linger)  # what comes meanwhile joins this batch
            while self._queue:
                if self._dropped:
                    log.warning("%d activity entries were dropped (queue full)", self._dropped)
                    self._dropped = 0
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                try:
                    records = await self._store(batch)
                except Exception:  # a bug: the entries are lost, the writer goes on
                    log.exception("activity writer failed on %d entries", len(batch))
                    continue
                self._deliver(records)
        finally:
            self._writer = None  # no await since the queue was seen empty: nothing is missed

    async def _store(self, batch: list[_Entry]) -> list[ActivityRecord]:
        """One transaction for the batch. A document deleted meanwhile is left out by the
        log itself. If the batch fails anyway (a delete racing the write, a row the database
        refuses), each document is tried again on its own, so that one document never loses
        the others' entries: what fails then is logged with its documents and dropped."""
        docs = sorted({entry.doc_id for entry in batch})
        try:
            records = await self._log.append_activities(batch)
        except Exception:
            if len(docs) == 1:
                log.warning(
                    "could not store %d activity entries of %s", len(batch), docs[0], exc_info=True
                )
                return []
            log.warning(
                "could not store %d activity entries of %d documents (%s): each on its own now",
                len(batch),
                len(docs),
                _listed(docs),
                exc_info=True,
            )
            return await self._store_each(batch, docs)
        gone = set(docs).difference(record.document_id for record in records)
        if gone:
            log.info("activity of deleted documents not stored: %s", _listed(sorted(gone)))
        return records

    async def _store_each(self, batch: list[_Entry], docs: list[str]) -> list[ActivityRecord]:
        records: list[ActivityRecord] = []
        failed: list[str] = []
        error: Exception | None = None
        for doc_id in docs:
            mine = [entry for entry in batch if entry.doc_id == doc_id]
            try:
                records.extend(await self._log.append_activities(mine))
            except Exception as e:
                failed.append(doc_id)
                error = e
        if failed:
            log.warning(
                "dropped the activity of %d documents: %s",
                len(failed),
                _listed(failed),
                exc_info=error,
            )
        return records

    def _deliver(self, records: list[ActivityRecord]) -> None:
        for record in records:
            for listener in self._listeners:
                try:
                    listener(record)
                except Exception:
                    log.exception("activity listener failed on %s", record.document_id)

    async def flush(self) -> None:
        """Shutdown: close every open burst, write pending leaves, wait until all is stored."""
        for doc_id in list(self._bursts):
            self._close_burst(doc_id)
        for person in list(self._leaving):
            self._leaving.pop(person).cancel()
            self._record_leave(person)
        while self._queue or self._writer is not None:
            if self._writer is None:  # the writer was cancelled: what it left is written now
                self._writer = asyncio.get_running_loop().create_task(self._write_queued())
            # wait() neither raises the writer's outcome nor cancels it if we are cancelled
            await asyncio.wait([self._writer])
