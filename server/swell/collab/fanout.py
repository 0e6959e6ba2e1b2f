"""Sending a room's committed messages on to its sockets (other processes hear of them
through the room's replica)."""

from __future__ import annotations

from pycrdt import merge_updates

from swell.collab.peer import Peer, Role
from swell.collab.writer import LocalUpdate, Operation
from swell.protocol.messages import encode_update


class Fanout:
    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        self.peers: dict[int, Peer] = {}

    def broadcast(self, frame: bytes, sender: Peer | None = None) -> None:
        for peer in self.peers.values():
            if peer is not sender:
                peer.send(frame)

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
        """A batch's committed updates (and other processes' ones). One update goes out as
        the very bytes that came in. Several (a busy room: the batch grows with the load) go
        out merged into one message, so a room of N people costs N sends per batch instead of
        N per update — what keeps a full room from collapsing. A sender may get its own update
        back inside the merge; Yjs applies what it already has as a no-op."""
        if not ops:
            return
        if len(ops) == 1:
            op = ops[0]
            self.broadcast(op.frame, op.peer if isinstance(op, LocalUpdate) else None)
            return
        merged = encode_update(merge_updates(*(op.update for op in ops)))
        senders = {op.peer if isinstance(op, LocalUpdate) else None for op in ops}
        self.broadcast(merged, senders.pop() if len(senders) == 1 else None)
