"""Swell's own app, served by granian instead of Hypercorn: a diagnostic, not the product.

Like ``swell_uvicorn.py``, it tells Swell's own costs from its server's: the app is exactly
``swell.app.create_app(settings)``, with the settings, the migrations, the listening socket
(``swell.server.bind_socket``: the same TCP keepalive and user timeout), the logging and the
clean stop of ``swell serve`` (SIGTERM: the documents are flushed within
``--shutdown-seconds``, then the server stops, then the lifespan's ``after_serving``), the
garbage collector tuned once serving as ``swell serve`` does. Only the ASGI server differs:
granian (Rust: hyper and tungstenite), its embedded server (``granian.server.embed``), which
runs in this process's asyncio loop (one worker, the ASGI interface with lifespan, asyncio
tasks, HTTP/1 only), so that the runner measures one process; the Rust I/O threads
(``runtime_threads=1``) are threads of this process too.

``/ws/`` is served by the app's ASGI WebSocket endpoint (``swell.transport.asgi``), as under
uvicorn: whatever ``swell serve`` itself puts in front of the app for WebSockets is not used.

What granian does not offer, and how it differs from ``swell serve`` here (granian 2.8.9):

- no WebSocket settings at all: no permessage-deflate (tungstenite has none, so compression is
  off, as Swell's default), no largest message (tungstenite's own 64 MiB message and 16 MiB
  frame limits instead of ``--max-message-bytes``; Swell's endpoint still closes a larger frame
  with 1009 itself), and no pings (``--ws-ping-seconds`` is not sent; dead peers are left to
  the socket's TCP keepalive and user timeout, which ``bind_socket`` sets);
- ``websocket.http.response`` is there (granian lists it in the scope): a refused handshake
  (origin, too many connects) gets Swell's JSON answer, e.g. 403 ``{"error": "origin not
  allowed"}``, as under Hypercorn; on SIGTERM the clients get 1001, and the process exits 0;
- the listening socket is handed to granian by file descriptor through its private
  ``SocketHolder`` (the embedded server would otherwise bind its own, without the keepalive
  options); ``backpressure`` (connections served at once, default 128 in embedded mode) is
  raised to 65,536, or the idle-connections scenario would wait in the accept queue;
- no access log (``swell serve`` logs requests without query strings; granian's access log
  would show the document tokens).

Usage: python swell_granian.py [any ``swell serve`` flag, e.g. --port P --database-url URL].
Runs in Swell's virtualenv with the ``bench`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import Any

from granian._granian import SocketHolder  # private: the embedded server has no fd= option
from granian.constants import HTTPModes, Interfaces, TaskImpl
from granian.log import LogLevels
from granian.server.embed import Server

from swell.__main__ import build_parser, check_serving, configure_logging, load_settings
from swell.app import Services, create_app
from swell.migrate import upgrade_unless_newest
from swell.server import _quiet_cancellations, bind_socket, tune_interpreter
from swell.settings import Settings
from swell.transport.origin import wildcard_without_public_url

log = logging.getLogger("swell")

BACKLOG = 1024  # bind_socket's listen()
BACKPRESSURE = 65536


class _Server(Server):
    """granian's embedded server on a socket bound beforehand."""

    def __init__(self, app: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(app, address=host, port=port, backlog=BACKLOG, **kwargs)
        self._sock = sock

    def _init_shared_socket(self) -> None:
        # SocketHolder(fd, is_uds, backlog): how granian unpickles one (granian/net.py); the
        # worker serves on it (its stub declares no constructor)
        holder = SocketHolder(self._sock.fileno(), False, BACKLOG)  # type: ignore[call-arg]
        self._ssp = None
        self._shd = holder  # type: ignore[assignment]
        self._sfd = holder.get_fd()

    def stop(self) -> None:
        """Stop serving (what granian's own signal handler does)."""
        self.interrupt_signal = True
        self.main_loop_interrupt.set()


async def run(settings: Settings) -> None:
    sock = bind_socket(settings.host, settings.port, dead_peer_seconds=settings.ws_ping_seconds * 2)
    port = sock.getsockname()[1]
    settings = settings.replace(port=port)  # the Origin check compares against the real port
    if wildcard_without_public_url(settings):
        log.warning("listening on %s without --public-url", settings.host or "every interface")
    services = Services(settings)
    app = create_app(settings, services=services)
    ready = asyncio.Event()

    @app.before_serving
    async def serving_now() -> None:  # after Swell's own (its warm-up and services.start())
        ready.set()

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_cancellations)
    server = _Server(
        app,
        sock,
        interface=Interfaces.ASGI,  # with lifespan: before_serving warms up, after_serving stops
        http=HTTPModes.http1,
        websockets=True,
        runtime_threads=1,
        task_impl=TaskImpl.asyncio,
        backpressure=BACKPRESSURE,
        log_enabled=True,
        log_level=LogLevels.warning,
        log_access=False,
    )
    stopping = asyncio.Event()

    async def flush_then_stop() -> None:
        await stopping.wait()
        log.info("stopping: closing sockets and flushing documents")
        try:
            await asyncio.wait_for(services.stop(), settings.shutdown_seconds)
        except TimeoutError:
            log.error("flush did not finish within %.1f s", settings.shutdown_seconds)
        server.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    stopper = asyncio.create_task(flush_then_stop())
    serving = asyncio.create_task(server.serve())
    # the lifespan startup has run (granian serves right after it, on the socket that already
    # queues connections: as under `swell serve`)
    started = asyncio.create_task(ready.wait())
    await asyncio.wait({serving, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if ready.is_set():
        tune_interpreter()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info("listening on http://%s:%d (granian, embedded, asyncio)", host, port)
    try:
        await serving
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
        with contextlib.suppress(OSError):
            sock.close()
    log.info("stopped")


def main(argv: list[str]) -> int:
    try:
        settings = load_settings(build_parser().parse_args(["serve", *argv]))
        check_serving(settings)
    except ValueError as e:
        print(f"swell-granian: {e}", file=sys.stderr)
        return 2
    if settings.workers != 1:
        print("swell-granian: one process only (--workers 1)", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    upgrade_unless_newest(settings.database_url)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
