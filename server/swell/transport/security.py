"""Headers every HTTP answer carries, and the pages' Content-Security-Policy.

The pages keep every edit token the browser has seen in localStorage, so a script injected
into them, or a page framing them, would own every document: scripts come only from the
server's own files, nothing may frame the pages, and ``<base>``/``<object>`` are off.
Styles come only from the server's files too: the web app ships TipTap's base CSS in its own
stylesheet (``injectCSS: false``) and colours carets and avatars through the CSSOM, which CSP
does not restrict (``e2e/test_strict_csp.py`` holds the pages to this policy).
``connect-src 'self'`` covers the page's own ``ws(s)://`` origin and its event stream.
"""

from __future__ import annotations

from quart import Quart, Response

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def page_headers(response: Response) -> Response:
    """The headers of an HTML page of the web app."""
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors for older browsers
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def install_security_headers(app: Quart) -> None:
    """``nosniff`` on every answer (errors, assets, streams, exports): a JSON error or a
    rendered document must never be sniffed into HTML by a browser."""

    @app.after_request
    async def nosniff(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
