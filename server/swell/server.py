"""Serving: the listening socket, its front door (``/ws/`` served by Swell itself, everything
else by Hypercorn's connection server and Quart), signals, the ``listening on`` line, and a
clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys

from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.statsd import StatsdLogger
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from hypercorn.utils import LifespanTimeoutError, wrap_app
from wsproto.extensions import PerMessageDeflate

from swell.app import Services, create_app
from swell.settings import Settings
from swell.transport.front_door import FrontDoor
from swell.transport.origin import wildcard_without_public_url

log = logging.getLogger("swell")

# No query string (tokens travel there) and no headers (Authorization) in access lines.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'


class _NoCompression(PerMessageDeflate):
    """An extension nobody offers, so Hypercorn negotiates no permessage-deflate."""

    name = "x-swell-no-compression"


def configure_compression(enabled: bool) -> None:
    """Hypercorn always offers permessage-deflate; this is its only switch (see docs/decisions)."""
    ws_stream.PerMessageDeflate = PerMessageDeflate if enabled else _NoCompression  # type: ignore[attr-defined]


def hypercorn_config(settings: Settings, sock: socket.socket) -> Config:
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.websocket_max_message_size = settings.max_message_bytes
    config.websocket_ping_interval = settings.ws_ping_seconds
    config.graceful_timeout = 1.0
    config.accesslog = logging.getLogger("swell.access")
    config.access_log_format = ACCESS_LOG_FORMAT
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


LISTEN_BACKLOG = 1024
LIFESPAN_SHUTDOWN_SECONDS = 1.0


def bind_socket(
    host: str, port: int, dead_peer_seconds: float = 45.0, *, listen: bool = True
) -> socket.socket:
    """The listening socket. Accepted connections inherit its TCP options: keepalive probes and
    a user timeout make the kernel drop a peer that vanished without a word (no FIN, no RST)
    within ``dead_peer_seconds``; pings keep data in flight so the timeout applies to
    WebSockets and event streams alike. Without ``listen`` it is only bound (a port in use
    fails at once), and connections are taken once the server listens: when it can serve."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol number named: asyncio sets TCP_NODELAY only on sockets that say TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = max(1, int(dead_peer_seconds / 3))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, idle // 2))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(dead_peer_seconds * 1000))
    sock.bind((host, port))
    if listen:
        sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def listening_socket(settings: Settings, *, listen: bool = True) -> socket.socket:
    """The socket to serve on: inherited from the supervisor of ``--workers`` (which bound it
    once, so every worker accepts on one port), or bound here."""
    if settings.listen_fd >= 0:
        sock = socket.socket(fileno=settings.listen_fd)
        sock.setblocking(False)
        return sock
    return bind_socket(
        settings.host, settings.port, dead_peer_seconds=settings.ws_ping_seconds * 2, listen=listen
    )


# What a worker writes to its stdout once it accepts connections: the supervisor reads it to
# know which of its children are ready (their log lines go to the shared stderr).
WORKER_READY = "swell-worker-ready"


def announce_worker_ready() -> None:
    """Tell the supervisor this worker accepts connections (a gone supervisor is ignored)."""
    try:
        sys.stdout.write(WORKER_READY + "\n")
        sys.stdout.flush()
    except OSError:
        pass


GC_THRESHOLDS = (20_000, 50, 50)
SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """What was allocated while starting (modules, the warm-up) lives as long as the process:
    frozen, full collections no longer walk it; and collections run less often. A full
    collection stops the loop for as long as it walks: with 1,000 viewers, the editors' p99 was
    78 ms with Python's defaults, 37 ms with the collector off, 38 ms like this (see
    docs/decisions/0013-garbage-collector.md)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # A thread that finished its work (the journal's commit, a render) waits for the GIL until
    # the loop thread yields it, by default after 5 ms: commits took 2.7 ms from hand-off to
    # done for 0.3 ms of SQLite (200 typists). With 1 ms: 1.0 ms, fan-out p50 -30 % (issue 13).
    sys.setswitchinterval(SWITCH_INTERVAL)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Python 3.11's stream callback reports connections Hypercorn cancels on shutdown as
    errors; they are the normal end of an idle keep-alive connection."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


async def run(settings: Settings) -> None:
    configure_compression(settings.ws_compression)
    sock = listening_socket(settings, listen=False)  # the server listens once it can serve
    port = sock.getsockname()[1]
    # The real port (the setting may be 0): the WebSocket Origin check compares against it.
    settings = settings.replace(port=port)
    if wildcard_without_public_url(settings):
        log.warning(
            "listening on %s without --public-url: WebSockets are accepted only from pages "
            "opened as http://localhost:%d or http://127.0.0.1:%d; set --public-url to the "
            "address browsers use",
            settings.host or "every interface",
            port,
            port,
        )
    services = Services(settings)
    app = create_app(settings, services=services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_cancellations)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, services, app, sock, stop)
    log.info("stopped")


async def serve(
    settings: Settings, services: Services, app: object, sock: socket.socket, stop: asyncio.Event
) -> None:
    """What ``hypercorn.asyncio.serve`` does (the app's lifespan, a connection server per HTTP
    connection, a graceful end), with the accepting done here: the front door gives Hypercorn
    every connection but the ``/ws/`` ones."""
    loop = asyncio.get_running_loop()
    config = hypercorn_config(settings, sock)
    config.set_statsd_logger_class(StatsdLogger)
    wrapped = wrap_app(app, config.wsgi_max_body_size, None)  # type: ignore[arg-type]
    lifespan_state: dict[str, object] = {}
    lifespan = Lifespan(wrapped, config, loop, lifespan_state)
    lifespan_task = loop.create_task(lifespan.handle_lifespan())
    await lifespan.wait_for_startup()
    if lifespan_task.done() and lifespan_task.exception() is not None:
        raise lifespan_task.exception()  # type: ignore[misc]
    context = WorkerContext(None)
    http_tasks: set[asyncio.Task[None]] = set()

    async def http_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        http_tasks.add(task)
        task.add_done_callback(http_tasks.discard)
        await TCPServer(wrapped, loop, config, context, lifespan_state, reader, writer)

    def hand_to_hypercorn(transport: asyncio.Transport, head: bytes) -> None:
        """What ``asyncio.start_server`` would have made of the connection, fed with the bytes
        the front door read."""
        reader = asyncio.StreamReader(limit=2**16)
        protocol = asyncio.StreamReaderProtocol(reader, http_connection)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(head)

    door = FrontDoor(
        services.websockets,
        http=hand_to_hypercorn,
        ping_seconds=settings.ws_ping_seconds,
        handshake_seconds=settings.ws_handshake_seconds,
        compression=settings.ws_compression,
    )
    server = await loop.create_server(door, sock=sock, backlog=LISTEN_BACKLOG)
    pings = loop.create_task(door.keep_alive(), name="websocket-pings")
    tune_interpreter()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    if settings.listen_fd >= 0:
        # One of --workers: the supervisor logs the one "listening on" line.
        log.info("worker ready (pid %d): serving http://%s:%d", os.getpid(), host, port_of(sock))
        announce_worker_ready()
    else:
        log.info("listening on http://%s:%d", host, port_of(sock))
    try:
        await stop.wait()
        log.info("stopping: closing sockets and flushing documents")
        server.close()  # no new connections (other workers of the port take them)
        try:
            await asyncio.wait_for(services.stop(), settings.shutdown_seconds)
        except TimeoutError:
            log.error("flush did not finish within %.1f s", settings.shutdown_seconds)
    finally:
        await context.terminated.set()  # idle keep-alive connections close
        server.close()
        pings.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(door.wait_closed(), config.graceful_timeout + 2.0)
        door.abort()
        if http_tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*http_tasks, return_exceptions=True), config.graceful_timeout
                )
        # The app's own shutdown is ``services.stop`` again, done or given up on above: its
        # wait is not allowed to take Hypercorn's 60 s on top.
        config.shutdown_timeout = LIFESPAN_SHUTDOWN_SECONDS
        try:
            await lifespan.wait_for_shutdown()
        except LifespanTimeoutError:
            log.error("the app's shutdown did not finish; exiting anyway")
        lifespan_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lifespan_task


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])
