"""Yin et al. 2019, "A Fourier Perspective on Model Robustness in Computer Vision" (NeurIPS), CIFAR-10.

Reproduces the paper's CIFAR-10 figures on three lossless-trained ResNet-20s (``DEFAULT_SLOTS``
of ``_common``: the public natural ResNet-20, ``resnet20-gaussian-lossless`` and the PGD
adversarially trained ``resnet20-pgdat-lossless``; JPEG removes the frequencies measured here):

1. **Fourier heat maps**: error under ``v * r * U(i, j)`` noise, v = 4 per channel, random sign
   per image and channel, clipped to [0, 1]. Images are the independent unit (every cell reuses
   them), so each image gets its own map (``_yin.image_heatmaps``); its *ring errors* are its
   mean error over the lowest ring of cells (Chebyshev radius <= 1), a mid ring (7-9) and the
   highest ring (>= 14), and every interval is a bootstrap over images (paired between models:
   same images, same noise signs). The low ring is also reported as its *rise* over the model's
   own clean error, since a model with lower clean accuracy has a higher error everywhere.
2. **Low-pass / high-pass accuracy** (keep / remove the centred B x B square of the spectrum),
   Wilson intervals; the table quotes B = 9. The paper's high-pass x-axis convention is
   unverified (papers.md §1), so the high-pass curve is drawn against B and against N - B.
3. **Spectra of PGD perturbations** (L∞ 8/255, 20 steps) of the natural and PGD-AT models on the
   images both classify correctly: fraction of each image's perturbation energy in the low /
   mid / high band (edges 0.25 and 0.5 of Nyquist), mean over images with a bootstrap interval.
4. **Corruptions** (ours, ``bandlimit.corruptions``, severity 3; not the published
   CIFAR-10-C): accuracy of every model (Wilson) and each training's change over natural
   training per corruption (Newcombe); the spectra of C(X) - X and the Spearman correlation of
   their high-frequency energy fraction with the accuracy change are drawn, not judged.

Claims (papers.md §1): the natural model has high error at all but the lowest frequencies;
Gaussian and adversarial training are robust at high frequencies but *more* sensitive at low
ones; adversarial training moves PGD perturbation energy to low frequencies; Gaussian and
adversarial training help on high-frequency corruptions (noise, blur) and hurt on low-frequency
ones (fog, contrast) (the abstract). Absolute numbers (WRN-28-10) are not expected.

Data: the 1,028 lossless CIFAR-10 test images of ``../shared`` when present, else the shipped
600-image ``cifar10-sample`` (the JSON says which). Defaults (CPU scale): 48 images per
heat-map cell (x 1,024 cells x 3 models), 500 filtered images x 11 bandwidths, 200 PGD images,
500 corrupted images; 150 s measured at one thread on an otherwise idle 2-core AMD EPYC (343 s
when it was shared with other jobs, load average about 4). ``--full``: 1,000 heat-map images (1.5 M ResNet-20 forwards
in 3,000 per-image heat-map calls), every test image for filtering (all 17 bandwidths) and
corruptions, and up to 1,000 PGD images (capped by the images both models classify correctly: at
most the 614 that PGD-AT does); estimated at a few minutes on one H100/H200 (not measured: this run had no GPU).

Run: ``python experiments/yin_fourier_perspective.py`` (writes experiments/results/yin_fourier_perspective/).
Smoke: ``--natural ckpt.pt --gaussian ckpt.pt --adversarial ckpt.pt`` replaces the models.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from _common import DEFAULT_SLOTS, SLOT_LABELS, Run, RunConfig, accuracy, cifar_test, load_model, run_main, trained_on
from _verdicts import Row, combine, diff, rate, rate_of
from _yin import boot, chebyshev_radius, correct_mask, image_heatmaps, measure, paired, ring_means
from scipy.stats import spearmanr
from torch import Tensor, nn

from attacks import PGD
from bandlimit.corruptions import CORRUPTIONS, corrupt
from bandlimit.evaluation import filtered_accuracy, perturbation_spectrum
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth, plot_heatmaps, plot_radial_profiles, plot_spectra
from bandlimit.spectral import fft2c, fourier_band_mask, high_frequency_fraction, mean_spectrum

LOG = logging.getLogger("yin_fourier_perspective")
NAME = "yin_fourier_perspective"
SLOTS = ("natural", "gaussian", "adversarial")
TRAINED = ("gaussian", "adversarial")  # the two trainings the paper compares with natural training
RINGS = {"low": (0, 1), "mid": (7, 9), "high": (14, 99)}  # Chebyshev radius ranges, inclusive
BANDS = ("low", "mid", "high")
BAND_EDGES = (0.25, 0.5)  # low band < 0.25, high band >= 0.5 of Nyquist (the library's default)
LOW_FREQUENCY_CORRUPTIONS = ("fog", "contrast")


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    natural: str = DEFAULT_SLOTS["natural"]  # registry name, checkpoint path or pkg.mod:fn
    gaussian: str = DEFAULT_SLOTS["gaussian"]
    adversarial: str = DEFAULT_SLOTS["adversarial"]
    data: str = "auto"  # "auto": lossless shared test images, else cifar10-sample
    heatmap_images: int = 48  # images per cell (paper: a test subset, size unverified)
    heatmap_norm: float = 4.0  # v, L2 norm per channel (CIFAR-10 value)
    heatmap_cells: str = ""  # "" = the full 32x32 grid; "central:K" = a K x K subset
    filter_images: int = 500
    # Bandwidths B of the filtering sweep (CPU scale: 11; --full: every odd B, as the library's default).
    bandwidths: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0, 9.0, 13.0, 17.0, 21.0, 25.0, 29.0, 32.0)
    report_bandwidth: float = 9.0  # B quoted in the table: keep / remove the centred 9x9 square
    spectrum_images: int = 200
    pgd_eps: float = 8 / 255
    pgd_steps: int = 20
    corruption_images: int = 500
    severity: int = 3
    hf_bandwidth: float = 8.0  # hf fraction = energy outside |k| <= B/2 per axis (B = N/4)
    batch_size: int = 256


FULL = {
    "heatmap_images": 1000,
    "filter_images": 1028,
    "bandwidths": (*(float(b) for b in range(1, 32, 2)), 32.0),
    "spectrum_images": 1000,
    "corruption_images": 1028,
}


# --------------------------------------------------------------------------- experiments
def ring_masks(h: int, w: int) -> dict[str, Tensor]:
    """The cells of the low, mid and high rings of :data:`RINGS` on an ``h x w`` map."""
    d = chebyshev_radius(h, w)
    return {k: (d >= lo) & (d <= hi) for k, (lo, hi) in RINGS.items()}


def ring_errors(error: Tensor) -> dict[str, float]:
    """Mean of a ``(H, W)`` map over each ring (evaluated cells only)."""
    return {k: float(error[m].nanmean()) for k, m in ring_masks(*error.shape).items()}


def heatmaps(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Per-image heat maps of every model; ring errors, clean error and the comparisons, with intervals."""
    x, y = x[: cfg.heatmap_images], y[: cfg.heatmap_images]
    per: dict[str, dict[str, Tensor]] = {}
    out: dict[str, Any] = {"n": len(x)}
    for slot, model in models.items():
        maps, clean = image_heatmaps(model, x, y, norm=cfg.heatmap_norm, cells=cfg.heatmap_cells or None, seed=cfg.seed)
        rings = {k: ring_means(maps, m) for k, m in ring_masks(*maps.shape[-2:]).items()}
        # Rise of the low ring over the model's own clean error, image by image.
        per[slot] = {**rings, "clean_error": 1 - clean, "rise": rings["low"] - (1 - clean)}
        pooled = maps.nanmean(dim=0)  # the map of the figure (NaN where not evaluated)
        out[slot] = {
            "error": pooled,
            "rings_of_pooled_map": ring_errors(pooled),  # = the means of the per-image ring errors
            "cells_evaluated": int((~maps[0].isnan()).sum()),
            "clean_accuracy": rate(int(clean.sum()), len(clean)).as_dict(),
            "rings": {k: boot(v).as_dict() for k, v in rings.items()},
            "rise_low": boot(per[slot]["rise"], "diff").as_dict(),
            "per_image": {k: v.tolist() for k, v in per[slot].items()},
        }
        LOG.info("heat map %s: %s", slot, {k: round(float(v.mean()), 3) for k, v in per[slot].items()})
    nat = per["natural"]
    out["natural_vs_low"] = {k: paired(nat[k], nat["low"]).as_dict() for k in ("mid", "high")}
    out["vs_natural"] = {
        s: {k: paired(per[s][k], nat[k]).as_dict() for k in ("low", "high", "rise")} for s in TRAINED if s in per
    }
    return out


def filtering(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Accuracy on low-pass and high-pass filtered images over the square bandwidth B."""
    out: dict[str, Any] = {}
    for slot, model in models.items():
        res = filtered_accuracy(
            model, (x, y), bandwidths=list(cfg.bandwidths), radii=[], n=cfg.filter_images, batch_size=cfg.batch_size
        )
        out[slot] = {
            "n": res.n,
            "bandwidths": res.bandwidths,
            "lowpass": res.lowpass_accuracy,
            "highpass": res.highpass_accuracy,
            "clean": rate_of(res.clean_accuracy, res.n).as_dict(),
        }
    return out


def band_fractions(delta: Tensor, low: float, high: float) -> Tensor:
    """Each perturbation's share of its energy ``|F|^2`` (summed over channels) per band -> ``(N, 3)``."""
    power = fft2c(delta.double()).abs().square().sum(dim=1)
    h, w = power.shape[-2:]
    masks = [fourier_band_mask(h, w, b, low=low, high=high, dtype=torch.float64, device=power.device) for b in BANDS]
    total = power.sum(dim=(1, 2))
    return torch.stack([(power * m).sum(dim=(1, 2)) / total for m in masks], dim=1).cpu()


def pgd_spectra(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """PGD perturbations of the natural and PGD-AT models on the images both classify correctly."""
    both = correct_mask(models["natural"], x, y) & correct_mask(models["adversarial"], x, y)
    xs, ys = x[both][: cfg.spectrum_images], y[both][: cfg.spectrum_images]
    attack = PGD(eps=cfg.pgd_eps, steps=cfg.pgd_steps)
    fractions: dict[str, Tensor] = {}
    out: dict[str, Any] = {"n": len(xs), "band_edges": list(BAND_EDGES)}
    for slot in ("natural", "adversarial"):
        gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
        bs = cfg.batch_size
        x_adv = torch.cat(
            [attack(models[slot], xs[i : i + bs], ys[i : i + bs], generator=gen) for i in range(0, len(xs), bs)]
        )
        if float((x_adv - xs).abs().max()) > cfg.pgd_eps + 1e-6:
            raise RuntimeError(f"PGD left its L-inf {cfg.pgd_eps:.4f} ball on the {slot} model")
        fooled = int((~correct_mask(models[slot], x_adv, ys)).sum())
        res = perturbation_spectrum(
            xs, x_adv, low=BAND_EDGES[0], high=BAND_EDGES[1]
        )  # the pooled spectrum of the figures
        fractions[slot] = band_fractions(x_adv - xs, *BAND_EDGES)
        out[slot] = {
            "spectrum": res.spectrum,
            "radii": res.radii,
            "profile": res.profile,
            "pooled_band_energy": res.band_energy,
            "band_fraction": {b: boot(fractions[slot][:, k]).as_dict() for k, b in enumerate(BANDS)},
            "success_rate": rate_of(fooled / max(len(xs), 1), len(xs)).as_dict(),
        }
        LOG.info("PGD %s: mean band fractions %s", slot, fractions[slot].mean(0).tolist())
    adv, nat = fractions["adversarial"], fractions["natural"]
    out["adversarial_minus_natural"] = {b: paired(adv[:, k], nat[:, k]).as_dict() for k, b in enumerate(BANDS)}
    return out


def corruptions(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Per corruption: spectrum of C(X) - X, its hf fraction, each model's accuracy and change over natural."""
    x, y = x[: cfg.corruption_images], y[: cfg.corruption_images]
    n = len(x)
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    clean = {slot: rate_of(accuracy(m, x, y), n).as_dict() for slot, m in models.items()}
    rows: dict[str, Any] = {}
    for name in CORRUPTIONS:
        xc = corrupt(x, name, cfg.severity, generator=gen)
        acc = {slot: rate_of(accuracy(m, xc, y), n) for slot, m in models.items()}
        rows[name] = {
            "hf_fraction": high_frequency_fraction(xc - x, bandwidth=cfg.hf_bandwidth),
            "spectrum": mean_spectrum(xc - x),
            "accuracy": {s: a.as_dict() for s, a in acc.items()},
            "change": {s: diff(acc[s], acc["natural"]).as_dict() for s in TRAINED},
        }
    names = list(rows)
    hf = [rows[k]["hf_fraction"] for k in names]
    spearman: dict[str, float] = {}
    for slot in TRAINED:
        delta = [rows[k]["change"][slot]["value"] for k in names]
        # A constant column (a tiny smoke run) has no rank correlation: NaN, not a scipy warning.
        constant = len(set(hf)) < 2 or len(set(delta)) < 2
        spearman[slot] = math.nan if constant else float(spearmanr(hf, delta).statistic)
    return {"n": n, "clean": clean, "names": names, "per_corruption": rows, "hf": hf, "spearman": spearman}


# --------------------------------------------------------------------------- figures
def plot_hf_scatter(corr: dict[str, Any], path: Path) -> None:
    """High-frequency energy fraction of each corruption vs the accuracy change over natural training."""
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    for k, slot in enumerate(TRAINED):
        changes = [measure(corr["per_corruption"][n]["change"][slot]) for n in corr["names"]]
        ax.errorbar(
            corr["hf"],
            [100 * c.value for c in changes],
            yerr=[[100 * (c.value - c.low) for c in changes], [100 * (c.high - c.value) for c in changes]],
            fmt="o",
            color=f"C{k}",
            capsize=2,
            label=f"{SLOT_LABELS[slot]} - natural (Spearman {corr['spearman'][slot]:+.2f})",
        )
        for name, hf, c in zip(corr["names"], corr["hf"], changes, strict=True):
            ax.annotate(name.replace("_", " "), (hf, 100 * c.value), fontsize=6, alpha=0.7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("high-frequency energy fraction of C(X) - X (outside |k| <= 4)")
    ax.set_ylabel("accuracy change (points, 95 % Newcombe interval)")
    ax.set_title("Corruptions (severity 3): who gains from the training")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figures(res: dict[str, Any], out: Path, cfg: Config) -> dict[str, str]:
    """Write every PNG; return caption -> file name."""
    label = SLOT_LABELS.get
    plot_heatmaps(
        {label(s, s): res["heatmap"][s]["error"] for s in SLOTS},
        out / "heatmaps.png",
        title=f"Fourier heat maps, v={cfg.heatmap_norm:g}, {res['heatmap']['n']} images per cell",
    )
    filt = res["filtering"]
    size = max(filt["natural"]["bandwidths"])
    curves = (  # file, accuracy key, x = N - B (the other convention), title, x label
        ("lowpass.png", "lowpass", False, "Low-pass", "B: centred BxB square kept"),
        ("highpass_removed.png", "highpass", False, "High-pass", "B: centred BxB square removed"),
        ("highpass_outer_band.png", "highpass", True, "High-pass", "N - B: width of the kept outer band"),
    )
    for file, key, outer, kind, xlabel in curves:
        plot_accuracy_vs_bandwidth(
            {label(s, s): ([size - b if outer else b for b in r["bandwidths"]], r[key]) for s, r in filt.items()},
            out / file,
            title=f"{kind} filtered test images ({filt['natural']['n']} images)",
            xlabel=xlabel,
        )
    spec = {label(s, s): res["pgd_spectra"][s] for s in ("natural", "adversarial")}
    plot_spectra(
        {s: r["spectrum"] for s, r in spec.items()},
        out / "pgd_spectra.png",
        title=f"Mean |F(x_adv - x)|, PGD L-inf {cfg.pgd_eps * 255:.0f}/255",
    )
    plot_radial_profiles({s: (r["radii"], r["profile"]) for s, r in spec.items()}, out / "pgd_radial.png")
    files = {
        "Fourier heat maps": "heatmaps.png",
        "low-pass accuracy": "lowpass.png",
        "high-pass accuracy (x = removed square)": "highpass_removed.png",
        "high-pass accuracy (x = kept outer band)": "highpass_outer_band.png",
        "PGD perturbation spectra": "pgd_spectra.png",
        "radial profiles": "pgd_radial.png",
    }
    per, names = res["corruptions"]["per_corruption"], res["corruptions"]["names"]
    half = (len(names) + 1) // 2
    for k, chunk in enumerate((names[:half], names[half:])):
        plot_spectra(
            {n: per[n]["spectrum"] for n in chunk},
            out / f"corruption_spectra_{k + 1}.png",
            title=f"Mean |F(C(X) - X)|, severity {cfg.severity}",
        )
        files[f"corruption spectra ({k + 1})"] = f"corruption_spectra_{k + 1}.png"
    plot_hf_scatter(res["corruptions"], out / "hf_vs_accuracy_change.png")
    files["hf fraction vs accuracy change"] = "hf_vs_accuracy_change.png"
    return files


# --------------------------------------------------------------------------- summary
def rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    """The claim table, every number read from ``res``, every verdict from its intervals."""
    models = {s: f"{SLOT_LABELS[s]}: {trained_on(getattr(cfg, s))}" for s in SLOTS}
    return [
        *heatmap_rows(res["heatmap"], models),
        filtering_row(res["filtering"], cfg, models),
        pgd_row(res["pgd_spectra"], models),
        corruption_row(res["corruptions"], cfg, models),
    ]


def heatmap_rows(hm: dict[str, Any], models: dict[str, str]) -> list[Row]:
    """The natural model's map, then the trained models' high ring, low ring and low-ring rise against it."""
    lab = SLOT_LABELS
    n = f"{hm['n']} images x {hm['natural']['cells_evaluated']} cells (same images and noise signs for every model)"
    src = "unverified (papers.md [RECALL]: heat-map figure, qualitative)"
    how = "per-image ring error = mean over the ring's cells; paired bootstrap over images"
    nat = hm["natural"]
    nat_low = {k: measure(hm["natural_vs_low"][k]) for k in ("mid", "high")}
    out = [
        Row(
            "Heat map, natural model: high error for all but the lowest frequencies",
            src,
            models["natural"],
            n,
            "error by ring: "
            + ", ".join(f"{k} {measure(nat['rings'][k])}" for k in RINGS)
            + f"; mid - low {nat_low['mid']}, high - low {nat_low['high']}",
            combine(
                [m.judge(">", 0.0) for m in nat_low.values()], f"natural mid- and high-ring error - low-ring > 0; {how}"
            ),
        )
    ]
    more = "Heat maps: Gaussian / adversarial training are *more* sensitive at low frequencies"
    specs = (  # (key, claimed side, claim, source, what is measured, each model's measure)
        (
            "high",
            "<",
            "Heat maps: Gaussian / adversarial training are robust at high frequencies",
            src,
            "high-ring error",
        ),
        ("low", ">", f"{more} (low-ring error)", src, "low-ring error"),
        (
            "rise",
            ">",
            f"{more}, measured as the low ring's rise over the model's own clean error (review: a lower clean "
            "accuracy alone raises the error at every frequency)",
            "unverified (papers.md [RECALL]); the rise is the review's measure (issue 13)",
            "rise = low-ring error - clean error",
        ),
    )
    for key, side, claim, source, what in specs:
        mine = {s: measure(hm[s]["rise_low"] if key == "rise" else hm[s]["rings"][key]) for s in SLOTS}
        change = {s: measure(hm["vs_natural"][s][key]) for s in TRAINED}
        ours = f"{what}: " + ", ".join(f"{lab[s]} {m}" for s, m in mine.items())
        ours += "; " + "; ".join(f"{lab[s]} - natural {m}" for s, m in change.items())
        if key == "rise":
            ours += "; clean accuracy " + ", ".join(f"{lab[s]} {measure(hm[s]['clean_accuracy'])}" for s in SLOTS)
        rule = f"Gaussian and PGD-AT {what.split(' = ')[0]} - natural's {side} 0; {how}"
        out.append(
            Row(
                claim,
                source,
                "; ".join(models.values()),
                n,
                ours,
                combine([m.judge(side, 0.0) for m in change.values()], rule),
            )
        )
    return out


def filtering_row(filt: dict[str, Any], cfg: Config, models: dict[str, str]) -> Row:
    """Natural model best on high-pass and worst on low-pass images, at the quoted bandwidth."""
    k = filt["natural"]["bandwidths"].index(cfg.report_bandwidth)
    lp = {s: rate_of(r["lowpass"][k], r["n"]) for s, r in filt.items()}
    hp = {s: rate_of(r["highpass"][k], r["n"]) for s, r in filt.items()}
    b = f"{cfg.report_bandwidth:g}"
    parts = [diff(hp["natural"], hp[s]).judge(">", 0.0) for s in TRAINED]
    parts += [diff(lp["natural"], lp[s]).judge("<", 0.0) for s in TRAINED]
    return Row(
        "Filtering: the natural model uses high frequencies (best on high-pass images); Gaussian / adversarial "
        "training rely on low ones (better on low-pass images)",
        "unverified (papers.md [RECALL])",
        "; ".join(models[s] for s in SLOTS),
        f"{filt['natural']['n']} images per filter and model",
        f"keep centred {b}x{b}: "
        + ", ".join(f"{SLOT_LABELS[s]} {v}" for s, v in lp.items())
        + "; remove it: "
        + ", ".join(f"{SLOT_LABELS[s]} {v}" for s, v in hp.items()),
        combine(
            parts,
            f"at B={b}: natural - Gaussian and natural - PGD-AT accuracy > 0 on high-pass and < 0 on low-pass "
            "images; Newcombe intervals, samples treated as independent",
        ),
    )


def pgd_row(spec: dict[str, Any], models: dict[str, str]) -> Row:
    """PGD-AT moves the perturbation energy from the high band to the low band."""
    delta = {b: measure(spec["adversarial_minus_natural"][b]) for b in BANDS}
    lab = SLOT_LABELS
    ours = "; ".join(
        f"{lab[s]} " + ", ".join(f"{b} {measure(spec[s]['band_fraction'][b])}" for b in BANDS)
        for s in ("natural", "adversarial")
    )
    return Row(
        "PGD perturbations: spread over all frequencies incl. high ones for the natural model; adversarial "
        "training concentrates them in low frequencies",
        "unverified (papers.md [RECALL])",
        f"{models['natural']}; {models['adversarial']}",
        f"{spec['n']} images both models classify correctly, PGD L-inf 8/255",
        f"energy fraction {ours}; PGD-AT - natural: low {delta['low']}, high {delta['high']} (PGD success: "
        + ", ".join(f"{lab[s]} {measure(spec[s]['success_rate'])}" for s in ("natural", "adversarial"))
        + ")",
        combine(
            [delta["low"].judge(">", 0.0), delta["high"].judge("<", 0.0)],
            "PGD-AT - natural: low-band fraction > 0 and high-band fraction < 0; per-image energy fractions "
            "(edges 0.25 and 0.5 of Nyquist), paired bootstrap over images",
        ),
    )


def corruption_row(corr: dict[str, Any], cfg: Config, models: dict[str, str]) -> Row:
    """Gaussian / adversarial training gain on noise and blur, lose on fog and contrast, corruption by corruption."""
    names = corr["names"]
    high = [n for n in names if n.endswith(("_noise", "_blur"))]
    low = [n for n in LOW_FREQUENCY_CORRUPTIONS if n in names]
    parts: list[str] = []
    cells: list[str] = []
    for s in TRAINED:
        changes = {n: measure(corr["per_corruption"][n]["change"][s]) for n in high + low}
        parts += [changes[n].judge(">", 0.0) for n in high] + [changes[n].judge("<", 0.0) for n in low]
        cells.append(
            f"{SLOT_LABELS[s]} - natural: " + ", ".join(f"{n.replace('_', ' ')} {changes[n]}" for n in high + low)
        )
    return Row(
        "Corruptions: Gaussian / adversarial training help on high-frequency corruptions (noise, blur) and hurt "
        "on low-frequency ones (fog, contrast)",
        "paper (abstract)",
        "; ".join(models[s] for s in SLOTS),
        f"{corr['n']} images per corruption and model (ours, severity {cfg.severity}; not CIFAR-10-C)",
        "; ".join(cells),
        combine(
            parts,
            f"accuracy change over natural (Newcombe, samples treated as independent) > 0 on each of the "
            f"{len(high)} noise and blur corruptions and < 0 on fog and contrast, for Gaussian and PGD-AT",
        ),
    )


def main(cfg: Config) -> dict[str, Any]:
    """Run the four experiments; write results.json, the figures and SUMMARY.md."""
    run = Run(NAME, cfg)
    timer = run.timer
    models = {slot: load_model(getattr(cfg, slot), run.device) for slot in SLOTS}
    n_max = max(cfg.heatmap_images, cfg.filter_images, cfg.spectrum_images, cfg.corruption_images)
    x, y, source = cifar_test(n_max, run.device, cfg.data)
    res: dict[str, Any] = {}
    with timer("heatmap"):
        res["heatmap"] = heatmaps(models, x, y, cfg)
    with timer("filtering"):
        res["filtering"] = filtering(models, x, y, cfg)
    with timer("pgd_spectra"):
        res["pgd_spectra"] = pgd_spectra(models, x, y, cfg)
    with timer("corruptions"):
        res["corruptions"] = corruptions(models, x, y, cfg)
    files = figures(res, run.out, cfg)
    clean = {s: measure(res["filtering"][s]["clean"]) for s in SLOTS}
    return run.finish(
        "Yin et al. 2019, A Fourier Perspective on Model Robustness (CIFAR-10 figures)",
        source,
        {"models": {s: getattr(cfg, s) for s in SLOTS}, "trained_on": {s: trained_on(getattr(cfg, s)) for s in SLOTS}},
        results=res,
        table=rows(res, cfg),
        title="Yin et al. 2019, a Fourier perspective on robustness (CIFAR-10)",
        setup=(
            f"Models: {', '.join(f'{SLOT_LABELS[s]} = {trained_on(getattr(cfg, s))}' for s in SLOTS)}. "
            f"Data: {source}. Heat maps: v={cfg.heatmap_norm:g}, {res['heatmap']['n']} images per cell; filtering "
            f"{res['filtering']['natural']['n']} images; PGD L-inf {cfg.pgd_eps * 255:.0f}/255, {cfg.pgd_steps} steps, "
            f"{res['pgd_spectra']['n']} images; corruptions (ours, not CIFAR-10-C) severity {cfg.severity}, "
            f"{res['corruptions']['n']} images. Clean accuracy on the {res['filtering']['natural']['n']} filtering "
            "images: " + ", ".join(f"{SLOT_LABELS[s]} {m}" for s, m in clean.items()) + "."
        ),
        figures=files,
        notes=corruption_notes(res["corruptions"]),
    )


def corruption_notes(corr: dict[str, Any]) -> str:
    """Every corruption's accuracies (Wilson) as a small table under the claim table."""
    spearman = ", ".join(f"{SLOT_LABELS[s]} {v:+.2f}" for s, v in corr["spearman"].items())
    lines = [
        "Accuracy per corruption (95 % Wilson interval) and the high-frequency energy fraction of C(X) - X "
        f"(Spearman with the accuracy change: {spearman}; descriptive, not judged). The changes in the table "
        "above are raw accuracy differences, so they include each training's drop in clean accuracy (first line):",
        "",
        "| corruption | hf fraction | " + " | ".join(SLOT_LABELS[s] for s in SLOTS) + " |",
        "|---|---|" + "---|" * len(SLOTS),
        "| none (clean) | | " + " | ".join(str(measure(corr["clean"][s])) for s in SLOTS) + " |",
    ]
    for n in corr["names"]:
        row = corr["per_corruption"][n]
        accs = " | ".join(str(measure(row["accuracy"][s])) for s in SLOTS)
        lines.append(f"| {n.replace('_', ' ')} | {row['hf_fraction']:.2f} | {accs} |")
    return "\n".join(lines)


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
