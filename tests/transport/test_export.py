"""Export of a document holding every node type, as text, HTML and Markdown."""

from __future__ import annotations

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from tests.client import fragment_of, synced_doc, wait_for
from tests.server import ServerProcess


def fill(fragment: XmlFragment) -> None:
    def para(text: str) -> XmlElement:
        return XmlElement("paragraph", {}, [XmlText(text)])

    fragment.children.append(XmlElement("heading", {"level": 1}, [XmlText("Title")]))
    marks = XmlText()
    fragment.children.append(XmlElement("paragraph", {}, [marks]))
    marks.insert(0, "plain ")
    marks.insert(6, "bold", {"bold": {}})
    marks.insert(10, " ")
    marks.insert(11, "it", {"italic": {}})
    marks.insert(13, " ")
    marks.insert(14, "gone", {"strike": {}})
    marks.insert(18, " ")
    marks.insert(19, "code", {"code": {}})
    marks.insert(23, " ")
    marks.insert(24, "link", {"link": {"href": "https://example.com/a"}})
    fragment.children.append(
        XmlElement("bulletList", {}, [XmlElement("listItem", {}, [para("one")])])
    )
    fragment.children.append(
        XmlElement("orderedList", {"start": 3}, [XmlElement("listItem", {}, [para("three")])])
    )
    fragment.children.append(XmlElement("blockquote", {}, [para("quoted")]))
    fragment.children.append(
        XmlElement("codeBlock", {"language": "python"}, [XmlText("print('hi')")])
    )
    fragment.children.append(XmlElement("horizontalRule", {}, []))
    fragment.children.append(
        XmlElement(
            "paragraph", {}, [XmlText("line"), XmlElement("hardBreak", {}, []), XmlText("next")]
        )
    )


async def test_export_in_every_format(shared_server: ServerProcess) -> None:
    doc = await shared_server.create_document("Every node / kind")
    async with synced_doc(shared_server.ws_url, doc["id"], doc["edit_token"]) as (ada, _):
        fill(fragment_of(ada))
        reference: Doc = Doc()
        reference.apply_update(ada.get_update())
        async with synced_doc(shared_server.ws_url, doc["id"], doc["view_token"]) as (other, _):
            await wait_for(
                lambda: len(fragment_of(other).children) == 8, "the document to be stored"
            )
    url = f"/api/docs/{doc['id']}/content"
    auth = {"Authorization": f"Bearer {doc['view_token']}"}
    async with shared_server.http() as http:
        md = await http.get(url, params={"format": "markdown"}, headers=auth)
        html = await http.get(url, params={"format": "html"}, headers=auth)
        text = await http.get(url, params={"format": "text"}, headers=auth)
        bad = await http.get(url, params={"format": "pdf"}, headers=auth)
    assert md.status_code == html.status_code == text.status_code == 200
    assert bad.status_code == 400 and "format" in bad.json()["error"]
    assert md.headers["content-type"].startswith("text/markdown")
    assert 'filename="Every node _ kind.md"' in md.headers["content-disposition"]
    assert md.text == (
        "# Title\n\n"
        "plain **bold** *it* ~~gone~~ `code` [link](https://example.com/a)\n\n"
        "- one\n\n"
        "3. three\n\n"
        "> quoted\n\n"
        "```python\nprint('hi')\n```\n\n"
        "---\n\n"
        "line\\\nnext"
    )
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.startswith("<!doctype html>") or html.text.startswith("<!DOCTYPE html>")
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>it</em>",
        "<s>gone</s>",
        "<code>code</code>",
        '<a href="https://example.com/a" rel="noopener noreferrer nofollow">link</a>',
        "<ul><li><p>one</p></li></ul>",
        '<ol start="3"><li><p>three</p></li></ol>',
        "<blockquote><p>quoted</p></blockquote>",
        '<pre><code class="language-python">print(&#x27;hi&#x27;)</code></pre>',
        "<hr>",
        "line<br>next",
        "<title>Every node / kind</title>",
    ):
        assert fragment in html.text, fragment
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == (
        "Title\n\nplain bold it gone code link\n\n- one\n\n3. three\n\n> quoted\n\n"
        "print('hi')\n\n---\n\nline\nnext"
    )
