"""Guo, Gardner, You, Wilson & Weinberger 2019, "Simple Black-box Adversarial Attacks" (ICML), Table 1-style.

SimBA (pixel basis) vs SimBA-DCT (``attacks.SimBA``), untargeted, step eps = 0.2 in [0, 1]
pixels, on correctly classified images: success rate, mean and median queries (over all attacked
images and over the successful ones), mean L2 of the successful perturbations. Every result goes
through the harness (``evaluate``), which re-checks predictions and measures the distances.

* CIFAR-10, natural vs fast-AT ResNet-20: pixel SimBA; SimBA-DCT with the official CIFAR order
  (``freq_dims=32``, ``rand``: a random order over the whole DCT); and SimBA-DCT low frequencies
  first (``freq_dims=8``, ``strided``, stride 4; not in the paper, papers.md §5a suggests it).
* ImageNet (EfficientNet-Lite0, offline weights; the paper: ResNet-50): pixel SimBA vs SimBA-DCT
  with the official ImageNet order (``freq_dims=28``, ``strided``, stride 7).

Expected (papers.md §5a; ImageNet numbers [RECALL], 10,000 iterations): ResNet-50, SimBA 1,665
queries / L2 3.98 / 98.6% success; SimBA-DCT 1,283 / 3.06 / 97.8%. On CIFAR-10 [REC]: ~100%
success within 3,072 iterations, mean queries in the hundreds, SimBA-DCT fewer queries and a
smaller L2 than pixel SimBA; adversarially trained models need many more queries.

Data: lossless CIFAR-10 test images from ``../shared`` when present, else ``cifar10-sample``;
the 32 shipped ImageNet images (``--imagenet shared``: the 1,000 of ``../shared``). Hardware:
CPU: 2-core AMD EPYC, no GPU. Expected run time at the defaults: about 3-4 minutes on 2 free
cores (24 CIFAR images x 1,000 queries; 4 ImageNet images x 300 queries; the fast-AT runs
dominate). Paper scale: ``--full`` (1,000 images, 6,144 / 20,000 queries; a GPU job).

Run: ``python experiments/guo_simba.py`` (writes experiments/results/guo_simba/).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from _common import (
    Row,
    Run,
    RunConfig,
    cifar_test,
    correct_subset,
    imagenet_data,
    imagenet_model,
    load_model,
    pct,
    run_main,
    verdict,
)
from torch import Tensor, nn

from attacks import SimBA
from bandlimit.evaluation import evaluate
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth

LOG = logging.getLogger("guo_simba")
NAME = "guo_simba"
#: SimBA paper, ImageNet ResNet-50, untargeted (papers.md §5a, [RECALL]): queries, L2, success.
PAPER = {"pixel": (1665, 3.98, 0.986), "dct": (1283, 3.06, 0.978)}


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    natural: str = "resnet20-natural"  # registry name, checkpoint path or pkg.mod:fn
    fastat: str = "resnet20-fastat"
    data: str = "auto"
    images: int = 24
    max_queries: int = 1000  # official CIFAR run: 3,072 iterations (<= 6,144 queries)
    step: float = 0.2
    imagenet_model: str = "efficientnet_lite0"
    imagenet: str = "sample"
    imagenet_images: int = 4  # 0 skips the ImageNet part
    imagenet_queries: int = 300  # paper: 10,000 iterations
    batch_size: int = 64


FULL = {"images": 1000, "max_queries": 6144, "imagenet": "shared", "imagenet_images": 1000, "imagenet_queries": 20000}


def cifar_attacks(cfg: Config) -> dict[str, SimBA]:
    """Pixel SimBA, SimBA-DCT (official CIFAR order) and SimBA-DCT low frequencies first."""
    return {
        "pixel": SimBA(step=cfg.step, basis="pixel", max_queries=cfg.max_queries),
        "dct": SimBA(step=cfg.step, basis="dct", max_queries=cfg.max_queries, freq_dims=32, order="rand"),
        "dct-low-first": SimBA(
            step=cfg.step, basis="dct", max_queries=cfg.max_queries, freq_dims=8, order="strided", stride=4
        ),
    }


def imagenet_attacks(cfg: Config) -> dict[str, SimBA]:
    """Pixel SimBA and SimBA-DCT with the official ImageNet order."""
    return {
        "pixel": SimBA(step=cfg.step, basis="pixel", max_queries=cfg.imagenet_queries),
        "dct": SimBA(
            step=cfg.step, basis="dct", max_queries=cfg.imagenet_queries, freq_dims=28, order="strided", stride=7
        ),
    }


def run(model: nn.Module, x: Tensor, y: Tensor, attacks: dict[str, SimBA], cfg: Config) -> dict[str, Any]:
    """Every attack on the same images, through the harness; statistics per attack."""
    res = evaluate(model, (x, y), list(attacks.values()), batch_size=cfg.batch_size, seed=cfg.seed, checks=False)
    out: dict[str, Any] = {"clean_accuracy": res.clean_accuracy, "n": res.n}
    s = res.samples
    for label, summary in zip(attacks, res.attacks, strict=True):
        pred = s.pred[summary.key]
        attacked = pred >= 0
        success = attacked & (pred != s.label)
        q = s.queries[summary.key][success].double()
        l2 = s.distance[summary.key][success].double()
        out[label] = {
            "attacked": int(attacked.sum()),
            "success_rate": float(success.sum()) / max(int(attacked.sum()), 1),
            "queries_mean": summary.queries_mean,
            "queries_median": summary.queries_median,
            "queries_mean_success": float(q.mean()) if q.numel() else math.nan,
            "queries_median_success": float(q.median()) if q.numel() else math.nan,
            "l2_mean_success": float(l2.mean()) if l2.numel() else math.nan,
            "time_s": summary.time_s,
            "queries_of_successes": q.long(),
        }
        LOG.info("%s: %s", label, out[label])
    return out


def success_curves(res: dict[str, Any], budget: int) -> dict[str, tuple[list[float], list[float]]]:
    """Fraction of attacked images fooled within q queries, per model and attack."""
    grid = [budget * k / 50 for k in range(51)]
    curves = {}
    for slot, by in res.items():
        for label, r in by.items():
            if isinstance(r, dict) and "queries_of_successes" in r:
                q = torch.as_tensor(r["queries_of_successes"]).double()
                curves[f"{slot} {label}"] = (grid, [float((q <= g).sum()) / max(r["attacked"], 1) for g in grid])
    return curves


def cell(r: dict[str, Any]) -> str:
    """``success, mean/median queries, L2`` of one attack."""
    return (
        f"{pct(r['success_rate'])} success, {r['queries_mean_success']:.0f}/{r['queries_median_success']:.0f} "
        f"queries, L2 {r['l2_mean_success']:.2f}"
    )


def rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    """The claim table, every number read from ``res``."""
    nat, adv = res["cifar"]["natural"], res["cifar"]["fastat"]

    def dct_below_pixel(claim: str, key: str, what: str, digits: int) -> Row:
        """The claim that both DCT orders beat pixel SimBA on ``key`` (CIFAR natural)."""
        labels = {"pixel": "pixel", "dct": "dct", "dct-low-first": "dct low-first"}
        values = ", ".join(f"{label} {nat[k][key]:.{digits}f}" for k, label in labels.items())
        return Row(
            claim,
            f"CIFAR natural, {what}: {values}",
            verdict([nat[k][key] < nat["pixel"][key] for k in ("dct", "dct-low-first")], "both DCT orders below pixel"),
        )

    out = [
        dct_below_pixel(
            "SimBA-DCT needs fewer queries than pixel SimBA (ImageNet ResNet-50: 1,283 vs 1,665 [RECALL])",
            "queries_mean_success",
            "mean queries of successes",
            0,
        ),
        dct_below_pixel(
            "SimBA-DCT finds smaller perturbations (L2 3.06 vs 3.98 [RECALL])", "l2_mean_success", "mean L2", 2
        ),
        Row(
            "CIFAR-10 [REC]: ~100% untargeted success, mean queries in the hundreds",
            "natural: " + "; ".join(f"{k} {cell(v)}" for k, v in nat.items() if isinstance(v, dict)),
            verdict(
                [nat[k]["success_rate"] >= 0.95 for k in cifar_attacks(cfg)],
                f">= 95% success for each attack within {cfg.max_queries} queries",
            ),
        ),
        Row(
            "Adversarially trained models need many more queries [REC]",
            "fast-AT: " + "; ".join(f"{k} {cell(v)}" for k, v in adv.items() if isinstance(v, dict)),
            verdict(
                [
                    adv[k]["success_rate"] < nat[k]["success_rate"]
                    or adv[k]["queries_mean_success"] > 2 * nat[k]["queries_mean_success"]
                    for k in cifar_attacks(cfg)
                ],
                "each attack: lower success or > 2x the queries on fast-AT",
            ),
        ),
    ]
    inet = res["imagenet"]
    if "pixel" in inet:
        out.append(
            Row(
                "ImageNet ResNet-50 [RECALL]: pixel 98.6% / 1,665 q / L2 3.98; DCT 97.8% / 1,283 q / L2 3.06",
                f"{cfg.imagenet_model}, {inet['n']} images, {cfg.imagenet_queries} queries: "
                f"pixel {cell(inet['pixel'])}; "
                f"dct {cell(inet['dct'])}",
                verdict(
                    [
                        inet["dct"]["queries_mean_success"] < inet["pixel"]["queries_mean_success"],
                        inet["dct"]["success_rate"] >= inet["pixel"]["success_rate"],
                    ],
                    "DCT: fewer queries and at least the success rate of pixel; smaller budget and other model",
                )
                # A budget under which neither attack succeeds cannot support or refute the claim.
                if inet["dct"]["success_rate"] > 0 or inet["pixel"]["success_rate"] > 0
                else "not comparable (no success within the query budget; raise --imagenet-queries)",
            )
        )
    else:
        out.append(Row("ImageNet ResNet-50 (Table 1)", inet.get("skipped", "not run"), "not run"))
    return out


def main(cfg: Config) -> dict[str, Any]:
    """Run SimBA / SimBA-DCT on CIFAR-10 and ImageNet; write results.json and SUMMARY.md."""
    job = Run(NAME, cfg)
    device, timer = job.device, job.timer
    x_all, y_all, source = cifar_test(4 * cfg.images, device, cfg.data)
    res: dict[str, Any] = {"cifar": {}, "imagenet": {}}
    with timer("cifar"):
        for slot in ("natural", "fastat"):
            model = load_model(getattr(cfg, slot), device)
            x, y = correct_subset(model, x_all, y_all, cfg.images)
            res["cifar"][slot] = run(model, x, y, cifar_attacks(cfg), cfg)
    with timer("imagenet"):
        if cfg.imagenet_images > 0:
            model_in, note = imagenet_model(device, cfg.imagenet_model)
            if model_in is None:
                res["imagenet"] = {"skipped": note}
            else:
                xi, yi, isource = imagenet_data(4 * cfg.imagenet_images, device, cfg.imagenet)
                xi, yi = correct_subset(model_in, xi, yi, cfg.imagenet_images)
                res["imagenet"] = run(model_in, xi, yi, imagenet_attacks(cfg), cfg) | {"data": isource}
        else:
            res["imagenet"] = {"skipped": "imagenet_images = 0"}
    plot_accuracy_vs_bandwidth(
        success_curves(res["cifar"], cfg.max_queries),
        job.out / "success_vs_queries.png",
        xlabel="queries",
        title="CIFAR-10: fraction of images fooled within q queries",
    )
    models = {"natural": cfg.natural, "fastat": cfg.fastat, "imagenet": cfg.imagenet_model}
    return job.finish(
        "Guo et al. 2019, Simple Black-box Adversarial Attacks (SimBA vs SimBA-DCT)",
        source,
        {"models": models, "paper_imagenet_resnet50": PAPER},
        results=res,
        table=rows(res, cfg),
        title="Guo et al. 2019, SimBA vs SimBA-DCT",
        setup=(
            f"Models: {models}. CIFAR data: {source}, the first {cfg.images} correctly classified "
            f"images per model, {cfg.max_queries} queries; ImageNet: {res['imagenet'].get('data', 'not run')}, "
            f"{cfg.imagenet_queries} queries. Step 0.2, untargeted. Queries and L2 are over successful images."
        ),
        figures={"success vs queries (CIFAR-10)": "success_vs_queries.png"},
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
