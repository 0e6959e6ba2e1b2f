"""One open document: a pycrdt Doc and Awareness, its peers, and its journal writer.

Every change to the Doc happens in the room's single writer task, which applies a batch of
updates, commits them in one transaction (group commit), and only then forwards them. Sync
replies are produced by the same task, after the commit, so nobody ever sees an update that is
not in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import (
    Awareness,
    Doc,
    XmlFragment,
    merge_updates,
)

from swell.collab.compaction import build_doc, compact_document
from swell.collab.edit_counter import EditCounter
from swell.collab.events import (
    DocumentEdited,
    Participant,
    PeerJoined,
    PeerLeft,
    PresenceChanged,
    RoomEvent,
)
from swell.collab.peer import CloseCode, Peer, Role
from swell.collab.ports import DocumentStore, PendingUpdate
from swell.collab.relay import Relay
from swell.protocol.messages import (
    AwarenessUpdate,
    MalformedMessage,
    QueryAwareness,
    SyncStep1,
    SyncUpdate,
    as_update_message,
    decode_frame,
    encode_awareness,
    encode_saved,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"
COMMIT_ATTEMPTS = 3
COMPACT_INTERVAL = 1.0
"""Seconds between a room's compactions however fast updates arrive: at 4,000 edits/s a
compaction every 500 updates would run eight times a second, each encoding, checking and
rewriting the whole document. The journal then holds at most about a second's worth more, and
a room still compacts when it closes."""


class RoomFailed(RuntimeError):
    """The room could not store an update and has closed its sockets."""


@dataclass(slots=True)
class _Op:
    peer: Peer
    update: bytes | None = None  # an update to apply, store and forward
    frame: bytes = b""  # the message forwarded to the others
    state_vector: bytes | None = None  # a sync step 1 to answer
    rejected: bool = field(default=False)
    relayed: bool = False  # committed by another process: apply and forward, never store
    added: int = 0
    removed: int = 0


_RELAY = Peer(Role.EDIT)
"""Stands for the sockets of other processes: never in ``peers``, never sent anything."""


class Room:
    def __init__(
        self,
        doc_id: str,
        doc: Doc[Any],
        store: DocumentStore,
        *,
        last_update_id: int,
        updates_since_snapshot: int,
        compact_every: int,
        relay: Relay | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.doc = doc
        self.awareness = Awareness(doc)
        self.awareness.set_local_state(None)  # the server itself is nobody's cursor
        self.awareness.observe(self._on_awareness)
        self.peers: dict[int, Peer] = {}
        self.refs = 0
        self.last_received = 0.0
        self.failed = False
        self.closed = False
        self._store = store
        self._last_update_id = last_update_id
        self._since_snapshot = updates_since_snapshot
        self._compact_every = compact_every
        self._inbox: list[_Op] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._compaction: asyncio.Task[None] | None = None
        self._compacted_at = -COMPACT_INTERVAL
        self._listeners: list[Callable[[RoomEvent], None]] = []
        self.fragment = doc.get("default", type=XmlFragment)
        self._settled = asyncio.Event()  # clear while an applied batch is not committed yet
        self._settled.set()
        self._counter: EditCounter | None = EditCounter(self.fragment)
        self._relay = relay
        self._unsubscribe_relay = relay.subscribe(doc_id, self, self._on_relayed) if relay else None
        self._writer = asyncio.create_task(self._run_writer(), name=f"room-writer:{doc_id}")

    @classmethod
    async def load(
        cls,
        doc_id: str,
        store: DocumentStore,
        *,
        compact_every: int,
        relay: Relay | None = None,
    ) -> Room:
        """Raises whatever the store raises: a failed load must never look like an empty doc."""
        state = await store.load_state(doc_id)
        doc = build_doc(state)
        return cls(
            doc_id,
            doc,
            store,
            last_update_id=state.last_update_id,
            updates_since_snapshot=state.updates_since_snapshot,
            compact_every=compact_every,
            relay=relay,
        )

    @property
    def consistent(self) -> bool:
        """True when everything applied to the Doc is also committed."""
        return self._settled.is_set()

    async def settled(self) -> None:
        await self._settled.wait()

    # ---- listeners -----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[RoomEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: RoomEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("room listener failed")

    # ---- peers ---------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Greet a new socket: our state vector, then everyone's awareness."""
        self.peers[peer.id] = peer
        peer.send(encode_sync_step1(self.doc.get_state()))
        states = list(self.awareness.states)
        if states:
            peer.send(encode_awareness(self.awareness.encode_awareness_update(states)))
        self._emit(PeerJoined(self.doc_id, Participant(peer.id, peer.role, None, None)))

    def leave(self, peer: Peer) -> None:
        """Remove the socket and the awareness states it announced, so no cursor stays."""
        if self.peers.pop(peer.id, None) is None:
            return
        name = peer.name(self.awareness.states)
        gone = [c for c in peer.client_ids if c in self.awareness.states]
        if gone:
            self.awareness.remove_awareness_states(gone, origin=None)
            removal = encode_awareness(self.awareness.encode_awareness_update(gone))
            self._broadcast(removal, None)
            if self._relay is not None:
                self._relay.publish(self.doc_id, self, removal)
        self._emit(PeerLeft(self.doc_id, Participant(peer.id, peer.role, name, None)))

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one binary frame; raises MalformedMessage/UnsupportedMessage for bad input."""
        self.last_received = time.monotonic()
        for message in decode_frame(frame):
            if isinstance(message, SyncUpdate):
                if peer.can_edit:
                    self._submit(_Op(peer, message.update, as_update_message(message)))
            elif isinstance(message, SyncStep1):
                self._submit(_Op(peer, state_vector=message.state_vector))
            elif isinstance(message, AwarenessUpdate):
                try:
                    self.awareness.apply_awareness_update(message.update, origin=peer)
                except (ValueError, IndexError, RuntimeError, TypeError, AttributeError) as e:
                    raise MalformedMessage(f"bad awareness update: {e}") from None
                # Back to the sender too, as y-websocket's server does: a lone client's own
                # heartbeat is what keeps its stock provider from timing the socket out.
                self._broadcast(message.raw, None)
                if self._relay is not None:
                    self._relay.publish(self.doc_id, self, message.raw)
            elif isinstance(message, QueryAwareness):
                states = list(self.awareness.states)
                if states:
                    peer.send(encode_awareness(self.awareness.encode_awareness_update(states)))

    def _on_relayed(self, frame: bytes) -> None:
        """A message another process committed (updates) or accepted (awareness)."""
        try:
            messages = decode_frame(frame)
        except ValueError:
            log.warning("dropped a malformed relayed message for %s", self.doc_id)
            return
        for message in messages:
            if isinstance(message, SyncUpdate):
                self._submit(_Op(_RELAY, message.update, as_update_message(message), relayed=True))
            elif isinstance(message, AwarenessUpdate):
                try:
                    self.awareness.apply_awareness_update(message.update, origin=_RELAY)
                except (ValueError, IndexError, RuntimeError, TypeError, AttributeError):
                    continue
                self._broadcast(message.raw, None)

    def send_extension(self, frame: bytes) -> None:
        """Send a Swell extension message to the sockets that asked for them."""
        for peer in self.peers.values():
            if peer.wants_extensions:
                peer.send(frame)

    def close_peers(self, code: int) -> None:
        for peer in list(self.peers.values()):
            peer.close(code)

    def _broadcast(self, frame: bytes, sender: Peer | None) -> None:
        for peer in self.peers.values():
            if peer is not sender:
                peer.send(frame)

    def _on_awareness(self, topic: str, payload: tuple[dict[str, Any], Any]) -> None:
        changes, origin = payload
        if isinstance(origin, Peer):  # pycrdt emits "change" before "update": track on both
            origin.client_ids.update(changes["added"])
            origin.client_ids.update(changes["updated"])
            origin.client_ids.difference_update(changes["removed"])
        if topic == "change":
            self._emit(PresenceChanged(self.doc_id))

    # ---- the writer ----------------------------------------------------------------------

    def _submit(self, op: _Op) -> None:
        if self.closed:
            return
        self._inbox.append(op)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything received so far is committed and forwarded."""
        while not self._idle.is_set() and not self._writer.done():
            await asyncio.wait(
                [asyncio.ensure_future(self._idle.wait()), self._writer],
                return_when=asyncio.FIRST_COMPLETED,
            )

    async def _run_writer(self) -> None:
        while True:
            if not self._inbox:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            ops, self._inbox = self._inbox, []
            try:
                await self._process(ops)
            except RoomFailed:
                return

    async def _process(self, ops: list[_Op]) -> None:
        pending = self._apply(ops)
        if pending:
            await self._commit(pending)
        self._settled.set()
        self._forward([op for op in ops if op.update is not None and not op.rejected])
        acked: list[Peer] = []
        for op in ops:
            if op.update is not None:
                if op.peer.wants_extensions and op.peer not in acked:
                    acked.append(op.peer)
            elif op.state_vector is not None:
                self._answer_sync(op)
                if op.peer.wants_extensions and op.peer not in acked:
                    acked.append(op.peer)
        if acked:
            saved = encode_saved(self.doc.get_state())
            for peer in acked:
                peer.send(saved)
        self._emit_edits(ops)
        self._since_snapshot += len(pending)
        if (
            self._since_snapshot >= self._compact_every
            and time.monotonic() - self._compacted_at >= COMPACT_INTERVAL
        ):
            self.start_compaction()

    def _apply(self, ops: list[_Op]) -> list[PendingUpdate]:
        """Apply the batch's updates and return those to store. Each run of consecutive
        updates from one socket is applied in one transaction, so observers (the edit counter
        among them) run once per run, not once per update: 24 µs an update alone, 5 µs in runs
        of 10 (measured)."""
        run: list[_Op] = []
        for op in ops:
            if op.update is None:
                continue
            if op.update == EMPTY_UPDATE:
                op.rejected = True  # nothing to store or forward; the sender still gets an ack
                continue
            if run and op.peer is not run[0].peer:
                self._apply_run(run)
                run = []
            run.append(op)
        if run:
            self._apply_run(run)
        return [
            PendingUpdate(op.update, op.peer.name(self.awareness.states))
            for op in ops
            if op.update is not None and not op.rejected and not op.relayed
        ]

    def _apply_run(self, run: list[_Op]) -> None:
        if self._counter is not None:
            self._counter.reset()
        self._settled.clear()
        with self.doc.transaction():
            for op in run:
                assert op.update is not None
                try:
                    self.doc.apply_update(op.update)
                except ValueError as e:
                    op.rejected = True
                    log.warning(
                        "rejected update from peer %s in %s: %s", op.peer.id, self.doc_id, e
                    )
                    op.peer.close(CloseCode.INVALID)
        applied = [op for op in run if not op.rejected]
        if self._counter is not None and applied:
            applied[0].added, applied[0].removed = self._counter.added, self._counter.removed

    def _forward(self, ops: list[_Op]) -> None:
        """Send a batch's committed updates on. One update goes out as the very bytes that came
        in. Several (a busy room: the batch grows with the load) go out merged into one message,
        so a room of N people costs N sends per batch instead of N per update — what keeps a
        full room from collapsing. A sender may get its own update back inside the merge; Yjs
        applies what it already has as a no-op."""
        if not ops:
            return
        local = [op for op in ops if not op.relayed]
        if len(ops) == 1:
            self._broadcast(ops[0].frame, ops[0].peer)
            if self._relay is not None and local:
                self._relay.publish(self.doc_id, self, ops[0].frame)
            return
        merged = encode_update(merge_updates(*(op.update for op in ops if op.update is not None)))
        senders = {op.peer.id for op in ops}
        only_sender = ops[0].peer if len(senders) == 1 else None
        self._broadcast(merged, only_sender)
        if self._relay is not None and local:
            if len(local) == len(ops):
                self._relay.publish(self.doc_id, self, merged)
            else:
                for op in local:
                    self._relay.publish(self.doc_id, self, op.frame)

    def _answer_sync(self, op: _Op) -> None:
        assert op.state_vector is not None
        try:
            update = self.doc.get_update(op.state_vector)
        except ValueError as e:
            log.warning("bad state vector from peer %s in %s: %s", op.peer.id, self.doc_id, e)
            op.peer.close(CloseCode.INVALID)
            return
        op.peer.send(encode_sync_step2(update))

    def _emit_edits(self, ops: list[_Op]) -> None:
        if not self._listeners:
            return
        counts: dict[int, list[int]] = {}
        peers: dict[int, Peer] = {}
        for op in ops:
            if op.update is not None and not op.rejected and not op.relayed:
                total = counts.setdefault(op.peer.id, [0, 0])
                total[0] += op.added
                total[1] += op.removed
                peers[op.peer.id] = op.peer
        for peer_id, (added, removed) in counts.items():
            author = peers[peer_id].name(self.awareness.states)
            self._emit(DocumentEdited(self.doc_id, peer_id, author, added, removed))

    async def _commit(self, pending: list[PendingUpdate]) -> None:
        delay = 0.1
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                self._last_update_id = await self._store.append_updates(self.doc_id, pending)
                return
            except Exception:
                log.exception(
                    "commit of %d updates to %s failed (attempt %d of %d)",
                    len(pending),
                    self.doc_id,
                    attempt,
                    COMMIT_ATTEMPTS,
                )
                if attempt < COMMIT_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 4
        # Nobody has seen these updates; the clients still hold them and resend on reconnect.
        self.fail()
        raise RoomFailed(self.doc_id)

    def fail(self) -> None:
        self._settled.set()
        self.failed = True
        self.closed = True
        self._inbox.clear()
        self._idle.set()
        self.close_peers(CloseCode.INTERNAL)
        if self._counter is not None:
            self._counter.close()
            self._counter = None

    # ---- compaction and lifecycle -----------------------------------------------------------

    def start_compaction(self) -> asyncio.Task[None] | None:
        if self._compaction is not None and not self._compaction.done():
            return self._compaction
        if self._since_snapshot == 0 or self.failed:
            return None
        upto = self._last_update_id
        self._since_snapshot = 0
        self._compacted_at = time.monotonic()
        # Everything applied is committed up to ``upto``: the Doc itself is the snapshot.
        candidate = self.doc.get_update() if self.consistent else None
        self._compaction = asyncio.create_task(
            self._compact(upto, candidate), name=f"compact:{self.doc_id}"
        )
        return self._compaction

    async def _compact(self, upto: int, candidate: bytes | None) -> None:
        try:
            await compact_document(self._store, self.doc_id, upto, candidate=candidate)
        except Exception:
            log.exception("compaction of %s up to %d failed", self.doc_id, upto)

    async def close(self, code: int | None = None) -> None:
        """Flush, compact and stop; with a code, close the sockets first."""
        if code is not None:
            self.close_peers(code)
        await self.flush()
        self.closed = True
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        if not self.failed:
            self.start_compaction()
            if self._compaction is not None:
                await asyncio.gather(self._compaction, return_exceptions=True)
        self._release()

    def _release(self) -> None:
        """Drop what ties the Doc to this room: the Rust side holds the observer callback, a
        reference cycle the garbage collector cannot see."""
        self._listeners.clear()
        if self._unsubscribe_relay is not None:
            self._unsubscribe_relay()
            self._unsubscribe_relay = None
        if self._counter is not None:
            self._counter.close()
            self._counter = None

    async def discard(self) -> None:
        """Stop without storing anything (the document was deleted)."""
        self.closed = True
        self._inbox.clear()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)
        self._release()
