"""One viewer's queue: bounded by count and bytes, with one pending content frame; and the
render cache behind it."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

import swell.feed.render_cache as render_cache
from swell.feed.render_cache import RenderCache
from swell.feed.subscriber import Subscriber

pytestmark = pytest.mark.timeout(30)


def content(n: int, size: int = 100_000) -> bytes:
    return b"event: content\ndata: " + str(n).encode() + b"x" * size + b"\n\n"


async def test_a_viewer_that_does_not_read_holds_one_content_frame() -> None:
    viewer = Subscriber("d", "V", "#000", limit=16, limit_bytes=10_000)
    viewer.push(b"event: presence\ndata: {}\n\n")
    for n in range(1, 500):  # 50 MB of renders pushed; one is kept
        viewer.push_content(content(n), n)
    assert not viewer.ended
    assert viewer.queued_bytes < 110_000
    viewer.push_content(content(0), 3)  # older than what it has: ignored
    chunks = await viewer.next(1.0)
    assert chunks is not None
    joined = b"".join(chunks)
    assert joined.startswith(b"event: presence")
    assert joined.count(b"event: content") == 1 and b"data: 499x" in joined
    assert content(499) in chunks  # the shared frame itself, not a per-viewer copy


async def test_a_viewer_over_its_byte_limit_is_dropped() -> None:
    viewer = Subscriber("d", "V", "#000", limit=1000, limit_bytes=10_000)
    frame = b"event: activity\ndata: " + b"a" * 1000 + b"\n\n"
    for _ in range(9):
        viewer.push(frame)
    assert not viewer.ended
    viewer.push(frame)
    assert viewer.ended and viewer.dropped
    with pytest.raises(StopAsyncIteration):
        await viewer.next(1.0)  # what was queued is discarded


async def test_the_count_limit_stays() -> None:
    viewer = Subscriber("d", "V", "#000", limit=4, limit_bytes=1 << 20)
    for _ in range(5):
        viewer.push(b": x\n\n")
    assert viewer.dropped


def doc_update(words: str) -> tuple[bytes, bytes]:
    doc: Doc = Doc()
    paragraph = doc.get("default", type=XmlFragment).children.append(XmlElement("paragraph"))
    paragraph.children.append(XmlText(words))
    return doc.get_state(), doc.get_update()


async def test_renders_run_off_the_loop_once_per_state(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = render_cache.render_update
    loop_thread = threading.get_ident()

    def counting(update: bytes, formats: tuple[str, ...]) -> dict[str, str]:
        calls.append(threading.get_ident())
        return real(update, formats)

    monkeypatch.setattr(render_cache, "render_update", counting)
    cache = RenderCache(entries=2)
    state, update = doc_update("hello")
    snapshots = 0

    def snapshot() -> bytes:
        nonlocal snapshots
        snapshots += 1
        return update

    outs = await asyncio.gather(
        *(cache.render("d", state, snapshot, ("html", "text")) for _ in range(5))
    )
    assert outs == [{"html": "<p>hello</p>", "text": "hello"}] * 5
    assert len(calls) == 1 and calls[0] != loop_thread  # one render, in a worker thread
    assert snapshots == 1
    assert await cache.render("d", state, snapshot, ("text",)) == {"text": "hello"}
    assert len(calls) == 1  # cached
    for n in range(3):  # a small cache: older states go
        other_state, other = doc_update(f"v{n}")
        await cache.render("d", other_state, lambda o=other: o, ("text",))
    await cache.render("d", state, snapshot, ("text",))
    assert len(calls) == 5


async def test_a_deletion_is_a_new_state_for_the_render_cache() -> None:
    """A deletion does not move the state vector: keyed by it alone, the render from before the
    deletion was served after it (viewers and exports kept showing deleted text)."""
    from pycrdt import Doc, XmlElement, XmlFragment, XmlText

    from swell.feed.render_cache import RenderCache, content_key

    doc: Doc = Doc()
    text = XmlText("Hello")
    doc.get("default", type=XmlFragment).children.append(XmlElement("paragraph", {}, [text]))
    cache = RenderCache()
    before = await cache.render("d", content_key(doc), doc.get_update, ("text",))
    del text[0:1]
    after = await cache.render("d", content_key(doc), doc.get_update, ("text",))
    assert (before["text"].strip(), after["text"].strip()) == ("Hello", "ello")


def test_activity_of_another_process_arriving_late_is_still_sent_once() -> None:
    """Two processes number one document's activity under one lock and send it on after
    commit: 7 (theirs) can arrive after 8 (ours). Everything up to the replay is not sent
    again; later records are sent once each, in whatever order they come."""
    viewer = Subscriber("d", "Vic", "#123456", limit=10)
    viewer.replayed_to(5)
    assert not viewer.note_activity(5)
    assert not viewer.note_activity(3)
    assert viewer.note_activity(6)
    assert viewer.note_activity(8)
    assert viewer.note_activity(7)  # late, still new
    assert not viewer.note_activity(7)
    assert not viewer.note_activity(8)
    assert viewer.last_activity_id == 8
