"""Hostile nesting: whatever the depth, rendering neither recurses without bound nor loses
text. Below the depth cap the structure is flattened into paragraphs of the nearest rendered
block; every word must still be in the HTML, the text and the Markdown."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pycrdt
import pytest

from swell.rendering import render_html, render_markdown, render_text
from swell.rendering.tree import MAX_DEPTH, Paragraph, read_fragment

pytestmark = pytest.mark.timeout(60)

Parent = pycrdt.XmlFragment | pycrdt.XmlElement


def _nest(parent: Parent, tag: str) -> pycrdt.XmlElement:
    """One level of ``tag``; a list level is a list holding a listItem."""
    if tag in ("bulletList", "orderedList"):
        outer = parent.children.append(pycrdt.XmlElement(tag))
        return outer.children.append(pycrdt.XmlElement("listItem"))
    return parent.children.append(pycrdt.XmlElement(tag))


def _paragraph(parent: Parent, words: str) -> None:
    parent.children.append(pycrdt.XmlElement("paragraph", {}, [pycrdt.XmlText(words)]))


def deep_document(levels: int, tags: list[str], every: int = 1) -> tuple[pycrdt.Doc, list[str]]:
    """``levels`` nested containers cycling through ``tags``; a paragraph "wN" at every
    ``every``-th level, before the next level opens. Returns the doc and its words."""
    doc: pycrdt.Doc = pycrdt.Doc()
    fragment = doc.get("default", type=pycrdt.XmlFragment)
    words: list[str] = []
    parent: Parent = fragment
    with doc.transaction():
        for level in range(levels):
            if level % every == 0:
                words.append(f"w{level}x")
                _paragraph(parent, words[-1])
            parent = _nest(parent, tags[level % len(tags)])
        words.append("bottomword")
        _paragraph(parent, "bottomword")
    return doc, words


def synced_copy(doc: pycrdt.Doc) -> pycrdt.XmlFragment:
    """What a server holds after storing and syncing it: the encoded update applied afresh."""
    copy: pycrdt.Doc = pycrdt.Doc()
    copy.apply_update(doc.get_update())
    return copy.get("default", type=pycrdt.XmlFragment)


RENDERERS: list[Callable[[pycrdt.XmlFragment], str]] = [render_html, render_text, render_markdown]


def test_a_document_nested_10000_deep_is_rendered_with_every_word() -> None:
    doc, words = deep_document(10_000, ["blockquote", "bulletList", "div", "orderedList"], 97)
    fragment = synced_copy(doc)
    limit = sys.getrecursionlimit()
    for render in RENDERERS:
        out = render(fragment)
        missing = [w for w in words if w not in out]
        assert not missing, f"{render.__name__} left out {missing[:5]}"
    assert sys.getrecursionlimit() == limit  # nobody raised the limit to get there


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 80, 100])
@pytest.mark.parametrize(
    "tags",
    [["blockquote"], ["bulletList"], ["orderedList"], ["div"], ["blockquote", "bulletList"]],
    ids=lambda tags: "+".join(tags),
)
def test_every_level_around_the_cap_keeps_its_text(levels: int, tags: list[str]) -> None:
    doc, words = deep_document(levels, tags)
    fragment = doc.get("default", type=pycrdt.XmlFragment)
    for render in RENDERERS:
        out = render(fragment)
        missing = [w for w in words if w not in out]
        assert not missing, f"{render.__name__} left out {missing[:5]}"


def test_below_the_cap_each_block_stays_a_paragraph_of_its_own() -> None:
    doc, words = deep_document(MAX_DEPTH + 10, ["blockquote"])
    blocks = read_fragment(doc.get("default", type=pycrdt.XmlFragment))
    node = blocks
    for _ in range(MAX_DEPTH):  # walk down to the cap: the rest is flat
        inner = node[-1]
        node = list(inner.blocks)  # type: ignore[union-attr]
    assert all(isinstance(block, Paragraph) for block in node)
    flat = [block.content[0].text for block in node]  # type: ignore[union-attr]
    assert flat == words[MAX_DEPTH:]  # one paragraph per paragraph, in document order


def test_deep_inline_and_code_content_is_kept() -> None:
    """Hostile nesting inside a paragraph and a code block: text, not structure."""
    doc: pycrdt.Doc = pycrdt.Doc()
    fragment = doc.get("default", type=pycrdt.XmlFragment)
    with doc.transaction():
        for host in ("paragraph", "codeBlock"):
            parent: Parent = fragment.children.append(pycrdt.XmlElement(host))
            for _ in range(5_000):
                parent = parent.children.append(pycrdt.XmlElement("span"))
            parent.children.append(pycrdt.XmlText(f"inside-{host}"))
    for render in RENDERERS:
        out = render(fragment)
        assert "inside-paragraph" in out and "inside-codeBlock" in out
