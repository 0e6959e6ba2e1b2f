"""Documents rebuilt with their whole history, kept in one worker thread.

Rendering a past revision needs a Doc that kept deleted content (``skip_gc``) holding every
revision up to it; building one for a 50,000-update document takes long enough that it must
neither happen on the event loop nor on every request. One thread owns these Docs (pycrdt Docs
must not be used from two threads at once): each job extends the document's Doc with the
revisions it lacks, runs, and the Doc stays for the next job. The loop keeps a mirror of which
revision each kept Doc reaches, so it fetches only what is new."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pycrdt import Doc, Snapshot

from swell.collab.ports import DocumentStore
from swell.collab.revisions import Checkpoint, Ranges, encode_delete_set, union, unpack_blob
from swell.protocol.messages import decode_state_vector

T = TypeVar("T")

MAX_WAITING = 16
"""Jobs one document may have waiting or running: history requests are not rate-limited by
address (a view link is public), so one document's flood must not queue without end in the
one history thread that every document shares."""


class HistoryBusy(RuntimeError):
    """Too many history requests for one document are waiting; the client tries again."""


class HistoryDocs:
    def __init__(self, store: DocumentStore, *, kept: int = 4) -> None:
        self._store = store
        self._kept = kept
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="history")
        self._docs: OrderedDict[str, tuple[int, Doc[Any]]] = OrderedDict()  # thread only
        self._reach: dict[str, int] = {}  # loop's mirror: revision each kept Doc reaches
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # jobs waiting or running per document

    async def run(
        self, doc_id: str, upto: int, job: Callable[[Doc[Any]], T], *, consumes: bool = False
    ) -> T:
        """``job(doc)`` in the worker thread, on a Doc holding at least revisions 1..``upto``.
        ``consumes``: the job changes the Doc, which is dropped afterwards."""
        self._enter(doc_id)
        lock = self._locks.setdefault(doc_id, asyncio.Lock())
        try:
            async with lock:
                try:
                    return await self._run(doc_id, upto, job, consumes)
                except _Stale:
                    self._reach.pop(doc_id, None)
                    return await self._run(doc_id, upto, job, consumes)
        finally:
            self._leave(doc_id)

    async def compute(self, doc_id: str, job: Callable[[], T]) -> T:
        """``job()`` in the worker thread: history work that needs no Doc but as much CPU
        (attribution over many revisions), under the same per-document cap."""
        self._enter(doc_id)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, job)
        finally:
            self._leave(doc_id)

    def _enter(self, doc_id: str) -> None:
        if self._users.get(doc_id, 0) >= MAX_WAITING:
            raise HistoryBusy(doc_id)
        self._users[doc_id] = self._users.get(doc_id, 0) + 1

    def _leave(self, doc_id: str) -> None:
        self._users[doc_id] -= 1
        if not self._users[doc_id]:
            del self._users[doc_id]
            self._locks.pop(doc_id, None)

    async def _run(self, doc_id: str, upto: int, job: Callable[[Doc[Any]], T], consumes: bool) -> T:
        reach = self._reach.get(doc_id, 0)
        parts: list[bytes] = []
        if reach < upto:
            history = await self._store.load_history(doc_id, after_rev=reach)
            parts = [unpack_blob(c.data) for c in history.chunks] + [r.data for r in history.rows]
            newest = [c.to_rev for c in history.chunks] + [r.revision.rev for r in history.rows]
            upto = max([reach, *newest])
        else:
            upto = reach
        loop = asyncio.get_running_loop()
        result, evicted = await loop.run_in_executor(
            self._executor, self._job, doc_id, reach, parts, upto, job, consumes
        )
        for gone in evicted:
            self._reach.pop(gone, None)
        if consumes:
            self._reach.pop(doc_id, None)
        else:
            self._reach[doc_id] = upto
        return result

    def _job(
        self,
        doc_id: str,
        reach: int,
        parts: list[bytes],
        upto: int,
        job: Callable[[Doc[Any]], T],
        consumes: bool,
    ) -> tuple[T, list[str]]:
        kept = self._docs.pop(doc_id, None)
        if kept is None or kept[0] != reach:
            if reach:  # the loop believed it was kept: rebuild in full next time
                raise _Stale(doc_id)
            kept = (0, Doc(skip_gc=True))
        doc = kept[1]
        for part in parts:
            doc.apply_update(part)
        try:
            result = job(doc)
        finally:
            if not consumes:
                self._docs[doc_id] = (upto, doc)
        evicted = []
        while len(self._docs) > self._kept:
            gone, _ = self._docs.popitem(last=False)
            evicted.append(gone)
        return result, evicted

    def forget(self, doc_id: str) -> None:
        """The document was deleted or its history rewritten: rebuild from storage."""
        self._reach.pop(doc_id, None)
        self._executor.submit(self._docs.pop, doc_id, None)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Stale(RuntimeError):
    pass


def doc_at(history: Doc[Any], checkpoint: bytes, state: Checkpoint | None = None) -> Doc[Any]:
    """The document as it was at ``checkpoint`` (an encoded ``pycrdt.Snapshot``), from a Doc
    that kept every revision's content.

    ``Doc.from_snapshot`` (pycrdt 0.14 / yrs) includes a whole squashed block of a client when
    the snapshot's clock falls one past the block's start (typing "Hello" one key at a time and
    asking for the state after "H" gives "Hello"): every other offset is cut right. The
    structs it included past the snapshot's clocks are deleted again here, and the snapshot's
    own deletions re-applied, so the result holds exactly what the snapshot says. ``state``:
    the checkpoint already decoded, if the caller has it."""
    state = state if state is not None else Checkpoint.decode(checkpoint)
    past = Doc.from_snapshot(Snapshot.decode(checkpoint), history)
    extra: Ranges = {}
    for client, end in decode_state_vector(past.get_state()).items():
        wanted = state.clocks.get(client, 0)
        if end > wanted:
            extra[client] = [(wanted, end)]
    if extra:
        union(extra, state.deleted)
        past.apply_update(bytes(encode_delete_set(extra, bytearray(b"\x00"))))
    return past
