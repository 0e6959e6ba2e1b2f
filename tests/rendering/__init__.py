"""Builders for documents shaped the way y-prosemirror (y-tiptap) writes TipTap content.

Elements are XmlElements named after the ProseMirror node type with the node attrs as
attributes; text is an XmlText whose formatting attributes map mark names to mark attrs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pycrdt

Marks: TypeAlias = dict[str, Any]
Run: TypeAlias = str | tuple[str, Marks]

BOLD: Marks = {"bold": {}}
ITALIC: Marks = {"italic": {}}
STRIKE: Marks = {"strike": {}}
UNDERLINE: Marks = {"underline": {}}
CODE: Marks = {"code": {}}


def link(href: Any) -> Marks:
    """A link mark with the attrs TipTap 3's Link extension stores (nulls included)."""
    return {
        "link": {
            "href": href,
            "target": "_blank",
            "rel": "noopener noreferrer nofollow",
            "class": None,
            "title": None,
        }
    }


@dataclass
class T:
    runs: tuple[Run, ...]


@dataclass
class E:
    tag: str
    children: tuple[E | T, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)


def text(*runs: Run) -> T:
    return T(runs)


def el(tag: str, *children: E | T, attrs: dict[str, Any] | None = None) -> E:
    return E(tag, children, attrs or {})


def _inline_children(runs: tuple[Run | E, ...]) -> tuple[E | T, ...]:
    """Consecutive string/tuple runs share one XmlText, like y-prosemirror writes them."""
    children: list[E | T] = []
    pending: list[Run] = []
    for run in runs:
        if isinstance(run, E):
            if pending:
                children.append(T(tuple(pending)))
                pending = []
            children.append(run)
        else:
            pending.append(run)
    if pending:
        children.append(T(tuple(pending)))
    return tuple(children)


def p(*runs: Run | E) -> E:
    return E("paragraph", _inline_children(runs))


def h(level: Any, *runs: Run | E) -> E:
    return E("heading", _inline_children(runs), {"level": level})


def li(*blocks: E | T) -> E:
    return el("listItem", *blocks)


def ul(*items: E | T) -> E:
    return el("bulletList", *items)


def ol(*items: E | T, start: Any = 1.0) -> E:
    return el("orderedList", *items, attrs={"start": start})


def quote(*blocks: E | T) -> E:
    return el("blockquote", *blocks)


def codeblock(code: str, language: Any = None) -> E:
    attrs = {} if language is None else {"language": language}
    return el("codeBlock", *([text(code)] if code else []), attrs=attrs)


def hr() -> E:
    return el("horizontalRule")


def br() -> E:
    return el("hardBreak")


def build(*nodes: E | T) -> pycrdt.XmlFragment:
    """Create a Doc and write the nodes into its "default" XmlFragment."""
    doc: pycrdt.Doc[pycrdt.XmlFragment] = pycrdt.Doc()
    fragment = doc.get("default", type=pycrdt.XmlFragment)
    with doc.transaction():
        for node in nodes:
            _append(fragment, node)
    return fragment


def _append(parent: pycrdt.XmlFragment | pycrdt.XmlElement, node: E | T) -> None:
    if isinstance(node, T):
        xml_text = parent.children.append(pycrdt.XmlText())
        for run in node.runs:
            value, marks = (run, None) if isinstance(run, str) else run
            xml_text.insert(len(xml_text), value, marks)
        return
    element = parent.children.append(pycrdt.XmlElement(node.tag))
    for key, value in node.attrs.items():
        element.attributes[key] = value
    for child in node.children:
        _append(element, child)
