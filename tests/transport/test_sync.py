"""Two clients nobody here wrote (pycrdt's Provider) converge through a real server."""

from __future__ import annotations

import asyncio

from pycrdt import Text, XmlElement, XmlText

from tests.client import fragment_of, synced_doc, text_of, wait_for
from tests.server import ServerProcess


async def test_two_providers_converge_on_text_and_rich_text(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with (
        synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (ada, _),
        synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (grace, _),
    ):
        ada_text = ada.get("text", type=Text)
        grace_text = grace.get("text", type=Text)
        ada_frag = fragment_of(ada)
        grace_frag = fragment_of(grace)

        async def type_into(text: Text, word: str) -> None:
            for ch in word:
                text += ch
                await asyncio.sleep(0)

        await asyncio.gather(type_into(ada_text, "ada" * 20), type_into(grace_text, "grace" * 20))
        ada_frag.children.append(XmlElement("paragraph", {}, [XmlText("from Ada")]))
        grace_frag.children.append(XmlElement("heading", {"level": "2"}, [XmlText("Grace")]))

        await wait_for(
            lambda: text_of(ada) == text_of(grace) and len(text_of(ada)) == 160,
            "texts to converge",
        )
        await wait_for(lambda: str(ada_frag) == str(grace_frag), "fragments to converge")
        assert len(ada_frag.children) == 2
        assert "from Ada" in str(grace_frag) and "Grace" in str(ada_frag)


async def test_late_joiner_receives_the_whole_document(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document()
    async with synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        ada.get("text", type=Text).insert(0, "written before Grace came")
        async with synced_doc(shared_server.ws_url, doc["id"], doc["view_token"]) as (grace, _):
            await wait_for(
                lambda: text_of(grace) == "written before Grace came", "late joiner's sync"
            )


async def test_a_frame_with_several_messages_is_split_one_message_per_frame(
    shared_server: ServerProcess,
) -> None:
    import websockets
    from pycrdt import Doc, create_update_message

    from tests.client import awareness_message, decode_awareness, ws_url

    doc = await shared_server.create_document()
    url = ws_url(shared_server.ws_url, doc["id"], doc["edit_token"])
    async with synced_doc(shared_server.ws_url, doc["id"], doc["view_token"]) as (reader, _):
        async with websockets.connect(url) as raw:
            source: Doc = Doc()
            source.get("text", type=Text).insert(0, "two in one")
            update = create_update_message(source.get_update())
            hello = awareness_message(99, 1, {"user": {"name": "Multi"}})
            await raw.send(update + hello)  # one frame, two messages
            await wait_for(lambda: text_of(reader) == "two in one", "the update")
            received = []
            expected = {99: {"user": {"name": "Multi"}}}
            while len(received) < 5:
                frame = await asyncio.wait_for(raw.recv(), 10)
                assert isinstance(frame, bytes)
                received.append(frame)
                if frame[0] == 1 and decode_awareness(frame) == expected:
                    break
            # the awareness came back as a frame of its own (re-encoded by the server)
            assert any(f[0] == 1 and decode_awareness(f) == expected for f in received)
