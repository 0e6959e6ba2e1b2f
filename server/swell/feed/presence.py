"""Who is in a document, as the feed folded it from the room's events: the sockets that gave a
name (editors and WebSocket viewers, with the role their token grants) and the feed's own
event-stream viewers."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from swell.collab.events import Participant
from swell.collab.names import color_for
from swell.feed.subscriber import Subscriber

User = dict[str, str | bool]


def presence_users(
    participants: Iterable[Participant],
    editing: Collection[int],
    viewers: Iterable[Subscriber],
) -> list[User]:
    """Contract v2 presence entries: ``{"name", "color", "role", "editing"}``. Sockets without
    a name yet are not listed; names were cleaned by the room (the one name rule)."""
    users: list[User] = []
    for peer in sorted(participants, key=lambda p: p.peer_id):
        if peer.name is None:
            continue
        users.append(
            {
                "name": peer.name,
                "color": peer.color or color_for(peer.name),
                "role": peer.role.value,
                "editing": peer.peer_id in editing,
            }
        )
    for viewer in viewers:
        if viewer.listed:
            users.append(
                {"name": viewer.name, "color": viewer.color, "role": "view", "editing": False}
            )
    return users
