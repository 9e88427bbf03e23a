"""What a command shows and writes: progress bars, sections of results, the HTML report."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandlimit._io import jsonable
from bandlimit._progress import Progress, progress_bar

__all__ = ["Reporter", "Section", "show", "write_report"]


@dataclass(frozen=True)
class Reporter:
    """Progress bars for the harness's ``progress(description, completed, total)`` callbacks.

    Bars are drawn only when ``enabled`` (no ``--quiet``, rank 0 under torchrun) and stdout
    is a terminal, so logs and CI output stay clean.
    """

    enabled: bool

    @contextlib.contextmanager
    def task(self, title: str) -> Iterator[Progress | None]:
        """A bar for one long loop; yields the callback to pass to the harness (None: no bar)."""
        from bandlimit.cli import console

        with progress_bar(title, enabled=self.enabled and console.is_terminal, console=console) as update:
            yield update


@dataclass
class Section:
    """One block of output, shown in the terminal and in ``report.html`` alike.

    Attributes:
        title: Heading.
        tables: ``(title, rows, columns, percent_columns)`` per table.
        figures: Names of figures drawn into the run folder (``RunFolder.figure``).
        notes: Plain-text paragraphs; ``warnings`` are highlighted.
        panel: An extra rich renderable for the terminal only (e.g. the heat map).
    """

    title: str
    tables: list[tuple[str, list[dict[str, Any]], list[str], list[str]]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    panel: Any = None


def show(sections: Sequence[Section]) -> None:
    """Print sections to the terminal (tables, notes, warnings, panels)."""
    from bandlimit.cli import console
    from bandlimit.reports import results_table

    for s in sections:
        console.rule(f"[bold]{s.title}")
        for title, rows, columns, percent in s.tables:
            console.print(results_table(rows, title=title, columns=columns, percent=percent))
        if s.panel is not None:
            console.print(s.panel)
        for text in s.warnings:
            console.print(f"[bold yellow]{text}[/]")
        for text in s.notes:
            console.print(text, markup=False, highlight=False)


def write_report(
    folder: Any, title: str, sections: Sequence[Section], settings: Mapping[str, Any], *, incomplete: str | None = None
) -> Path:
    """Write ``report.html``: an incomplete banner if any, the sections, the config and environment."""
    from bandlimit.reports import HtmlReport

    report = HtmlReport(title)
    if incomplete:
        report.paragraph(incomplete, css="incomplete")
    for s in sections:
        report.heading(s.title)
        for text in s.warnings:
            report.warning(text)
        for text in s.notes:
            report.paragraph(text)
        for caption, rows, columns, percent in s.tables:
            report.table(rows, columns=columns, percent=percent, caption=caption)
        for name in s.figures:
            report.image(folder.figures[name], caption=folder.captions.get(name, ""))
    report.heading("Configuration")
    config = {k: v for k, v in settings.items() if v is not None}
    report.raw(f"<pre>{html.escape(json.dumps(jsonable(config), indent=2))}</pre>")
    env = folder.file("environment.json")
    if env.is_file():
        report.heading("Environment")
        report.raw(f"<pre>{html.escape(env.read_text(encoding='utf-8'))}</pre>")
    return report.save(folder.file("report.html"))
