"""Sending a room's committed messages on: to its sockets and to the room's twins in other
processes (the relay)."""

from __future__ import annotations

from pycrdt import merge_updates

from swell.collab.peer import Peer, Role
from swell.collab.relay import Relay
from swell.collab.writer import LocalUpdate, Operation, RelayedUpdate
from swell.protocol.messages import encode_update


class Fanout:
    def __init__(self, doc_id: str, owner: object, relay: Relay | None) -> None:
        self.doc_id = doc_id
        self.peers: dict[int, Peer] = {}
        self._owner = owner  # what the relay knows this room by
        self._relay = relay

    def broadcast(self, frame: bytes, sender: Peer | None = None) -> None:
        for peer in self.peers.values():
            if peer is not sender:
                peer.send(frame)

    def publish(self, frame: bytes) -> None:
        """To the other processes' rooms of this document."""
        if self._relay is not None:
            self._relay.publish(self.doc_id, self._owner, frame)

    def send_extension(self, frame: bytes) -> None:
        """A Swell extension message, only to the sockets that asked for them."""
        for peer in self.peers.values():
            if peer.wants_extensions:
                peer.send(frame)

    def close(self, code: int, reason: str = "", role: Role | None = None) -> None:
        for peer in list(self.peers.values()):
            if role is None or peer.role is role:
                peer.close(code, reason)

    def forward(self, ops: list[Operation]) -> None:
        """A batch's committed updates. One update goes out as the very bytes that came in.
        Several (a busy room: the batch grows with the load) go out merged into one message,
        so a room of N people costs N sends per batch instead of N per update — what keeps a
        full room from collapsing. A sender may get its own update back inside the merge; Yjs
        applies what it already has as a no-op."""
        if not ops:
            return
        local = [op for op in ops if not isinstance(op, RelayedUpdate)]  # ours to publish
        if len(ops) == 1:
            op = ops[0]
            self.broadcast(op.frame, op.peer if isinstance(op, LocalUpdate) else None)
            if local:
                self.publish(op.frame)
            return
        merged = encode_update(merge_updates(*(op.update for op in ops)))
        senders = {op.peer if isinstance(op, LocalUpdate) else None for op in ops}
        self.broadcast(merged, senders.pop() if len(senders) == 1 else None)
        if len(local) == len(ops):
            self.publish(merged)
        else:  # relayed updates are the other processes' own: publish only ours
            for op in local:
                self.publish(op.frame)
