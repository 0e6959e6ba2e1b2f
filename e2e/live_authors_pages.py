"""Page objects for "Show authors" in the live editor (issue 11): the editor's text tinted by
who wrote it, at now in the history view."""

from __future__ import annotations

from playwright.sync_api import Locator, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.history_pages import HistoryView
from e2e.pages import EditorPage

# the live text's decorations, per author: name -> (text, colour of --live-author-color)
_RUNS = """() => {
  const out = {};
  for (const el of document.querySelectorAll(".ProseMirror [data-testid=live-author]")) {
    const name = el.dataset.authorName;
    const entry = out[name] ?? (out[name] = { text: "", colors: [], backgrounds: [], titles: [] });
    entry.text += el.textContent;
    const style = getComputedStyle(el);
    const color = style.getPropertyValue("--live-author-color").trim();
    if (!entry.colors.includes(color)) entry.colors.push(color);
    const bg = style.backgroundColor;
    if (!entry.backgrounds.includes(bg)) entry.backgrounds.push(bg);
    if (!entry.titles.includes(el.title)) entry.titles.push(el.title);
  }
  return out;
}"""


class LiveAuthors:
    """The editor page's history view used at now, with Show authors on."""

    def __init__(self, editor: EditorPage) -> None:
        self.editor = editor
        self.page = editor.page
        self.history = HistoryView(editor.page)
        self.decorations: Locator = editor.content.locator("[data-testid=live-author]")

    def turn_on(self) -> None:
        """Opens History and turns Show authors on at now: the live editor, coloured."""
        self.history.open()
        self.history.show_authors.click()
        expect(self.history.show_authors).to_have_attribute("aria-pressed", "true")
        expect(self.history.past).to_be_hidden()
        expect(self.editor.content).to_be_visible()

    def turn_off(self) -> None:
        self.history.show_authors.click()
        expect(self.history.show_authors).to_have_attribute("aria-pressed", "false")

    def runs(self) -> dict[str, dict[str, object]]:
        value = self.page.evaluate(_RUNS)
        assert isinstance(value, dict)
        return value

    def texts(self) -> dict[str, str]:
        return {name: str(entry["text"]) for name, entry in self.runs().items()}

    def expect_texts(self, want: dict[str, str], *, timeout: float = 5_000) -> None:
        """Waits until the coloured text, per author name, is exactly ``want``."""
        try:
            self.page.wait_for_function(
                f"""(want) => {{
                  const got = ({_RUNS})();
                  const names = Object.keys(got);
                  return names.length === Object.keys(want).length
                    && names.every((n) => got[n].text === want[n]);
                }}""",
                arg=want,
                timeout=timeout,
                polling=50,
            )
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"expected the live text coloured as {want!r} within {timeout:.0f} ms,"
                f" it is {self.texts()!r}"
            ) from None


# --- timing (the opt-in measurement in test_live_authors.py) --------------------------------

# Before the page loads: the time of each WebSocket message's arrival, before the page's own
# handler runs (a remote change is applied within that handler).
WS_CLOCK = """(() => {
  const Base = window.WebSocket;
  window.__swellWsAt = 0;
  window.WebSocket = class extends Base {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => { window.__swellWsAt = performance.now(); });
    }
  };
})();"""

# In the page: from a keydown's time stamp (mode "key") or a WebSocket message's arrival (mode
# "remote") to the first change of the editor's text after it (dom), and to the frame after it
# (frame). Remote carets' own changes do not count.
_PROBE = """() => {
  if (window.__swellLive) return;
  const P = (window.__swellLive = { mode: null, t0: null, results: [] });
  window.addEventListener("keydown", (e) => { if (P.mode === "key") P.t0 = e.timeStamp; }, true);
  const ed = document.querySelector(".ProseMirror");
  const caret = (node) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    return !!el && !!el.closest("[class*=collaboration-carets]");
  };
  const some = (nodes) => Array.from(nodes).some((n) => !caret(n));
  const isText = (r) =>
    !caret(r.target) &&
    (r.type === "characterData" || some(r.addedNodes) || some(r.removedNodes));
  new MutationObserver((records) => {
    if (P.mode === null || !records.some(isText)) return;
    const t0 = P.mode === "key" ? P.t0 : window.__swellWsAt;
    if (t0 === null || P.done) return;
    P.done = true;
    P.t0 = null;
    const dom = performance.now() - t0;
    requestAnimationFrame(() => setTimeout(() => {
      const frame = performance.now() - t0;
      P.results.push({ dom: Math.round(dom * 10) / 10, frame: Math.round(frame * 10) / 10 });
    }, 0));
  }).observe(ed, { subtree: true, childList: true, characterData: true });
}"""

# a paste of HTML at the caret, as ProseMirror receives it from the clipboard
_PASTE = """(html) => {
  const ed = document.querySelector(".ProseMirror");
  const data = new DataTransfer();
  data.setData("text/html", html);
  data.setData("text/plain", "");
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  ed.dispatchEvent(new ClipboardEvent("paste", init));
}"""


def paste_html(editor: EditorPage, html: str) -> None:
    editor.page.evaluate(_PASTE, html)


def paragraph_count(editor: EditorPage) -> int:
    return int(editor.page.evaluate("() => document.querySelectorAll('.ProseMirror > p').length"))


class Timer:
    """The in-page probe of one page: arm a mode, act, wait for the result."""

    def __init__(self, editor: EditorPage) -> None:
        self.page = editor.page
        self.page.evaluate(_PROBE)

    def arm(self, mode: str) -> int:
        return int(
            self.page.evaluate(
                "(mode) => { const P = window.__swellLive; P.mode = mode; P.t0 = null;"
                " P.done = false; return P.results.length; }",
                mode,
            )
        )

    def wait(self, count: int) -> None:
        self.page.wait_for_function(
            "(n) => window.__swellLive.results.length > n", arg=count, timeout=10_000, polling=5
        )

    def take(self) -> list[dict[str, float]]:
        value = self.page.evaluate(
            "() => { const P = window.__swellLive; const r = P.results; P.results = [];"
            " P.mode = null; return r; }"
        )
        assert isinstance(value, list)
        return value


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": rank(0.5), "p95": rank(0.95), "max": ordered[-1]}


# In the page: the editor's own cost of a typed character, without the browser's input
# handling: the new state (apply: every plugin's state, Show authors' included) and the view's
# update (dispatch minus apply: the DOM, y-tiptap writing the Y.Doc, decorations drawn).
_DISPATCH = """(count) => {
  const view = document.querySelector(".ProseMirror").editor.view;
  const apply = [];
  const dispatch = [];
  for (let i = 0; i < count; i++) {
    const tr = view.state.tr.insertText("y");
    let t = performance.now();
    view.state.apply(tr);
    apply.push(performance.now() - t);
    const again = view.state.tr.insertText("y");
    t = performance.now();
    view.dispatch(again);
    dispatch.push(performance.now() - t);
  }
  return { apply, dispatch };
}"""


def dispatch_times(editor: EditorPage, count: int) -> dict[str, list[float]]:
    value = editor.page.evaluate(_DISPATCH, count)
    assert isinstance(value, dict)
    return value
