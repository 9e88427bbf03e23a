"""The official post-averaging of Lin et al. (``YupingLin171/PostAvgDefense``), exactly.

Lin, Kasra Ahmadi & Jiang 2019 ("Bandlimiting Neural Networks Against Adversarial Attacks")
analyse the average of the network's output over a ball; their released code
(``PADefense.py`` / ``postAveragedModels.py``, also under ``post_avg/`` in
``max-andr/square-attack``) computes it as follows, and :class:`LinPostAveraging` does the same:

* K = 15 random Gaussian directions, L2-normalised, each used as a ``±u`` pair;
* at three radii ``R/3``, ``2R/3`` and ``R``, plus the clean input: ``1 + 3 · 2K = 91`` forwards
  per image;
* the **softmax probabilities** of those points are averaged (``vote_method='avg_softmax'``);
* ``R`` is measured in the model's **normalised** input units (R = 6 for CIFAR-10, 30 for
  ImageNet): a step ``R · u`` after normalisation ``(x - mean) / std`` is ``R · std ⊙ u`` on the
  [0, 1] image, so the directions are scaled per channel by the model's ``std``;
* nothing is clipped (the code perturbs the normalised input).

The output is ``log`` of the mean probability (logit-like: its softmax is the averaged
probability, so cross-entropy losses and attacks work on it unchanged).
:class:`~defenses.PostAveraging` is the library's own form (points on one sphere in [0, 1] pixel
units, logits averaged by default, optional clipping); both are offered side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from defenses.post_averaging import PostAveraging

__all__ = ["LinPostAveraging"]

#: CIFAR-10's per-channel std, the normalisation of the shipped CIFAR models and of Lin et al.'s.
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _model_std(model: nn.Module) -> tuple[float, ...] | None:
    """The per-channel std of the model's own input normalisation, when it says."""
    from bandlimit.models._layouts import model_meta

    std = model_meta(model).get("std")
    return tuple(float(v) for v in std) if std is not None else None


class LinPostAveraging(PostAveraging):
    """Lin et al.'s post-averaging as released: ±K directions at R/3, 2R/3, R plus the clean input, softmax average.

    Args:
        model: Classifier from [0, 1] images to logits.
        radius: ``R`` in the model's normalised input units (official: 6 on CIFAR-10, 30 on ImageNet).
        samples: ``K``, the number of directions (official 15; each used as ``±u``).
        std: Per-channel std of the model's normalisation (scales the directions to [0, 1] pixel
            units); None reads it from the model (``bandlimit_meta`` or its ``Normalize`` layer)
            and falls back to CIFAR-10's.
        chunk_size, seed, generator: as for :class:`~defenses.PostAveraging`.

    Raises:
        ValueError: bad ``radius``, ``samples``, ``std``, or both ``seed`` and ``generator``.
        TypeError: ``model`` is not an ``nn.Module``.

    Example:
        >>> defended = LinPostAveraging(model, radius=6.0)  # 91 forwards per image  # doctest: +SKIP
    """

    #: The name :data:`defenses.DEFENSES` knows it by.
    name: ClassVar[str] = "postavg-lin"
    settings = ("radius", "samples", "std", "seed")
    # A class default so the base constructor can read ``config``; set per instance below.
    std: tuple[float, ...] = CIFAR10_STD

    def __init__(
        self,
        model: nn.Module,
        *,
        radius: float = 6.0,
        samples: int = 15,
        std: Sequence[float] | None = None,
        chunk_size: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            model, radius=radius, samples=samples, directions="gaussian", average="probs",
            chunk_size=chunk_size, seed=seed, generator=generator, clip=False,
        )  # fmt: skip
        chosen = std if std is not None else (_model_std(model) or CIFAR10_STD)
        values = tuple(float(v) for v in chosen)
        if not values or not all(v > 0 and v == v and v != float("inf") for v in values):
            raise ValueError(f"std: expected positive finite per-channel values, got {std!r}")
        self.std = values
        if isinstance(getattr(self, "bandlimit_meta", None), dict):
            self.bandlimit_meta = {**self.bandlimit_meta, "defense": {"name": "post_averaging_lin", **self.config}}

    @property
    def forwards_per_image(self) -> int:
        """``1 + 3 · 2K`` (91 with the official K = 15)."""
        return 1 + 6 * self.samples

    def points(self, x: Tensor) -> Tensor:
        """The clean image, then ``x ± r · std ⊙ u_k`` for r in (R/3, 2R/3, R): ``(B, 1 + 6K, C, H, W)``."""
        self._check_input(x)
        c = x.shape[1]
        if len(self.std) != c:
            raise ValueError(f"std: expected {c} per-channel values for {c}-channel images, got {len(self.std)}")
        scale = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 1, c, 1, 1)
        u = self.unit_directions(x) * scale  # (B or 1, K, C, H, W), std-scaled: a unit step in normalised units
        steps = torch.cat(
            [s * r * u for r in (self.radius / 3, 2 * self.radius / 3, self.radius) for s in (1.0, -1.0)], 1
        )
        return torch.cat([x.unsqueeze(1), x.unsqueeze(1) + steps], dim=1)

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())

    def __getstate__(self) -> dict[str, Any]:
        return super().__getstate__()
