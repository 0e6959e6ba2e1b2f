"""Render the document tree as plain text (for search indexing, previews and .txt export).

Blocks are separated by a blank line, like TipTap's getText(); lists use "- " and "1. "
markers with nested content indented under the marker, quotes are prefixed with "> ".
Marks carry no meaning in plain text and are dropped; link targets are not shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from .tree import (
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    HardBreak,
    Heading,
    HorizontalRule,
    Inline,
    ListItem,
    OrderedList,
    Paragraph,
)

__all__ = ["blocks_to_text", "indent_item", "prefix_lines"]


def prefix_lines(text: str, prefix: str) -> str:
    """Prefix every line, without leaving trailing spaces on empty lines."""
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.split("\n"))


def indent_item(marker: str, content: str) -> str:
    """Put a list marker before the first line and align the other lines under its content."""
    if not content:
        return marker.rstrip()
    first, *rest = content.split("\n")
    pad = " " * len(marker)
    return "\n".join([marker + first, *(pad + line if line else "" for line in rest)])


def _inlines(content: Iterable[Inline]) -> str:
    return "".join("\n" if isinstance(inline, HardBreak) else inline.text for inline in content)


def _item_text(item: ListItem) -> str:
    return "\n".join(text for text in (_block(block) for block in item.blocks) if text)


def _block(block: Block) -> str:
    if isinstance(block, Paragraph | Heading):
        return _inlines(block.content).rstrip("\n")  # trailing hard breaks add nothing
    if isinstance(block, BulletList):
        return "\n".join(indent_item("- ", _item_text(item)) for item in block.items)
    if isinstance(block, OrderedList):
        return "\n".join(
            indent_item(f"{block.start + index}. ", _item_text(item))
            for index, item in enumerate(block.items)
        )
    if isinstance(block, Blockquote):
        inner = blocks_to_text(block.blocks)
        return prefix_lines(inner, "> ") if inner else ""
    if isinstance(block, CodeBlock):
        return block.text
    if isinstance(block, HorizontalRule):
        return "---"
    return ""  # pragma: no cover - the Block union is exhaustive


def blocks_to_text(blocks: Iterable[Block]) -> str:
    """Join non-empty blocks with a blank line; empty paragraphs add nothing."""
    return "\n\n".join(text for text in (_block(block) for block in blocks) if text)
