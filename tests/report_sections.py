"""Lay out the sections of a `snakemake --report` page as static pages (for render_report.sh).

The report is a single-page app that shows one section at a time without a URL per section,
so a headless screenshot of it shows only the landing page. This reads the results the app
embeds (captions and files as data URIs) and writes one static page per category
(``<OUT_PREFIX>_<i>.html``); a script on each counts the decoded images into ``#status``.

Usage: python tests/report_sections.py REPORT.html OUT_PREFIX
(prints one line per page: the HTML path and a page height in px)
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import sys

import pandas as pd

STATUS_SCRIPT = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const empty = [...document.querySelectorAll('section')].filter(
    s => s.querySelectorAll('img, table, iframe').length === 0).length;
  document.getElementById('status').textContent =
    `sections=${document.querySelectorAll('section').length} empty=${empty} ` +
    `images=${imgs.length} decoded=${ok} tables=${document.querySelectorAll('table').length}`;
});</script>"""


def main(report: str, prefix: str) -> list[tuple[str, int]]:
    text = open(report, encoding="utf-8").read()
    results = json.loads(re.search(r"results = (\{.*?\});\s*\n", text, re.S).group(1))
    categories = json.loads(re.search(r"categories = (\{.*?\});\s*\n", text, re.S).group(1))
    pages = []
    for i, cat in enumerate(sorted(categories), start=1):
        parts, height = [f"<section><h1>{html.escape(cat)}</h1>"], 280
        for sub, paths in sorted(categories[cat].items()):
            parts.append(f"<h2>{html.escape(sub)}</h2>")
            for path in paths:
                r = results[path]
                parts.append(f"<div><h3>{html.escape(r['name'])}</h3>{r['caption']}")
                uri, mime = r["data_uri"], r["mime_type"]
                if mime.startswith("image/"):
                    parts.append(f'<img src="{uri}" style="max-width:1300px;max-height:900px">')
                    height += 1000
                elif mime == "text/csv":
                    raw = base64.b64decode(uri.split("base64,", 1)[1])
                    table = pd.read_csv(io.BytesIO(raw)).head(15)
                    parts.append(table.to_html(index=False, float_format="%.4g"))
                    height += 550
                else:
                    parts.append(f'<iframe src="{uri}" width=1300 height=500></iframe>')
                    height += 650
                parts.append("</div>")
        parts.append("</section>")
        page = (
            "<html><head><meta charset=utf-8><style>body{font:14px sans-serif;margin:20px}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
            "</style></head><body><div id=status>not loaded</div>"
            + "".join(parts)
            + STATUS_SCRIPT
            + "</body></html>"
        )
        out = f"{prefix}_{i}.html"
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(page)
        pages.append((out, min(height, 30000)))
    return pages


if __name__ == "__main__":
    for path, height in main(sys.argv[1], sys.argv[2]):
        print(path, height)
