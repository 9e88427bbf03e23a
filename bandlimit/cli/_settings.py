"""Options and helpers shared by ``bandlimit evaluate``, ``heatmap`` and ``spectrum``.

Settings come from, in order of precedence: the command line, a TOML file given with
``--config`` (keys are the long option names, ``-`` or ``_``), then each command's defaults.
Every option therefore defaults to ``None`` in argparse; :func:`resolve_settings` merges.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib

__all__ = [
    "EPILOG",
    "Reporter",
    "Section",
    "add_common_options",
    "build_attacks",
    "dist_setup",
    "eps_text",
    "load_data",
    "load_model",
    "model_device",
    "pick_device",
    "print_findings",
    "replayable",
    "resolve_settings",
    "shard",
    "show",
    "write_report",
]

logger = logging.getLogger(__name__)

#: Shown under every command's --help.
EPILOG = (
    "Exit status: 0 done, 2 bad input (the message names the fix), 3 stopped early by --budget "
    "(results written, marked incomplete), 130 interrupted by Ctrl-C (results written, marked incomplete)."
)

#: Keys of the parsed arguments that are not settings.
_NOT_SETTINGS = {"func", "command", "verbose", "config"}


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Model, data and execution options (every default None so --config can fill them)."""
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        help="registry name (`bandlimit models`), a checkpoint file, or pkg.module:build "
        "(a function returning an nn.Module on [0,1] images)",
    )
    m.add_argument("--checkpoint", help="load these weights into --model (must match its architecture)")
    m.add_argument(
        "--defense",
        action="append",
        metavar="SPEC",
        help="wrap the model, innermost first (repeatable): postavg:radius=0.5,samples=15, "
        "lowpass:bandwidth=16, highpass:bandwidth=8, smooth:rho=0.25",
    )
    d = p.add_argument_group("data")
    d.add_argument("--data", help="cifar10-sample (default), cifar10, imagenet, imagenet-sample, folder:PATH, npz:PATH")
    d.add_argument("--data-root", help="folder of cifar10 / imagenet (default $BANDLIMIT_DATA)")
    d.add_argument("--split", choices=("test", "train", "val"), help="split (default test)")
    d.add_argument("--n", type=int, help="use the first N samples (default: all)")
    e = p.add_argument_group("execution")
    e.add_argument("--batch-size", type=int, help="images per batch (default 128)")
    e.add_argument("--device", help="auto (default) | cpu | cuda | cuda:N")
    e.add_argument("--seed", type=int, help="seed of every random draw (default 0)")
    e.add_argument("--out", help="results folder (default runs/<command>-<timestamp>)")
    e.add_argument("--config", help="TOML file whose keys (option names) set defaults for these options")
    e.add_argument("--quiet", action="store_const", const=True, default=None, help="no progress bars")


def _load_toml(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config: expected a TOML file, got missing path {str(file)!r}")
    try:
        with file.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config: {file} is not valid TOML ({exc}); fix the file") from exc
    actions = {
        a.dest: a for a in parser._actions if a.dest not in _NOT_SETTINGS | {"help"} and not a.dest.startswith("_")
    }
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            raise ValueError(f"--config: unknown key {key!r} in {file}; expected some of {sorted(actions)}")
        if isinstance(action, argparse._AppendAction):
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"--config: {key} expected a string or a list of strings, got {value!r}")
        elif isinstance(value, str) and callable(action.type):
            value = action.type(value)
        if action.choices is not None and value not in action.choices:
            raise ValueError(f"--config: {key} expected one of {list(action.choices)}, got {value!r}")
        values[dest] = value
    return values


def resolve_settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge the command line over the ``--config`` TOML over ``defaults``."""
    given = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS and not k.startswith("_")}
    merged = {**{k: None for k in given}, **defaults}
    if getattr(args, "config", None):
        merged.update(_load_toml(args.config, parser))
    merged.update({k: v for k, v in given.items() if v is not None})
    for key, low in (("n", 1), ("batch_size", 1), ("seed", 0)):
        value = merged.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ValueError(f"--{key.replace('_', '-')}: expected an integer >= {low}, got {value!r}")
    return merged


def replayable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to write as ``config.toml``: ``--config`` of it repeats the run elsewhere.

    ``out`` and ``resume`` are left out (they say where and how, not what, to run).
    """
    return {k: v for k, v in settings.items() if k not in ("out", "resume")}


# ----------------------------------------------------------------------- model and data
def pick_device(spec: str | None, local_rank: int = 0) -> torch.device:
    """``auto`` (or None): the CUDA device of this rank when CUDA is present, else the CPU."""
    if spec in (None, "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"--device: expected auto, cpu, cuda or cuda:N, got {spec!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: CUDA is not available on this machine; use --device cpu")
    return device


def load_model(settings: Mapping[str, Any], device: torch.device) -> nn.Module:
    """The model of ``--model`` (+ ``--checkpoint``) wrapped by the ``--defense`` chain, in eval mode."""
    from bandlimit.app import apply_defenses, resolve_model
    from bandlimit.models import load_checkpoint

    spec = settings.get("model")
    if not spec:
        raise ValueError(
            "--model: expected a registry name (see `bandlimit models`), a checkpoint file or pkg.module:build, "
            "got nothing"
        )
    model = resolve_model(str(spec))
    if settings.get("checkpoint"):
        try:
            model = load_checkpoint(settings["checkpoint"], model)
        except ValueError as exc:
            raise ValueError(
                f"--checkpoint does not match --model {spec!r}: {exc}; pass the --model the checkpoint was "
                "trained with (or the checkpoint alone as --model)"
            ) from exc
    model = apply_defenses(model, list(settings.get("defense") or []))
    return model.to(device).eval()


def load_data(settings: Mapping[str, Any]) -> Any:
    """The Dataset of ``--data`` / ``--split`` / ``--data-root``, cut to ``--n`` samples."""
    from bandlimit.data import load_dataset

    name = settings.get("data") or "cifar10-sample"
    try:
        return load_dataset(name, settings.get("data_root"), settings.get("split") or "test", n=settings.get("n"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"--data {name!r}: {exc} (use --data cifar10-sample for the shipped sample, or --data-root)"
        ) from exc


def image_shape(data: Any) -> tuple[int, ...]:
    """``(C, H, W)`` of the first sample."""
    x, _ = data[0]
    return tuple(x.shape)


def eps_text(eps: float, norm: str) -> str:
    """``8/255`` for L∞ budgets on the 1/255 grid, else 4 significant digits."""
    k = eps * 255
    if norm == "linf" and abs(k - round(k)) < 1e-6 and round(k) > 0:
        return f"{round(k)}/255"
    return f"{eps:.4g}"


def build_attacks(specs: Sequence[str], eps_list: Sequence[float], norm: str) -> list[Any]:
    """Attacks from ``NAME[:k=v,...]`` specs; those without an explicit budget once per eps."""
    from bandlimit.app import ATTACKS, build_attack, parse_spec

    attacks = []
    for spec in specs:
        name, kwargs = parse_spec(spec)
        entry = ATTACKS.get(name)
        if entry is None or entry.eps_param is None or entry.eps_param in kwargs:
            attacks.append(build_attack(spec, norm=norm))  # unknown names raise here
            continue
        attacks.extend(build_attack(spec, eps=eps, norm=norm) for eps in eps_list)
    return attacks


# ------------------------------------------------------------------------------ torchrun
def dist_setup(device_spec: str | None) -> tuple[Any, torch.device]:
    """Initialise the process group under torchrun; returns ``(DistInfo, device)``."""
    from bandlimit.training.distributed import setup

    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_spec, local)
    return setup(device), device


def shard(data: Any, info: Any, batch_size: int) -> tuple[Any, int]:
    """This rank's contiguous slice of ``data`` and the position of its first sample.

    The slices are made of whole batches of ``batch_size`` (the evaluation's batches): rank
    ``r`` gets batches ``[r·B/W, (r+1)·B/W)`` of the ``B`` batches (``W`` processes), so every
    slice starts on a single-process batch boundary, sizes differ by at most one batch, and
    with ``index_offset`` set to the returned position the ranks draw exactly the random
    numbers of a single-process run (see :func:`bandlimit.evaluation.evaluate`). Returns
    ``(data, 0)`` when not distributed.

    Raises:
        ValueError: fewer batches than processes (a rank would get no samples; an idle rank
            is refused rather than skipped, so the user can run fewer processes instead).
    """
    if not info.enabled:
        return data, 0
    total = len(data)
    n_batches = math.ceil(total / batch_size)
    if n_batches < info.world_size:
        raise ValueError(
            f"torchrun: {total} samples make {n_batches} batch(es) of --batch-size {batch_size}, fewer than the "
            f"{info.world_size} processes (each needs at least one whole batch); run with at most "
            f"{max(n_batches, 1)} processes (--nproc_per_node), a smaller --batch-size or a larger --n"
        )
    first = info.rank * n_batches // info.world_size * batch_size
    end = min(total, (info.rank + 1) * n_batches // info.world_size * batch_size)
    positions = range(first, end)
    if hasattr(data, "subset"):
        return data.subset(positions), first
    return torch.utils.data.Subset(data, list(positions)), first


def broadcast_path(path: Path, info: Any) -> Path:
    """Rank 0's ``path`` on every rank (default folder names hold a timestamp)."""
    if not info.enabled:
        return path
    import torch.distributed as dist

    box = [str(path)]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


# ------------------------------------------------------------------------------- output
class Reporter:
    """Rich progress bars for the harness's ``progress(description, completed, total)`` callbacks.

    Disabled (a no-op) when stdout is not a terminal, with ``--quiet``, or on ranks other
    than 0, so logs and CI output stay clean.
    """

    def __init__(self, enabled: bool) -> None:
        from bandlimit.cli import console

        self.enabled = enabled and console.is_terminal
        self._progress: Any = None
        self._console = console

    @contextlib.contextmanager
    def task(self, title: str) -> Iterator[Any]:
        """A progress bar for one long loop; yields the callback to pass to the harness."""
        if not self.enabled:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.fields[title]}[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        ) as progress:
            task_id = progress.add_task("", total=None, title=title)

            def update(description: str, completed: int, total: int) -> None:
                progress.update(task_id, description=description, completed=completed, total=total or None)

            yield update


def print_findings(findings: Sequence[Any]) -> None:
    """The gradient-masking warnings in plain words, each with what to do and where to read more."""
    from bandlimit.cli import console

    if not findings:
        console.print("[green]No gradient-masking warning.[/]")
        return
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        console.print(f"[bold {colour}]{f.severity.upper()} ({f.code}):[/] {f.message}")
        console.print(f"  [bold]What to do:[/] {f.advice}")
        if f.doc:
            console.print(f"  [dim]More: {f.doc}[/]")


# ------------------------------------------------------------------------------ sections
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
    import html
    import json

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
    report.raw(f"<pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre>")
    env = folder.file("environment.json")
    if env.is_file():
        report.heading("Environment")
        report.raw(f"<pre>{html.escape(env.read_text(encoding='utf-8'))}</pre>")
    return report.save(folder.file("report.html"))


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for t in [*model.parameters(), *model.buffers()]:
        return t.device
    return torch.device("cpu")
