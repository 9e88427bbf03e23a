"""Lin, Kasra Ahmadi & Jiang 2019, "Bandlimiting Neural Networks Against Adversarial Attacks" (arXiv 1905.12797).

Post-averaging around the public natural ResNet-20 (trained by its authors on the 50,000 lossless
CIFAR-10 training images), in two variants evaluated side by side **on the same images**:

* *ours*: ``defenses.PostAveraging``, logits averaged over K = 15 fresh Gaussian directions on
  one L2 sphere of radius r = 1.35 in [0, 1] pixel units (R = 6 normalised units, converted);
* *official*: ``defenses.LinPostAveraging`` ("postavg-lin"), the authors' released code
  (papers.md §3 [CODE]): softmax averaged over the clean input and ±K directions at R/3, 2R/3
  and R, with R = 6 in the model's normalised units and K = 15: 91 forwards per prediction.

Attacks (papers.md §3, "Critique / adaptive evaluation"), every one on the first ``images``
lossless test images (Square on the first ``square_images`` of them):

1. **Transfer, the paper's protocol**: examples made on the *undefended* model, then classified
   by each variant. *Minimal-eps* PGD and FGSM, as the authors' Foolbox defaults did (their
   robust-ml number, 88.4 % under PGD, is of this kind): per image, a binary search over L∞
   eps in (0, ``eps_max``] for the smallest eps at which random-start PGD (resp. FGSM) fools the
   base model, keeping the first iterate that does. DeepFool and C&W-L2 (torchattacks), also
   minimal. *Fixed-eps* PGD: L∞ 8/255, all 20 steps (no early stop), the fairer transfer test.
2. **White-box PGD-EOT** (L∞ 8/255, 20 steps) against each variant, through the harness (verified
   budgets); each step averages as many passes as give ``eot_directions`` fresh random directions
   (papers.md: 16-32 samples per step; default 90, one forward of the official variant): ours 6
   passes of 15, the official variant 1 pass of 90.
3. **Square** (L∞ 8/255, p_init 0.3 as the Square Attack paper used against this defence,
   one query per accept decision) against each variant and the undefended model.

Expected: the paper [ABS] defends > 95 % of FGSM/PGD/DeepFool/C&W examples with < 1 % clean loss
(ImageNet); the Square Attack paper's Table 10 (ResNet-110, official code) has CIFAR-10 92.6 %
clean, 88.4 % under PGD (the authors' minimal-eps transfer number), 15.8 % under Square (20,000
queries). papers.md expects averaging over r >> ||δ|| to push minimal perturbations back,
fixed-eps transfer to do far better, and adaptive PGD-EOT to reach the base model's 0-10 %.

Data: the lossless CIFAR-10 test images from ``../shared`` when present, else ``cifar10-sample``.
Hardware: CPU: 2-core AMD EPYC (shared), no GPU. Defaults (one thread): 50 images for clean,
transfer and PGD-EOT, Square on 4 of them with 100 queries (the paper: 20,000). Measured 178-214 s
on a quiet machine and 494 s under a load of 4-5 (then with Square on 6 images); two thirds of it
is the official variant (91 forwards per prediction: 88 ms per image on one free thread).

``--full``: 1,000 images for clean, transfer (minimal-eps search with 10 bisections of 40-step
PGD as Foolbox's default, fixed-eps PGD-20, DeepFool-50, C&W with 1,000 steps), the radius
sweep and PGD-EOT with 180 directions per gradient (ours 12 passes, official 2) on both
variants; Square (p_init 0.3) on 100 of them with 1,000 queries. Estimated from the per-image
CPU costs of the quiet default run (``runtime_s``): about 3,600 CPU-s of base-model attacks,
1,200 of transfer predictions, 3,500 of PGD-EOT and at most 10,700 of Square (every image
surviving all queries), so about 19,000 one-thread CPU-seconds: about 3 minutes on one
H100/H200 if it is ~100x one CPU thread for ResNet-20, 6 at 50x (not measured: no GPU here).
Square at the paper's 20,000 queries on 1,000 images would cost up to 1.8 billion ResNet-20
forwards for the official variant alone: out of a 10-minute GPU run.

Run: ``python experiments/lin_post_averaging.py`` (writes experiments/results/lin_post_averaging/).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from _common import DEFAULT_SLOTS, Run, RunConfig, cifar_test, load_model, run_main, trained_on
from _verdicts import Measure, Row, combine, diff, rate
from torch import Tensor, nn

from attacks import PGD, Square, TorchAttack
from bandlimit.evaluation import evaluate, verify_adversarial
from bandlimit.reports.figures import plot_accuracy_vs_bandwidth
from defenses import LinPostAveraging, PostAveraging

LOG = logging.getLogger("lin_post_averaging")
NAME = "lin_post_averaging"
#: The Square Attack paper's Table 10, CIFAR-10 row (post-averaging on ResNet-110, the official code).
TABLE10 = {"clean": 0.926, "pgd": 0.884, "square": 0.158, "square_queries": 20000}
TABLE10_SOURCE = "Square Attack paper, Table 10 (papers.md §3 [CODE]: max-andr/square-attack)"
#: Transfer sets made on the undefended model, in table order, with their labels.
TRANSFER = {
    "min_pgd": "min-eps PGD",
    "min_fgsm": "min-eps FGSM",
    "pgd_fixed": "PGD 8/255 (fixed eps)",
    "deepfool": "DeepFool",
    "cw": "C&W-L2",
}
#: Every column of the side-by-side table (:func:`side_table` names the Square budget).
COLUMNS = {"clean": "clean"} | {k: f"{v} transfer" for k, v in TRANSFER.items()} | {"pgd_eot": "PGD-EOT", "square": ""}


@dataclass(frozen=True)
class Config(RunConfig):
    """Every hyperparameter (defaults: CPU scale; ``--full``: see the module docstring)."""

    natural: str = DEFAULT_SLOTS["natural"]  # registry name, checkpoint path or pkg.mod:fn
    data: str = "auto"
    images: int = 50  # the first N test images: clean, transfer and PGD-EOT for every model
    square_images: int = 4  # Square on the first of those
    eps: float = 8 / 255
    eps_max: float = 16 / 255  # upper end of the minimal-eps search
    search_steps: int = 8  # bisections of the minimal-eps search
    search_pgd_steps: int = 10  # PGD steps at each eps of the search (Foolbox default: 40)
    pgd_steps: int = 20  # fixed-eps transfer PGD and PGD-EOT
    deepfool_steps: int = 50
    cw_steps: int = 50
    cw_c: float = 1.0
    cw_lr: float = 0.01
    radius: float = 1.35  # ours: L2 in [0, 1] pixels (R = 6 normalised, converted)
    radii: tuple[float, ...] = (0.5, 2.0, 4.0)  # ours at other radii on the transfer sets (figure)
    k: int = 15
    official_radius: float = 6.0  # R of the authors' code, in normalised input units (CIFAR-10)
    # PGD-EOT: passes per step so that each gradient averages >= this many random directions; 90 is
    # what one forward of the official variant averages, so both variants get the same sampling.
    eot_directions: int = 90
    queries: int = 100  # Square budget (the Square Attack paper: 20,000)
    p_init: float = 0.3  # Square's window fraction, as the Square Attack paper against post-averaging
    checks: bool = False  # the harness's gradient-masking checks (extra cost)
    batch_size: int = 50


FULL = {
    "images": 1000,
    "square_images": 100,
    "search_steps": 10,
    "search_pgd_steps": 40,
    "cw_steps": 1000,
    "eot_directions": 180,
    "radii": (0.5, 1.0, 2.0, 3.0, 4.0),
    "queries": 1000,
    "checks": True,
    "batch_size": 128,  # official PGD-EOT: 128 x 91 images per forward with their graphs
}


def variants(model: nn.Module, cfg: Config) -> dict[str, PostAveraging]:
    """Ours and the authors' post-averaging, each drawing fresh directions from a seeded generator."""
    return {
        "ours": PostAveraging(
            model, radius=cfg.radius, samples=cfg.k, generator=torch.Generator().manual_seed(cfg.seed)
        ),
        "official": LinPostAveraging(
            model, radius=cfg.official_radius, samples=cfg.k, generator=torch.Generator().manual_seed(cfg.seed)
        ),
    }


# --------------------------------------------------------------------------- minimal-eps search
def pgd_per_image(
    model: nn.Module, x: Tensor, y: Tensor, eps: Tensor, *, steps: int, random_start: bool, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """L∞ PGD with one budget per image (``eps``: (N,)); each image stops at its first adversarial iterate.

    Step size 2.5·eps/steps (eps for one step: FGSM). Stopping at the first iterate that fools
    the model keeps the perturbation as small as Foolbox's minimal-eps search returns it.

    Returns:
        ``(x_adv, fooled)``.
    """
    e = eps.view(-1, 1, 1, 1).to(x.dtype)
    delta = torch.zeros_like(x)
    if random_start:
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * e
        delta = (x + delta).clamp(0, 1) - x
    size = e if steps == 1 else 2.5 * e / steps
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        idx = (~fooled).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        d = delta[idx].requires_grad_(True)
        logits = model(x[idx] + d)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y[idx], reduction="sum"), d)
        wrong = (logits.argmax(1) != y[idx]).detach()
        step = (d.detach() + size[idx] * grad.sign()).clamp(-e[idx], e[idx])
        step = (x[idx] + step).clamp(0, 1) - x[idx]
        delta[idx] = torch.where(wrong.view(-1, 1, 1, 1), d.detach(), step)
        fooled[idx] = wrong
    with torch.no_grad():
        idx = (~fooled).nonzero().squeeze(1)
        if idx.numel():
            fooled[idx] = model(x[idx] + delta[idx]).argmax(1) != y[idx]
    return x + delta, fooled


def minimal_eps(
    model: nn.Module, x: Tensor, y: Tensor, *, eps_max: float, bisections: int, steps: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Per image, the smallest L∞ eps in (0, eps_max] at which PGD (FGSM for ``steps=1``) fools ``model``.

    Bisection on eps, each probe a fresh random-start PGD run (FGSM: no random start), as
    Foolbox's default binary search. Images the model already gets wrong need eps 0 and are
    returned unchanged; those not fooled at ``eps_max`` get eps ``inf`` and the failed attempt.

    Returns:
        ``(x_adv, eps)``: the example at the smallest eps found, and that eps (N,).
    """
    with torch.no_grad():
        right = model(x).argmax(1) == y
    found = torch.where(right, torch.full_like(y, 1, dtype=x.dtype) * math.inf, torch.zeros_like(y, dtype=x.dtype))
    best = x.clone()
    lo, hi = torch.zeros(len(x), device=x.device), torch.full((len(x),), eps_max, device=x.device)
    probe = right.clone()  # images searched at the eps of this round (all at eps_max first)
    for round_ in range(bisections + 1):
        idx = probe.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        mid = hi[idx] if round_ == 0 else (lo[idx] + hi[idx]) / 2
        adv, ok = pgd_per_image(model, x[idx], y[idx], mid, steps=steps, random_start=steps > 1, generator=generator)
        if round_ == 0:
            best[idx] = adv  # kept as the attempt even where it failed
            probe[idx] = ok  # only images fooled within eps_max are bisected
        hi[idx] = torch.where(ok, mid, hi[idx])
        lo[idx] = torch.where(ok, lo[idx], mid)
        best[idx[ok]], found[idx[ok]] = adv[ok], mid[ok]
    return best, found


# --------------------------------------------------------------------------- the measurements
def chunks(n: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


@torch.no_grad()
def hits(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> Tensor:
    """Per image: ``model`` (one forward, one draw of directions) classifies it correctly."""
    return torch.cat([model(x[s]).argmax(1) == y[s] for s in chunks(len(x), batch_size)])


def transfer_sets(model: nn.Module, x: Tensor, y: Tensor, cfg: Config) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The examples made on the undefended model (verified), and their sizes."""
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    attacks = {
        "pgd_fixed": PGD(eps=cfg.eps, steps=cfg.pgd_steps, early_stop=False),
        "deepfool": TorchAttack("DeepFool", steps=cfg.deepfool_steps, overshoot=0.02),
        "cw": TorchAttack("CW", c=cfg.cw_c, kappa=0.0, steps=cfg.cw_steps, lr=cfg.cw_lr),
    }
    sets: dict[str, Tensor] = {}
    sizes: dict[str, Any] = {}
    for key, steps in (("min_pgd", cfg.search_pgd_steps), ("min_fgsm", 1)):
        search = dict(eps_max=cfg.eps_max, bisections=cfg.search_steps, steps=steps, generator=gen)
        parts = [minimal_eps(model, x[s], y[s], **search) for s in chunks(len(x), cfg.batch_size)]
        eps = torch.cat([e for _, e in parts])
        sets[key], _ = verify_adversarial(x, torch.cat([a for a, _ in parts]), norm="linf", eps=cfg.eps_max, attack=key)
        fooled = eps[torch.isfinite(eps) & (eps > 0)]
        sizes[key] = {  # eps None: not fooled within eps_max; 0: the base model is already wrong
            "eps_255": [round(float(v) * 255, 4) if math.isfinite(v) else None for v in eps.tolist()],
            "median_eps_255": float(fooled.median() * 255) if fooled.numel() else math.nan,
        }
        LOG.info("%s: median eps %.3f/255", key, sizes[key]["median_eps_255"])
    for key, attack in attacks.items():
        adv = torch.cat([attack(model, x[s], y[s], generator=gen) for s in chunks(len(x), cfg.batch_size)])
        sets[key], _ = verify_adversarial(x, adv, norm=attack.threat.norm, eps=attack.threat.eps, attack=key)
        l2 = (sets[key] - x).flatten(1).norm(dim=1)
        sizes[key] = {"median_l2": float(l2.median()), "norm": attack.threat.norm}
        LOG.info("%s: median L2 %.3f", key, sizes[key]["median_l2"])
    return sets, sizes


def directions_per_pass(model: nn.Module) -> int:
    """Random directions one forward of ``model`` averages (0: not randomised)."""
    if isinstance(model, LinPostAveraging):
        return model.forwards_per_image - 1  # the clean input is no random direction
    return model.samples if isinstance(model, PostAveraging) else 0


def eot_passes(model: nn.Module, cfg: Config) -> int:
    """EOT passes per PGD step so that each gradient averages at least ``cfg.eot_directions`` directions."""
    per = directions_per_pass(model)
    return max(1, math.ceil(cfg.eot_directions / per)) if per else 1


def attacked(
    model: nn.Module, x: Tensor, y: Tensor, cfg: Config, *, square_only: bool, findings: list[str]
) -> dict[str, Tensor]:
    """Per image: still right under PGD-EOT (first ``images``) and Square (first ``square_images``).

    One vote per prediction (one forward, fresh directions), as the clean and transfer columns.
    The harness's check findings (``cfg.checks``) are appended to ``findings``.
    """
    runs = [("square", Square(eps=cfg.eps, max_queries=cfg.queries, p_init=cfg.p_init), cfg.square_images)]
    if not square_only:
        runs.insert(0, ("pgd_eot", PGD(eps=cfg.eps, steps=cfg.pgd_steps), cfg.images))
    out = {}
    for label, attack, n in runs:
        res = evaluate(
            model, (x[:n], y[:n]), [attack], n=n, batch_size=cfg.batch_size, seed=cfg.seed,
            eot=eot_passes(model, cfg), votes=1, checks=cfg.checks,
        )  # fmt: skip
        (a,) = res.attacks
        findings += [f"{label}: {f}" for f in res.findings]
        out[label] = res.samples.pred[a.key] == res.samples.label  # -1 (clean already wrong): not robust
        LOG.info("%s: %s robust %.3f", type(model).__name__, label, float(out[label].float().mean()))
    return out


def bits(hit: Tensor) -> str:
    """Per-image hits as a string of 0/1 (results.json keeps them so every interval can be recomputed)."""
    return "".join("1" if v else "0" for v in hit.tolist())


def measure(res: dict[str, Any], model: str, column: str) -> Measure:
    """The accuracy of ``model`` in ``column`` with its Wilson interval, from the stored hits."""
    hit = res["hits"][model][column]
    return rate(hit.count("1"), len(hit))


def conditional(res: dict[str, Any], model: str, column: str, given: tuple[str, str]) -> Measure:
    """``model``'s accuracy in ``column`` on the images where ``given = (model, column)`` holds (a '1')."""
    hit, cond = res["hits"][model][column], res["hits"][given[0]][given[1]]
    kept = [h for h, c in zip(hit, cond, strict=True) if c == "1"]
    return rate(kept.count("1"), len(kept))


def defence_rate(res: dict[str, Any], model: str, column: str) -> Measure:
    """Lin's defence rate: right on the examples that fooled the base model (base right on the clean image)."""
    base_clean, base_adv = res["hits"]["undefended"]["clean"], res["hits"]["undefended"][column]
    hit = res["hits"][model][column]
    kept = [h for h, c, a in zip(hit, base_clean, base_adv, strict=True) if c == "1" and a == "0"]
    return rate(kept.count("1"), len(kept))


# --------------------------------------------------------------------------- the table
def rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    """The claim table, every number recomputed from the per-image hits in ``res``."""
    names = ("ours", "official")
    model = (
        f"{trained_on(cfg.natural)}; defended by ours (PostAveraging, r={cfg.radius:g}, K={cfg.k}) and the official "
        f"variant (LinPostAveraging, R={cfg.official_radius:g} normalised, K={cfg.k})"
    )
    n_all, n_sq = f"{cfg.images} images", f"{cfg.square_images} images"
    base = measure(res, "undefended", "clean")
    lin = ("min_fgsm", "min_pgd", "deepfool", "cw")
    rates = {(v, a): defence_rate(res, v, a) for v in names for a in lin}
    drops = {v: diff(measure(res, v, "clean"), base) for v in names}
    keep = 0.884 / 0.926
    kept = {v: conditional(res, v, "min_pgd", (v, "clean")) for v in names}
    fixed_gap = {v: diff(measure(res, v, "pgd_fixed"), measure(res, v, "min_pgd")) for v in names}
    eot = {v: measure(res, v, "pgd_eot") for v in names}
    sq = {v: measure(res, v, "square") for v in (*names, "undefended")}

    def each(values: dict[Any, Measure], fmt: Any = str) -> str:
        return "; ".join(f"{' '.join(k) if isinstance(k, tuple) else k}: {fmt(m)}" for k, m in values.items())

    def with_n(m: Measure) -> str:
        return f"{m} (n={m.n})"

    return [
        Row(
            "Lin et al.: post-averaging defends > 95 % of the FGSM, PGD, DeepFool and C&W examples made on the "
            "undefended model (Foolbox defaults: minimal eps); the paper's numbers are ImageNet, here CIFAR-10 "
            "at the authors' CIFAR-10 setting",
            "paper (abstract)",
            model,
            f"{n_all}; defence rate over those the base model gets right and the attack fools (n per cell)",
            each({(v, TRANSFER[a]): rates[v, a] for v in names for a in lin}, with_n),
            combine([m.judge(">", 0.95) for m in rates.values()], "each variant's defence rate > 95 %, 8 cells"),
        ),
        Row(
            "Lin et al.: < 1 % loss of clean accuracy",
            "paper (abstract)",
            model,
            n_all,
            f"undefended {base}; " + each({f"{v} - undefended": drops[v] for v in names}),
            combine([drops[v].judge(">", -0.01) for v in names], "each variant's clean accuracy - the base's > -1 pt"),
        ),
        Row(
            f"{100 * TABLE10['clean']:.1f} % clean (post-averaging on ResNet-110)",
            TABLE10_SOURCE,
            model,
            n_all,
            f"undefended {base}; " + each({v: measure(res, v, "clean") for v in names}),
            f"not comparable (ResNet-20 base at {100 * base.value:.1f} % vs ResNet-110: the base model decides clean "
            "accuracy)",
        ),
        Row(
            f"{100 * TABLE10['pgd']:.1f} % under PGD (the authors' robust-ml number: Foolbox RandomStart-PGD made on "
            "the undefended model, binary search for a minimal eps), i.e. "
            f"{100 * keep:.1f} % of the {100 * TABLE10['clean']:.1f} % clean accuracy kept",
            TABLE10_SOURCE,
            model,
            f"{n_all}; kept = right under min-eps PGD transfer among the variant's clean-correct images",
            each({f"{v} accuracy": measure(res, v, "min_pgd") for v in names})
            + "; "
            + each({f"{v} kept": kept[v] for v in names}, with_n),
            combine([kept[v].judge(">", keep) for v in names], f"each variant's kept fraction > {100 * keep:.1f} %"),
        ),
        Row(
            "papers.md critique: fixed-eps PGD (8/255, all steps) made on the base model transfers far better than "
            "minimal-eps PGD, whose perturbations averaging pushes back",
            "ours (expectation, not the paper's)",
            model,
            n_all,
            each({f"{v} fixed - min-eps": fixed_gap[v] for v in names}),
            combine(
                [fixed_gap[v].judge("<", 0.0) for v in names],
                "each variant's accuracy under fixed-eps - under min-eps transfer < 0",
            ),
        ),
        Row(
            f"{100 * TABLE10['square']:.1f} % under Square (L∞ 8/255, p 0.3, {TABLE10['square_queries']:,} queries)",
            TABLE10_SOURCE,
            model,
            n_sq,
            f"{cfg.queries} queries: " + each(sq),
            f"not comparable ({cfg.queries} vs {TABLE10['square_queries']:,} queries: the budget decides the number)",
        ),
        Row(
            "papers.md [REC]: white-box PGD-EOT (L∞ 8/255) takes post-averaging toward the base model's 0-10 %",
            "ours (expectation, not the paper's)",
            model,
            n_all,
            f"{cfg.pgd_steps} steps, EOT passes so that each gradient averages >= {cfg.eot_directions} directions "
            f"(ours {res['eot_passes']['ours']}, official {res['eot_passes']['official']}): " + each(eot),
            combine([eot[v].judge("<", 0.10) for v in names], "each variant's PGD-EOT accuracy < 10 %"),
        ),
    ]


def side_table(res: dict[str, Any], cfg: Config) -> str:
    """The side-by-side markdown table (every cell from the stored hits) and Table 10 beside it."""
    cols = {**COLUMNS, "square": f"Square ({cfg.queries} queries)"}
    forwards = {"undefended": 1, **res["forwards_per_image"]}
    labels = {
        "undefended": "undefended ResNet-20 (white-box on itself)",
        "ours": f"ours: PostAveraging r={cfg.radius:g}, K={cfg.k}",
        "official": f"official: LinPostAveraging R={cfg.official_radius:g}, K={cfg.k}",
    }
    lines = [
        "| model | forwards / prediction | " + " | ".join(cols.values()) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for name, label in labels.items():
        cells = [
            f"{measure(res, name, c)} (n={measure(res, name, c).n})" if c in res["hits"][name] else "—" for c in cols
        ]
        lines.append(f"| {label} | {forwards[name]} | " + " | ".join(cells) + " |")
    paper = {"clean": TABLE10["clean"], "min_pgd": TABLE10["pgd"], "square": TABLE10["square"]}
    cells = [f"{100 * paper[c]:.1f} %" if c in paper else "—" for c in cols]
    cells[-1] += f" ({TABLE10['square_queries']:,} queries)"
    lines.append(f"| {TABLE10_SOURCE}: ResNet-110, official code, R=6, K=15 | 91 | " + " | ".join(cells) + " |")
    sizes = res["sizes"]
    return (
        f"Side by side, the same first {cfg.images} lossless test images (Square: the first {cfg.square_images}); "
        "accuracies over all of them (an image the model gets wrong clean counts as wrong), each with its 95 % "
        "Wilson interval. Transfer columns: examples made on the undefended model; the minimal-eps searches "
        f"bisect L∞ eps in (0, {cfg.eps_max * 255:.0f}/255] {cfg.search_steps} times (median eps found: PGD "
        f"{sizes['min_pgd']['median_eps_255']:.2f}/255, FGSM {sizes['min_fgsm']['median_eps_255']:.2f}/255); "
        f"median L2 of DeepFool {sizes['deepfool']['median_l2']:.3f}, C&W {sizes['cw']['median_l2']:.3f}; "
        f"the official variant's R = {cfg.official_radius:g} is about {cfg.radius:g} in [0, 1] pixel L2 units. "
        "Predictions are one forward of the defended model (fresh directions), as a user sees it.\n\n"
        + "\n".join(lines)
    )


# --------------------------------------------------------------------------- run
def main(cfg: Config) -> dict[str, Any]:
    """Make the transfer sets, attack both variants on the same images; write results.json, figure, SUMMARY.md."""
    run = Run(NAME, cfg)
    out, timer = run.out, run.timer
    model = load_model(cfg.natural, run.device)
    x, y, source = cifar_test(cfg.images, run.device, cfg.data)
    models: dict[str, nn.Module] = {"undefended": model, **variants(model, cfg)}
    res: dict[str, Any] = {"hits": {}, "forwards_per_image": {}, "eot_passes": {}, "findings": {}}
    with timer("base_attacks"):
        sets, res["sizes"] = transfer_sets(model, x, y, cfg)
    for name, m in models.items():
        with timer(f"transfer_{name}"):
            got = {"clean": hits(m, x, y, cfg.batch_size)} | {
                k: hits(m, xa, y, cfg.batch_size) for k, xa in sets.items()
            }
        with timer(f"adaptive_{name}"):
            got |= attacked(
                m, x, y, cfg, square_only=name == "undefended", findings=res["findings"].setdefault(name, [])
            )
        res["hits"][name] = {k: bits(v) for k, v in got.items()}
        if name != "undefended":
            res["forwards_per_image"][name] = getattr(m, "forwards_per_image", cfg.k)
            res["eot_passes"][name] = eot_passes(m, cfg)
        LOG.info("%s: %s", name, {k: round(v.count("1") / len(v), 3) for k, v in res["hits"][name].items()})
    # Ours at other radii, on the clean images and the transfer sets (not min-eps FGSM: it adds no contrast).
    swept = ("clean", "min_pgd", "pgd_fixed", "deepfool", "cw")
    sweep = {cfg.radius: {k: res["hits"]["ours"][k] for k in swept}}
    with timer("radius_sweep"):
        for r in cfg.radii:
            pa = PostAveraging(model, radius=r, samples=cfg.k, generator=torch.Generator().manual_seed(cfg.seed))
            sweep[r] = {k: bits(hits(pa, x if k == "clean" else sets[k], y, cfg.batch_size)) for k in swept}
    res["radius_sweep"] = {str(r): sweep[r] for r in sorted(sweep)}
    radii = sorted(sweep)
    plot_accuracy_vs_bandwidth(
        {COLUMNS[k]: (radii, [sweep[r][k].count("1") / len(sweep[r][k]) for r in radii]) for k in swept},
        out / "transfer_accuracy.png",
        xlabel="radius r (L2, [0,1] pixels)",
        title=f"Ours (K={cfg.k}) on clean images and examples made on the base model ({cfg.images} images)",
    )
    return run.finish(
        "Lin et al. 2019, post-averaging (ours and the official variant); Square Attack paper's Table 10",
        source,
        {"model": cfg.natural, "trained_on": trained_on(cfg.natural), "table10": TABLE10},
        results=res,
        table=rows(res, cfg),
        title="Lin et al. 2019, post-averaging: minimal- and fixed-eps transfer, PGD-EOT and Square, both variants",
        setup=(
            f"Base model: {trained_on(cfg.natural)}. Data: {source}. The same first {cfg.images} test images for "
            f"every model (Square: the first {cfg.square_images}, {cfg.queries} queries, p_init {cfg.p_init}); "
            f"L∞ eps {cfg.eps * 255:.0f}/255; PGD-EOT {cfg.pgd_steps} steps, each gradient averaged over >= "
            f"{cfg.eot_directions} random directions (EOT passes: {res['eot_passes']})."
        ),
        figures={"transfer accuracy vs radius (ours)": "transfer_accuracy.png"},
        notes=side_table(res, cfg),
    )


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
