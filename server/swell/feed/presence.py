"""Who is in a document: the editors' awareness states and the feed's own viewers."""

from __future__ import annotations

import hashlib
from typing import Any

from swell.collab.room import Room
from swell.feed.subscriber import Subscriber

PALETTE = ("#0b7285", "#5f3dc4", "#c2255c", "#2b8a3e", "#e67700", "#1864ab", "#862e9c")


def color_for(name: str) -> str:
    return PALETTE[hashlib.sha256(name.encode()).digest()[0] % len(PALETTE)]


def presence_users(room: Room | None, viewers: list[Subscriber]) -> list[dict[str, str]]:
    users: list[dict[str, str]] = []
    if room is not None:
        states = room.awareness.states
        for peer in room.peers.values():
            for client_id in sorted(peer.client_ids):
                user = _user(states.get(client_id))
                if user is not None:
                    users.append({**user, "role": peer.role.value})
    for viewer in viewers:
        if viewer.listed:
            users.append({"name": viewer.name, "color": viewer.color, "role": "view"})
    return users


def _user(state: Any) -> dict[str, str] | None:
    if not isinstance(state, dict):
        return None
    user = state.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("name"), str):
        return None
    name = " ".join(user["name"].split())[:100] or "Anonymous"
    color = user.get("color")
    if not isinstance(color, str) or len(color) > 32:
        color = color_for(name)
    return {"name": name, "color": color}
