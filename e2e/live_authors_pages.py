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
        """Opens History, turns Show authors on (it shows the newest revision so), then goes
        back to now: the live editor, coloured."""
        self.history.open()
        self.history.show_authors.click()
        expect(self.history.show_authors).to_have_attribute("aria-pressed", "true")
        expect(self.history.back_button).to_be_visible(timeout=5_000)
        self.history.back_button.click()
        expect(self.history.past).to_be_hidden(timeout=5_000)
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
