"""SimBA and SimBA-DCT (Guo, Gardner, You, Wilson, Weinberger, ICML 2019), batched over images.

The algorithm follows the official code (``cg563/simple-blackbox-attack``, ``simba.py``,
``utils.py``) as summarised in ``reference/papers.md`` §5a:

* Work in an orthonormal basis ``Q``: the pixel basis (SimBA) or the 2-D orthonormal DCT over
  the **whole image, per channel** (SimBA-DCT, ``bandlimit.spectral.idct2``).
* Visit coordinates ``q_t = (channel, u, v)`` in a fixed random order (drawn once per call and
  shared by the whole batch, as in the official ``simba_batch``). For each still-active image,
  try ``delta - step * Q e_q``; accept it if the probability of the true class falls (untargeted)
  or the probability of the target class rises (targeted). The probabilities are compared
  through their log-odds (:func:`log_odds`), which orders them identically but does not round
  to 1.0 in float32 for confidently classified images (where the official comparison stalls).
  Otherwise try ``delta + step * Q e_q`` and accept it under the same rule.
* An image stops as soon as it is misclassified (untargeted) or predicted as its target
  (targeted). Its prediction is read off the logits of the candidate just accepted, so no extra
  forward pass is needed (the official code spends an uncounted one per iteration).

Query counting is the official rule: one query per active image per iteration, plus one when the
first probe is rejected. The clean forward pass that :meth:`attacks.base.Attack.run` makes before
the attack starts (the official code's uncounted "prediction check") is not counted either.

Two deliberate, documented differences from the official batched code:

* When the first probe is accepted the second one is never evaluated (the official batch code
  evaluates it anyway, does not count it, and in the rare case that both probes improve takes the
  second). We follow the algorithm of the paper and of the official single-image code, so the
  query counts are exactly the model evaluations made.
* ``eps`` (the L∞ budget) clamps the pixel-space perturbation for both bases (the official code ignores it
  for the pixel basis).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from attacks.base import Attack, AttackResult, Preset, Task, ThreatModel, attack_dataclass, choice, optional, setting
from bandlimit._checks import check_choice, check_positive, check_positive_int
from bandlimit._torch import pass_size
from bandlimit.attack import distance
from bandlimit.spectral import idct2

__all__ = ["BASES", "ORDERS", "SimBA", "coordinate_order", "log_odds"]

logger = logging.getLogger(__name__)

BASES = ("dct", "pixel")
ORDERS = ("rand", "strided")


def coordinate_order(
    channels: int,
    height: int,
    width: int,
    *,
    freq_dims: int,
    order: str = "rand",
    stride: int = 7,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The coordinates SimBA visits, low frequencies first.

    Coordinates are ``(channel, u, v)`` rows; for the DCT basis ``(u, v)`` is the DCT index
    (``(0, 0)`` = DC), for the pixel basis a pixel position.

    * ``"rand"``: a random permutation of the ``channels x freq_dims x freq_dims`` block
      ``u, v < freq_dims`` (the official ``rand`` order; nothing outside the block is visited).
    * ``"strided"``: that block first (random within it, all channels mixed), then rings
      ``freq_dims + k * stride <= max(u, v) < freq_dims + (k + 1) * stride`` toward higher
      frequencies, random within each ring (the official ``block_order``); every coordinate
      of the image is visited once.

    Args:
        channels: Number of image channels.
        height: Image height.
        width: Image width.
        freq_dims: Side of the initial low-frequency block, in ``[1, min(height, width)]``.
        order: ``"rand"`` or ``"strided"``.
        stride: Ring width of the ``"strided"`` order.
        generator: Source of the random permutations (CPU generator or None).

    Returns:
        ``LongTensor (K, 3)`` on the CPU, ``K = channels * freq_dims**2`` for ``"rand"`` and
        ``channels * height * width`` for ``"strided"``.

    Raises:
        TypeError: a size is not an integer.
        ValueError: a size is < 1, ``freq_dims`` exceeds the image or ``order`` is unknown.
    """
    channels = check_positive_int(channels, "channels")
    height = check_positive_int(height, "height")
    width = check_positive_int(width, "width")
    freq_dims = check_positive_int(freq_dims, "freq_dims")
    stride = check_positive_int(stride, "stride")
    check_choice(order, "order", ORDERS)
    if freq_dims > min(height, width):
        raise ValueError(
            f"freq_dims: expected at most min(H, W) = {min(height, width)} for {height}x{width} images, "
            f"got {freq_dims}; use freq_dims=None for the whole image"
        )
    c = torch.arange(channels).view(-1, 1, 1).expand(channels, height, width).reshape(-1)
    u = torch.arange(height).view(1, -1, 1).expand(channels, height, width).reshape(-1)
    v = torch.arange(width).view(1, 1, -1).expand(channels, height, width).reshape(-1)
    radius = torch.maximum(u, v)
    # Ring 0 is the low-frequency block; ring r >= 1 covers max(u, v) in
    # [freq_dims + (r - 1) * stride, freq_dims + r * stride).
    ring = torch.where(radius < freq_dims, 0, 1 + torch.div(radius - freq_dims, stride, rounding_mode="floor"))
    last_ring = 0 if order == "rand" else int(ring.max())
    gen_device = generator.device if generator is not None else torch.device("cpu")
    pieces = []
    for r in range(last_ring + 1):
        members = torch.nonzero(ring == r).squeeze(1)
        perm = torch.randperm(members.numel(), generator=generator, device=gen_device).cpu()
        pieces.append(members[perm])
    flat = torch.cat(pieces)
    return torch.stack([c[flat], u[flat], v[flat]], dim=1)


def log_odds(logits: Tensor, label: Tensor) -> Tensor:
    """``log(p / (1 - p))`` of the softmax probability ``p`` of ``label``, computed from logits.

    It equals ``z_label - logsumexp_{j != label} z_j``: a strictly increasing function of ``p``,
    so comparing it gives the same decisions as the official rule's comparison of probabilities
    in exact arithmetic. Unlike ``p`` it does not saturate: in float32 ``softmax`` returns
    exactly 1.0 once the logit margin exceeds about 17 (36% of the correctly classified CIFAR-10
    test images of the public ResNet-20), and a probability rule can then never accept a step.

    Args:
        logits: ``(N, classes)`` logits.
        label: ``(N,)`` class indices.

    Returns:
        ``(N,)`` log-odds in at least float32.
    """
    z = logits.to(torch.promote_types(logits.dtype, torch.float32))
    own = z.gather(1, label.unsqueeze(1)).squeeze(1)
    others = z.scatter(1, label.unsqueeze(1), -math.inf)
    return own - torch.logsumexp(others, dim=1)


@attack_dataclass
class SimBA(Attack):
    """Simple black-box attack in the DCT (SimBA-DCT) or pixel (SimBA) basis, batched.

    Every image of the batch is attacked at once: per iteration one batched forward pass of the
    active images for the ``-step`` probe and one of those whose probe was rejected for the
    ``+step`` probe; there is no Python loop over images.

    **Budget.** Iterations run through the coordinate order (at most ``len(order)``, each
    coordinate is tried once); an image stops when it succeeds or its query count reaches
    ``max_queries``, and the ``+step`` probe is skipped when it would exceed the budget. So
    ``queries <= max_queries`` always, and ``max_queries >= 2 * len(order)`` reproduces the
    official run with ``max_iters = len(order)``.

    **Size of the perturbation.** Both bases are orthonormal and each coordinate is stepped at
    most once, so before clipping ``||delta||_2 = step * sqrt(accepted steps)``; clipping to
    [0, 1] and the optional L∞ clamp can only shrink it (each pixel moves toward the clean
    value). An image accepts at most one step per query, hence the declared threat model is
    ``("l2", step * sqrt(max_queries))``, or ``("linf", eps)`` when an L∞ budget is set.

    Args:
        step: Step size on a coordinate (official: 0.2 for CIFAR-10 and ImageNet). Like
            ``eps`` everywhere in bandlimit (and torchattacks, foolbox), ``eps`` is the budget.
        basis: ``"dct"`` (SimBA-DCT) or ``"pixel"`` (SimBA).
        max_queries: Per-image query budget (>= 1).
        freq_dims: Side of the low-frequency block the order starts with; ``None`` = the whole
            image (official CIFAR-10 setting: 32 with ``order="rand"``; ImageNet: 28 with
            ``order="strided"``, ``stride=7``). For the pixel basis leave it ``None``.
        order: ``"rand"`` (random order inside the block only) or ``"strided"`` (block, then
            rings of width ``stride`` toward higher frequencies).
        stride: Ring width of the ``"strided"`` order.
        eps: Optional L∞ budget: a bound on the pixel-space perturbation (clamped before the image
            is clipped to [0, 1]); ``None`` = no bound.
        batch_size: Most images per forward pass. It changes speed and memory only, never the
            queries or the result. ``None``: all active images in one pass on an accelerator,
            :data:`bandlimit._torch.CPU_PASS_SIZE` (32) on the CPU, where huge passes fall out of
            cache and run slower per image.

    Returns from :meth:`run` an :class:`AttackResult` with ``queries`` (N,) int64 and ``info``:
    ``"success"`` (N,) bool, ``"l2"`` (N,) and ``"linf"`` (N,) norms of ``x_adv - x``,
    ``"accepted"`` (N,) int64 number of accepted steps, ``"iterations"`` (int) iterations run.
    Images already misclassified (or already at their target) cost 0 queries and are returned
    unchanged with ``success=True``.

    Example:
        >>> attack = SimBA(eps=8 / 255, step=0.2, basis="dct", max_queries=3000, freq_dims=32)
        >>> result = attack.run(model, x, y, generator=torch.Generator().manual_seed(0))
        >>> result.queries.float().mean(), result.info["success"].float().mean()
    """

    name = "simba"
    uses_gradients = False
    budget = "eps"
    budget_norms = ("linf",)
    presets = (Preset("simba-pixel", "SimBA in the pixel basis", {"basis": "pixel"}),)

    step: float = setting(0.2, check_positive)
    basis: str = setting("dct", choice(BASES))
    max_queries: int = setting(10_000, check_positive_int)
    freq_dims: int | None = setting(None, optional(check_positive_int))
    order: str = setting("rand", choice(ORDERS))
    stride: int = setting(7, check_positive_int)
    eps: float | None = setting(None, optional(check_positive))
    batch_size: int | None = setting(None, optional(check_positive_int))

    @property
    def threat(self) -> ThreatModel:
        """``("linf", eps)`` if bounded, else ``("l2", step * sqrt(max_queries))``."""
        if self.eps is not None:
            return ThreatModel("linf", self.eps)
        return ThreatModel("l2", self.step * math.sqrt(self.max_queries))

    @property
    def randomized(self) -> bool:
        """True: the coordinate order is a random permutation."""
        return True

    # ------------------------------------------------------------------------ helpers
    def _basis_image(self, u: int, v: int, h: int, w: int, like: Tensor) -> Tensor:
        onehot = torch.zeros(h, w, dtype=like.dtype, device=like.device)
        onehot[u, v] = 1.0
        return onehot if self.basis == "pixel" else idct2(onehot)

    def _apply(self, x: Tensor, delta: Tensor) -> Tensor:
        if self.eps is not None:
            delta = delta.clamp(-self.eps, self.eps)
        return (x + delta).clamp(0.0, 1.0)

    def _probe(self, model: nn.Module, images: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
        """Log-odds of ``label`` (see :func:`log_odds`) and predicted class for candidate images."""
        size = pass_size(self.batch_size, images.device, None)
        if size is None or images.shape[0] <= size:
            logits = model(images)
        else:
            logits = torch.cat([model(images[i : i + size]) for i in range(0, images.shape[0], size)])
        return log_odds(logits, label), logits.argmax(dim=1)

    # ---------------------------------------------------------------------- algorithm
    def _check_inputs(self, x: Tensor) -> None:
        """``freq_dims`` must fit the images (checked before any query)."""
        _, _, h, w = x.shape
        if self.freq_dims is not None and self.freq_dims > min(h, w):
            raise ValueError(
                f"freq_dims: expected at most min(H, W) = {min(h, w)} for {h}x{w} images, "
                f"got {self.freq_dims}; use freq_dims=None for the whole image"
            )

    def _run(self, task: Task) -> AttackResult:
        model, x, label, targeted = task.model, task.x, task.labels, task.targeted
        n, c, h, w = x.shape
        freq_dims = min(h, w) if self.freq_dims is None else self.freq_dims
        coords = coordinate_order(
            c, h, w, freq_dims=freq_dims, order=self.order, stride=self.stride, generator=task.generator
        ).tolist()  # plain ints: no device sync per iteration

        def succeeded(pred: Tensor, label: Tensor) -> Tensor:
            return pred == label if targeted else pred != label

        prev = log_odds(task.clean_logits, label)
        pred = task.clean_logits.argmax(dim=1)
        x_cur = x.clone()  # adversarial images (full batch), written back when an image stops
        queries = torch.zeros(n, dtype=torch.int64, device=x.device)
        accepted = torch.zeros(n, dtype=torch.int64, device=x.device)

        # State of the still-active images only, compacted whenever some stop: per iteration the
        # work is a few dense passes over the active images (no scattered indexing into the
        # full batch, which dominates on CPU).
        act = torch.nonzero(~succeeded(pred, label)).squeeze(1)
        state = _ActiveState(
            x=x.index_select(0, act),
            cur=x.index_select(0, act),
            delta=torch.zeros_like(x.index_select(0, act)),  # pixel-space Q(coefficients), before clamps
            label=label.index_select(0, act),
            prev=prev.index_select(0, act),
            pred=pred.index_select(0, act),
            queries=torch.zeros_like(act),
            accepted=torch.zeros_like(act),
        )
        iterations = 0
        for ch, u, v in coords:
            if act.numel() == 0:
                break
            iterations += 1
            step = self.step * self._basis_image(u, v, h, w, x)
            x_ch = state.x[:, ch]

            # First probe: -step on the coordinate, for every active image. A step changes one
            # channel only, so the candidate is the current image with that channel rebuilt.
            # The candidates are built in place in ``state.cur`` (saving a copy of every image) and
            # the channel is restored where the probe is rejected.
            d_left = state.delta[:, ch] - step
            saved = state.cur[:, ch].clone()
            state.cur[:, ch] = self._apply(x_ch, d_left)
            p_left, pred_left = self._probe(model, state.cur, state.label)
            state.queries += 1
            better = _improves(p_left, state.prev, targeted, state.cur[:, ch], saved)
            keep = better[:, None, None]
            state.delta[:, ch] = torch.where(keep, d_left, state.delta[:, ch])
            state.cur[:, ch] = torch.where(keep, state.cur[:, ch], saved)
            state.prev = torch.where(better, p_left.to(state.prev.dtype), state.prev)
            state.pred = torch.where(better, pred_left, state.pred)
            state.accepted += better.to(torch.int64)

            # Second probe: +step, only for rejected images with budget left (their delta and
            # current image are unchanged by the first probe).
            retry = torch.nonzero(~better & (state.queries < self.max_queries)).squeeze(1)
            if retry.numel() > 0:
                cand = state.cur.index_select(0, retry)
                d_right = state.delta[:, ch].index_select(0, retry) + step
                cand[:, ch] = self._apply(x_ch.index_select(0, retry), d_right)
                p_right, pred_right = self._probe(model, cand, state.label.index_select(0, retry))
                state.queries.index_add_(0, retry, torch.ones_like(retry))
                prev_r, cur_r = state.prev.index_select(0, retry), state.cur[:, ch].index_select(0, retry)
                better = _improves(p_right, prev_r, targeted, cand[:, ch], cur_r)
                sel, keep_r = retry[better], torch.nonzero(better).squeeze(1)
                state.delta[:, ch].index_copy_(0, sel, d_right.index_select(0, keep_r))
                state.cur[:, ch].index_copy_(0, sel, cand[:, ch].index_select(0, keep_r))
                state.prev.index_copy_(0, sel, p_right.index_select(0, keep_r).to(state.prev.dtype))
                state.pred.index_copy_(0, sel, pred_right.index_select(0, keep_r))
                state.accepted.index_add_(0, sel, torch.ones_like(sel))

            stop = succeeded(state.pred, state.label) | (state.queries >= self.max_queries)
            if bool(stop.any()):
                act = self._write_back(state, act, torch.nonzero(stop).squeeze(1), x_cur, queries, accepted, pred)
                state = state.select(torch.nonzero(~stop).squeeze(1))
        self._write_back(state, act, torch.arange(act.numel(), device=x.device), x_cur, queries, accepted, pred)
        done = succeeded(pred, label)

        x_adv = x_cur  # exactly the images the model evaluated when they were accepted
        delta = x_adv - x
        success, mean_queries = float(done.float().mean()), float(queries.float().mean())
        logger.debug("SimBA: %d iterations, success %.3f, mean queries %.1f", iterations, success, mean_queries)
        return AttackResult(
            x_adv=x_adv,
            queries=queries,
            info={
                "success": done,
                "l2": distance(delta, "l2"),
                "linf": distance(delta, "linf"),
                "accepted": accepted,
                "iterations": iterations,
            },
        )

    @staticmethod
    def _write_back(
        state: _ActiveState,
        act: Tensor,
        rows: Tensor,
        x_cur: Tensor,
        queries: Tensor,
        accepted: Tensor,
        pred: Tensor,
    ) -> Tensor:
        """Copy active ``rows`` into the full-batch results; returns the indices still active."""
        where = act.index_select(0, rows)
        x_cur.index_copy_(0, where, state.cur.index_select(0, rows))
        queries.index_copy_(0, where, state.queries.index_select(0, rows))
        accepted.index_copy_(0, where, state.accepted.index_select(0, rows))
        pred.index_copy_(0, where, state.pred.index_select(0, rows))
        keep = torch.ones_like(act, dtype=torch.bool)
        keep[rows] = False
        return act[keep]


def _improves(p: Tensor, prev: Tensor, targeted: bool, candidate: Tensor, current: Tensor) -> Tensor:
    """Whether each candidate strictly improves the log-odds ``prev`` (the official rule).

    A candidate that clipping made identical to the current image (a pixel step at a saturated
    pixel) cannot improve; it is rejected outright rather than by comparing log-odds, which two
    passes over differently composed batches may compute a last bit apart. ``candidate`` and
    ``current`` are the stepped channel, ``(N, H, W)``.
    """
    better = p > prev if targeted else p < prev
    return better & (candidate != current).flatten(1).any(dim=1)


@dataclass
class _ActiveState:
    """Per-image state of the images SimBA is still attacking (rows aligned with ``act``)."""

    x: Tensor
    cur: Tensor
    delta: Tensor
    label: Tensor
    prev: Tensor
    pred: Tensor
    queries: Tensor
    accepted: Tensor

    def select(self, rows: Tensor) -> _ActiveState:
        """The state of ``rows`` only (a compacted copy)."""
        return _ActiveState(**{f.name: getattr(self, f.name).index_select(0, rows) for f in fields(self)})
