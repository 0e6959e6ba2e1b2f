"""A room's part that keeps it one with the same document's rooms in other processes.

Out: every committed batch (its revisions and updates), accepted awareness, and who joined or
left. In: the same from the others, applied in revision order. Revisions are the sequence:
a change that arrives before the ones under it waits (``GAP_WAIT``), and a gap that does not
fill, or a stream that could not be read for a while (``Resync``), is repaired from storage,
the only truth. Remote sockets show in presence under ids of this room; when their process
dies (``OriginGone``), their presence and awareness go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pycrdt import get_update, merge_updates

from swell.collab.events import (
    ActivityRelayed,
    DocumentEdited,
    Participant,
    PeerChanged,
    PeerJoined,
    PeerLeft,
    RoomEvent,
)
from swell.collab.peer import Role
from swell.collab.ports import DocumentStore
from swell.collab.relay import Delivery, Following, OriginGone, Relay, Resync
from swell.collab.writer import Edit, RelayedUpdate
from swell.protocol.cluster import (
    EditNote,
    RelayedActivity,
    RelayedAwareness,
    RelayedChange,
    RelayedHello,
    RelayedNotice,
    RelayedPresence,
)
from swell.protocol.messages import AwarenessUpdate, decode_frame, encode_awareness, encode_update
from swell.protocol.updates import MalformedUpdate, read_update

if TYPE_CHECKING:
    from swell.collab.room import Room

log = logging.getLogger(__name__)

GAP_WAIT = 0.25
"""Seconds a change waits for the revisions under it before they are read from storage: two
processes' commits of one document can reach the stream in the other order, a few ms apart."""
NOTHING = b"\x00\x00"


class Replica:
    def __init__(
        self,
        room: Room,
        relay: Relay,
        following: Following,
        store: DocumentStore,
        *,
        rev: int,
        on_repaired: Callable[[], None] = lambda: None,
    ) -> None:
        self._room = room
        self._doc_id = room.doc_id
        self._relay = relay
        self._following = following
        self._store = store
        self._on_repaired = on_repaired
        self.known = rev  # every revision up to here is in the room's Doc
        self._ahead: dict[int, int] = {}  # from -> to of revisions past ``known`` it holds
        self._held: dict[int, RelayedChange] = {}  # changes waiting for the ones under them
        self._gap_timer: asyncio.TimerHandle | None = None
        self._repairing: asyncio.Task[None] | None = None
        self._repair_again = False
        self._remote: dict[tuple[str, int], Participant] = {}
        self._id_origin: dict[int, str] = {}  # awareness client id -> the process owning it
        self._closed = False
        following.start(self._on_delivery)
        relay.publish(self._doc_id, RelayedHello(relay.origin))

    @property
    def newest(self) -> int:
        return max(self.known, *self._ahead.values()) if self._ahead else self.known

    def participants(self) -> list[Participant]:
        return list(self._remote.values())

    # ---- out ----------------------------------------------------------------------------------

    def committed(self, edits: list[Edit], updates: list[bytes], notes: list[EditNote]) -> None:
        """A local batch committed revisions ``edits[0].rev``..``edits[-1].rev``."""
        first, last = edits[0].rev, edits[-1].rev
        update = updates[0] if len(updates) == 1 else merge_updates(*updates)
        self._relay.publish(
            self._doc_id, RelayedChange(self._relay.origin, first, last, update, tuple(notes))
        )
        self._mark(first, last)
        self._drain()

    def awareness(self, frame: bytes) -> None:
        self._relay.publish(self._doc_id, RelayedAwareness(self._relay.origin, frame))

    def presence(self, participant: Participant, *, left: bool = False) -> None:
        self._relay.publish(
            self._doc_id,
            RelayedPresence(
                self._relay.origin,
                participant.peer_id,
                participant.role.value,
                participant.name,
                participant.color,
                participant.author,
                left,
            ),
        )

    def _announce(self) -> None:
        """Our sockets and their awareness, for processes that just opened the document."""
        for peer in list(self._room.peers.values()):
            self.presence(self._room.awareness.participant(peer))
        for guest in list(self._room.guests.values()):
            self.presence(guest)
        own = self._room.awareness.own_states()
        if own is not None:
            self.awareness(encode_awareness(own))

    # ---- in -----------------------------------------------------------------------------------

    def _on_delivery(self, delivery: Delivery) -> None:
        if self._closed:
            return
        if isinstance(delivery, RelayedChange):
            self._on_change(delivery)
        elif isinstance(delivery, RelayedAwareness):
            self._on_awareness(delivery)
        elif isinstance(delivery, RelayedPresence):
            self._on_presence(delivery)
        elif isinstance(delivery, RelayedHello):
            self._announce()
        elif isinstance(delivery, RelayedActivity):
            if delivery.record.document_id == self._doc_id:
                self._room.emit(ActivityRelayed(self._doc_id, delivery.record))
        elif isinstance(delivery, OriginGone):
            self._forget_origin(delivery.origin)
        elif isinstance(delivery, Resync):
            self.repair()
            self._announce()
            self._relay.publish(self._doc_id, RelayedHello(self._relay.origin))
        elif isinstance(delivery, RelayedNotice):
            pass  # notices travel on their own stream

    def _on_change(self, change: RelayedChange) -> None:
        if self._covered(change.from_rev, change.to_rev):
            return  # loaded or repaired already
        try:
            read_update(change.update)
        except MalformedUpdate as e:
            # Not what its process committed: those revisions come from storage instead (a
            # revision marked as held here on the strength of a bad entry would stop the
            # document for good).
            log.warning(
                "%s: a relayed change for revisions %d-%d is not an update (%s); reading "
                "them from storage",
                self._doc_id,
                change.from_rev,
                change.to_rev,
                e,
            )
            self.repair()
            return
        if change.from_rev <= self.known + 1:
            self._apply(change)
            self._drain()
        else:
            self._held[change.from_rev] = change
            self._watch_gap()

    def _covered(self, first: int, last: int) -> bool:
        if last <= self.known:
            return True
        return any(f <= first and last <= t for f, t in self._ahead.items())

    def _apply(self, change: RelayedChange) -> None:
        events = tuple(self._edited(change.origin, note) for note in change.edits)
        self._room.apply_relayed(RelayedUpdate(change.update, encode_update(change.update), events))
        self._mark(change.from_rev, change.to_rev)

    def _edited(self, origin: str, note: EditNote) -> RoomEvent:
        remote = self._remote.get((origin, note.peer))
        return DocumentEdited(
            self._doc_id,
            remote.peer_id if remote is not None else 0,
            note.author,
            note.name,
            note.added,
            note.removed,
            note.from_rev,
            note.to_rev,
            note.kind,
            remote=True,
        )

    def _mark(self, first: int, last: int) -> None:
        if first <= self.known + 1:
            self.known = max(self.known, last)
        else:
            self._ahead[first] = max(last, self._ahead.get(first, 0))
        self._advance()

    def _advance(self) -> None:
        """``known`` moves over the ranges held beyond it that now follow on."""
        while True:
            following = [f for f in self._ahead if f <= self.known + 1]
            if not following:
                return
            for f in following:
                self.known = max(self.known, self._ahead.pop(f))

    def _drain(self) -> None:
        """Apply held changes that now follow on, in revision order."""
        while self._held:
            first = min(self._held)
            if first > self.known + 1:
                break
            change = self._held.pop(first)
            if not self._covered(change.from_rev, change.to_rev):
                self._apply(change)
        if not self._held and not self._ahead and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        elif self._held or self._ahead:
            self._watch_gap()

    def _watch_gap(self) -> None:
        if self._gap_timer is None:
            loop = asyncio.get_running_loop()
            self._gap_timer = loop.call_later(GAP_WAIT, self._gap_expired)

    def _gap_expired(self) -> None:
        self._gap_timer = None
        if self._held or self._ahead:
            log.info(
                "%s: revisions after %d did not arrive within %.2f s; reading them from storage",
                self._doc_id,
                self.known,
                GAP_WAIT,
            )
            self.repair()

    def repair(self) -> None:
        """Bring the room up to what storage holds (one repair at a time; asked again while
        one runs, it runs once more after)."""
        if self._closed:
            return
        if self._repairing is not None and not self._repairing.done():
            self._repair_again = True
            return
        self._repairing = asyncio.get_running_loop().create_task(
            self._repair(), name=f"repair:{self._doc_id}"
        )

    async def _repair(self) -> None:
        while True:
            self._repair_again = False
            try:
                await self._repair_once()
            except Exception:
                log.exception("%s: repair from storage failed; retrying in 1 s", self._doc_id)
                await asyncio.sleep(1.0)
                self._repair_again = True
            if self._closed or not self._repair_again:
                return

    async def _repair_once(self) -> None:
        # Cheap first: after an outage every open room asks, and most have missed nothing.
        newest = await self._store.load_newest(self._doc_id)
        rev = newest.revision.rev if newest.revision is not None else newest.folded_to
        if rev <= self.known and not self._held and not self._ahead:
            return
        state = await self._store.load_state(self._doc_id)
        if not self._closed:
            self._take(state.snapshot, state.updates, state.rev)

    def _take(self, snapshot: bytes | None, updates: Sequence[bytes], rev: int) -> None:
        have = self._room.doc.get_state()
        parts = ([snapshot] if snapshot else []) + list(updates)
        missing = [m for m in (get_update(p, have) for p in parts) if m != NOTHING]
        if missing:
            update = missing[0] if len(missing) == 1 else merge_updates(*missing)
            self._room.apply_relayed(RelayedUpdate(update, encode_update(update), ()))
        if rev > self.known:
            log.info("%s: repaired from storage up to revision %d", self._doc_id, rev)
            self.known = rev
        self._ahead = {f: t for f, t in self._ahead.items() if t > self.known}
        self._advance()
        # Committed before they were published, so storage held them when it was read: an
        # entry claiming revisions past what it holds was not written by a process of ours.
        for first in [f for f, c in self._held.items() if c.to_rev > rev]:
            log.warning(
                "%s: dropped a relayed change for revisions %d-%d that storage does not hold",
                self._doc_id,
                first,
                self._held[first].to_rev,
            )
            del self._held[first]
        self._on_repaired()
        self._drain()

    def _on_awareness(self, entry: RelayedAwareness) -> None:
        try:
            messages = decode_frame(entry.frame)
        except ValueError:
            log.warning("%s: dropped a malformed relayed awareness message", self._doc_id)
            return
        for message in messages:
            if not isinstance(message, AwarenessUpdate):
                continue
            for item in message.entries:
                if item.state not in ("null", ""):
                    self._id_origin[item.client_id] = entry.origin  # it may have moved here
                elif self._id_origin.get(item.client_id) == entry.origin:
                    del self._id_origin[item.client_id]
            if self._room.awareness.apply_relayed(message.update):
                self._room.broadcast(message.raw)

    def _on_presence(self, entry: RelayedPresence) -> None:
        key = (entry.origin, entry.peer)
        known = self._remote.get(key)
        if entry.left:
            if known is not None:
                del self._remote[key]
                self._room.emit(PeerLeft(self._doc_id, known, remote=True))
            return
        participant = Participant(
            known.peer_id if known is not None else self._room.new_peer_id(),
            Role(entry.role),
            entry.name,
            entry.color,
            entry.author,
        )
        if participant == known:
            return
        self._remote[key] = participant
        event = PeerChanged if known is not None else PeerJoined
        self._room.emit(event(self._doc_id, participant, remote=True))

    def _forget_origin(self, origin: str) -> None:
        """A dead process's sockets: gone from presence and awareness here (and from our
        sockets' cursors)."""
        for key in [k for k in self._remote if k[0] == origin]:
            self._room.emit(PeerLeft(self._doc_id, self._remote.pop(key), remote=True))
        ids = sorted(c for c, owner in self._id_origin.items() if owner == origin)
        for client_id in ids:
            del self._id_origin[client_id]
        removal = self._room.awareness.remove_relayed(ids)
        if removal is not None:
            self._room.broadcast(encode_awareness(removal))

    def close(self) -> None:
        self._closed = True
        self._following.close()
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        if self._repairing is not None:
            self._repairing.cancel()
