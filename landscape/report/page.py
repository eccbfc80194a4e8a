"""One HTML page per study: spec, summary numbers, figures with captions.

The page works offline from the file system: no network fetch, images by relative path, styles
inline. Every user-given string (study name, attrs, spec values) goes through ``html.escape``.
A small inline script marks on ``<body>`` how many images loaded, which the browser test reads.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import NamedTuple

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.meta { color: #555; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.92em; margin-top: 0.3em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-images-loaded", String(ok));
});
"""


class ReportError(ValueError):
    """A report cannot be written where it should go; the message is one line."""


OWNER_META = "landscape-report"
"""The name of the page's meta tag that holds its study and storage (JSON)."""


def page_owner(text: str) -> dict | None:
    """The owner a page written by :func:`render` names, None when it names none."""
    m = re.search(rf'<meta name="{OWNER_META}" content="([^"]*)">', text)
    if m is None:
        return None
    try:
        owner = json.loads(html.unescape(m.group(1)))
    except ValueError:
        return None
    return owner if isinstance(owner, dict) else None


class FigureEntry(NamedTuple):
    """A figure on the page: its PNG file name (relative) and caption."""

    filename: str
    title: str
    caption: str


class Table(NamedTuple):
    """A table on the page."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]


def _cell(value: object) -> str:
    if isinstance(value, float):
        return html.escape(f"{value:.6g}")
    return html.escape(str(value))


def render(
    *,
    study_name: str,
    kind: str,
    description: str,
    storage: str,
    summary: Sequence[tuple[str, object]],
    tables: Sequence[Table],
    figures: Sequence[FigureEntry],
    spec: dict,
    owner: dict | None = None,
) -> str:
    """Build the HTML page (all strings escaped).

    ``owner`` (study and storage) is kept in a ``<meta name="landscape-report">`` tag: the
    page itself then says which study its folder holds, should the owner file be lost.
    """
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
    ]
    if owner is not None:
        content = e(json.dumps(owner, ensure_ascii=False, sort_keys=True), quote=True)
        parts.append(f'<meta name="{OWNER_META}" content="{content}">')
    parts += [
        f"<title>{e(study_name)} — landscape report</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_SCRIPT}</script>",
        "</head><body>",
        f"<h1>{e(study_name)}</h1>",
        f'<p class="meta">{e(kind)} study · storage {e(storage)}</p>',
    ]
    if description:
        parts.append(f"<p>{e(description)}</p>")
    if summary:
        parts.append("<h2>Summary</h2><table>")
        parts += [f"<tr><th>{e(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in summary]
        parts.append("</table>")
    for t in tables:
        parts.append(f"<h2>{e(t.title)}</h2><table><tr>")
        parts += [f"<th>{e(str(h))}</th>" for h in t.header]
        parts.append("</tr>")
        for row in t.rows:
            parts.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    if figures:
        parts.append("<h2>Figures</h2>")
    for f in figures:
        parts.append(
            f'<figure><img src="{e(f.filename, quote=True)}" alt="{e(f.title, quote=True)}">'
            f"<figcaption><b>{e(f.title)}.</b> {e(f.caption)}</figcaption></figure>"
        )
    parts.append("<h2>Spec</h2>")
    parts.append(f"<pre>{e(json.dumps(spec, indent=2, ensure_ascii=False))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    """Escape what would break a Markdown table cell or inject markup."""
    for ch in ("\\", "|", "*", "_", "`", "[", "]", "<", ">"):
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def markdown_note(
    study_name: str, summary: Sequence[tuple[str, object]], images: Sequence[tuple[str, str]]
) -> str:
    """The optuna-dashboard note: summary as a Markdown table, then the report's figures.

    ``images`` are (title, URL) pairs, the URLs served by optuna-dashboard for artifacts.
    """
    lines = [f"## landscape report: {study_name}", "", "| | |", "|---|---|"]
    for k, v in summary:
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        lines.append(f"| {_md_cell(str(k))} | {_md_cell(text)} |")
    lines.append("")
    for title, url in images:
        lines += [f"**{title}**", "", f"![{title}]({url})", ""]
    return "\n".join(lines)
