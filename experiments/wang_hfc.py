"""Wang, Wu, Huang & Xing 2020, "High-frequency Component Helps Explain the Generalization of CNNs" (CVPR).

Three parts (papers.md §2; official code ``HaohanWang/HFC``):

1. **LFC / HFC accuracy vs radius**: accuracy of the shipped ResNet-20s on the low-frequency
   component (disc ``dist < r`` of the centred spectrum) and on the high-frequency component
   (the rest; ``LFC + HFC = x``) for r = 4, 8, 12, 16, without and with the code's per-image
   ``x / max(x)`` rescaling (``filtered_accuracy(radii=..., rescale=...)``).
2. **LFC / HFC accuracy over training epochs**: a fresh ResNet-20 trained on a subset with
   ``bandlimit.training.train`` (natural recipe, no augmentation and a constant learning rate,
   like the paper's code; one ``train`` call per epoch, so SGD momentum restarts each epoch),
   or per-epoch checkpoints given with ``--checkpoints 'glob'``.
3. **First-layer kernel smoothing** (``defenses.smooth_first_conv``) for rho in {0, 0.1, 0.25,
   0.5, 1.0}, both variants: the paper's (no renormalisation; with BatchNorm in eval mode the
   extra gain is *not* neutral) and the norm-preserving one (each kernel rescaled to its own
   L2 norm). Clean, FGSM and PGD-20 accuracy at fixed L∞ eps 2/255 and 8/255 (the paper's
   Foolbox numbers are minimal-eps searches, not fixed-eps accuracies), natural and fast-AT.

Expected (papers.md §2 c, mostly [RECALL]): a standard CNN classifies many HFC images (that look
black to people) correctly; during training with natural labels LFC accuracy rises first and
HFC accuracy later; smoothing trades clean accuracy for FGSM/PGD accuracy, with a large gain
for the vanilla model and a smaller one for the adversarially trained one. papers.md expects the
gains under a proper fixed-eps PGD to be small.

Data: lossless CIFAR-10 test (and training, for part 2) images from ``../shared`` when present,
else the shipped ``cifar10-sample`` (split 400 train / 200 eval for part 2). Hardware: CPU:
2-core AMD EPYC, no GPU. Expected run time at the defaults: about 4 minutes on 2 free cores
(part 2 about 1.5-2 min: 2,000 images x 6 epochs). Paper scale: ``--full`` (4,660 training
images x 30 epochs, 1,000 evaluation images; a GPU job).

Run: ``python experiments/wang_hfc.py`` (writes experiments/results/wang_hfc/).
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from typing import Any

import torch
from _common import Row, Run, RunConfig, cifar_test, cifar_train, load_model, pct, run_main, verdict
from torch import Tensor, nn

from attacks import FGSM, PGD
from bandlimit.evaluation import evaluate, filtered_accuracy
from bandlimit.models import create_model, load_checkpoint
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth
from bandlimit.training import TrainConfig, train
from defenses import create_recipe, smooth_first_conv

LOG = logging.getLogger("wang_hfc")
NAME = "wang_hfc"
SLOTS = ("natural", "gaussian", "fastat")


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    natural: str = "resnet20-natural"  # registry name, checkpoint path or pkg.mod:fn
    gaussian: str = "resnet20-gaussian"
    fastat: str = "resnet20-fastat"
    data: str = "auto"
    split_images: int = 256
    radii: tuple[float, ...] = (4.0, 8.0, 12.0, 16.0)
    report_radius: float = 8.0
    # part 2: training run (or --checkpoints)
    checkpoints: str = ""  # glob of per-epoch checkpoints, read in sorted order instead of training
    architecture: str = "resnet20"
    train_images: int = 2000
    epochs: int = 6
    lr: float = 0.05  # constant (the code: Adam 1e-4 constant; we use SGD, the loop's optimiser)
    batch_size: int = 128
    track_images: int = 256
    # part 3: smoothing
    rhos: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    variants: tuple[str, ...] = ("paper", "l2")  # "paper" = no renormalisation; "l2", "sum"
    eps: tuple[float, ...] = (2 / 255, 8 / 255)
    pgd_steps: int = 20
    smooth_images: int = 64


FULL = {"split_images": 1000, "train_images": 4660, "epochs": 30, "track_images": 1000, "smooth_images": 1000}


# --------------------------------------------------------------------------- 1. LFC / HFC vs radius
def split_accuracy(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """LFC / HFC accuracy per model, radius and rescaling."""
    out: dict[str, Any] = {}
    for slot, model in models.items():
        out[slot] = {}
        for rescale in (False, True):
            res = filtered_accuracy(
                model, (x, y), bandwidths=[], radii=list(cfg.radii), rescale=rescale, n=cfg.split_images
            )
            out[slot]["rescaled" if rescale else "raw"] = {
                "low": res.low_accuracy,
                "high": res.high_accuracy,
                "clean": res.clean_accuracy,
            }
    return out


# --------------------------------------------------------------------------- 2. over training
def track(model: nn.Module, x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """LFC / HFC (rescaled as the paper's code) and clean accuracy of one snapshot."""
    res = filtered_accuracy(model, (x, y), bandwidths=[], radii=list(cfg.radii), rescale=True, n=cfg.track_images)
    return {"low": res.low_accuracy, "high": res.high_accuracy, "clean": res.clean_accuracy}


def training_curves(x_eval: Tensor, y_eval: Tensor, device: torch.device, cfg: Config) -> dict[str, Any]:
    """LFC/HFC accuracy after every epoch of a short run (or of given per-epoch checkpoints)."""
    records: list[dict[str, Any]] = []
    if cfg.checkpoints:
        paths = sorted(glob.glob(cfg.checkpoints))
        if not paths:
            raise FileNotFoundError(f"--checkpoints: expected files matching {cfg.checkpoints!r}, found none")
        for p in paths:
            records.append(track(load_checkpoint(p).to(device).eval(), x_eval, y_eval, cfg) | {"checkpoint": p})
        return {"source": f"checkpoints {cfg.checkpoints}", "records": records}
    x_tr, y_tr, source = cifar_train(cfg.train_images, device)
    if source == "cifar10-sample":  # no training set on disk: keep the evaluation images apart
        x_tr, y_tr = x_tr[:400], y_tr[:400]
    with torch.random.fork_rng(devices=[]):  # seeded initial weights: reruns give the same curves
        torch.manual_seed(cfg.seed)
        model = create_model(cfg.architecture).to(device)
    recipe = create_recipe("natural")
    for epoch in range(cfg.epochs):
        tc = TrainConfig(
            epochs=1,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            schedule="multistep",
            milestones=(1e9,),
            seed=cfg.seed + epoch,
            device=str(device),
            bf16=False,
            channels_last=False,
            augment=False,
            quiet=True,
        )
        hist = train(model, (x_tr, y_tr), recipe, tc).final
        model.eval()
        records.append(track(model, x_eval, y_eval, cfg) | {"epoch": epoch + 1, "train_acc": hist.get("train_acc")})
        LOG.info("epoch %d: %s", epoch + 1, records[-1])
    return {"source": f"{source}, {len(x_tr)} images, {cfg.epochs} epochs", "records": records}


# --------------------------------------------------------------------------- 3. smoothing
def smoothing(models: dict[str, nn.Module], x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Clean / FGSM / PGD-20 accuracy of every smoothed copy (rho = 0 is the model itself)."""
    labels = [f"{kind}@{e * 255:.0f}" for e in cfg.eps for kind in ("FGSM", "PGD")]
    attacks = [a for e in cfg.eps for a in (FGSM(eps=e), PGD(eps=e, steps=cfg.pgd_steps))]
    out: dict[str, Any] = {}
    for slot in ("natural", "fastat"):
        base: dict[str, float] | None = None
        for variant in cfg.variants:
            curve = []
            for rho in cfg.rhos:
                if rho == 0 and base is not None:
                    curve.append(base)
                    continue
                m = smooth_first_conv(models[slot], rho, preserve_norm=False if variant == "paper" else variant)
                res = evaluate(m, (x, y), attacks, n=cfg.smooth_images, seed=cfg.seed, checks=False)
                point = {"clean": res.clean_accuracy} | {
                    lab: a.robust_accuracy for lab, a in zip(labels, res.attacks, strict=True)
                }
                curve.append(point)
                if rho == 0:
                    base = point
            out.setdefault(slot, {})[variant] = curve
            LOG.info("smoothing %s/%s: %s", slot, variant, curve)
    return {"labels": labels, "curves": out}


# --------------------------------------------------------------------------- summary
def rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    """The claim table, every number read from ``res``."""
    k = list(cfg.radii).index(cfg.report_radius)
    sp = res["split"]
    r = f"r={cfg.report_radius:g}"
    hfc = {s: sp[s]["raw"]["high"][k] for s in sp}
    hfc_rs = {s: sp[s]["rescaled"]["high"][k] for s in sp}
    out = [
        Row(
            "HFC images (near-black to people) are often still classified correctly",
            f"HFC accuracy at {r} (raw / rescaled): "
            + ", ".join(f"{s} {pct(hfc[s])} / {pct(hfc_rs[s])}" for s in sp)
            + "; chance 10%",
            verdict([max(hfc["natural"], hfc_rs["natural"]) >= 0.2], f"natural model >= 20% on HFC at {r}"),
        ),
        Row(
            "Adversarially trained models rely less on HFC [ABS + RECALL]",
            f"HFC accuracy at {r}: natural {pct(hfc['natural'])}, fast-AT {pct(hfc['fastat'])}",
            verdict([hfc["fastat"] < hfc["natural"]], "fast-AT below natural"),
        ),
    ]
    recs = res["training"]["records"]
    low = [rec["low"][k] for rec in recs]
    high = [rec["high"][k] for rec in recs]
    out.append(
        Row(
            "With natural labels the model fits the LFC first; HFC accuracy rises later [RECALL]",
            f"{r}, per epoch: LFC "
            + " ".join(f"{100 * v:.0f}" for v in low)
            + "; HFC "
            + " ".join(f"{100 * v:.0f}" for v in high)
            + " (%)",
            verdict([low[0] > high[0], high[-1] > high[0]], "LFC above HFC after epoch 1, and HFC rises afterwards"),
        )
    )
    sm = res["smoothing"]
    e_small = f"{min(cfg.eps) * 255:.0f}"
    for slot in ("natural", "fastat"):
        curve = sm["curves"][slot]["paper"]
        gain = max(p[f"PGD@{e_small}"] for p in curve[1:]) - curve[0][f"PGD@{e_small}"] if len(curve) > 1 else 0.0
        best = max(curve, key=lambda p: p[f"FGSM@{e_small}"])
        out.append(
            Row(
                f"Smoothing ({slot}): larger rho trades clean accuracy for FGSM/PGD accuracy [RECALL; paper: Foolbox "
                "minimal-eps]",
                f"paper variant, rho {list(cfg.rhos)}: clean "
                + " ".join(f"{100 * p['clean']:.0f}" for p in curve)
                + f"; FGSM {e_small}/255 "
                + " ".join(f"{100 * p[f'FGSM@{e_small}']:.0f}" for p in curve)
                + f"; PGD {e_small}/255 "
                + " ".join(f"{100 * p[f'PGD@{e_small}']:.0f}" for p in curve)
                + " (%)",
                verdict(
                    [
                        best[f"FGSM@{e_small}"] >= curve[0][f"FGSM@{e_small}"] + 0.02,
                        best["clean"] < curve[0]["clean"],
                        gain >= 0.02,
                    ],
                    "some rho > 0 gains >= 2 points FGSM and PGD and costs clean accuracy",
                ),
            )
        )
    return out


def plot_smoothing(sm: dict[str, Any], cfg: Config, path: Any) -> None:
    """Accuracy vs rho: one line per model, variant and metric."""
    curves = {
        f"{slot}/{variant}: {metric}": (list(cfg.rhos), [p[metric] for p in curve])
        for slot, by in sm["curves"].items()
        for variant, curve in by.items()
        for metric in ("clean", f"PGD@{min(cfg.eps) * 255:.0f}")
    }
    plot_accuracy_vs_bandwidth(
        curves,
        path,
        xlabel="rho (first-layer smoothing)",
        title=f"Kernel smoothing: clean and PGD-{cfg.pgd_steps} (L∞ {min(cfg.eps) * 255:.0f}/255)",
    )


def main(cfg: Config) -> dict[str, Any]:
    """Run the three parts; write results.json, the figures and SUMMARY.md."""
    run = Run(NAME, cfg)
    device, out, timer = run.device, run.out, run.timer
    models = {slot: load_model(getattr(cfg, slot), device) for slot in SLOTS}
    x, y, source = cifar_test(max(cfg.split_images, cfg.smooth_images, cfg.track_images), device, cfg.data)
    res: dict[str, Any] = {}
    with timer("split"):
        res["split"] = split_accuracy(models, x, y, cfg)
    with timer("training"):
        # Without the shared training set, part 2 trains on the sample's first 400 images: evaluate on the rest.
        if source == "cifar10-sample":
            x_all, y_all, _ = cifar_test(600, device, source)
            x_ev, y_ev = x_all[400:], y_all[400:]
        else:
            x_ev, y_ev = x, y
        res["training"] = training_curves(x_ev, y_ev, device, cfg)
    with timer("smoothing"):
        res["smoothing"] = smoothing(models, x, y, cfg)
    radii = list(cfg.radii)
    plot_accuracy_vs_bandwidth(
        {
            f"{s} {part} ({mode})": (radii, v[mode][part])
            for s, v in res["split"].items()
            for mode in ("raw", "rescaled")
            for part in ("low", "high")
        },
        out / "lfc_hfc_vs_radius.png",
        xlabel="radius r (disc dist < r kept in the LFC)",
        title="Accuracy on low- and high-frequency components",
    )
    recs = res["training"]["records"]
    ep = list(range(1, len(recs) + 1))
    plot_accuracy_vs_bandwidth(
        {
            f"{part} r={r:g}": (ep, [rec[part][i] for rec in recs])
            for i, r in enumerate(radii)
            for part in ("low", "high")
        }
        | {"clean": (ep, [rec["clean"] for rec in recs])},
        out / "lfc_hfc_over_training.png",
        xlabel="epoch",
        title="LFC / HFC accuracy (rescaled) during training",
    )
    plot_smoothing(res["smoothing"], cfg, out / "smoothing.png")
    slots = {slot: getattr(cfg, slot) for slot in SLOTS}
    return run.finish(
        "Wang et al. 2020, High-frequency Component Helps Explain the Generalization of CNNs",
        source,
        {"models": slots},
        results=res,
        table=rows(res, cfg),
        title="Wang et al. 2020, high-frequency components and kernel smoothing",
        setup=(
            f"Models: {slots}. Data: {source}. LFC/HFC on {cfg.split_images} images; training: "
            f"{res['training']['source']}; smoothing on {cfg.smooth_images} images, FGSM and PGD-{cfg.pgd_steps} "
            f"at L∞ eps {', '.join(f'{e * 255:.0f}/255' for e in cfg.eps)}."
        ),
        figures={
            "LFC/HFC vs radius": "lfc_hfc_vs_radius.png",
            "over training": "lfc_hfc_over_training.png",
            "smoothing": "smoothing.png",
        },
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
