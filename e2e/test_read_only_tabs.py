"""A page opened with a view token takes nothing from the other tabs of its browser: it syncs
through the server only, never over BroadcastChannel (where an editing tab's changes would reach
it, and its own would reach them, unchecked)."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc
from e2e.pages import EditorPage, NewPerson

# Records the names of the BroadcastChannels the page opens.
_RECORD_CHANNELS = """
(() => {
  const Original = window.BroadcastChannel;
  if (!Original) return;
  window.__swellChannels = [];
  window.BroadcastChannel = class extends Original {
    constructor(name) {
      super(name);
      window.__swellChannels.push(String(name));
    }
  };
})();
"""


def _room_channels(editor: EditorPage, doc_id: str) -> list[str]:
    names = editor.page.evaluate("() => window.__swellChannels || []")
    return [name for name in names if name.endswith(f"/ws/{doc_id}")]


def test_a_view_token_page_never_uses_broadcast_channel(
    server: ServerProcess, new_person: NewPerson
) -> None:
    base = server.base_url
    doc = create_doc(base, "Tabs")
    ada = new_person("Ada", "#1971c2")
    ada.context.add_init_script(_RECORD_CHANNELS)

    editing = ada.editor(base).open(doc.id, doc.edit_token)
    reading = ada.editor(base).open(doc.id, doc.view_token)
    expect(reading.page.get_by_text("View only")).to_be_visible()

    # the editing tab uses the browser's channel for this document; the read-only tab does not
    assert _room_channels(editing, doc.id) != []
    assert _room_channels(reading, doc.id) == []

    # it still follows the document, through the server
    editing.focus_end()
    editing.type("Through the server")
    reading.expect_text("Through the server", timeout=2_000)
    assert _room_channels(reading, doc.id) == []
