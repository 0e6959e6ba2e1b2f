"""Rendering a document off the event loop, once per (document, state).

A 4 MB document takes a few hundred milliseconds to render, which on the loop would stall every
socket of the process for that long, for each viewer update and each export. Here the loop only
takes the committed state (an encoded update, a few milliseconds); a worker thread builds a Doc
from it and renders. One render per document runs at a time (a request for a state already
being rendered waits for that render), and a small cache answers repeated requests for the same
state (viewers joining, exports in a loop) without rendering again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from pycrdt import Doc, Snapshot, XmlFragment

from swell.collab.registry import RoomRegistry
from swell.rendering import render_formats

log = logging.getLogger(__name__)

SLOW_RENDER = 0.05
"""Renders slower than this are logged (with the document's size)."""

Key = tuple[str, bytes]  # (document id, content_key)


def render_update(update: bytes, formats: tuple[str, ...]) -> dict[str, str]:
    """In a worker thread: a Doc of its own from ``update``, rendered; nothing is shared with
    the loop's Docs."""
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return render_formats(doc.get("default", type=XmlFragment), formats)


class RenderCache:
    def __init__(self, *, entries: int = 16, max_chars: int = 64 << 20) -> None:
        self._entries = entries
        self._max_chars = max_chars
        self._cache: OrderedDict[Key, dict[str, str]] = OrderedDict()
        self._chars = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._inflight: dict[tuple[Key, tuple[str, ...]], asyncio.Future[dict[str, str]]] = {}

    def cached(self, doc_id: str, state: bytes, formats: Iterable[str]) -> dict[str, str] | None:
        entry = self._cache.get((doc_id, state))
        if entry is None:
            return None
        wanted = tuple(formats)
        if not all(fmt in entry for fmt in wanted):
            return None
        self._cache.move_to_end((doc_id, state))
        return {fmt: entry[fmt] for fmt in wanted}

    async def render(
        self,
        doc_id: str,
        state: bytes,
        snapshot: Callable[[], bytes],
        formats: Iterable[str],
    ) -> dict[str, str]:
        """``formats`` of the document at ``state``. ``snapshot`` gives the encoded document
        at exactly that state: it is called at once, on the loop, and only on a cache miss."""
        wanted = tuple(formats)
        hit = self.cached(doc_id, state, wanted)
        if hit is not None:
            return hit
        key = ((doc_id, state), wanted)
        future = self._inflight.get(key)
        if future is None:
            update = snapshot()  # before any await: it must match ``state``
            future = asyncio.ensure_future(self._render(doc_id, state, update, wanted))
            self._inflight[key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(key, None))
        # Shielded: a viewer that leaves must not cancel a render that others wait for, nor
        # release the document's lock while its thread still runs.
        return await asyncio.shield(future)

    async def _render(
        self, doc_id: str, state: bytes, update: bytes, formats: tuple[str, ...]
    ) -> dict[str, str]:
        lock = self._locks.setdefault(doc_id, asyncio.Lock())
        self._users[doc_id] = self._users.get(doc_id, 0) + 1
        try:
            async with lock:  # one render per document at a time
                hit = self.cached(doc_id, state, formats)
                if hit is not None:
                    return hit
                started = time.perf_counter()
                out = await asyncio.to_thread(render_update, update, formats)
                elapsed = time.perf_counter() - started
                if elapsed > SLOW_RENDER:
                    log.info(
                        "rendering %s (%d bytes, %s) took %.0f ms off the loop",
                        doc_id,
                        len(update),
                        "+".join(formats),
                        elapsed * 1000,
                    )
                self._store((doc_id, state), out)
                return out
        finally:
            self._users[doc_id] -= 1
            if not self._users[doc_id]:
                del self._users[doc_id]
                del self._locks[doc_id]

    def _store(self, key: Key, out: dict[str, str]) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None:
            self._chars -= sum(map(len, entry.values()))
            out = {**entry, **out}
        size = sum(map(len, out.values()))
        if size > self._max_chars:
            return  # larger than the whole cache: rendered for this request only
        self._cache[key] = out
        self._chars += size
        while len(self._cache) > self._entries or self._chars > self._max_chars:
            _, dropped = self._cache.popitem(last=False)
            self._chars -= sum(map(len, dropped.values()))

    def forget(self, doc_id: str) -> None:
        """The document is gone: drop its renders."""
        for key in [k for k in self._cache if k[0] == doc_id]:
            self._chars -= sum(map(len, self._cache.pop(key).values()))


async def committed_state(rooms: RoomRegistry, doc_id: str) -> tuple[bytes, Callable[[], bytes]]:
    """The document's committed content key (state vector and delete set), and how to encode
    exactly that state: from its room when it is loaded (waiting until what was applied is
    committed, never a failed room's), else from storage. Use the pair before awaiting
    anything else."""
    room = rooms.get(doc_id)
    while room is not None and not room.failed:
        if room.consistent:
            return content_key(room.doc), room.doc.get_update
        await room.settled()
        room = rooms.get(doc_id)  # it may have failed or unloaded meanwhile
    doc = await rooms.read(doc_id)  # raises LoadFailed
    return content_key(doc), doc.get_update


def content_key(doc: Doc[Any]) -> bytes:
    """What identifies the document's content: its state vector *and* its delete set (a
    snapshot). A deletion does not move the state vector, so keyed by that alone, a render
    from before a deletion would be served after it."""
    return Snapshot.from_doc(doc).encode()
