"""Swell: real-time collaborative rich-text documents. Importing this runs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from swell.app import create_app as create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from swell.app import create_app

        return create_app
    raise AttributeError(name)
