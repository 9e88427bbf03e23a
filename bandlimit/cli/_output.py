"""What a command shows and writes: progress bars, sections of results, the HTML report.

:func:`run_in_one_process` is the whole life of the commands that run in one process
(``heatmap``, ``spectrum``): load, analyse, write the folder and the report, show.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandlimit._io import jsonable
from bandlimit._progress import Progress, progress_bar

__all__ = ["Reporter", "Section", "run_in_one_process", "show", "write_report"]


@dataclass(frozen=True)
class Reporter:
    """Progress bars for the harness's ``progress(description, completed, total)`` callbacks.

    Shown only when ``enabled`` (no ``--quiet``, rank 0 under torchrun): a bar on a terminal,
    plain progress lines elsewhere (a log file, CI, ``nohup``; see
    :func:`bandlimit._progress.progress_bar`), so a redirected run shows what it is doing.
    """

    enabled: bool

    @contextlib.contextmanager
    def task(self, title: str) -> Iterator[Progress | None]:
        """A bar for one long loop; yields the callback to pass to the harness (None: no bar)."""
        from bandlimit.cli import console

        with progress_bar(title, enabled=self.enabled, console=console) as update:
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


def print_panel(console: Any, panel: Any) -> None:
    """Print a coloured-block panel (a heat map) in a terminal; in a log, one line saying where it is.

    Without colour the blocks are a solid rectangle of characters that says nothing.
    """
    if console.is_terminal:
        console.print(panel)
    else:
        console.print("(the coloured panel is drawn in a terminal only; see the figures and report.html)")


def show(sections: Sequence[Section]) -> None:
    """Print sections to the terminal (tables, notes, warnings, panels)."""
    from bandlimit.cli import console
    from bandlimit.reports import results_table

    for s in sections:
        console.rule(f"[bold]{s.title}")
        for title, rows, columns, percent in s.tables:
            console.print(results_table(rows, title=title, columns=columns, percent=percent))
        if s.panel is not None:
            print_panel(console, s.panel)
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
    return folder.write_text("report.html", report.render())


def run_in_one_process(
    command: str,
    settings: dict[str, Any],
    analyse: Callable[[Any, Any, Reporter, Any], list[Section]],
    *,
    files: str,
    check: Callable[[Any], None] | None = None,
) -> int:
    """Run ``bandlimit COMMAND`` on ``settings`` (resolved) in this one process; returns the exit code 0.

    Checks the output folder, loads the model and the data, calls ``check(data)`` (settings
    that depend on the images), then, with the folder started, ``analyse(model, data,
    reporter, folder)`` (it writes its JSON files first, then draws its figures, and returns
    its sections), then writes ``config.toml``, ``environment.json`` and ``report.html``,
    shows the sections and names the folder and its ``files``.

    Raises:
        ValueError: launched under torchrun, or bad settings (see :mod:`bandlimit.cli.names`).
        RunStopped: Ctrl-C or a full disk during the work (the message says what was written).
    """
    import os

    from bandlimit._threads import set_threads
    from bandlimit.cli import _dist, console, names
    from bandlimit.cli._runs import RunFolder
    from bandlimit.cli._settings import replayable

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(f"bandlimit {command} runs in one process; launch it without torchrun")
    device = _dist.device_of(settings.get("device"))
    set_threads(settings.get("threads"))
    folder = RunFolder.prepare(settings.get("out"), command, overwrite=bool(settings.get("overwrite")))
    settings["out"] = str(folder.path)
    model = names.load_model(settings, device)
    data = names.load_data(settings)
    if check is not None:
        check(data)
    with folder.guard():
        folder.start()
        sections = analyse(model, data, Reporter(not settings.get("quiet")), folder)
        folder.write_config(replayable(settings))
        folder.write_environment(device)
        write_report(folder, f"bandlimit {command}: {settings['model']}", sections, settings)
    show(sections)
    console.print(f"[dim]results: {folder.path}/ ({files})[/]")
    return 0
