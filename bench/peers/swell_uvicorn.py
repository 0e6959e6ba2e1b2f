"""Swell's own app, served by uvicorn instead of Hypercorn: a diagnostic, not the product.

It tells how much of Swell's cost is Hypercorn's (pure-Python wsproto framing) and how much is
Swell's own: the app is exactly ``swell.app.create_app(settings)``, with the settings, the
migrations, the listening socket and the logging of ``swell serve``; only the ASGI server
differs. uvicorn runs with the ``websockets`` implementation, permessage-deflate off (as Swell's
default), Swell's largest message and ping interval, no access log, lifespan on (Quart's
``before_serving`` and ``after_serving``, where Swell warms its database up and flushes every
room on the way out).

Usage: python swell_uvicorn.py [--loop asyncio|uvloop] [any ``swell serve`` flag, e.g.
--port P --database-url URL]. The loop is asyncio, as under ``swell serve``, unless ``--loop`` or
``BENCH_UVICORN_LOOP`` says uvloop (``BENCH_UVICORN_LOOP=uvloop python -m bench --servers
swell-uvicorn``). Runs in Swell's virtualenv with the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from swell.__main__ import build_parser, configure_logging, load_settings
from swell.app import create_app
from swell.migrate import upgrade_unless_newest
from swell.server import bind_socket
from swell.settings import Settings

log = logging.getLogger("swell")


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT start the graceful stop, as under ``swell serve``, and the process
        then exits 0 (uvicorn's own handling raises the signal again once it has stopped)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # lifespan startup (before_serving) first, then serving
        if self.started:
            host = self.settings.host
            host = f"[{host}]" if ":" in host else host
            port = sockets[0].getsockname()[1] if sockets else self.settings.port
            log.info("listening on http://%s:%d (uvicorn, loop %s)", host, port, self.config.loop)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info("stopping: closing sockets and flushing documents")
        await super().shutdown(sockets)  # sockets closed, then lifespan shutdown: after_serving
        log.info("stopped")


def main(argv: list[str]) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    default_loop = os.environ.get("BENCH_UVICORN_LOOP") or "asyncio"
    extra.add_argument("--loop", choices=("asyncio", "uvloop"), default=default_loop)
    ours, rest = extra.parse_known_args(argv)
    try:
        settings = load_settings(build_parser().parse_args(["serve", *rest]))
    except ValueError as e:
        print(f"swell-uvicorn: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    # uvicorn logs every WebSocket with its query string (the document's token) at INFO.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    upgrade_unless_newest(settings.database_url)

    sock = bind_socket(settings.host, settings.port, dead_peer_seconds=settings.ws_ping_seconds * 2)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        loop=ours.loop,
        http="h11",
        ws="websockets",
        ws_per_message_deflate=settings.ws_compression,  # off by default, as in Swell
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=None,  # Hypercorn only pings; dead peers are the socket's TCP timeout
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_seconds),
    )
    _Server(config, settings).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
