"""Rahaman et al. 2019, "On the Spectral Bias of Neural Networks" (ICML), Figure 1: spectral bias.

Claim reproduced: a ReLU MLP fitting ``lambda(z) = sum_i A_i sin(2 pi k_i z + phi_i)``
(k = 5, 10, ..., 50; 200 points in [0, 1)) learns the low frequencies first, even when the
high-frequency amplitudes are *larger* (A_i = 0.1 i). Shown as heat maps of the normalised
spectrum ``|f~(k_i)| / A_i`` (frequency x iteration), one for equal amplitudes, one for
increasing amplitudes.

Setup as in the paper: MLP 1 -> 256 x 5 -> 1 (6 linear layers, ReLU), Adam lr 3e-4, MSE,
full batch, phases redrawn per run, spectrum recorded every 100 iterations.
**Reduced for CPU:** 2 runs x 4,000 iterations per amplitude profile (the paper: about 10-20
runs and tens of thousands of iterations). Paper scale: ``--full`` (``--runs 10 --steps 60000``).

Expected: the normalised amplitude at k = 5 reaches ~1 within about 1,000 iterations, while
k = 50 is still well below 1 at the end; the order holds for both amplitude profiles.

Hardware: 1 thread of a shared 2-core AMD EPYC CPU, no GPU. Measured run time at the
defaults: 397 s with the machine at load average ~9 (~15 ms per iteration, about 4 minutes,
when less loaded).

Run: ``python experiments/rahaman_spectral_bias.py`` (writes experiments/results/rahaman_spectral_bias/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from _common import finish_cpu_run, plot_step_heatmaps, run_main, start_cpu_run

from bandlimit.analysis import fit_full_batch, fourier_amplitudes, mlp, random_phases, sinusoid_target, uniform_grid

LOG = logging.getLogger("rahaman_spectral_bias")
NAME = "rahaman_spectral_bias"


@dataclass(frozen=True)
class Config:
    """Every hyperparameter of the experiment."""

    frequencies: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    n_points: int = 200
    hidden: tuple[int, ...] = (256, 256, 256, 256, 256)
    lr: float = 3e-4
    steps: int = 4000  # paper: tens of thousands (reduced for CPU)
    record_every: int = 100
    runs: int = 2  # paper: 10-20 (reduced for CPU)
    seed: int = 0
    threads: int = 1
    out_dir: str = ""  # default experiments/results/rahaman_spectral_bias/


FULL = {"runs": 10, "steps": 60000}


def amplitude_profiles(cfg: Config) -> dict[str, torch.Tensor]:
    """The paper's two amplitude profiles: all 1, and A_i = 0.1 i (largest at the highest k)."""
    m = len(cfg.frequencies)
    return {
        "equal": torch.ones(m),
        "increasing": 0.1 * torch.arange(1, m + 1, dtype=torch.float32),
    }


def run_profile(cfg: Config, amplitudes: torch.Tensor, generator: torch.Generator) -> dict[str, object]:
    """Train ``cfg.runs`` networks on targets with fresh phases; return the mean normalised spectra."""
    z = uniform_grid(cfg.n_points)
    k = torch.tensor(cfg.frequencies)
    spectra = []
    for run in range(cfg.runs):
        target = sinusoid_target(z, k, amplitudes, random_phases(len(k), generator=generator))
        model = mlp(1, cfg.hidden, 1, generator=generator)
        steps, records, losses = fit_full_batch(
            model,
            z[:, None],
            target[:, None],
            steps=cfg.steps,
            lr=cfg.lr,
            record_every=cfg.record_every,
            probe=lambda out: fourier_amplitudes(out[:, 0], k) / amplitudes,
        )
        spectra.append(records)
        LOG.info("run %d: final MSE %.4f, final |f(k)|/A %s", run, float(losses[-1]), records[-1].numpy().round(2))
    stacked = torch.stack(spectra)  # (runs, T, m)
    return {
        "steps": steps.tolist(),
        "mean": stacked.mean(dim=0).T.tolist(),  # (m, T)
        "std": stacked.std(dim=0, correction=0).T.tolist(),
        "first_step_reaching_0.9": first_crossing(stacked.mean(dim=0), steps, 0.9),
    }


def first_crossing(curves: torch.Tensor, steps: torch.Tensor, level: float) -> list[int | None]:
    """Per frequency, the first recorded step where the mean normalised amplitude reaches ``level``."""
    out: list[int | None] = []
    for column in curves.T:
        hit = torch.nonzero(column >= level).flatten()
        out.append(int(steps[hit[0]]) if hit.numel() else None)
    return out


def plot(results: dict[str, dict[str, object]], cfg: Config, path: Path) -> None:
    """Two heat maps (equal / increasing amplitudes): frequency x iteration, colour = |f~(k)|/A."""
    plot_step_heatmaps(
        path,
        {f"{name} amplitudes (mean of {cfg.runs} runs)": res["mean"] for name, res in results.items()},
        next(iter(results.values()))["steps"],  # type: ignore[arg-type]
        [str(k) for k in cfg.frequencies],
        cmap="viridis",
        xlabel="training iteration",
        ylabel="frequency k",
        colorbar="|f~(k)| / A_k  (clipped at 1)",
        height=3.6,
    )


def main(cfg: Config) -> dict[str, object]:
    """Run both amplitude profiles, write results.json and the heat-map figure."""
    out, timer, generator = start_cpu_run(NAME, cfg)
    with timer("training"):
        results = {name: run_profile(cfg, amps, generator) for name, amps in amplitude_profiles(cfg).items()}
    paper = "Rahaman et al. 2019, On the Spectral Bias of Neural Networks, Fig. 1"
    summary = finish_cpu_run(out, paper, cfg, timer, results=results)
    plot(results, cfg, out / "spectral_bias_heatmaps.png")
    return summary


if __name__ == "__main__":
    run_main(Config, __doc__, FULL, main)
