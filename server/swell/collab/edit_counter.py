"""How many characters of the rich text an update added and removed (for activity)."""

from __future__ import annotations

from typing import Any

from pycrdt import Subscription, XmlElement, XmlEvent, XmlFragment, XmlText


class EditCounter:
    """Watches the fragment while updates are applied. Text inside a block removed as a whole
    is not counted: it is gone before the event arrives."""

    def __init__(self, fragment: XmlFragment) -> None:
        self.added = 0
        self.removed = 0
        self._fragment = fragment
        self._subscription: Subscription | None = fragment.observe_deep(self._on_events)

    def reset(self) -> None:
        self.added = self.removed = 0

    def close(self) -> None:
        """Unobserve: the Rust side holds the callback, a cycle the garbage collector misses."""
        if self._subscription is not None:
            self._fragment.unobserve(self._subscription)
            self._subscription = None

    def _on_events(self, events: list[Any]) -> None:
        for event in events:
            if not isinstance(event, XmlEvent):
                continue
            target = getattr(event, "target", None)
            for change in getattr(event, "delta", ()):
                inserted = change.get("insert")
                if isinstance(inserted, str):
                    self.added += len(inserted)
                elif isinstance(inserted, list):
                    self.added += sum(text_length(node) for node in inserted)
                elif isinstance(target, XmlText) and "delete" in change:
                    self.removed += int(change["delete"])


def text_length(node: object) -> int:
    """Characters of text in ``node`` and below, without recursion: an update nested
    thousands of levels deep must not overflow the stack."""
    total = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, XmlText):
            total += len(current)
        elif isinstance(current, XmlElement):
            stack.extend(current.children)
    return total
