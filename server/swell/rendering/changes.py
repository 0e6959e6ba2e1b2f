"""Render what changed between two revisions as HTML: the answer of ``/api/docs/{id}/changes``.

``render_changes(before, steps)`` shows the document of the last step (revision B) with what
changed since ``before`` (revision A) marked up. The markup, all of it fixed here, never taken
from the document:

- Inserted text (and inserted hard breaks) is wrapped in ``<ins data-author="ID">``.
- Deleted text (and deleted hard breaks) is wrapped in ``<del data-author="ID">``, at the place
  it was deleted from, with the marks it had when it was deleted.
- Text that was there at A and is still there at B but whose formatting differs (its marks:
  bold, italic, underline, strike, code, link target; or the kind of its text block: paragraph,
  heading level, code block language) is wrapped in ``<ins data-author="ID"
  data-change="format">``. An ``ins`` without ``data-change`` is always inserted text.
- A block removed as a whole (a paragraph, heading, code block, rule, list item, list or quote
  with everything in it) is still rendered, and its element carries the ``data-author`` of who
  removed it and ``data-change="deleted"`` (``<p data-author="ID" data-change="deleted"><del
  data-author="ID">gone</del></p>``); a block added as a whole carries ``data-change="inserted"``
  the same way. Only the outermost such block is marked; its text is in ``del``/``ins`` too.
- Change elements sit inside the mark elements (``<strong><ins ...>x</ins></strong>``), so a
  link stays one ``<a>``.
- Changes by an anonymous author (None) have no ``data-author`` attribute at all. Author ids
  must match ``AUTHOR_ID`` (``[A-Za-z0-9_-]{1,128}``; anything else is a ValueError), and are
  escaped anyway.

Everything else is rendered exactly as to_html renders it (same elements, same validated
attributes, text escaped with quote=True, top-level blocks one per line): with no change the
output equals ``blocks_to_html`` of B.

Attribution. ``steps`` are (author, document after that author's run of revisions); whatever
changed from one step's document to the next is that step's author's doing. Text inserted
during the range and deleted again within it vanishes; text of A deleted later is shown
deleted by the author who deleted it; a formatting change is credited to the last author who
changed that text's formatting (and is not shown if the formatting is back to A's at B).
Structure alone (a paragraph split or joined, a list or quote wrapped around existing text or
removed from it, a list renumbered) is not marked: the structure shown is B's. Deleted
structure that does not make a whole block is dropped (its text stays, as deleted text); a
deleted block that ends up inside a text block (paragraphs joined across a removed one) shows
as deleted text there.

How. Each document is read with tree.read_fragment (validated, depth-capped) and cut into
segments: a text block or rule with the container opens right before it and closes right
after it (long runs of text are cut further, at places that depend on the text alone), kept
as runs of text. Consecutive documents are compared segment by segment; only the segments
that differ are expanded into tokens (one per character with its formatting, one per
structure key) and diffed: their text first (common ends, then words, then characters inside
changed words, without coincidental matches), then the structure between the text that
matches; insertions and deletions then slide to whole blocks where they can. The annotations
(inserted, deleted, reformatted, and by whom) live in the expanded segments, carried through
the steps with the untouched ones, and a single loop with an explicit stack renders the
result: no recursion anywhere, whatever the nesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from difflib import SequenceMatcher
from html import escape
from itertools import accumulate, chain, compress, groupby, pairwise, repeat
from operator import and_, contains, eq, itemgetter, ne, not_, or_, sub
from typing import Any, TypeAlias
from zlib import crc32

from pycrdt import Doc, XmlFragment

from .to_html import _open_mark
from .tree import (
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    Heading,
    HorizontalRule,
    ListItem,
    Mark,
    OrderedList,
    Paragraph,
    Text,
    read_fragment,
)

__all__ = ["AUTHOR_ID", "render_changes"]

AUTHOR_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What an author id must look like to be written into a ``data-author`` attribute."""

# Formatting is a number: an index into _Interner.fmts, whose entries are a text's marks and
# the open key of its text block ("<p", "<h 2", ...). Structure has _STRUCTURE instead.
_STRUCTURE = -1
# Structure keys: "<p" "</p", "<h N" "</h", "<pre" or "<pre LANG" "</pre", "<bq" "</bq",
# "<ul" "</ul", "<ol" or "<ol N" "</ol", "<li" "</li", and the atoms "<hr" and "<br".
# An item: a run of text with its formatting, or a structure key with _STRUCTURE.
Item: TypeAlias = tuple[str, int]
# A token: one character (a key of length 1) with its formatting, or one structure key.
Token: TypeAlias = tuple[str, int]
# An annotated token: key, formatting, status, author, and (for text of A) formatting at A.
Entry: TypeAlias = tuple[str, int, int, str | None, int]
# A segment of the current document (its id) with its annotated tokens, or None when it is
# untouched since A; or (_STRUCTURE, entries) for entries deleted from segments now gone.
Part: TypeAlias = tuple[int, list[Entry] | None]
# What the renderer reads: text (a run of characters) or a structure key, formatting, status,
# author.
Piece: TypeAlias = tuple[str, int, int, str | None]
Opcode: TypeAlias = tuple[str, int, int, int, int]

_BASE, _INS, _DEL, _FMT = 0, 1, 2, 3
_ATOMS = frozenset({"<hr", "<br"})

# A replaced run of words is diffed character by character only when that is cheap and the two
# sides are alike; otherwise it shows as deleted then inserted, which reads better than a
# scatter of single matching letters.
_CHAR_DIFF_CELLS = 1 << 20
_CHAR_DIFF_RATIO = 0.5
# Common text around a change is not cut inside a word, unless the word is longer than this.
_WORD_LIMIT = 32
# How far an insertion or deletion may slide to make whole blocks (see _slide).
_SLIDE_LIMIT = 64


def render_changes(before: Doc[Any], steps: Sequence[tuple[str | None, Doc[Any]]]) -> str:
    """HTML of the document at the last step with the changes since ``before`` marked up.

    ``steps``: (author id or None for anonymous, document after that step), oldest first; all
    that changed between one document and the next is attributed to that step's author. With
    no steps the result is ``before`` rendered without marks. Pure and synchronous.
    """
    for author, _ in steps:
        if author is not None and not AUTHOR_ID.fullmatch(author):
            raise ValueError(f"not an author id: {author!r}")
    interner = _Interner()
    current = _segments(_read(before), interner)
    parts: list[Part] = [(segment, None) for segment in current]
    for author, doc in steps:
        following = _segments(_read(doc), interner)
        parts = _step(parts, current, following, interner, author)
        current = following
    return _Renderer(interner).render(_pieces(parts, interner))


def _read(doc: Doc[Any]) -> list[Block]:
    return read_fragment(doc.get("default", type=XmlFragment))


# --- Segments ----------------------------------------------------------------------------------


class _Interner:
    """Numbers for formats and segments, shared by all documents of one call, so that equal
    segments are equal numbers and equal formats are equal numbers."""

    def __init__(self) -> None:
        self.fmt_ids: dict[tuple[tuple[Mark, ...], str], int] = {}
        self.fmts: list[tuple[tuple[Mark, ...], str]] = []
        self.segment_ids: dict[tuple[Item, ...], int] = {}
        self.segments: list[tuple[Item, ...]] = []
        self._tokens: dict[int, tuple[list[Token], list[str], list[int]]] = {}

    def fmt(self, marks: tuple[Mark, ...], style: str) -> int:
        key = (marks, style)
        found = self.fmt_ids.get(key)
        if found is None:
            found = self.fmt_ids[key] = len(self.fmts)
            self.fmts.append(key)
        return found

    def segment(self, items: tuple[Item, ...]) -> int:
        found = self.segment_ids.get(items)
        if found is None:
            found = self.segment_ids[items] = len(self.segments)
            self.segments.append(items)
        return found

    def tokens(self, segment: int) -> tuple[list[Token], list[str], list[int]]:
        """A segment's tokens, and their keys and formats apart."""
        found = self._tokens.get(segment)
        if found is None:
            tokens: list[Token] = []
            for text, fmt in self.segments[segment]:
                if fmt == _STRUCTURE:
                    tokens.append((text, fmt))
                else:
                    tokens.extend(zip(text, repeat(fmt)))
            keys = list(map(itemgetter(0), tokens))
            found = self._tokens[segment] = (tokens, keys, list(map(itemgetter(1), tokens)))
        return found


def _segments(blocks: list[Block], interner: _Interner) -> list[int]:
    """The document as segments: a text block or a rule, with the opens of the containers that
    start right before it and the closes of those that end right after it. A block removed or
    added whole, list item or quote included, is whole segments. Long runs of text are cut
    into several segments (see _text)."""
    segments: list[int] = []
    items: list[Item] = []
    stack: list[tuple[Iterator[Block | ListItem], str | None]] = [(iter(blocks), None)]
    ended = False  # items end with a block (and closes): the next open starts a segment
    while stack:
        iterator, close = stack[-1]
        node = next(iterator, None)
        if node is None:
            stack.pop()
            if close is not None:
                items.append((close, _STRUCTURE))
            continue
        if ended:
            segments.append(interner.segment(tuple(items)))
            items.clear()
            ended = False
        if isinstance(node, Paragraph | Heading):
            key = "<p" if isinstance(node, Paragraph) else f"<h {node.level}"
            items.append((key, _STRUCTURE))
            for inline in node.content:
                if isinstance(inline, Text):
                    fmt = interner.fmt(inline.marks, key)
                    _text(inline.text, fmt, items, segments, interner)
                else:
                    items.append(("<br", _STRUCTURE))
            items.append(("</p" if key == "<p" else "</h", _STRUCTURE))
        elif isinstance(node, CodeBlock):
            key = f"<pre {node.language}" if node.language else "<pre"
            items.append((key, _STRUCTURE))
            _text(node.text, interner.fmt((), key), items, segments, interner)
            items.append(("</pre", _STRUCTURE))
        elif isinstance(node, HorizontalRule):
            items.append(("<hr", _STRUCTURE))
        else:
            children: tuple[Block | ListItem, ...]
            if isinstance(node, Blockquote):
                key, children = "<bq", node.blocks
            elif isinstance(node, BulletList):
                key, children = "<ul", node.items
            elif isinstance(node, OrderedList):
                key = "<ol" if node.start == 1 else f"<ol {int(node.start)}"
                children = node.items
            else:
                key, children = "<li", node.blocks
            items.append((key, _STRUCTURE))
            stack.append((iter(children), "</" + key[1:].partition(" ")[0]))
            continue
        ended = True
    if items:
        segments.append(interner.segment(tuple(items)))
    return segments


# Runs of text longer than this are cut after the words whose checksum ends in four zero bits
# (about one word in sixteen) and after line breaks: places that depend on the text around
# them only, so an edit changes the segments it is in and leaves the others equal, and the
# diff of a long paragraph or code block stays local.
_LONG_RUN = 1024
_PIECE = re.compile(r"\S*\s*")


def _text(text: str, fmt: int, items: list[Item], segments: list[int], interner: _Interner) -> None:
    if len(text) > _LONG_RUN:
        pieces = _PIECE.findall(text)  # words with the space after them, covering the text
        chosen = map(
            or_,
            map(not_, map(and_, map(crc32, map(str.encode, pieces)), repeat(15))),
            map(contains, pieces, repeat("\n")),
        )
        start = 0
        for end in compress(accumulate(map(len, pieces)), chosen):  # no Python loop per word
            if end < len(text):
                items.append((text[start:end], fmt))
                segments.append(interner.segment(tuple(items)))
                items.clear()
                start = end
        text = text[start:]
    if text:
        items.append((text, fmt))


def _regions(a: list[int], b: list[int]) -> list[tuple[int, int, int, int]]:
    """The segment ranges (a1, a2, b1, b2) that differ, in order."""
    low = 0
    while low < len(a) and low < len(b) and a[low] == b[low]:
        low += 1
    high_a, high_b = len(a), len(b)
    while high_a > low and high_b > low and a[high_a - 1] == b[high_b - 1]:
        high_a -= 1
        high_b -= 1
    if low == high_a and low == high_b:
        return []
    regions: list[tuple[int, int, int, int]] = []
    matcher = SequenceMatcher(None, a[low:high_a], b[low:high_b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        regions.append((low + i1, low + i2, low + j1, low + j2))
    return regions


# --- Carrying attribution through the steps ----------------------------------------------------


def _step(
    parts: list[Part], a: list[int], b: list[int], interner: _Interner, author: str | None
) -> list[Part]:
    """The parts after one step from document ``a`` to ``b`` (both as segment ids)."""
    regions = _regions(a, b)
    if not regions:
        return parts
    live = [index for index, (segment, _) in enumerate(parts) if segment != _STRUCTURE]
    live.append(len(parts))
    out: list[Part] = []
    done = 0  # parts[:done] are handled
    for a1, a2, b1, b2 in regions:
        start = live[a1]
        out.extend(parts[done:start])
        end = live[a2 - 1] + 1 if a2 > a1 else start
        entries: list[Entry] = []
        for segment, annotated in parts[start:end]:
            if annotated is None:
                _, keys, fmts = interner.tokens(segment)
                entries.extend(zip(keys, fmts, repeat(_BASE), repeat(None), fmts))
            else:
                entries.extend(annotated)
        old_tokens = [interner.tokens(segment) for segment in a[a1:a2]]
        new_tokens = [interner.tokens(segment) for segment in b[b1:b2]]
        old = list(chain.from_iterable(map(itemgetter(0), old_tokens)))
        new = list(chain.from_iterable(map(itemgetter(0), new_tokens)))
        old_keys = list(chain.from_iterable(map(itemgetter(1), old_tokens)))
        new_keys = list(chain.from_iterable(map(itemgetter(1), new_tokens)))
        entries = _apply(entries, old, new, _diff_region(old_keys, new_keys), author)
        out.extend(_cut(entries, b[b1:b2], interner))
        done = end
    out.extend(parts[done:])
    return out


def _cut(entries: list[Entry], segments: list[int], interner: _Interner) -> list[Part]:
    """Annotated tokens as one part per segment; deleted entries go with the live token before
    them (or, at the start, after them)."""
    if not segments:
        return [(_STRUCTURE, entries)] if entries else []
    if len(segments) == 1:
        return [(segments[0], entries)]
    live = _live(entries)
    parts: list[Part] = []
    start = 0
    sizes = accumulate(len(interner.tokens(segment)[0]) for segment in segments[:-1])
    for segment, size in zip(segments, sizes, strict=False):
        end = live[size]  # the next segment's first token
        parts.append((segment, entries[start:end]))
        start = end
    parts.append((segments[-1], entries[start:]))
    return parts


def _live(entries: list[Entry]) -> list[int]:
    """Indices of the entries that are not deleted (without a loop in Python)."""
    statuses = map(itemgetter(2), entries)
    return list(compress(range(len(entries)), map(ne, statuses, repeat(_DEL))))


def _apply(
    merged: list[Entry], a: list[Token], b: list[Token], ops: list[Opcode], author: str | None
) -> list[Entry]:
    """The annotated tokens after one step: their live entries (all but the deleted ones) are
    ``a`` on the way in and ``b`` on the way out; deleted entries stay where they were."""
    live = _live(merged)
    live.append(len(merged))
    out: list[Entry] = []
    done = 0  # merged[:done] is handled
    for tag, i1, i2, j1, j2 in ops:
        start = live[i1]
        if start > done:  # entries deleted earlier, before this range
            out.extend(merged[done:start])
            done = start
        if i2 > i1:
            end = live[i2 - 1] + 1
            if tag != "equal":
                _delete(merged, done, end, author, out)
            else:
                differ = map(ne, a[i1:i2], b[j1:j2])
                for offset in compress(range(i2 - i1), differ):  # formatting changed
                    at = live[i1 + offset]
                    out.extend(merged[done:at])
                    out.append(_reformat(merged[at], b[j1 + offset], author))
                    done = at + 1
                out.extend(merged[done:end])
            done = end
        if tag == "insert" or tag == "replace":
            out.extend((key, fmt, _INS, author, _STRUCTURE) for key, fmt in b[j1:j2])
    out.extend(merged[done:])
    return out


def _delete(
    merged: list[Entry], start: int, end: int, author: str | None, out: list[Entry]
) -> None:
    for entry in merged[start:end]:
        status = entry[2]
        if status == _DEL:
            out.append(entry)
        elif status != _INS:  # inserted within the range and gone again: nothing to show
            out.append((entry[0], entry[1], _DEL, author, entry[4]))


def _reformat(entry: Entry, token: Token, author: str | None) -> Entry:
    """A live entry whose formatting is now ``token``'s."""
    key, fmt = token
    if entry[2] == _INS:
        return (key, fmt, _INS, entry[3], _STRUCTURE)
    if fmt == entry[4]:
        return (key, fmt, _BASE, None, fmt)
    return (key, fmt, _FMT, author, entry[4])


# --- Diffing the tokens of a region ------------------------------------------------------------


def _diff_region(a: list[str], b: list[str]) -> list[Opcode]:
    """Opcodes from a to b (the tokens of a region). The text decides: characters and hard
    breaks are diffed on their own (common ends, words, then characters inside changed words);
    between the text that matches, the structure tokens that line up are equal and the rest is
    deleted or inserted. Deletions and insertions then slide to whole blocks (_slide)."""
    positions_a, keys_a = _text_of(a)
    positions_b, keys_b = _text_of(b)
    text_ops: list[Opcode] = []
    _diff_text(keys_a, 0, len(keys_a), keys_b, 0, len(keys_b), text_ops)
    coincidences: list[str] = []
    text_ops = _without_coincidences(text_ops, keys_a, keys_b, coincidences)
    if coincidences:  # diff the changes again, with matches starting elsewhere than there
        junk = frozenset(word for text in coincidences for word in _WORD.findall(text))
        again: list[Opcode] = []
        for op in text_ops:
            if op[0] == "insert" and again and again[-1][0] == "delete":
                _, i1, i2, _, _ = again.pop()
                _diff_text(keys_a, i1, i2, keys_b, op[3], op[4], again, junk)
            else:
                again.append(op)
        text_ops = _without_coincidences(again, keys_a, keys_b, [])
    ops: list[Opcode] = []
    at_a = at_b = 0  # tokens handled
    for tag, i1, i2, j1, j2 in text_ops:
        if tag != "equal":
            continue
        # Equal text, in runs without structure in between on either side.
        run_a, run_b = positions_a[i1:i2], positions_b[j1:j2]
        breaks = {
            *compress(range(1, i2 - i1), map(ne, map(sub, run_a[1:], run_a), repeat(1))),
            *compress(range(1, i2 - i1), map(ne, map(sub, run_b[1:], run_b), repeat(1))),
        }
        for start, end in pairwise((0, *sorted(breaks), i2 - i1)):
            x, y = run_a[start], run_b[start]
            if x < 0:  # where structure was: it is diffed below, with what is around it
                continue
            _diff_structure(a, at_a, x, b, at_b, y, ops)
            ops.append(("equal", x, x + end - start, y, y + end - start))
            at_a, at_b = x + end - start, y + end - start
    _diff_structure(a, at_a, len(a), b, at_b, len(b), ops)
    return _slide(ops, a, b)


def _without_coincidences(
    ops: list[Opcode], a: list[str], b: list[str], found: list[str]
) -> list[Opcode]:
    """Equal text that looks like a coincidence ("alert(1)" both in a deleted paragraph and in
    text typed elsewhere) becomes part of the change around it. In the middle of blocks, that
    is equal text with changes at least as long on both sides (diff-match-patch's semantic
    cleanup); at the start or end of a block in both texts, equal text with a change at least as
    long at its other end that would join its block to another one it has nothing else in
    common with. Text that is a whole block in both stays."""
    pieces: list[list[Any]] = []  # [tag, i1, i2, j1, j2]; equal ops cut where blocks meet
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal":
            pieces.append([tag, i1, i2, j1, j2])
            continue
        start = i1
        edges = compress(range(i1, i2), map(eq, a[i1:i2], repeat(_BETWEEN_BLOCKS)))
        for edge in chain(edges, (i2,)):
            if edge > start:  # the text up to a block edge, then the edge itself
                pieces.append(["equal", start, edge, j1 + start - i1, j1 + edge - i1])
            if edge < i2:
                pieces.append(["equal", edge, edge + 1, j1 + edge - i1, j1 + edge + 1 - i1])
            start = edge + 1
    blocks_a = list(accumulate(map(eq, a, repeat(_BETWEEN_BLOCKS))))  # block of each token
    blocks_b = list(accumulate(map(eq, b, repeat(_BETWEEN_BLOCKS))))
    changed = True
    while changed:
        changed = False
        links = [
            (blocks_a[piece[1]], blocks_b[piece[3]])
            for piece in pieces
            if piece[0] == "equal" and a[piece[1]] != _BETWEEN_BLOCKS
        ]
        for index, (tag, i1, i2, j1, j2) in enumerate(pieces):
            if tag != "equal" or a[i1] == _BETWEEN_BLOCKS:
                continue
            starts = _block_edge(a, i1 - 1) and _block_edge(b, j1 - 1)
            ends = _block_edge(a, i2) and _block_edge(b, j2)
            if starts and ends:
                continue
            size = i2 - i1
            before, after = _edits(pieces, index, -1), _edits(pieces, index, 1)
            if starts or ends:
                block_a, block_b = blocks_a[i1], blocks_b[j1]
                joins = any((x == block_a) != (y == block_b) for x, y in links)
                coincidence = joins and size <= max(after if starts else before)
            else:
                coincidence = size <= max(before) and size <= max(after)
            if coincidence:
                found.append("".join(a[i1:i2]))
                pieces[index] = ["delete", i1, i2, j1, j1]
                pieces.insert(index + 1, ["insert", i2, i2, j1, j2])
                changed = True
                break
    result: list[Opcode] = []
    at_a = at_b = 0
    for tag, i1, i2, j1, j2 in pieces:
        if tag == "equal":
            _delete_insert(at_a, i1, at_b, j1, result)
            result.append(("equal", i1, i2, j1, j2))
            at_a, at_b = i2, j2
    _delete_insert(at_a, len(a), at_b, len(b), result)
    return result


def _edits(pieces: list[list[Any]], index: int, step: int) -> tuple[int, int]:
    """How much is deleted and inserted next to pieces[index], before (-1) or after (1) it."""
    deleted = inserted = 0
    index += step
    while 0 <= index < len(pieces) and pieces[index][0] != "equal":
        _, i1, i2, j1, j2 = pieces[index]
        deleted += i2 - i1
        inserted += j2 - j1
        index += step
    return deleted, inserted


_BETWEEN_BLOCKS = "<|"  # stands in the text for structure, so that words end there


def _block_edge(text: list[str], index: int) -> bool:
    """Whether text[index] is outside the text or stands for structure."""
    return index < 0 or index >= len(text) or text[index] == _BETWEEN_BLOCKS


def _text_of(keys: list[str]) -> tuple[list[int], list[str]]:
    """The text tokens (and where they are), with a _BETWEEN_BLOCKS (at -1) for structure."""
    text = list(compress(range(len(keys)), _is_text(keys)))
    jumps = compress(range(1, len(text)), map(ne, map(sub, text[1:], text), repeat(1)))
    positions: list[int] = []
    found: list[str] = []
    start = 0
    for end in (*jumps, len(text)):  # one round per block, not per character
        if start:
            positions.append(-1)
            found.append(_BETWEEN_BLOCKS)
        positions.extend(text[start:end])
        found.extend(map(keys.__getitem__, text[start:end]))
        start = end
    return positions, found


def _is_text(keys: Iterable[str]) -> Iterator[bool]:
    """Per key: a character or a hard break (without a loop in Python)."""
    keys = list(keys)
    return map(or_, map(eq, map(len, keys), repeat(1)), map(eq, keys, repeat("<br")))


def _diff_structure(
    a: list[str], a1: int, a2: int, b: list[str], b1: int, b2: int, ops: list[Opcode]
) -> None:
    """Tokens between two runs of equal text: their structure tokens that line up are equal;
    all else (text that changed included) is deleted, then inserted."""
    if a1 == a2 or b1 == b2:
        _delete_insert(a1, a2, b1, b2, ops)
        return
    structure_a = list(compress(range(a1, a2), map(not_, _is_text(a[a1:a2]))))
    structure_b = list(compress(range(b1, b2), map(not_, _is_text(b[b1:b2]))))
    matcher = SequenceMatcher(
        None,
        list(map(a.__getitem__, structure_a)),
        list(map(b.__getitem__, structure_b)),
        autojunk=False,
    )
    for i, j, size in matcher.get_matching_blocks():
        for x, y in zip(structure_a[i : i + size], structure_b[j : j + size], strict=True):
            _delete_insert(a1, x, b1, y, ops)
            ops.append(("equal", x, x + 1, y, y + 1))
            a1, b1 = x + 1, y + 1
    _delete_insert(a1, a2, b1, b2, ops)


def _delete_insert(a1: int, a2: int, b1: int, b2: int, ops: list[Opcode]) -> None:
    if a2 > a1:
        ops.append(("delete", a1, a2, b1, b1))
    if b2 > b1:
        ops.append(("insert", a2, a2, b1, b2))


def _diff_text(
    a: list[str],
    a1: int,
    a2: int,
    b: list[str],
    b1: int,
    b2: int,
    ops: list[Opcode],
    junk: frozenset[str] = frozenset(),
) -> None:
    """Text (characters and hard breaks): common ends, then words (no match starts at a word
    in ``junk``), then characters."""
    common = _common(a[a1:a2], b[b1:b2])
    beyond = a[a1 + common : a1 + common + 1] + b[b1 + common : b1 + common + 1]
    prefix = _word_end(a[a1 : a1 + common], beyond)
    if prefix:
        ops.append(("equal", a1, a1 + prefix, b1, b1 + prefix))
        a1 += prefix
        b1 += prefix
    backwards_a = a[a2 - 1 : a1 - 1 if a1 else None : -1]
    backwards_b = b[b2 - 1 : b1 - 1 if b1 else None : -1]
    common = _common(backwards_a, backwards_b)
    beyond = backwards_a[common : common + 1] + backwards_b[common : common + 1]
    suffix = _word_end(backwards_a[:common], beyond)
    a2 -= suffix
    b2 -= suffix
    if a1 < a2 or b1 < b2:
        if a1 == a2 or b1 == b2:
            _delete_insert(a1, a2, b1, b2, ops)
        else:
            words_a, starts_a = _words(a, a1, a2)
            words_b, starts_b = _words(b, b1, b2)
            matcher = SequenceMatcher(junk.__contains__ if junk else None, words_a, words_b)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                x1, x2, y1, y2 = starts_a[i1], starts_a[i2], starts_b[j1], starts_b[j2]
                if tag == "replace":
                    _diff_chars(a, x1, x2, b, y1, y2, ops)
                else:
                    ops.append((tag, x1, x2, y1, y2))
    if suffix:
        ops.append(("equal", a2, a2 + suffix, b2, b2 + suffix))


def _common(a: list[str], b: list[str]) -> int:
    """The length of the common prefix of a and b."""
    differ = list(map(ne, a, b))
    return differ.index(True) if True in differ else len(differ)


def _word_end(common: list[str], beyond: list[str]) -> int:
    """How much of a common prefix (or reversed suffix) of text to take as equal without
    diffing it: not into a word that goes on differently (``beyond``: the tokens after the
    common part), since a changed word is diffed whole, unless the word is very long."""
    taken = len(common)
    if taken and common[-1].isalnum() and any(token.isalnum() for token in beyond):
        start = taken
        while start and common[start - 1].isalnum() and taken - start < _WORD_LIMIT:
            start -= 1
        if not start or not common[start - 1].isalnum():
            taken = start
    return taken


_WORD = re.compile(r"[^\W_]+|.", re.DOTALL)


def _words(keys: list[str], low: int, high: int) -> tuple[list[str], list[int]]:
    """Runs of letters and digits are words; any other token is a word of its own (keys of
    more than one character, "<br" and _BETWEEN_BLOCKS, never equal a word of the text)."""
    words: list[str] = []
    lengths: list[int] = []
    structure = compress(range(low, high), map(ne, map(len, keys[low:high]), repeat(1)))
    start = low
    for index in chain(structure, (high,)):
        if index > start:
            found = _WORD.findall("".join(keys[start:index]))
            words.extend(found)
            lengths.extend(map(len, found))
        if index < high:
            words.append(keys[index])
            lengths.append(1)
        start = index + 1
    return words, list(accumulate(lengths, initial=low))


def _diff_chars(
    a: list[str], a1: int, a2: int, b: list[str], b1: int, b2: int, ops: list[Opcode]
) -> None:
    if (a2 - a1) * (b2 - b1) <= _CHAR_DIFF_CELLS:
        matcher = SequenceMatcher(None, a[a1:a2], b[b1:b2], autojunk=False)
        if matcher.ratio() >= _CHAR_DIFF_RATIO:
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                ops.append((tag, a1 + i1, a1 + i2, b1 + j1, b1 + j2))
            return
    ops.append(("replace", a1, a2, b1, b2))


def _slide(ops: list[Opcode], a: list[str], b: list[str]) -> list[Opcode]:
    """Move each insertion or deletion that holds structure to where it makes whole blocks.

    A run deleted between two equal runs can slide while the token before it equals its last
    token (or the token after it its first): deleting the second of two list items may come
    out of difflib as "</li><li><p>two</p>" and is the same edit as "<li><p>two</p></li>".
    Of the places it can slide to, the nearest one whose structure pairs up is taken.
    """
    merged: list[list[Any]] = []
    for op in ops:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if merged and merged[-1][0] == op[0]:
            merged[-1][2], merged[-1][4] = op[2], op[4]
        else:
            merged.append(list(op))
    for index, edit in enumerate(merged):
        if edit[0] != "delete" and edit[0] != "insert":
            continue
        seq, low, high = (a, edit[1], edit[2]) if edit[0] == "delete" else (b, edit[3], edit[4])
        if all(len(key) == 1 for key in seq[low:high]) or not _unpaired(seq, low, high):
            continue
        before = merged[index - 1] if index and merged[index - 1][0] == "equal" else None
        after = merged[index + 1] if index + 1 < len(merged) else None
        if after is not None and after[0] != "equal":
            after = None
        left = right = 0
        room = min(before[2] - before[1] if before else 0, _SLIDE_LIMIT)
        while left < room and seq[low - 1 - left] == seq[high - 1 - left]:
            left += 1
        room = min(after[2] - after[1] if after else 0, _SLIDE_LIMIT)
        while right < room and seq[low + right] == seq[high + right]:
            right += 1
        shift = next(
            (
                candidate
                for distance in range(1, max(left, right) + 1)
                for candidate in (-distance, distance)
                if -left <= candidate <= right
                and not _unpaired(seq, low + candidate, high + candidate)
            ),
            0,
        )
        if shift:
            for position in range(1, 5):
                edit[position] += shift
            if before is not None:
                before[2] += shift
                before[4] += shift
            if after is not None:
                after[1] += shift
                after[3] += shift
    return [(op[0], op[1], op[2], op[3], op[4]) for op in merged]


def _unpaired(keys: list[str], low: int, high: int) -> int:
    """How many block opens and closes in keys[low:high] have no partner there."""
    opens: list[str] = []
    unpaired = 0
    for key in keys[low:high]:
        if len(key) == 1 or key in _ATOMS:
            continue
        if key[1] != "/":
            opens.append(_name(key))
        elif opens and opens[-1] == key[2:]:
            opens.pop()
        else:
            unpaired += 1
    return unpaired + len(opens)


# --- Rendering ---------------------------------------------------------------------------------


def _name(key: str) -> str:
    """The block a structure key opens or closes: "<h 2" and "</h" are both "h"."""
    return key[2:] if key[1] == "/" else key[1:].partition(" ")[0]


def _pieces(parts: list[Part], interner: _Interner) -> list[Piece]:
    """What the renderer reads: untouched segments as their runs of text, annotated ones with
    neighbouring characters of equal formatting, status and author joined into runs."""
    pieces: list[Piece] = []
    for segment, entries in parts:
        if entries is None:
            pieces.extend((text, fmt, _BASE, None) for text, fmt in interner.segments[segment])
            continue
        for (fmt, status, author), group in groupby(entries, key=itemgetter(1, 2, 3)):
            if fmt == _STRUCTURE:
                pieces.extend((entry[0], fmt, status, author) for entry in group)
            else:
                pieces.append(("".join(entry[0] for entry in group), fmt, status, author))
    return pieces


def _kept(pieces: list[Piece]) -> list[bool]:
    """Deleted structure is shown only where it makes whole blocks: within each run of deleted
    pieces, opens and closes that pair up stay; the others go (their text stays)."""
    keep = [True] * len(pieces)
    index, total = 0, len(pieces)
    while index < total:
        if pieces[index][2] != _DEL:
            index += 1
            continue
        opens: list[int] = []
        while index < total and pieces[index][2] == _DEL:
            key, fmt = pieces[index][0], pieces[index][1]
            if fmt == _STRUCTURE and key not in _ATOMS:
                if key[1] != "/":
                    opens.append(index)
                elif opens and _name(pieces[opens[-1]][0]) == key[2:]:
                    opens.pop()
                else:
                    keep[index] = False
            index += 1
        for unmatched in opens:
            keep[unmatched] = False
    return keep


def _inserted(pieces: list[Piece], keep: list[bool]) -> set[int]:
    """Indices of live block opens whose whole block (content and close) is inserted."""
    whole: set[int] = set()
    stack: list[list[Any]] = []  # [index of the open, everything inserted so far]
    for index, (key, fmt, status, _) in enumerate(pieces):
        if not keep[index]:
            continue
        if status != _DEL and fmt == _STRUCTURE and key not in _ATOMS:
            if key[1] != "/":
                stack.append([index, status == _INS])
            elif stack:
                opened, inserted = stack.pop()
                if inserted and status == _INS:
                    whole.add(opened)
                elif stack:
                    stack[-1][1] = False
        elif status != _INS and stack:
            stack[-1][1] = False
    return whole


_FLOW, _LIST, _INLINE = 0, 1, 2

Wrapper: TypeAlias = Mark | tuple[str, str]  # a mark, or a change's (open tag, close tag)
Run: TypeAlias = tuple[tuple[Wrapper, ...], list[str]]  # wrappers and text ("" is a <br>)


class _Frame:
    """An element being rendered (or a place holding content without an element of its own)."""

    __slots__ = ("close", "context", "flat", "implicit", "marked", "pre", "root", "runs")

    def __init__(
        self,
        context: int,
        close: str = "",
        *,
        implicit: bool = False,
        runs: list[Run] | None = None,
        flat: bool = False,
        pre: bool = False,
        root: bool = False,
        marked: bool = False,
    ) -> None:
        self.context = context  # what its children are: blocks, list items or inline content
        self.close = close
        self.implicit = implicit  # opened by the renderer for stray content, not by a token
        self.runs = runs if runs is not None else []
        self.flat = flat  # a deleted block flattened into the text block around it
        self.pre = pre
        self.root = root  # its blocks are top-level blocks (one per line)
        self.marked = marked


class _Renderer:
    def __init__(self, interner: _Interner) -> None:
        self.interner = interner
        self.out: list[str] = []
        self.stack = [_Frame(_FLOW, root=True)]
        self.started = False  # a top-level block was written
        self.marked = 0  # marked (inserted/deleted) blocks open
        self.changes: dict[tuple[int, str | None], tuple[str, str] | None] = {}

    def render(self, pieces: list[Piece]) -> str:
        keep = _kept(pieces)
        inserted = _inserted(pieces, keep)
        for index, (key, fmt, status, author) in enumerate(pieces):
            if not keep[index]:
                continue
            if fmt != _STRUCTURE or key == "<br":
                self._inline(key, fmt, status, author)
            elif key[1] == "/":
                self._close()
            elif key == "<hr":
                self._rule(status, author)
            else:
                self._open(key, status, author, index in inserted)
        while len(self.stack) > 1:
            self._pop()
        return "".join(self.out)

    def _change(self, status: int, author: str | None) -> tuple[str, str] | None:
        if (status, author) in self.changes:
            return self.changes[(status, author)]
        change: tuple[str, str] | None = None
        by = f' data-author="{escape(author, quote=True)}"' if author is not None else ""
        if status == _INS:
            change = (f"<ins{by}>", "</ins>")
        elif status == _DEL:
            change = (f"<del{by}>", "</del>")
        elif status == _FMT:
            change = (f'<ins{by} data-change="format">', "</ins>")
        self.changes[(status, author)] = change
        return change

    def _block_start(self, parent: _Frame) -> None:
        if parent.root:
            if self.started:
                self.out.append("\n")
            self.started = True

    def _block_attrs(self, status: int, author: str | None, inserted: bool) -> str:
        if self.marked or not (status == _DEL or inserted):
            return ""
        by = f' data-author="{escape(author, quote=True)}"' if author is not None else ""
        return by + (' data-change="deleted"' if status == _DEL else ' data-change="inserted"')

    def _push(self, frame: _Frame) -> None:
        self.stack.append(frame)
        if frame.marked:
            self.marked += 1

    def _pop(self) -> None:
        frame = self.stack.pop()
        if frame.context == _INLINE and not frame.flat:
            self.out.append(_inline_html(frame.runs))
        self.out.append(frame.close)
        if frame.marked:
            self.marked -= 1

    def _end_implicit(self) -> _Frame:
        while self.stack[-1].implicit:
            self._pop()
        return self.stack[-1]

    def _implicit_item(self) -> _Frame:
        """Something other than a list item inside a list becomes an item of its own."""
        self.out.append("<li>")
        frame = _Frame(_FLOW, "</li>", implicit=True)
        self._push(frame)
        return frame

    def _inline(self, text: str, fmt: int, status: int, author: str | None) -> None:
        """A run of text, or a hard break (fmt _STRUCTURE)."""
        frame = self.stack[-1]
        if frame.context != _INLINE:  # stray deleted text between blocks: a paragraph of its own
            if frame.context == _LIST:
                frame = self._implicit_item()
            self._block_start(frame)
            self.out.append("<p>")
            frame = _Frame(_INLINE, "</p>", implicit=True)
            self._push(frame)
        change = self._change(status, author)
        marks: tuple[Wrapper, ...] = ()
        if fmt == _STRUCTURE:
            text = ""
        elif not frame.pre:
            marks = self.interner.fmts[fmt][0]
        wrappers = marks + (change,) if change is not None else marks
        runs = frame.runs
        if text and runs and runs[-1][1][-1] and runs[-1][0] == wrappers:
            runs[-1][1].append(text)
        else:
            runs.append((wrappers, [text]))

    def _rule(self, status: int, author: str | None) -> None:
        parent = self._end_implicit()
        if parent.context == _INLINE:
            return  # a deleted rule inside a text block: nothing to show there
        if parent.context == _LIST:
            parent = self._implicit_item()
        self._block_start(parent)
        self.out.append(f"<hr{self._block_attrs(status, author, status == _INS)}>")

    def _open(self, key: str, status: int, author: str | None, inserted: bool) -> None:
        parent = self._end_implicit()
        name = _name(key)
        if parent.context == _INLINE:  # a deleted block inside a text block: its text only
            self._push(_Frame(_INLINE, runs=parent.runs, flat=True, pre=parent.pre))
            return
        if parent.context == _LIST and name != "li":
            parent = self._implicit_item()
        elif parent.context == _FLOW and name == "li":  # an item outside a list: its content
            self._push(_Frame(_FLOW, root=parent.root))
            return
        self._block_start(parent)
        attrs = self._block_attrs(status, author, inserted)
        frame: _Frame
        if name == "p":
            self.out.append(f"<p{attrs}>")
            frame = _Frame(_INLINE, "</p>")
        elif name == "h":
            level = min(max(int(key[3:]), 1), 6)
            self.out.append(f"<h{level}{attrs}>")
            frame = _Frame(_INLINE, f"</h{level}>")
        elif name == "pre":
            language = key[5:]
            cls = f' class="language-{escape(language, quote=True)}"' if language else ""
            self.out.append(f"<pre{attrs}><code{cls}>")
            frame = _Frame(_INLINE, "</code></pre>", pre=True)
        elif name == "ol":
            start = f' start="{int(key[4:])}"' if len(key) > 3 else ""
            self.out.append(f"<ol{start}{attrs}>")
            frame = _Frame(_LIST, "</ol>")
        elif name == "ul":
            self.out.append(f"<ul{attrs}>")
            frame = _Frame(_LIST, "</ul>")
        elif name == "li":
            self.out.append(f"<li{attrs}>")
            frame = _Frame(_FLOW, "</li>")
        else:
            self.out.append(f"<blockquote{attrs}>")
            frame = _Frame(_FLOW, "</blockquote>")
        frame.marked = bool(attrs)
        self._push(frame)

    def _close(self) -> None:
        self._end_implicit()
        if len(self.stack) > 1:
            self._pop()


def _inline_html(runs: list[Run]) -> str:
    """Runs with their wrappers as properly nested elements; runs that share leading wrappers
    share their elements (the nesting of inline.nest_marks, without recursion)."""
    out: list[str] = []
    opened: list[tuple[Wrapper, str]] = []  # wrapper and its closing tag
    for wrappers, texts in runs:
        same = 0
        while same < len(opened) and same < len(wrappers) and opened[same][0] == wrappers[same]:
            same += 1
        while len(opened) > same:
            out.append(opened.pop()[1])
        for wrapper in wrappers[same:]:
            start, end = _open_mark(wrapper) if isinstance(wrapper, Mark) else wrapper
            out.append(start)
            opened.append((wrapper, end))
        text = "".join(texts)
        out.append(escape(text, quote=True) if text else "<br>")
    while opened:
        out.append(opened.pop()[1])
    return "".join(out)
