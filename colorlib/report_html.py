"""The report as one self-contained HTML page: no script, no stylesheet, font or image fetched.

`colorlib.assemble` hands over the page as blocks (markdown text, or a figure with its caption);
the markdown goes through mistune (a dependency of nbconvert), each figure becomes a
``<figure>`` with an embedded JPEG and a visible ``<figcaption>``. Web addresses in the text
are written without their scheme and never as links, so opening the page requests nothing.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import mistune
from PIL import Image

# ("text", markdown, "") or ("figure", image path relative to the report folder, caption).
Block = tuple[str, str, str]

STYLE = """
body { font-family: system-ui, sans-serif; line-height: 1.45; margin: 0; color: #222; }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.scroll { width: 100%; overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; white-space: nowrap; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; }
thead th { background: #f3f3f3; } tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #444; margin-top: 0.3rem; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""

_MARKDOWN = mistune.create_markdown(escape=True, plugins=["table"])
_LINK = re.compile(r"\[([^\]]*)\]\(\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//([^)\s]*)[^)]*\)")
_AUTOLINK = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//([^>\s]*)>")
_SCHEME = re.compile(r"\b(?:https?|ftp)://", re.IGNORECASE)


def plain_addresses(text: str) -> str:
    """`text` with every web link written as plain text and every address without its
    scheme: "[site](https://a.org/x)" -> "site (a.org/x)"."""
    text = _LINK.sub(lambda m: f"{m[1]} ({m[2]})", text)
    text = _AUTOLINK.sub(lambda m: m[1], text)
    return _SCHEME.sub("", text)


def markdown_html(text: str) -> str:
    """Markdown -> HTML, raw HTML escaped, tables wrapped to scroll sideways when wide."""
    rendered = _MARKDOWN(plain_addresses(text))
    return rendered.replace("<table>", '<div class="scroll"><table>').replace(
        "</table>", "</table></div>"
    )


def jpeg_data(path: Path, quality: int = 85) -> str:
    """The image at `path` as a JPEG data URI.

    Base64 text can spell "http" by chance (a few in a hundred large images); the quality
    is nudged until it does not, so a plain search for "http" in the page stays meaningful.
    """
    rgb = Image.open(path).convert("RGB")
    for q in range(quality, quality - 10, -1):
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=q)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        if "http" not in encoded.lower():
            break
    return f"data:image/jpeg;base64,{encoded}"


def figure_html(path: Path, caption: str) -> str:
    text = html.escape(plain_addresses(caption))
    return (
        f'<figure><img src="{jpeg_data(path)}" alt="{text}">'
        f"<figcaption>{text}</figcaption></figure>"
    )


def write_html(out: Path, title: str, blocks: list[Block]) -> Path:
    """Write ``out/report.html``: `blocks` in order, under `title`, images embedded."""
    body = [
        markdown_html(text) if kind == "text" else figure_html(out / text, caption)
        for kind, text, caption in blocks
    ]
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body><main>",
            *body,
            "</main></body>",
            "</html>",
            "",
        ]
    )
    path = out / "report.html"
    path.write_text(page)
    return path
