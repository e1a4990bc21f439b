"""The Markdown and HTML pieces every report is built from: escaping, tables, figures, folds, the page.

Every inserted string is escaped: HTML with ``esc``, Markdown table cells and text with ``md_cell`` (no raw
HTML, no pipes, no line breaks). Links are relative, URL-quoted POSIX paths, so a report directory can be
moved or served as it is. Nothing here reads a run: the report sections (``advlab.reports.sections``) and the
robustness report call these helpers, and ``render`` assembles the page.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from PIL import Image

SAMPLE_WIDTH = 260  # CSS pixels; smaller pictures (8x8 digit grids) are upscaled pixelated
LEAD_WIDTH = 420  # CSS pixels at least, for the picture a report opens with
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;margin:2em auto;
 padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}section{border-top:2px solid #ddd;margin-top:2em}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.92em}
th,td{border:1px solid #d0d0d0;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td{font-family:ui-monospace,Menlo,Consolas,monospace}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-end}figure{margin:0}
figcaption{font-size:.88em;color:#555;text-align:center}
.plots img{max-width:100%;height:auto}
.wide{overflow-x:auto}img.px{image-rendering:pixelated}
.grids img{max-width:100%;height:auto}.options{font-size:.88em;color:#444}
details{margin:.4em 0 1.2em}details>summary{cursor:pointer;color:#444}
.figs.glance{align-items:flex-start}.glance figure{max-width:360px}
.glance img{max-width:100%;height:auto;border:1px solid #ddd}.glance figcaption{text-align:left}
""" + (f".samples img{{width:{SAMPLE_WIDTH}px;border:1px solid #ddd}}\n"
       f".lead img{{min-width:{LEAD_WIDTH}px;max-width:100%;height:auto;border:1px solid #ddd}}\n")


# ---------------------------------------------------------------------- text


def esc(text) -> str:
    """Text made safe for HTML (quotes included)."""
    return html.escape(str(text), quote=True)


def md_cell(text) -> str:
    """Escape text for a Markdown table cell: no raw HTML, no pipes, no line breaks."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def link(path: Path, base: Path) -> str:
    """Relative, URL-quoted POSIX link from ``base`` to ``path``."""
    return quote(Path(os.path.relpath(path, base)).as_posix())


def md_heading(level: int, text: str) -> str:
    return f"{'#' * min(level, 6)} {md_cell(text)}"


def html_heading(level: int, text: str) -> str:
    h = f"h{min(level, 6)}"
    return f"<{h}>{esc(text)}</{h}>"


# ---------------------------------------------------------------------- tables


def html_table(head, rows, links: list[str] | None = None, head_links: list[str | None] | None = None) -> str:
    """A table; with ``links``, row i's first cell links to ``#links[i]``; with ``head_links``, head cell j
    links to ``#head_links[j]`` (None: no link)."""
    if not rows:
        return "<p><em>(none)</em></p>"
    cells = [[esc(x) for x in row] for row in rows]
    for row, anchor in zip(cells, links or []):
        row[0] = f'<a href="#{esc(anchor)}">{row[0]}</a>'
    heads = [esc(x) for x in head]
    for j, anchor in enumerate(head_links or []):
        if anchor is not None and j < len(heads):
            heads[j] = f'<a href="#{esc(anchor)}">{heads[j]}</a>'
    lines = ["<tr>" + "".join(f"<th>{x}</th>" for x in heads) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{x}</td>" for x in row) + "</tr>" for row in cells]
    return '<div class="wide"><table>' + "".join(lines) + "</table></div>"


def md_table(head, rows) -> str:
    if not rows:
        return "_(none)_"
    lines = ["| " + " | ".join(md_cell(x) for x in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------- folds


def html_details(summary: str, body: str) -> str:
    """``body`` (HTML) folded under a one-line ``summary`` (text, escaped here)."""
    return f"<details><summary>{esc(summary)}</summary>\n{body}\n</details>"


def md_details(summary: str, body: str) -> str:
    """The same fold in Markdown: GitHub and most renderers accept raw <details>; the blank lines let the
    Markdown inside (a table) render, and a renderer without HTML shows the table unfolded."""
    return f"<details><summary>{md_cell(summary)}</summary>\n\n{body}\n\n</details>"


# ---------------------------------------------------------------------- pictures


def image_width(path: Path) -> int:
    """The picture's width in pixels (0 if Pillow cannot read it)."""
    try:
        with Image.open(path) as image:
            return image.width
    except OSError:
        return 0


def html_figure(caption: str, path: Path, base: Path, crisp_below: int = SAMPLE_WIDTH) -> str:
    """A linked image at 2/3 of its pixel width (plots); CSS sizes the samples, upscaling
    pictures narrower than ``crisp_below`` pixels (8x8 digit grids) pixelated."""
    src, width = esc(link(path, base)), image_width(path)
    attrs = (f' width="{width * 2 // 3}"' if width else "") + (
        ' class="px"' if width < crisp_below else "")
    return (f'<figure><a href="{src}"><img src="{src}"{attrs} alt="{esc(caption)}"></a>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def html_figures(items, base: Path, kind: str) -> str:
    """Figures side by side in a ``figs`` row of class ``kind`` (plots, samples, lead)."""
    if not items:
        return "<p><em>(none yet)</em></p>"
    crisp_below = LEAD_WIDTH if kind == "lead" else SAMPLE_WIDTH
    figures = "".join(html_figure(caption, path, base, crisp_below) for caption, path in items)
    return f'<div class="figs {kind}">{figures}</div>'


def html_grid(caption: str, path: Path, base: Path) -> str:
    """An example grid at its own pixel size (its captions are drawn for that size)."""
    src, width = esc(link(path, base)), image_width(path)
    size = f' width="{width}"' if width else ""
    return (f'<figure><a href="{src}"><img src="{src}"{size} alt="{esc(caption)}"></a>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def md_image(caption: str, path: Path, base: Path) -> str:
    return f"![{md_cell(caption)}]({link(path, base)})"


def md_images(items, base: Path) -> str:
    """Images side by side: a table whose header row holds the captions."""
    if not items:
        return "_(none yet)_"
    head = "| " + " | ".join(md_cell(caption) for caption, _ in items) + " |"
    rule = "|" + "---|" * len(items)
    cells = "| " + " | ".join(md_image(c, p, base) for c, p in items) + " |"
    return f"{head}\n{rule}\n{cells}"


# ---------------------------------------------------------------------- the page


def html_page(title: str, body: str, css: str = "") -> str:
    """One self-contained page: inline CSS (the house style plus ``css``), no scripts."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{CSS}{css}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


__all__ = ["CSS", "LEAD_WIDTH", "SAMPLE_WIDTH", "esc", "html_details", "html_figure", "html_figures", "html_grid",
           "html_heading", "html_page", "html_table", "image_width", "link", "md_cell", "md_details", "md_heading",
           "md_image", "md_images", "md_table"]
