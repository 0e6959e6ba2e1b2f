"""Every node type and mark in each output format, on documents shaped like TipTap's."""

from __future__ import annotations

import base64
from typing import Any

import pycrdt
import pytest

from swell.rendering import render_document_html, render_html, render_markdown, render_text

from . import (
    BOLD,
    CODE,
    ITALIC,
    STRIKE,
    UNDERLINE,
    Marks,
    br,
    build,
    codeblock,
    h,
    hr,
    li,
    link,
    ol,
    p,
    quote,
    ul,
)

# Written by y-tiptap 3.0.9's prosemirrorJSONToYDoc(getSchema([StarterKit]), json, "default")
# with yjs 13.6.33 and @tiptap/starter-kit 3.31.3, for the same content as every_node_doc().
Y_TIPTAP_UPDATE = (
    "ATvZ9r/FDAAHAQdkZWZhdWx0AwdoZWFkaW5nBwDZ9r/FDAAGBADZ9r/FDAEFVGl0bGUoANn2v8UMAAVsZXZlbAF9AofZ"
    "9r/FDAADCXBhcmFncmFwaAcA2fa/xQwIBgQA2fa/xQwJAmEghtn2v8UMCwRib2xkAnt9hNn2v8UMDAFihtn2v8UMDQRi"
    "b2xkBG51bGyE2fa/xQwOASCG2fa/xQwPBml0YWxpYwJ7fYTZ9r/FDBABaYbZ9r/FDBEGaXRhbGljBG51bGyE2fa/xQwS"
    "ASCG2fa/xQwTBnN0cmlrZQJ7fYTZ9r/FDBQBc4bZ9r/FDBUGc3RyaWtlBG51bGyE2fa/xQwWASCG2fa/xQwXCXVuZGVy"
    "bGluZQJ7fYTZ9r/FDBgBdYbZ9r/FDBkJdW5kZXJsaW5lBG51bGyE2fa/xQwaASCG2fa/xQwbBGNvZGUCe32E2fa/xQwc"
    "AWOG2fa/xQwdBGNvZGUEbnVsbITZ9r/FDB4BIIbZ9r/FDB8EbGlua297ImhyZWYiOiJodHRwczovL2V4YW1wbGUuY29t"
    "IiwidGFyZ2V0IjoiX2JsYW5rIiwicmVsIjoibm9vcGVuZXIgbm9yZWZlcnJlciBub2ZvbGxvdyIsImNsYXNzIjpudWxs"
    "LCJ0aXRsZSI6bnVsbH2G2fa/xQwgBGJvbGQCe32E2fa/xQwhBGxpbmuG2fa/xQwlBGxpbmsEbnVsbIbZ9r/FDCYEYm9s"
    "ZARudWxsh9n2v8UMCQMJaGFyZEJyZWFrh9n2v8UMKAYEANn2v8UMKQ1hZnRlciA8YnJlYWs+h9n2v8UMCAMKYnVsbGV0"
    "TGlzdAcA2fa/xQw3AwhsaXN0SXRlbQcA2fa/xQw4AwlwYXJhZ3JhcGgHANn2v8UMOQYEANn2v8UMOgNvbmWH2fa/xQw5"
    "AwtvcmRlcmVkTGlzdAcA2fa/xQw+AwhsaXN0SXRlbQcA2fa/xQw/AwlwYXJhZ3JhcGgHANn2v8UMQAYEANn2v8UMQQV0"
    "aHJlZSgA2fa/xQw+BXN0YXJ0AX0Dh9n2v8UMNwMKYmxvY2txdW90ZQcA2fa/xQxIAwlwYXJhZ3JhcGgHANn2v8UMSQYE"
    "ANn2v8UMSgZxdW90ZWSH2fa/xQxIAwljb2RlQmxvY2sHANn2v8UMUQYEANn2v8UMUhFwcmludCgiaGkiKQp4ID0gMSgA"
    "2fa/xQxRCGxhbmd1YWdlAXcGcHl0aG9uh9n2v8UMUQMOaG9yaXpvbnRhbFJ1bGWH2fa/xQxlAwlwYXJhZ3JhcGgHANn2"
    "v8UMZgYEANn2v8UMZwtab8OrIOWxseeUsIfZ9r/FDGYDCXBhcmFncmFwaAA="
)


def every_node_doc() -> pycrdt.XmlFragment:
    return build(
        h(2.0, "Title"),
        p(
            "a ",
            ("b", BOLD),
            " ",
            ("i", ITALIC),
            " ",
            ("s", STRIKE),
            " ",
            ("u", UNDERLINE),
            " ",
            ("c", CODE),
            " ",
            ("link", {**link("https://example.com"), **BOLD}),
            br(),
            "after <break>",
        ),
        ul(li(p("one"), ol(li(p("three")), start=3.0))),
        quote(p("quoted")),
        codeblock('print("hi")\nx = 1', "python"),
        hr(),
        p("Zoë 山田"),
        p(),
    )


EVERY_NODE_HTML = (
    "<h2>Title</h2>\n"
    "<p>a <strong>b</strong> <em>i</em> <s>s</s> <u>u</u> <code>c</code> "
    '<a href="https://example.com" rel="noopener noreferrer nofollow"><strong>link</strong></a>'
    "<br>after &lt;break&gt;</p>\n"
    '<ul><li><p>one</p><ol start="3"><li><p>three</p></li></ol></li></ul>\n'
    "<blockquote><p>quoted</p></blockquote>\n"
    '<pre><code class="language-python">print(&quot;hi&quot;)\nx = 1</code></pre>\n'
    "<hr>\n"
    "<p>Zoë 山田</p>\n"
    "<p></p>"
)

EVERY_NODE_TEXT = (
    "Title\n\n"
    "a b i s u c link\nafter <break>\n\n"
    "- one\n  3. three\n\n"
    "> quoted\n\n"
    'print("hi")\nx = 1\n\n'
    "---\n\n"
    "Zoë 山田"
)

EVERY_NODE_MARKDOWN = (
    "## Title\n\n"
    "a **b** *i* ~~s~~ <u>u</u> `c` [**link**](https://example.com)\\\nafter \\<break\\>\n\n"
    "- one\n\n  3. three\n\n"
    "> quoted\n\n"
    '```python\nprint("hi")\nx = 1\n```\n\n'
    "---\n\n"
    "Zoë 山田"
)


def y_tiptap_doc() -> pycrdt.XmlFragment:
    doc: pycrdt.Doc[pycrdt.XmlFragment] = pycrdt.Doc()
    doc.apply_update(base64.b64decode(Y_TIPTAP_UPDATE))
    return doc.get("default", type=pycrdt.XmlFragment)


@pytest.mark.parametrize("make_doc", [every_node_doc, y_tiptap_doc], ids=["built", "y-tiptap"])
def test_every_node_type_in_every_format(make_doc: Any) -> None:
    fragment = make_doc()
    assert render_html(fragment) == EVERY_NODE_HTML
    assert render_text(fragment) == EVERY_NODE_TEXT
    assert render_markdown(fragment) == EVERY_NODE_MARKDOWN


@pytest.mark.parametrize(
    ("marks", "html", "markdown"),
    [
        (BOLD, "<p>a <strong>x</strong> b</p>", "a **x** b"),
        (ITALIC, "<p>a <em>x</em> b</p>", "a *x* b"),
        (STRIKE, "<p>a <s>x</s> b</p>", "a ~~x~~ b"),
        (UNDERLINE, "<p>a <u>x</u> b</p>", "a <u>x</u> b"),
        (CODE, "<p>a <code>x</code> b</p>", "a `x` b"),
        (
            link("https://example.com/?q=1&r=2"),
            '<p>a <a href="https://example.com/?q=1&amp;r=2" rel="noopener noreferrer nofollow">'
            "x</a> b</p>",
            "a [x](https://example.com/?q=1&r=2) b",
        ),
        (
            link("mailto:zoe@example.com"),
            '<p>a <a href="mailto:zoe@example.com" rel="noopener noreferrer nofollow">x</a> b</p>',
            "a [x](mailto:zoe@example.com) b",
        ),
    ],
    ids=["bold", "italic", "strike", "underline", "code", "link", "mailto"],
)
def test_each_mark(marks: Marks, html: str, markdown: str) -> None:
    fragment = build(p("a ", ("x", marks), " b"))
    assert render_html(fragment) == html
    assert render_markdown(fragment) == markdown
    assert render_text(fragment) == "a x b"


def test_all_marks_on_one_run_nest_in_canonical_order() -> None:
    marks = {**CODE, **STRIKE, **UNDERLINE, **ITALIC, **BOLD, **link("http://a.example")}
    fragment = build(p(("x", marks)))
    assert render_html(fragment) == (
        '<p><a href="http://a.example" rel="noopener noreferrer nofollow">'
        "<strong><em><u><s><code>x</code></s></u></em></strong></a></p>"
    )
    assert render_markdown(fragment) == "[***<u>~~`x`~~</u>***](http://a.example)"


def test_runs_sharing_a_mark_share_one_element() -> None:
    href = link("https://example.com")
    fragment = build(p(("one ", href), ("two", {**href, **BOLD}), (" three", href)))
    assert render_html(fragment) == (
        '<p><a href="https://example.com" rel="noopener noreferrer nofollow">'
        "one <strong>two</strong> three</a></p>"
    )
    assert render_markdown(fragment) == "[one **two** three](https://example.com)"


def test_markdown_moves_boundary_whitespace_outside_delimiters() -> None:
    fragment = build(p("a", (" bold ", BOLD), "b ", (" ", ITALIC), "c"))
    assert render_markdown(fragment) == "a **bold** b  c"
    assert render_html(fragment) == "<p>a<strong> bold </strong>b <em> </em>c</p>"


def test_nested_lists() -> None:
    fragment = build(
        ul(
            li(p("a"), ul(li(p("a1")), li(p("a2"), ol(li(p("deep")))))),
            li(p("b")),
        ),
        ol(li(p("x")), li(p("y"), ul(li(p("y1")))), start="9"),
    )
    assert render_html(fragment) == (
        "<ul><li><p>a</p><ul><li><p>a1</p></li><li><p>a2</p><ol><li><p>deep</p></li></ol>"
        "</li></ul></li><li><p>b</p></li></ul>\n"
        '<ol start="9"><li><p>x</p></li><li><p>y</p><ul><li><p>y1</p></li></ul></li></ol>'
    )
    assert render_text(fragment) == (
        "- a\n  - a1\n  - a2\n    1. deep\n- b\n\n9. x\n10. y\n    - y1"
    )
    assert render_markdown(fragment) == (
        "- a\n  - a1\n  - a2\n    1. deep\n- b\n\n9. x\n10. y\n    - y1"
    )


def test_list_item_with_several_blocks() -> None:
    fragment = build(ul(li(p("first"), p("second"), codeblock("x"), quote(p("q")))))
    assert render_html(fragment) == (
        "<ul><li><p>first</p><p>second</p><pre><code>x</code></pre>"
        "<blockquote><p>q</p></blockquote></li></ul>"
    )
    assert render_text(fragment) == "- first\n  second\n  x\n  > q"
    assert render_markdown(fragment) == "- first\n\n  second\n\n  ```\n  x\n  ```\n\n  > q"


def test_blockquote_with_nested_content() -> None:
    fragment = build(quote(p("a"), ul(li(p("b"))), quote(p("c")), codeblock("x\n\ny")))
    assert render_html(fragment) == (
        "<blockquote><p>a</p><ul><li><p>b</p></li></ul><blockquote><p>c</p></blockquote>"
        "<pre><code>x\n\ny</code></pre></blockquote>"
    )
    assert render_text(fragment) == "> a\n>\n> - b\n>\n> > c\n>\n> x\n>\n> y"
    assert render_markdown(fragment) == "> a\n>\n> - b\n>\n> > c\n>\n> ```\n> x\n>\n> y\n> ```"


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_heading_levels(level: int) -> None:
    fragment = build(h(float(level), "Hi"))
    assert render_html(fragment) == f"<h{level}>Hi</h{level}>"
    assert render_markdown(fragment) == "#" * level + " Hi"
    assert render_text(fragment) == "Hi"


def test_hard_breaks() -> None:
    fragment = build(
        p("a", br(), br(), "b", br()), h(1.0, "x", br(), "y"), p(("c", BOLD), br(), ("d", BOLD))
    )
    assert render_html(fragment) == (
        "<p>a<br><br>b<br></p>\n<h1>x<br>y</h1>\n<p><strong>c</strong><br><strong>d</strong></p>"
    )
    assert render_text(fragment) == "a\n\nb\n\nx\ny\n\nc\nd"
    assert render_markdown(fragment) == "a\\\n\\\nb\n\n# x y\n\n**c**\\\n**d**"


def test_newlines_inside_text_render_as_line_breaks() -> None:
    fragment = build(p("one\ntwo\r\nthree"))
    assert render_html(fragment) == "<p>one<br>two<br>three</p>"
    assert render_text(fragment) == "one\ntwo\nthree"
    assert render_markdown(fragment) == "one\\\ntwo\\\nthree"


def test_code_block_without_language_and_empty() -> None:
    fragment = build(codeblock("a < b && c"), codeblock(""))
    assert render_html(fragment) == (
        "<pre><code>a &lt; b &amp;&amp; c</code></pre>\n<pre><code></code></pre>"
    )
    assert render_text(fragment) == "a < b && c"
    assert render_markdown(fragment) == "```\na < b && c\n```\n\n```\n```"


def test_empty_document() -> None:
    fragment = build()
    assert render_html(fragment) == ""
    assert render_text(fragment) == ""
    assert render_markdown(fragment) == ""


def test_document_with_one_empty_paragraph() -> None:
    """TipTap's initial content: an empty paragraph."""
    fragment = build(p())
    assert render_html(fragment) == "<p></p>"
    assert render_text(fragment) == ""
    assert render_markdown(fragment) == ""


def test_empty_blocks_are_skipped_in_text_and_markdown() -> None:
    fragment = build(p("a"), p(), h(2.0), quote(), ul(), p("b"))
    assert render_html(fragment) == (
        "<p>a</p>\n<p></p>\n<h2></h2>\n<blockquote></blockquote>\n<ul></ul>\n<p>b</p>"
    )
    assert render_text(fragment) == "a\n\nb"
    assert render_markdown(fragment) == "a\n\nb"


def test_non_ascii_text() -> None:
    fragment = build(h(1.0, "Zoë 山田"), p(("Zoë", BOLD), " 山田 😀"), codeblock("ñ = '山'"))
    assert render_html(fragment) == (
        "<h1>Zoë 山田</h1>\n<p><strong>Zoë</strong> 山田 😀</p>\n"
        "<pre><code>ñ = &#x27;山&#x27;</code></pre>"
    )
    assert render_text(fragment) == "Zoë 山田\n\nZoë 山田 😀\n\nñ = '山'"
    assert render_markdown(fragment) == "# Zoë 山田\n\n**Zoë** 山田 😀\n\n```\nñ = '山'\n```"


def test_render_document_html() -> None:
    fragment = build(p("Hello"))
    page = render_document_html(fragment, 'Notes <b>&</b> "Zoë"')
    assert page.startswith(
        '<!doctype html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;; '
        "style-src &#x27;unsafe-inline&#x27;; base-uri &#x27;none&#x27;; "
        'form-action &#x27;none&#x27;">\n'
        "<title>Notes &lt;b&gt;&amp;&lt;/b&gt; &quot;Zoë&quot;</title>\n<style>\n"
    )
    assert page.endswith("</style>\n</head>\n<body>\n<p>Hello</p>\n</body>\n</html>\n")
    assert page.count("<title>") == 1


def test_render_document_html_of_empty_document() -> None:
    page = render_document_html(build(), "")
    assert "<title></title>" in page
    assert page.endswith("<body>\n</body>\n</html>\n")


def test_rendering_inside_an_open_transaction() -> None:
    fragment = build(p("a"))
    with fragment.doc.transaction():
        fragment.children.append(pycrdt.XmlElement("horizontalRule"))
        assert render_html(fragment) == "<p>a</p>\n<hr>"
