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
from collections.abc import Iterable, Iterator, Mapping
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

# Structure deeper than this is flattened: its text joins the nearest block that is rendered,
# as paragraphs, so a hostile document can neither make a renderer recurse without bound nor
# hide content from viewers and exports. Below the cap the walk is iterative.
MAX_DEPTH = 64

# Elements whose text forms one paragraph when structure below the cap is flattened.
_TEXTBLOCKS = frozenset({"paragraph", "heading", "codeBlock"})


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
    if depth >= MAX_DEPTH:
        return _flatten_blocks(children)
    blocks: list[Block] = []
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
        return Paragraph(_read_inline_content(element))
    if tag == "heading":
        return Heading(heading_level(attrs.get("level")), _read_inline_content(element))
    if tag == "bulletList":
        return BulletList(_read_items(element, depth))
    if tag == "orderedList":
        return OrderedList(list_start(attrs.get("start")), _read_items(element, depth))
    if tag == "blockquote":
        return Blockquote(tuple(_read_blocks(element.children, depth + 1)))
    if tag == "codeBlock":
        return CodeBlock(_read_plain_text(element), safe_language(attrs.get("language")))
    if tag == "horizontalRule":
        return HorizontalRule()
    return None


def _read_items(element: pycrdt.XmlElement, depth: int) -> tuple[ListItem, ...]:
    """Read list items; any other child becomes an item of its own rather than being lost."""
    items: list[ListItem] = []
    for child in element.children:
        if isinstance(child, pycrdt.XmlElement) and child.tag == "listItem":
            items.append(ListItem(tuple(_read_blocks(child.children, depth + 2))))
        else:
            blocks = _read_blocks([child], depth + 1)
            if blocks:
                items.append(ListItem(tuple(blocks)))
    return tuple(items)


def _read_inline_content(element: pycrdt.XmlElement) -> tuple[Inline, ...]:
    return _normalize_inlines(_read_inlines(element.children))


_ENTER, _EXIT = 0, 1


def _walk(children: Iterable[_Child]) -> Iterator[tuple[int, _Child]]:
    """Every node below ``children`` in document order, depth-first, without recursion: a
    document may nest elements 10,000 deep. Yields (``_ENTER``, node) for every node and
    (``_EXIT``, element) after an element's last descendant."""
    stack: list[tuple[pycrdt.XmlElement | None, Iterator[_Child]]] = [(None, iter(children))]
    while stack:
        parent, iterator = stack[-1]
        child = next(iterator, None)
        if child is None:
            stack.pop()
            if parent is not None:
                yield _EXIT, parent
            continue
        yield _ENTER, child
        if isinstance(child, pycrdt.XmlElement):
            stack.append((child, iter(child.children)))


def _read_inlines(children: Iterable[_Child]) -> list[Inline]:
    """Read inline content; elements other than hardBreak are flattened to their text."""
    inlines: list[Inline] = []
    for step, node in _walk(children):
        if step != _ENTER:
            continue
        if isinstance(node, pycrdt.XmlText):
            inlines.extend(_read_text(node))
        elif isinstance(node, pycrdt.XmlElement) and node.tag == "hardBreak":
            inlines.append(HardBreak())
    return inlines


def _flatten_blocks(children: Iterable[_Child]) -> list[Block]:
    """Structure below the depth cap: every text becomes part of a paragraph, one per
    paragraph, heading or code block found (and one per run of stray text between them)."""
    blocks: list[Block] = []
    pending: list[Inline] = []
    inside = 0  # how many text blocks we are in (a paragraph may hold a hostile paragraph)

    def flush() -> None:
        content = _normalize_inlines(pending)
        if content:
            blocks.append(Paragraph(content))
        pending.clear()

    for step, node in _walk(children):
        if isinstance(node, pycrdt.XmlText):
            pending.extend(_read_text(node))
            continue
        if not isinstance(node, pycrdt.XmlElement):
            continue
        tag = node.tag
        if tag == "hardBreak":
            if step == _ENTER:
                pending.append(HardBreak())
        elif tag in _TEXTBLOCKS:
            if step == _ENTER:
                if not inside:
                    flush()
                inside += 1
            else:
                inside -= 1
                if not inside:
                    flush()
        elif not inside and step == _ENTER:
            flush()  # a container starts: its text must not run into the text before it
    flush()
    return blocks


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


def _read_plain_text(element: pycrdt.XmlElement) -> str:
    """Concatenate all text below an element, ignoring marks (for code blocks)."""
    parts: list[str] = []
    for step, node in _walk(element.children):
        if step != _ENTER:
            continue
        if isinstance(node, pycrdt.XmlText):
            parts.extend(value for value, _ in node.diff() if isinstance(value, str))
        elif isinstance(node, pycrdt.XmlElement) and node.tag == "hardBreak":
            parts.append("\n")
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
