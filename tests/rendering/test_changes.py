"""render_changes: the document at B with what changed since A marked up, per author."""

from __future__ import annotations

import random
import re
import sys
import time
from html.parser import HTMLParser
from typing import Any

import pycrdt
import pytest

from swell.rendering import render_html
from swell.rendering.changes import render_changes

from . import BOLD, build, codeblock, h, hr, li, link, p, quote, ul
from . import _append as append
from .test_formats import EVERY_NODE_HTML, every_node_doc, y_tiptap_doc

pytestmark = pytest.mark.timeout(60)

Doc = pycrdt.Doc[Any]


def snapshot(fragment: pycrdt.XmlFragment) -> Doc:
    """The document as a revision: a Doc of its own with the same content and history."""
    doc: Doc = pycrdt.Doc()
    doc.apply_update(fragment.doc.get_update())
    return doc


def html_of(doc: Doc) -> str:
    return render_html(doc.get("default", type=pycrdt.XmlFragment))


def text_at(fragment: pycrdt.XmlFragment, *path: int) -> pycrdt.XmlText:
    node: Any = fragment
    for index in path:
        node = node.children[index]
    assert isinstance(node, pycrdt.XmlText)
    return node


def paragraph(words: str) -> pycrdt.XmlElement:
    return pycrdt.XmlElement("paragraph", {}, [pycrdt.XmlText(words)])


def test_insertion_by_one_author() -> None:
    fragment = build(p("Hello world"))
    before = snapshot(fragment)
    text_at(fragment, 0, 0).insert(6, "there, ")
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<p>Hello <ins data-author="zoe">there, </ins>world</p>'
    )


def test_deletion() -> None:
    fragment = build(p("Hello cruel world"))
    before = snapshot(fragment)
    del text_at(fragment, 0, 0)[6:12]
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<p>Hello <del data-author="zoe">cruel </del>world</p>'
    )


def test_a_replaced_word_is_deleted_then_inserted() -> None:
    fragment = build(p("the quick fox"))
    before = snapshot(fragment)
    text = text_at(fragment, 0, 0)
    del text[4:9]
    text.insert(4, "slow")
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<p>the <del data-author="zoe">quick</del><ins data-author="zoe">slow</ins> fox</p>'
    )


def test_two_authors_in_two_steps_are_attributed_to_their_own_changes() -> None:
    fragment = build(p("one two three"))
    before = snapshot(fragment)
    text = text_at(fragment, 0, 0)
    text.insert(4, "and a half ")
    first = snapshot(fragment)
    del text[len("one and a half ") : len("one and a half two ")]
    text.insert(len(text), "!")
    second = snapshot(fragment)
    assert render_changes(before, [("ann", first), ("bob", second)]) == (
        '<p>one <ins data-author="ann">and a half </ins><del data-author="bob">two </del>'
        'three<ins data-author="bob">!</ins></p>'
    )


def test_text_inserted_and_deleted_within_the_range_vanishes() -> None:
    fragment = build(p("keep this"))
    before = snapshot(fragment)
    text = text_at(fragment, 0, 0)
    text.insert(4, " TEMPORARY")
    first = snapshot(fragment)
    del text[4:14]
    text.insert(len(text), ".")
    second = snapshot(fragment)
    out = render_changes(before, [("ann", first), ("bob", second)])
    assert out == '<p>keep this<ins data-author="bob">.</ins></p>'
    assert "TEMPORARY" not in out


def test_text_deleted_after_another_author_inserted_next_to_it() -> None:
    fragment = build(p("abc"), p("gone"))
    before = snapshot(fragment)
    text_at(fragment, 1, 0).insert(4, " soon")
    first = snapshot(fragment)
    del fragment.children[1]
    second = snapshot(fragment)
    assert render_changes(before, [("ann", first), ("bob", second)]) == (
        "<p>abc</p>\n"
        '<p data-author="bob" data-change="deleted"><del data-author="bob">gone</del></p>'
    )


def test_bold_applied_is_marked_as_a_formatting_change() -> None:
    fragment = build(p("make this bold"))
    before = snapshot(fragment)
    text_at(fragment, 0, 0).format(10, 14, BOLD)
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<p>make this <strong><ins data-author="zoe" data-change="format">bold</ins></strong></p>'
    )


def test_formatting_credits_the_last_author_and_disappears_when_undone() -> None:
    fragment = build(p("abc def"))
    before = snapshot(fragment)
    text = text_at(fragment, 0, 0)
    text.format(0, 3, BOLD)
    first = snapshot(fragment)
    text.format(0, 3, {"italic": {}})
    text.format(4, 7, BOLD)
    second = snapshot(fragment)
    text.format(4, 7, {"bold": None})
    third = snapshot(fragment)
    assert render_changes(before, [("ann", first), ("bob", second)]) == (
        '<p><strong><em><ins data-author="bob" data-change="format">abc</ins></em></strong> '
        '<strong><ins data-author="bob" data-change="format">def</ins></strong></p>'
    )
    assert render_changes(before, [("ann", first), ("bob", second), ("cy", third)]) == (
        '<p><strong><em><ins data-author="bob" data-change="format">abc</ins></em></strong> def</p>'
    )


def test_a_paragraph_turned_into_a_heading_is_a_formatting_change() -> None:
    fragment = build(p("Title"), p("body"))
    before = snapshot(fragment)
    del fragment.children[0]
    fragment.children.insert(
        0, pycrdt.XmlElement("heading", {"level": 2.0}, [pycrdt.XmlText("Title")])
    )
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<h2><ins data-author="zoe" data-change="format">Title</ins></h2>\n<p>body</p>'
    )


def test_a_deleted_paragraph_is_shown_as_a_deleted_block() -> None:
    fragment = build(p("first"), p("second"), p("third"))
    before = snapshot(fragment)
    del fragment.children[1]
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        "<p>first</p>\n"
        '<p data-author="zoe" data-change="deleted"><del data-author="zoe">second</del></p>\n'
        "<p>third</p>"
    )


def test_deleted_list_items_and_rules_are_whole_deleted_blocks() -> None:
    fragment = build(ul(li(p("one")), li(p("two")), li(p("three"))), hr(), p("end"))
    before = snapshot(fragment)
    items = fragment.children[0]
    assert isinstance(items, pycrdt.XmlElement)
    del items.children[2]
    del items.children[0]
    del fragment.children[1]
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<ul><li data-author="zoe" data-change="deleted"><p><del data-author="zoe">one</del></p>'
        "</li><li><p>two</p></li>"
        '<li data-author="zoe" data-change="deleted"><p><del data-author="zoe">three</del></p>'
        "</li></ul>\n"
        '<hr data-author="zoe" data-change="deleted">\n'
        "<p>end</p>"
    )


def test_a_new_paragraph_is_shown_as_an_inserted_block() -> None:
    fragment = build(p("first"), p("last"))
    before = snapshot(fragment)
    fragment.children.insert(1, paragraph("middle"))
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        "<p>first</p>\n"
        '<p data-author="zoe" data-change="inserted"><ins data-author="zoe">middle</ins></p>\n'
        "<p>last</p>"
    )


def test_new_blocks_of_every_kind_are_marked_once_at_their_outermost_element() -> None:
    fragment = build(p("x"))
    before = snapshot(fragment)
    for node in (quote(p("q"), ul(li(p("i")))), codeblock("c = 1", "python"), hr()):
        append(fragment, node)
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        "<p>x</p>\n"
        '<blockquote data-author="zoe" data-change="inserted"><p><ins data-author="zoe">q</ins>'
        '</p><ul><li><p><ins data-author="zoe">i</ins></p></li></ul></blockquote>\n'
        '<pre data-author="zoe" data-change="inserted"><code class="language-python">'
        '<ins data-author="zoe">c = 1</ins></code></pre>\n'
        '<hr data-author="zoe" data-change="inserted">'
    )


def test_splitting_and_wrapping_without_text_changes_marks_nothing() -> None:
    fragment = build(p("hello world"), p("quoted"))
    before = snapshot(fragment)
    del text_at(fragment, 0, 0)[5:11]
    fragment.children.insert(1, paragraph(" world"))
    del fragment.children[2]
    fragment.children.append(pycrdt.XmlElement("blockquote", {}, [paragraph("quoted")]))
    after = snapshot(fragment)
    assert render_changes(before, [("zoe", after)]) == html_of(after)


def test_paragraphs_made_into_a_list_between_two_edits_mark_only_the_edits() -> None:
    fragment = build(p("first"), p("second"), p("third"), p("fourth"), p("fifth"))
    before = snapshot(fragment)
    text_at(fragment, 0, 0).insert(5, "!")
    text_at(fragment, 4, 0).insert(5, "?")
    words = ("second", "third", "fourth")
    item = [pycrdt.XmlElement("listItem", {}, [paragraph(word)]) for word in words]
    items = pycrdt.XmlElement("bulletList", {}, item)
    with fragment.doc.transaction():
        for _ in range(3):
            del fragment.children[1]
        fragment.children.insert(1, items)
    assert render_changes(before, [("zoe", snapshot(fragment))]) == (
        '<p>first<ins data-author="zoe">!</ins></p>\n'
        "<ul><li><p>second</p></li><li><p>third</p></li><li><p>fourth</p></li></ul>\n"
        '<p>fifth<ins data-author="zoe">?</ins></p>'
    )


IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(1)</script>'


def test_hostile_text_is_escaped_when_inserted_deleted_or_kept() -> None:
    fragment = build(p(IMG), p("kept words ", (IMG, BOLD)))
    before = snapshot(fragment)
    text_at(fragment, 1, 0).insert(4, SCRIPT)
    del fragment.children[0]
    out = render_changes(before, [("zoe", snapshot(fragment))])
    assert out == (
        '<p data-author="zoe" data-change="deleted"><del data-author="zoe">'
        "&lt;img src=x onerror=alert(1)&gt;</del></p>\n"
        '<p>kept<ins data-author="zoe">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</ins>'
        " words <strong>&lt;img src=x onerror=alert(1)&gt;</strong></p>"
    )
    assert "<img" not in out and "<script" not in out and SCRIPT not in out


def test_hostile_link_and_formatting_changes_stay_allow_listed() -> None:
    fragment = build(p("click me"))
    before = snapshot(fragment)
    text = text_at(fragment, 0, 0)
    text.format(0, 5, link("javascript:alert(1)"))
    text.format(6, 8, link('https://example.com/"><script>'))
    out = render_changes(before, [("zoe", snapshot(fragment))])
    assert out == (
        "<p>click "
        '<a href="https://example.com/&quot;&gt;&lt;script&gt;" rel="noopener noreferrer nofollow">'
        '<ins data-author="zoe" data-change="format">me</ins></a></p>'
    )


@pytest.mark.parametrize(
    "author", ['"><script>alert(1)</script>', "a b", "", "é", "x" * 129, "a\n", "a'"]
)
def test_an_author_id_that_is_not_an_id_is_refused(author: str) -> None:
    fragment = build(p("a"))
    with pytest.raises(ValueError):
        render_changes(snapshot(fragment), [(author, snapshot(fragment))])


def test_anonymous_changes_have_no_author_attribute() -> None:
    fragment = build(p("a"), p("b"))
    before = snapshot(fragment)
    text_at(fragment, 0, 0).insert(1, "+")
    del fragment.children[1]
    assert render_changes(before, [(None, snapshot(fragment))]) == (
        '<p>a<ins>+</ins></p>\n<p data-change="deleted"><del>b</del></p>'
    )


@pytest.mark.parametrize("make_doc", [every_node_doc, y_tiptap_doc], ids=["built", "y-tiptap"])
def test_without_changes_the_output_is_the_plain_document_html(make_doc: Any) -> None:
    doc = snapshot(make_doc())
    assert render_changes(doc, []) == EVERY_NODE_HTML
    assert render_changes(doc, [("zoe", doc), (None, snapshot(make_doc()))]) == EVERY_NODE_HTML


def test_empty_documents() -> None:
    empty = snapshot(build())
    assert render_changes(empty, []) == ""
    assert render_changes(empty, [("zoe", snapshot(build()))]) == ""
    full = snapshot(build(p("a"), h(1.0, "b")))
    assert render_changes(empty, [("zoe", full)]) == (
        '<p data-author="zoe" data-change="inserted"><ins data-author="zoe">a</ins></p>\n'
        '<h1 data-author="zoe" data-change="inserted"><ins data-author="zoe">b</ins></h1>'
    )
    assert render_changes(full, [("zoe", empty)]) == (
        '<p data-author="zoe" data-change="deleted"><del data-author="zoe">a</del></p>\n'
        '<h1 data-author="zoe" data-change="deleted"><del data-author="zoe">b</del></h1>'
    )
    assert render_changes(empty, [("ann", full), ("bob", empty)]) == ""


def test_a_document_nested_10000_deep_does_not_overflow() -> None:
    doc: Doc = pycrdt.Doc()
    fragment = doc.get("default", type=pycrdt.XmlFragment)
    parent: pycrdt.XmlFragment | pycrdt.XmlElement = fragment
    with doc.transaction():
        for _ in range(10_000):
            parent = parent.children.append(pycrdt.XmlElement("blockquote"))
        bottom = parent.children.append(paragraph("bottom"))
    before = snapshot(fragment)
    text = bottom.children[0]
    assert isinstance(text, pycrdt.XmlText)
    text.insert(6, " line")
    edited = snapshot(fragment)
    del fragment.children[0]
    limit = sys.getrecursionlimit()
    out = render_changes(before, [("ann", edited)])
    assert (
        re.sub("(</?blockquote>)+", "|", out) == '|<p>bottom<ins data-author="ann"> line</ins></p>|'
    )
    out = render_changes(before, [("ann", edited), ("bob", snapshot(fragment))])
    assert re.sub("(</?blockquote>)+", "|", out) == (
        '<blockquote data-author="bob" data-change="deleted">|'
        '<p><del data-author="bob">bottom</del></p>|'
    )
    assert sys.getrecursionlimit() == limit


def test_a_long_document_with_scattered_changes_renders_quickly() -> None:
    """20,000 characters, ten steps of a few changes each: tens of milliseconds (a diff by
    characters over the whole document would take seconds)."""
    rng = random.Random(7)
    words = "the quick brown fox jumps over a lazy dog and then some more".split()
    fragment = build()
    with fragment.doc.transaction():
        for _ in range(60):
            fragment.children.append(paragraph(" ".join(rng.choices(words, k=60))))
        fragment.children.append(paragraph(" ".join(rng.choices(words, k=1500))))  # one long
    before = snapshot(fragment)
    steps: list[tuple[str | None, Doc]] = []
    for step in range(10):
        for _ in range(3):
            text = text_at(fragment, rng.randrange(len(fragment.children)), 0)
            at = rng.randrange(len(text))
            text.insert(at, "NEW")
            del text[min(at + 10, len(text)) : min(at + 16, len(text))]
        steps.append((f"author{step % 3}", snapshot(fragment)))
    start = time.process_time()
    out = render_changes(before, steps)
    elapsed = time.process_time() - start
    assert out.count("NEW") == 30 and out.count("<del") >= 10
    assert _strip(out, "del") == _text(html_of(steps[-1][1]))
    assert _strip(out, "ins") == _text(html_of(before))
    assert elapsed < 1.0


# --- Random edits: whatever happens, the output is well formed and adds up ---------------------


def _text(html: str) -> str:
    return re.sub(r"<[^>]*>", "", html).replace("\n", "")


def _strip(html: str, change: str) -> str:
    """The text without the inserted (or deleted) text: the text of A (or of B)."""
    pattern = rf'<{change}(?: data-author="[^"]*")?>.*?</{change}>'
    return _text(re.sub(pattern, "", html, flags=re.DOTALL))


_INLINE = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "a", "strong", "em", "u", "s"}
_ALLOWED_ATTRIBUTES = {"data-author", "data-change", "href", "rel", "start", "class"}


class _Structure(HTMLParser):
    """Checks nesting: balanced tags, only items in lists, no block inside inline content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.open[-1] if self.open else None
        if (parent in ("ul", "ol")) != (tag == "li"):
            self.errors.append(f"<{tag}> in <{parent}>")
        inline = _INLINE | {"ins", "del"}
        if tag not in _INLINE | {"ins", "del", "br"} and inline.intersection(self.open):
            self.errors.append(f"<{tag}> inside {self.open}")
        self.errors.extend(f"{tag}[{name}]" for name, _ in attrs if name not in _ALLOWED_ATTRIBUTES)
        if tag not in ("br", "hr"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> does not close what is open")


def _random_edit(rng: random.Random, fragment: pycrdt.XmlFragment) -> None:
    nodes: list[tuple[Any, int, Any]] = []
    pending: list[Any] = [fragment]
    while pending:
        parent = pending.pop()
        for index, child in enumerate(parent.children):
            nodes.append((parent, index, child))
            if isinstance(child, pycrdt.XmlElement):
                pending.append(child)
    texts = [node for _, _, node in nodes if isinstance(node, pycrdt.XmlText)]
    words = ["alpha", "beta", "<b>", "&", '"', "x"]
    choice = rng.random()
    if texts and choice < 0.35:
        text = rng.choice(texts)
        text.insert(rng.randint(0, len(text)), " ".join(rng.choices(words, k=2)))
    elif texts and choice < 0.55:
        text = rng.choice(texts)
        if len(text):
            at = rng.randrange(len(text))
            del text[at : min(len(text), at + rng.randint(1, 6))]
    elif texts and choice < 0.7:
        text = rng.choice(texts)
        if len(text):
            at = rng.randrange(len(text))
            marks = rng.choice([BOLD, {"italic": {}}, {"bold": None}, link("https://e.example")])
            text.format(at, min(len(text), at + rng.randint(1, 6)), marks)
    elif choice < 0.85:
        new = paragraph(" ".join(rng.choices(words, k=3)))
        fragment.children.insert(rng.randint(0, len(fragment.children)), new)
    elif nodes:
        parent, index, node = rng.choice(nodes)
        if isinstance(node, pycrdt.XmlElement):
            del parent.children[index]


@pytest.mark.parametrize("seed", range(40))
def test_random_edits_give_well_formed_output_that_adds_up(seed: int) -> None:
    rng = random.Random(seed)
    fragment = build(
        h(2.0, "Notes"),
        p("alpha ", ("beta", BOLD), " gamma"),
        ul(li(p("one")), li(p("two"), ul(li(p("deep"))))),
        quote(p("quoted"), p("more")),
        codeblock("x = 1\ny = 2", "python"),
        hr(),
    )
    before = snapshot(fragment)
    steps: list[tuple[str | None, Doc]] = []
    for _ in range(rng.randint(1, 4)):
        for _ in range(rng.randint(1, 4)):
            with fragment.doc.transaction():
                _random_edit(rng, fragment)
        steps.append((rng.choice(["ann", "bob", None]), snapshot(fragment)))
    out = render_changes(before, steps)
    checker = _Structure()
    checker.feed(out)
    checker.close()
    assert checker.errors == [] and checker.open == []
    assert _strip(out, "del") == _text(html_of(steps[-1][1]))
    assert _strip(out, "ins") == _text(html_of(before))
