"""The WebSocket Origin rule: configured public origins, compared by scheme, host and port;
the Host header plays no part (DNS rebinding), an absent Origin is a non-browser client.
Pure unit tests, plus one real server listening on every interface."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from swell.settings import Settings
from swell.transport.origin import (
    allowed_origins,
    parse_origin,
    wildcard_without_public_url,
)
from tests.client import ws_url
from tests.server import ServerProcess


def allows(settings: Settings, origin: str | None) -> bool:
    return allowed_origins(settings).allows(origin)


def test_origins_are_normalised_by_scheme_host_and_port() -> None:
    assert parse_origin("http://Example.COM") == ("http", "example.com", 80)
    assert parse_origin("https://example.com:443") == ("https", "example.com", 443)
    assert parse_origin("http://[::1]:8000") == ("http", "[::1]", 8000)
    for bad in ("null", "", "file://", "ftp://example.com", "http://user@example.com",
                "http://example.com/path", "http://example.com:99999", "http://example.com:",
                "example.com", "http://"):  # fmt: skip
        assert parse_origin(bad) is None, bad


def test_the_listening_address_is_the_default_public_origin() -> None:
    settings = Settings(host="10.1.2.3", port=8123)
    assert allows(settings, "http://10.1.2.3:8123")
    assert not allows(settings, "https://10.1.2.3:8123")  # scheme counts
    assert not allows(settings, "http://10.1.2.3:8124")  # port counts
    assert not allows(settings, "http://10.1.2.3")  # default port 80 is another origin


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_is_allowed_under_each_spelling(host: str) -> None:
    settings = Settings(host=host, port=8000)
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
        assert allows(settings, origin), origin
    assert allows(settings, "http://LOCALHOST:8000")
    assert not allows(settings, "http://localhost:8001")
    assert not allows(settings, "https://localhost:8000")


def test_dns_rebinding_is_refused_whatever_the_host_header() -> None:
    """The attacker's name resolves to 127.0.0.1: its page's Origin and the Host the server
    sees are both ``evil.example:8000``. Nothing here ever looks at Host."""
    settings = Settings(host="127.0.0.1", port=8000)
    assert not allows(settings, "http://evil.example:8000")
    assert not allows(settings, "http://localhost.evil.example:8000")


def test_public_url_replaces_the_listening_address() -> None:
    settings = Settings(host="0.0.0.0", port=8000, public_url="https://swell.example.org/app/")
    assert allows(settings, "https://swell.example.org")
    assert allows(settings, "https://swell.example.org:443")
    assert not allows(settings, "http://swell.example.org")  # scheme counts
    assert not allows(settings, "https://swell.example.org:8443")
    assert not allows(settings, "http://127.0.0.1:8000")
    assert not allows(settings, "https://evil.example")


def test_wildcard_host_allows_loopback_only_and_is_reported() -> None:
    settings = Settings(host="0.0.0.0", port=8000)
    assert wildcard_without_public_url(settings)
    assert wildcard_without_public_url(Settings(host="::", port=8000))
    assert allows(settings, "http://localhost:8000")
    assert allows(settings, "http://127.0.0.1:8000")
    assert not allows(settings, "http://0.0.0.0:8000")
    assert not allows(settings, "http://192.168.1.10:8000")
    assert not wildcard_without_public_url(settings.replace(public_url="https://a.example"))
    assert not wildcard_without_public_url(Settings(host="127.0.0.1"))


def test_extra_allowed_origins_and_star() -> None:
    settings = Settings(port=8000, allowed_origins=("https://App.example:8443/",))
    assert allows(settings, "https://app.example:8443")
    assert allows(settings, "http://127.0.0.1:8000")
    assert not allows(settings, "https://app.example")
    anything = Settings(port=8000, allowed_origins=("*",))
    assert allows(anything, "https://evil.example")
    assert allows(anything, "null")


def test_no_origin_is_a_non_browser_client_and_allowed() -> None:
    assert allows(Settings(), None)


def test_a_malformed_configured_origin_is_an_error() -> None:
    with pytest.raises(ValueError, match="ftp"):
        allowed_origins(Settings(public_url="ftp://swell.example"))
    with pytest.raises(ValueError):
        allowed_origins(Settings(allowed_origins=("not a url",)))


@pytest.mark.parametrize("server_settings", [{"SWELL_HOST": "0.0.0.0"}])
async def test_a_wildcard_listener_warns_and_allows_loopback_pages(server: ServerProcess) -> None:
    """Over a real socket: the origin check uses the bound port (the server was started with
    port 0), and the operator is told to set --public-url."""
    assert "--public-url" in server.log_text()
    doc = await server.create_document()
    port = urlsplit(server.base_url).port
    url = ws_url(server.ws_url, doc["id"], doc["edit_token"])
    async with websockets.connect(url, origin=f"http://localhost:{port}"):  # type: ignore[arg-type]
        pass
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, origin=f"http://10.9.8.7:{port}"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
