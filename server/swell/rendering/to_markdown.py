"""Render the document tree as CommonMark (with GFM ~~strike~~).

Text is escaped so that document content can never become Markdown syntax: inline specials
are backslash-escaped everywhere, and characters that only matter at the start of a line
(list markers, setext underlines, indentation) are neutralised at every line start. Markup is
only ever produced by this module, from the allow-listed tree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from .inline import Piece, Span, nest_marks
from .to_text import indent_item, prefix_lines
from .tree import (
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    HardBreak,
    Heading,
    HorizontalRule,
    Inline,
    OrderedList,
    Paragraph,
    Text,
)

__all__ = ["blocks_to_markdown", "escape_text"]

HARD_BREAK = "\\\n"

_DELIMITERS = {
    "bold": ("**", "**"),
    "italic": ("*", "*"),
    "strike": ("~~", "~~"),
    # Markdown has no underline; inline HTML is the usual spelling and it is our own markup.
    "underline": ("<u>", "</u>"),
}
_HTML_FALLBACK = {
    "bold": ("<strong>", "</strong>"),
    "italic": ("<em>", "</em>"),
    "strike": ("<s>", "</s>"),
    "underline": ("<u>", "</u>"),
}
_OPENING_CHARS = {
    "link": "[",
    "bold": "*",
    "italic": "*",
    "strike": "~",
    "underline": "<",
    "code": "`",
}

# Specials that act anywhere in a line: emphasis, code, links/images, raw HTML and autolinks,
# entities, GFM tables and strike, and ATX heading closers.
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>~|#&])")
_ORDERED_MARKER = re.compile(r"\d+(?=[.)])")
_BACKTICKS = re.compile(r"`+")
_URL_SAFE = "!#$%&'*+,/:;=?@[]~"


def escape_text(text: str) -> str:
    """Backslash-escape inline Markdown specials (CommonMark allows escaping any punctuation)."""
    return _INLINE_SPECIALS.sub(r"\\\1", text)


def _escape_line_start(line: str) -> str:
    """Stop a line from opening a block: list item, setext underline or indented code."""
    line = line.lstrip(" \t")
    if line[:1] in ("-", "+", "="):
        return "\\" + line
    match = _ORDERED_MARKER.match(line)
    if match:
        return line[: match.end()] + "\\" + line[match.end() :]
    return line


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _code_span(text: str) -> str:
    if not text:
        return ""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = ""
    if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" ")):
        pad = " "  # CommonMark strips exactly one padding space from each side
    return f"{fence}{pad}{text}{pad}{fence}"


def _destination(href: str) -> str:
    """Percent-encode what could end or break a link destination (spaces, parens, <, >, \\)."""
    return quote(href, safe=_URL_SAFE)


def _raw_text(pieces: Iterable[Piece]) -> str:
    parts: list[str] = []
    for piece in pieces:
        if isinstance(piece, Span):
            parts.append(_raw_text(piece.children))
        elif isinstance(piece, Text):
            parts.append(piece.text)
    return "".join(parts)


def _kind(char: str) -> str:
    """Classify a neighbour the way CommonMark's flanking rules do ("" is a line edge)."""
    if not char or char.isspace():
        return "space"
    return "punct" if unicodedata.category(char)[0] in "PS" else "other"


def _delimiters_work(delimiter: str, before: str, core: str, after: str) -> bool:
    """Whether `delimiter + core + delimiter` between these neighbours parses as emphasis.

    The opening run must be left-flanking and the closing run right-flanking, and neither
    may touch the same character (which would merge two delimiter runs into one).
    """
    char = delimiter[0]
    if before == char or after == char:
        return False
    if _kind(core[0]) == "punct" and _kind(before) == "other":
        return False
    return not (_kind(core[-1]) == "punct" and _kind(after) == "other")


def _first_char(piece: Piece) -> str:
    """The first character a piece will render to, as far as flanking rules care."""
    if isinstance(piece, HardBreak):
        return "\\"
    if isinstance(piece, Text):
        return escape_text(piece.text[:1])[:1]
    return " " if _starts_with_space(piece) else _OPENING_CHARS[piece.mark.name]


def _starts_with_space(span: Span) -> bool:
    """Whether leading whitespace will be moved out in front of this span's opening."""
    if span.mark.name == "code" or not span.children:
        return False  # code spans keep their whitespace inside the backticks
    first = span.children[0]
    if isinstance(first, Span):
        return _starts_with_space(first)
    return isinstance(first, Text) and first.text[:1].isspace()


def _span(span: Span, before: str, after: str) -> str:
    """Render one mark; `before`/`after` are the neighbouring characters outside the span."""
    if span.mark.name == "code":
        return _code_span(_raw_text(span.children))
    inner = _pieces(span.children)
    core = inner.strip()
    if not core:
        return inner
    # Delimiters next to whitespace do not open/close emphasis, so whitespace moves outside.
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    if span.mark.name == "link":
        return f"{lead}[{core}]({_destination(span.mark.href or '')}){trail}"
    start, end = _DELIMITERS[span.mark.name]
    if not _delimiters_work(start, lead[-1:] or before, core, trail[:1] or after):
        # Emphasis delimiters would not parse here (e.g. "a**.b**c"); inline HTML always does.
        start, end = _HTML_FALLBACK[span.mark.name]
    return f"{lead}{start}{core}{end}{trail}"


def _pieces(pieces: Sequence[Piece]) -> str:
    out: list[str] = []
    last = ""
    for index, piece in enumerate(pieces):
        next_piece = pieces[index + 1] if index + 1 < len(pieces) else None
        if isinstance(piece, Span):
            after = _first_char(next_piece) if next_piece is not None else ""
            rendered = _span(piece, last, after)
        elif isinstance(piece, HardBreak):
            rendered = HARD_BREAK
        else:
            rendered = escape_text(piece.text)
            if rendered.endswith("!") and isinstance(next_piece, Span):
                rendered = rendered[:-1] + "\\!"  # "![" would turn a link into an image
        out.append(rendered)
        last = rendered[-1:] or last
    return "".join(out)


def _is_blank(inline: Inline) -> bool:
    if isinstance(inline, HardBreak):
        return True
    return not inline.text.strip() and all(mark.name != "code" for mark in inline.marks)


def _paragraph(content: Sequence[Inline]) -> str:
    end = len(content)
    while end and _is_blank(content[end - 1]):
        end -= 1  # a trailing hard break's backslash would show up as a literal "\"
    rendered = _pieces(nest_marks(content[:end]))
    return "\n".join(_escape_line_start(line) for line in rendered.split("\n")).strip()


def _heading(block: Heading) -> str:
    # An ATX heading is a single line, so hard breaks become spaces.
    content = [Text(" ") if isinstance(i, HardBreak) else i for i in block.content]
    text = _pieces(nest_marks(content)).strip()
    return f"{'#' * min(max(block.level, 1), 6)} {text}" if text else ""


def _code_block(block: CodeBlock) -> str:
    fence = "`" * max(3, _longest_backtick_run(block.text) + 1)
    info = block.language or ""
    if not block.text:
        return f"{fence}{info}\n{fence}"
    return f"{fence}{info}\n{block.text}\n{fence}"


def _list(block: BulletList | OrderedList, alternate: bool) -> str:
    """Render a tight list; `alternate` switches the marker so adjacent lists stay apart."""
    items: list[str] = []
    for index, item in enumerate(block.items):
        content = _join(item.blocks, in_item=True)
        if isinstance(block, BulletList):
            bullet = "*" if alternate else "-"
            first, sep, rest = content.partition("\n")
            if first in ("---", "***"):
                # "- ---" or "* ***" would read as one thematic break, not an item holding one.
                content = ("***" if bullet == "-" else "---") + sep + rest
            marker = f"{bullet} "
        else:
            marker = f"{block.start + index}{')' if alternate else '.'} "
        items.append(indent_item(marker, content))
    return "\n".join(items)


def _block(block: Block, alternate: bool) -> str:
    if isinstance(block, Paragraph):
        return _paragraph(block.content)
    if isinstance(block, Heading):
        return _heading(block)
    if isinstance(block, BulletList | OrderedList):
        return _list(block, alternate)
    if isinstance(block, Blockquote):
        inner = _join(block.blocks, in_item=False)
        return prefix_lines(inner, "> ") if inner else ""
    if isinstance(block, CodeBlock):
        return _code_block(block)
    if isinstance(block, HorizontalRule):
        return "---"
    return ""  # pragma: no cover - the Block union is exhaustive


def _can_follow_directly(block: Block, previous: Block | None, text: str) -> bool:
    """Whether a nested list may sit on the next line without a blank line in between.

    Only lists can, and right after a paragraph only if they may interrupt it (CommonMark:
    the first item is not empty and an ordered list starts at 1); otherwise the list would
    be read as continuation text of the paragraph.
    """
    if not isinstance(block, BulletList | OrderedList):
        return False
    if not isinstance(previous, Paragraph):
        return True
    first_item_empty = " " not in text.partition("\n")[0]
    return not first_item_empty and not (isinstance(block, OrderedList) and block.start != 1)


def _join(blocks: Iterable[Block], in_item: bool) -> str:
    """Join blocks with blank lines; inside list items a nested list follows directly."""
    out: list[str] = []
    previous: Block | None = None
    alternated = False
    for block in blocks:
        alternate = False
        if isinstance(block, BulletList | OrderedList) and type(previous) is type(block):
            # Two lists in a row with the same marker would merge into one.
            alternate = not alternated
        text = _block(block, alternate)
        if not text:
            continue
        if out:
            tight = in_item and _can_follow_directly(block, previous, text)
            out.append("\n" if tight else "\n\n")
        out.append(text)
        previous, alternated = block, alternate
    return "".join(out)


def blocks_to_markdown(blocks: Iterable[Block]) -> str:
    """Render top-level blocks separated by blank lines; empty blocks are left out."""
    return _join(blocks, in_item=False)
