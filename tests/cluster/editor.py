"""Clients for the cluster tests: an editor that records what it was shown (``saved`` state
vectors, titles, awareness, its close code, with arrival times), an SSE watcher that reads its
stream in the background, and HTTP helpers.

An editor types bracketed tokens (``[Ada.17]``) at the end of its own paragraph of the
XmlFragment ``default`` (what the server renders), so "was this change kept" is ``token in
text`` and "who made it" is in the token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Provider, XmlElement, XmlFragment, XmlText
from websockets.asyncio.client import ClientConnection

from tests.client import WebsocketChannel, awareness_message, decode_awareness, ws_url
from tests.server import ServerProcess
from tests.sse import Event, SseClient

DEADLINE = 10.0
TOKEN = re.compile(r"\[([A-Za-z0-9]+)\.(\d+)\]")
SAVED, TITLE = 100, 101


# ---- small codecs (written here, not imported from the server: these tests are black-box) ----


def read_uint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def read_payload(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_uint(data, pos)
    return data[pos : pos + length], pos + length


def decode_state_vector(sv: bytes) -> dict[int, int]:
    count, pos = read_uint(sv, 0)
    out: dict[int, int] = {}
    for _ in range(count):
        client, pos = read_uint(sv, pos)
        clock, pos = read_uint(sv, pos)
        out[client] = clock
    return out


def covers(big: dict[int, int], small: dict[int, int]) -> bool:
    """Every (client, clock) of ``small`` is in ``big``."""
    return all(big.get(client, 0) >= clock for client, clock in small.items() if clock)


def text_of_fragment(doc: Doc[Any]) -> str:
    """The blocks' text joined by a blank line: the server's ``format=text`` for paragraphs."""
    fragment = doc.get("default", type=XmlFragment)
    blocks = []
    for child in fragment.children:
        if isinstance(child, XmlElement):
            blocks.append("".join(str(c) for c in child.children if isinstance(c, XmlText)))
        elif isinstance(child, XmlText):
            blocks.append(str(child))
    return "\n\n".join(b for b in blocks if b)


def tokens_in(text: str) -> set[str]:
    return {m.group(0) for m in TOKEN.finditer(text)}


async def wait_until(condition: Callable[[], bool], what: str, within: float = DEADLINE) -> float:
    """Poll every 5 ms until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"timed out after {within:.1f} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


# ---- the editor ----------------------------------------------------------------------------


class _TapChannel(WebsocketChannel):
    """The Provider's channel, letting the editor see every frame first."""

    def __init__(self, ws: ClientConnection, path: str, editor: Editor) -> None:
        super().__init__(ws, path)
        self._editor = editor

    async def recv(self) -> bytes:
        try:
            message = await super().recv()
        except websockets.ConnectionClosed as closed:
            self._editor._closed(closed)
            raise
        self._editor._frame(message)
        return message


@dataclass
class Editor:
    """One person's client. ``connect`` again (to any process) after the socket was lost: the
    Doc stays, as a browser tab's does, and the Provider's sync sends what the server lacks."""

    name: str
    color: str = "#336699"
    doc: Doc[Any] = field(default_factory=Doc)
    saved: dict[int, int] = field(default_factory=dict)
    saved_frames: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    titles: list[tuple[float, str]] = field(default_factory=list)
    awareness: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    awareness_log: list[tuple[float, int, dict[str, Any] | None]] = field(default_factory=list)
    typed: list[tuple[str, int, float]] = field(default_factory=list)  # token, own clock, when
    close_code: int | None = None
    closed_at: float | None = None
    server: ServerProcess | None = None
    session_error: Exception | None = None
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _text: XmlText | None = None
    _awareness_clock: int = 0

    @property
    def client_id(self) -> int:
        return self.doc.client_id

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.closed_at is None

    async def connect(
        self,
        server: ServerProcess,
        doc_id: str,
        token: str,
        *,
        swell: bool = True,
        announce: bool = True,
        synced: bool = True,
    ) -> None:
        """Open a socket and sync (``synced``: wait for sync step 2); ``announce``: send this
        person's awareness state, as the editor page does once it has a name.

        The socket and its Provider live in a task of their own: a Provider is an anyio task
        group, whose cancel scope must be left in the task (and order) it was entered, and
        editors connect and leave in any order."""
        await self.disconnect()
        self.server, self.close_code, self.closed_at = server, None, None
        params = {"swell": "1"} if swell else {}
        url = ws_url(server.ws_url, doc_id, token, **params)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._session(url, doc_id, synced, ready, self._stop))
        try:
            await ready
        except BaseException:
            await self.disconnect()
            raise
        if announce:
            await self.announce()

    async def _session(
        self,
        url: str,
        doc_id: str,
        synced: bool,
        ready: asyncio.Future[None],
        stop: asyncio.Event,
    ) -> None:
        try:
            async with websockets.connect(url, max_size=None, open_timeout=DEADLINE) as ws:
                self._ws = ws
                async with Provider(self.doc, _TapChannel(ws, doc_id, self)) as provider:
                    if synced:
                        await asyncio.wait_for(provider.synced.wait(), DEADLINE)
                    ready.set_result(None)
                    await stop.wait()
        except Exception as e:
            if not ready.done():
                ready.set_exception(e)
            elif not isinstance(e, websockets.ConnectionClosed):
                self.session_error = e

    async def announce(self, state: dict[str, Any] | None = None) -> None:
        """Send this client's awareness state (a fresh clock each time, as Yjs does)."""
        self._awareness_clock += 1
        if state is None:
            state = {"user": {"name": self.name, "color": self.color}}
        await self.ws.send(awareness_message(self.client_id, self._awareness_clock, state))

    def skip_awareness_clock(self, by: int) -> None:
        """After a server removed our state (a clock bump), a newer clock wins again."""
        self._awareness_clock += by

    async def disconnect(self) -> None:
        """Close the socket (with a close frame) and stop the Provider."""
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), DEADLINE)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._ws is not None and self.closed_at is None:
            self.closed_at = time.monotonic()
        self._ws = None
        error, self.session_error = self.session_error, None
        if error is not None:
            raise AssertionError(f"{self.name}'s connection failed") from error

    def type(self, token_number: int) -> str:
        """Append ``[name.N]`` to this editor's paragraph (one transaction); returns it."""
        token = f"[{self.name}.{token_number}]"
        if self._text is None:
            self._text = XmlText()
            fragment = self.doc.get("default", type=XmlFragment)
            fragment.children.append(XmlElement("paragraph", {}, [self._text]))
        self._text.insert(len(self._text), token)
        self.typed.append((token, self.own_clock(), time.monotonic()))
        return token

    def own_clock(self) -> int:
        return decode_state_vector(self.doc.get_state()).get(self.client_id, 0)

    def state_vector(self) -> dict[int, int]:
        return decode_state_vector(self.doc.get_state())

    def text(self) -> str:
        return text_of_fragment(self.doc)

    def tokens(self) -> set[str]:
        return tokens_in(self.text())

    def acked_tokens(self) -> set[str]:
        """Own tokens the last ``saved`` vector covers: promised to be in the database."""
        mine = self.saved.get(self.client_id, 0)
        return {token for token, clock, _ in self.typed if clock <= mine}

    def received_tokens(self) -> set[str]:
        """Tokens of other people in this client's document: it got them from a server."""
        return {t for t in self.tokens() if not t.startswith(f"[{self.name}.")}

    def shown(self) -> set[str]:
        """What this client was shown by the servers (received, or acknowledged as saved)."""
        return self.received_tokens() | self.acked_tokens()

    def saved_at(self, clock: int) -> float | None:
        """When a ``saved`` vector first covered our own ``clock``."""
        for at, sv in self.saved_frames:
            if sv.get(self.client_id, 0) >= clock:
                return at
        return None

    def all_saved(self) -> bool:
        return self.own_clock() <= self.saved.get(self.client_id, 0)

    def _frame(self, message: bytes) -> None:
        now = time.monotonic()
        kind = message[0]
        if kind == 1:
            for client, state in decode_awareness(message).items():
                self.awareness[client] = state
                self.awareness_log.append((now, client, state))
        elif kind == SAVED:
            sv_bytes, _ = read_payload(message, 1)
            sv = decode_state_vector(sv_bytes)
            self.saved_frames.append((now, sv))
            for client, clock in sv.items():
                self.saved[client] = max(self.saved.get(client, 0), clock)
        elif kind == TITLE:
            payload, _ = read_payload(message, 1)
            self.titles.append((now, json.loads(payload)["title"]))

    def _closed(self, closed: websockets.ConnectionClosed) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()
            self.close_code = closed.rcvd.code if closed.rcvd is not None else None

    def awareness_name(self, client_id: int) -> str | None:
        state = self.awareness.get(client_id)
        if not state:
            return None
        user = state.get("user") or {}
        name = user.get("name")
        return name if isinstance(name, str) else None


class FirstSeen:
    """When each token first appeared in each editor's document (polled every 5 ms)."""

    def __init__(self, editors: list[Editor]) -> None:
        self.editors = editors
        self.at: dict[tuple[str, str], float] = {}
        self._task = asyncio.create_task(self._poll())

    def _look(self) -> None:
        now = time.monotonic()
        for editor in self.editors:
            for token in editor.tokens():
                self.at.setdefault((editor.name, token), now)

    async def _poll(self) -> None:
        while True:
            self._look()
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """One last look first: what arrived since the last poll is seen now."""
        self._look()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# ---- a stock Yjs client ------------------------------------------------------------------------

STOCK_CLIENT = Path(__file__).resolve().parents[1] / "stock_client.mjs"


class StockClient:
    """tests/stock_client.mjs: yjs and y-websocket as the editor page ships them, in Node;
    ``text`` is its document's text in the server's format."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.states: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.states.append(json.loads(line))

    @property
    def text(self) -> str | None:
        return self.states[-1].get("text") if self.states else None


@contextlib.asynccontextmanager
async def stock_client(
    server: ServerProcess, doc_id: str, token: str
) -> AsyncIterator[StockClient]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the stock y-websocket client"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(STOCK_CLIENT),
        server.ws_url,
        doc_id,
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = StockClient(proc)
    try:
        await wait_until(
            lambda: any(s.get("event") == "synced" for s in client.states),
            "the stock client to sync",
        )
        yield client
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), DEADLINE)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await asyncio.wait_for(client._reader, DEADLINE)


# ---- the SSE watcher -------------------------------------------------------------------------


@dataclass
class Watcher:
    """An event stream read continuously in the background, every event timestamped."""

    client: SseClient
    events: list[tuple[float, Event]] = field(default_factory=list)
    ended_at: float | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, server: ServerProcess, doc_id: str, token: str, name: str | None = None
    ) -> Watcher:
        client = await SseClient.connect(server.base_url, doc_id, token, name=name)
        assert client.status == 200, client.status
        watcher = cls(client)
        watcher._task = asyncio.create_task(watcher._read())
        return watcher

    async def _read(self) -> None:
        try:
            while True:
                try:
                    event = await self.client.next_event(within=3600)
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    event = None
                if event is None:
                    self.ended_at = time.monotonic()
                    return
                self.events.append((time.monotonic(), event))
        except asyncio.CancelledError:
            raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    def find(
        self, predicate: Callable[[Event], bool], since: float = 0.0
    ) -> tuple[float, Event] | None:
        for at, event in self.events:
            if at >= since and predicate(event):
                return at, event
        return None

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        what: str,
        within: float = DEADLINE,
        since: float = 0.0,
    ) -> tuple[float, Event]:
        """The first event (arrived at or after ``since``) that matches, with its time."""
        found: list[tuple[float, Event]] = []

        def seen() -> bool:
            hit = self.find(predicate, since)
            if hit is not None:
                found.append(hit)
            return hit is not None

        try:
            await wait_until(seen, what, within)
        except AssertionError as e:
            last = [(e.event, e.data) for _, e in self.events[-3:]]
            raise AssertionError(
                f"{e}; the last presence: {self.presence()}; the last events: {last}"
            ) from None
        return found[0]

    def presence(self) -> list[dict[str, Any]] | None:
        """The users of the newest presence event."""
        for _, event in reversed(self.events):
            if event.event == "presence":
                users: list[dict[str, Any]] = event.data["users"]
                return users
        return None

    def activities(self, kind: str) -> list[dict[str, Any]]:
        return [
            e.data for _, e in self.events if e.event == "activity" and e.data.get("kind") == kind
        ]

    def content_text(self) -> str | None:
        for _, event in reversed(self.events):
            if event.event == "content":
                text: str = event.data["text"]
                return text
        return None


def names(users: list[dict[str, Any]] | None) -> list[str]:
    return sorted(u["name"] for u in users or [])


# ---- HTTP ----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_doc(server: ServerProcess, doc_id: str, token: str) -> httpx.Response:
    async with server.http() as http:
        return await http.get(f"/api/docs/{doc_id}", headers=bearer(token))


async def get_rev(server: ServerProcess, doc_id: str, token: str) -> int:
    r = await get_doc(server, doc_id, token)
    assert r.status_code == 200, r.text
    rev: int = r.json()["rev"]
    return rev


async def get_text(server: ServerProcess, doc_id: str, token: str) -> str:
    async with server.http() as http:
        r = await http.get(
            f"/api/docs/{doc_id}/content", params={"format": "text"}, headers=bearer(token)
        )
    assert r.status_code == 200, r.text
    return r.text


async def history_ranges(server: ServerProcess, doc_id: str, token: str) -> list[tuple[int, int]]:
    """Every entry's (from_rev, to_rev), oldest first, through every page."""
    ranges: list[tuple[int, int]] = []
    before: int | None = None
    async with server.http() as http:
        while True:
            params: dict[str, Any] = {"limit": 200}
            if before is not None:
                params["before"] = before
            r = await http.get(f"/api/docs/{doc_id}/history", params=params, headers=bearer(token))
            assert r.status_code == 200, r.text
            body = r.json()
            ranges.extend((e["from_rev"], e["to_rev"]) for e in body["entries"])
            if body["next"] is None:
                break
            before = body["next"]
    return sorted(ranges)


def assert_gapless(ranges: list[tuple[int, int]], rev: int, where: str) -> None:
    """The ranges cover 1..rev exactly once each (after folding, the first may start later:
    these tests never fold)."""
    expected = 1
    for first, last in ranges:
        assert first == expected, f"{where}: revisions {ranges} skip or repeat at {expected}"
        assert last >= first, f"{where}: bad range {first}..{last}"
        expected = last + 1
    assert expected == rev + 1, f"{where}: revisions {ranges} end at {expected - 1}, rev is {rev}"
