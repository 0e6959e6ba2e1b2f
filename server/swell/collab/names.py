"""The one name rule: every display name a client gives (awareness, viewer streams, headers)
goes through ``clean_name`` before presence, activity or the journal sees it."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 100
FALLBACK_NAME = "Anonymous"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def clean_name(raw: object, fallback: str = FALLBACK_NAME) -> str:
    """NFC, no control or format characters, no lone surrogates, whitespace collapsed, at
    most ``MAX_NAME`` characters; ``fallback`` when nothing is left (or it is not a string)."""
    if not isinstance(raw, str):
        return fallback
    # Lone surrogates cannot be encoded as UTF-8 (the journal, JSON for browsers): drop them.
    text = "".join(ch for ch in raw if not 0xD800 <= ord(ch) <= 0xDFFF)
    text = unicodedata.normalize("NFC", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category == "Zs":
            kept.append(" ")
        elif category[0] == "C":  # Cc control, Cf format, Co private use, Cn unassigned
            continue
        else:
            kept.append(ch)
    name = " ".join("".join(kept).split())[:MAX_NAME].rstrip()
    return name or fallback


def clean_color(raw: object) -> str | None:
    """``#rrggbb`` (lower case), or None for anything else."""
    if isinstance(raw, str) and _COLOR.match(raw):
        return raw.lower()
    return None
