"""Run any torchattacks attack through the bandlimit attack interface.

``TorchAttack("Square", eps=8/255, n_queries=5000)`` behaves like every other attack of this
package: keyword configuration fixed at construction, ``attack(model, x, y, *, targets=None,
generator=None)``, an explicit threat model, and no state shared between calls.

How torchattacks' habits are contained:

* **Mutable modes.** A fresh torchattacks object is built on *every* call, with the model of that
  call; targeted mode (``set_mode_targeted_by_label``) is switched on for that object only when
  ``targets`` is given. Nothing set on one call can leak into the next.
* **Normalisation.** Our models take [0, 1] images (normalisation is their first layer), so the
  torchattacks normalisation is never set.
* **Device.** Taken from ``x`` (``set_device``), not guessed from the model's parameters.
* **Randomness.** Attacks such as Square and APGD call ``torch.manual_seed(seed)`` on the global
  RNG. The call runs inside ``torch.random.fork_rng``, so the caller's global RNG state is
  restored afterwards; the forked RNG is seeded from ``generator`` (or, without one, from the
  global RNG), so the same generator state gives the same result for attacks that draw from
  torch's RNG and have no ``seed`` argument of their own. Attacks with a ``seed`` argument
  (Square, APGD, FAB, AutoAttack) use that seed, and OnePixel/Pixle draw from numpy's global
  RNG, which we do not touch.
* **Prints.** torchattacks prints to stdout; anything it prints is captured and logged at DEBUG.

The threat model comes from the class and its resolved keyword arguments: the ``norm`` argument
where the class has one (APGD, APGDT, FAB, Square, AutoAttack), L2 for the L2 classes (PGDL2,
PGDRSL2) and L∞ otherwise, with ``eps`` (``max_epsilon`` for PIFGSM/PIFGSMPP) as budget; attacks
without a budget (CW, DeepFool, EAD, SparseFool, JSMA, OnePixel, Pixle, GN) declare ``eps=inf``.
Square, OnePixel, Pixle, SPSA and GN use model outputs only and run under ``torch.no_grad()``
(``uses_gradients`` is decided per instance). torchattacks does not report query counts, so
``queries`` is None.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, AttackResult, Preset, Task, ThreatModel

__all__ = ["TorchAttack", "available_torchattacks"]

logger = logging.getLogger(__name__)

#: Score-based or noise attacks: they never take a gradient.
BLACK_BOX = frozenset({"Square", "OnePixel", "Pixle", "SPSA", "GN", "VANILA"})
#: Minimum-norm or L0/L1 attacks without an eps budget in [0, 1] pixel units.
UNBOUNDED_L2 = frozenset({"CW", "DeepFool", "EADL1", "EADEN", "SparseFool", "GN"})
UNBOUNDED_LINF = frozenset({"OnePixel", "Pixle", "JSMA"})
L2_CLASSES = frozenset({"PGDL2", "PGDRSL2"})
#: Attacks that draw no random numbers (given their defaults).
DETERMINISTIC = frozenset(
    {"VANILA", "FGSM", "BIM", "TPGD", "MIFGSM", "NIFGSM", "CW", "DeepFool", "EADL1", "EADEN", "JSMA"}
)
_NOT_ATTACKS = frozenset({"MultiAttack", "LGV"})  # wrappers that need other attacks or a training loader
_NORMS = {"linf": "linf", "l2": "l2"}


def _torchattacks() -> Any:
    try:
        import torchattacks
    except ImportError as err:  # pragma: no cover - torchattacks is a declared dependency
        raise ImportError(
            "TorchAttack needs the torchattacks package; install it with `pip install torchattacks`"
        ) from err
    return torchattacks


def available_torchattacks() -> list[str]:
    """Names of the torchattacks attack classes :class:`TorchAttack` accepts."""
    ta = _torchattacks()
    base = ta.attack.Attack
    return sorted(
        name
        for name in getattr(ta, "__all__", dir(ta))
        if name not in _NOT_ATTACKS and inspect.isclass(getattr(ta, name, None)) and issubclass(getattr(ta, name), base)
    )


def _resolve_class(name_or_class: Any) -> type:
    ta = _torchattacks()
    if inspect.isclass(name_or_class):
        if not issubclass(name_or_class, ta.attack.Attack):
            raise TypeError(
                f"name_or_class: expected a torchattacks attack class or name, got the class {name_or_class.__name__}"
            )
        return name_or_class
    if not isinstance(name_or_class, str):
        raise TypeError(f"name_or_class: expected a torchattacks class name such as 'PGD', got {name_or_class!r}")
    names = available_torchattacks()
    matches = [n for n in names if n == name_or_class] or [n for n in names if n.lower() == name_or_class.lower()]
    if not matches:
        raise ValueError(f"name_or_class: unknown torchattacks attack {name_or_class!r}; expected one of {names}")
    return getattr(ta, matches[0])


def _resolve_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The constructor's keyword arguments with defaults filled in (``model`` excluded)."""
    params: list[inspect.Parameter] = []
    # A subclass may forward (*args, **kwargs): use the first __init__ in the MRO that names its arguments.
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            named = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]  # drop self
            params = [p for p in named if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if params:
                break
    if not params or params[0].name != "model":
        raise TypeError(f"{cls.__name__}: expected a torchattacks attack whose first argument is the model")
    known = {p.name: p for p in params[1:]}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown arguments {unknown}; expected some of {sorted(known)}")
    resolved = {}
    for name, param in known.items():
        if name in kwargs:
            resolved[name] = kwargs[name]
        elif param.default is inspect.Parameter.empty:
            raise TypeError(f"{cls.__name__}: missing required argument {name!r}")
        else:
            resolved[name] = param.default
    return resolved


def _threat_for(cls_name: str, kwargs: dict[str, Any]) -> ThreatModel:
    if cls_name in UNBOUNDED_L2:
        return ThreatModel("l2", math.inf)
    if cls_name in UNBOUNDED_LINF:
        return ThreatModel("linf", math.inf)
    if "norm" in kwargs:
        norm = _NORMS.get(str(kwargs["norm"]).lower())
        if norm is None:
            raise ValueError(
                f"{cls_name}: norm={kwargs['norm']!r} has no bandlimit threat model; expected 'Linf' or 'L2'"
            )
    else:
        norm = "l2" if cls_name in L2_CLASSES or cls_name.upper().endswith("L2") else "linf"
    eps = kwargs.get("eps", kwargs.get("max_epsilon"))
    if eps is None:
        logger.warning("%s: no eps argument; declaring an unbounded %s threat model", cls_name, norm)
        return ThreatModel(norm, math.inf)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or math.isnan(eps) or eps < 0:
        raise ValueError(f"{cls_name}: eps: expected a number >= 0, got {eps!r}")
    return ThreatModel(norm, float(eps))


@contextlib.contextmanager
def _captured_stdout(label: str) -> Iterator[None]:
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            logger.debug("%s printed: %s", label, text)


class TorchAttack(Attack):
    """Any torchattacks attack (PGD, APGD, AutoAttack, Square, CW, DeepFool, FGSM, ...).

    Args:
        name_or_class: A torchattacks class or its name (case-insensitive, e.g. ``"Square"``);
            unknown names raise ``ValueError`` listing the available ones.
        **kwargs: The attack's own keyword arguments (everything except ``model``), e.g.
            ``eps=8/255, steps=10``; defaults are filled in and show in :attr:`config`.

    Raises:
        ImportError: torchattacks is not installed.
        TypeError: not a torchattacks attack, or an argument the attack does not take.
        ValueError: unknown attack name, or a norm/eps without a bandlimit threat model.

    Example:
        >>> attack = TorchAttack("PGD", eps=8 / 255, alpha=2 / 255, steps=10)
        >>> x_adv = attack(model, x, y)
        >>> TorchAttack("Square", eps=8 / 255).uses_gradients
        False
    """

    name = "torchattacks"
    budget = "eps"
    presets = (Preset("ta", "any torchattacks attack: ta:attack=Square,eps=8/255"),)

    def __init__(self, name_or_class: Any, **kwargs: Any) -> None:
        cls = _resolve_class(name_or_class)
        resolved = _resolve_kwargs(cls, kwargs)
        self._name_or_class = name_or_class
        self._cls = cls
        self._kwargs = resolved
        self._threat = _threat_for(cls.__name__, resolved)
        self._warn_budget()

    @classmethod
    def from_settings(cls, **settings: Any) -> TorchAttack:
        """Build from settings: ``attack`` (or ``name_or_class``) names the class, the rest are its arguments.

        ``attack`` is the command line's spelling: ``ta:attack=Square,eps=8/255``.

        Raises:
            ValueError: no class named, or an unknown one.
            TypeError: an argument the torchattacks class does not take (the message lists them).
        """
        name = settings.pop("attack", None) or settings.pop("name_or_class", None)
        if not name:
            raise ValueError("ta: expected the torchattacks class, e.g. ta:attack=Square,eps=8/255")
        return cls(name, **settings)

    @property
    def config(self) -> dict[str, Any]:
        """The class as given (``name_or_class``) and its keyword arguments with defaults filled in."""
        return {"name_or_class": self._name_or_class, **self._kwargs}

    @property
    def attack_class(self) -> type:
        """The torchattacks class this adapter builds on every call."""
        return self._cls

    @property
    def uses_gradients(self) -> bool:  # type: ignore[override]
        """False for score-based attacks (Square, OnePixel, Pixle, SPSA, GN), True otherwise."""
        return self._cls.__name__ not in BLACK_BOX

    @property
    def threat(self) -> ThreatModel:
        """Norm and eps from the class and its arguments (``eps=inf`` for unbounded attacks)."""
        return self._threat

    @property
    def randomized(self) -> bool:
        """Whether the attack draws random numbers (random start, random search, ...)."""
        if self._cls.__name__ in DETERMINISTIC:
            return False
        return self._kwargs.get("random_start", True) is not False or "seed" in self._kwargs

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"TorchAttack({self._cls.__name__!r}, {args})"

    def _run(self, task: Task) -> AttackResult:
        model, x, y, targets, generator = task.model, task.x, task.y, task.targets, task.generator
        label = f"torchattacks.{self._cls.__name__}"
        with _captured_stdout(label):
            atk = self._cls(model, **self._kwargs)  # fresh object per call: no state leaks between calls
        if targets is not None and "targeted" not in getattr(atk, "supported_mode", ()):
            raise ValueError(f"{self._cls.__name__}: targeted mode is not supported; call it without targets")
        atk.set_device(x.device)
        if targets is not None:
            atk.set_mode_targeted_by_label(quiet=True)
        # A seed for the forked RNG: from the caller's generator, else from the global RNG (advancing it).
        if generator is not None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        else:
            seed = int(torch.randint(0, 2**62, (1,)))
        # torch.manual_seed (ours and torchattacks') reaches every CUDA device: fork them all.
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), _captured_stdout(label):
            torch.manual_seed(seed)
            x_adv = atk(x, targets if targets is not None else y)
        if isinstance(x_adv, (tuple, list)):  # some versions return (x_adv, extras)
            x_adv = x_adv[0]
        if not isinstance(x_adv, Tensor) or x_adv.shape != x.shape:
            raise RuntimeError(
                f"{label}: expected adversarial images of shape {tuple(x.shape)}, got "
                f"{tuple(x_adv.shape) if isinstance(x_adv, Tensor) else type(x_adv).__name__}"
            )
        return AttackResult(x_adv=x_adv.detach().to(x.dtype), queries=None, info={"attack": self._cls.__name__})
