"""Validation of the few node and mark attributes the renderers use.

Attribute values come straight from a shared document that any collaborator can write, so
every value is treated as hostile: only values that pass these checks reach an output.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

__all__ = ["heading_level", "list_start", "safe_href", "safe_language"]

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_HREF_LENGTH = 8192
MAX_LIST_START = 999_999_999  # CommonMark ordered list markers have at most 9 digits

# C0 controls, DEL and C1 controls: browsers drop tabs/newlines inside URLs ("java\tscript:")
# and trim the rest, so they are removed everywhere before the scheme is looked at.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+-]{1,32}")
_INT_STRING = re.compile(r"\s*([+-]?\d{1,12})(?:\.0*)?\s*")


def safe_href(value: object) -> str | None:
    """Return a cleaned link target, or None when it could run script or leave the web.

    Only absolute http(s) URLs with a host and non-empty mailto: URLs pass; relative and
    protocol-relative URLs are refused too, since a document has no base URL to resolve against.
    """
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL_CHARS.sub("", value).strip()
    if not cleaned or len(cleaned) > MAX_HREF_LENGTH:
        return None
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return None
    if scheme == "mailto":
        return cleaned if parts.path else None
    return cleaned if parts.netloc else None


def safe_language(value: object) -> str | None:
    """Return a code block language that is safe inside a class name or a fence info string."""
    if isinstance(value, str) and _LANGUAGE.fullmatch(value):
        return value
    return None


def _as_int(value: object) -> int | None:
    """Read an integer attribute that y-prosemirror may hand over as int, float or string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # Yjs numbers arrive through pycrdt as floats (2 -> 2.0).
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        match = _INT_STRING.fullmatch(value)
        return int(match.group(1)) if match else None
    return None


def heading_level(value: object) -> int:
    """Clamp a heading level into 1..6 so it always names a real <hN> element."""
    level = _as_int(value)
    if level is None:
        return 1
    return min(max(level, 1), 6)


def list_start(value: object) -> int:
    """Return a positive ordered-list start number, falling back to 1 for anything else."""
    start = _as_int(value)
    if start is None or start < 1 or start > MAX_LIST_START:
        return 1
    return start
