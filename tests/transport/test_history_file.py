"""A document moves between servers with its past: export its whole history, create a
document from the file, and every revision renders the same; a file that lies is refused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
from typing import Any

import httpx
import pytest
from pycrdt import XmlElement, XmlText

from tests.client import fragment_of, synced_doc, wait_for
from tests.server import ServerProcess

HISTORY_TYPE = "application/vnd.swell-history+json"
IMPORT_LIMIT = 300_000  # above the 64 KiB of every other body: imports take more


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"SWELL_COMPACT_EVERY": "2", "SWELL_MAX_IMPORT_BYTES": str(IMPORT_LIMIT)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def committed_text(http: httpx.AsyncClient, doc_id: str, token: str) -> str:
    response = await http.get(f"/api/docs/{doc_id}/content?format=text", headers=bearer(token))
    return response.text


async def write_history(server: ServerProcess, http: httpx.AsyncClient) -> dict[str, str]:
    """Two authors type, format and delete over several revisions (some compacted)."""
    doc = await server.create_document("Travels")
    ada = (await http.post("/api/authors", json={"name": "Ada", "color": "#112233"})).json()
    grace = (await http.post("/api/authors", json={"name": "Grace"})).json()
    async with (
        synced_doc(server.ws_url, doc["id"], doc["edit_token"], author=ada["secret"]) as (a, _),
        synced_doc(server.ws_url, doc["id"], doc["edit_token"], author=grace["secret"]) as (g, _),
    ):
        first = XmlText()
        fragment_of(a).children.append(XmlElement("paragraph", {}, [first]))
        for word in ["one ", "two ", "three ", "four "]:
            first.insert(len(first), word)
            await asyncio.sleep(0)
        await wait_for(lambda: len(fragment_of(g).children) == 1, "Grace to see Ada's text")
        second = XmlText()
        fragment_of(g).children.append(XmlElement("heading", {"level": "2"}, [second]))
        for word in ["Grace ", "was ", "here"]:
            second.insert(len(second), word)
            await asyncio.sleep(0)
        first.format(0, 3, {"bold": {}})
        del first[4:8]
        expected = "one three four \n\nGrace was here"
        await wait_for(
            lambda: str(fragment_of(a)) == str(fragment_of(g)), "the authors to converge"
        )
        deadline = asyncio.get_running_loop().time() + 10
        while (await committed_text(http, doc["id"], doc["edit_token"])).strip() != expected:
            assert asyncio.get_running_loop().time() < deadline, "edits not committed"
            await asyncio.sleep(0.05)
    return doc


async def test_an_exported_history_imports_with_every_revision_intact(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        doc = await write_history(server, http)
        newest = await http.get(f"/api/docs/{doc['id']}", headers=bearer(doc["view_token"]))
        rev = newest.json()["rev"]
        assert rev >= 3
        exported = await http.get(
            f"/api/docs/{doc['id']}/history/export", headers=bearer(doc["view_token"])
        )
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith(HISTORY_TYPE)
        assert (
            "attachment" in exported.headers["content-disposition"]
            or "inline" in (exported.headers["content-disposition"])
        )
        file = exported.json()
        assert file["format"] == "swell-history" and file["version"] == 1
        assert [r["rev"] for r in file["revisions"]] == list(range(1, rev + 1))
        assert {a["name"] for a in file["authors"]} == {"Ada", "Grace"}

        padded = exported.content + b" " * (100_000 - len(exported.content))  # > 64 KiB
        imported = await http.post(
            "/api/docs", content=padded, headers={"Content-Type": HISTORY_TYPE}
        )
        assert imported.status_code == 201, imported.text
        copy_doc = imported.json()
        assert copy_doc["title"] == "Travels"
        meta = await http.get(f"/api/docs/{copy_doc['id']}", headers=bearer(copy_doc["edit_token"]))
        assert meta.json()["rev"] == rev
        for r in range(1, rev + 1):
            for fmt in ("html", "text"):
                original = await http.get(
                    f"/api/docs/{doc['id']}/content?format={fmt}&rev={r}",
                    headers=bearer(doc["view_token"]),
                )
                again = await http.get(
                    f"/api/docs/{copy_doc['id']}/content?format={fmt}&rev={r}",
                    headers=bearer(copy_doc["view_token"]),
                )
                assert again.status_code == 200
                assert again.text == original.text, (r, fmt)
        entries = [
            (
                await http.get(f"/api/docs/{d['id']}/history", headers=bearer(d["view_token"]))
            ).json()["entries"]
            for d in (doc, copy_doc)
        ]
        summarize = [
            [(e["from_rev"], e["to_rev"], e["summary"], e["author"]["name"]) for e in es]
            for es in entries
        ]
        assert summarize[0] == summarize[1]
        # The imported document is live: it can be edited and numbering goes on.
        async with synced_doc(server.ws_url, copy_doc["id"], copy_doc["edit_token"]) as (c, _):
            assert "Grace was here" in str(fragment_of(c))
            fragment_of(c).children.append(XmlElement("paragraph", {}, [XmlText("more")]))

            async def grew() -> bool:
                got = await http.get(
                    f"/api/docs/{copy_doc['id']}", headers=bearer(copy_doc["edit_token"])
                )
                return bool(got.json()["rev"] == rev + 1)

            deadline = asyncio.get_running_loop().time() + 10
            while not await grew():
                assert asyncio.get_running_loop().time() < deadline, "the edit was not stored"
                await asyncio.sleep(0.05)


async def test_a_history_file_that_lies_is_refused_and_creates_nothing(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        doc = await write_history(server, http)
        file: dict[str, Any] = (
            await http.get(
                f"/api/docs/{doc['id']}/history/export", headers=bearer(doc["edit_token"])
            )
        ).json()

        async def refused(body: Any, raw: bytes | None = None) -> str:
            response = await http.post(
                "/api/docs",
                content=raw if raw is not None else httpx.Request("POST", "/", json=body).content,
                headers={"Content-Type": HISTORY_TYPE},
            )
            assert response.status_code == 400, response.text
            return str(response.json()["error"])

        await refused(None, raw=b"{not json")
        await refused({**file, "format": "etherpad"})
        gap = copy.deepcopy(file)
        assert len(gap["revisions"]) >= 3
        del gap["revisions"][1]  # between two others (the last one would be no gap)
        assert "consecutive" in await refused(gap)
        garbage = copy.deepcopy(file)
        garbage["updates"][0]["update"] = base64.b64encode(b"\x07\x01garbage").decode()
        assert "invalid" in await refused(garbage)
        missing = copy.deepcopy(file)
        missing["updates"].pop()
        await refused(missing)
        lying = copy.deepcopy(file)
        lying["updates"] = lying["updates"][:1] + [
            {**u, "update": base64.b64encode(b"\x00\x00").decode()} for u in lying["updates"][1:]
        ]
        assert "do not hold" in await refused(lying)
        stranger = copy.deepcopy(file)
        stranger["revisions"][0]["author"] = "nobody"
        await refused(stranger)
        # Refused from the Content-Length alone, before any of the body is read (the body is
        # never sent: a client still sending when the 413 comes may see a reset instead).
        host, port = server.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /api/docs HTTP/1.1\r\nHost: {host}\r\nContent-Type: {HISTORY_TYPE}\r\n"
            f"Content-Length: {IMPORT_LIMIT + 1}\r\n\r\n".encode()
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        assert status.split()[1] == b"413", status
