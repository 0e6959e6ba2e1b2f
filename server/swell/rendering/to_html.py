"""Render the document tree as safe HTML.

Every tag and attribute written here comes from the fixed tables below, never from the
document; text and attribute values are always escaped with quote=True.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from .inline import Piece, Span, nest_marks
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
    Mark,
    OrderedList,
    Paragraph,
)

__all__ = ["blocks_to_html", "document_html"]

LINK_REL = "noopener noreferrer nofollow"

_MARK_TAGS = {
    "bold": "strong",
    "italic": "em",
    "underline": "u",
    "strike": "s",
    "code": "code",
}

# Kept small and self-contained: the exported file must look fine offline.
_DOCUMENT_STYLE = """\
body{max-width:44rem;margin:2rem auto;padding:0 1rem;font:16px/1.6 system-ui,sans-serif;\
color:#1f2328;overflow-wrap:break-word}
h1,h2,h3,h4,h5,h6{line-height:1.25}
a{color:#0969da}
blockquote{margin:0;padding:0 1em;border-left:.25em solid #d0d7de;color:#57606a}
code{font-family:ui-monospace,monospace;background:#f6f8fa;padding:.1em .3em;border-radius:4px}
pre{background:#f6f8fa;padding:1em;overflow:auto;border-radius:6px}
pre code{background:none;padding:0}
hr{border:0;border-top:1px solid #d0d7de}"""

# The export contains no script; the policy makes sure none can run even if a bug let one in.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _open_mark(mark: Mark) -> tuple[str, str]:
    if mark.name == "link":
        # href was validated when the tree was read; escaping keeps quotes inside the value.
        href = _attr(mark.href or "")
        return f'<a href="{href}" rel="{LINK_REL}">', "</a>"
    tag = _MARK_TAGS[mark.name]
    return f"<{tag}>", f"</{tag}>"


def _pieces(pieces: Iterable[Piece]) -> str:
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, Span):
            start, end = _open_mark(piece.mark)
            out.append(start + _pieces(piece.children) + end)
        elif isinstance(piece, HardBreak):
            out.append("<br>")
        else:
            out.append(escape(piece.text, quote=True))
    return "".join(out)


def _inlines(content: Iterable[Inline]) -> str:
    return _pieces(nest_marks(content))


def _item(item: ListItem) -> str:
    return "<li>" + _blocks(item.blocks) + "</li>"


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return "<p>" + _inlines(block.content) + "</p>"
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        return f"<h{level}>" + _inlines(block.content) + f"</h{level}>"
    if isinstance(block, BulletList):
        return "<ul>" + "".join(_item(item) for item in block.items) + "</ul>"
    if isinstance(block, OrderedList):
        start = f' start="{int(block.start)}"' if block.start != 1 else ""
        return f"<ol{start}>" + "".join(_item(item) for item in block.items) + "</ol>"
    if isinstance(block, Blockquote):
        return "<blockquote>" + _blocks(block.blocks) + "</blockquote>"
    if isinstance(block, CodeBlock):
        cls = f' class="language-{_attr(block.language)}"' if block.language else ""
        return f"<pre><code{cls}>" + escape(block.text, quote=True) + "</code></pre>"
    if isinstance(block, HorizontalRule):
        return "<hr>"
    return ""  # pragma: no cover - the Block union is exhaustive


def _blocks(blocks: Iterable[Block]) -> str:
    return "".join(_block(block) for block in blocks)


def blocks_to_html(blocks: Iterable[Block]) -> str:
    """Render top-level blocks one per line, which keeps diffs and tests readable."""
    return "\n".join(_block(block) for block in blocks)


def document_html(body: str, title: str) -> str:
    """Wrap an already rendered body in a standalone HTML5 page with an escaped title."""
    body_lines = body + "\n" if body else ""
    return (
        "<!doctype html>\n"
        "<html>\n"
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_attr(_CSP)}">\n'
        f"<title>{escape(title, quote=True)}</title>\n"
        f"<style>\n{_DOCUMENT_STYLE}\n</style>\n"
        "</head>\n"
        "<body>\n"
        f"{body_lines}"
        "</body>\n"
        "</html>\n"
    )
