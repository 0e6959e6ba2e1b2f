"""Every attacker socket is closed after its test, passed or failed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.hostile.attacker import OPENED


@pytest.fixture(autouse=True)
async def close_attackers() -> AsyncIterator[None]:
    yield
    while OPENED:
        ws = OPENED.pop()
        with contextlib.suppress(Exception):
            await ws.close()
        ws.transport.abort()
