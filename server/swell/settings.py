"""Settings: the one place that reads ``SWELL_*`` variables, read once and passed down."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./swell.db"


@dataclass(frozen=True)
class Settings:
    """Every knob of a Swell server; each has a ``--flag`` and a ``SWELL_*`` twin."""

    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on"})
    port: int = field(default=8000, metadata={"help": "TCP port (0 picks a free one)"})
    database_url: str = field(
        default=DEFAULT_DATABASE_URL, metadata={"help": "SQLAlchemy async database URL"}
    )
    redis_url: str = field(
        default="",
        metadata={
            "help": "Redis that several processes on one PostgreSQL database share to act as one "
            "server (empty: this process is alone)"
        },
    )
    redis_prefix: str = field(
        default="swell",
        metadata={"help": "prefix of every Redis key (processes of one deployment share it)"},
    )
    workers: int = field(
        default=1,
        metadata={
            "help": "processes serving the one port (more than 1 needs PostgreSQL and --redis-url)"
        },
    )
    listen_fd: int = field(
        default=-1,
        metadata={"help": "internal: serve on this inherited socket (set by --workers)"},
    )
    allowed_origins: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "extra browser origins allowed to open WebSockets, comma separated "
            "(the server's own origin is always allowed; '*' allows any)"
        },
    )
    max_message_bytes: int = field(
        default=16 * 1024 * 1024, metadata={"help": "largest WebSocket message accepted"}
    )
    max_body_bytes: int = field(default=64 * 1024, metadata={"help": "largest JSON request body"})
    max_import_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata={"help": "largest history file accepted by POST /api/docs (an import)"},
    )
    send_queue_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata={"help": "bytes queued for one slow socket before it is closed (1013)"},
    )
    ws_ping_seconds: float = field(
        default=20.0, metadata={"help": "WebSocket ping interval, to find dead peers"}
    )
    ws_handshake_seconds: float = field(
        default=10.0,
        metadata={
            "help": "time a new connection has to send its request line and WebSocket upgrade"
        },
    )
    ws_compression: bool = field(
        default=False, metadata={"help": "accept permessage-deflate on WebSockets"}
    )
    compact_every: int = field(
        default=500, metadata={"help": "fold the update log into a snapshot after this many"}
    )
    history_keep_days: float = field(
        default=0.0,
        metadata={
            "help": "fold revisions older than this many days into one (0: keep every revision)"
        },
    )
    room_idle_seconds: float = field(
        default=2.0, metadata={"help": "unload a document this long after its last socket left"}
    )
    sse_ping_seconds: float = field(
        default=15.0, metadata={"help": "interval of ': ping' comments on event streams"}
    )
    sse_queue_events: int = field(
        default=256, metadata={"help": "events queued for one slow viewer before it is dropped"}
    )
    sse_retry_ms: int = field(
        default=2000, metadata={"help": "base reconnect delay hinted to viewers (jittered)"}
    )
    edit_burst_seconds: float = field(
        default=3.0, metadata={"help": "quiet time that closes one person's burst of edits"}
    )
    content_interval_seconds: float = field(
        default=0.25, metadata={"help": "minimum time between two content renders per document"}
    )
    activity_keep: int = field(
        default=1000, metadata={"help": "activity events kept per document for resuming"}
    )
    activity_replay: int = field(
        default=50, metadata={"help": "activity events replayed to a new viewer"}
    )
    shutdown_seconds: float = field(
        default=8.0, metadata={"help": "time allowed for a clean stop on SIGTERM"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    # ---- what one client may do (see README, "Limits") ------------------------------------
    public_url: str = field(
        default="",
        metadata={
            "help": "the address browsers use, e.g. https://swell.example (WebSocket Origin "
            "check; default: the listening address)"
        },
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "proxy addresses (IPs or CIDRs, comma separated) whose X-Forwarded-For "
            "names the client for rate limits"
        },
    )
    max_frame_messages: int = field(
        default=32, metadata={"help": "y-websocket messages one WebSocket frame may carry"}
    )
    socket_messages_per_second: int = field(
        default=2000,
        metadata={"help": "messages one socket may send per second, sustained (1008 beyond)"},
    )
    socket_bytes_per_second: int = field(
        default=8 * 1024 * 1024,
        metadata={"help": "bytes one socket may send per second, sustained (1008 beyond)"},
    )
    awareness_bytes_per_second: int = field(
        default=64 * 1024,
        metadata={
            "help": "awareness bytes one socket may send per second, sustained (1008 beyond): "
            "every other socket receives them"
        },
    )
    awareness_ids_per_socket: int = field(
        default=4, metadata={"help": "awareness client ids one socket may announce"}
    )
    awareness_state_bytes: int = field(
        default=8 * 1024, metadata={"help": "largest awareness state (JSON bytes) accepted"}
    )
    max_document_bytes: int = field(
        default=32 * 1024 * 1024,
        metadata={"help": "largest document (encoded bytes); updates beyond it are refused"},
    )
    pending_bytes_per_document: int = field(
        default=64 * 1024 * 1024,
        metadata={
            "help": "update bytes one document holds waiting for its next commit; a socket "
            "that would pass it is closed (1013) and sends again on reconnect"
        },
    )
    sockets_per_document: int = field(
        default=2000, metadata={"help": "WebSockets one document accepts at once"}
    )
    streams_per_document: int = field(
        default=2000, metadata={"help": "event streams one document accepts at once"}
    )
    sse_queue_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "bytes queued for one slow viewer before it is dropped"},
    )
    creates_per_minute: int = field(
        default=30, metadata={"help": "documents one client address may create per minute"}
    )
    connects_per_minute: int = field(
        default=600,
        metadata={"help": "WebSockets and event streams one client address may open per minute"},
    )
    writes_per_minute: int = field(
        default=600, metadata={"help": "REST writes one client address may make per minute"}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``SWELL_<NAME>`` variables; unknown values raise ValueError."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = parse_value(f, raw)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (the CLI's flags override the environment)."""
        return dataclasses.replace(self, **changes)


def env_name(name: str) -> str:
    """The environment variable for a setting: ``database_url`` -> ``SWELL_DATABASE_URL``."""
    return "SWELL_" + name.upper()


def parse_value(f: dataclasses.Field[Any], raw: str) -> Any:
    """Parse one textual value by the field's default's type, with an error naming it."""
    default = f.default
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"invalid value for {env_name(f.name)}: {raw!r}") from None
    return raw
