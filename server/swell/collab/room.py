"""One open document: its Doc, and the parts that serve it — a writer (inbox -> apply ->
commit -> settled), a fan-out (forward, merge, relay) and owned awareness (who may say what).

The room dispatches what sockets send and wires the parts together: nothing a writer applied is
forwarded, answered or acknowledged before it is committed, and any failure in a batch fails
the room loudly (sockets closed with 1011, a RoomFailed event, the room released)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

from pycrdt import Doc, XmlFragment

from swell.collab.awareness import OwnedAwareness
from swell.collab.compaction import CompactionSchedule, build_doc
from swell.collab.edit_counter import EditCounter
from swell.collab.events import (
    DocumentEdited,
    Participant,
    PeerChanged,
    PeerJoined,
    PeerLeft,
    RoomEvent,
    RoomFailed,
)
from swell.collab.fanout import Fanout
from swell.collab.peer import CloseCode, Peer, Refused, Role
from swell.collab.ports import DocumentStore
from swell.collab.relay import Following, Relay
from swell.collab.replica import Replica
from swell.collab.writer import Batch, Edit, LocalUpdate, RelayedUpdate, ServerChange, Writer
from swell.protocol.cluster import EditNote
from swell.protocol.messages import (
    AwarenessUpdate,
    MalformedMessage,
    QueryAwareness,
    SyncStep1,
    SyncUpdate,
    TooManyMessages,
    UnsupportedMessage,
    as_update_message,
    decode_frame,
    encode_awareness,
    encode_saved,
    encode_sync_step1,
    encode_sync_step2,
)
from swell.records import AuthorRecord
from swell.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """What one socket may do in a room (settings; see the README's "Limits")."""

    max_frame_messages: int = 32
    awareness_ids_per_socket: int = 4
    awareness_state_bytes: int = 8 * 1024
    max_document_bytes: int = 32 * 1024 * 1024
    max_pending_bytes: int = 64 * 1024 * 1024
    max_sockets: int = 2000


class Room:
    def __init__(
        self,
        doc_id: str,
        doc: Doc[Any],
        store: DocumentStore,
        *,
        rev: int,
        updates_since_snapshot: int,
        compact_every: int,
        size: int,
        publish: Callable[[RoomEvent], None] = lambda _event: None,
        limits: RoomLimits = RoomLimits(),
        relay: Relay | None = None,
        following: Following | None = None,
        on_failed: Callable[[Room], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.doc = doc
        self.fragment = doc.get("default", type=XmlFragment)
        self.refs = 0
        self.last_received = 0.0
        self.failed = False
        self.closed = False
        self._publish = publish
        self._limits = limits
        self._on_failed = on_failed
        self._telemetry = telemetry or Telemetry()
        self._peer_ids = count(1)
        self.guests: dict[int, Participant] = {}  # event-stream viewers, shown elsewhere
        self._awareness_out: dict[int, None] = {}  # changed states not sent yet (this turn)
        self._fanout = Fanout(doc_id)
        self.awareness = OwnedAwareness(
            doc,
            ids_per_socket=limits.awareness_ids_per_socket,
            state_bytes=limits.awareness_state_bytes,
            on_change=lambda p: self.emit(PeerChanged(doc_id, p)),
        )
        self._counter = EditCounter(self.fragment)
        self._compaction = CompactionSchedule(
            store,
            doc_id,
            compact_every=compact_every,
            since_snapshot=updates_since_snapshot,
            telemetry=self._telemetry,
        )
        self._writer = Writer(
            doc_id,
            doc,
            store,
            self._counter,
            size=size,
            max_document_bytes=limits.max_document_bytes,
            max_inbox_bytes=limits.max_pending_bytes,
            on_batch=self._on_batch,
            on_failure=self.fail,
            telemetry=self._telemetry,
        )
        self._writer.rev = rev
        self._replica = (
            Replica(self, relay, following, store, rev=rev, on_repaired=self._telemetry.repaired)
            if relay is not None and following is not None
            else None
        )

    @classmethod
    async def load(
        cls, doc_id: str, store: DocumentStore, relay: Relay | None = None, **kwargs: Any
    ) -> Room:
        """Raises whatever the store raises: a failed load must never look like an empty doc.
        With a relay, the document's stream is followed from before the load: what another
        process commits meanwhile arrives after it, once (known by its revisions)."""
        following = await relay.follow(doc_id) if relay is not None else None
        try:
            state = await store.load_state(doc_id)
        except BaseException:
            if following is not None:
                following.close()
            raise
        doc = build_doc(state)
        size = len(state.snapshot or b"") + sum(len(u) for u in state.updates)
        return cls(
            doc_id,
            doc,
            store,
            rev=state.rev,
            updates_since_snapshot=state.updates_since_snapshot,
            size=size,
            relay=relay,
            following=following,
            **kwargs,
        )

    @property
    def peers(self) -> dict[int, Peer]:
        return self._fanout.peers

    @property
    def consistent(self) -> bool:
        """True when everything applied to the Doc is also committed."""
        return self._writer.consistent

    async def settled(self) -> None:
        await self._writer.settled()

    def participants(self) -> list[Participant]:
        """Who is here now (in every process), for a newcomer to the feed; changes follow as
        events."""
        here = [self.awareness.participant(peer) for peer in self.peers.values()]
        return here + (self._replica.participants() if self._replica is not None else [])

    def new_peer_id(self) -> int:
        """An id no socket of this room has (remote sockets get theirs here too)."""
        return next(self._peer_ids)

    def emit(self, event: RoomEvent) -> None:
        """To this process's listeners; what its own sockets do, to the other processes."""
        self._publish(event)
        if self._replica is not None and isinstance(event, PeerJoined | PeerChanged | PeerLeft):
            if not event.remote:
                self._replica.presence(event.peer, left=isinstance(event, PeerLeft))

    def share_guest(
        self, role: Role, name: str, color: str, author: AuthorRecord | None
    ) -> Participant:
        """Someone here that is not a socket (an event-stream viewer): the other processes'
        presence lists them too. Returns what to pass to ``guest_left``."""
        guest = Participant(self.new_peer_id(), role, name, color, author)
        self.guests[guest.peer_id] = guest
        if self._replica is not None:
            self._replica.presence(guest)
        return guest

    def guest_left(self, guest: Participant) -> None:
        self.guests.pop(guest.peer_id, None)
        if self._replica is not None and not self.closed:
            self._replica.presence(guest, left=True)

    def broadcast(self, frame: bytes) -> None:
        """To every socket of this room (awareness another process accepted)."""
        self._fanout.broadcast(frame)

    def repair(self) -> None:
        """Read what storage holds that this room lacks (another process's entries were
        lost on the way)."""
        if self._replica is not None:
            self._replica.repair()

    def apply_relayed(self, op: RelayedUpdate) -> None:
        """What another process committed (or storage holds that this room lacks): applied
        and forwarded like a commit, never stored again."""
        self._writer.submit(op)

    # ---- sockets -------------------------------------------------------------------------

    def join(self, peer: Peer) -> bool:
        """Greet a new socket: our state vector, then everyone's awareness. False (and the
        socket closed with 1013) when the document has as many sockets as it accepts."""
        if 0 < self._limits.max_sockets <= len(self.peers):
            peer.close(CloseCode.TRY_AGAIN, "too many connections to this document")
            return False
        peer.id = self.new_peer_id()
        self.peers[peer.id] = peer
        peer.send(encode_sync_step1(self.doc.get_state()))
        everyone = self.awareness.everyone()
        if everyone is not None:
            peer.send(encode_awareness(everyone))
        self.emit(PeerJoined(self.doc_id, self.awareness.participant(peer)))
        return True

    def leave(self, peer: Peer) -> None:
        """Remove the socket and the awareness states it owned, so no cursor stays."""
        if self.peers.get(peer.id) is not peer:
            return
        self._send_awareness()  # what it said before it left, before its removal
        del self.peers[peer.id]
        participant = self.awareness.participant(peer)
        removal = self.awareness.remove(peer)
        if removal is not None:
            frame = encode_awareness(removal)
            self._fanout.broadcast(frame)
            if self._replica is not None:
                self._replica.awareness(frame)
        self.emit(PeerLeft(self.doc_id, participant))

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one binary frame. A frame that breaks the rules closes its socket with a
        code that says why; an unexpected error fails the room (it is a bug, and loud)."""
        now = time.monotonic()
        self.last_received = peer.last_received = now
        try:
            messages = decode_frame(frame, self._limits.max_frame_messages)
            if peer.budget is not None and not peer.budget.spend(len(messages), len(frame)):
                raise Refused(CloseCode.POLICY, "sending too fast")
            for message in messages:
                self._dispatch(peer, message)
        except Refused as e:
            self._refuse(peer, e.code, e.reason)
        except UnsupportedMessage as e:
            self._refuse(peer, CloseCode.UNSUPPORTED, str(e))
        except TooManyMessages as e:
            self._refuse(peer, CloseCode.POLICY, str(e))
        except MalformedMessage as e:
            self._refuse(peer, CloseCode.INVALID, str(e))
        except Exception:
            log.exception("room %s failed on a frame from peer %s", self.doc_id, peer.id)
            self.fail("receive")

    def _dispatch(self, peer: Peer, message: Any) -> None:
        if isinstance(message, SyncUpdate):
            if peer.can_edit:
                self._writer.submit(LocalUpdate(peer, message.update, as_update_message(message)))
        elif isinstance(message, SyncStep1):
            self._writer.request_sync(peer, message.state_vector)
        elif isinstance(message, AwarenessUpdate):
            accepted = self.awareness.accept(peer, message.entries)
            if accepted is not None:
                # Counted once accepted: echoes of others' states (stock clients send them)
                # reach nobody, so they cost nothing here.
                if peer.budget is not None and not peer.budget.spend(0, 0, accepted.size):
                    raise Refused(CloseCode.POLICY, "sending awareness too fast")
                self._awareness_later(accepted.client_ids)
        elif isinstance(message, QueryAwareness):
            self._writer.request_awareness(peer)

    def _awareness_later(self, client_ids: list[int]) -> None:
        """Changed states go out once per turn of the event loop, all sockets' together: with
        everyone's caret moving on every keystroke, a room of N sent N frames to each socket
        for N messages; now one frame per turn carries every caret that moved meanwhile."""
        if not self._awareness_out:
            asyncio.get_running_loop().call_soon(self._send_awareness)
        self._awareness_out.update(dict.fromkeys(client_ids))

    def _send_awareness(self) -> None:
        """Back to the senders too, as y-websocket's server does: a lone client's own heartbeat
        is what keeps its stock provider from timing the socket out."""
        if not self._awareness_out:
            return
        client_ids, self._awareness_out = list(self._awareness_out), {}
        if self.closed:
            return
        frame = encode_awareness(self.awareness.encode(client_ids))
        self._fanout.broadcast(frame)
        if self._replica is not None:
            self._replica.awareness(frame)

    def _refuse(self, peer: Peer, code: int, reason: str) -> None:
        log.info("closing peer %s of %s (%d): %s", peer.id, self.doc_id, code, reason)
        peer.close(code, reason)

    @property
    def rev(self) -> int:
        """The newest committed revision (this process's or, as far as it has heard, any)."""
        if self._replica is not None:
            return max(self._writer.rev, self._replica.newest)
        return self._writer.rev

    async def change(self, update: bytes, author: AuthorRecord | None, kind: str) -> int:
        """Apply, commit and forward a change the server makes (a restore) like any edit;
        returns its revision (0 when it changed nothing)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._writer.submit(ServerChange(update, author, kind, done))
        return await done

    def send_extension(self, frame: bytes) -> None:
        self._fanout.send_extension(frame)

    def close_peers(self, code: int, *, reason: str = "", role: Role | None = None) -> None:
        """Close every socket (or those of one role: a rotated token)."""
        self._fanout.close(code, reason, role)

    # ---- after each committed batch --------------------------------------------------------

    def _on_batch(self, batch: Batch) -> None:
        edited = self._runs(batch.edits)
        if self._replica is not None and batch.edits:  # published, then forwarded here
            self._replica.committed(
                batch.edits,
                [op.update for op in batch.applied if not isinstance(op, RelayedUpdate)],
                [_note(e) for e in edited],
            )
        self._fanout.forward(batch.applied)
        for peer, state_vector in batch.sync_requests.items():
            self._answer_sync(peer, state_vector)
        if batch.awareness_queries:
            everyone = self.awareness.everyone()
            if everyone is not None:
                frame = encode_awareness(everyone)
                for peer in batch.awareness_queries:
                    peer.send(frame)
        acked = [p for p in [*batch.senders, *batch.sync_requests] if p.wants_extensions]
        if acked:
            saved = encode_saved(self.doc.get_state())
            for peer in dict.fromkeys(acked):
                peer.send(saved)
        for event in edited:
            self._publish(event)
        for op in batch.applied:
            if isinstance(op, RelayedUpdate):
                for relayed in op.events:
                    self._publish(relayed)
        self._compaction.committed(batch.committed, self._compactable, self._candidate)

    @property
    def _compactable(self) -> int:
        """Up to where the room's Doc holds every revision (the compaction's candidate)."""
        return self._replica.known if self._replica is not None else self._writer.rev

    def _runs(self, edits: list[Edit]) -> list[DocumentEdited]:
        """One event per run of consecutive revisions by one socket (or one server change)."""
        runs: list[DocumentEdited] = []
        i = 0
        while i < len(edits):
            first = edits[i]
            j = i + 1
            while (
                j < len(edits)
                and first.peer is not None
                and edits[j].peer is first.peer
                and edits[j].kind == first.kind
            ):
                j += 1
            run = edits[i:j]
            peer = first.peer
            runs.append(
                DocumentEdited(
                    self.doc_id,
                    peer.id if peer is not None else 0,
                    first.author,
                    self.awareness.name_of(peer) if peer is not None else None,
                    sum(e.added for e in run),
                    sum(e.removed for e in run),
                    first.rev,
                    run[-1].rev,
                    first.kind,
                )
            )
            i = j
        return runs

    def _answer_sync(self, peer: Peer, state_vector: bytes) -> None:
        try:
            update = self.doc.get_update(state_vector)
        except ValueError as e:
            self._refuse(peer, CloseCode.INVALID, f"bad state vector: {e}")
            return
        peer.send(encode_sync_step2(update))

    def _candidate(self) -> bytes | None:
        if not self.consistent:
            return None
        encoded = self.doc.get_update()
        self._writer.measured(len(encoded))
        return encoded

    # ---- lifecycle -------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until everything received so far is committed and forwarded."""
        await self._writer.flush()

    def start_compaction(self) -> asyncio.Task[None] | None:
        if self.failed:
            return None
        return self._compaction.start(self._compactable, self._candidate)

    def fail(self, reason: str) -> None:
        """Stop serving: close every socket with 1011 (they reconnect to a fresh room), tell
        the listeners (event streams end) and the registry (it forgets this room)."""
        if self.failed:
            return
        self.failed = True
        self.closed = True
        self._telemetry.failure("room")
        log.error("room %s failed (%s): closing %d sockets", self.doc_id, reason, len(self.peers))
        self.close_peers(CloseCode.INTERNAL, reason="document failed; reconnect")
        self._publish(RoomFailed(self.doc_id, reason))
        if self._on_failed is not None:
            self._on_failed(self)
        asyncio.get_running_loop().create_task(self._writer.stop())
        self._release()

    async def close(self, code: int | None = None) -> None:
        """Flush, compact and stop; with a code, close the sockets first."""
        if code is not None:
            self.close_peers(code)
        await self.flush()
        self.closed = True
        await self._writer.stop()
        if not self.failed:
            self.start_compaction()
            await self._compaction.wait()
        self._release()

    async def discard(self) -> None:
        """Stop without storing anything (the document was deleted)."""
        self.closed = True
        await self._writer.stop()
        await self._compaction.wait()
        self._release()

    def _release(self) -> None:
        """Drop what ties the Doc to this room: the Rust side holds the observer callback, a
        reference cycle the garbage collector cannot see."""
        if self._replica is not None:
            self._replica.close()
        self._counter.close()
        self._writer.close()


def _note(event: DocumentEdited) -> EditNote:
    return EditNote(
        event.peer_id,
        event.author,
        event.name,
        event.added,
        event.removed,
        event.from_rev,
        event.to_rev,
        event.kind,
    )
