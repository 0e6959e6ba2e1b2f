"""Hostile document content must come out as harmless text in every format."""

from __future__ import annotations

import re
from typing import Any

import pytest

from swell.rendering import render_document_html, render_html, render_markdown, render_text

from . import BOLD, build, codeblock, el, h, li, link, ol, p, text, ul

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_script_and_onerror_in_text_are_escaped() -> None:
    fragment = build(p(SCRIPT), p(IMG), h(1.0, SCRIPT), codeblock(IMG), p((SCRIPT, BOLD)))
    assert render_html(fragment) == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"
        "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>\n"
        "<pre><code>&lt;img src=x onerror=alert(1)&gt;</code></pre>\n"
        "<p><strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong></p>"
    )
    assert render_markdown(fragment) == (
        "\\<script\\>alert(1)\\</script\\>\n\n"
        "\\<img src=x onerror=alert(1)\\>\n\n"
        "# \\<script\\>alert(1)\\</script\\>\n\n"
        "```\n<img src=x onerror=alert(1)>\n```\n\n"
        "**\\<script\\>alert(1)\\</script\\>**"
    )
    assert render_text(fragment) == f"{SCRIPT}\n\n{IMG}\n\n{SCRIPT}\n\n{IMG}\n\n{SCRIPT}"


def test_quotes_and_ampersands_in_text_are_escaped() -> None:
    fragment = build(p("\"'&amp; &#60;"))
    assert render_html(fragment) == "<p>&quot;&#x27;&amp;amp; &amp;#60;</p>"
    assert render_markdown(fragment) == "\"'\\&amp; \\&\\#60;"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\tjavascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x00javascript:alert(1)",
        "\x01\x02javascript:alert(1)",
        "javascript&#58;alert(1)",
        "\u200bjavascript:alert(1)",
        "ｊａｖａｓｃｒｉｐｔ:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "//evil.example/x",
        "\\\\evil.example\\x",
        "/relative/path",
        "relative",
        "#fragment",
        "https:",
        "http://",
        "https:evil.example",
        "mailto:",
        "http://[::1",
        "",
        "   ",
        None,
        42,
        {"href": "https://example.com"},
        ["https://example.com"],
    ],
)
def test_disallowed_link_renders_as_plain_text(href: Any) -> None:
    fragment = build(p("see ", ("here", link(href)), "!"))
    assert render_html(fragment) == "<p>see here!</p>"
    assert render_markdown(fragment) == "see here!"
    assert render_text(fragment) == "see here!"


def test_link_mark_that_is_not_an_object_is_ignored() -> None:
    fragment = build(p(("x", {"link": "https://example.com"}), ("y", {"link": True})))
    assert render_html(fragment) == "<p>xy</p>"


@pytest.mark.parametrize(
    ("href", "html_href", "markdown_href"),
    [
        ("https://example.com", "https://example.com", "https://example.com"),
        ("HTTPS://EXAMPLE.COM/A", "HTTPS://EXAMPLE.COM/A", "HTTPS://EXAMPLE.COM/A"),
        ("  http://example.com/a \n", "http://example.com/a", "http://example.com/a"),
        ("mailto:zoe@example.com", "mailto:zoe@example.com", "mailto:zoe@example.com"),
        ("MailTo:zoe@example.com", "MailTo:zoe@example.com", "MailTo:zoe@example.com"),
        (
            'https://example.com/"><script>alert(1)</script>',
            "https://example.com/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
            "https://example.com/%22%3E%3Cscript%3Ealert%281%29%3C/script%3E",
        ),
        (
            "https://example.com/a b) [c]",
            "https://example.com/a b) [c]",
            "https://example.com/a%20b%29%20[c]",
        ),
        (
            "https://example.com/Zoë?q=山田",
            "https://example.com/Zoë?q=山田",
            "https://example.com/Zo%C3%AB?q=%E5%B1%B1%E7%94%B0",
        ),
    ],
)
def test_allowed_link_targets_are_escaped(href: str, html_href: str, markdown_href: str) -> None:
    fragment = build(p(("x", link(href))))
    assert render_html(fragment) == (
        f'<p><a href="{html_href}" rel="noopener noreferrer nofollow">x</a></p>'
    )
    assert render_markdown(fragment) == f"[x]({markdown_href})"


def test_link_keeps_only_href_and_gets_fixed_rel() -> None:
    marks = {
        "link": {
            "href": "https://example.com",
            "target": "_self",
            "rel": "opener",
            "class": "x",
            "onclick": "alert(1)",
            "style": "color:red",
        }
    }
    fragment = build(p(("x", marks)))
    assert render_html(fragment) == (
        '<p><a href="https://example.com" rel="noopener noreferrer nofollow">x</a></p>'
    )


@pytest.mark.parametrize("tag", ["script", "iframe", "style", "img", "object", "svg", "a"])
def test_unknown_block_element_is_dropped_but_its_text_is_kept(tag: str) -> None:
    attrs = {"src": "javascript:alert(1)", "onload": "alert(1)", "href": "javascript:x"}
    fragment = build(el(tag, text("alert(1)<b>"), attrs=attrs), p("after"))
    assert render_html(fragment) == "<p>alert(1)&lt;b&gt;</p>\n<p>after</p>"
    assert render_markdown(fragment) == "alert(1)\\<b\\>\n\nafter"
    assert render_text(fragment) == "alert(1)<b>\n\nafter"


def test_unknown_element_without_text_disappears() -> None:
    fragment = build(el("iframe", attrs={"src": "https://evil.example"}), p("x"))
    assert render_html(fragment) == "<p>x</p>"
    assert render_markdown(fragment) == "x"


def test_unknown_inline_element_inside_paragraph_is_flattened() -> None:
    img = el("img", attrs={"src": "x", "onerror": "alert(1)"})
    span = el("span", text(("in", BOLD)), attrs={"style": "x"})
    fragment = build(p("a", img, span, "b"))
    assert render_html(fragment) == "<p>a<strong>in</strong>b</p>"
    assert render_markdown(fragment) == "a**in**b"


def test_unknown_wrapper_keeps_known_children() -> None:
    fragment = build(el("details", p("inside"), el("summary", text("sum")), attrs={"open": "1"}))
    assert render_html(fragment) == "<p>inside</p>\n<p>sum</p>"


@pytest.mark.parametrize(
    "marks",
    [
        {"onclick": {"value": "alert(1)"}},
        {"script": {}},
        {"span": {"style": "background:url(javascript:alert(1))"}},
        {"textStyle": {"color": "red"}},
        {"highlight": {"color": "#ff0"}},
        {"ychange": {"user": "x", "type": "added"}},
        {"bold": None},
        {"bold": False},
    ],
)
def test_unknown_or_cleared_marks_are_ignored(marks: dict[str, Any]) -> None:
    fragment = build(p("a", ("x", marks), "b"))
    assert render_html(fragment) == "<p>axb</p>"
    assert render_markdown(fragment) == "axb"


def test_node_attributes_are_never_copied() -> None:
    evil = {"style": "color:red", "onclick": "alert(1)", "class": "x", "id": "y"}
    fragment = build(
        el("paragraph", text("p"), attrs=evil),
        el("heading", text("h"), attrs={**evil, "level": 2}),
        el("bulletList", el("listItem", p("li"), attrs=evil), attrs=evil),
        el("blockquote", p("q"), attrs=evil),
        el("horizontalRule", attrs=evil),
        el("hardBreak", attrs=evil),
    )
    assert render_html(fragment) == (
        "<p>p</p>\n<h2>h</h2>\n<ul><li><p>li</p></li></ul>\n"
        "<blockquote><p>q</p></blockquote>\n<hr>\n<p><br></p>"
    )


@pytest.mark.parametrize(
    "language",
    [
        'x" onload="alert(1)',
        "x' onload='y",
        "x><script>alert(1)</script>",
        "python\n",
        "py thon",
        "a" * 33,
        "",
        "x`y",
        3,
    ],
)
def test_unsafe_code_language_is_dropped(language: Any) -> None:
    fragment = build(codeblock("x", language))
    assert render_html(fragment) == "<pre><code>x</code></pre>"
    assert render_markdown(fragment) == "```\nx\n```"


@pytest.mark.parametrize("language", ["python", "c++", "objective-c", "x_1", "A" * 32])
def test_safe_code_language_becomes_a_class(language: str) -> None:
    fragment = build(codeblock("x", language))
    assert render_html(fragment) == f'<pre><code class="language-{language}">x</code></pre>'
    assert render_markdown(fragment) == f"```{language}\nx\n```"


@pytest.mark.parametrize(
    ("level", "tag"),
    [(2, "h2"), (2.0, "h2"), ("2", "h2"), ("3.0", "h3"), (0, "h1"), (-4, "h1"), (9, "h6")]
    + [(7.0, "h6"), ("x", "h1"), ("2 onload=x", "h1"), (2.5, "h1"), (True, "h1"), (None, "h1")],
)
def test_heading_level_is_parsed_and_clamped(level: Any, tag: str) -> None:
    attrs = {} if level is None else {"level": level}
    fragment = build(el("heading", text("t"), attrs=attrs))
    assert render_html(fragment) == f"<{tag}>t</{tag}>"


@pytest.mark.parametrize(
    ("start", "html_start", "first"),
    [
        (3, ' start="3"', "3"),
        (3.0, ' start="3"', "3"),
        ("7", ' start="7"', "7"),
        (1, "", "1"),
        (0, "", "1"),
        (-2, "", "1"),
        (1.5, "", "1"),
        ("x", "", "1"),
        ('1" onclick="x', "", "1"),
        (float("inf"), "", "1"),
        (float("nan"), "", "1"),
        (1e12, "", "1"),
        (True, "", "1"),
    ],
)
def test_ordered_list_start_must_be_a_positive_int(start: Any, html_start: str, first: str) -> None:
    fragment = build(ol(li(p("a")), start=start))
    assert render_html(fragment) == f"<ol{html_start}><li><p>a</p></li></ol>"
    assert render_markdown(fragment) == f"{first}. a"
    assert render_text(fragment) == f"{first}. a"


def test_hostile_title_in_document_html() -> None:
    page = render_document_html(build(p("x")), "</title><script>alert(1)</script>")
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "<script" not in page


def test_hostile_document_has_no_live_markup() -> None:
    fragment = build(
        el("script", text("alert(1)"), attrs={"src": "https://evil.example/x.js"}),
        p(("click", link("javascript:alert(1)")), IMG),
        ul(li(el("iframe", attrs={"src": "javascript:alert(1)"}), p(SCRIPT))),
        codeblock("</code></pre><script>alert(1)</script>", 'x" onload="y'),
    )
    html = render_html(fragment)
    for needle in ("<script", "<img", "<iframe", "javascript:", "onload=", "onerror=alert(1)>"):
        assert needle not in html
    markdown = render_markdown(fragment)
    assert "](javascript" not in markdown
    assert re.search(r"(?<!\\)<(img|script|iframe)", markdown.split("```")[0]) is None
