"""Page objects: what a person sees and does on Swell's pages, in the app's own terms."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    WebSocketRoute,
    expect,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# The document's text without other people's carets: CollaborationCaret puts a caret element,
# with the person's name in it, into the text itself. Blocks are joined by newlines.
_TEXT_OF = """(root) => {
  if (!root) return null;
  const copy = root.cloneNode(true);
  for (const caret of copy.querySelectorAll(".collaboration-carets__caret")) caret.remove();
  return Array.from(copy.children, (block) => block.textContent).join("\\n");
}"""

_EDITOR = "document.querySelector('[data-testid=editor]')"

# Where someone's caret is, as an offset into the text _TEXT_OF returns (null: no such caret).
_CARET_OFFSET = """(name) => {
  const root = document.querySelector("[data-testid=editor]");
  if (!root) return null;
  const caret = Array.from(root.querySelectorAll(".collaboration-carets__caret")).find(
    (c) => c.querySelector(".collaboration-carets__label")?.textContent === name,
  );
  if (!caret) return null;
  const textOf = (node) => {
    for (const c of node.querySelectorAll(".collaboration-carets__caret")) c.remove();
    return node.textContent;
  };
  let offset = 0;
  for (const block of root.children) {
    if (block.contains(caret)) {
      const range = document.createRange();
      range.setStart(block, 0);
      range.setEndBefore(caret);
      return offset + textOf(range.cloneContents()).length;
    }
    offset += textOf(block.cloneNode(true)).length + 1;
  }
  return null;
}"""

# Resolves once every IndexedDB write y-indexeddb has started for this document has finished:
# a read-only transaction on "updates" waits for the read-write ones created before it.
_IDB_BARRIER = """async (name) => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(["updates"], "readonly");
      const count = tx.objectStore("updates").count();
      tx.oncomplete = () => resolve(count.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}"""


@dataclass
class Person:
    """Someone at their own computer: a browser context of their own (so no BroadcastChannel
    or storage is shared with anybody else), with their name and color already chosen."""

    name: str
    color: str
    context: BrowserContext
    pages: list[Page] = field(default_factory=list)
    console: dict[int, list[str]] = field(default_factory=dict)

    def new_page(self) -> Page:
        page = self.context.new_page()
        log = self.console.setdefault(len(self.pages), [])
        self.pages.append(page)

        def on_console(message: ConsoleMessage) -> None:
            location = message.location
            where = f" ({location['url']}:{location['lineNumber']})" if location["url"] else ""
            log.append(f"[{message.type}] {message.text}{where}")

        def on_page_error(error: PlaywrightError) -> None:
            log.append(f"[pageerror] {error.name}: {error.message}\n{error.stack or ''}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("framenavigated", lambda frame: log.append(f"[navigated] {frame.url}"))
        return page

    def editor(self, base_url: str) -> EditorPage:
        return EditorPage(self.new_page(), base_url, self.name)

    def home(self, base_url: str) -> HomePage:
        return HomePage(self.new_page(), base_url)

    def viewer(self, base_url: str) -> ViewerPage:
        return ViewerPage(self.new_page(), base_url)

    def route_sockets(self) -> SocketGate:
        """Routes this person's WebSockets through Playwright so that a test can cut them.
        Call it before opening a page."""
        return SocketGate(self.context)


class NewPerson(Protocol):
    """The ``new_person(name, color, first_visit=False)`` fixture's type."""

    def __call__(self, name: str, color: str, *, first_visit: bool = False) -> Person: ...


class SocketGate:
    """A switch for one browser context's WebSockets.

    Chromium's offline emulation (``context.set_offline``) holds an open WebSocket's frames
    back but does not close it, so the client never resyncs. ``cut()`` really closes the
    sockets (as a dropped network does) and refuses new ones until ``restore()``.
    """

    CLOSE_CODE = 4000  # below y-websocket's 44xx "don't reconnect" range
    REASON = "network down (test)"

    def __init__(self, context: BrowserContext) -> None:
        self.is_open = True
        self.connections: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.refused = 0
        context.route_web_socket(re.compile(r"/ws/"), self._handle)

    def _handle(self, page_side: WebSocketRoute) -> None:
        if not self.is_open:
            self.refused += 1
            page_side.close(code=self.CLOSE_CODE, reason=self.REASON)
            return
        self.connections.append((page_side, page_side.connect_to_server()))

    def cut(self) -> None:
        """Closes both ends of every open socket (the server learns at once that the person
        left) and refuses new sockets. Cut before ``set_offline(True)``: offline emulation
        would hold the close frame back too."""
        self.is_open = False
        for page_side, server_side in self.connections:
            server_side.close(code=self.CLOSE_CODE, reason=self.REASON)
            page_side.close(code=self.CLOSE_CODE, reason=self.REASON)
        self.connections.clear()

    def restore(self) -> None:
        self.is_open = True


class HomePage:
    """``/``: the create form and "Your documents"."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.title_input = page.get_by_test_id("create-title")
        self.documents = page.get_by_test_id("doc-item")

    def open(self) -> HomePage:
        self.page.goto(f"{self.base_url}/")
        return self

    def create(self, title: str) -> tuple[str, str]:
        """Creates a document through the form; returns its id and edit token from the URL
        of the editor the page moves to."""
        self.title_input.fill(title)
        self.page.get_by_test_id("create-submit").click()
        self.page.wait_for_url(re.compile(r"/d/[^/#]+#.+"), timeout=10_000)
        match = re.search(r"/d/([^/#]+)#(.+)$", self.page.url)
        assert match is not None, self.page.url
        return match.group(1), match.group(2)

    def create_and_open(self, title: str, name: str = "") -> EditorPage:
        """Creates a document through the form (so this browser knows both of its links) and
        returns the editor page it moved to, connected."""
        doc_id, _ = self.create(title)
        editor = EditorPage(self.page, self.base_url, name)
        editor.doc_id = doc_id
        editor.expect_connected(timeout=10_000)
        return editor

    def document(self, title: str) -> Locator:
        return self.documents.filter(has=self.page.get_by_role("link", name=title, exact=True))


class EditorPage:
    """``/d/{id}#<token>``: the editor with its toolbar, title, status, presence and sharing."""

    def __init__(self, page: Page, base_url: str, name: str = "") -> None:
        self.page = page
        self.base_url = base_url
        self.name = name
        self.content = page.get_by_test_id("editor")
        self.title = page.get_by_test_id("title")
        self.connection_status = page.get_by_test_id("connection-status")
        self.save_status = page.get_by_test_id("save-status")
        self.avatars = page.get_by_test_id("presence").get_by_test_id("avatar")
        self.caret_labels = self.content.locator(".collaboration-carets__label")
        self.share_dialog = page.get_by_test_id("share-dialog")
        self.error = page.get_by_test_id("error")
        # a problem the page keeps showing over the document (too large, link reset)
        self.alert = page.get_by_test_id("editor-alert")
        self.name_dialog = page.get_by_test_id("name-dialog")
        self.doc_id = ""

    # --- navigation -------------------------------------------------------------------------

    def open(self, doc_id: str, token: str | None, *, ready: bool = True) -> EditorPage:
        """Opens the editor; with ``ready``, waits until it is connected and synced."""
        self.doc_id = doc_id
        fragment = "" if token is None else f"#{token}"
        self.page.goto(f"{self.base_url}/d/{doc_id}{fragment}")
        if ready:
            self.expect_connected(timeout=10_000)
        return self

    def reload(self) -> None:
        self.page.reload()
        expect(self.content).to_be_visible(timeout=10_000)

    # --- what the page shows ----------------------------------------------------------------

    def avatar(self, name: str) -> Locator:
        return self.avatars.and_(self.page.locator(f"[title={_css_string(name)}]"))

    def caret_label(self, name: str) -> Locator:
        return self.caret_labels.filter(has_text=re.compile(rf"^{re.escape(name)}$"))

    def text(self) -> str | None:
        """The document's text without carets, blocks separated by newlines (None: no editor)."""
        value = self.page.evaluate(f"() => ({_TEXT_OF})({_EDITOR})")
        return None if value is None else str(value)

    def caret_offset(self, name: str) -> int | None:
        """Where this page shows ``name``'s caret, as an offset into ``text()``."""
        value = self.page.evaluate(_CARET_OFFSET, name)
        return None if value is None else int(value)

    def expect_caret_at(self, name: str, offset: int, *, timeout: float) -> None:
        """Waits until this page shows ``name``'s caret at ``offset`` of ``text()``."""
        try:
            self.page.wait_for_function(
                f"([name, offset]) => ({_CARET_OFFSET})(name) === offset",
                arg=[name, offset],
                timeout=timeout,
                polling=50,
            )
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"{self.name or 'editor'}: expected {name}'s caret at {offset} within"
                f" {timeout:.0f} ms, it is at {self.caret_offset(name)!r} in {self.text()!r}"
            ) from None

    def expect_connected(self, *, timeout: float) -> None:
        expect(self.connection_status).to_have_text("Connected", timeout=timeout)

    def expect_text(self, expected: str, *, timeout: float) -> None:
        """Waits until the document's text (without carets) is exactly ``expected``."""
        self._wait_for_text("text === want", expected, f"to be {expected!r}", timeout)

    def expect_text_containing(self, part: str, *, timeout: float) -> None:
        self._wait_for_text(
            "text !== null && text.includes(want)", part, f"to contain {part!r}", timeout
        )

    def _wait_for_text(self, condition: str, want: str, wanted: str, timeout: float) -> None:
        predicate = f"(want) => {{ const text = ({_TEXT_OF})({_EDITOR}); return {condition}; }}"
        try:
            self.page.wait_for_function(predicate, arg=want, timeout=timeout, polling=50)
        except PlaywrightTimeoutError:
            actual = self.text()
            raise AssertionError(
                f"{self.name or 'editor'}: expected the text {wanted} within {timeout:.0f} ms,"
                f" it is {actual!r}"
            ) from None

    # --- doing things -----------------------------------------------------------------------

    def focus_end(self) -> None:
        """Puts the caret at the end of the text by clicking below it (the page does that).

        Unlike moving the caret with keys, this sets the editor's selection at once: ProseMirror
        reads a keyboard-moved selection on the next ``selectionchange`` event, and a remote
        change or caret arriving before that event puts the caret back where it was.
        """
        area = self.page.locator("main.page")
        deadline = time.monotonic() + 10
        while True:
            # Measured again on each try: a panel that just closed (History) may still be
            # changing the page's height, and a point below the old bottom is not the page's.
            box = area.bounding_box()
            assert box is not None, "the editor page has no main area"
            try:
                area.click(position={"x": box["width"] / 2, "y": box["height"] - 8}, timeout=1000)
                return
            except PlaywrightTimeoutError:
                if time.monotonic() > deadline:
                    raise

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def append_saved(self, text: str, *, timeout: float = 5_000) -> None:
        """Types ``text`` at the end of the document and waits until it is in the database."""
        self.focus_end()
        self.type(text)
        expect(self.save_status).to_have_text("All changes saved", timeout=timeout)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def tool(self, tool_id: str) -> None:
        """Clicks a toolbar button: paragraph, h1-h3, bold, italic, bullet, undo, redo..."""
        self.page.get_by_test_id(f"tb-{tool_id}").click()

    def bold(self) -> None:
        self.tool("bold")

    def heading(self, level: int) -> None:
        self.tool(f"h{level}")

    def bullet_list(self) -> None:
        self.tool("bullet")

    def undo(self) -> None:
        self.tool("undo")

    def redo(self) -> None:
        self.tool("redo")

    def link(self, url: str) -> None:
        """The link button asks for the address with ``window.prompt``."""

        def answer(dialog: Dialog) -> None:
            dialog.accept(url)

        self.page.once("dialog", answer)
        self.tool("link")

    def rename(self, title: str) -> None:
        self.title.fill(title)
        self.title.press("Enter")

    def open_share(self) -> Locator:
        self.page.get_by_test_id("share").click()
        expect(self.share_dialog).to_be_visible(timeout=5_000)
        return self.share_dialog

    def answer_name_prompt(self, name: str) -> None:
        self.name_dialog.get_by_test_id("name-input").fill(name)
        self.name_dialog.get_by_test_id("name-save").click()
        expect(self.name_dialog).to_be_hidden(timeout=5_000)

    def reset_link(self, which: str) -> str:
        """Resets the "edit" or "view" link in the share dialog (and confirms); returns the
        new link the dialog shows."""
        dialog = self.open_share()
        field = dialog.get_by_test_id(f"{which}-link")
        old = field.input_value()
        dialog.get_by_role("button", name=f"Reset {which} link").click()
        dialog.get_by_test_id(f"confirm-reset-{which}-link").click()
        expect(field).not_to_have_value(old, timeout=5_000)
        expect(dialog.get_by_test_id(f"reset-{which}-link-message")).to_contain_text(
            "the old one no longer works"
        )
        new = field.input_value()
        dialog.get_by_role("button", name="Done").click()
        expect(self.share_dialog).to_be_hidden(timeout=2_000)
        return new

    def editing_avatar(self, name: str) -> Locator:
        """``name``'s avatar while the page shows them in a burst of changes."""
        return self.avatar(name).and_(self.page.locator("[data-editing=true]"))

    def flush_local_copy(self) -> None:
        """Waits until this page's IndexedDB copy of the document holds every change made so
        far (so that a reload right now cannot lose one)."""
        self.page.evaluate(_IDB_BARRIER, f"swell:{self.doc_id}")


class ViewerPage:
    """``/v/{id}#<token>``: the read-only viewer (Server-Sent Events, no editing stack)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.content = page.get_by_test_id("viewer-content")
        self.status = page.get_by_test_id("viewer-status")
        self.title = page.get_by_test_id("viewer-title")
        self.presence = page.get_by_test_id("viewer-presence")
        self.editors = self.presence.get_by_test_id("viewer-editor")
        self.error = page.get_by_test_id("error")

    def open(self, doc_id: str, token: str, *, live: bool = True) -> ViewerPage:
        self.page.goto(f"{self.base_url}/v/{doc_id}#{token}")
        if live:
            expect(self.status).to_have_text("Live", timeout=10_000)
        return self

    def open_link(self, link: str) -> ViewerPage:
        self.page.goto(link)
        expect(self.status).to_have_text("Live", timeout=10_000)
        return self

    def editor_avatar(self, name: str) -> Locator:
        return self.editors.and_(self.page.locator(f"[title={_css_string(name)}]"))


def _css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
