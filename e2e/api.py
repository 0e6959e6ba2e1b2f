"""The server's document API, called directly to set up and check documents quickly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    edit_token: str
    view_token: str


def create_doc(base_url: str, title: str = "Test") -> Doc:
    """``POST /api/docs``: a new document and its two tokens."""
    response = httpx.post(f"{base_url}/api/docs", json={"title": title}, timeout=10.0)
    response.raise_for_status()
    data = response.json()
    return Doc(data["id"], data["title"], data["edit_token"], data["view_token"])


def get_doc(base_url: str, doc_id: str, token: str) -> dict[str, Any]:
    """``GET /api/docs/{id}``: id, title, role, created_at, updated_at."""
    response = httpx.get(
        f"{base_url}/api/docs/{doc_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    response.raise_for_status()
    return dict(response.json())


def get_text(base_url: str, doc_id: str, token: str) -> str:
    """``GET /api/docs/{id}/content?format=text``: what the server holds."""
    response = httpx.get(
        f"{base_url}/api/docs/{doc_id}/content",
        params={"format": "text"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    response.raise_for_status()
    return response.text
