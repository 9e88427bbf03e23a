"""Fourier heat maps (Yin et al., NeurIPS 2019).

For every centred frequency cell ``(i, j)`` the images are perturbed by ``v * r * U(i, j)``
(``U`` the unit-norm real Fourier basis image of :func:`bandlimit.spectral.fourier_basis`,
``v`` the ``norm``, ``r`` a random sign per image and channel), clipped to [0, 1], and the
error rate is recorded. A cell and its conjugate partner have the *same* basis image, so the
map is computed once per distinct pair (:func:`bandlimit.spectral.fourier_basis_pairs`, 514
pairs on 32×32) and mirrored; images × cells are batched into each forward pass.

Defaults follow the paper protocol rather than the released code's defaults: random signs
(``rand_flip``) and clipping to [0, 1] are on; pass ``random_sign=False`` or ``clip=False``
to turn them off. ImageNet maps are usually restricted to the central 63×63 cells
(``cells="central:63"``) at ``norm=15.7``; CIFAR-10 maps use the full grid at ``norm=4``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit import _torch
from bandlimit._checks import (
    NonFiniteLogits,
    check_bool,
    check_logits,
    check_nonnegative,
    check_positive_int,
    check_seed,
    nonfinite_message,
)
from bandlimit._env import environment
from bandlimit._progress import Progress, notify, progress_option
from bandlimit._torch import model_guard, resolve_device
from bandlimit.evaluation._common import batches, check_model, derive_generator, known_total, predict
from bandlimit.evaluation.analysis_results import HeatmapResult
from bandlimit.spectral import fourier_basis_pairs, fourier_basis_stack, fourier_partner_index

__all__ = ["fourier_heatmap", "fourier_noise_norm", "heatmap_cells"]


def _partner(cells: Tensor, h: int, w: int) -> Tensor:
    """The conjugate partners of a ``(P, 2)`` list of centred cells."""
    return torch.stack([fourier_partner_index(h)[cells[:, 0]], fourier_partner_index(w)[cells[:, 1]]], dim=1)


def fourier_noise_norm(image_size: int) -> float:
    """Yin et al.'s L2 norm ``v`` of Fourier-basis noise for square images of this size.

    The paper uses ``v = 4`` on 32×32 CIFAR-10 and ``v = 15.7`` on 224×224 ImageNet (in [0, 1]
    units, per channel); sizes in between get ``15.7 * sqrt(size / 224)`` (an interpolation of
    ours, not the paper's). It is the default ``norm`` of ``bandlimit heatmap`` and the budget
    of the Fourier-basis attack in the command line's attack suites.

    Args:
        image_size: Height (= width) of the images in pixels.

    Example:
        >>> fourier_noise_norm(32), fourier_noise_norm(224)
        (4.0, 15.7)
    """
    check_positive_int(image_size, "image_size")
    if image_size <= 32:
        return 4.0
    return 15.7 * math.sqrt(image_size / 224) if image_size < 224 else 15.7


def heatmap_cells(h: int, w: int, cells: Any = None) -> Tensor:
    """The representative cells (one per conjugate pair) a heat map evaluates.

    Args:
        h: Image height.
        w: Image width.
        cells: None for every cell; ``"central:K"`` for the centred block of cells with
            ``|i - h//2| <= K//2`` and ``|j - w//2| <= K//2`` (K×K for odd K, e.g. 63 on
            ImageNet); or an integer tensor ``(P, 2)`` of centred indices.

    Returns:
        ``LongTensor (P, 2)``: the pairs of :func:`~bandlimit.spectral.fourier_basis_pairs`
        that contain a requested cell, in their row-major order.

    Raises:
        TypeError, ValueError: a malformed ``cells``.
    """
    pairs = fourier_basis_pairs(h, w)
    if cells is None:
        return pairs
    partners = _partner(pairs, h, w)
    if isinstance(cells, str):
        kind, _, size = cells.partition(":")
        if kind != "central" or not size.isdigit() or int(size) < 1:
            raise ValueError(f"cells: expected None, 'central:K' (K >= 1) or a (P, 2) tensor, got {cells!r}")
        if int(size) > max(h, w):
            raise ValueError(
                f"cells: expected 'central:K' with K <= {max(h, w)} for {h}x{w} images, got {cells!r}; "
                f"central:{max(h, w)} (or None) already covers every cell"
            )
        half = int(size) // 2

        def inside(c: Tensor) -> Tensor:
            return ((c[:, 0] - h // 2).abs() <= half) & ((c[:, 1] - w // 2).abs() <= half)

        return pairs[inside(pairs) | inside(partners)]
    if not isinstance(cells, Tensor):
        cells = torch.as_tensor(cells)
    if cells.numel() == 0:
        raise ValueError("cells: expected at least one (i, j) cell, got none; use None for every cell")
    if cells.dtype.is_floating_point or cells.dtype == torch.bool or cells.dim() != 2 or cells.shape[1] != 2:
        raise ValueError(f"cells: expected an integer tensor of shape (P, 2), got {cells.dtype} {tuple(cells.shape)}")
    cells = cells.long().cpu()
    bad = (cells[:, 0] < 0) | (cells[:, 0] >= h) | (cells[:, 1] < 0) | (cells[:, 1] >= w)
    if bool(bad.any()):
        raise ValueError(
            f"cells: expected centred indices with i in [0, {h - 1}] and j in [0, {w - 1}], "
            f"got {tuple(cells[bad][0].tolist())}"
        )
    flat = cells[:, 0] * w + cells[:, 1]
    wanted = torch.zeros(h * w, dtype=torch.bool)
    wanted[flat] = True
    return pairs[wanted[pairs[:, 0] * w + pairs[:, 1]] | wanted[partners[:, 0] * w + partners[:, 1]]]


_CLEAN = "model output on the clean images"


def _noisy_logits(model: nn.Module, images: Tensor) -> Tensor:
    """The model's logits on noisy images, shape-checked (finiteness: :func:`_check_finite`)."""
    logits = model(images)
    check_logits(logits, images.shape[0], "model output under Fourier noise", finite=False)
    return logits


def _check_finite(bad: Tensor, pairs: Tensor, start: int) -> None:
    """Raise if any image x cell of a batch got NaN or inf logits (``bad``: ``(P, B)``)."""
    if bool(bad.any()):
        q, s = (int(v) for v in bad.nonzero()[0])
        i, j = (int(v) for v in pairs[q])
        raise NonFiniteLogits(
            nonfinite_message(
                f"model output under Fourier noise at cell ({i}, {j})",
                f"sample {start + s} ({int(bad.sum())} of {bad.numel()} image x cell pairs of the batch affected)",
            )
        )


@progress_option("heat map")
def fourier_heatmap(
    model: nn.Module,
    data: Any,
    *,
    norm: float,
    cells: Any = None,
    random_sign: bool = True,
    clip: bool = True,
    n: int | None = None,
    batch_size: int = 256,
    pass_size: int | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: Progress | bool | None = None,
) -> HeatmapResult:
    """Error rate of ``model`` under Fourier-basis noise of L2 norm ``norm`` at every cell.

    Args:
        model: ``nn.Module`` from [0, 1] images to logits.
        data: A Dataset, a DataLoader or an ``(x, y)`` pair of tensors.
        norm: L2 norm ``v`` of the noise per channel (CIFAR-10: 4, ImageNet: 15.7).
        cells: Which cells to evaluate: None (all), ``"central:K"`` or a ``(P, 2)`` tensor
            (see :func:`heatmap_cells`); the others are NaN in the map.
        random_sign: Draw the sign of the noise independently per image, channel and cell
            (Yin et al.'s ``rand_flip``); False adds ``+v·U`` everywhere (deterministic).
        clip: Clip perturbed images to [0, 1].
        n: Use the first ``n`` images (all when None).
        batch_size: Images per data batch; the random signs are drawn per data batch, so
            this (with ``seed``) fixes the result.
        pass_size: Most perturbed images per forward pass (images × cells are batched). It
            changes speed and memory, never the result. None: ``batch_size`` on an accelerator,
            :data:`bandlimit._torch.CPU_PASS_SIZE` (32) on the CPU, where big passes fall out of
            cache (ResNet-20: 4x faster than passes of 2,048).
        device: Where to run (default: the model's device).
        seed: Seed of the random signs (per data batch, independent of the cell batching).
        progress: ``True`` for a progress bar on stderr, or a callback
            ``progress(description, completed, total)`` called after each forward pass.

    Returns:
        A :class:`~bandlimit.evaluation.results.HeatmapResult` whose ``error`` is the
        ``(H, W)`` map (centred, DC at ``(H//2, W//2)``).
    """
    check_model(model)
    norm = check_nonnegative(norm, "norm")
    check_bool(random_sign, "random_sign")
    check_bool(clip, "clip")
    check_positive_int(batch_size, "batch_size")
    check_seed(seed)
    if pass_size is not None:
        check_positive_int(pass_size, "pass_size")
    dev = resolve_device(device, model=model)
    per_call = _torch.pass_size(pass_size, dev, batch_size)
    wrong: Tensor | None = None
    pairs = bases = None
    clean_correct, count, step, total = 0, 0, 0, 0
    with model_guard(model), torch.no_grad():
        for start, x, y in batches(data, batch_size=batch_size, device=dev, n=n, model=model):
            b, c, h, w = x.shape
            if pairs is None:
                pairs = heatmap_cells(h, w, cells)
                bases = fourier_basis_stack(h, w, pairs, dtype=x.dtype, device=dev) * norm
                wrong = torch.zeros(pairs.shape[0], dtype=torch.long, device=dev)
                per_batch = math.ceil(pairs.shape[0] / max(1, per_call // b))
                total = math.ceil(known_total(data, n) / batch_size) * per_batch
            elif (h, w) != tuple(bases.shape[-2:]):
                raise ValueError(f"data: expected every image of size {tuple(bases.shape[-2:])}, got {(h, w)}")
            clean_correct += int((predict(model, x, name=_CLEAN, samples=start, y=y) == y).sum())
            count += b
            n_pairs = pairs.shape[0]
            if random_sign:
                gen = derive_generator(seed, "heatmap", start, device=dev)
                signs = torch.randint(0, 2, (n_pairs, b, c), generator=gen, device=dev).to(x.dtype)
                signs = signs * 2 - 1
            else:
                signs = torch.ones(n_pairs, b, c, dtype=x.dtype, device=dev)
            per_pass = max(1, per_call // b)  # cells per step; a step larger than per_call is split
            # Non-finite outputs are noted on the device and checked once per batch (no sync per pass).
            bad = torch.zeros(n_pairs, b, dtype=torch.bool, device=dev)
            for q0 in range(0, n_pairs, per_pass):
                q1 = min(q0 + per_pass, n_pairs)
                noise = signs[q0:q1, :, :, None, None] * bases[q0:q1, None, None]
                pert = x.unsqueeze(0) + noise  # (Q, B, C, H, W)
                if clip:
                    pert = pert.clamp_(0.0, 1.0)
                logits = torch.cat([_noisy_logits(model, part) for part in pert.flatten(0, 1).split(per_call)])
                wrong[q0:q1] += (logits.argmax(dim=1).view(q1 - q0, b) != y.unsqueeze(0)).sum(dim=1)
                bad[q0:q1] |= ~torch.isfinite(logits).all(dim=1).view(q1 - q0, b)
                step += 1
                notify(progress, f"images {start}+", step, max(total, step))
            _check_finite(bad, pairs, start)
    if pairs is None or wrong is None:
        raise ValueError("data: expected at least one sample, got none")
    error = torch.full((h, w), math.nan, dtype=torch.float64)
    rates = wrong.double().cpu() / count
    error[pairs[:, 0], pairs[:, 1]] = rates
    partners = _partner(pairs, h, w)
    error[partners[:, 0], partners[:, 1]] = rates
    config = {
        "norm": norm,
        "cells": cells if cells is None or isinstance(cells, str) else pairs.tolist(),
        "random_sign": random_sign,
        "clip": clip,
        "n": n,
        "batch_size": batch_size,
        "seed": seed,
    }
    return HeatmapResult(
        error=error,
        accuracy=1.0 - error,
        clean_accuracy=clean_correct / count,
        norm=norm,
        n=count,
        cells_evaluated=int(pairs.shape[0]),
        random_sign=random_sign,
        clip=clip,
        config=config,
        seed=seed,
        environment=environment(dev),
    )
