"""Markdown escaping and the CommonMark corner cases the renderer has to get right."""

from __future__ import annotations

import pytest

from swell.rendering import render_markdown

from . import BOLD, CODE, ITALIC, STRIKE, br, build, codeblock, h, hr, li, link, ol, p, quote, ul


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*not emphasis*", "\\*not emphasis\\*"),
        ("__init__", "\\_\\_init\\_\\_"),
        ("[a](https://evil.example)", "\\[a\\](https://evil.example)"),
        ("![img](https://evil.example/x.png)", "!\\[img\\](https://evil.example/x.png)"),
        ("<https://evil.example>", "\\<https://evil.example\\>"),
        ("`code`", "\\`code\\`"),
        ("~~gone~~", "\\~\\~gone\\~\\~"),
        ("a | b", "a \\| b"),
        ("back\\slash", "back\\\\slash"),
        ("&copy; &#42;", "\\&copy; \\&\\#42;"),
        ("C# and F#", "C\\# and F\\#"),
        ("[x]: https://evil.example", "\\[x\\]: https://evil.example"),
        ("a - b + c = d. 1. 2)", "a - b + c = d. 1. 2)"),
    ],
)
def test_inline_specials_are_escaped(source: str, expected: str) -> None:
    assert render_markdown(build(p(source))) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# not a heading", "\\# not a heading"),
        ("> not a quote", "\\> not a quote"),
        ("- not a list", "\\- not a list"),
        ("+ not a list", "\\+ not a list"),
        ("* not a list", "\\* not a list"),
        ("1. not a list", "1\\. not a list"),
        ("2024) not a list", "2024\\) not a list"),
        ("---", "\\---"),
        ("***", "\\*\\*\\*"),
        ("===", "\\==="),
        ("```js", "\\`\\`\\`js"),
        ("    not code", "not code"),
        ("\tnot code", "not code"),
        ("<div>", "\\<div\\>"),
    ],
)
def test_block_syntax_at_line_start_is_neutralised(source: str, expected: str) -> None:
    assert render_markdown(build(p(source))) == expected
    assert render_markdown(build(p("x", br(), source))) == f"x\\\n{expected}"


def test_setext_underline_after_hard_break_is_neutralised() -> None:
    assert render_markdown(build(p("Title", br(), "==="))) == "Title\\\n\\==="
    assert render_markdown(build(p("Title", br(), "- x"))) == "Title\\\n\\- x"


def test_heading_text_is_escaped_and_on_one_line() -> None:
    fragment = build(h(2.0, "# a #", br(), "1. b"))
    assert render_markdown(fragment) == "## \\# a \\# 1. b"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x", "`x`"),
        ("a`b", "``a`b``"),
        ("``", "``` `` ```"),
        ("`a", "`` `a ``"),
        (" a ", "`  a  `"),
        ("   ", "`   `"),
        ("<b>*x*</b>", "`<b>*x*</b>`"),
    ],
)
def test_code_spans_choose_a_safe_fence(source: str, expected: str) -> None:
    assert render_markdown(build(p((source, CODE)))) == expected


def test_code_block_fence_is_longer_than_any_backtick_run_inside() -> None:
    fragment = build(codeblock("```\nx\n````", "md"))
    assert render_markdown(fragment) == "`````md\n```\nx\n````\n`````"


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (("a", (".b", BOLD), "c"), "a<strong>.b</strong>c"),
        (("a", ("b.", ITALIC), "c"), "a<em>b.</em>c"),
        (("a", ("(b)", STRIKE), "c"), "a<s>(b)</s>c"),
        ((".", (".b", BOLD), "."), ".**.b**."),
        (("a ", ("*b*", BOLD), " c"), "a **\\*b\\*** c"),
        ((("a", ITALIC), ("b", BOLD)), "<em>a</em>**b**"),
        ((("x", ITALIC), "*"), "*x*\\*"),
    ],
)
def test_emphasis_falls_back_to_html_where_delimiters_would_not_parse(
    runs: tuple[str | tuple[str, dict[str, object]], ...], expected: str
) -> None:
    assert render_markdown(build(p(*runs))) == expected


def test_bang_before_a_link_cannot_make_an_image() -> None:
    fragment = build(p("wow!", ("x", link("https://example.com/p.png")), " hi!"))
    assert render_markdown(fragment) == "wow\\![x](https://example.com/p.png) hi!"


def test_whitespace_only_marks_and_links_are_left_out() -> None:
    fragment = build(p("a", ("  ", BOLD), ("  ", link("https://example.com")), "b"))
    assert render_markdown(fragment) == "a    b"


def test_trailing_hard_breaks_and_blank_runs_are_dropped() -> None:
    assert render_markdown(build(p("a", br(), " ", br()))) == "a"
    assert render_markdown(build(p("  ", br()))) == ""


def test_adjacent_lists_of_the_same_kind_stay_separate() -> None:
    fragment = build(
        ul(li(p("a"))),
        ul(li(p("b"))),
        ul(li(p("c"))),
        ol(li(p("d"))),
        ol(li(p("e"))),
    )
    assert render_markdown(fragment) == "- a\n\n* b\n\n- c\n\n1. d\n\n1) e"


def test_horizontal_rule_first_in_a_bullet_item() -> None:
    fragment = build(ul(li(hr())), ul(li(hr(), p("x"))))
    assert render_markdown(fragment) == "- ***\n\n* ---\n\n  x"


def test_nested_list_that_cannot_interrupt_a_paragraph_gets_a_blank_line() -> None:
    fragment = build(
        ul(li(p("a"), ol(li(p("b")), start=3.0))),
        ul(li(p("c"), ul(li(), li(p("d"))))),
        ul(li(codeblock("x"), ol(li(p("e")), start=5.0))),
    )
    assert render_markdown(fragment) == (
        "- a\n\n  3. b\n\n* c\n\n  - \n  - d\n\n- ```\n  x\n  ```\n  5. e"
    ).replace("- \n", "-\n")


def test_empty_list_items() -> None:
    fragment = build(ul(li(), li(p("a"))), ol(li(p()), start=2.0))
    assert render_markdown(fragment) == "-\n- a\n\n2."


def test_blockquote_with_hard_breaks_and_markup() -> None:
    fragment = build(quote(p(("a", BOLD), br(), "> b"), p("c")))
    assert render_markdown(fragment) == "> **a**\\\n> \\> b\n>\n> c"
