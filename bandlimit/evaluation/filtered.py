"""Accuracy on frequency-filtered images (Yin et al. 2019; Wang et al. 2020).

Two sweeps over the same images:

- bandwidth B (Yin et al.): accuracy on ``lowpass(x, bandwidth=B)`` (keep the centred B×B
  block of the shifted spectrum; see :func:`bandlimit.spectral.frequency_mask` for even B)
  and on ``highpass(x, bandwidth=B)`` (remove that block). ``B = max(H, W)`` keeps every
  frequency, so its low-pass accuracy is the clean accuracy;
- radius r (Wang et al.): accuracy on the low-frequency component (disc ``dist < r``) and on
  the high-frequency component (the rest) of :func:`bandlimit.spectral.frequency_split`,
  ``low + high == x``. With ``rescale=True`` each component is divided by its per-image
  maximum, as in Wang et al.'s released code (HFC images keep their negative values).

Filtered images are given to the model as they are (they may leave [0, 1]); ``clip=True``
clips them to [0, 1] first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_bool, check_choice, check_positive, check_positive_int
from bandlimit._env import environment
from bandlimit._progress import Progress, notify, progress_option
from bandlimit._torch import model_guard, resolve_device
from bandlimit.evaluation._common import batches, check_model, known_total, predict
from bandlimit.evaluation.analysis_results import FilteredResult
from bandlimit.spectral import frequency_split, highpass, lowpass

__all__ = ["default_bandwidths", "default_radii", "filtered_accuracy", "split_components"]

_SHAPES = ("square", "disc", "gaussian", "butterworth")


def default_bandwidths(size: int) -> list[float]:
    """Odd bandwidths 1, 3, ... below ``size``, then ``size`` itself (everything kept)."""
    return [float(b) for b in range(1, size, 2)] + [float(size)]


def default_radii(h: int, w: int) -> list[float]:
    """Radii ``k·min(h, w)/8``, k = 1..7, up to the largest useful radius.

    Wang et al. use 4, 8, ..., 28 on 32×32; radii above ``hypot(h//2, w//2) + 1`` keep every
    frequency and :func:`bandlimit.spectral.lowpass` rejects them, so 32×32 gets 4, ..., 20.
    """
    limit = math.hypot(h // 2, w // 2) + 1.0
    return [r for r in (min(h, w) * k / 8 for k in range(1, 8)) if r <= limit]


def split_components(x: Tensor, radius: float, *, rescale: bool = False) -> tuple[Tensor, Tensor]:
    """Wang et al.'s low/high-frequency components of ``x``, optionally max-rescaled.

    Without rescaling ``low + high == x``. With ``rescale`` each component of each image is
    divided by its maximum over (C, H, W) (left as is where that maximum is not positive).
    """
    low, high = frequency_split(x, radius)
    if rescale:
        low, high = _rescale(low), _rescale(high)
    return low, high


def _rescale(part: Tensor) -> Tensor:
    peak = part.flatten(1).amax(dim=1).view(-1, *([1] * (part.dim() - 1)))
    return torch.where(peak > 0, part / peak.clamp_min(1e-12), part)


def _sweep(values: Any, name: str, default: list[float]) -> list[float]:
    if values is None:
        return default
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, Tensor) and values.dim() <= 1:
        values = values.reshape(-1).tolist()
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    return [check_positive(v, name) for v in values]


@progress_option("filtered accuracy")
def filtered_accuracy(
    model: nn.Module,
    data: Any,
    *,
    bandwidths: Sequence[float] | None = None,
    radii: Sequence[float] | None = None,
    shape: str = "square",
    rescale: bool = False,
    clip: bool = False,
    n: int | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    progress: Progress | bool | None = None,
) -> FilteredResult:
    """Accuracy under low-/high-pass filtering (by bandwidth) and on LFC/HFC (by radius).

    Args:
        model: ``nn.Module`` from [0, 1] images to logits.
        data: A Dataset, a DataLoader or an ``(x, y)`` pair of tensors.
        bandwidths: Bandwidth sweep (default :func:`default_bandwidths` of ``max(H, W)``);
            an empty list skips it.
        radii: Radius sweep (default :func:`default_radii`); an empty list
            skips it.
        shape: Low-pass shape for the bandwidth sweep (``"square"`` as Yin et al., or
            ``"disc"``, ``"gaussian"``, ``"butterworth"`` with radius ``B / 2``).
        rescale: Divide each LFC/HFC image by its maximum (Wang et al.).
        clip: Clip filtered images to [0, 1] before the model.
        n: Use the first ``n`` images.
        batch_size: Images per forward pass.
        device: Where to run (default: the model's device).
        progress: ``True`` for a progress bar on stderr, or a callback
            ``progress(description, completed, total)`` called after each batch.

    Returns:
        A :class:`~bandlimit.evaluation.results.FilteredResult`.
    """
    check_model(model)
    check_choice(shape, "shape", _SHAPES)
    check_positive_int(batch_size, "batch_size")
    check_bool(rescale, "rescale")
    check_bool(clip, "clip")
    # The sweeps' defaults depend on the image size; given ones are checked before any data is read.
    given = [_sweep(v, k, []) for v, k in ((bandwidths, "bandwidths"), (radii, "radii")) if v is not None]
    if len(given) == 2 and not any(given):
        raise ValueError("bandwidths, radii: expected at least one value in either, got two empty sweeps")
    dev = resolve_device(device, model=model)
    bws: list[float] | None = None
    rads: list[float] | None = None
    counts: dict[str, Tensor] = {}
    clean, seen, step = 0, 0, 0
    total = -(-known_total(data, n) // batch_size)

    def correct(images: Tensor, y: Tensor, start: int, what: str) -> int:
        if clip:
            images = images.clamp(0.0, 1.0)
        pred = predict(model, images, name=f"model output on {what}", samples=start)
        return int((pred == y).sum())

    with model_guard(model), torch.no_grad():
        for start, x, y in batches(data, batch_size=batch_size, device=dev, n=n, model=model):
            h, w = x.shape[-2:]
            if bws is None or rads is None:
                bws = _sweep(bandwidths, "bandwidths", default_bandwidths(max(h, w)))
                rads = _sweep(radii, "radii", default_radii(h, w))
                counts = {
                    k: torch.zeros(len(v), dtype=torch.long)
                    for k, v in (("lowpass", bws), ("highpass", bws), ("low", rads), ("high", rads))
                }
            clean += int((predict(model, x, name="model output on the clean images", samples=start, y=y) == y).sum())
            seen += x.shape[0]
            for k, b in enumerate(bws):
                counts["lowpass"][k] += correct(
                    lowpass(x, bandwidth=b, shape=shape), y, start, f"low-pass images (B={b:g})"
                )
                counts["highpass"][k] += correct(
                    highpass(x, bandwidth=b, shape=shape), y, start, f"high-pass images (B={b:g})"
                )
            for k, r in enumerate(rads):
                low, high = split_components(x, r, rescale=rescale)
                counts["low"][k] += correct(low, y, start, f"low-frequency components (r={r:g})")
                counts["high"][k] += correct(high, y, start, f"high-frequency components (r={r:g})")
            step += 1
            notify(progress, f"images {start}+", step, max(total, step))
    if bws is None or rads is None:
        raise ValueError("data: expected at least one sample, got none")

    def acc(key: str) -> list[float]:
        return [float(c) / seen for c in counts[key]]

    return FilteredResult(
        clean_accuracy=clean / seen,
        n=seen,
        shape=shape,
        bandwidths=bws,
        lowpass_accuracy=acc("lowpass"),
        highpass_accuracy=acc("highpass"),
        radii=rads,
        low_accuracy=acc("low"),
        high_accuracy=acc("high"),
        rescale=rescale,
        clip=clip,
        config={
            "bandwidths": bws,
            "radii": rads,
            "shape": shape,
            "rescale": rescale,
            "clip": clip,
            "n": n,
            "batch_size": batch_size,
        },
        environment=environment(dev),
    )
