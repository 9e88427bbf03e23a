"""``bandlimit heatmap``: Fourier heat map of a model (Yin et al. 2019).

Examples::

    bandlimit heatmap --model resnet20-natural --n 1000                 # v = 4 on 32×32
    bandlimit heatmap --model tv_resnet50 --data imagenet --n 500 --cells central:63   # v = 15.7
    bandlimit heatmap --model ckpt.pt --norm-l2 8 --no-random-sign --no-clip

For every centred frequency cell the images get Fourier-basis noise of L2 norm ``v`` (per
channel, random sign per image and channel unless ``--no-random-sign``, clipped to [0, 1]
unless ``--no-clip``); the map shows the error rate per cell, DC in the centre. Writes
``results.json`` (the map), ``figures/heatmap.png``, ``report.html`` and ``config.toml``,
and draws the map in the terminal.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from bandlimit.cli import _output, names
from bandlimit.cli._settings import COMMON_DEFAULTS, add_command, resolve_settings

__all__ = ["check_settings", "heatmap_section", "register", "run"]

DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "batch_size": 256,
    "random_sign": True,
    "clip": True,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``heatmap`` sub-command."""
    summary = "Fourier heat map: error rate under Fourier-basis noise per frequency (PNG, terminal, JSON)"
    p = add_command(subparsers, "heatmap", run, help=summary, doc=__doc__, common=True)
    h = p.add_argument_group("heat map")
    h.add_argument("--norm-l2", type=float, metavar="V", help="L2 norm of the noise (default 4 on 32×32, 15.7 on 224)")
    h.add_argument("--cells", help="central:K for the centred K×K block of cells only (default: all)")
    h.add_argument(
        "--no-random-sign", dest="random_sign", action="store_const", const=False, default=None,
        help="one sign for all images and channels (default: a random sign per image and channel)",
    )  # fmt: skip
    h.add_argument(
        "--no-clip", dest="clip", action="store_const", const=False, default=None,
        help="do not clip the noisy images to [0, 1] (Yin et al.'s code; default: clipped)",
    )  # fmt: skip


def check_settings(settings: dict[str, Any], shape: tuple[int, ...] | None = None) -> None:
    """Refuse a bad ``--norm-l2`` or ``--cells`` before any work (``shape``: ``(C, H, W)`` once known).

    Raises:
        ValueError: naming the option and the fix.
    """
    v = settings.get("norm_l2")
    if v is not None and not (math.isfinite(v) and v > 0):
        raise ValueError(f"--norm-l2: expected a positive noise norm such as 4 (CIFAR) or 15.7 (ImageNet), got {v}")
    cells = settings.get("cells")
    if cells is None:
        return
    kind, _, size = str(cells).partition(":")
    if kind != "central" or not size.isdigit() or int(size) < 1:
        raise ValueError(f"--cells: expected central:K with K >= 1 (e.g. central:63), got {cells!r}")
    if shape is not None and int(size) > min(shape[-2:]):
        h, w = shape[-2:]
        raise ValueError(
            f"--cells {cells}: expected K <= {min(h, w)} (the images are {h}×{w}, so the map has {h}×{w} cells); "
            "omit --cells for every cell"
        )


def heatmap_section(
    model: Any,
    data: Any,
    settings: dict[str, Any],
    reporter: _output.Reporter,
    folder: Any,
    *,
    n: int | None,
    json_name: str,
) -> tuple[Any, _output.Section]:
    """Compute the heat map, write it to ``json_name``, draw its figure; returns the result and its section.

    The numbers are written before the figure is drawn: a run that fails to draw (a full
    disk) keeps them.
    """
    from bandlimit._torch import model_device
    from bandlimit.evaluation import fourier_heatmap, fourier_noise_norm
    from bandlimit.reports import heatmap_panel, plot_heatmaps

    shape = names.image_shape(data)
    check_settings(settings, shape)
    v = settings.get("norm_l2")
    v = float(v) if v is not None else fourier_noise_norm(int(shape[-1]))
    with reporter.task("heat map") as progress:
        result = fourier_heatmap(
            model,
            data,
            norm=v,
            cells=settings.get("cells"),
            random_sign=settings.get("random_sign", True),
            clip=settings.get("clip", True),
            n=n,
            batch_size=settings["batch_size"],
            device=model_device(model),
            seed=settings["seed"],
            progress=progress,
        )
    folder.write_json(json_name, result)
    flags = f"random sign {'on' if result.random_sign else 'off'}, clip {'on' if result.clip else 'off'}"
    caption = (
        f"Fourier heat map: error rate under Fourier-basis noise of L2 norm {v:.4g} on {result.n} images "
        f"(DC in the centre; {flags})"
    )
    folder.figure(
        "heatmap", plot_heatmaps, {"error rate": result.error}, caption=caption, title=f"Fourier heat map, v = {v:.4g}"
    )
    finite = result.error[result.error == result.error]
    row = {
        "images": result.n,
        "noise L2 norm": v,
        "cells": result.cells_evaluated,
        "clean accuracy": result.clean_accuracy,
        "mean error": float(finite.mean()) if finite.numel() else float("nan"),
        "max error": float(finite.max()) if finite.numel() else float("nan"),
    }
    section = _output.Section(
        "Fourier heat map",
        tables=[("Fourier heat map", [row], list(row), ["clean accuracy", "mean error", "max error"])],
        figures=["heatmap"],
        panel=heatmap_panel(result.error, title=f"Fourier heat map (error rate, v = {v:.4g})"),
    )
    return result, section


def run(args: argparse.Namespace) -> int:
    """Run ``bandlimit heatmap``; returns the exit code."""
    settings = resolve_settings(args, args._parser, DEFAULTS)
    check_settings(settings)

    def analyse(model: Any, data: Any, reporter: _output.Reporter, folder: Any) -> list[_output.Section]:
        _, section = heatmap_section(
            model, data, settings, reporter, folder, n=settings.get("n"), json_name="results.json"
        )
        return [section]

    return _output.run_in_one_process(
        "heatmap",
        settings,
        analyse,
        files="results.json, figures/heatmap.png, report.html",
        check=lambda data: check_settings(settings, names.image_shape(data)),
    )
