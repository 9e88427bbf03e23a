"""The worst single Fourier-basis perturbation (Tsuzuku & Sato 2019; Yin et al. 2019 basis).

For every image, try ``x + v * s_c * U_{i,j}`` on each colour channel ``c`` for every distinct
Fourier basis image ``U_{i,j}`` (one per conjugate-symmetric pair of bins,
:func:`bandlimit.spectral.fourier_basis_pairs`; 514 on 32x32) and every sign pattern ``s``, and
keep the first candidate (in a fixed order) that fools the model. This is the worst case of
Yin et al.'s Fourier heat map, which averages the same perturbations over images.

**Perturbation size.** ``U_{i,j}`` has unit L2 norm, and every channel carries ``± v * U``
(Yin et al.'s convention), so a perturbation has L2 norm ``v`` per channel and ``v * sqrt(C)``
over the image; the declared threat model is ``("l2", v * sqrt(channels))``. Candidates are
clipped to [0, 1], which moves each pixel toward its clean value, so it can only shrink the
norm (and change the perturbation's shape near saturated pixels). Yin et al.'s code evaluates
unclipped images; those are not images of any threat model (the evaluation harness rejects
them), so the attack refuses ``clip=False``: the unclipped Fourier heat map is
:func:`bandlimit.evaluation.fourier_heatmap` with ``clip=False``.

**Candidate order.** With the default ``order="radius"`` the cells go from the lowest frequency
to the highest (distance of the centred index from DC; ties in row-major order); with
``order="given"`` in the given order (``cells=None``: row-major centred indices, the order of
Yin et al.'s loop). Which cells fool a model does not depend on the order, so neither does robust
accuracy, but the queries spent do: adversarially trained models fall to low frequencies
(Yin et al.), natural ones to almost any cell away from DC, so low-frequency-first finds the
first success early on both (on the shipped fast-AT ResNet-20 the row-major order spends most of
the Fourier check's queries crossing the high-frequency corners first). For each cell its sign
patterns: ``(+, -)`` for one sign on the whole image, or with
``per_channel_sign=True`` the ``2**C`` patterns in binary order, pattern ``k`` giving channel
``c`` the sign ``-1`` if bit ``c`` of ``k`` is set (``k = 0``: all ``+``).

**Queries.** Candidates are evaluated in chunks of ``batch_cells`` cells x all sign patterns,
for all still-active images in one forward pass (split into several passes of at most
``batch_size`` candidate images). ``queries`` counts the candidates actually evaluated for each
sample: a sample stops being queried after the chunk in which it first succeeds, so its count is
rounded up to the end of that chunk; ``info["candidate"]`` holds the 0-based position of the
returned candidate in the fixed order (``candidate + 1`` is what a strictly sequential attacker
would have spent). The counts do not depend on how the batch is composed. The clean forward
pass made by :meth:`attacks.base.Attack.run` is not counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from attacks.base import NORMS, Attack, AttackResult, Task, ThreatModel, attack_dataclass, choice, optional, setting
from bandlimit._checks import check_bool, check_positive, check_positive_int
from bandlimit._torch import pass_size
from bandlimit.spectral import fourier_basis_pairs, fourier_basis_stack

__all__ = ["ORDERS", "FourierBallAttack", "FourierBasisAttack", "sign_patterns"]

#: Cell orders: low frequencies first, or as given.
ORDERS = ("radius", "given")

# Candidate images per forward pass on an accelerator when batch_size is None: large passes
# keep a GPU busy, and 2,048 CIFAR-sized images stay well within memory.
_ACCELERATOR_PASS = 2048

logger = logging.getLogger(__name__)


def sign_patterns(channels: int, *, per_channel: bool) -> Tensor:
    """The sign patterns tried for each cell, in the attack's fixed order.

    Args:
        channels: Number of image channels ``C``.
        per_channel: ``False``: ``[[+1]*C, [-1]*C]``; ``True``: all ``2**C`` patterns, pattern
            ``k`` having ``-1`` on channel ``c`` iff bit ``c`` of ``k`` is set.

    Returns:
        Float tensor ``(S, C)`` of ±1 on the CPU.
    """
    channels = check_positive_int(channels, "channels")
    if not per_channel:
        return torch.tensor([[1.0] * channels, [-1.0] * channels])
    k = torch.arange(2**channels).unsqueeze(1)
    bits = (k >> torch.arange(channels).unsqueeze(0)) & 1
    return 1.0 - 2.0 * bits.to(torch.float32)


def _normalise_cells(cells: Any, name: str = "cells") -> tuple[tuple[int, int], ...] | None:
    """Validate user cells and store them as an immutable tuple of ``(i, j)`` pairs."""
    if cells is None:
        return None
    if isinstance(cells, torch.Tensor):
        if cells.dtype.is_floating_point or cells.dtype.is_complex or cells.dtype == torch.bool:
            raise TypeError(f"cells: expected integer (i, j) indices, got a {cells.dtype} tensor")
        rows = cells.tolist()
    elif isinstance(cells, Sequence) and not isinstance(cells, (str, bytes)):
        rows = list(cells)
    else:
        raise TypeError(f"cells: expected None or a (P, 2) sequence of (i, j) indices, got {type(cells).__name__}")
    if not rows:
        raise ValueError("cells: expected at least one (i, j) cell, got an empty sequence")
    out = []
    for row in rows:
        if not isinstance(row, (Sequence, torch.Tensor)) or len(row) != 2:
            raise ValueError(f"cells: expected (i, j) pairs of shape (P, 2), got the row {row!r}")
        pair = []
        for value in row:
            if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"cells: expected integer indices, got {value!r} in {row!r}")
            if value < 0:
                raise ValueError(f"cells: expected centred indices >= 0, got {row!r}")
            pair.append(value)
        out.append((pair[0], pair[1]))
    return tuple(out)


def _check_clip(value: Any, name: str) -> bool:
    """Only ``True``: an attack's output must be an image (see the module docstring)."""
    if not check_bool(value, name):
        raise ValueError(
            f"{name}: expected True, got False: unclipped candidates are not images in [0, 1], so "
            "no threat model allows them and the evaluation harness rejects them (BudgetViolation); "
            "keep clip=True, or for Yin et al.'s unclipped Fourier heat map use "
            "bandlimit.evaluation.fourier_heatmap(model, data, norm=..., clip=False)"
        )
    return True


@attack_dataclass
class _FourierSearch(Attack):
    """The search shared by the Fourier-basis attacks; a subclass sets each cell's scale.

    Settings: see :class:`FourierBasisAttack` (all but ``norm_l2``).
    """

    uses_gradients = False

    channels: int = setting(3, check_positive_int)
    per_channel_sign: bool = setting(False, check_bool)
    cells: tuple[tuple[int, int], ...] | None = setting(None, _normalise_cells)
    order: str = setting("radius", choice(ORDERS))
    clip: bool = setting(True, _check_clip)
    batch_cells: int = setting(16, check_positive_int)
    batch_size: int | None = setting(None, optional(check_positive_int))
    max_cells: int | None = setting(None, optional(check_positive_int))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.per_channel_sign and self.channels > 8:
            raise ValueError(
                f"per_channel_sign: expected at most 8 channels (2**C patterns per cell), got {self.channels}"
            )

    def _scales(self, basis: Tensor) -> Tensor:
        """``(P,)``: the factor ``v`` of each unit-L2 basis image ``basis[p]`` (``(P, h, w)``)."""
        raise NotImplementedError

    def _cells_for(self, h: int, w: int) -> Tensor:
        if self.cells is None:
            cells = fourier_basis_pairs(h, w)
        else:
            cells = torch.tensor(self.cells, dtype=torch.int64)
            bad = (cells[:, 0] >= h) | (cells[:, 1] >= w)
            if bool(bad.any()):
                raise ValueError(
                    f"cells: expected centred indices with i in [0, {h - 1}] and j in [0, {w - 1}] for "
                    f"{h}x{w} images, got {tuple(cells[bad][0].tolist())}"
                )
        if self.order == "radius":
            # Squared distance from DC (h // 2, w // 2); a stable sort keeps row-major order within a ring.
            radius = (cells[:, 0] - h // 2) ** 2 + (cells[:, 1] - w // 2) ** 2
            cells = cells[torch.sort(radius, stable=True).indices]
        return cells if self.max_cells is None else cells[: self.max_cells]

    def _check_inputs(self, x: Tensor) -> None:
        """Channel count and cell indices must fit the images (checked before any query)."""
        _, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(
                f"x: expected {self.channels}-channel images as configured, got {c} channels; "
                f"build the attack with channels={c}"
            )
        self._cells_for(h, w)

    def _run(self, task: Task) -> AttackResult:
        model, x, label, targeted = task.model, task.x, task.labels, task.targeted
        n, c, h, w = x.shape
        cells = self._cells_for(h, w)
        basis = fourier_basis_stack(h, w, cells, dtype=x.dtype, device=x.device)  # (P, h, w)
        signs = sign_patterns(c, per_channel=self.per_channel_sign).to(dtype=x.dtype, device=x.device)  # (S, C)
        scales = self._scales(basis).to(dtype=x.dtype, device=x.device)  # (P,)
        num_cells, num_signs = basis.shape[0], signs.shape[0]
        batch_size = pass_size(self.batch_size, x.device, _ACCELERATOR_PASS)
        assert batch_size is not None  # an int default on every device

        done = task.clean_logits.argmax(1) == label if targeted else task.clean_logits.argmax(1) != label
        already = done.clone()
        success = torch.zeros(n, dtype=torch.bool, device=x.device)
        queries = torch.zeros(n, dtype=torch.int64, device=x.device)
        chosen = torch.full((n,), -1, dtype=torch.int64, device=x.device)
        best_loss = torch.full((n,), -math.inf, dtype=torch.float64, device=x.device)

        for start in range(0, num_cells, self.batch_cells):
            idx = torch.nonzero(~done).squeeze(1)
            if idx.numel() == 0:
                break
            stop = min(start + self.batch_cells, num_cells)
            # (K*S, C, h, w): chunk cell k, sign pattern s at position k * S + s.
            chunk = scales[start:stop, None, None, None] * basis[start:stop, None]  # (K, 1, h, w)
            deltas = signs[None, :, :, None, None] * chunk[:, None]
            deltas = deltas.flatten(0, 1)
            per_pass = max(1, batch_size // deltas.shape[0])
            for sub in idx.split(per_pass):
                cand = (x[sub, None] + deltas[None]).clamp(0.0, 1.0)  # (m, K*S, C, h, w)
                logits = model(cand.flatten(0, 1)).view(sub.numel(), deltas.shape[0], -1)
                queries[sub] += deltas.shape[0]
                lab = label[sub, None].expand(-1, deltas.shape[0])
                hit = logits.argmax(-1) == lab if targeted else logits.argmax(-1) != lab
                logp = F.log_softmax(logits.double(), dim=-1).gather(-1, lab.unsqueeze(-1)).squeeze(-1)
                loss = logp if targeted else -logp
                offset = start * num_signs
                any_hit = hit.any(dim=1)
                # argmax returns the first maximal index: the first success in the fixed order.
                first = hit.to(torch.uint8).argmax(dim=1)
                chunk_best, chunk_arg = loss.max(dim=1)
                improve = ~any_hit & (chunk_best > best_loss[sub])
                pick = torch.where(any_hit, first, chunk_arg) + offset
                update = any_hit | improve
                chosen[sub[update]] = pick[update]
                best_loss[sub[improve]] = chunk_best[improve]
                success[sub[any_hit]] = True
                done[sub[any_hit]] = True

        have = chosen >= 0
        cell_idx = torch.where(have, chosen // num_signs, 0)
        sign_idx = torch.where(have, chosen % num_signs, 0)
        chosen_signs = signs[sign_idx] * have.unsqueeze(1).to(x.dtype)  # (N, C), 0 where none
        scaled = scales[cell_idx, None, None] * basis[cell_idx]  # (N, h, w)
        x_adv = (x + chosen_signs[:, :, None, None] * scaled[:, None]).clamp(0.0, 1.0)
        cell_out = torch.where(
            have.unsqueeze(1), cells.to(x.device)[cell_idx], torch.full_like(cells[:1], -1).to(x.device)
        )
        logger.debug("Fourier-basis attack: success %.3f over %d cells", float(success.float().mean()), num_cells)
        return AttackResult(
            x_adv=x_adv,
            queries=queries,
            info={
                "cell": cell_out,
                "sign": chosen_signs.to(torch.int64),
                "candidate": chosen,
                "success": success | already,
            },
        )


@attack_dataclass
class FourierBasisAttack(_FourierSearch):
    """Worst single Fourier-basis perturbation of L2 norm ``norm_l2`` per channel (black box).

    Args:
        norm_l2: ``v``, the L2 norm of the perturbation on each channel (Yin et al.: 4 on
            CIFAR-10 in [0, 1] units, 15.7 on ImageNet 224²).
        channels: Number of image channels the attack is built for; fixes the declared budget
            ``v * sqrt(channels)`` (images with another channel count raise ``ValueError``).
        per_channel_sign: Try all ``2**channels`` sign patterns per cell instead of ``±`` on the
            whole image (Yin et al. draw these signs at random; this searches them).
        cells: Centred ``(i, j)`` indices to search, ``(P, 2)``; ``None`` = one per
            conjugate pair, :func:`bandlimit.spectral.fourier_basis_pairs` (all distinct bases).
        order: ``"radius"`` (low frequencies first) or ``"given"`` (``cells`` as given, row-major
            for ``cells=None``); see the module docstring.
        clip: Clip candidates to [0, 1] before evaluating them; must stay True. ``clip=False``
            (unclipped images, Yin et al.'s code default) raises ``ValueError``: an attack must
            return images, and the harness rejects values outside [0, 1] (``BudgetViolation``).
            For the unclipped analysis use ``bandlimit.evaluation.fourier_heatmap(..., clip=False)``.
        batch_cells: Cells per chunk (chunk = ``batch_cells`` x all sign patterns); larger
            chunks mean fewer, bigger forward passes but coarser query counts.
        batch_size: Most candidate images per forward pass (bounds memory); at least one image
            x one chunk is always evaluated together. ``None``: 2,048 on an accelerator,
            :data:`bandlimit._torch.CPU_PASS_SIZE` (32) on the CPU, where huge passes fall out of
            cache and run slower per image.
        max_cells: Search only the first ``max_cells`` cells of the order (``None``: all); with
            ``order="radius"`` the lowest frequencies, where adversarially trained models are
            weakest (Yin et al.).

    :meth:`run` returns ``x_adv`` = the first successful candidate in the fixed order, or, if
    none succeeds, the candidate with the highest loss (cross-entropy of the true class;
    targeted: log-probability of the target). ``info``: ``"cell"`` (N, 2) centred indices,
    ``"sign"`` (N, C) ±1 per channel, ``"candidate"`` (N,) position in the order, ``"success"``
    (N,) bool. Images that are already misclassified (or at their target) are returned unchanged
    with 0 queries, ``cell = (-1, -1)``, ``sign = 0`` and ``candidate = -1``.

    Example:
        >>> attack = FourierBasisAttack(norm_l2=4.0)
        >>> result = attack.run(model, x, y)
        >>> result.info["cell"][result.info["success"]]
    """

    name = "fourier"

    norm_l2: float = setting(4.0, check_positive)

    @property
    def threat(self) -> ThreatModel:
        """``("l2", norm_l2 * sqrt(channels))``: ``v`` on each of the ``C`` channels."""
        return ThreatModel("l2", self.norm_l2 * math.sqrt(self.channels))

    def _scales(self, basis: Tensor) -> Tensor:
        return torch.full((basis.shape[0],), self.norm_l2, dtype=basis.dtype, device=basis.device)


@attack_dataclass
class FourierBallAttack(_FourierSearch):
    """Worst single Fourier-basis perturbation inside an L∞ or L2 ball (black box).

    The search of :class:`FourierBasisAttack` with each basis image scaled to the edge of the
    threat model's ball instead of Yin et al.'s fixed L2 norm: for ``norm="linf"`` every cell is
    scaled to a largest pixel change of ``eps`` (``v = eps / max|U|``), for ``norm="l2"`` to an
    L2 norm of ``eps`` over the whole image (``v = eps / sqrt(C)`` per channel). Its threat model
    is the ball's, so in a cascade it runs on the survivors of the gradient attacks as a
    gradient-free check of the same threat model: an image no gradient attack broke but a single
    low-frequency direction does points at masked gradients. The suites search the lowest
    ``max_cells`` cells, where adversarially trained models are weakest.

    Args:
        eps: The budget (L∞: largest pixel change; L2: norm over the image).
        norm: ``"linf"`` or ``"l2"``.
        channels, per_channel_sign, cells, order, clip, batch_cells, batch_size, max_cells:
            as for :class:`FourierBasisAttack`.

    Example:
        >>> attack = FourierBallAttack(eps=8 / 255, max_cells=64)
        >>> result = attack.run(model, x, y)  # result.queries: at most 128 per image
    """

    name = "fourier-ball"
    budget = "eps"
    norm_setting = "norm"

    eps: float = setting(check=check_positive)
    norm: str = setting("linf", choice(NORMS))

    @property
    def threat(self) -> ThreatModel:
        """The ball: ``(norm, eps)``."""
        return ThreatModel(self.norm, self.eps)

    def _scales(self, basis: Tensor) -> Tensor:
        if self.norm == "l2":
            per_channel = self.eps / math.sqrt(self.channels)
            return torch.full((basis.shape[0],), per_channel, dtype=basis.dtype, device=basis.device)
        return self.eps / basis.flatten(1).abs().amax(dim=1)
