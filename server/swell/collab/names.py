"""The one name rule: every display name a client gives (awareness, viewer streams, headers)
goes through ``clean_name`` before presence, activity or the journal sees it."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

MAX_NAME = 100
FALLBACK_NAME = "Anonymous"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
PALETTE = ("#0b7285", "#5f3dc4", "#c2255c", "#2b8a3e", "#e67700", "#1864ab", "#862e9c")
"""Colours for whoever did not choose one (readable behind white text)."""


def clean_name(raw: object, fallback: str = FALLBACK_NAME) -> str:
    """NFC, no control or format characters, no lone surrogates, whitespace collapsed, at
    most ``MAX_NAME`` characters; ``fallback`` when nothing is left (or it is not a string).
    Format characters go too (bidi overrides would let a name spoof another)."""
    if not isinstance(raw, str):
        return fallback
    # Cc control, Cf format, Co private use, Cn unassigned
    name = clean_text(raw, lambda category: category[0] == "C")[:MAX_NAME].rstrip()
    return name or fallback


def clean_text(text: str, unwanted: Callable[[str], bool]) -> str:
    """``text`` without lone surrogates (no database or browser encodes them) and without the
    characters whose Unicode category ``unwanted`` names, in NFC, whitespace collapsed."""
    kept = "".join(
        ch
        for ch in text
        if not 0xD800 <= ord(ch) <= 0xDFFF
        and (ch.isspace() or not unwanted(unicodedata.category(ch)))
    )
    return " ".join(unicodedata.normalize("NFC", kept).split())


def clean_color(raw: object) -> str | None:
    """``#rrggbb`` (lower case), or None for anything else."""
    if isinstance(raw, str) and _COLOR.match(raw):
        return raw.lower()
    return None


def color_for(key: str) -> str:
    """A colour of ``PALETTE`` derived from ``key`` (a name, an author id): stable across
    restarts and processes."""
    return PALETTE[hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[0] % len(PALETTE)]
