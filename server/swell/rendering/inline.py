"""Turn a flat run of marked text into nested mark spans.

HTML and Markdown both need properly nested markup. Marks are already in canonical order, so
consecutive runs that share a prefix of marks share the enclosing spans (one <a> around a link
that is partly bold, instead of one <a> per run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

from .tree import HardBreak, Inline, Mark, Text

__all__ = ["Piece", "Span", "nest_marks"]


@dataclass(slots=True)
class Span:
    """Content wrapped in one mark; leaves are unmarked Text or HardBreak."""

    mark: Mark
    children: list[Piece] = field(default_factory=list)


Piece: TypeAlias = Span | Text | HardBreak


def nest_marks(inlines: Iterable[Inline]) -> list[Piece]:
    """Nest runs under shared marks; leaf Text pieces carry no marks of their own."""
    root: list[Piece] = []
    open_spans: list[Span] = []
    for inline in inlines:
        marks = inline.marks if isinstance(inline, Text) else ()
        keep = 0
        while keep < len(open_spans) and keep < len(marks) and open_spans[keep].mark == marks[keep]:
            keep += 1
        del open_spans[keep:]
        for mark in marks[keep:]:
            span = Span(mark)
            (open_spans[-1].children if open_spans else root).append(span)
            open_spans.append(span)
        leaf: Piece = Text(inline.text) if isinstance(inline, Text) else inline
        (open_spans[-1].children if open_spans else root).append(leaf)
    return root
