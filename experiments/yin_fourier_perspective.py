"""Yin et al. 2019, "A Fourier Perspective on Model Robustness in Computer Vision" (NeurIPS), CIFAR-10.

Reproduces, on the shipped ResNet-20s (natural, Gaussian augmentation, fast FGSM-RS adversarial
training), the paper's CIFAR-10 figures:

1. **Fourier heat maps** (the paper's heat-map figure): error rate under ``v * r * U(i, j)`` noise, v = 4 per
   channel, random sign per image and channel, clipped to [0, 1]; summarised as the mean error on
   the lowest ring (Chebyshev radius <= 1), a mid ring (7-9) and the highest ring (>= 14).
2. **Low-pass / high-pass accuracy** (its filtering figure): keep (low-pass) or remove (high-pass) the
   centred B x B square of the spectrum. The paper's high-pass x-axis convention is unverified
   (papers.md §1), so the high-pass curve is drawn twice: against B (size of the removed
   square) and against N - B (width of the kept outer band).
3. **Spectra of PGD perturbations** (L∞ 8/255, 20 steps) of the natural and fast-AT models, with
   the fraction of energy in the low / mid / high bands (edges 0.25 and 0.5 of Nyquist).
4. **Corruptions**: spectra E|F(C(X) - X)| of our CIFAR-10-C-style corruptions
   (``bandlimit.corruptions``, severity 3; not the published CIFAR-10-C), their high-frequency
   energy fraction (energy outside |k| <= 4 per axis, i.e. ``high_frequency_fraction`` with
   bandwidth 8 = N/4) and its Spearman correlation with the
   accuracy change of Gaussian augmentation and of adversarial training over natural training.

Expected (paper, qualitative; papers.md §1 c): the natural model has high error for all but the
lowest frequencies; Gaussian and adversarial training are robust at high frequencies but *more*
sensitive at low ones; adversarial training moves perturbation energy to low frequencies
("adversarial examples are not strictly a high-frequency phenomenon"); Gaussian / adversarial
training help on high-frequency corruptions (noise, blur) and hurt on low-frequency ones (fog,
contrast). Absolute numbers (WRN-28-10) are not expected.

Data: the 1,028 lossless CIFAR-10 test images of ``../shared`` when present, else the shipped
600-image ``cifar10-sample`` (the JSON says which). Hardware: CPU: 2-core AMD EPYC, no GPU.
Expected run time at the defaults: about 3-4 minutes on 2 free cores (32 images per heat-map
cell, 200 filtered / corrupted images, 100 PGD images). Paper scale (``--full``: 1,000 images
everywhere; a GPU job of a few minutes, about 1.5 M ResNet-20 forwards for the heat maps).

Run: ``python experiments/yin_fourier_perspective.py`` (writes experiments/results/yin_fourier_perspective/).
Smoke: ``--natural ckpt.pt --gaussian ckpt.pt --fastat ckpt.pt`` replaces the shipped models.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from _common import Row, Run, RunConfig, accuracy, cifar_test, load_model, pct, run_main, verdict
from scipy.stats import spearmanr
from torch import Tensor, nn

from attacks import PGD
from bandlimit.corruptions import CORRUPTIONS, corrupt
from bandlimit.evaluation import filtered_accuracy, fourier_heatmap, perturbation_spectrum
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth, plot_heatmaps, plot_radial_profiles, plot_spectra
from bandlimit.spectral import high_frequency_fraction, mean_spectrum

LOG = logging.getLogger("yin_fourier_perspective")
NAME = "yin_fourier_perspective"
SLOTS = ("natural", "gaussian", "fastat")


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    natural: str = "resnet20-natural"  # model slots: registry name, checkpoint path or pkg.mod:fn
    gaussian: str = "resnet20-gaussian"
    fastat: str = "resnet20-fastat"
    data: str = "auto"  # "auto": lossless shared test images, else cifar10-sample
    heatmap_images: int = 32  # images per cell (paper: a test subset, size unverified)
    heatmap_norm: float = 4.0  # v, L2 norm per channel (CIFAR-10 value)
    heatmap_cells: str = ""  # "" = the full 32x32 grid; "central:K" = a K x K subset
    filter_images: int = 200
    report_bandwidth: float = 9.0  # B quoted in the table: keep / remove the centred 9x9 square
    spectrum_images: int = 100
    pgd_eps: float = 8 / 255
    pgd_steps: int = 20
    corruption_images: int = 200
    severity: int = 3
    hf_bandwidth: float = 8.0  # hf fraction = energy outside |k| <= B/2 per axis (B = N/4)
    batch_size: int = 256


FULL = {"heatmap_images": 1000, "filter_images": 1028, "spectrum_images": 1000, "corruption_images": 1028}


# --------------------------------------------------------------------------- experiments
def ring_errors(error: Tensor) -> dict[str, float]:
    """Mean error on the lowest (Chebyshev radius <= 1), a mid (7-9) and the highest (>= 14) ring."""
    h, w = error.shape
    i = (torch.arange(h) - h // 2).abs()[:, None]
    j = (torch.arange(w) - w // 2).abs()[None, :]
    d = torch.maximum(i, j).expand(h, w)
    rings = {"low": d <= 1, "mid": (d >= 7) & (d <= 9), "high": d >= 14}
    return {k: float(error[m].nanmean()) for k, m in rings.items()}


def heatmaps(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Yin et al.'s heat map of every model (same images, same random signs)."""
    out: dict[str, Any] = {}
    for slot, model in models.items():
        res = fourier_heatmap(
            model,
            (x, y),
            norm=cfg.heatmap_norm,
            cells=cfg.heatmap_cells or None,
            n=cfg.heatmap_images,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
        )
        out[slot] = {"error": res.error, "clean_accuracy": res.clean_accuracy, "rings": ring_errors(res.error)}
        LOG.info("heat map %s: rings %s", slot, out[slot]["rings"])
    return out


def filtering(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Accuracy on low-pass and high-pass filtered images over the square bandwidth B."""
    out: dict[str, Any] = {}
    for slot, model in models.items():
        res = filtered_accuracy(model, (x, y), radii=[], n=cfg.filter_images, batch_size=cfg.batch_size)
        out[slot] = {
            "bandwidths": res.bandwidths,
            "lowpass": res.lowpass_accuracy,
            "highpass": res.highpass_accuracy,
            "clean": res.clean_accuracy,
        }
    return out


def pgd_spectra(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Mean |F(x_adv - x)| of PGD perturbations (correctly classified images only)."""
    attack = PGD(eps=cfg.pgd_eps, steps=cfg.pgd_steps)
    out: dict[str, Any] = {}
    for slot in ("natural", "fastat"):
        res = perturbation_spectrum(models[slot], (x, y), attack, n=cfg.spectrum_images, seed=cfg.seed)
        out[slot] = {
            "spectrum": res.spectrum,
            "radii": res.radii,
            "profile": res.profile,
            "band_energy": res.band_energy,
            "band_edges": res.band_edges,
            "n": res.n,
            "success_rate": res.success_rate,
        }
        LOG.info("PGD spectrum %s: band energy %s", slot, res.band_energy)
    return out


def corruptions(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Per corruption: spectrum of C(X) - X, its hf fraction, and every model's accuracy."""
    x, y = x[: cfg.corruption_images], y[: cfg.corruption_images]
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    clean = {slot: accuracy(m, x, y) for slot, m in models.items()}
    rows: dict[str, Any] = {}
    for name in CORRUPTIONS:
        xc = corrupt(x, name, cfg.severity, generator=gen)
        diff = xc - x
        rows[name] = {
            "hf_fraction": high_frequency_fraction(diff, bandwidth=cfg.hf_bandwidth),
            "spectrum": mean_spectrum(diff),
            "accuracy": {slot: accuracy(m, xc, y) for slot, m in models.items()},
        }
    names = list(rows)
    hf = [rows[k]["hf_fraction"] for k in names]
    delta: dict[str, list[float]] = {}
    spearman: dict[str, float] = {}
    for slot in ("gaussian", "fastat"):
        delta[slot] = [rows[k]["accuracy"][slot] - rows[k]["accuracy"]["natural"] for k in names]
        # A constant column (e.g. a tiny smoke-test run where nothing changes) has no rank
        # correlation: record NaN rather than let scipy warn and return it anyway.
        constant = len(set(hf)) < 2 or len(set(delta[slot])) < 2
        spearman[slot] = math.nan if constant else float(spearmanr(hf, delta[slot]).statistic)
    return {"names": names, "clean": clean, "per_corruption": rows, "hf": hf, "delta": delta, "spearman": spearman}


# --------------------------------------------------------------------------- figures
def plot_hf_scatter(corr: dict[str, Any], path: Any) -> None:
    """High-frequency energy fraction of each corruption vs the accuracy change over natural training."""
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    for k, slot in enumerate(("gaussian", "fastat")):
        ax.scatter(
            corr["hf"],
            [100 * d for d in corr["delta"][slot]],
            color=f"C{k}",
            label=f"{slot} - natural (Spearman {corr['spearman'][slot]:+.2f})",
        )
        for name, hf, d in zip(corr["names"], corr["hf"], corr["delta"][slot], strict=True):
            ax.annotate(name.replace("_", " "), (hf, 100 * d), fontsize=6, alpha=0.7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("high-frequency energy fraction of C(X) - X (outside |k| <= 4)")
    ax.set_ylabel("accuracy change (points)")
    ax.set_title("Corruptions (severity 3): who gains from augmentation")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figures(res: dict[str, Any], out: Any, cfg: Config) -> dict[str, str]:
    """Write every PNG; return caption -> file name."""
    files: dict[str, str] = {}
    plot_heatmaps(
        {s: r["error"] for s, r in res["heatmap"].items()},
        out / "heatmaps.png",
        title=f"Fourier heat maps, v={cfg.heatmap_norm:g}, {res['heatmap_images']} images per cell",
    )
    files["Fourier heat maps"] = "heatmaps.png"
    filt = res["filtering"]
    size = max(filt["natural"]["bandwidths"])
    plot_accuracy_vs_bandwidth(
        {s: (r["bandwidths"], r["lowpass"]) for s, r in filt.items()},
        out / "lowpass.png",
        title="Low-pass filtered test images",
    )
    plot_accuracy_vs_bandwidth(
        {s: (r["bandwidths"], r["highpass"]) for s, r in filt.items()},
        out / "highpass_removed.png",
        title="High-pass filtered test images",
        xlabel="B: centred BxB square removed",
    )
    plot_accuracy_vs_bandwidth(
        {s: ([size - b for b in r["bandwidths"]], r["highpass"]) for s, r in filt.items()},
        out / "highpass_outer_band.png",
        title="High-pass filtered test images",
        xlabel="N - B: width of the kept outer band (other convention)",
    )
    files |= {
        "low-pass accuracy": "lowpass.png",
        "high-pass accuracy (x = removed square)": "highpass_removed.png",
        "high-pass accuracy (x = kept outer band)": "highpass_outer_band.png",
    }
    spec = res["pgd_spectra"]
    plot_spectra(
        {s: r["spectrum"] for s, r in spec.items()},
        out / "pgd_spectra.png",
        title=f"Mean |F(x_adv - x)|, PGD L-inf {cfg.pgd_eps * 255:.0f}/255",
    )
    plot_radial_profiles({s: (r["radii"], r["profile"]) for s, r in spec.items()}, out / "pgd_radial.png")
    files |= {"PGD perturbation spectra": "pgd_spectra.png", "radial profiles": "pgd_radial.png"}
    per = res["corruptions"]["per_corruption"]
    names = res["corruptions"]["names"]
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
    """The claim table, every number read from ``res``."""
    ring = {s: r["rings"] for s, r in res["heatmap"].items()}
    nat = ring["natural"]
    fmt = lambda r: f"low {pct(r['low'])}, mid {pct(r['mid'])}, high {pct(r['high'])}"  # noqa: E731
    out = [
        Row(
            "Heat map, natural model: high error for all but the lowest frequencies",
            f"error by ring: {fmt(nat)}",
            verdict(
                [nat["mid"] > nat["low"] + 0.1, nat["high"] > nat["low"] + 0.1],
                "mid and high ring error each >= 10 points above the low ring",
            ),
        )
    ]
    checks = [c for s in ("gaussian", "fastat") for c in (ring[s]["high"] < nat["high"], ring[s]["low"] > nat["low"])]
    out.append(
        Row(
            "Heat maps, Gaussian / adversarial training: robust at high frequencies, *more* sensitive at low ones",
            "; ".join(f"{s}: {fmt(ring[s])}" for s in ("gaussian", "fastat")),
            verdict(checks, "each model: high-ring error below natural's and low-ring error above it"),
        )
    )
    filt = res["filtering"]
    k = filt["natural"]["bandwidths"].index(cfg.report_bandwidth)
    lp = {s: r["lowpass"][k] for s, r in filt.items()}
    hp = {s: r["highpass"][k] for s, r in filt.items()}
    b = f"{cfg.report_bandwidth:g}"
    out.append(
        Row(
            "Filtering [RECALL]: the natural model uses high frequencies (best on high-pass images); "
            "Gaussian / adversarial training rely on low ones (better on low-pass images)",
            f"keep centred {b}x{b}: "
            + ", ".join(f"{s} {pct(v)}" for s, v in lp.items())
            + "; remove it: "
            + ", ".join(f"{s} {pct(v)}" for s, v in hp.items()),
            verdict(
                [hp["natural"] > max(hp["gaussian"], hp["fastat"]), lp["natural"] < min(lp["gaussian"], lp["fastat"])],
                f"natural best on high-pass and worst on low-pass at B={b}",
            ),
        )
    )
    be = {s: r["band_energy"] for s, r in res["pgd_spectra"].items()}
    out.append(
        Row(
            "PGD perturbations: natural model spread over all frequencies incl. high; adversarial training "
            "concentrates them in low frequencies",
            "energy low/mid/high: "
            + "; ".join(f"{s} {pct(e['low'])}/{pct(e['mid'])}/{pct(e['high'])}" for s, e in be.items()),
            verdict(
                [be["natural"]["high"] > be["fastat"]["high"], be["fastat"]["low"] > be["natural"]["low"]],
                "fast-AT has less high-band and more low-band energy than natural",
            ),
        )
    )
    corr = res["corruptions"]
    names = corr["names"]
    dl = {s: {n: d for n, d in zip(names, corr["delta"][s], strict=True)} for s in ("gaussian", "fastat")}
    low_freq = [n for n in ("fog", "contrast") if n in names]
    out.append(
        Row(
            "Corruptions: Gaussian / adversarial training help on high-frequency corruptions (noise, blur) "
            "and hurt on low-frequency ones (fog, contrast)",
            "Spearman(hf, Δacc): "
            + ", ".join(f"{s} {v:+.2f}" for s, v in corr["spearman"].items())
            + "; Δacc "
            + "; ".join(f"{s}: " + ", ".join(f"{n} {100 * dl[s][n]:+.1f}" for n in low_freq) for s in dl),
            verdict(
                [corr["spearman"][s] > 0 for s in dl] + [dl[s][n] < 0 for s in dl for n in low_freq],
                "positive Spearman and negative Δacc on fog and contrast, both models",
            ),
        )
    )
    return out


def main(cfg: Config) -> dict[str, Any]:
    """Run the four experiments; write results.json, the figures and SUMMARY.md."""
    run = Run(NAME, cfg)
    timer = run.timer
    models = {slot: load_model(getattr(cfg, slot), run.device) for slot in SLOTS}
    n_max = max(cfg.heatmap_images, cfg.filter_images, cfg.spectrum_images, cfg.corruption_images)
    x, y, source = cifar_test(n_max, run.device, cfg.data)
    res: dict[str, Any] = {"heatmap_images": min(cfg.heatmap_images, len(x))}
    with timer("heatmap"):
        res["heatmap"] = heatmaps(models, x, y, cfg)
    with timer("filtering"):
        res["filtering"] = filtering(models, x, y, cfg)
    with timer("pgd_spectra"):
        res["pgd_spectra"] = pgd_spectra(models, x, y, cfg)
    with timer("corruptions"):
        res["corruptions"] = corruptions(models, x, y, cfg)
    res["clean_accuracy"] = {
        slot: accuracy(m, x[: cfg.filter_images], y[: cfg.filter_images]) for slot, m in models.items()
    }
    files = figures(res, run.out, cfg)
    slots = {slot: getattr(cfg, slot) for slot in SLOTS}
    return run.finish(
        "Yin et al. 2019, A Fourier Perspective on Model Robustness (CIFAR-10 figures)",
        source,
        {"models": slots},
        results=res,
        table=rows(res, cfg),
        title="Yin et al. 2019, a Fourier perspective on robustness (CIFAR-10)",
        setup=(
            f"Models: {slots}. Data: {source}. Heat maps: v={cfg.heatmap_norm:g}, "
            f"{res['heatmap_images']} images per cell; filtering {cfg.filter_images} images; PGD L-inf "
            f"{cfg.pgd_eps * 255:.0f}/255, {cfg.pgd_steps} steps, {cfg.spectrum_images} images; corruptions "
            f"(ours, not CIFAR-10-C) severity {cfg.severity}, {cfg.corruption_images} images. Clean accuracy: "
            + ", ".join(f"{s} {pct(a)}" for s, a in res["clean_accuracy"].items())
            + "."
        ),
        figures=files,
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
