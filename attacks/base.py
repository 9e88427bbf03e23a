"""The attack base class: settings written once, registration by name, guarded runs.

An attack is a frozen keyword-only dataclass (decorate it with :func:`attack_dataclass`) whose
fields are its settings, each declared once with its validation (:func:`setting`). From the
fields it gets :attr:`Attack.config`, :meth:`Attack.replace` and construction by name
(:func:`attacks.create_attack`); defining a subclass that sets ``name`` registers it in
:data:`attacks.ATTACKS`. A subclass writes only its algorithm, ``_run(task)``.

The base class validates every input before any work is done, puts the model in eval mode with
parameter gradients switched off for the duration of the call (so an attack never computes or
leaves weight gradients) and restores both afterwards. Black-box attacks run under
``torch.no_grad()``, so a gradient cannot be taken by accident. It also refuses to let a broken
model pass for a robust one: every output the attack sees must be finite (a NaN makes every
comparison false, so a black-box search would silently "fail" and leave the image "robust").
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Generator, Tensor
from torch.nn import Module

from attacks.registry import register_attack
from bandlimit import attack as protocol
from bandlimit._checks import (
    NonFiniteLogits,
    check_budget,
    check_choice,
    check_images,
    check_labels,
    check_logits,
    nonfinite_message,
)
from bandlimit._torch import first_forward, fit_images, model_guard
from bandlimit.attack import NORMS, AttackResult, ThreatModel

__all__ = [
    "NORMS",
    "Attack",
    "AttackResult",
    "Preset",
    "Task",
    "ThreatModel",
    "attack_dataclass",
    "choice",
    "optional",
    "setting",
]

#: A validator: ``check(value, name)`` returns the (normalised) value or raises naming ``name``.
Check = Callable[[Any, str], Any]

A = TypeVar("A", bound="Attack")


def setting(default: Any = dataclasses.MISSING, check: Check | None = None) -> Any:
    """Declare one attack setting: a dataclass field and its validator, in one place.

    Args:
        default: The default value; leave it out for a required setting.
        check: ``check(value, name) -> value`` run at construction (the returned, normalised
            value is stored), e.g. :func:`bandlimit._checks.check_positive_int`.
    """
    return field(default=default, metadata={"check": check})


def optional(check: Check) -> Check:
    """A validator that lets ``None`` through and checks anything else with ``check``."""
    return lambda value, name: None if value is None else check(value, name)


def choice(options: Iterable[str]) -> Check:
    """A validator accepting one of ``options`` (:func:`bandlimit._checks.check_choice`)."""
    options = tuple(options)
    return lambda value, name: check_choice(value, name, options)


def attack_dataclass(cls: type[A]) -> type[A]:
    """Make ``cls`` a frozen keyword-only dataclass of settings (no generated eq or repr).

    Equality stays identity (settings may hold tensors or models) and ``repr`` comes from
    :attr:`Attack.config`.
    """
    return dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)


@dataclass(frozen=True)
class Preset:
    """Another registered name for an attack, with some settings filled in.

    Attributes:
        name: The registered name, e.g. ``"pgd-eot"``.
        help: One line for listings.
        settings: Defaults applied before the caller's settings.
    """

    name: str
    help: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One call of an attack, validated: what ``_run`` works on.

    Attributes:
        model: The model, in eval mode with frozen parameters.
        x: Clean images ``(N, C, H, W)`` in [0, 1].
        y: True labels ``(N,)`` on ``x``'s device.
        targets: Target labels ``(N,)`` (targeted attack) or None.
        generator: Source of randomness, or None.
        clean_logits: The model's logits on ``x`` (already computed by the input checks).
    """

    model: Module
    x: Tensor
    y: Tensor
    targets: Tensor | None
    generator: Generator | None
    clean_logits: Tensor

    @property
    def targeted(self) -> bool:
        """Whether the attack aims at ``targets``."""
        return self.targets is not None

    @property
    def labels(self) -> Tensor:
        """The labels the objective refers to: ``targets`` if targeted, else ``y``."""
        return self.targets if self.targets is not None else self.y


class Attack(protocol.Attack, ABC):
    """Base class of every attack: ``attack(model, x, y, *, targets=None, generator=None)``.

    Implements the core protocol :class:`bandlimit.attack.Attack`. Settings are the fields of a
    frozen dataclass (:func:`attack_dataclass`, :func:`setting`); nothing on the object changes
    between calls. A subclass with another form (the torchattacks adapter) overrides
    :attr:`config` and :meth:`from_settings`.

    Class attributes:
        name: Short name used in results and on the command line; a subclass that sets it is
            registered under it in :data:`attacks.ATTACKS` (help: the docstring's first line).
        uses_gradients: True for white-box attacks; False ones run under ``torch.no_grad()``.
            :meth:`run` reads ``self.uses_gradients``, so a subclass may make it a per-instance
            property (the torchattacks adapter does).
        budget: The setting that holds the threat budget (None: the attack has none to set).
        budget_norms: The norms whose budget ``budget`` sets.
        norm_setting: The setting that chooses the threat norm (None: fixed by the attack).
        presets: Further registered names with some settings filled in (not inherited).
    """

    name: ClassVar[str] = "attack"  # type: ignore[misc]
    uses_gradients: ClassVar[bool] = True  # type: ignore[misc]
    budget: ClassVar[str | None] = None
    budget_norms: ClassVar[tuple[str, ...]] = NORMS
    norm_setting: ClassVar[str | None] = None
    presets: ClassVar[tuple[Preset, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            register_attack(cls)

    def __init__(self, **settings: Any) -> None:
        # Reached only by a subclass that is not an attack_dataclass and passes its settings up
        # (the old form); typing.Protocol's placeholder __init__ would drop them silently.
        if settings:
            raise TypeError(
                f"{type(self).__name__}: Attack.__init__ takes no settings; declare them as fields "
                "of an @attack_dataclass class (attacks.base.setting)"
            )

    def __post_init__(self) -> None:
        """Run each setting's validator and store the value it returns (in field order)."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(getattr(self, f.name), f.name))
        self._warn_budget()

    def _warn_budget(self, numel: int | None = None) -> None:
        """Warn about a budget larger than [0, 1] images allow (:func:`bandlimit._checks.check_budget`).

        Without ``numel`` (at construction) the L∞ budget is checked; with the image size
        ``numel`` (at each call) the L2 one. Only the attack's own budget setting counts, not a
        bound derived from other settings (SimBA's L2 bound from its step and query budget).
        """
        if self.budget is None:
            return
        threat = self.threat
        if threat.norm in self.budget_norms and (threat.norm == "linf") == (numel is None):
            check_budget(threat.norm, threat.eps, self.budget, numel=numel)

    # ------------------------------------------------------------------ configuration
    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The settings this attack is built from, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls: type[A], **settings: Any) -> A:
        """Build the attack from settings, naming the valid ones when a name is wrong.

        Raises:
            TypeError: an unknown setting, or a required one missing.
            ValueError: a setting's value is rejected by its validator.
        """
        names = cls.setting_names()
        unknown = sorted(set(settings) - set(names))
        required = [f.name for f in dataclasses.fields(cls) if f.init and _is_required(f)]  # type: ignore[arg-type]
        missing = [n for n in required if n not in settings]
        if unknown or missing:
            problem = f"unknown settings {unknown}" if unknown else f"missing required settings {missing}"
            raise TypeError(f"attack {cls.name!r}: {problem}; valid settings: {', '.join(names)}")
        return cls(**settings)

    @property
    def config(self) -> dict[str, Any]:
        """The settings this attack was built with (a new dict; :meth:`replace` rebuilds from it)."""
        return {name: getattr(self, name) for name in self.setting_names()}

    @property
    @abstractmethod
    def threat(self) -> ThreatModel:
        """The norm and budget every returned perturbation respects."""

    @property
    def randomized(self) -> bool:
        """Whether the attack draws random numbers (random start, random order, ...)."""
        return False

    def replace(self: A, **changes: Any) -> A:
        """A new attack of the same kind with some settings changed.

        Raises:
            TypeError: a name in ``changes`` is not a setting of this attack.
        """
        config = self.config
        unknown = sorted(set(changes) - set(config))
        if unknown:
            raise TypeError(f"attack {self.name!r}: unknown settings {unknown}; valid settings: {', '.join(config)}")
        return type(self).from_settings(**{**config, **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------------ running
    def __call__(
        self, model: Module, x: Tensor, y: Tensor, *, targets: Tensor | None = None, generator: Generator | None = None
    ) -> Tensor:
        """Attack ``model`` on images ``x`` with labels ``y``; returns ``x_adv``, the images of :meth:`run`."""
        return self.run(model, x, y, targets=targets, generator=generator).x_adv

    def run(
        self, model: Module, x: Tensor, y: Tensor, *, targets: Tensor | None = None, generator: Generator | None = None
    ) -> AttackResult:
        """The protocol's :meth:`bandlimit.attack.Attack.run`: checks every input, then runs :meth:`_run`.

        The model runs in eval mode with its parameters frozen (both restored afterwards),
        under ``torch.no_grad()`` unless the attack uses gradients. Images in another floating
        dtype than a float32 (float64) model are converted to float32 (float64) first, and
        ``x_adv`` comes back in that dtype (see :func:`bandlimit._torch.fit_images`).

        Raises:
            TypeError, ValueError: bad inputs (see :class:`bandlimit.attack.Attack`), images the
                model cannot take (the message names the expected channels or dtype).
            NonFiniteLogits: the model returned NaN or inf logits, on the clean images or on an
                image the attack queried.
        """
        if not isinstance(model, Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        check_images(x, "x")
        check_labels(y, x.shape[0], "y")
        if targets is not None:
            check_labels(targets, x.shape[0], "targets")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
        self._check_inputs(x)
        self._warn_budget(numel=x[0].numel())
        x = fit_images(model, x)
        # Any integer labels are accepted; the losses index with int64.
        y = y.to(x.device, torch.long)
        targets = targets.to(x.device, torch.long) if targets is not None else None
        with model_guard(model):
            with torch.no_grad():
                clean_logits = first_forward(model, x, "x")
            num_classes = check_logits(clean_logits, x.shape[0], "model output on the clean images x")
            check_labels(y, x.shape[0], "y", num_classes=num_classes)
            if targets is not None:
                check_labels(targets, x.shape[0], "targets", num_classes=num_classes)
                _check_targets_differ(targets, y)
            watched = _Watched(model)
            grad_mode = torch.enable_grad() if self.uses_gradients else torch.no_grad()
            with grad_mode:
                result = self._run(Task(watched, x, y, targets, generator, clean_logits))
            if watched.bad is not None and bool(watched.bad):
                raise NonFiniteLogits(
                    nonfinite_message(
                        f"model output during attack {self.name!r}",
                        "some of the images it queried (the clean images gave finite logits)",
                    )
                )
            return result

    def _check_inputs(self, x: Tensor) -> None:
        """Validate settings that depend on the images (size, channels) before any work.

        Called by :meth:`run` after the generic checks and before the first forward pass;
        subclasses raise ``ValueError`` naming the fix. The default accepts everything.
        """

    @abstractmethod
    def _run(self, task: Task) -> AttackResult:
        """The algorithm. Inputs are validated; the model is in eval mode with frozen weights."""


class _Watched(Module):
    """The model as :meth:`Attack._run` sees it: notes whether any output was not finite.

    The note is a device tensor read once after the attack, so watching costs one small
    reduction per forward pass and no device sync. The wrapper itself is in eval mode and has
    no state of its own (the model's modes and parameters are the guard's business).
    """

    def __init__(self, model: Module) -> None:
        super().__init__()
        self.model = model
        self.training = False  # the wrapper only; leaves the model's own flags alone
        self.bad: Tensor | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The model's output, unchanged."""
        out = self.model(*args, **kwargs)
        if isinstance(out, Tensor) and out.is_floating_point():
            flag = ~torch.isfinite(out.detach()).all()
            self.bad = flag if self.bad is None else self.bad | flag
        return out


def _check_targets_differ(targets: Tensor, y: Tensor) -> None:
    """A target equal to the true label is no target: the clean image would count as a success."""
    same = targets == y
    if bool(same.any()):
        first = int(same.nonzero()[0, 0])
        raise ValueError(
            f"targets: expected a target class other than the true label, got targets == y == "
            f"{int(y[first])} at sample {first} ({int(same.sum())} of {same.numel()} samples affected); "
            "the unperturbed image would already 'reach' its target"
        )


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
