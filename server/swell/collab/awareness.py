"""Awareness that trusts no client: each client id belongs to the socket that first announced
it, states are validated and cleaned before anyone else sees them, and their number and size
are bounded. The states themselves live in pycrdt's ``Awareness`` (clocks, removals)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Awareness, Doc

from swell.collab.events import Participant
from swell.collab.names import clean_color, clean_name
from swell.collab.peer import CloseCode, Peer, Refused
from swell.protocol.messages import AwarenessEntry, encode_awareness_entries

log = logging.getLogger(__name__)

TAKEOVER_SILENCE = 20.0
"""Seconds an owning socket must have been silent before another socket of the same role may
take its client id: the reconnect of a client whose old socket died without a word (stock
clients renew their state every 15 s, so a live owner is never silent this long)."""

MAX_REMEMBERED_CLOCKS = 10_000


class AwarenessRefused(Refused):
    """A socket broke the awareness rules."""


def clean_state(text: str, max_bytes: int) -> dict[str, Any] | None:
    """The state a client may have: a JSON object of bounded size without NaN/Infinity, its
    ``user.name`` through the name rule, ``user.color`` only as ``#rrggbb``, ``cursor`` only
    in y-prosemirror's shape. None is a removal. Raises AwarenessRefused."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise AwarenessRefused(CloseCode.TOO_BIG, f"awareness state over {max_bytes} bytes")
    if text in ("", "null"):
        return None
    try:
        state = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise AwarenessRefused(CloseCode.INVALID, "awareness state is not valid JSON") from None
    if not isinstance(state, dict):
        raise AwarenessRefused(CloseCode.INVALID, "awareness state is not a JSON object")
    user = state.get("user")
    if user is not None:
        if isinstance(user, dict):
            cleaned = dict(user)
            cleaned["name"] = clean_name(user.get("name"))
            color = clean_color(user.get("color"))
            if color is None:
                cleaned.pop("color", None)
            else:
                cleaned["color"] = color
            state["user"] = cleaned
        else:
            del state["user"]
    if "cursor" in state and state["cursor"] is not None and not _is_cursor(state["cursor"]):
        del state["cursor"]
    return state


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_cursor(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"anchor", "head"}
        and all(_is_relative_position(value[k]) for k in ("anchor", "head"))
    )


def _is_relative_position(value: Any) -> bool:
    if not isinstance(value, dict) or not set(value) <= {"type", "tname", "item", "assoc"}:
        return False
    for key in ("type", "item"):
        if key in value and value[key] is not None and not _is_id(value[key]):
            return False
    if "tname" in value and not (value["tname"] is None or isinstance(value["tname"], str)):
        return False
    assoc = value.get("assoc", 0)
    return isinstance(assoc, int) and not isinstance(assoc, bool)


def _is_id(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"client", "clock"}
        and all(isinstance(value[k], int) and not isinstance(value[k], bool) for k in value)
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    """States an awareness update changed: their ids, and the bytes it carried (what every
    other socket receives, for the sender's budget)."""

    client_ids: list[int]
    size: int


class OwnedAwareness:
    """The room's awareness states, by owner. ``on_change`` hears of a socket whose name or
    colour changed (cursor moves are not reported)."""

    def __init__(
        self,
        doc: Doc[Any],
        *,
        ids_per_socket: int,
        state_bytes: int,
        on_change: Callable[[Participant], None],
    ) -> None:
        self._awareness = Awareness(doc)
        self._awareness.set_local_state(None)  # the server itself is nobody's cursor
        self._ids_per_socket = ids_per_socket
        self._state_bytes = state_bytes
        self._on_change = on_change
        self._owners: dict[int, Peer] = {}
        self._everyone: bytes | None = None  # every state, encoded once for newcomers

    @property
    def states(self) -> dict[int, dict[str, Any]]:
        return self._awareness.states

    def apply(self, peer: Peer, entries: tuple[AwarenessEntry, ...]) -> bytes | None:
        """Apply what ``peer`` announced; returns the cleaned update to send everyone (None
        if nothing is left). Raises AwarenessRefused; nothing is applied then."""
        accepted = self.accept(peer, entries)
        return self.encode(accepted.client_ids) if accepted is not None else None

    def encode(self, client_ids: list[int]) -> bytes:
        """The current states (or removals) of ``client_ids`` as one update."""
        return self._awareness.encode_awareness_update(client_ids)

    def accept(self, peer: Peer, entries: tuple[AwarenessEntry, ...]) -> Accepted | None:
        """Apply what ``peer`` announced; returns which states everyone should hear of now
        (None if nothing is left), so that a room can send several sockets' changes as one
        update. Raises AwarenessRefused; nothing is applied then."""
        cleaned: list[tuple[int, int, str]] = []
        losers: list[Peer] = []  # silent owners whose ids were taken over
        now = time.monotonic()
        for entry in entries:
            if entry.clock == 0 and entry.client_id not in self._awareness.meta:
                # Yjs (and pycrdt) take a new client's state from clock 1 on; a stock
                # y-websocket client's first, empty state has clock 0 and is ignored there too.
                continue
            owner = self._owners.get(entry.client_id)
            if owner is not peer and not self._may_claim(peer, owner, entry, now):
                continue  # an echo: stock clients re-send every state they hear of
            state = clean_state(entry.state, self._state_bytes)
            if owner is not peer and state is not None:
                if peer.announced >= self._ids_per_socket:
                    raise AwarenessRefused(
                        CloseCode.POLICY,
                        f"more than {self._ids_per_socket} awareness client ids on one socket",
                    )
            text = json.dumps(state, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
            cleaned.append((entry.client_id, entry.clock, text))
        if not cleaned:
            return None
        for client_id, _, text in cleaned:
            owner = self._owners.get(client_id)
            if owner is not peer and text != "null":
                if owner is not None:
                    log.info(
                        "socket %s takes over awareness id %d from a silent one", peer.id, client_id
                    )
                    owner.client_ids.discard(client_id)
                    losers.append(owner)
                self._owners[client_id] = peer
                peer.client_ids.add(client_id)
                peer.announced += 1
        update = encode_awareness_entries(cleaned)
        self._awareness.apply_awareness_update(update, origin=peer)
        self._everyone = None
        # Only what pycrdt took is sent on (it ignores states no newer than the ones it has).
        taken = [
            c for c, clock, _ in cleaned if self._awareness.meta.get(c, {}).get("clock") == clock
        ]
        for client_id, _, text in cleaned:
            if text == "null" and self._owners.get(client_id) is peer:
                del self._owners[client_id]
                peer.client_ids.discard(client_id)
        for changed in [peer, *losers]:
            self._note_identity(changed)
        return Accepted(taken, len(update)) if taken else None

    def name_of(self, peer: Peer) -> str | None:
        """The socket's current name, kept up to date by every change of its states (cheap:
        the writer asks for it once per stored update)."""
        return peer.participant.name if peer.participant is not None else None

    def _may_claim(self, peer: Peer, owner: Peer | None, entry: AwarenessEntry, now: float) -> bool:
        """Whether ``peer`` may write the state of an id it does not own. A clock no newer
        than the one we hold is an echo (y-websocket's provider re-sends every state it
        hears of, and announces a timeout removal with the same clock): ignored. A newer one
        for an id another open socket owns is writing in someone else's name: refused."""
        meta = self._awareness.meta.get(entry.client_id)
        if meta is not None and entry.clock <= meta["clock"]:
            return False
        if owner is None:
            return True  # new, or owned by a socket of another process that moved here
        if owner.role is peer.role and now - owner.last_received >= TAKEOVER_SILENCE:
            return True
        raise AwarenessRefused(
            CloseCode.POLICY,
            f"awareness client id {entry.client_id} belongs to another connection",
        )

    def remove(self, peer: Peer) -> bytes | None:
        """Forget the socket's ids; returns the removal to send everyone (no ghost cursors)."""
        gone = [c for c in peer.client_ids if self._owners.get(c) is peer]
        for client_id in gone:
            del self._owners[client_id]
        peer.client_ids.clear()
        if not gone:
            return None
        present = [c for c in gone if c in self._awareness.states]
        self._awareness.remove_awareness_states(present, origin=peer)
        removal = self._awareness.encode_awareness_update(gone)
        # The clocks of departed ids are kept, so that a late echo of their state is known for
        # one (and not claimed by whoever echoed it); a long-lived room forgets them in bulk.
        meta = self._awareness.meta
        if len(meta) > MAX_REMEMBERED_CLOCKS:
            for client_id in [c for c in meta if c not in self._awareness.states]:
                del meta[client_id]
        self._everyone = None
        return removal

    def everyone(self) -> bytes | None:
        """Every current state as one update (cached until the next change)."""
        if self._everyone is None:
            ids = list(self._awareness.states)
            if not ids:
                return None
            self._everyone = self._awareness.encode_awareness_update(ids)
        return self._everyone

    def participant(self, peer: Peer) -> Participant:
        """The socket as presence shows it: listed once its awareness announced a user; under
        its author's name and colour when it acts as one (what the awareness claims is never
        shown then), else under the awareness's."""
        name = color = None
        for client_id in sorted(peer.client_ids):
            user = self._awareness.states.get(client_id, {}).get("user")
            if isinstance(user, dict) and isinstance(user.get("name"), str):
                name = user["name"]
                color = user.get("color")
                break
        author = peer.author
        if author is not None and name is not None:
            name, color = author.name, author.color
        return Participant(peer.id, peer.role, name, color, author)

    def refresh(self, peer: Peer) -> None:
        """Something presence shows of ``peer`` changed outside its awareness (its author
        renamed themselves): ``on_change`` hears of it if what is shown changed."""
        self._note_identity(peer)

    def _note_identity(self, peer: Peer) -> None:
        participant = self.participant(peer)
        if participant != peer.participant:
            peer.participant = participant
            self._on_change(participant)

    def apply_relayed(self, update: bytes) -> bool:
        """States another process already validated; their sockets own them there. False
        (nothing to send on) for an update that cannot be applied."""
        try:
            self._awareness.apply_awareness_update(update, origin=None)
        except (ValueError, IndexError, RuntimeError, TypeError, AttributeError):
            log.warning("dropped a malformed relayed awareness update")
            return False
        self._everyone = None
        return True

    def own_states(self) -> bytes | None:
        """The states this process's sockets own, as one update (for other processes)."""
        ids = [c for c in self._owners if c in self._awareness.states]
        return self._awareness.encode_awareness_update(ids) if ids else None

    def remove_relayed(self, client_ids: list[int]) -> bytes | None:
        """Forget states another process owned (it died); returns the removal to send this
        process's sockets. Ids a socket here owns now are kept."""
        gone = [c for c in client_ids if c not in self._owners and c in self._awareness.states]
        if not gone:
            return None
        self._awareness.remove_awareness_states(gone, origin=None)
        self._everyone = None
        return self._awareness.encode_awareness_update(gone)
