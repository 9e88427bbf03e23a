"""Lin, Kasra Ahmadi & Jiang 2019, "Bandlimiting Neural Networks Against Adversarial Attacks" (arXiv 1905.12797).

Post-averaging ``f̄(x) = (1/K) Σ_k f(x + r u_k)`` (``defenses.PostAveraging``, logits averaged,
fresh Gaussian directions on the L2 sphere, radius r in [0, 1] pixel units over C·H·W) around the
natural ResNet-20, evaluated three ways (papers.md §3, "Critique / adaptive evaluation"):

1. **Their protocol (transfer)**: FGSM and PGD-20 (L∞ 8/255), DeepFool and C&W-L2
   (torchattacks through ``attacks.TorchAttack``) made on the *undefended* model, then
   classified by the averaged model, over a grid of r and K. "Defence rate" = fraction of the
   adversarial examples that fooled the base model and that the averaged model gets right.
2. **White-box PGD-EOT** (L∞ 8/255, 20 steps) against the averaged model itself, through the
   harness (``evaluate``: EOT, verified budgets, majority-vote predictions).
3. **Black-box**: Square (L∞ 8/255, p_init 0.3, as the Square Attack paper used against this
   defence) and SimBA-DCT (step 0.2, clamped to L∞ 8/255 so it shares the threat model),
   against the averaged and the undefended model.

Expected: the paper [ABS] defends >95% of FGSM/PGD/DeepFool/C&W examples on ImageNet with <1%
clean loss; the Square Attack paper (perf.md §5, their port: K=15, R=6 in normalised units,
about 1.35 in [0, 1] pixels, ResNet-110) reports CIFAR-10 92.6% clean, 88.4% under PGD and
**15.8% under Square** (20k queries). papers.md §3 expects the transfer protocol to look strong
(minimal DeepFool/C&W perturbations are pushed back by averaging over r >> ||δ||), and adaptive
PGD-EOT to collapse toward the base model's 0-10%.

Data: lossless CIFAR-10 test images from ``../shared`` when present, else ``cifar10-sample``.
Hardware: CPU: 2-core AMD EPYC, no GPU. Expected run time at the defaults: about 4 minutes on 2
free cores (200 clean / 64 transfer / 24 PGD-EOT / 12 black-box images, 150 black-box queries;
the Square Attack paper used 20,000): about 100k ResNet-20 forwards and 20k forward-backwards.
Paper scale: ``--full`` (1,000 images, 5,000 queries, more EOT; a GPU job).

Run: ``python experiments/lin_post_averaging.py`` (writes experiments/results/lin_post_averaging/).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from _common import Row, Run, RunConfig, accuracy, cifar_test, correct_subset, load_model, pct, run_main, verdict
from torch import Tensor, nn

from attacks import FGSM, PGD, SimBA, Square, TorchAttack
from bandlimit.evaluation import evaluate, verify_adversarial
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth
from bandlimit.stats import judge, wilson_interval
from defenses import LinPostAveraging, PostAveraging

LOG = logging.getLogger("lin_post_averaging")
NAME = "lin_post_averaging"
#: The Square Attack paper's CIFAR-10 numbers for post-averaging (perf.md §5, their Table 10).
SQUARE_PAPER = {"clean": 0.926, "pgd": 0.884, "square": 0.158}


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: paper scale)."""

    natural: str = "resnet20-natural"  # registry name, checkpoint path or pkg.mod:fn
    data: str = "auto"
    clean_images: int = 200
    radii: tuple[float, ...] = (0.5, 1.35, 2.0, 4.0)  # L2 in [0, 1] pixels; 1.35 = the port's R=6
    samples: tuple[int, ...] = (8, 15)  # K
    eps: float = 8 / 255
    attack_images: int = 64  # transfer protocol
    pgd_steps: int = 20
    deepfool_steps: int = 50
    cw_steps: int = 50
    cw_c: float = 1.0
    cw_lr: float = 0.01
    radius: float = 1.35  # the (r, K) of the adaptive and black-box parts and of the table
    k: int = 15
    adaptive_images: int = 24
    eot_samples: int = 2  # EOT draws per PGD step (each already averages K directions)
    blackbox_images: int = 12
    queries: int = 150  # Square and SimBA budget (Square Attack paper: 20,000)
    checks: bool = False  # the harness's gradient-masking checks (extra cost)
    batch_size: int = 64
    official_radius: float = 6.0  # R of the authors' code, in normalised input units (CIFAR-10)
    side_images: int = 8  # PGD-EOT and Square on both variants (the official one costs 91 forwards/image)


FULL = {
    "clean_images": 1000,
    "attack_images": 1000,
    "adaptive_images": 500,
    "eot_samples": 8,
    "blackbox_images": 500,
    "queries": 5000,
    "samples": (8, 15, 32),
    "cw_steps": 1000,
    "checks": True,
    "side_images": 500,
}


def averaged(model: nn.Module, radius: float, k: int, seed: int) -> PostAveraging:
    """Post-averaging with fresh directions from a seeded generator."""
    return PostAveraging(model, radius=radius, samples=k, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- 1. transfer protocol
def transfer_attacks(cfg: Config) -> dict[str, Any]:
    """The four attacks of the paper, made on the undefended model."""
    return {
        "FGSM": FGSM(eps=cfg.eps),
        "PGD": PGD(eps=cfg.eps, steps=cfg.pgd_steps),
        "DeepFool": TorchAttack("DeepFool", steps=cfg.deepfool_steps, overshoot=0.02),
        "CW": TorchAttack("CW", c=cfg.cw_c, kappa=0.0, steps=cfg.cw_steps, lr=cfg.cw_lr),
    }


def transfer(model: nn.Module, x: Tensor, y: Tensor, xc: Tensor, yc: Tensor, cfg: Config) -> dict[str, Any]:
    """Clean accuracy and defence rates of every (r, K) against examples made on the base model."""
    examples: dict[str, dict[str, Any]] = {}
    for label, attack in transfer_attacks(cfg).items():
        gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
        x_adv, _ = verify_adversarial(
            x, attack(model, x, y, generator=gen), norm=attack.threat.norm, eps=attack.threat.eps, attack=label
        )
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        l2 = (x_adv - x).flatten(1).norm(dim=1)
        examples[label] = {
            "x_adv": x_adv,
            "fooled": fooled,
            "base_success": float(fooled.float().mean()),
            "mean_l2_of_successes": float(l2[fooled].mean()) if fooled.any() else math.nan,
        }
        LOG.info("%s on the base model: success %.2f", label, examples[label]["base_success"])
    grid: list[dict[str, Any]] = []
    for k in cfg.samples:
        for r in cfg.radii:
            pa = averaged(model, r, k, cfg.seed)
            entry: dict[str, Any] = {"radius": r, "samples": k, "clean": accuracy(pa, xc, yc)}
            for label, ex in examples.items():
                with torch.no_grad():
                    right = pa(ex["x_adv"]).argmax(1) == y
                entry[label] = {
                    "accuracy": float(right.float().mean()),
                    "defence_rate": float(right[ex["fooled"]].float().mean()) if ex["fooled"].any() else None,
                }
            grid.append(entry)
            LOG.info("r=%g K=%d clean %.3f", r, k, entry["clean"])
    stats = {k: {kk: vv for kk, vv in v.items() if kk not in ("x_adv", "fooled")} for k, v in examples.items()}
    adv = {label: ex["x_adv"] for label, ex in examples.items()}
    return {"base_clean": accuracy(model, xc, yc), "attacks": stats, "grid": grid, "n": len(x)}, adv


# --------------------------------------------------------------------------- 2.-3. adaptive and black-box
def summaries(res: Any) -> dict[str, Any]:
    """Per attack: robust accuracy, queries, verified distance (from an EvaluationResult)."""
    return {
        a.key: {
            "robust_accuracy": a.robust_accuracy,
            "queries_mean": a.queries_mean,
            "queries_median": a.queries_median,
            "mean_distance": a.mean_distance,
            "time_s": a.time_s,
        }
        for a in res.attacks
    } | {"clean_accuracy": res.clean_accuracy, "n": res.n, "findings": [str(f) for f in res.findings]}


def adaptive(model: nn.Module, x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """White-box PGD with EOT against the averaged model."""
    pa = averaged(model, cfg.radius, cfg.k, cfg.seed)
    res = evaluate(
        pa,
        (x, y),
        [PGD(eps=cfg.eps, steps=cfg.pgd_steps)],
        n=cfg.adaptive_images,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        eot_samples=cfg.eot_samples,
        checks=cfg.checks,
    )
    return summaries(res)


def blackbox(model: nn.Module, x: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Square and L∞-bounded SimBA-DCT against the averaged and the undefended model."""
    attacks = [
        TorchAttack("Square", eps=cfg.eps, n_queries=cfg.queries, p_init=0.3, seed=cfg.seed),
        SimBA(step=0.2, basis="dct", max_queries=cfg.queries, eps=cfg.eps),
    ]
    out = {}
    for label, target in (("post_averaging", averaged(model, cfg.radius, cfg.k, cfg.seed)), ("undefended", model)):
        res = evaluate(
            target, (x, y), attacks, n=cfg.blackbox_images, batch_size=cfg.batch_size, seed=cfg.seed, checks=cfg.checks
        )
        out[label] = summaries(res)
    return out


# --------------------------------------------------------------------------- 4. ours beside the official variant
def variants(model: nn.Module, cfg: Config) -> dict[str, PostAveraging]:
    """The library's post-averaging and the authors' released one, each with fresh seeded directions."""
    return {
        "ours": averaged(model, cfg.radius, cfg.k, cfg.seed),
        "official": LinPostAveraging(
            model, radius=cfg.official_radius, samples=cfg.k, generator=torch.Generator().manual_seed(cfg.seed)
        ),
    }


def side_by_side(
    model: nn.Module, data: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], adv: dict[str, Tensor], cfg: Config
) -> dict[str, Any]:
    """Both variants on the same images, every accuracy with its Wilson 95 % interval.

    Clean; transfer of the base model's examples (fixed-eps FGSM and PGD, minimal DeepFool and
    C&W); white-box PGD-EOT and Square (p_init 0.3, as the Square Attack paper) on each variant.
    """
    xc, yc, _, y, x_all, y_all = data
    out: dict[str, Any] = {}
    for name, pa in variants(model, cfg).items():
        entry: dict[str, Any] = {
            "config": pa.config,
            "forwards_per_image": getattr(pa, "forwards_per_image", pa.samples),
        }
        with torch.no_grad():
            hits = {"clean": (pa(xc).argmax(1) == yc)} | {a: (pa(xa).argmax(1) == y) for a, xa in adv.items()}
        attacks = [PGD(eps=cfg.eps, steps=cfg.pgd_steps), Square(eps=cfg.eps, max_queries=cfg.queries, p_init=0.3)]
        res = evaluate(
            pa, (x_all, y_all), attacks, n=cfg.side_images, batch_size=cfg.batch_size, seed=cfg.seed,
            eot_samples=cfg.eot_samples, checks=False,
        )  # fmt: skip
        for a in res.attacks:
            hits[a.name] = res.samples.pred[a.key] == res.samples.label  # -1 (clean already wrong): not robust
        for label, hit in hits.items():
            k, n = int(hit.sum()), int(hit.numel())
            entry[label] = {"accuracy": k / n, "n": n, "interval": wilson_interval(k, n)}
        out[name] = entry
        LOG.info("%s: clean %.3f, PGD-EOT %.3f, Square %.3f", name, entry["clean"]["accuracy"],
                 entry["pgd"]["accuracy"], entry["square"]["accuracy"])  # fmt: skip
    return out


def first_key(d: dict[str, Any], prefix: str) -> Any:
    """The value of the first key starting with ``prefix`` (attack keys carry norm and eps)."""
    return next(v for k, v in d.items() if k.startswith(prefix))


def _pct_ci(cell: dict[str, Any]) -> str:
    """``41.0% [35.2, 47.1] (n=200)``: an accuracy with its Wilson 95 % interval."""
    low, high = cell["interval"]
    return f"{pct(cell['accuracy'])} [{100 * low:.1f}, {100 * high:.1f}] (n={cell['n']})"


def _judged(interval: tuple[float, float], claim: str, threshold: float, what: str) -> str:
    """The verdict word under the interval rule (:func:`bandlimit.stats.judge`) and the rule itself."""
    word = {"agrees": "yes", "disagrees": "no", "inconclusive": "inconclusive"}[judge(interval, claim, threshold)]
    return f"{word} ({what} {claim} {pct(threshold)}: the whole Wilson 95 % interval on one side, else inconclusive)"


def _side_metrics(res: dict[str, Any], name: str) -> list[str]:
    return [m for m in res["side_by_side"][name] if m not in ("config", "forwards_per_image")]


def rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    """The claim table, every number read from ``res``."""
    tr = res["transfer"]
    cell = next(g for g in tr["grid"] if g["radius"] == cfg.radius and g["samples"] == cfg.k)
    names = list(tr["attacks"])
    rates = {a: cell[a]["defence_rate"] for a in names}
    best = max(tr["grid"], key=lambda g: min((g[a]["defence_rate"] or 0.0) for a in names))
    eot = first_key(res["adaptive"], "pgd")["robust_accuracy"]
    bb = res["blackbox"]
    sq_pa = first_key(bb["post_averaging"], "torchattacks")["robust_accuracy"]
    sq_base = first_key(bb["undefended"], "torchattacks")["robust_accuracy"]
    sim_pa = first_key(bb["post_averaging"], "simba")["robust_accuracy"]
    rk = f"r={cfg.radius:g}, K={cfg.k}"
    return [
        Row(
            "Lin [ABS]: >95% of FGSM/PGD/DeepFool/C&W examples (made on the base model) defended",
            f"{rk}: "
            + ", ".join(f"{a} {pct(v)}" for a, v in rates.items())
            + f"; best grid point r={best['radius']:g}, K={best['samples']}: "
            + ", ".join(f"{a} {pct(best[a]['defence_rate'])}" for a in names),
            verdict([(v or 0.0) > 0.95 for v in rates.values()], f"each defence rate > 95% at {rk}"),
        ),
        Row(
            "Lin [ABS]: < 1% clean accuracy loss",
            f"base {pct(tr['base_clean'])}, averaged {pct(cell['clean'])} ({rk})",
            verdict([tr["base_clean"] - cell["clean"] < 0.01], "drop < 1 point"),
        ),
        Row(
            f"Square paper (ResNet-110, K=15, R=6): {pct(SQUARE_PAPER['clean'])} clean",
            f"ResNet-20 base: {pct(cell['clean'])} ({rk})",
            verdict([abs(cell["clean"] - SQUARE_PAPER["clean"]) < 0.03], "within 3 points; other base model"),
        ),
        Row(
            f"Square paper: {pct(SQUARE_PAPER['pgd'])} under PGD (not adaptive)",
            f"PGD transfer: {pct(cell['PGD']['accuracy'])}; PGD-EOT white-box ({cfg.eot_samples} EOT draws x K): "
            f"{pct(eot)}",
            verdict(
                [abs(cell["PGD"]["accuracy"] - SQUARE_PAPER["pgd"]) < 0.10], "PGD transfer within 10 points of 88.4%"
            ),
        ),
        Row(
            "papers.md [REC]: adaptive PGD-EOT collapses toward the base model's 0-10%",
            f"PGD-EOT: {pct(eot)} on {res['adaptive']['n']} images",
            verdict([eot <= 0.10], "PGD-EOT robust accuracy <= 10%"),
        ),
        Row(
            "papers.md [REC]: the authors' released post-averaging (softmax over clean + ±K at R/3, 2R/3, R; "
            f"R={cfg.official_radius:g} normalised) falls to PGD-EOT like ours (<= 10%); both side by side",
            "; ".join(
                f"{name}: "
                + ", ".join(f"{m} {_pct_ci(res['side_by_side'][name][m])}" for m in _side_metrics(res, name))
                for name in res["side_by_side"]
            ),
            _judged(res["side_by_side"]["official"]["pgd"]["interval"], "<", 0.10, "official variant's PGD-EOT"),
        ),
        Row(
            f"Square paper: {pct(SQUARE_PAPER['square'])} under Square (20,000 queries, p=0.3)",
            f"{cfg.queries} queries: Square {pct(sq_pa)} (undefended {pct(sq_base)}), SimBA-DCT L∞ {pct(sim_pa)}",
            verdict(
                [sq_pa <= SQUARE_PAPER["square"] + 0.10],
                f"within 10 points of 15.8%; our budget is {cfg.queries} queries",
            ),
        ),
    ]


def main(cfg: Config) -> dict[str, Any]:
    """Run the three evaluations; write results.json, the figures and SUMMARY.md."""
    run = Run(NAME, cfg)
    out, timer = run.out, run.timer
    model = load_model(cfg.natural, run.device)
    n_max = max(cfg.clean_images, 2 * max(cfg.attack_images, cfg.adaptive_images, cfg.blackbox_images))
    x_all, y_all, source = cifar_test(n_max, run.device, cfg.data)
    xc, yc = x_all[: cfg.clean_images], y_all[: cfg.clean_images]
    x, y = correct_subset(model, x_all, y_all, cfg.attack_images)
    res: dict[str, Any] = {}
    with timer("transfer"):
        res["transfer"], adv = transfer(model, x, y, xc, yc, cfg)
    with timer("adaptive"):
        res["adaptive"] = adaptive(model, x_all, y_all, cfg)
    with timer("blackbox"):
        res["blackbox"] = blackbox(model, x_all, y_all, cfg)
    with timer("side_by_side"):
        res["side_by_side"] = side_by_side(model, (xc, yc, x, y, x_all, y_all), adv, cfg)
    grid = res["transfer"]["grid"]
    kmax = max(cfg.samples)
    curves = {
        a: (
            [g["radius"] for g in grid if g["samples"] == kmax],
            [g[a]["accuracy"] for g in grid if g["samples"] == kmax],
        )
        for a in res["transfer"]["attacks"]
    }
    plot_accuracy_vs_bandwidth(
        curves,
        out / "transfer_accuracy.png",
        xlabel="radius r (L2, [0,1] pixels)",
        title=f"Averaged model (K={kmax}) on examples made on the base model",
    )
    plot_accuracy_vs_bandwidth(
        {
            f"K={k}": (
                [g["radius"] for g in grid if g["samples"] == k],
                [g["clean"] for g in grid if g["samples"] == k],
            )
            for k in cfg.samples
        },
        out / "clean_accuracy.png",
        xlabel="radius r (L2, [0,1] pixels)",
        title="Clean accuracy of the averaged model",
    )
    return run.finish(
        "Lin et al. 2019, post-averaging; Square Attack paper's evaluation of it",
        source,
        {"model": cfg.natural, "square_attack_paper": SQUARE_PAPER},
        results=res,
        table=rows(res, cfg),
        title="Lin et al. 2019, post-averaging: transfer protocol, PGD-EOT and black-box attacks",
        setup=(
            f"Base model: {cfg.natural}. Data: {source}. Grid r in {list(cfg.radii)} x K in {list(cfg.samples)}; "
            f"transfer on {res['transfer']['n']} base-correct images; PGD-EOT on {res['adaptive']['n']} images; "
            f"black-box on {cfg.blackbox_images} images with {cfg.queries} queries. L∞ eps {cfg.eps * 255:.0f}/255."
        ),
        figures={"transfer accuracy vs radius": "transfer_accuracy.png", "clean accuracy": "clean_accuracy.png"},
        notes="Radius units: L2 over C·H·W in [0, 1] pixels (rms per pixel r/√3072); the Square Attack "
        "paper's port uses R=6 in normalised units, about 1.35 here.",
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
