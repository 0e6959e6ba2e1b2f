"""The composition root: the one place that knows every concrete class."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Quart, Response
from sqlalchemy import text

from swell.collab.activity import LINGER_SECONDS as ACTIVITY_LINGER_SECONDS
from swell.collab.activity import ActivityRecorder
from swell.collab.authors import Authors
from swell.collab.bus import EventBus
from swell.collab.documents import Documents
from swell.collab.history import History
from swell.collab.history_transfer import HistoryTransfer
from swell.collab.notices import NoticeRelay
from swell.collab.read_marks import ReadMarks
from swell.collab.registry import RoomRegistry
from swell.collab.retention import HistoryRetention
from swell.collab.room import RoomLimits
from swell.feed.hub import FeedHub
from swell.settings import Settings
from swell.storage.activity_log import SqlActivityLog
from swell.storage.authors import SqlAuthorDirectory
from swell.storage.catalog import SqlDocumentCatalog
from swell.storage.document_store import SqlDocumentStore
from swell.storage.engine import create_engine, create_session_factory
from swell.storage.read_marks import SqlReadMarks
from swell.storage.versions import SqlVersionStore
from swell.telemetry import Telemetry
from swell.transport.access import error, register_error_handlers
from swell.transport.api import create_api
from swell.transport.asgi import WebsocketRouter, body_limits
from swell.transport.authors import create_authors_api
from swell.transport.events import create_events
from swell.transport.export import create_export
from swell.transport.health import create_health
from swell.transport.history import create_history, history_importer, is_history_file
from swell.transport.origin import allowed_origins
from swell.transport.pages import create_pages
from swell.transport.rate_limit import ClientLimits
from swell.transport.read_marks import create_read_marks
from swell.transport.security import install_security_headers
from swell.transport.ws import WebsocketEndpoint, WebsocketGate

if TYPE_CHECKING:
    from swell.broker.redis_relay import RedisRelay

log = logging.getLogger(__name__)

WARM_UP_ID = ""  # no document has it: reading it touches every layer and finds nothing
WEB_DIST = Path(str(files("swell") / "web"))  # package data: `make web` builds it there


class Services:
    """What the app is wired from. Whoever runs the app may build it first and keep it (the
    server calls ``stop`` on SIGTERM, before Hypercorn closes connections, so clients' last
    frames are drained); the app's lifespan calls ``stop`` too, which owns shutdown and runs
    once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        sessions = create_session_factory(self.engine)
        self.store = SqlDocumentStore(sessions)
        self.catalog = SqlDocumentCatalog(sessions)
        self.activity = SqlActivityLog(sessions, keep=settings.activity_keep)
        self.bus = EventBus()  # every room event, and the documents' own, reach listeners here
        self.telemetry = Telemetry()
        # Alone (no Redis), a process pays nothing for the seam between processes, nor for
        # importing redis-py (~45 ms of every start).
        self.relay: RedisRelay | None = None
        if settings.redis_url:
            from swell.broker.redis_relay import RedisRelay

            self.relay = RedisRelay(
                settings.redis_url, settings.redis_prefix, telemetry=self.telemetry
            )
        self.rooms = RoomRegistry(
            self.store,
            compact_every=settings.compact_every,
            idle_seconds=settings.room_idle_seconds,
            relay=self.relay,
            bus=self.bus,
            telemetry=self.telemetry,
            limits=RoomLimits(
                max_frame_messages=settings.max_frame_messages,
                awareness_ids_per_socket=settings.awareness_ids_per_socket,
                awareness_state_bytes=settings.awareness_state_bytes,
                max_document_bytes=settings.max_document_bytes,
                max_pending_bytes=settings.pending_bytes_per_document,
                max_sockets=settings.sockets_per_document,
            ),
        )
        self.documents = Documents(self.catalog, self.rooms, self.bus)
        self.author_directory = SqlAuthorDirectory(sessions)
        self.authors = Authors(self.author_directory, self.bus)
        self.history = History(self.store, self.rooms, quiet_seconds=settings.edit_burst_seconds)
        self.versions = SqlVersionStore(self.engine)
        self.read_marks = ReadMarks(SqlReadMarks(self.engine), self.store)
        self.transfer = HistoryTransfer(
            self.store,
            self.rooms,
            self.documents,
            self.authors,
            self.author_directory,
            max_document_bytes=settings.max_document_bytes,
        )
        self.retention = HistoryRetention(
            self.store, keep_days=settings.history_keep_days, on_folded=self.history.forget
        )
        self.limits = ClientLimits.from_settings(settings)  # per client address, all transports
        # Who may open /ws/: the server's own WebSocket layer and the ASGI endpoint share it.
        self.websockets = WebsocketGate(
            self.documents,
            self.rooms,
            self.authors,
            origins=allowed_origins(settings),
            limits=self.limits,
            max_message_bytes=settings.max_message_bytes,
            send_queue_bytes=settings.send_queue_bytes,
            messages_per_second=settings.socket_messages_per_second,
            bytes_per_second=settings.socket_bytes_per_second,
            awareness_bytes_per_second=settings.awareness_bytes_per_second,
        )
        self.recorder = ActivityRecorder(
            self.activity,
            burst_seconds=settings.edit_burst_seconds,
            linger_seconds=ACTIVITY_LINGER_SECONDS,
        )
        self.hub = FeedHub(
            self.activity,
            replay=settings.activity_replay,
            queue_limit=settings.sse_queue_events,
            queue_bytes=settings.sse_queue_bytes,
            burst_seconds=settings.edit_burst_seconds,
            content_interval=settings.content_interval_seconds,
        )
        for listener in (
            self.recorder.on_event,
            self.hub.on_room_event,
            self.history.on_event,
            self.retention.on_event,
        ):
            self.bus.subscribe(listener)
        self.recorder.listen(self.hub.on_activity)
        self.notices = (
            NoticeRelay(self.relay, self.bus, self.rooms, self.documents)
            if self.relay is not None
            else None
        )
        if self.notices is not None:
            self.recorder.listen(self.notices.on_activity)
        self._stopping: asyncio.Task[None] | None = None
        self.telemetry.gauge_from("swell_documents_open", lambda: float(len(self.rooms)))
        self.telemetry.gauge_from("swell_sockets", lambda: float(self.rooms.sockets()))
        self.telemetry.gauge_from("swell_event_streams", lambda: float(self.hub.streams()))

    async def database_ready(self) -> None:
        """For readiness: raises when the database does not answer."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def start(self) -> None:
        """Before serving: join the other processes (Redis may be down: that is retried)."""
        if self.relay is not None:
            await self.relay.start()

    async def stop(self) -> None:
        """Close sockets (1001), flush and compact every room, release the database. Runs
        once: later callers (and a caller that stops waiting) share the same shutdown."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        self.hub.close_all()  # open event streams would otherwise hold Hypercorn's shutdown
        await self.rooms.close_all()
        await self.recorder.flush()
        if self.notices is not None:
            await self.notices.close()
        if self.relay is not None:
            await self.relay.close()  # after the rooms: their last entries go out first
        await self.retention.wait()
        self.history.close()
        await self.store.close()
        await self.engine.dispose()


def create_app(
    settings: Settings, *, services: Services | None = None, web_dist: Path = WEB_DIST
) -> Quart:
    app = Quart("swell")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.asgi_http_class = body_limits(is_history_file, settings.max_import_bytes)
    services = services or Services(settings)

    app.register_blueprint(
        create_api(
            services.documents,
            services.authors,
            max_body_bytes=settings.max_body_bytes,
            limits=services.limits,
            importer=history_importer(
                services.transfer, services.authors, max_import_bytes=settings.max_import_bytes
            ),
        )
    )
    app.register_blueprint(
        create_authors_api(
            services.authors, max_body_bytes=settings.max_body_bytes, limits=services.limits
        )
    )
    endpoint = WebsocketEndpoint(services.websockets)
    app.asgi_app = WebsocketRouter(endpoint, app.asgi_app)  # type: ignore[method-assign, assignment]
    app.register_blueprint(
        create_events(
            services.documents,
            services.rooms,
            services.hub,
            services.authors,
            ping_seconds=settings.sse_ping_seconds,
            retry_ms=settings.sse_retry_ms,
            limits=services.limits,
            streams_per_document=settings.streams_per_document,
        )
    )
    app.register_blueprint(
        create_export(services.documents, services.rooms, services.hub.renders, services.history)
    )
    app.register_blueprint(
        create_history(
            services.documents,
            services.history,
            services.transfer,
            services.versions,
            services.authors,
            services.author_directory.get_authors,
            max_body_bytes=settings.max_body_bytes,
            limits=services.limits,
        )
    )
    app.register_blueprint(
        create_read_marks(
            services.documents,
            services.read_marks,
            services.authors,
            services.author_directory.get_authors,
            max_body_bytes=settings.max_body_bytes,
            limits=services.limits,
        )
    )
    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": services.database_ready}
    if services.relay is not None:
        checks["redis"] = services.relay.ping
    app.register_blueprint(create_health(services.telemetry, checks))
    app.register_blueprint(create_pages(web_dist))
    register_error_handlers(app)
    install_security_headers(app)

    @app.errorhandler(404)
    async def not_found(_e: Exception) -> tuple[Response, int]:
        return error(404, "not found")

    @app.errorhandler(405)
    async def not_allowed(_e: Exception) -> tuple[Response, int]:
        return error(405, "method not allowed")

    @app.errorhandler(413)
    async def too_large(_e: Exception) -> tuple[Response, int]:
        return error(413, f"body larger than {settings.max_body_bytes} bytes")

    @app.before_serving
    async def warm_up() -> None:
        """Pay first-use costs now, not in the first user's cold load: the first database
        connection, SQLAlchemy's first compile of the queries that open a document, pycrdt's
        lazy import of anyio's backend (its first Doc in a running loop, ~9 ms)."""
        await services.catalog.get_document(WARM_UP_ID)
        await services.rooms.read(WARM_UP_ID)
        await services.start()

    @app.after_serving
    async def shutdown() -> None:
        await services.stop()

    return app
