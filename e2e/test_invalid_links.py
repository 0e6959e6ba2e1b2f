"""A broken or stale link says what is wrong instead of showing an empty editor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import NewPerson


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("wrong token", "This link is not valid"),
        ("no token", "This link is not valid"),
        ("unknown document", "Not found"),
    ],
)
def test_a_bad_link_shows_an_error_page(
    server: ServerProcess, new_person: NewPerson, which: str, message: str
) -> None:
    doc = create_doc(server.base_url, "Secret")
    doc_id, token = {
        "wrong token": (doc.id, "not-the-token-" + doc.edit_token[:8]),
        "no token": (doc.id, None),
        "unknown document": ("no-such-doc", doc.edit_token),
    }[which]

    editor = new_person("Ada", "#1971c2").editor(server.base_url)
    editor.open(doc_id, token, ready=False)

    expect(editor.error).to_have_text(message, timeout=5_000)
    expect(editor.content).to_have_count(0)
    expect(editor.page).to_have_title(f"{message} · Swell", timeout=5_000)
