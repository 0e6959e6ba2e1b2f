"""Page objects for the history view (issue 11), on the editor and the viewer page alike."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.pages import EditorPage


class HistoryView:
    """The History button, its panel (slider, playback, entries, versions) and the past
    revision shown in the document area with its banner."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.button = page.get_by_role("button", name="History", exact=True)
        self.panel = page.get_by_test_id("history-panel")
        self.slider = page.get_by_role("slider")
        self.play_button = self.panel.get_by_test_id("history-play")
        self.speed = self.panel.get_by_label("Speed")
        self.show_authors = self.panel.get_by_role("button", name="Show authors")
        self.entries = self.panel.get_by_test_id("history-entry")
        self.versions = self.panel.get_by_test_id("history-version")
        self.name_button = self.panel.get_by_role("button", name="Name this version")
        self.version_input = self.panel.get_by_label("Version name")
        self.version_error = self.panel.get_by_test_id("history-version-error")
        self.error = self.panel.get_by_test_id("history-error")
        self.past = page.get_by_test_id("history-past")
        self.doc = page.get_by_test_id("history-doc")
        self.banner = page.get_by_test_id("history-banner")
        self.restore_button = page.get_by_role("button", name="Restore this version")
        self.back_button = page.get_by_role("button", name="Back to now")
        self.restore_dialog = page.get_by_test_id("history-restore-dialog")

    def open(self) -> HistoryView:
        self.button.click()
        expect(self.panel).to_be_visible(timeout=5_000)
        expect(self.slider).to_be_focused(timeout=2_000)
        expect(self.entries.first).to_be_visible(timeout=5_000)
        return self

    def close(self) -> None:
        self.page.keyboard.press("Escape")
        expect(self.panel).to_be_hidden(timeout=2_000)

    # --- the slider ------------------------------------------------------------------------

    def value(self) -> int:
        return int(self.slider.get_attribute("aria-valuenow") or "0")

    def max(self) -> int:
        return int(self.slider.get_attribute("aria-valuemax") or "0")

    def expect_value(self, value: int, *, timeout: float = 5_000) -> None:
        expect(self.slider).to_have_attribute("aria-valuenow", str(value), timeout=timeout)

    def key(self, key: str) -> None:
        self.slider.focus()
        self.slider.press(key)

    # --- the past revision ------------------------------------------------------------------

    def expect_past_text(self, text: str, *, timeout: float = 5_000) -> None:
        """Waits until the shown revision's text, deletions left out, is exactly ``text``."""
        expect(self.past).to_be_visible(timeout=timeout)
        try:
            self._wait_for_past_text(text, timeout)
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"expected the revision shown to read {text!r} within {timeout:.0f} ms, it reads"
                f" {self.past_text()!r} (slider at {self.value()}, error:"
                f" {self.error.text_content()!r})"
            ) from None

    def _wait_for_past_text(self, text: str, timeout: float) -> None:
        self.page.wait_for_function(
            """(want) => {
              const doc = document.querySelector("[data-testid=history-doc]");
              if (!doc || doc.getAttribute("aria-busy") === "true") return false;
              const copy = doc.cloneNode(true);
              for (const d of copy.querySelectorAll("del, [data-change=deleted]")) d.remove();
              return Array.from(copy.children, (b) => b.textContent).join("\\n") === want;
            }""",
            arg=text,
            timeout=timeout,
            polling=50,
        )

    def past_text(self) -> str:
        value = self.page.evaluate(
            """() => {
              const doc = document.querySelector("[data-testid=history-doc]");
              const copy = doc.cloneNode(true);
              for (const d of copy.querySelectorAll("del, [data-change=deleted]")) d.remove();
              return Array.from(copy.children, (b) => b.textContent).join("\\n");
            }"""
        )
        return str(value)

    def inserted(self) -> Locator:
        return self.doc.locator("ins:not([data-change])")

    def restore(self) -> None:
        """Restores the revision shown, confirming in the dialog."""
        self.restore_button.click()
        expect(self.restore_dialog).to_be_visible(timeout=2_000)
        self.restore_dialog.get_by_role("button", name="Restore", exact=True).click()
        expect(self.restore_dialog).to_be_hidden(timeout=2_000)

    def name_version(self, name: str) -> None:
        self.name_button.click()
        self.version_input.fill(name)
        self.panel.get_by_role("button", name="Save", exact=True).click()


def write_in_bursts(editor: EditorPage, parts: list[str]) -> None:
    """Types each part as a burst of its own: the next part starts once the page's activity
    lists the previous burst (the server closed it after the quiet time)."""
    edits = editor.page.get_by_test_id("activity-item").and_(
        editor.page.locator("[data-kind=edit]")
    )
    before = edits.count()
    editor.focus_end()
    for index, part in enumerate(parts):
        editor.type(part)
        expect(edits).to_have_count(before + index + 1, timeout=10_000)
