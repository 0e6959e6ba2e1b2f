"""Every page works under the strict Content-Security-Policy the server sends: no inline script,
no eval, no inline event handler, no inline <style> element; not one violation while a person
creates, writes, formats, watches carets and reads the viewer page."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson

# What the contract's policy must contain at least (issue 9).
REQUIRED = ("script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'")

_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


def _goto_with_policy(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    for directive in REQUIRED:
        assert directive in policy, f"{url}: {directive!r} missing from {policy!r}"


def _violations(page: Page) -> list[str]:
    return list(page.evaluate("() => window.__cspViolations"))


def test_the_pages_run_under_a_strict_csp(server: ServerProcess, new_person: NewPerson) -> None:
    base = server.base_url
    doc = create_doc(base, "Strict")
    ada = new_person("Ada", "#1971c2")
    ada.context.add_init_script(_RECORD_VIOLATIONS)

    home = ada.home(base)
    _goto_with_policy(home.page, f"{base}/")
    expect(home.title_input).to_be_visible()

    editor = ada.editor(base)
    _goto_with_policy(editor.page, f"{base}/d/{doc.id}#{doc.edit_token}")
    editor.doc_id = doc.id
    editor.expect_connected(timeout=10_000)
    editor.focus_end()
    editor.tool("italic")
    editor.type("Strict but fine")
    expect(editor.content.locator("em")).to_have_text("Strict but fine")
    expect(editor.save_status).to_have_text("All changes saved", timeout=5_000)

    grace = new_person("Grace", "#c2255c").editor(base).open(doc.id, doc.edit_token)
    grace.focus_end()
    expect(editor.caret_label("Grace")).to_be_visible(timeout=5_000)
    expect(editor.avatar("Grace")).to_be_visible()

    viewer = ada.viewer(base)
    _goto_with_policy(viewer.page, f"{base}/v/{doc.id}#{doc.view_token}")
    expect(viewer.status).to_have_text("Live", timeout=10_000)
    expect(viewer.content).to_have_text("Strict but fine", timeout=5_000)
    expect(viewer.editor_avatar("Ada")).to_be_visible()

    for page in (home.page, editor.page, viewer.page):
        assert _violations(page) == [], page.url
