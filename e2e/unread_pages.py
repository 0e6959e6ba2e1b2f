"""Page objects for "what changed since you last looked" (issue 11): the home page's unread
markers, the editor's and the viewer page's highlight of changes since the reader's mark, and
the toolbar's scroll hints at phone width."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.pages import EditorPage, HomePage, ViewerPage

# True once the server counts the document as read by this browser's author up to its newest
# committed revision (POST /api/unread, which the home page asks too). A polling predicate of
# wait_for_function is not awaited, so each call starts one request and reads the last answer.
_MARK_CAUGHT_UP = """([id, token]) => {
  const state = (window.__swellMarkWait ??= { pending: false, caughtUp: false });
  if (!state.pending) {
    state.pending = true;
    const stored = JSON.parse(localStorage.getItem("swell.author") || "null");
    fetch("/api/unread", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Swell-Author": stored?.secret ?? "" },
      body: JSON.stringify({ docs: [{ id, token }] }),
    })
      .then((r) => r.json())
      .then((answer) => {
        const doc = answer.docs[0];
        state.caughtUp = doc.rev > 0 && doc.read_rev === doc.rev;
      })
      .catch(() => undefined)
      .finally(() => {
        state.pending = false;
      });
  }
  return state.caughtUp;
}"""


_HIGHLIGHTED = """Array.from(
  document.querySelectorAll("[data-testid=editor] [data-testid=since-read-ins]"),
  (el) => el.textContent,
).join("")"""
_HIGHLIGHTED_IS = "(want) => " + _HIGHLIGHTED + " === want"


class UnreadHome:
    """``/`` with its "Your documents" list and what changed in each."""

    def __init__(self, home: HomePage) -> None:
        self.home = home
        self.page = home.page
        self.items = home.documents

    def item(self, title: str) -> Locator:
        return self.home.document(title)

    def unread_marker(self, title: str) -> Locator:
        return self.item(title).get_by_test_id("doc-unread")

    def last_edit(self, title: str) -> Locator:
        return self.item(title).get_by_test_id("doc-last-edit")

    def titles(self) -> list[str]:
        return [t.strip() for t in self.items.locator(".doc-item__link").all_inner_texts()]

    def expect_first(self, title: str, *, timeout: float) -> None:
        expect(self.items.first.locator(".doc-item__link")).to_have_text(title, timeout=timeout)


class SinceReadEditor:
    """The editor page's highlight of the changes since the reader last looked."""

    def __init__(self, editor: EditorPage) -> None:
        self.editor = editor
        self.page: Page = editor.page
        self.notice = self.page.get_by_test_id("since-read-notice")
        self.insertions = editor.content.get_by_test_id("since-read-ins")
        self.deletions = editor.content.get_by_test_id("since-read-del")

    def insertions_by(self, name: str) -> Locator:
        return self.insertions.and_(self.page.locator(f'[data-author-name="{name}"]'))

    def deletions_by(self, name: str) -> Locator:
        return self.deletions.and_(self.page.locator(f'[aria-label="Deleted by {name}"]'))

    def highlighted_text(self) -> str:
        """The text of every insertion highlight, in document order, joined."""
        return "".join(self.insertions.all_text_contents())

    def expect_highlighted_text(self, expected: str, *, timeout: float) -> None:
        try:
            self.page.wait_for_function(
                _HIGHLIGHTED_IS,
                arg=expected,
                timeout=timeout,
                polling=50,
            )
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"expected the highlighted text {expected!r}, it is {self.highlighted_text()!r}"
                f" in {self.editor.text()!r}"
            ) from None

    def colors_of(self, locator: Locator) -> set[str]:
        """The underline colours of the highlights ``locator`` finds (computed, rgb())."""
        values = locator.evaluate_all(
            "(els) => els.map((el) => getComputedStyle(el).textDecorationColor)"
        )
        return {str(v) for v in values}

    def dismiss(self) -> None:
        self.notice.get_by_role("button", name="Dismiss").click()

    def wait_until_mark_caught_up(self, token: str, *, timeout: float) -> None:
        """Waits until the server has this reader's mark at the document's newest revision."""
        wait_until_mark_caught_up(self.page, self.editor.doc_id, token, timeout=timeout)


def wait_until_mark_caught_up(page: Page, doc_id: str, token: str, *, timeout: float) -> None:
    """Waits until the server has the mark of ``page``'s author on ``doc_id`` at the document's
    newest revision."""
    page.evaluate("() => { delete window.__swellMarkWait; }")
    page.wait_for_function(_MARK_CAUGHT_UP, arg=[doc_id, token], timeout=timeout, polling=250)


_VIEWER_INSERTED = """([author, want]) => Array.from(
  document.querySelectorAll(`[data-testid=since-read-doc] ins[data-author="${author}"]`),
  (el) => el.textContent,
).join("").trim() === want"""


class SinceReadViewer:
    """The viewer page's highlight of the changes since the reader last looked: the server's
    rendering of them (``<ins>``/``<del>`` with ``data-author``) in place of the live content."""

    def __init__(self, viewer: ViewerPage) -> None:
        self.viewer = viewer
        self.page: Page = viewer.page
        self.notice = self.page.get_by_test_id("since-read-notice")
        self.doc = self.page.get_by_test_id("since-read-doc")
        self.insertions = self.doc.locator("ins")
        self.deletions = self.doc.locator("del")

    def insertions_by(self, author_id: str) -> Locator:
        return self.doc.locator(f'ins[data-author="{author_id}"]')

    def deletions_by(self, author_id: str) -> Locator:
        return self.doc.locator(f'del[data-author="{author_id}"]')

    def expect_inserted_by(self, author_id: str, expected: str, *, timeout: float) -> None:
        """Waits until the text highlighted as inserted by ``author_id`` is ``expected`` (joined,
        without spaces at either end)."""
        try:
            self.page.wait_for_function(
                _VIEWER_INSERTED, arg=[author_id, expected], timeout=timeout, polling=50
            )
        except PlaywrightTimeoutError:
            shown = "".join(self.insertions_by(author_id).all_text_contents())
            raise AssertionError(
                f"expected {expected!r} highlighted as inserted, it is {shown!r}"
                f" in {self.doc.inner_html()}"
            ) from None

    def colors(self, locator: Locator, prop: str) -> set[str]:
        """A computed colour property (e.g. ``borderBottomColor``) of every element found."""
        values = locator.evaluate_all(f"(els) => els.map((el) => getComputedStyle(el).{prop})")
        return {str(v) for v in values}

    def dismiss(self) -> None:
        self.notice.get_by_role("button", name="Dismiss").click()


_WORD_CENTER = """(root, word) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(word);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + word.length);
    const rect = range.getBoundingClientRect();
    return [rect.left + rect.width / 2, rect.top + rect.height / 2];
  }
  return null;
}"""


def delete_word(editor: EditorPage, word: str) -> None:
    """Deletes ``word`` (its first occurrence) in the editor: double-clicks it (the mouse sets
    the editor's selection at once, keys moving the caret may not), then Backspace."""
    center = editor.content.evaluate(_WORD_CENTER, word)
    assert center is not None, f"{word!r} is not in the editor"
    editor.page.mouse.dblclick(center[0], center[1])
    expect_selected = f"() => getSelection().toString().trim() === {word!r}"
    editor.page.wait_for_function(expect_selected, timeout=2_000, polling=50)
    editor.press("Backspace")


def author_id(page: Page, base_url: str) -> str:
    """The id of the author ``page``'s browser acts as (its secret is in localStorage)."""
    secret = page.evaluate(
        "() => JSON.parse(localStorage.getItem('swell.author') || 'null')?.secret ?? null"
    )
    assert isinstance(secret, str) and secret, "this browser has no author yet"
    response = httpx.get(
        f"{base_url}/api/authors/me", headers={"X-Swell-Author": secret}, timeout=10.0
    )
    response.raise_for_status()
    return str(response.json()["id"])


class PhoneToolbar:
    """The formatting toolbar at phone width: it scrolls, with a hint at the edge with more."""

    def __init__(self, editor: EditorPage) -> None:
        self.page = editor.page
        self.bar = self.page.get_by_role("toolbar", name="Formatting")
        self.more_end = self.page.get_by_test_id("toolbar-more-end")
        self.more_start = self.page.get_by_test_id("toolbar-more-start")

    def scroll_to_end(self) -> None:
        self.bar.evaluate(
            "(el) => { el.style.scrollBehavior = 'auto'; el.scrollLeft = el.scrollWidth; }"
        )

    def scroll_to_start(self) -> None:
        self.bar.evaluate("(el) => { el.style.scrollBehavior = 'auto'; el.scrollLeft = 0; }")

    def overflows(self) -> bool:
        return bool(self.bar.evaluate("(el) => el.scrollWidth > el.clientWidth + 1"))

    def is_scrolled_to_end(self) -> bool:
        return bool(
            self.bar.evaluate("(el) => el.scrollLeft >= el.scrollWidth - el.clientWidth - 1")
        )


def rgb(hex_color: str) -> str:
    """``#c2255c`` as getComputedStyle writes it: ``rgb(194, 37, 92)``."""
    match = re.fullmatch(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", hex_color)
    assert match is not None, hex_color
    r, g, b = (int(part, 16) for part in match.groups())
    return f"rgb({r}, {g}, {b})"


def read_mark(page: Page, base_url: str, doc_id: str, token: str) -> int:
    """``GET /api/docs/{id}/read`` as ``page``'s author: the newest revision it has seen."""
    secret = page.evaluate(
        "() => JSON.parse(localStorage.getItem('swell.author') || 'null')?.secret ?? null"
    )
    assert isinstance(secret, str) and secret, "this browser has no author yet"
    response = httpx.get(
        f"{base_url}/api/docs/{doc_id}/read",
        headers={"Authorization": f"Bearer {token}", "X-Swell-Author": secret},
        timeout=10.0,
    )
    response.raise_for_status()
    return int(response.json()["rev"])
