"""Square attack (Andriushchenko, Croce, Flammarion, Hein, ECCV 2020, arXiv 1912.00049), batched.

Score-based random search: every iteration proposes a change of one square window of the current
perturbation and keeps it if the loss (the logit margin by default) falls. The algorithm follows
the paper and its code (``max-andr/square-attack``, ``attack.py``), with AutoAttack's defaults:

* **L∞**: start from vertical stripes (one ±eps sign per image, channel and column); a proposal
  sets a window of side ``s`` to ±eps, one sign per channel. As in the paper's code, a proposal
  that would leave the image unchanged is redrawn (see :data:`SIGN_DRAWS`), so no query is wasted.
* **L2**: start from the paper's grid of "meta" pseudo-Gaussian bumps (:func:`meta_bump`) with
  random signs, scaled to norm eps; a proposal moves the perturbation's mass of two windows into
  the first one, adds a random bump there and hands it the unused budget, so that before clipping
  ``||delta||_2 = eps``.
* Both clip to [0, 1] (and the ball). The window side comes from the p-schedule
  (:func:`p_schedule`, :func:`window_side`).

Differences from the reference code, all deliberate:

* Window positions are drawn **per image** (the paper's L∞ code; its L2 code and AutoAttack share
  one position across the batch), from ``{0, ..., H - s}`` as in the paper's Algorithm 2 (the code
  draws from ``{0, ..., H - s - 1}`` and never moves the last row or column after the start).
* Success means a strictly negative margin (the reference stops at ``<= 0``): a tie is not a
  misclassification the harness would confirm.
* The paper's code counts the initial evaluation as query 1 and runs ``max_queries - 1``
  iterations; so do we (AutoAttack runs ``max_queries`` iterations after it).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor, nn

from attacks._losses import attack_loss
from attacks.base import NORMS, Attack, AttackResult, Task, ThreatModel, attack_dataclass, choice, optional, setting
from bandlimit._checks import check_finite_number, check_nonnegative, check_positive_int
from bandlimit._torch import pass_size

__all__ = ["LOSSES", "P_HALVINGS", "SIGN_DRAWS", "Square", "meta_bump", "p_schedule", "window_side"]

logger = logging.getLogger(__name__)

#: Objectives the search minimises: the logit margin, or the (negated, untargeted) cross-entropy.
LOSSES = ("margin", "ce")

#: Iterations of a 10,000-query run after which p halves (the paper's code and AutoAttack).
P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)

#: L∞ sign vectors drawn per proposal; the first that changes the image is used. The paper's code
#: redraws until one does: same distribution, except that with probability <= 2**-16 (at least
#: half of the vectors change a window that can change) the last draw is used as it is.
SIGN_DRAWS = 16

# Guards divisions by the norm of an all-zero window or perturbation (the paper's code: 1e-10).
_TINY = 1e-10

# Smallest image side: L∞ windows need s <= side - 1 >= 1; the L2 start needs side // 5 >= 1.
_MIN_SIDE = {"linf": 2, "l2": 5}


def p_schedule(iteration: int, max_queries: int, p_init: float) -> float:
    """The fraction ``p`` of the image a window covers at ``iteration`` (0-based).

    ``p = p_init`` up to iteration 10 of a 10,000-query run and halves after each of
    :data:`P_HALVINGS` (10, 50, 200, ..., 8000): ``p_init / 2`` for iterations 11-50, ...,
    ``p_init / 512`` after 8000. Other budgets rescale the iteration to 10,000 first
    (``int(iteration / max_queries * 10000)``), as AutoAttack and the paper's code do.
    """
    it = int(iteration / max_queries * 10_000)
    return p_init / 2 ** sum(it > b for b in P_HALVINGS)


def window_side(p: float, channels: int, height: int, width: int, norm: str) -> int:
    """The side ``s`` of the windows that cover a fraction ``p`` of the image.

    ``s = round(sqrt(p * n_features / channels))``, at least 1 (L∞) or 3 and odd (L2), at most
    ``min(height, width) - 1`` (for L2 the largest odd number below that).
    """
    n_features = channels * height * width
    s = round(math.sqrt(p * n_features / channels))
    cap = min(height, width) - 1
    if norm == "l2":
        s = max(s, 3)
        s += 1 - s % 2
        cap -= 1 - cap % 2
    return min(max(s, 1), cap)


def _rectangle_bump(rows: int, cols: int) -> Tensor:
    """The paper's centre-weighted rectangles: nested rectangles of weight ``1 / (k + 1)**2``.

    Rectangle ``k`` covers the cells within Chebyshev distance ``k`` of the centre cell
    ``(rows // 2, cols // 2)``, so a cell at distance ``d`` holds ``sum_{k >= d} 1 / (k + 1)**2``.
    Unit L2 norm.
    """
    count = max(rows // 2, cols // 2) + 1
    weights = 1.0 / torch.arange(1, count + 1, dtype=torch.float64) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[d] = sum of the weights from d on
    di = (torch.arange(rows) - rows // 2).abs()
    dj = (torch.arange(cols) - cols // 2).abs()
    bump = tail[torch.maximum(di[:, None], dj[None, :])]
    return bump / bump.norm().clamp_min(_TINY)


def meta_bump(side: int) -> Tensor:
    """The paper's "meta" pseudo-Gaussian perturbation of a ``side x side`` window (float64).

    Its top ``side // 2`` rows hold a positive rectangle bump, the rest a negative one; unit L2
    norm. The attack uses it and its transpose at random.
    """
    half = side // 2
    bump = torch.cat([_rectangle_bump(half, side), -_rectangle_bump(side - half, side)])
    return bump / bump.norm()


class _Windows:
    """Square windows of side ``s``, one per image at rows ``top``, columns ``left``."""

    def __init__(self, top: Tensor, left: Tensor, s: int, height: int, width: int) -> None:
        offsets = torch.arange(s, device=top.device)
        rows, cols = top[:, None] + offsets, left[:, None] + offsets
        self.side, self.area = s, height * width
        self.index = (rows[:, :, None] * width + cols[:, None, :]).flatten(1)  # (N, s*s) flat pixels

    def get(self, t: Tensor) -> Tensor:
        """The windows of ``t`` (N, C, H, W), shape ``(N, C, s, s)``."""
        n, c = t.shape[:2]
        flat = t.reshape(n, c, self.area).gather(2, self.index[:, None].expand(n, c, -1))
        return flat.view(n, c, self.side, self.side)

    def put(self, t: Tensor, values: Tensor) -> None:
        """Write ``values`` (N, C, s, s) into the windows of the contiguous ``t`` in place."""
        n, c = t.shape[:2]
        t.view(n, c, self.area).scatter_(2, self.index[:, None].expand(n, c, -1), values.reshape(n, c, -1))

    def mask(self, like: Tensor) -> Tensor:
        """Boolean ``(N, 1, H, W)``: True inside the windows."""
        n, _, h, w = like.shape
        out = torch.zeros(n, self.area, dtype=torch.bool, device=like.device)
        return out.scatter_(1, self.index, True).view(n, 1, h, w)


def _check_p_init(value: float, name: str) -> float:
    value = check_finite_number(value, name)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name}: expected a value in (0, 1], got {value}")
    return value


@attack_dataclass
class Square(Attack):
    """Square attack (Andriushchenko et al., ECCV 2020): query-efficient black-box random search.

    Batched over images: every iteration makes one forward pass over the images still being
    attacked, each with its own random window; an image stops as soon as it succeeds and is never
    queried again. Randomness comes from the ``generator`` passed to the call (the global
    generator when it is None): the same generator state gives the same result on a device.

    **Queries.** ``AttackResult.queries`` counts the forward evaluations of each image exactly: the
    start point is query 1, each iteration one more, never more than ``max_queries``. Images that
    are already misclassified (or at their target) cost 0 and are returned unchanged. The clean
    pass that :meth:`attacks.base.Attack.run` makes first is not counted. With ``eps = 0`` the
    ball holds only the clean image, so nothing is queried.

    **Randomised models.** Each accept decision uses one forward pass: no expectation over
    transformation (EOT) is applied. Against a randomised defence this is the plain black-box
    attack on the outputs a user sees; ``info["success"]`` reports the evaluation that accepted
    the image, which the harness re-checks.

    Args:
        eps: Budget (radius of the L∞ or L2 ball), >= 0.
        norm: ``"linf"`` or ``"l2"``.
        max_queries: Per-image query budget (>= 1), the initial evaluation included.
        p_init: Initial fraction of the image a window covers, in (0, 1]. The default 0.8 is
            AutoAttack's standard version (CIFAR-10 and robust models); the paper's ImageNet tables
            use 0.05 (L∞) and 0.1 (L2).
        loss: ``"margin"`` (z_y - max_{i != y} z_i untargeted; max_{i != t} z_i - z_t targeted)
            or ``"ce"`` (the negated cross-entropy of y, resp. the cross-entropy of t). Either is
            minimised from float32 logits; a proposal is also kept when its margin is negative.
        batch_size: Most images per forward pass. Speed and memory only: the random draws and
            decisions do not depend on it (a model whose kernels round differently at another
            pass size can still differ in the last bit). ``None``:
            :func:`bandlimit._torch.pass_size` (32 on the CPU, all at once elsewhere).

    Returns from :meth:`run` an :class:`AttackResult` with ``queries`` (N,) int64 and ``info``:
    ``"success"`` (N,) bool (final margin < 0) and ``"margin"`` (N,) float32, the margin of the
    returned images (of the clean ones for those not attacked).

    Raises:
        TypeError: a setting has the wrong type.
        ValueError: eps < 0 or NaN, max_queries < 1, p_init outside (0, 1], unknown norm or loss,
            or images smaller than 2x2 (L∞) or 5x5 (L2) (checked before any query).

    Example:
        >>> attack = Square(eps=8 / 255, max_queries=1000)
        >>> result = attack.run(model, x, y, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
        >>> result.info["success"].float().mean(), result.queries.float().mean()  # doctest: +SKIP
    """

    name = "square"
    uses_gradients = False
    budget = "eps"
    norm_setting = "norm"

    eps: float = setting(check=check_nonnegative)
    norm: str = setting("linf", choice(NORMS))
    max_queries: int = setting(5000, check_positive_int)
    p_init: float = setting(0.8, _check_p_init)
    loss: str = setting("margin", choice(LOSSES))
    batch_size: int | None = setting(None, optional(check_positive_int))

    @property
    def threat(self) -> ThreatModel:
        """The ball of radius ``eps`` in ``norm``."""
        return ThreatModel(self.norm, self.eps)

    @property
    def randomized(self) -> bool:
        """True: start point, windows and signs are random."""
        return True

    def _check_inputs(self, x: Tensor) -> None:
        """The images must be large enough for the windows (checked before any query)."""
        side = _MIN_SIDE[self.norm]
        if min(x.shape[-2:]) < side:
            raise ValueError(
                f"x: the {self.norm} Square attack needs images of at least {side}x{side} pixels, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )

    # ------------------------------------------------------------------------ algorithm
    def _run(self, task: Task) -> AttackResult:
        x, labels = task.x.contiguous(), task.labels
        margin = self._objectives(task.clean_logits, labels, task.targeted)[0]
        x_adv, queries = x.clone(), torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
        todo = (margin >= 0).nonzero().squeeze(1)
        # With eps = 0 the ball is the clean image: nothing to search, nothing to spend.
        if todo.numel() > 0 and self.eps > 0:
            best, spent, final = self._search(task.model, x[todo], labels[todo], task.targeted, task.generator)
            x_adv[todo], queries[todo], margin[todo] = best, spent, final
        success = margin < 0
        if logger.isEnabledFor(logging.DEBUG):  # the summary costs a device sync
            logger.debug("Square: success %.3f, mean queries %.1f", success.float().mean(), queries.float().mean())
        return AttackResult(x_adv=x_adv, queries=queries, info={"success": success, "margin": margin})

    def _search(
        self, model: nn.Module, x: Tensor, labels: Tensor, targeted: bool, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Random search on images that all need attacking. Returns (x_adv, queries, margin)."""
        draw = _Draws(generator, x.device)
        best = self._start(x, draw)
        margin, loss = self._objectives(self._logits(model, best), labels, targeted)  # query 1
        out_best, out_margin = best.clone(), margin.clone()
        queries = torch.ones_like(labels)
        # State of the images still searched, compacted whenever some stop (rows follow `act`).
        act, xa, ba, la, ma, lo = torch.arange(x.shape[0], device=x.device), x, best, labels, margin, loss
        for it in range(self.max_queries):
            stop = ma < 0
            if it == self.max_queries - 1:
                stop = torch.ones_like(stop)
            if bool(stop.any()):  # one host sync per iteration
                rows = stop.nonzero().squeeze(1)
                ids = act[rows]
                out_best[ids], out_margin[ids], queries[ids] = ba[rows], ma[rows], 1 + it
                keep = (~stop).nonzero().squeeze(1)
                act, xa, ba, la, ma, lo = (t[keep] for t in (act, xa, ba, la, ma, lo))
                if act.numel() == 0:
                    break
            s = window_side(p_schedule(it, self.max_queries, self.p_init), *x.shape[1:], self.norm)
            cand = self._propose_linf(xa, ba, s, draw) if self.norm == "linf" else self._propose_l2(xa, ba, s, draw)
            m_new, l_new = self._objectives(self._logits(model, cand), la, targeted)
            better = (l_new < lo) | (m_new < 0)
            ba = torch.where(better[:, None, None, None], cand, ba)
            ma, lo = torch.where(better, m_new, ma), torch.where(better, l_new, lo)
        return out_best, queries, out_margin

    def _logits(self, model: nn.Module, images: Tensor) -> Tensor:
        """Logits of ``images`` in passes of at most ``batch_size`` images."""
        size = pass_size(self.batch_size, images.device, None)
        if size is None or images.shape[0] <= size:
            return model(images)
        return torch.cat([model(chunk) for chunk in images.split(size)])

    def _objectives(self, logits: Tensor, labels: Tensor, targeted: bool) -> tuple[Tensor, Tensor]:
        """The margin (success when < 0) and the loss the search minimises, both float32 ``(N,)``."""
        # The CW objective is the negated margin: best other class minus the label (untargeted).
        margin = -attack_loss("cw", logits, labels, targeted=targeted)
        if self.loss == "margin":
            return margin, margin
        return margin, -attack_loss("ce", logits, labels, targeted=targeted)

    # ---------------------------------------------------------------- start and proposals
    def _start(self, x: Tensor, draw: _Draws) -> Tensor:
        """The first candidate: vertical ±eps stripes (L∞) or a grid of random bumps (L2)."""
        n, c, h, w = x.shape
        if self.norm == "linf":
            return (x + self.eps * draw.signs((n, c, 1, w), x.dtype)).clamp(0.0, 1.0)
        side = min(h, w) // 5
        gh, gw = h // side, w // side
        signs = draw.signs((n, c, gh, gw, 1, 1), x.dtype)
        bumps = draw.bumps(side, (n, 1, gh, gw), x)
        tiles = (bumps * signs).permute(0, 1, 2, 4, 3, 5).reshape(n, c, gh * side, gw * side)
        delta = torch.zeros_like(x)
        top, left = (h - gh * side) // 2, (w - gw * side) // 2  # the grid is centred
        delta[:, :, top : top + gh * side, left : left + gw * side] = tiles
        return self._to_ball(x, delta)

    def _to_ball(self, x: Tensor, delta: Tensor) -> Tensor:
        """``x + delta`` with ``delta`` scaled to L2 norm eps, clipped to [0, 1]."""
        norms = delta.flatten(1).norm(dim=1).clamp_min(_TINY)
        return (x + delta * (self.eps / norms).view(-1, 1, 1, 1)).clamp(0.0, 1.0)

    def _positions(self, x: Tensor, s: int, draw: _Draws) -> _Windows:
        n, _, h, w = x.shape
        return _Windows(draw.ints(h - s + 1, (n,)), draw.ints(w - s + 1, (n,)), s, h, w)

    def _propose_linf(self, x: Tensor, best: Tensor, s: int, draw: _Draws) -> Tensor:
        """``best`` with one window per image set to ``clip(x ± eps)``, one sign per channel."""
        n, c = x.shape[:2]
        win = self._positions(x, s, draw)
        signs = draw.signs((n, SIGN_DRAWS, c), x.dtype)
        xw, bw = win.get(x), win.get(best)
        plus, minus = (xw + self.eps).clamp(0.0, 1.0), (xw - self.eps).clamp(0.0, 1.0)
        moves_plus, moves_minus = (plus != bw).flatten(2).any(2), (minus != bw).flatten(2).any(2)  # (N, C)
        moves = torch.where(signs > 0, moves_plus[:, None], moves_minus[:, None]).any(2)  # (N, draws)
        first = moves.to(torch.uint8).argmax(dim=1)  # the first draw that changes the image (else 0)
        chosen = signs[torch.arange(n, device=x.device), first][:, :, None, None]
        cand = best.clone()
        win.put(cand, torch.where(chosen > 0, plus, minus))
        return cand

    def _propose_l2(self, x: Tensor, best: Tensor, s: int, draw: _Draws) -> Tensor:
        """Move the mass of windows 1 and 2 into window 1 plus a random bump; norm eps again."""
        n, c = x.shape[:2]
        first, second = self._positions(x, s, draw), self._positions(x, s, draw)
        signs = draw.signs((n, c, 1, 1), x.dtype)
        bumps = draw.bumps(s, (n, 1), x)
        delta = best - x
        old = first.get(delta)
        old_norm = old.flatten(2).norm(dim=2)[:, :, None, None]
        # Per channel: the energy of both windows, plus an equal share of the unused budget.
        energy = (delta.square() * (first.mask(x) | second.mask(x))).sum(dim=(2, 3), keepdim=True)
        spare = (self.eps**2 - delta.flatten(1).square().sum(dim=1)).clamp_min(0.0).view(-1, 1, 1, 1)
        new = bumps * signs + old / (old_norm + _TINY)
        new_norm = new.flatten(2).norm(dim=2)[:, :, None, None].clamp_min(_TINY)
        new = new / new_norm * (spare / c + energy).sqrt()
        delta = delta * ~second.mask(x)  # window 2 gives its mass away, window 1 receives it
        first.put(delta, new)
        return self._to_ball(x, delta)


class _Draws:
    """Random numbers for one call, from the caller's generator (or the global RNG if None).

    Drawn on the generator's own device and moved, so a CPU generator gives the same numbers
    whatever device the images are on.
    """

    def __init__(self, generator: torch.Generator | None, device: torch.device) -> None:
        self.generator, self.device = generator, device
        self.source = generator.device if generator is not None else device

    def ints(self, high: int, shape: tuple[int, ...]) -> Tensor:
        """Uniform integers in ``[0, high)``."""
        out = torch.randint(0, high, shape, generator=self.generator, device=self.source)
        return out.to(self.device)

    def signs(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """Uniform ±1."""
        return (2 * self.ints(2, shape) - 1).to(dtype)

    def bumps(self, side: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """:func:`meta_bump` or its transpose, chosen at random: shape ``(*shape, side, side)``."""
        bump = meta_bump(side).to(dtype=like.dtype, device=like.device)
        flip = self.ints(2, shape).bool()[..., None, None]
        return torch.where(flip, bump.T, bump)
