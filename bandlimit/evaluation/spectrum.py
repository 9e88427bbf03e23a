"""Spectra of adversarial perturbations: mean ``|F(x_adv - x)|``, radial profile, band energy.

``perturbation_spectrum(x, x_adv)`` measures given perturbations;
``perturbation_spectrum(model, data, attack_or_attacks)`` runs the attacks (verified like in
:func:`~bandlimit.evaluation.evaluate`) on the correctly classified samples and measures
what they produce. Spectra are centred (DC at ``(H//2, W//2)``), orthonormal, computed per
channel and averaged over images and channels. Band energies are fractions of ``|F|^2`` in
the bands of :func:`bandlimit.spectral.fourier_band_mask` (radius as a fraction of Nyquist:
low ``< low``, mid, high ``>= high``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_images, check_positive_int, check_seed
from bandlimit._env import environment
from bandlimit._progress import Progress, notify, progress_option
from bandlimit._torch import model_guard, resolve_device
from bandlimit.evaluation._common import batches, check_model, derive_generator, known_total, predict
from bandlimit.evaluation._plan import PlannedAttack, attack_list, check_attack
from bandlimit.evaluation._verify import verify_adversarial
from bandlimit.evaluation.analysis_results import SpectrumReport, SpectrumResult
from bandlimit.spectral import fft2c, fourier_band_mask, radial_profile

__all__ = ["perturbation_spectrum"]

_BANDS = ("low", "mid", "high")


class _Accumulator:
    """Running sums of ``|F(delta)|`` and ``|F(delta)|^2`` over images and channels."""

    def __init__(self) -> None:
        self.mag: Tensor | None = None
        self.power: Tensor | None = None
        self.count = 0

    def add(self, delta: Tensor) -> None:
        spec = fft2c(delta.double())
        mag = spec.abs().reshape(-1, *delta.shape[-2:])
        mag_sum, power_sum = mag.sum(dim=0), mag.square().sum(dim=0)
        self.mag = mag_sum if self.mag is None else self.mag + mag_sum
        self.power = power_sum if self.power is None else self.power + power_sum
        self.count += mag.shape[0]

    def result(self, label: str, low: float, high: float, images: int, success: float | None) -> SpectrumResult:
        if self.mag is None or self.power is None:
            raise ValueError(f"{label}: expected at least one perturbation to measure, got none")
        h, w = self.mag.shape
        spectrum = (self.mag / self.count).cpu()
        radii, profile = radial_profile(spectrum)
        power = self.power.cpu()
        total = float(power.sum())
        energy = {}
        for band in _BANDS:
            mask = fourier_band_mask(h, w, band, low=low, high=high, dtype=torch.float64)
            energy[band] = float((mask * power).sum()) / total if total > 0 else math.nan
        return SpectrumResult(
            label=label,
            spectrum=spectrum.float(),
            radii=radii.float(),
            profile=profile.float(),
            band_energy=energy,
            band_edges=[low, high],
            n=images,
            success_rate=success,
        )


def _check_edges(low: Any, high: Any) -> tuple[float, float]:
    for value, name in ((low, "low"), (high, "high")):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not 0 <= low <= high:
        raise ValueError(f"expected 0 <= low <= high (fractions of Nyquist), got low={low}, high={high}")
    return float(low), float(high)


@progress_option("spectrum")
def perturbation_spectrum(
    x: Any,
    x_adv: Any,
    attacks: Any = None,
    *,
    low: float = 0.25,
    high: float = 0.5,
    n: int | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: Progress | bool | None = None,
) -> SpectrumResult | SpectrumReport:
    """Mean Fourier magnitude of perturbations, from tensors or by running attacks.

    Two call forms:

    - ``perturbation_spectrum(x, x_adv)``: images ``(N, C, H, W)`` in [0, 1] and their
      perturbed versions; returns a :class:`SpectrumResult`.
    - ``perturbation_spectrum(model, data, attack)`` (or a list of attacks): runs each attack
      on the correctly classified samples of ``data``, verifies every output, and returns a
      :class:`SpectrumResult` (one attack) or a :class:`SpectrumReport` (a list), with the
      fraction of perturbations that fooled the model.

    Args:
        x: Clean images, or the model.
        x_adv: Perturbed images, or the data (Dataset, DataLoader or ``(x, y)`` pair).
        attacks: None with tensors; an attack or a list of attacks with a model.
        low: Upper edge of the low band (fraction of Nyquist).
        high: Lower edge of the high band (fraction of Nyquist).
        n: Use the first ``n`` samples (model form).
        batch_size: Images per attack call (model form).
        device: Where to run (default: the model's device).
        seed: Seed of the attacks' generators (model form).
        progress: ``True`` for a progress bar on stderr, or a callback
            ``progress(description, completed, total)`` called after each attack × batch.

    Raises:
        TypeError, ValueError: invalid arguments; ``BudgetViolation`` from an attack that
            leaves its threat model.
    """
    low, high = _check_edges(low, high)
    if isinstance(x, Tensor):
        if attacks is not None:
            raise TypeError("attacks: expected None when x and x_adv are tensors")
        check_images(x, "x")
        check_images(x_adv, "x_adv")
        if x_adv.shape != x.shape:
            raise ValueError(f"x_adv: expected shape {tuple(x.shape)} like x, got {tuple(x_adv.shape)}")
        acc = _Accumulator()
        acc.add(x_adv - x)
        out = acc.result("perturbation", low, high, x.shape[0], None)
        out.config = {"low": low, "high": high}
        out.environment = environment(x.device)
        return out
    if not isinstance(x, nn.Module):
        raise TypeError(
            f"x: expected clean images (a tensor, with x_adv their perturbed versions) or a model "
            f"(with data and attacks), got {type(x).__name__}"
        )
    check_model(x)
    check_seed(seed)
    check_positive_int(batch_size, "batch_size")
    if n is not None:
        check_positive_int(n, "n")
    if attacks is None:
        raise TypeError("attacks: expected an attack or a list of attacks with a model")
    return _run(
        x, x_adv, attack_list(attacks), hasattr(attacks, "run"), low, high, n, batch_size, device, seed, progress
    )


def _run(
    model: nn.Module,
    data: Any,
    attacks: list[Any],
    single: bool,
    low: float,
    high: float,
    n: int | None,
    batch_size: int,
    device: torch.device | str | None,
    seed: int,
    progress: Progress | None,
) -> SpectrumResult | SpectrumReport:
    checked = [check_attack(a, f"attacks[{i}]") for i, a in enumerate(attacks)]
    labels = [f"{a.name}/{a.threat.key}" for a in checked]
    # Labels seed the generators: a repeated attack gets its position appended (not evaluate's #n).
    labels = [lab if labels.count(lab) == 1 else f"{lab}#{k}" for k, lab in enumerate(labels)]
    plan = [PlannedAttack(label, a.threat, a) for label, a in zip(labels, checked, strict=True)]
    dev = resolve_device(device, model=model)
    accs = [_Accumulator() for _ in plan]
    fooled = [0] * len(plan)
    images = [0] * len(plan)
    total = math.ceil(known_total(data, n) / batch_size) * len(plan)
    step = seen = 0
    with model_guard(model):
        for start, x, y in batches(data, batch_size=batch_size, device=dev, n=n, model=model):
            correct = predict(model, x, name="model output on the clean images", samples=start, y=y) == y
            seen += x.shape[0]
            xs, ys = x[correct], y[correct]
            indices = correct.nonzero().squeeze(1) + start
            for k, p in enumerate(plan):
                step += 1
                if xs.shape[0] == 0:
                    continue
                gen = derive_generator(seed, p.key, start, device=dev)
                out = p.run(model, xs, ys, generator=gen, start=start)
                x_adv = out if isinstance(out, Tensor) else getattr(out, "x_adv", None)
                x_adv, _ = verify_adversarial(xs, x_adv, norm=p.norm, eps=p.eps, attack=p.key, indices=indices)
                accs[k].add(x_adv - xs)
                name = f"model output on the adversarial examples of attack {p.key}"
                fooled[k] += int((predict(model, x_adv, name=name, samples=indices) != ys).sum())
                images[k] += xs.shape[0]
                notify(progress, f"{labels[k]} (samples {start}+)", step, max(total, step))
    results = []
    config = {"low": low, "high": high, "n": n, "batch_size": batch_size, "seed": seed}
    if not seen:
        raise ValueError("data: expected at least one sample, got none")
    if not any(images):
        raise ValueError(
            f"data: none of the {seen} samples is classified correctly, so no attack ran and there is no "
            "perturbation to measure (attacks run on correctly classified samples only); check that the "
            "labels belong to the model's data set"
        )
    for k, label in enumerate(labels):
        res = accs[k].result(label, low, high, images[k], fooled[k] / max(images[k], 1))
        res.config = {**config, "attack": {kk: v for kk, v in plan[k].describe().items() if kk != "config"}}
        res.seed = seed
        res.environment = environment(dev)
        results.append(res)
    if single:
        return results[0]
    return SpectrumReport(spectra=results, config=config, seed=seed, environment=environment(dev))
