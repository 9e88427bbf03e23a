"""What ``bandlimit demo`` measures, on the shipped models and the shipped CIFAR-10 sample.

What it shows, in about three minutes on two CPU cores:

* clean, PGD, SimBA-DCT, worst-case (L∞ 8/255) and Fourier-basis robust accuracy of the
  natural, Gaussian-augmented and fast-adversarially-trained ResNet-20s;
* the same for two defences around the natural model: band-limited post-averaging (attacked
  with plain PGD *and* PGD-EOT, plus the black-box SimBA-DCT) and a low-pass input layer;
* the gradient-masking checks of the harness on every model;
* Fourier heat maps and adversarial-perturbation spectra of the three models side by side;
* a results folder with results.json, the config, PNG figures and one report.html
  (written by :mod:`bandlimit.cli.demo.folder`).

Every number is measured by the run itself; the verdicts in the report are computed from
those numbers, so the demo tells what happened, including when a defence only looked robust.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bandlimit._progress import Progress, notify

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """Every setting of the demo in one place (the airbench habit).

    The budget is sized for ≤ 3 minutes on two CPU cores; post-averaging multiplies every
    forward pass by ``postavg_samples``, hence its smaller image count.
    """

    natural: str = "resnet20-natural"
    gaussian: str = "resnet20-gaussian"
    fastat: str = "resnet20-fastat"
    data: str = "cifar10-sample"
    n: int = 128
    n_defended: int = 32
    n_heatmap: int = 32
    n_fourier: int = 24
    n_fourier_defended: int = 12
    eps: float = 8 / 255
    pgd_steps: int = 10
    eot_samples: int = 4
    simba_queries: int = 200
    simba_step: float = 0.2
    simba_queries_defended: int = 100
    transfer_rel_stepsize: float = 0.05
    transfer_steps: int = 20
    fourier_norm: float = 4.0
    postavg_radius: float = 1.0
    postavg_samples: int = 15
    lowpass_bandwidth: float = 16.0
    seed: int = 0
    batch_size: int = 128
    threads: int | None = None


@dataclass
class DemoResult:
    """What the demo measured: one evaluation per model, heat maps, spectra, verdicts."""

    config: dict[str, Any]
    evaluations: dict[str, Any]
    heatmaps: dict[str, Any]
    spectra: dict[str, Any]
    verdicts: list[str]
    rows: list[dict[str, Any]]
    time_s: float
    files: dict[str, str] = field(default_factory=dict)


def _attacks(cfg: DemoConfig, *, defended: bool, randomized: bool, source: nn.Module | None) -> list[Any]:
    """The attacks of one model.

    PGD and SimBA-DCT for every model, PGD-EOT for randomised ones and, for defences, the
    transfer protocol of defence papers: small-step, early-stopped PGD examples made on the
    undefended model (examples that barely cross its decision boundary).
    """
    from attacks import PGD, SimBA, TransferAttack

    queries = cfg.simba_queries_defended if defended else cfg.simba_queries
    attack_list: list[Any] = [PGD(eps=cfg.eps, steps=cfg.pgd_steps)]
    if randomized:
        attack_list.append(PGD(eps=cfg.eps, steps=cfg.pgd_steps, eot_samples=cfg.eot_samples))
    attack_list.append(SimBA(basis="dct", step=cfg.simba_step, eps=cfg.eps, max_queries=queries))
    if defended and source is not None:
        minimal = PGD(eps=cfg.eps, steps=cfg.transfer_steps, rel_stepsize=cfg.transfer_rel_stepsize, random_start=False)
        attack_list.append(TransferAttack(source=source, attack=minimal))
    return attack_list


def _models(cfg: DemoConfig) -> dict[str, tuple[nn.Module, bool]]:
    """Name -> (model, defended?). Defences wrap the natural model."""
    from bandlimit.cli.names import resolve_model
    from defenses import LowPassFilter, PostAveraging

    natural = resolve_model(cfg.natural)
    return {
        "natural": (natural, False),
        "gaussian": (resolve_model(cfg.gaussian), False),
        "fast-AT": (resolve_model(cfg.fastat), False),
        f"post-avg(r={cfg.postavg_radius:g},K={cfg.postavg_samples})": (
            # Fresh directions on every call (a randomised defence), from a stream seeded by the
            # demo's seed so that a rerun reproduces every number.
            PostAveraging(
                natural,
                radius=cfg.postavg_radius,
                samples=cfg.postavg_samples,
                generator=torch.Generator().manual_seed(cfg.seed),
            ).eval(),
            True,
        ),
        f"low-pass(B={cfg.lowpass_bandwidth:g})": (
            nn.Sequential(LowPassFilter(bandwidth=cfg.lowpass_bandwidth), natural).eval(),
            True,
        ),
    }


def _row(name: str, result: Any, fourier: Any | None) -> dict[str, Any]:
    """One table row: accuracies per attack and the L∞ worst case."""
    row: dict[str, Any] = {"model": name, "n": result.n, "clean": result.clean_accuracy}
    for summary in result.attacks:
        label = _attack_label(summary)
        row[label] = summary.robust_accuracy
        if label == "SimBA" and summary.queries_mean is not None:
            row["queries"] = summary.queries_mean
    for group in result.groups:
        if group.norm == "linf" and len(group.attacks) > 1:
            row["worst L∞"] = group.robust_accuracy
    if fourier is not None:
        row["Fourier"] = fourier.robust_accuracy[next(iter(fourier.robust_accuracy))]
        row["n Fourier"] = fourier.n
    return row


def _attack_label(summary: Any) -> str:
    """Column name of an attack in the demo's table."""
    if summary.name == "transfer":
        return "transfer"
    eot = summary.eot_samples or summary.config.get("eot_samples") or 1
    if "pgd" in summary.key.lower():
        return "PGD-EOT" if eot > 1 else "PGD"
    if "simba" in summary.key.lower():
        return "SimBA"
    return summary.name


def _verdicts(rows: dict[str, dict[str, Any]], cfg: DemoConfig) -> list[str]:
    """Plain-language conclusions computed from the measured numbers."""
    out: list[str] = []
    pa = next((r for k, r in rows.items() if k.startswith("post-avg")), None)
    if pa is not None:
        transfer = pa.get("transfer")
        adaptive = {k: pa[k] for k in ("PGD", "PGD-EOT", "SimBA") if pa.get(k) is not None}
        weakest = min(adaptive, key=adaptive.get) if adaptive else None
        numbers = ", ".join(f"{k} {100 * v:.0f}%" for k, v in adaptive.items())
        if transfer is not None and weakest is not None and transfer - adaptive[weakest] >= 0.10:
            out.append(
                f"Post-averaging looks robust under the protocol of its paper (examples made on the "
                f"undefended model: {100 * transfer:.0f}% still classified correctly) but not when the "
                f"averaged model itself is attacked ({numbers}). Only adaptive attacks on the "
                "defended model measure its robustness; this is why the harness runs them, with EOT "
                "for randomised models, by default."
            )
        elif transfer is not None:
            out.append(
                f"Post-averaging: transfer protocol {100 * transfer:.0f}%, attacks on the averaged "
                f"model: {numbers}; the transfer protocol did not overstate its robustness here."
            )
        simba, eot = pa.get("SimBA"), pa.get("PGD-EOT")
        if simba is not None and eot is not None and simba - eot >= 0.25:
            out.append(
                "SimBA-DCT leaves much more of the post-averaged model standing than PGD-EOT: its "
                "accept/reject test reads a noisy output. A weak black-box number on a randomised "
                "defence is not evidence of robustness."
            )
    nat, fast = rows.get("natural"), rows.get("fast-AT")
    if nat and fast and "worst L∞" in nat and "worst L∞" in fast:
        out.append(
            f"At L∞ {cfg.eps * 255:.0f}/255 the natural model keeps {100 * nat['worst L∞']:.0f}% "
            f"and the fast-AT model {100 * fast['worst L∞']:.0f}% (worst case over PGD and "
            "SimBA-DCT per image)."
        )
    return out


def run_demo(cfg: DemoConfig, *, progress: Progress | None = None) -> DemoResult:
    """Run the whole demo; returns the measured numbers (``files`` is left empty).

    Raises:
        FileNotFoundError: a shipped model or sample is missing from the installation.
    """
    from attacks import PGD, FourierBasisAttack
    from bandlimit.data import load_dataset, to_tensors
    from bandlimit.evaluation import evaluate, fourier_heatmap, perturbation_spectrum

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    x, y = to_tensors(load_dataset(cfg.data), n=max(cfg.n, cfg.n_defended, cfg.n_heatmap, cfg.n_fourier))
    models = _models(cfg)
    steps = len(models) * 2 + 6
    done = 0

    def tick(desc: str) -> None:
        """Announce the step that starts now (the display names what runs, with the count done)."""
        nonlocal done
        notify(progress, desc, done, steps)
        done += 1

    evaluations: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    fourier_attack = FourierBasisAttack(norm_l2=cfg.fourier_norm)
    source = models["natural"][0]
    for name, (model, defended) in models.items():
        randomized = bool(getattr(model, "randomized", False))
        n = cfg.n_defended if defended else cfg.n
        tick(f"attacks on {name}")
        result = evaluate(
            model,
            (x, y),
            _attacks(cfg, defended=defended, randomized=randomized, source=source),
            n=n,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            eot=False,  # the demo lists PGD and PGD-EOT explicitly, to show the difference
        )
        tick(f"Fourier-basis attack on {name}")
        fourier = evaluate(
            model,
            (x, y),
            [fourier_attack],
            n=cfg.n_fourier_defended if defended else cfg.n_fourier,
            seed=cfg.seed,
            checks=False,
            eot=False,
        )
        evaluations[name] = {"attacks": result, "fourier": fourier}
        rows[name] = _row(name, result, fourier)

    heatmaps: dict[str, Any] = {}
    spectra: dict[str, Any] = {}
    for name in ("natural", "gaussian", "fast-AT"):
        model = models[name][0]
        tick(f"heat map of {name}")
        heatmaps[name] = fourier_heatmap(
            model, (x, y), norm=cfg.fourier_norm, n=cfg.n_heatmap, seed=cfg.seed, batch_size=2048
        )
        tick(f"perturbation spectrum of {name}")
        spectra[name] = perturbation_spectrum(
            model, (x, y), PGD(eps=cfg.eps, steps=cfg.pgd_steps), n=cfg.n, seed=cfg.seed
        )
    notify(progress, "done", done, steps)

    return DemoResult(
        config=dataclasses.asdict(cfg),
        evaluations=evaluations,
        heatmaps=heatmaps,
        spectra=spectra,
        verdicts=_verdicts(rows, cfg),
        rows=list(rows.values()),
        time_s=time.perf_counter() - start,
    )
