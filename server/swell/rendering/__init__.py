"""Sans-IO rendering of a document's rich text to safe HTML, plain text and Markdown.

The rich text is the y-prosemirror XmlFragment ("default") written by the TipTap editor. Each
function reads the fragment once into an allow-listed, validated tree (see tree.py) and renders
that, so nothing a collaborator writes into the shared document reaches the output unescaped.
"""

from __future__ import annotations

from collections.abc import Iterable

import pycrdt

from .to_html import blocks_to_html, document_html
from .to_markdown import blocks_to_markdown
from .to_text import blocks_to_text
from .tree import read_fragment

__all__ = [
    "FORMATS",
    "document_html",
    "render_document_html",
    "render_formats",
    "render_html",
    "render_markdown",
    "render_text",
]

FORMATS = ("html", "text", "markdown")


def render_html(fragment: pycrdt.XmlFragment) -> str:
    """Render an HTML body fragment (no <html> wrapper) for embedding in a trusted page."""
    return blocks_to_html(read_fragment(fragment))


def render_text(fragment: pycrdt.XmlFragment) -> str:
    """Render plain text, e.g. for search, previews and .txt downloads."""
    return blocks_to_text(read_fragment(fragment))


def render_markdown(fragment: pycrdt.XmlFragment) -> str:
    """Render CommonMark in which document text can never turn into markup or links."""
    return blocks_to_markdown(read_fragment(fragment))


def render_document_html(fragment: pycrdt.XmlFragment, title: str) -> str:
    """Render a standalone HTML5 file (escaped title, inline style, strict CSP) for export."""
    return document_html(render_html(fragment), title)


def render_formats(fragment: pycrdt.XmlFragment, formats: Iterable[str]) -> dict[str, str]:
    """Several formats from one read of the fragment (``html`` is the body fragment)."""
    blocks = read_fragment(fragment)
    renderers = {"html": blocks_to_html, "text": blocks_to_text, "markdown": blocks_to_markdown}
    return {fmt: renderers[fmt](blocks) for fmt in formats}
