"""Shared glue of the paper-reproduction scripts: the run, model slots, data, output folder, SUMMARY.md.

Nothing here is an experiment; the scripts in this folder import it (``from _common import ...``
works because Python puts the script's own folder on ``sys.path``). Everything reusable lives in
the packages; this file only wires them together the same way for every script.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import platform
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from _verdicts import Row
from torch import Tensor, nn

from bandlimit._io import write_json as _write_json
from bandlimit._torch import resolve_device
from bandlimit.cli.names import resolve_model
from bandlimit.data import load_dataset, to_tensors
from bandlimit.models import create_model, list_models, load_checkpoint

LOG = logging.getLogger("experiments")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
#: The team's offline data and weights; ``BANDLIMIT_SHARED`` points elsewhere (a device machine
#: has no ``../shared``: the files travel in a carried folder).
SHARED = Path(os.environ.get("BANDLIMIT_SHARED", REPO.parent / "shared"))
CIFAR_TEST_NPZ = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
CIFAR_TRAIN_NPZ = SHARED / "data" / "cifar10" / "train_lossless_4660.npz"
IMAGENET_TAR = SHARED / "data" / "imagenet" / "imagenet_samples_256.tar.gz"
#: Where the 1,000 shared ImageNet images are unpacked (git ignores ``.data/``).
IMAGENET_DIR = REPO / ".data" / "imagenet-samples"

#: The public natural ResNet-20 (pytorch_resnet_cifar10), trained by its authors on the 50,000
#: lossless CIFAR-10 training images.
PUBLIC_RESNET20 = SHARED / "weights" / "resnet20-12fca82f.th"
#: The lossless-trained CIFAR-10 models every frequency experiment uses, by slot (issue 13):
#: JPEG q75 removes the very frequencies these experiments measure. Override with
#: ``--natural PATH`` etc. Without ``../shared`` the natural slot falls back to the shipped
#: JPEG-trained ``resnet20-natural``, and every row then says so (:func:`trained_on`).
DEFAULT_SLOTS = {
    "natural": str(PUBLIC_RESNET20) if PUBLIC_RESNET20.is_file() else "resnet20-natural",
    "gaussian": "resnet20-gaussian-lossless",
    "adversarial": "resnet20-pgdat-lossless",
}
#: How the slots are named in tables.
SLOT_LABELS = {"natural": "natural", "gaussian": "Gaussian", "adversarial": "PGD-AT"}
#: ImageNet models the scripts use (offline weights of their packages).
IMAGENET_MODELS = ("efficientnet_lite0",)
HARDWARE_NOTE = "CPU: 2-core AMD EPYC (shared), no GPU"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The settings every CIFAR/ImageNet script shares; a script's ``Config`` adds its own."""

    seed: int = 0
    threads: int = 2
    device: str = "auto"  # bandlimit._torch.resolve_device: "auto", "cpu", "cuda", "cuda:N"
    out_dir: str = ""  # default experiments/results/<script name>/


def trained_on(spec: str) -> str:
    """The model behind ``spec`` and the data that trained it, in a few words, for a table's model column.

    Registry models are read from their model card's "training data" line; the public ResNets
    of ``../shared/weights`` are named as such; any other checkpoint is "unknown data".
    """
    name = Path(spec).name
    if name.startswith("resnet") and name.endswith(".th"):
        arch = name.split("-")[0]
        return f"public {arch} (natural; the authors' training on the 50,000 lossless CIFAR-10 training images)"
    if spec in IMAGENET_MODELS:
        return f"{spec} (pretrained on the ImageNet-1k training set)"
    try:
        from bandlimit.models.pretrained import model_card

        card = model_card(spec)
    except (KeyError, ValueError, FileNotFoundError, OSError):
        return f"{spec} (training data unknown)"
    line = next((ln for ln in card.splitlines() if ln.startswith("| training data |")), "")
    if "4,660 lossless" in line:
        data = "fine-tuned from the public ResNet-20 on the 4,660 lossless training images"
    elif "JPEG" in line:
        data = "JPEG q75 copy of the 50,000 CIFAR-10 training images"
    else:
        data = line.split("|")[2].strip() if line.count("|") >= 3 else "training data unknown"
    return f"{spec} ({data})"


# --------------------------------------------------------------------------- models and data
def load_model(spec: str, device: torch.device) -> nn.Module:
    """A model in eval mode from a registry name (shipped weights), a checkpoint path or ``pkg.mod:fn``."""
    path = Path(spec)
    if path.suffix == ".th" and path.is_file() and path.name.split("-")[0] in list_models():
        # The public pytorch_resnet_cifar10 weights carry no bandlimit metadata; their file name
        # (resnet20-12fca82f.th) names the architecture.
        model = load_checkpoint(path, create_model(path.name.split("-")[0]))
    else:
        model = resolve_model(spec, pretrained=True)
    LOG.info("model %s loaded", spec)
    return model.to(device).eval()


def cifar_test(n: int, device: torch.device, source: str = "auto") -> tuple[Tensor, Tensor, str]:
    """The first ``n`` CIFAR-10 test images: lossless shared copy when present, else the shipped sample.

    Args:
        n: Images wanted (capped at the size of the source, with a warning).
        device: Where the tensors go.
        source: ``"auto"``, or any :func:`bandlimit.data.load_dataset` name.
    """
    if source == "auto":
        source = f"npz:{CIFAR_TEST_NPZ}" if CIFAR_TEST_NPZ.is_file() else "cifar10-sample"
    data = load_dataset(source)
    if n > len(data):
        LOG.warning("%s holds %d images; using all of them instead of %d", source, len(data), n)
    x, y = to_tensors(data, n=min(n, len(data)))
    return x.to(device), y.to(device), shown(source)


def cifar_train(n: int, device: torch.device) -> tuple[Tensor, Tensor, str]:
    """``n`` lossless CIFAR-10 training images from ``../shared``, else the shipped *test* sample.

    Without the shared file there is no training set on disk; the returned source then names the
    test sample, and the caller must keep its own evaluation images apart (and say so).
    """
    source = f"npz:{CIFAR_TRAIN_NPZ}" if CIFAR_TRAIN_NPZ.is_file() else "cifar10-sample"
    data = load_dataset(source)
    x, y = to_tensors(data, n=min(n, len(data)))
    return x.to(device), y.to(device), shown(source)


def shown(source: str) -> str:
    """A data source as results name it: the shared folder's files as ``../shared/...`` on any machine."""
    return source.replace(f"{SHARED}/", "../shared/")


def imagenet_data(n: int, device: torch.device, source: str = "sample") -> tuple[Tensor, Tensor, str]:
    """``n`` ImageNet images at 224×224: the 32 shipped samples, or the 1,000 shared ones.

    Args:
        n: Images wanted (capped at what the source holds).
        device: Where the tensors go.
        source: ``"sample"`` (shipped, pre-cropped) or ``"shared"`` (``../shared`` tarball,
            unpacked once into ``.data/``, resize 256 / centre crop 224, one image per class).
    """
    if source == "sample":
        data = load_dataset("imagenet-sample")
        name = "imagenet-sample (32 shipped images)"
    elif source == "shared":
        if not IMAGENET_DIR.is_dir():
            if not IMAGENET_TAR.is_file():
                raise FileNotFoundError(f"expected the shared ImageNet images at {IMAGENET_TAR}; use --imagenet sample")
            IMAGENET_DIR.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(IMAGENET_TAR) as tar:
                tar.extractall(IMAGENET_DIR.parent, filter="data")
        data = load_dataset("imagenet", root=IMAGENET_DIR)
        name = f"shared ImageNet samples ({IMAGENET_DIR.relative_to(REPO)})"
    else:
        raise ValueError(f"imagenet source: expected 'sample' or 'shared', got {source!r}")
    x, y = to_tensors(data, n=min(n, len(data)))
    return x.to(device), y.to(device), name


def imagenet_model(device: torch.device, spec: str = "efficientnet_lite0") -> tuple[nn.Module | None, str]:
    """The offline EfficientNet-Lite0 (or ``spec``), or ``(None, why)`` when its packages are missing."""
    try:
        return load_model(spec, device), spec
    except (ImportError, FileNotFoundError) as err:
        LOG.warning("ImageNet model %s unavailable (%s); skipping the ImageNet part", spec, err)
        return None, f"skipped: {err}"


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    hits = [model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size] for i in range(0, len(x), batch_size)]
    correct = sum(int(h.sum()) for h in hits)
    return correct / max(len(x), 1)


@torch.no_grad()
def correct_subset(model: nn.Module, x: Tensor, y: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` images that ``model`` classifies correctly."""
    keep = torch.cat([model(x[i : i + 256]).argmax(1) == y[i : i + 256] for i in range(0, len(x), 256)])
    return x[keep][:n], y[keep][:n]


# --------------------------------------------------------------------------- output
def out_dir(name: str, override: str | None) -> Path:
    """``experiments/results/<name>/`` (or ``override``), created."""
    path = Path(override) if override else RESULTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """``bandlimit._io.write_json`` (atomic; NaN as the string "NaN"), indented as the scripts' files are."""
    _write_json(path, payload, indent=1)


def hardware(device: torch.device) -> str:
    """One line naming the machine the numbers come from."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    return f"CPU {platform.machine()}, {os.cpu_count()} cores visible, {torch.get_num_threads()} torch threads"


def pct(value: float | None) -> str:
    """``0.1234 -> '12.3%'`` (``'n/a'`` for None or NaN)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def write_summary(
    path: Path,
    *,
    title: str,
    command: str,
    setup: str,
    rows: Sequence[Row],
    figures: dict[str, str],
    notes: str = "",
) -> None:
    """SUMMARY.md: command, setup, the claim table (cells come from the JSON numbers), figures."""
    lines = [f"# {title}", "", "Reproduce:", "", f"    {command}", "", setup, ""]
    lines += [
        "| paper's claim | source | model (training data) | n | our number [95 % interval] | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.claim} | {r.source} | {r.model} | {r.n} | {r.ours} | {r.verdict} |" for r in rows]
    lines += [
        "",
        "Numbers: [`results.json`](results.json). The verdicts follow the rule at the top of "
        "RESULTS.md, with each row's comparisons in brackets; the script computes them.",
        "",
    ]
    if notes:
        lines += [notes, ""]
    lines += [f"![{caption}]({file})" for caption, file in figures.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_summary(
    paper: str,
    cfg: Any,
    data: str,
    context: dict[str, Any],
    *,
    device: torch.device,
    timer: Timer,
    results: Any,
    table: Sequence[Row],
    results_key: str = "results",
) -> dict[str, Any]:
    """The record a script writes to results.json, its keys in the one order all scripts share.

    Stops the clock first (``timer.seconds["total"]``), so that the record and the "Measured"
    sentence :func:`finish_run` adds to SUMMARY.md quote the same run time.

    Args:
        paper: The paper (and part of it) the script reproduces.
        cfg: The script's config dataclass, stored whole.
        data: Where the images came from (as the data loaders name it).
        context: Script-specific entries (models, the paper's numbers, ...), kept in their order
            between ``data`` and ``hardware``.
        device: The device the numbers were measured on.
        timer: The script's timer; its sections become ``runtime_s``.
        results: The measurements, stored under ``results_key``.
        table: The SUMMARY.md rows, stored as dicts under ``table``.
        results_key: The key of ``results`` (default ``"results"``).

    Returns:
        ``{paper, config, data, **context, hardware, runtime_s, <results_key>, table}``.
    """
    timer.seconds["total"] = timer.total()
    return {
        "paper": paper,
        "config": dataclasses.asdict(cfg),
        "data": data,
        **context,
        "hardware": hardware(device),
        "runtime_s": timer.seconds,
        results_key: results,
        "table": [dataclasses.asdict(r) for r in table],
    }


def finish_run(
    out: Path,
    summary: dict[str, Any],
    *,
    title: str,
    command: str,
    setup: str,
    figures: dict[str, str],
    notes: str = "",
) -> dict[str, Any]:
    """Write ``out/results.json`` and ``out/SUMMARY.md``, log the run time, and return ``summary``.

    SUMMARY.md's claim table is rendered from ``summary["table"]``, so it cannot disagree with results.json.

    Args:
        out: The script's output folder.
        summary: The record from :func:`run_summary` (its ``table``, ``runtime_s["total"]`` and
            ``hardware`` go into SUMMARY.md).
        title: SUMMARY.md's heading.
        command: The command that reproduces the run.
        setup: The setup paragraph; the sentence "Measured: N s on HARDWARE." is appended to it.
        figures: Caption to file name of each figure in ``out``.
        notes: An optional paragraph after the table.

    Returns:
        ``summary``, unchanged (the scripts' ``main`` returns it).
    """
    seconds = save_results(out, summary)
    write_summary(
        out / "SUMMARY.md",
        title=title,
        command=command,
        setup=f"{setup} Measured: {seconds:.0f} s on {summary['hardware']}.",
        rows=[Row(**row) for row in summary["table"]],
        figures=figures,
        notes=notes,
    )
    return summary


def save_results(out: Path, summary: dict[str, Any]) -> float:
    """Write ``out/results.json`` and log the run time (``summary["runtime_s"]["total"]``); returns it."""
    seconds = summary["runtime_s"]["total"]
    write_json(out / "results.json", summary)
    LOG.info("done in %.0f s; results in %s", seconds, out)
    return seconds


class Run:
    """One run of a script: the opening and the closing every script shares.

    Making it sets torch's thread count, resolves the device, creates the output folder and
    starts the clock; :meth:`finish` writes results.json and SUMMARY.md.

    Args:
        name: The script's name (its results folder and command).
        cfg: The script's config (a :class:`RunConfig`).
        scale: What ``--full`` gives, for the command line quoted in SUMMARY.md.
    """

    def __init__(self, name: str, cfg: RunConfig, *, scale: str = "paper scale") -> None:
        torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.out = out_dir(name, cfg.out_dir)
        self.timer = Timer()
        # Thread counts change the order of float sums (training runs can then differ in the last
        # digits), so a run made at other than the default threads says so in its command.
        threads = "" if cfg.threads == type(cfg)().threads else f" --threads {cfg.threads}"
        self.command = f"python experiments/{name}.py{threads}   # add --full for {scale}"

    def finish(
        self,
        paper: str,
        data: str,
        context: dict[str, Any],
        *,
        results: Any,
        table: Sequence[Row],
        title: str,
        setup: str,
        figures: dict[str, str],
        notes: str = "",
        results_key: str = "results",
    ) -> dict[str, Any]:
        """:func:`run_summary` then :func:`finish_run` for this run; returns the summary."""
        summary = run_summary(
            paper,
            self.cfg,
            data,
            context,
            device=self.device,
            timer=self.timer,
            results=results,
            table=table,
            results_key=results_key,
        )
        return finish_run(
            self.out, summary, title=title, command=self.command, setup=setup, figures=figures, notes=notes
        )


# --------------------------------------------------------------------------- command line
def parse_config(cls: type, description: str, full: dict[str, Any], argv: Sequence[str] | None = None) -> Any:
    """Build ``cls`` (a frozen dataclass) from the command line: ``--full`` then per-field overrides.

    Every field becomes an option (``--field-name``); tuples take comma-separated values and
    booleans ``--flag/--no-flag``. ``--full`` starts from the paper-scale values in ``full``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--full", action="store_true", help="paper-scale settings (GPU-sized; see the docstring)")
    defaults = cls()
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(default, tuple):
            kind = type(default[0]) if default else str
            parser.add_argument(flag, type=lambda s, k=kind: tuple(k(v) for v in s.split(",") if v), default=None)
        elif isinstance(default, (int, float)):
            parser.add_argument(flag, type=type(default), default=None)
        else:
            parser.add_argument(flag, type=str, default=None)
    args = vars(parser.parse_args(argv))
    base = dataclasses.replace(defaults, **full) if args.pop("full") else defaults
    return dataclasses.replace(base, **{k: v for k, v in args.items() if v is not None})


class Timer:
    """Wall-clock sections: ``with timer("heatmap"): ...``; ``timer.seconds`` maps name to seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()
        self._name = ""

    def __call__(self, name: str) -> Timer:
        self._name = name
        return self

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds[self._name] = round(time.perf_counter() - self._t0, 1)

    def total(self) -> float:
        """Seconds since the timer was made."""
        return round(time.perf_counter() - self._start, 1)


def run_main(cls: type, doc: str | None, full: dict[str, Any], main: Callable[[Any], object]) -> None:
    """A script's ``__main__``: log at INFO with times, then run ``main`` on the command-line config.

    Args:
        cls: The script's config dataclass.
        doc: The script's docstring; its first line describes the command.
        full: The paper-scale values ``--full`` selects.
        main: The script's entry point.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(parse_config(cls, doc.splitlines()[0] if doc else "", full))
