"""A self-contained HTML report: text, tables, warnings and PNG figures embedded inline.

Images are embedded as base64 data URIs so the single file can be mailed or archived and
still shows every figure.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bandlimit._io import atomic_write
from bandlimit.reports._cells import table_text

__all__ = ["HtmlReport"]

_STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
.warn { background: #fff4e0; border-left: 4px solid #e69500; padding: .5em .9em; margin: .6em 0; }
.note { background: #eef5ff; border-left: 4px solid #3b7dd8; padding: .5em .9em; margin: .6em 0; }
.incomplete { background: #ffe5e5; border-left: 4px solid #c00; padding: .5em .9em; }
.meta { font-size: .85em; color: #666; }
"""


class HtmlReport:
    """Build a report section by section, then :meth:`save` one self-contained file.

    Example:
        >>> report = HtmlReport("bandlimit demo")
        >>> report.heading("Robust accuracy")
        >>> report.paragraph("Accuracy on 100 CIFAR-10 test images.")
        >>> report.save("out/report.html")  # doctest: +SKIP
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading (level 2 by default)."""
        level = min(max(level, 1), 4)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, *, css: str | None = None) -> None:
        """Add a paragraph of plain text (escaped); ``css`` is "warn", "note" or "incomplete"."""
        cls = f' class="{css}"' if css else ""
        self._parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def warning(self, text: str) -> None:
        """Add a highlighted warning box."""
        self.paragraph(text, css="warn")

    def note(self, text: str) -> None:
        """Add a highlighted note box."""
        self.paragraph(text, css="note")

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        columns: Sequence[str] | None = None,
        percent: Sequence[str] = (),
        caption: str | None = None,
    ) -> None:
        """Add a table from row dicts; ``percent`` columns hold fractions shown as %."""
        columns, cells = table_text(rows, columns, percent)
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>")
        for texts in cells:
            out.append("<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in texts) + "</tr>")
        out.append("</table>")
        self._parts.append("\n".join(out))

    def image(self, path: str | Path, *, caption: str = "", alt: str | None = None) -> None:
        """Embed a PNG inline (base64), with a caption.

        Raises:
            FileNotFoundError: the image does not exist (a report never silently drops a figure).
        """
        data = Path(path).read_bytes()
        encoded = base64.b64encode(data).decode("ascii")
        alt_text = html.escape(alt or caption or Path(path).name)
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{alt_text}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def raw(self, fragment: str) -> None:
        """Add a trusted HTML fragment as is (for code blocks built by the caller)."""
        self._parts.append(fragment)

    def render(self) -> str:
        """The whole document as a string."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body = "\n".join(self._parts)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p class=\"meta\">generated {stamp} by bandlimit</p>"
            f"{body}</body></html>\n"
        )

    def save(self, path: str | Path) -> Path:
        """Write the report atomically (temporary file, then rename) and return its path."""
        return atomic_write(path, self.render())
