"""Training recipes: the loss that :func:`bandlimit.training.train` minimises.

A recipe is a small frozen object with a ``name`` and
``loss(model, x, y, *, generator) -> (loss, logits)``; the core training loop calls it on
every (augmented, [0, 1]) batch with the model in train mode. Recipes:

* ``natural``: cross-entropy on clean images.
* ``gaussian``: Gaussian noise augmentation (Yin et al. 2019): ``x + sigma * N(0, I)``,
  clipped to [0, 1], with ``sigma`` fixed or drawn per image uniformly from [0, sigma].
* ``pgd_at``: Madry et al. 2018 adversarial training, L∞ PGD (8/255, step 2/255, 10 steps,
  random start).
* ``fast_fgsm_rs``: Wong, Rice & Kolter 2020 "fast is better than free": one FGSM step of
  10/255 (1.25 eps) from a uniform random start in the 8/255 ball; pair it with the
  ``cyclic`` schedule and ~15 epochs.
* ``trades``: Zhang et al. 2019: ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` with ``x'``
  maximising the KL term by L∞ PGD (beta 6, eps 8/255, 10 steps of 2/255).

Adversarial examples are generated with the model in **eval mode** (BatchNorm uses its
running statistics) and with parameter gradients switched off; the update itself then runs
in train mode. This is what the MadryLab ``robustness`` library and the official TRADES code
do; it also keeps the attack's forward passes out of the BatchNorm running statistics and
costs about 2 instead of 3 forward-equivalents per attack step. (Wong et al.'s fast-AT code
generates in train mode; here every recipe uses eval mode, for one consistent rule.)
The attacks inside training run without early stopping, so every sample is perturbed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from attacks.constraints import LinfBall
from attacks.pgd import FGSM, PGD
from bandlimit._checks import check_choice, check_nonnegative, check_positive, check_positive_int
from bandlimit._torch import model_guard
from bandlimit.registry import Registry

__all__ = [
    "RECIPES",
    "TRADES",
    "FastFGSMRS",
    "GaussianAugmentation",
    "NaturalTraining",
    "PGDAdversarialTraining",
    "create_recipe",
    "list_recipes",
]


def _check_eps(eps: Any) -> float:
    eps = check_positive(eps, "eps")
    if eps > 1:
        raise ValueError(f"eps: expected a budget in (0, 1] pixel units (e.g. 8/255 = 0.0314), got {eps}")
    return eps


def _check_smoothing(value: Any) -> float:
    value = check_nonnegative(value, "label_smoothing")
    if value >= 1:
        raise ValueError(f"label_smoothing: expected a value in [0, 1), got {value}")
    return value


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise like ``x``, drawn on the generator's device (reproducible)."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


class _Recipe:
    """Shared behaviour: ``config`` (the dataclass fields) and cross-entropy."""

    name: ClassVar[str]

    @property
    def config(self) -> dict[str, Any]:
        """The recipe's settings (recorded in checkpoints and the run identity)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}  # type: ignore[arg-type]

    def _ce(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), y, label_smoothing=getattr(self, "label_smoothing", 0.0))


@dataclass(frozen=True)
class NaturalTraining(_Recipe):
    """Cross-entropy on clean images.

    Args:
        label_smoothing: Label smoothing of the cross-entropy, in [0, 1).
    """

    name: ClassVar[str] = "natural"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_smoothing", _check_smoothing(self.label_smoothing))

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Cross-entropy of ``model(x)``; returns ``(loss, logits)``."""
        logits = model(x)
        return self._ce(logits, y), logits


@dataclass(frozen=True)
class GaussianAugmentation(_Recipe):
    """Train on ``clip(x + s * N(0, I), 0, 1)`` (Yin et al. 2019's Gaussian augmentation).

    Args:
        sigma: Noise standard deviation in [0, 1] pixel units (>= 0).
        mode: ``"fixed"`` (``s = sigma``) or ``"uniform"`` (``s ~ U[0, sigma]`` per image,
            so the model also sees nearly clean images).
        label_smoothing: Label smoothing, in [0, 1).
    """

    name: ClassVar[str] = "gaussian"
    sigma: float = 0.1
    mode: str = "fixed"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_nonnegative(self.sigma, "sigma"))
        check_choice(self.mode, "mode", ("fixed", "uniform"))
        object.__setattr__(self, "label_smoothing", _check_smoothing(self.label_smoothing))

    def perturb(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The noisy, clipped images the model is trained on."""
        noise = _noise(x, generator)
        if self.mode == "uniform":
            draw_device = generator.device if generator is not None else x.device
            s = torch.rand(x.shape[0], generator=generator, device=draw_device, dtype=x.dtype).to(x.device)
            noise = noise * (s * self.sigma).view(-1, 1, 1, 1)
        else:
            noise = noise * self.sigma
        return (x + noise).clamp_(0.0, 1.0)

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Cross-entropy on noisy images; returns ``(loss, logits on the noisy images)``."""
        logits = model(self.perturb(x, generator=generator))
        return self._ce(logits, y), logits


@dataclass(frozen=True)
class PGDAdversarialTraining(_Recipe):
    """Madry et al. 2018: minimise cross-entropy on L∞ PGD adversarial examples.

    Args:
        eps: L∞ budget in (0, 1] (default 8/255).
        steps: PGD steps (>= 1; Madry used 7 on CIFAR-10, 10 is common).
        step_size: Absolute step size (default 2/255).
        random_start: Start from a uniform random point of the ball.
        label_smoothing: Label smoothing, in [0, 1).
    """

    name: ClassVar[str] = "pgd_at"
    eps: float = 8 / 255
    steps: int = 10
    step_size: float = 2 / 255
    random_start: bool = True
    label_smoothing: float = 0.0
    _attack: PGD = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _check_eps(self.eps))
        check_positive_int(self.steps, "steps")
        object.__setattr__(self, "step_size", check_positive(self.step_size, "step_size"))
        object.__setattr__(self, "label_smoothing", _check_smoothing(self.label_smoothing))
        attack = PGD(
            eps=self.eps,
            steps=self.steps,
            abs_stepsize=self.step_size,
            random_start=self.random_start,
            early_stop=False,
        )
        object.__setattr__(self, "_attack", attack)

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Cross-entropy on PGD examples; returns ``(loss, logits on the adversarial images)``."""
        x_adv = self._attack(model, x, y, generator=generator)
        logits = model(x_adv)
        return self._ce(logits, y), logits


@dataclass(frozen=True)
class FastFGSMRS(_Recipe):
    """Wong et al. 2020 fast adversarial training: FGSM from a uniform random start.

    ``delta ~ U[-eps, eps]`` (clipped to the image box), one signed-gradient step of
    ``step_size``, projection onto the eps-ball and the box; then cross-entropy on
    ``x + delta``. Use with the ``cyclic`` learning-rate schedule.

    Args:
        eps: L∞ budget in (0, 1] (default 8/255).
        step_size: FGSM step (default 10/255 = 1.25 * 8/255; Wong et al.'s alpha).
        label_smoothing: Label smoothing, in [0, 1).
    """

    name: ClassVar[str] = "fast_fgsm_rs"
    eps: float = 8 / 255
    step_size: float = 10 / 255
    label_smoothing: float = 0.0
    _attack: FGSM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _check_eps(self.eps))
        object.__setattr__(self, "step_size", check_positive(self.step_size, "step_size"))
        object.__setattr__(self, "label_smoothing", _check_smoothing(self.label_smoothing))
        attack = FGSM(eps=self.eps, abs_stepsize=self.step_size, random_start=True, early_stop=False)
        object.__setattr__(self, "_attack", attack)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The FGSM-RS adversarial images (within eps of ``x``, in [0, 1])."""
        return self._attack(model, x, y, generator=generator)

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Cross-entropy on FGSM-RS examples; returns ``(loss, logits on them)``."""
        logits = model(self.perturb(model, x, y, generator=generator))
        return self._ce(logits, y), logits


@dataclass(frozen=True)
class TRADES(_Recipe):
    """Zhang et al. 2019: ``CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x'))``.

    ``x'`` starts at ``x + 0.001 * N(0, I)`` and takes ``steps`` signed-gradient steps of
    ``step_size`` on the KL term, each projected onto the L∞ ball and the box. The KL
    objective has no label, so this inner loop is written here with the attacks package's
    L∞ constraint rather than through :class:`attacks.PGD` (whose losses are label losses).

    Args:
        beta: Weight of the robustness (KL) term (>= 0; 6 in the paper).
        eps: L∞ budget in (0, 1] (default 8/255).
        steps: Inner maximisation steps (>= 1).
        step_size: Inner step size (default 2/255; the official code uses 0.007).
    """

    name: ClassVar[str] = "trades"
    beta: float = 6.0
    eps: float = 8 / 255
    steps: int = 10
    step_size: float = 2 / 255

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", check_nonnegative(self.beta, "beta"))
        object.__setattr__(self, "eps", _check_eps(self.eps))
        check_positive_int(self.steps, "steps")
        object.__setattr__(self, "step_size", check_positive(self.step_size, "step_size"))

    def perturb(self, model: nn.Module, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The KL-maximising images ``x'`` (within eps of ``x``, in [0, 1])."""
        ball = LinfBall(self.eps)
        with model_guard(model), torch.enable_grad():
            with torch.no_grad():
                p_clean = F.softmax(model(x).float(), dim=1)
            delta = ball.project(0.001 * _noise(x, generator), x)
            for _ in range(self.steps):
                d = delta.detach().requires_grad_(True)
                kl = F.kl_div(F.log_softmax(model(x + d).float(), dim=1), p_clean, reduction="sum")
                (grad,) = torch.autograd.grad(kl, d)
                delta = ball.project(ball.step(delta, grad, self.step_size), x)
        return (x + delta.detach()).clamp_(0.0, 1.0)

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """The TRADES objective; returns ``(loss, clean logits)``."""
        x_adv = self.perturb(model, x, generator=generator)
        logits = model(x)
        logits_adv = model(x_adv)
        robust = F.kl_div(
            F.log_softmax(logits_adv.float(), dim=1), F.softmax(logits.float(), dim=1), reduction="batchmean"
        )
        return F.cross_entropy(logits.float(), y) + self.beta * robust, logits


#: Every recipe class under its own ``name`` (``RECIPES.get("trades").obj`` is :class:`TRADES`).
RECIPES: Registry[type[_Recipe]] = Registry("recipe")
for _cls in (NaturalTraining, GaussianAugmentation, PGDAdversarialTraining, FastFGSMRS, TRADES):
    RECIPES.register(_cls.name, _cls, help=(_cls.__doc__ or "").strip().splitlines()[0])


def list_recipes() -> list[str]:
    """Names of the available training recipes, sorted."""
    return RECIPES.names()


def create_recipe(name: str, **settings: Any) -> _Recipe:
    """Build a recipe by name with validated keyword settings.

    Args:
        name: One of :func:`list_recipes` (``natural``, ``gaussian``, ``pgd_at``,
            ``fast_fgsm_rs``, ``trades``).
        **settings: The recipe's settings, e.g. ``eps=8/255``, ``steps=10``, ``sigma=0.1``.

    Raises:
        ValueError: unknown name, or a setting out of range (eps outside (0, 1], steps < 1,
            sigma < 0, ...).
        TypeError: a setting the recipe does not have.
    """
    if name not in RECIPES:
        raise ValueError(f"recipe: expected one of {list_recipes()}, got {name!r}")
    cls = RECIPES.get(name).obj
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"recipe {name!r}: unknown settings {unknown}; expected some of {sorted(known)}")
    return cls(**settings)
