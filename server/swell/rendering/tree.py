"""Read a y-prosemirror XmlFragment into a small, validated, immutable document tree.

The walk over pycrdt happens once, here; the renderers only see this tree. Everything that is
not on the allow-list is dropped at this point (unknown elements keep their text, unknown marks
and attributes disappear), and the attributes that survive are already validated, so a renderer
cannot pass anything hostile through by accident.

How y-prosemirror (and TipTap's fork y-tiptap) stores a ProseMirror document: every node is an
XmlElement named after the node type with the node attrs as attributes (null attrs are omitted,
numbers arrive as floats), runs of text are XmlText whose formatting attributes map a mark name
to that mark's attrs object ({"bold": {}}, {"link": {"href": ..., "target": ..., ...}}).
Marks that may overlap themselves are keyed "name--<8 chars of base64 hash>".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import pycrdt

from .sanitize import heading_level, list_start, safe_href, safe_language

__all__ = [
    "Block",
    "Blockquote",
    "BulletList",
    "CodeBlock",
    "HardBreak",
    "Heading",
    "HorizontalRule",
    "Inline",
    "ListItem",
    "Mark",
    "MarkName",
    "OrderedList",
    "Paragraph",
    "Text",
    "read_fragment",
]

MarkName: TypeAlias = Literal["link", "bold", "italic", "underline", "strike", "code"]

# Allow-listed marks in nesting order, outermost first (link wraps formatting, code is innermost,
# which also keeps Markdown code spans free of other delimiters).
_MARK_ORDER: tuple[MarkName, ...] = ("link", "bold", "italic", "underline", "strike", "code")
_MARK_NAMES: dict[str, MarkName] = {name: name for name in _MARK_ORDER}
_MARK_RANK: dict[MarkName, int] = {name: rank for rank, name in enumerate(_MARK_ORDER)}

# y-prosemirror's yattr2markname: strips the hash suffix of overlapping marks.
_HASHED_MARK = re.compile(r"(.*)(--[a-zA-Z0-9+/=]{8})")
_NEWLINE = re.compile(r"\r\n|\r|\n")

# Deeper structures are dropped rather than risking RecursionError on a hostile document.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Mark:
    """An allow-listed mark; href is set (and already validated) only for links."""

    name: MarkName
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Text:
    """A run of text with its marks in canonical nesting order."""

    text: str
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class HardBreak:
    """A line break inside a paragraph or heading."""


Inline: TypeAlias = Text | HardBreak


@dataclass(frozen=True, slots=True)
class Paragraph:
    content: tuple[Inline, ...] = ()


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    content: tuple[Inline, ...] = ()


@dataclass(frozen=True, slots=True)
class ListItem:
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[ListItem, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderedList:
    start: int = 1
    items: tuple[ListItem, ...] = ()


@dataclass(frozen=True, slots=True)
class Blockquote:
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """Preformatted text; language is None unless it passed safe_language."""

    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class HorizontalRule:
    pass


Block: TypeAlias = (
    Paragraph | Heading | BulletList | OrderedList | Blockquote | CodeBlock | HorizontalRule
)

_Child: TypeAlias = pycrdt.XmlElement | pycrdt.XmlText | pycrdt.XmlFragment


def read_fragment(fragment: pycrdt.XmlFragment) -> list[Block]:
    """Convert the document's rich text into the renderers' tree in one read transaction."""
    with fragment.doc.transaction():
        return _read_blocks(fragment.children, 0)


def _read_blocks(children: Iterable[_Child], depth: int) -> list[Block]:
    """Read block content; stray inline content is wrapped into paragraphs."""
    blocks: list[Block] = []
    if depth > MAX_DEPTH:
        return blocks
    pending: list[Inline] = []

    def flush() -> None:
        if pending:
            blocks.append(Paragraph(_normalize_inlines(pending)))
            pending.clear()

    for child in children:
        if isinstance(child, pycrdt.XmlText):
            pending.extend(_read_text(child))
        elif isinstance(child, pycrdt.XmlElement):
            tag = child.tag
            if tag == "hardBreak":
                pending.append(HardBreak())
                continue
            flush()
            block = _read_block(child, tag, depth)
            if block is not None:
                blocks.append(block)
            else:
                # Unknown element (or a stray listItem): the element goes, its content stays.
                blocks.extend(_read_blocks(child.children, depth + 1))
    flush()
    return blocks


def _read_block(element: pycrdt.XmlElement, tag: str | None, depth: int) -> Block | None:
    """Map one allow-listed block element; None means "not a known block"."""
    attrs = element.attributes
    if tag == "paragraph":
        return Paragraph(_read_inline_content(element, depth))
    if tag == "heading":
        return Heading(heading_level(attrs.get("level")), _read_inline_content(element, depth))
    if tag == "bulletList":
        return BulletList(_read_items(element, depth))
    if tag == "orderedList":
        return OrderedList(list_start(attrs.get("start")), _read_items(element, depth))
    if tag == "blockquote":
        return Blockquote(tuple(_read_blocks(element.children, depth + 1)))
    if tag == "codeBlock":
        return CodeBlock(_read_plain_text(element, depth), safe_language(attrs.get("language")))
    if tag == "horizontalRule":
        return HorizontalRule()
    return None


def _read_items(element: pycrdt.XmlElement, depth: int) -> tuple[ListItem, ...]:
    """Read list items; any other child becomes an item of its own rather than being lost."""
    items: list[ListItem] = []
    if depth > MAX_DEPTH:
        return ()
    for child in element.children:
        if isinstance(child, pycrdt.XmlElement) and child.tag == "listItem":
            items.append(ListItem(tuple(_read_blocks(child.children, depth + 2))))
        else:
            blocks = _read_blocks([child], depth + 1)
            if blocks:
                items.append(ListItem(tuple(blocks)))
    return tuple(items)


def _read_inline_content(element: pycrdt.XmlElement, depth: int) -> tuple[Inline, ...]:
    return _normalize_inlines(_read_inlines(element.children, depth + 1))


def _read_inlines(children: Iterable[_Child], depth: int) -> list[Inline]:
    """Read inline content; elements other than hardBreak are flattened to their text."""
    inlines: list[Inline] = []
    if depth > MAX_DEPTH:
        return inlines
    for child in children:
        if isinstance(child, pycrdt.XmlText):
            inlines.extend(_read_text(child))
        elif isinstance(child, pycrdt.XmlElement):
            if child.tag == "hardBreak":
                inlines.append(HardBreak())
            else:
                inlines.extend(_read_inlines(child.children, depth + 1))
    return inlines


def _read_text(text: pycrdt.XmlText) -> list[Inline]:
    """Split an XmlText into runs; embeds are skipped, newlines become hard breaks."""
    inlines: list[Inline] = []
    for value, attrs in text.diff():
        if not isinstance(value, str):
            continue
        marks = _read_marks(attrs)
        # The editor shows "\n" inside text as a line break (white-space: pre-wrap), and a raw
        # newline in Markdown output could start a new block, so it becomes a HardBreak.
        for index, line in enumerate(_NEWLINE.split(value)):
            if index:
                inlines.append(HardBreak())
            inlines.append(Text(line, marks))
    return inlines


def _read_plain_text(element: pycrdt.XmlElement | pycrdt.XmlText, depth: int) -> str:
    """Concatenate all text below an element, ignoring marks (for code blocks)."""
    if isinstance(element, pycrdt.XmlText):
        return "".join(value for value, _ in element.diff() if isinstance(value, str))
    if depth > MAX_DEPTH:
        return ""
    if element.tag == "hardBreak":
        return "\n"
    parts: list[str] = []
    for child in element.children:
        if isinstance(child, pycrdt.XmlText | pycrdt.XmlElement):
            parts.append(_read_plain_text(child, depth + 1))
    return "".join(parts)


def _read_marks(attrs: Mapping[str, Any] | None) -> tuple[Mark, ...]:
    """Keep allow-listed marks only; a link whose href fails validation is dropped."""
    found: dict[MarkName, Mark] = {}
    for key, value in (attrs or {}).items():
        hashed = _HASHED_MARK.fullmatch(key)
        name = _MARK_NAMES.get(hashed.group(1) if hashed else key)
        if name is None or name in found or value is None or value is False:
            continue
        if name == "link":
            href = safe_href(value.get("href")) if isinstance(value, Mapping) else None
            if href is not None:
                found[name] = Mark(name, href)
        else:
            found[name] = Mark(name)
    return tuple(sorted(found.values(), key=lambda mark: _MARK_RANK[mark.name]))


def _normalize_inlines(inlines: Iterable[Inline]) -> tuple[Inline, ...]:
    """Drop empty runs and merge neighbours with equal marks, so renderers nest marks cleanly."""
    result: list[Inline] = []
    for inline in inlines:
        if isinstance(inline, Text):
            if not inline.text:
                continue
            last = result[-1] if result else None
            if isinstance(last, Text) and last.marks == inline.marks:
                result[-1] = Text(last.text + inline.text, last.marks)
                continue
        result.append(inline)
    return tuple(result)
