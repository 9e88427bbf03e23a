"""Projected gradient descent (Madry et al. 2018) for every threat model, and FGSM as its one-step case.

One loop serves the L∞ ball, the L2 ball and band-limited versions of both: the geometry lives
in a constraint object (:mod:`attacks.constraints`, :mod:`attacks.bands`) with ``step`` /
``project`` / ``random_init``. The loop adds what a trustworthy evaluation needs: random
restarts that keep each sample's worst case, targeted attacks, cross-entropy or CW-margin
losses, per-sample early stopping, expectation over transformation (EOT) for randomised models
and optional bf16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import field

import torch
from torch import Tensor, nn

from attacks._gradient import COMPACT_EVERY, COMPACT_EVERY_DEFAULT, GradientAttack, WorstCase
from attacks._losses import LOSSES, attack_loss, is_success
from attacks.bands import BAND_SPACES
from attacks.base import AttackResult, Preset, Task, attack_dataclass, choice, optional, setting
from attacks.constraints import _per_sample
from bandlimit._checks import check_bool, check_positive, check_positive_int

__all__ = ["FGSM", "PGD", "cosine_steps"]

#: The default schedule's first (largest) step, as a fraction of eps (see :func:`cosine_steps`).
DEFAULT_PEAK_REL_STEPSIZE = 1.0


def cosine_steps(steps: int, peak: float = DEFAULT_PEAK_REL_STEPSIZE) -> tuple[float, ...]:
    """PGD's default relative step sizes: a cosine decay from ``peak`` towards 0.

    Step ``k`` (0-based) of ``steps`` moves ``peak * (1 + cos(pi * k / steps)) / 2`` times
    eps: large early steps cross the ball, small late ones settle near a local maximum.
    Why not a fixed step: at every step count measured the schedule leaves less robust
    accuracy than torchattacks.PGD with its usual ``alpha = eps / 4`` or with Madry et al.'s
    ``2.5 * eps / steps`` (our earlier default). Public ResNet-20, 256 lossless CIFAR-10 test
    images, mean of 3 seeds, 10 / 20 / 50 steps (``benchmarks/bench_pgd_crosscheck.py``):

    * L∞ 1/255: 19.1 / 16.5 / 15.2 % against 21.4 / 18.0 / 16.9 % (eps / 4);
    * L∞ 2/255: 0.8 / 0.4 / 0.4 % against 2.3 / 0.7 / 0.5 %;
    * L2 0.25: 2.3 / 1.6 / 0.9 % against 7.0 / 5.9 / 4.6 % (torchattacks.PGDL2, alpha 0.2);
    * L∞ 8/255 on the adversarially trained ``resnet20-fastat``: 37.9 / 37.2 / 37.4 % against
      38.9 / 38.3 / 37.6 % (eps / 4) and 38.9 / 38.9 / 38.8 % (2.5 * eps / steps).

    Example:
        >>> [round(r, 3) for r in cosine_steps(4)]
        [1.0, 0.854, 0.5, 0.146]
    """
    steps = check_positive_int(steps, "steps")
    return tuple(peak * 0.5 * (1.0 + math.cos(math.pi * k / steps)) for k in range(steps))


@attack_dataclass
class PGD(GradientAttack):
    """Projected gradient descent (Madry et al., ICLR 2018, arXiv 1706.06083).

    Each step moves the perturbation along the steepest-ascent direction of the loss in the
    threat model's norm (the gradient's sign for L∞, the normalised gradient for L2) and
    projects it back onto the feasible set: the eps-ball, the [0, 1] box and, with ``band``,
    a DCT or Fourier frequency band (Sharma et al. 2019; Guo et al. 2019), so the returned
    perturbation carries (almost) no energy outside the band: at most 1e-8 of its energy, see
    :mod:`attacks.bands`. The step size follows a cosine schedule from eps down
    (:func:`cosine_steps`) unless ``rel_stepsize`` or ``abs_stepsize`` fixes it.

    Distance measure: L∞ or L2 over the whole image, in [0, 1] pixel units.

    Args:
        eps: Radius of the ball (>= 0).
        norm: ``"linf"`` or ``"l2"``.
        steps: Number of gradient steps (>= 1).
        rel_stepsize: A fixed step size as a fraction of ``eps``. Default (None): the cosine
            schedule of :func:`cosine_steps`, from ``eps`` down towards 0, stronger at equal
            steps than any fixed step we measured.
        abs_stepsize: A fixed absolute step size; if given, it takes precedence over
            ``rel_stepsize``.
        random_start: Start the first restart from a uniform random point of the ball (later
            restarts always start at random).
        restarts: Number of runs; each sample keeps its worst case (a success if any run
            succeeded, else the run with the highest loss).
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner logit margin).
        early_stop: Stop updating samples as soon as they are adversarial (and skip samples the
            model already gets wrong). Results stay valid; it only saves work.
        eot_samples: Forward/backward passes averaged per step (expectation over
            transformation): the adaptive attack on randomised models. The restart selection
            uses the same average.
        band: None, ``"low"``, ``"mid"``, ``"high"``, ``"all"`` or a 0/1 mask ``(H, W)``:
            confine the perturbation to this frequency band.
        band_space: ``"dct"`` or ``"fourier"``: the transform whose coefficients ``band`` selects.
        band_low: Upper edge of the low band, as a fraction of the Nyquist frequency.
        band_high: Lower edge of the high band, as a fraction of the Nyquist frequency.
        amp: Run the model under bf16 autocast (on the images' device type); the loss,
            gradient and perturbation stay in the images' dtype.

    Shape:
        x: ``(N, C, H, W)`` in [0, 1]; y and targets: ``(N,)`` int64. Returns ``x_adv`` like x.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: eps < 0 or NaN, steps/restarts/eot_samples < 1, non-positive step sizes,
            unknown norm, loss, band or band space.

    Example:
        >>> attack = PGD(eps=8 / 255, steps=10)
        >>> x_adv = attack(model, x, y)  # doctest: +SKIP
        >>> x_tgt = attack.replace(restarts=5)(model, x, y, targets=t)  # doctest: +SKIP
    """

    name = "pgd"
    presets = (Preset("pgd-eot", "PGD with the input gradient averaged over eot_samples calls", {"eot_samples": 10}),)

    # eps and norm come first, from GradientAttack.
    steps: int = setting(10, check_positive_int)
    # Stays None in the config when defaulted, so replace(steps=...) rescales the step.
    rel_stepsize: float | None = setting(None, optional(check_positive))
    abs_stepsize: float | None = setting(None, optional(check_positive))
    random_start: bool = setting(True, check_bool)
    restarts: int = setting(1, check_positive_int)
    loss: str = setting("ce", choice(LOSSES))
    early_stop: bool = setting(True, check_bool)
    eot_samples: int = setting(1, check_positive_int)
    band: str | Tensor | None = setting(None)
    band_space: str = setting("dct", choice(BAND_SPACES))
    band_low: float = setting(0.25)
    band_high: float = setting(0.5)
    amp: bool = setting(False, check_bool)

    @property
    def step_sizes(self) -> tuple[float, ...]:
        """The absolute size of each step: ``abs_stepsize``, else ``rel_stepsize`` x eps, else the default schedule."""
        if self.abs_stepsize is not None:
            return (self.abs_stepsize,) * self.steps
        if self.rel_stepsize is not None:
            return (self.rel_stepsize * self.eps,) * self.steps
        return tuple(rel * self.eps for rel in self._default_rel_steps())

    @property
    def step_size(self) -> float:
        """The first (for the default schedule, the largest) absolute step size."""
        return self.step_sizes[0]

    def _default_rel_steps(self) -> tuple[float, ...]:
        return cosine_steps(self.steps)

    # ------------------------------------------------------------------------ algorithm
    def _run(self, task: Task) -> AttackResult:
        model, x, labels, targeted = task.model, task.x, task.labels, task.targeted
        n = x.shape[0]
        # With early stopping, samples that are already adversarial keep delta = 0 and cost nothing more.
        done = is_success(task.clean_logits, labels, targeted=targeted) if self.early_stop else None
        worst = WorstCase.start(x, done)
        for restart in range(self.restarts):
            todo = worst.pending(self.early_stop)
            if todo.numel() == 0:
                break
            full = todo.numel() == n
            xs, ls = (x, labels) if full else (x[todo], labels[todo])
            delta, success = self._descend(model, xs, ls, targeted, task.generator, self.random_start or restart > 0)
            if self.restarts == 1:
                worst.delta[todo] = delta
                break
            loss, final_success = self._evaluate(model, xs, delta, ls, targeted)
            worst.update(todo, delta, success | final_success, loss)
        return worst.result(x)

    def _gradient(
        self, model: nn.Module, x: Tensor, delta: Tensor, labels: Tensor, targeted: bool
    ) -> tuple[Tensor, Tensor]:
        """Input gradient of the loss and the logits, both averaged over ``eot_samples`` passes."""
        grad: Tensor | None = None
        logits_sum: Tensor | None = None
        for _ in range(self.eot_samples):
            d = delta.detach().requires_grad_(True)
            logits = self._forward(model, x + d)
            loss = attack_loss(self.loss, logits, labels, targeted=targeted)
            (g,) = torch.autograd.grad(loss.sum(), d)
            logits = logits.detach().float()
            grad = g if grad is None else grad + g
            logits_sum = logits if logits_sum is None else logits_sum + logits
        assert grad is not None and logits_sum is not None  # eot_samples >= 1
        if self.eot_samples > 1:
            grad, logits_sum = grad / self.eot_samples, logits_sum / self.eot_samples
        return grad, logits_sum

    @torch.no_grad()
    def _evaluate(
        self, model: nn.Module, x: Tensor, delta: Tensor, labels: Tensor, targeted: bool
    ) -> tuple[Tensor, Tensor]:
        """EOT-averaged loss and success of a finished run, for restart selection."""
        loss_sum = torch.zeros(x.shape[0], device=x.device)
        logits_sum = torch.zeros((), device=x.device)
        for _ in range(self.eot_samples):
            logits = self._forward(model, x + delta).float()
            loss_sum += attack_loss(self.loss, logits, labels, targeted=targeted)
            logits_sum = logits_sum + logits
        return loss_sum / self.eot_samples, is_success(logits_sum, labels, targeted=targeted)

    def _descend(
        self,
        model: nn.Module,
        x: Tensor,
        labels: Tensor,
        targeted: bool,
        generator: torch.Generator | None,
        random_start: bool,
    ) -> tuple[Tensor, Tensor]:
        """One PGD run from a (random) start. Returns the perturbations and a success flag per sample.

        The loop steps an optimiser state ``z`` and evaluates the model at the feasible point
        ``project(z)``; for plain balls the state is the feasible point itself.
        """
        c, sizes, point = self._constraint, self.step_sizes, self._point
        z = c.random_state(x, generator) if random_start else torch.zeros_like(x)
        n = x.shape[0]
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        if not self.early_stop:
            for size in sizes:
                grad, _ = self._gradient(model, x, point(z, x), labels, targeted)
                z = c.iterate(c.step(z, grad, size), x)
            return c.finish(z, x), found
        out = z.clone()
        ids = torch.arange(n, device=x.device)  # positions of the working batch in `out`
        xa, la, za = x, labels, z
        frozen = torch.zeros(n, dtype=torch.bool, device=x.device)
        every = COMPACT_EVERY.get(x.device.type, COMPACT_EVERY_DEFAULT)
        for k, size in enumerate(sizes):
            grad, logits = self._gradient(model, xa, point(za, xa), la, targeted)
            # A state whose point fools the model is kept as it is (sticky, for randomised models too).
            frozen = frozen | is_success(logits, la, targeted=targeted)
            za = torch.where(_per_sample(frozen), za, c.iterate(c.step(za, grad, size), xa))
            if (k + 1) % every == 0 and k + 1 < self.steps and bool(frozen.any()):
                done_ids = ids[frozen]
                out[done_ids] = za[frozen]
                found[done_ids] = True
                keep = ~frozen
                ids, xa, la, za = ids[keep], xa[keep], la[keep], za[keep]
                frozen = frozen[keep]
                if ids.numel() == 0:
                    return point(out, x), found
        out[ids] = za
        found[ids] = frozen
        if c.exact_iterates:
            return out, found
        # Frozen states return exactly the point that was seen to fool the model; the others
        # get the constraint's more thorough finish.
        return torch.where(_per_sample(found), c.project(out, x), c.finish(out, x)), found


@attack_dataclass
class FGSM(PGD):
    """Fast gradient sign method (Goodfellow et al., ICLR 2015): one PGD step of size eps.

    With ``random_start=True`` it is FGSM-RS (Wong et al., ICLR 2020), whose default step is
    1.25 * eps from a uniform random start. In L2 the step is the normalised gradient (FGM).

    The settings are :class:`PGD`'s without ``steps`` and ``restarts`` (one step, one run), with
    two other defaults: ``random_start=False`` and a step of ``rel_stepsize = 1.0`` (1.25 with
    a random start).
    """

    name = "fgsm"

    steps: int = field(default=1, init=False)
    restarts: int = field(default=1, init=False)
    random_start: bool = setting(False, check_bool)

    def _default_rel_steps(self) -> tuple[float, ...]:
        return (1.25 if self.random_start else 1.0,)
