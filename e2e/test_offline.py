"""Losing the connection loses nothing: people keep writing, and it all meets up again."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.server import ServerProcess

from e2e.api import create_doc, get_text
from e2e.pages import NewPerson

SYNC_MS = 2_000
RECONNECT_MS = 10_000


def test_edits_made_offline_and_online_converge_after_reconnecting(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Offline")
    ada_person = new_person("Ada", "#1971c2")
    network = ada_person.route_sockets()
    ada = ada_person.editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    ada.focus_end()
    ada.type("Shared start.")
    grace.expect_text("Shared start.", timeout=SYNC_MS)

    network.cut()
    ada_person.context.set_offline(True)
    expect(ada.connection_status).to_have_text("Offline", timeout=5_000)
    # Ada's socket is gone: Grace sees her leave
    expect(grace.avatar("Ada")).to_have_count(0, timeout=5_000)

    # both keep typing: Ada at the start of the paragraph, Grace at its end
    ada.press("Home")
    grace.focus_end()
    for ada_part, grace_part in [("Ada ", " Grace"), ("offline. ", " online.")]:
        ada.type(ada_part)
        grace.type(grace_part)
    ada.expect_text("Ada offline. Shared start.", timeout=SYNC_MS)
    grace.expect_text("Shared start. Grace online.", timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("Saving…", timeout=SYNC_MS)
    expect(grace.save_status).to_have_text("All changes saved", timeout=5_000)

    network.restore()
    ada_person.context.set_offline(False)

    everything = "Ada offline. Shared start. Grace online."
    ada.expect_connected(timeout=RECONNECT_MS)
    assert network.refused > 0, "the page never tried to reconnect while the network was down"
    ada.expect_text(everything, timeout=SYNC_MS)
    grace.expect_text(everything, timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)
    expect(grace.avatar("Ada")).to_be_visible(timeout=5_000)
    assert get_text(server.base_url, doc.id, doc.edit_token).strip() == everything


def test_an_offline_edit_survives_a_reload_and_reaches_others_later(
    server: ServerProcess, new_person: NewPerson
) -> None:
    doc = create_doc(server.base_url, "Offline reload")
    ada_person = new_person("Ada", "#1971c2")
    network = ada_person.route_sockets()
    ada = ada_person.editor(server.base_url).open(doc.id, doc.edit_token)
    grace = new_person("Grace", "#c2255c").editor(server.base_url).open(doc.id, doc.edit_token)

    ada.focus_end()
    ada.type("Online line.")
    grace.expect_text("Online line.", timeout=SYNC_MS)

    network.cut()
    ada_person.context.set_offline(True)
    expect(ada.connection_status).to_have_text("Offline", timeout=5_000)
    ada.focus_end()
    ada.type(" Offline line.")
    ada.flush_local_copy()

    # the page reloads from the server, but its socket still cannot get through
    ada_person.context.set_offline(False)
    ada.reload()
    ada.expect_text("Online line. Offline line.", timeout=5_000)
    expect(ada.connection_status).to_have_text("Reconnecting…", timeout=5_000)
    grace.expect_text("Online line.", timeout=SYNC_MS)

    network.restore()
    ada.expect_connected(timeout=RECONNECT_MS)
    assert network.refused > 0, "the reloaded page's socket was never held back"
    grace.expect_text("Online line. Offline line.", timeout=SYNC_MS)
    expect(ada.save_status).to_have_text("All changes saved", timeout=5_000)
