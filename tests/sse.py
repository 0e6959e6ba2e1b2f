"""A small Server-Sent Events client over a raw asyncio connection (cheap enough for hundreds
at once, and able to stop reading on purpose)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

DEADLINE = 10.0


@dataclass
class Event:
    event: str
    data: Any
    id: int | None = None


@dataclass
class SseClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    retry: int | None = None
    pings: int = 0
    events: list[Event] = field(default_factory=list)
    _chunked: bool = False
    _buffer: bytes = b""

    @classmethod
    async def connect(
        cls,
        base_url: str,
        doc_id: str,
        token: str | None,
        *,
        last_event_id: int | None = None,
        name: str | None = None,
        author: str | None = None,
    ) -> SseClient:
        url = urlsplit(base_url)
        given = {"token": token, "name": name, "author": author}
        query = {k: v for k, v in given.items() if v is not None}
        path = f"/api/docs/{doc_id}/events" + (f"?{urlencode(query)}" if query else "")
        reader, writer = await asyncio.open_connection(url.hostname, url.port, limit=2**24)
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Accept: text/event-stream"]
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), DEADLINE)
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(reader.readline(), DEADLINE)).decode().strip()
            if not line:
                break
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        client = cls(reader, writer, status, headers)
        client._chunked = headers.get("transfer-encoding") == "chunked"
        return client

    async def body(self) -> bytes:
        """For a refused stream: the whole (short) body."""
        length = int(self.headers.get("content-length", "0"))
        return await asyncio.wait_for(self.reader.readexactly(length), DEADLINE)

    async def _more(self) -> bool:
        if self._chunked:
            size_line = await self.reader.readline()
            if not size_line:
                return False
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                return False
            chunk = await self.reader.readexactly(size + 2)
            self._buffer += chunk[:-2]
        else:
            chunk = await self.reader.read(65536)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def next_event(self, within: float = DEADLINE) -> Event | None:
        """The next event (pings and retry hints are counted, not returned); None at the end."""
        deadline = time.monotonic() + within
        while True:
            while b"\n\n" in self._buffer:
                block, self._buffer = self._buffer.split(b"\n\n", 1)
                event = self._parse(block.decode())
                if event is not None:
                    self.events.append(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no event arrived in time")
            try:
                more = await asyncio.wait_for(self._more(), remaining)
            except TimeoutError:
                raise AssertionError("no event arrived in time") from None
            if not more:
                return None

    def _parse(self, block: str) -> Event | None:
        name, data, event_id = "message", None, None
        for line in block.split("\n"):
            if line.startswith(":"):
                self.pings += 1
            elif line.startswith("retry:"):
                self.retry = int(line[6:].strip())
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:].strip())
            elif line.startswith("id:"):
                event_id = int(line[3:].strip())
        if data is None:
            return None
        return Event(name, data, event_id)

    def mark(self) -> int:
        """A position in ``events``, for ``wait_for(..., since=mark)``."""
        return len(self.events)

    async def wait_for(
        self, predicate: Any, within: float = DEADLINE, since: int | None = None
    ) -> Event:
        """Read until an event matches; with ``since``, events already received after that
        mark count too (for events whose relative order is not defined)."""
        if since is not None:
            for event in self.events[since:]:
                if predicate(event):
                    return event
        deadline = time.monotonic() + within
        while True:
            event = await self.next_event(max(0.0, deadline - time.monotonic()))
            if event is None:
                raise AssertionError("stream ended before the expected event")
            if predicate(event):
                return event

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
