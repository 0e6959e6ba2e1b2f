"""Reading y-prosemirror structures, including ones the editor schema would not produce."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pycrdt
import pytest

from swell.rendering import render_html, render_markdown, render_text
from swell.rendering.tree import (
    HardBreak,
    Mark,
    Paragraph,
    Text,
    read_fragment,
)

from . import BOLD, ITALIC, br, build, el, li, link, p, quote, text, ul


def test_tree_is_validated_and_immutable() -> None:
    fragment = build(p("a ", ("b", {**BOLD, **link(" https://x.example ")}), br(), "c"))
    blocks = read_fragment(fragment)
    assert blocks == [
        Paragraph(
            (
                Text("a "),
                Text("b", (Mark("link", "https://x.example"), Mark("bold"))),
                HardBreak(),
                Text("c"),
            )
        )
    ]
    paragraph = blocks[0]
    assert isinstance(paragraph, Paragraph)
    with pytest.raises(FrozenInstanceError):
        paragraph.content = ()  # type: ignore[misc]


def test_hashed_overlapping_mark_names_are_recognised() -> None:
    """y-prosemirror keys marks that may overlap themselves as "name--<hash>"."""
    fragment = build(p(("x", {"bold--Ab+/9=xY": {}, "italic--12345678": {}, "bold--short": {}})))
    assert render_html(fragment) == "<p><strong><em>x</em></strong></p>"


def test_adjacent_xml_texts_and_runs_are_merged() -> None:
    fragment = build(el("paragraph", text("a", ("b", BOLD)), text(("c", BOLD), "d")))
    assert render_html(fragment) == "<p>a<strong>bc</strong>d</p>"


def test_stray_inline_content_at_top_level_becomes_paragraphs() -> None:
    fragment = build(text("loose ", ("text", BOLD)), el("hardBreak"), text("more"), p("p"))
    assert render_html(fragment) == "<p>loose <strong>text</strong><br>more</p>\n<p>p</p>"


def test_list_item_outside_a_list_keeps_its_content() -> None:
    fragment = build(li(p("orphan")))
    assert render_html(fragment) == "<p>orphan</p>"


def test_non_item_children_of_a_list_become_items() -> None:
    fragment = build(ul(p("para"), text("text"), li(p("item")), el("hr")))
    assert render_html(fragment) == (
        "<ul><li><p>para</p></li><li><p>text</p></li><li><p>item</p></li></ul>"
    )
    assert render_markdown(fragment) == "- para\n- text\n- item"


def test_block_inside_a_paragraph_is_flattened_to_text() -> None:
    fragment = build(el("paragraph", text("a "), p(("b", ITALIC)), quote(p(" c"))))
    assert render_html(fragment) == "<p>a <em>b</em> c</p>"


def test_code_block_ignores_marks_and_nested_elements() -> None:
    fragment = build(
        el(
            "codeBlock",
            text(("bold", BOLD), " x"),
            el("hardBreak"),
            el("span", text("<y>")),
            attrs={"language": "js"},
        )
    )
    assert render_html(fragment) == (
        '<pre><code class="language-js">bold x\n&lt;y&gt;</code></pre>'
    )


def test_embeds_inside_text_are_skipped() -> None:
    fragment = build(p("ab"))
    paragraph = fragment.children[0]
    assert isinstance(paragraph, pycrdt.XmlElement)
    xml_text = paragraph.children[0]
    assert isinstance(xml_text, pycrdt.XmlText)
    xml_text.insert_embed(1, {"src": "javascript:alert(1)"})
    xml_text.insert_embed(1, 5)
    assert render_html(fragment) == "<p>ab</p>"


def test_moderate_nesting_is_kept() -> None:
    fragment = build(ul(li(p("1"), ul(li(p("2"), ul(li(p("3"), ul(li(p("4"))))))))))
    assert render_text(fragment) == "- 1\n  - 2\n    - 3\n      - 4"
