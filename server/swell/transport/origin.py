"""Which browser origins may open a WebSocket: the server's public origins, compared by
scheme, host and port. The Host header is never consulted: under DNS rebinding an attacker's
page is served from ``http://evil.example:8000`` with ``Host: evil.example:8000``, so Host
equal to Origin proves nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from swell.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
ANY = "*"

Origin = tuple[str, str, int]  # scheme, lower-case host (IPv6 in brackets), port


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` normalised (lower case, default port filled in), or None for
    anything else: ``null``, other schemes, user info, a path, query or fragment."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if parts.netloc.endswith(":"):  # "http://host:" has no port to compare
        return None
    if ":" in host:
        host = f"[{host}]"
    return scheme, host.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def _config_origin(value: str) -> Origin:
    """An origin from the configuration: a URL whose path is ignored (``public_url`` may be
    ``https://example.com/swell``). Raises ValueError for one that is not http(s)."""
    parts = urlsplit(value.strip())
    origin = parse_origin(f"{parts.scheme}://{parts.netloc}")
    if origin is None:
        raise ValueError(f"not an http(s) origin: {value!r}")
    return origin


@dataclass(frozen=True)
class AllowedOrigins:
    origins: frozenset[Origin]
    any: bool = False

    def allows(self, origin: str | None) -> bool:
        """Browsers always send Origin on a WebSocket handshake; a client without one is not a
        browser, so no other site can be acting through it: allowed (its token still counts)."""
        if origin is None:
            return True
        if self.any:
            return True
        parsed = parse_origin(origin)
        return parsed is not None and parsed in self.origins


def listening_origins(host: str, port: int) -> tuple[Origin, ...]:
    """``http://host:port`` for the listening address; loopback under each of its spellings;
    for a wildcard address (no single name), the loopback ones (``--public-url`` names the
    rest)."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("localhost", "127.0.0.1", "::1") or host in WILDCARD_HOSTS:
        return tuple(("http", name, port) for name in LOOPBACK_HOSTS)
    name = f"[{host}]" if ":" in host else host
    return (("http", name, port),)


def allowed_origins(settings: Settings) -> AllowedOrigins:
    """The origins WebSockets are accepted from: ``public_url`` if set, else the listening
    address (``settings.port`` must be the bound port, not 0), plus ``allowed_origins``
    (``*`` allows any). Raises ValueError for a malformed entry."""
    origins: set[Origin] = set()
    if settings.public_url:
        origins.add(_config_origin(settings.public_url))
    else:
        origins.update(listening_origins(settings.host, settings.port))
    extra = [entry for entry in settings.allowed_origins if entry.strip() != ANY]
    origins.update(_config_origin(entry) for entry in extra)
    return AllowedOrigins(
        frozenset(origins), any=any(entry.strip() == ANY for entry in settings.allowed_origins)
    )


def wildcard_without_public_url(settings: Settings) -> bool:
    """Listening on every interface with no ``public_url``: browsers reaching the server by
    another name are refused, so the operator should be told to set one."""
    host = settings.host.strip().strip("[]").lower()
    return host in WILDCARD_HOSTS and not settings.public_url
