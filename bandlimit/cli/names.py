"""Names on the command line -> objects: models, attacks and defences.

The command line keeps no tables of its own: attacks come from :data:`attacks.ATTACKS`
(:func:`attacks.create_attack`), defences from :data:`defenses.DEFENSES`
(:func:`defenses.apply_defense`) and models from :mod:`bandlimit.models`. What the command line
adds is the spec syntax ``NAME[:key=value,...]`` (:mod:`bandlimit.cli.specs`) and filling
``--eps`` / ``--norm`` into the setting each attack class declares for them (``budget``,
``budget_norms``, ``norm_setting``). Every failure caused by what the user wrote is raised as
``ValueError`` (or ``FileNotFoundError``) naming the spec, so the command exits with status 2.

The heavy packages are imported inside the functions, so ``bandlimit --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bandlimit.cli.specs import parse_spec

__all__ = [
    "apply_defenses",
    "attack_names",
    "build_attack",
    "build_attacks",
    "image_shape",
    "load_data",
    "load_model",
    "resolve_model",
    "takes_eps",
]

#: ``package.module:function`` (dotted module path, then one attribute name).
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


# ------------------------------------------------------------------------------- models
def resolve_model(spec: str, *, pretrained: bool = True) -> nn.Module:
    """Build the model a user named on the command line.

    Accepted forms, tried in this order:

    * ``path/to/checkpoint.pt``: an existing file, loaded with
      :func:`bandlimit.models.load_checkpoint` (architecture from its metadata);
    * ``package.module:function``: an import path; the function is called with no arguments
      and must return an ``nn.Module`` on [0, 1] images (the "benchmark a new defence" entry);
      the current directory is importable, as with ``python -m``;
    * a registry name (``bandlimit models`` lists them), created with ``pretrained`` weights
      when the name has shipped weights.

    Raises:
        ValueError: unknown name, or an import path whose function returns no ``nn.Module``.
        FileNotFoundError: a path-like spec that does not exist.
    """
    from bandlimit.models import create_model, list_models

    path = Path(spec)
    if path.is_file():
        try:
            return _load_model_file(path)
        except ValueError as exc:
            raise ValueError(f"--model {spec!r}: {exc}") from exc
    # Path.suffix is no test here: "my_pkg.module:build" has the suffix ".module:build".
    if _IMPORT_PATH.fullmatch(spec):
        module_name, _, attr = spec.partition(":")
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(
                f"--model {spec!r}: cannot import module {module_name!r} ({exc}); expected "
                "package.module:function on the Python path"
            ) from exc
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            raise ValueError(f"--model {spec!r}: {module_name!r} has no callable {attr!r}")
        model = factory()
        if not isinstance(model, nn.Module):
            raise ValueError(
                f"--model {spec!r}: expected the function to return a torch.nn.Module on [0,1] "
                f"images, got {type(model).__name__}"
            )
        return model.eval()
    if path.suffix in {".pt", ".pth", ".th", ".ckpt"} or "/" in spec:
        if path.is_dir():
            raise ValueError(f"--model {spec!r}: expected a checkpoint file, got a folder; name the file inside it")
        raise FileNotFoundError(f"--model {spec!r}: no such checkpoint file")
    pretrained_names = set(list_models(pretrained=True)) if pretrained else set()
    return create_model(spec, pretrained=spec in pretrained_names).eval()


#: Input-layer defences as their checkpoints' metadata names them -> their registry names.
_WRAPPERS = {
    "LowPassFilter": "lowpass",
    "HighPassFilter": "highpass",
    "post_averaging": "postavg",
    "post_averaging_lin": "postavg-lin",
}


def _load_model_file(path: Path) -> nn.Module:
    """A checkpoint file as a model; one saved from a defended model comes back defended.

    ``save_checkpoint`` of a model wrapped by a filter or post-averaging stores the inner
    model's weights and names the defence (with its settings) in the metadata: the inner model
    is loaded and wrapped again, so ``--model defended.pt`` evaluates what was saved.
    """
    from bandlimit.models import load_checkpoint, read_checkpoint

    meta = read_checkpoint(path).get("meta")
    defense = meta.get("defense") if isinstance(meta, dict) else None
    model = load_checkpoint(path, inner=True).eval()
    if isinstance(defense, dict) and defense.get("name") in _WRAPPERS:
        from defenses import apply_defense

        settings = {k: v for k, v in defense.items() if k != "name" and v is not None}
        model = apply_defense(model, _WRAPPERS[defense["name"]], **settings)
    return model.eval()


def load_model(settings: Mapping[str, Any], device: torch.device) -> nn.Module:
    """The model of ``--model`` (+ ``--checkpoint``) wrapped by the ``--defense`` chain, in eval mode.

    Randomised defences draw from generators seeded by ``--seed`` (see :func:`apply_defenses`).
    """
    from bandlimit.models import CheckpointMismatchError, load_checkpoint

    spec = settings.get("model")
    if not spec:
        raise ValueError(
            "--model: expected a registry name (see `bandlimit models`), a checkpoint file or pkg.module:build, "
            "got nothing"
        )
    _refuse_random_weights(str(spec), settings.get("checkpoint"))
    model = resolve_model(str(spec))
    if settings.get("checkpoint"):
        try:
            model = load_checkpoint(settings["checkpoint"], model)
        except CheckpointMismatchError as exc:
            raise ValueError(
                f"--checkpoint does not match --model {spec!r}: {exc}; pass the --model the checkpoint was "
                "trained with (or the checkpoint alone as --model)"
            ) from exc
        except (ValueError, FileNotFoundError) as exc:  # unreadable: the file's fault, not the model's
            raise type(exc)(f"--checkpoint: {exc}") from exc
    model = apply_defenses(model, list(settings.get("defense") or []), seed=settings.get("seed"))
    return model.to(device).eval()


def _refuse_random_weights(spec: str, checkpoint: Any) -> None:
    """An architecture without shipped weights and no ``--checkpoint`` would evaluate random weights.

    Such a run prints 0 % clean accuracy and "no gradient-masking warning", which reads like a
    result; it is refused with the ways to give weights.
    """
    from bandlimit.models import list_models

    if checkpoint or Path(spec).is_file() or _IMPORT_PATH.fullmatch(spec):
        return
    if spec in set(list_models()) and spec not in set(list_models(pretrained=True)):
        with_weights = ", ".join(
            n for n in list_models(pretrained=True) if n.startswith(spec.split("_")[0])
        ) or ", ".join(list_models(pretrained=True))
        raise ValueError(
            f"--model {spec!r} is an architecture without shipped weights: it would evaluate random weights. "
            f"Give trained weights with --checkpoint FILE, name a model with weights ({with_weights}), or, to "
            "study an untrained network on purpose, pass pkg.module:build returning create_model(...)"
        )


def load_data(settings: Mapping[str, Any]) -> Any:
    """The Dataset of ``--data`` / ``--split`` / ``--data-root``, cut to ``--n`` samples."""
    from bandlimit.data import load_dataset

    name = settings.get("data") or "cifar10-sample"
    try:
        return load_dataset(name, settings.get("data_root"), settings.get("split") or "test", n=settings.get("n"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"--data {name!r}: {exc} (use --data cifar10-sample for the shipped sample, or --data-root)"
        ) from exc
    except (TypeError, ValueError) as exc:  # an unknown name, or what a data file holds, is the user's input
        raise ValueError(f"--data {name!r}: {exc}") from exc


def image_shape(data: Any) -> tuple[int, ...]:
    """``(C, H, W)`` of the first sample."""
    x, _ = data[0]
    return tuple(x.shape)


# ------------------------------------------------------------------------------ attacks
def _required(cls: type) -> tuple[str, ...]:
    """Settings of an attack class without a default, other than its budget (filled from --eps)."""
    if not dataclasses.is_dataclass(cls):  # the torchattacks adapter checks its own arguments
        return ()
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name != getattr(cls, "budget", None)
    )


def attack_names() -> list[str]:
    """Registered attacks a spec can build.

    Attacks with a required setting other than their budget (``transfer`` needs a source model
    and an inner attack, objects a command line cannot name) are left out.
    """
    from attacks import ATTACKS

    return [entry.name for entry in ATTACKS if not _required(entry.obj)]


def _attack(spec: str) -> tuple[str, dict[str, Any], Any]:
    """``(name, settings written in the spec, registry entry)`` of an attack spec.

    Raises:
        ValueError: a malformed spec or an unknown name (with close matches among :func:`attack_names`).
    """
    from attacks import ATTACKS

    name, kwargs = parse_spec(spec)
    if name not in ATTACKS:
        known = attack_names()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown attack {name!r}: expected one of {known}{hint}")
    return name, kwargs, ATTACKS.get(name)


def _given(kwargs: Mapping[str, Any], entry: Any) -> dict[str, Any]:
    """The settings a spec fixes: its own and those of its preset (``pgd-eot``: ``eot_samples``)."""
    return {**entry.meta.get("defaults", {}), **kwargs}


def takes_eps(spec: str) -> bool:
    """Whether ``--eps`` sets the budget of this spec's attack (it has one and the spec leaves it open).

    Raises:
        ValueError: a malformed spec or an unknown attack name.
    """
    _, kwargs, entry = _attack(spec)
    budget = entry.obj.budget
    return budget is not None and budget not in _given(kwargs, entry)


def build_attack(spec: str, *, eps: float | None = None, norm: str | None = None) -> Any:
    """Build an attack from ``NAME[:key=value,...]`` with :func:`attacks.create_attack`.

    ``norm`` fills the attack's ``norm_setting`` and ``eps`` its ``budget`` where the spec (or
    the preset it names) does not set them and the attack has such a setting (``fourier`` has
    a fixed L2 budget, ``norm_l2``).

    Raises:
        ValueError: unknown name, malformed or rejected settings (the attack's own message is
            kept, prefixed with the spec), a required setting missing (``transfer`` needs
            objects: build it in Python), or an eps for a norm the attack cannot bound
            (SimBA bounds L∞ only).
    """
    from attacks import create_attack

    name, kwargs, entry = _attack(spec)
    cls, given = entry.obj, _given(kwargs, entry)
    if norm is not None and cls.norm_setting and cls.norm_setting not in given:
        kwargs[cls.norm_setting] = norm
    # A norm written in the spec is the attack's to check (pgd:norm=l1 names its own setting).
    from_option = not (cls.norm_setting and cls.norm_setting in given)
    if eps is not None and cls.budget and cls.budget not in given:
        effective = {**given, **kwargs}.get(cls.norm_setting, norm) if cls.norm_setting else norm
        if from_option and effective is not None and effective not in cls.budget_norms:
            raise ValueError(
                f"attack {spec!r}: expected a {'/'.join(cls.budget_norms)} budget, got --norm {effective}; "
                f"use --norm {cls.budget_norms[0]} or set the budget in the spec ({name}:{cls.budget}=...)"
            )
        kwargs[cls.budget] = eps
    _check_linf_budget(spec, cls, {**given, **kwargs}, norm)
    missing = [s for s in _required(cls) if s not in given]
    if missing:
        raise ValueError(
            f"attack {spec!r}: required setting(s) {', '.join(missing)} not given; settings that are objects "
            "(a source model, an inner attack) cannot be written on the command line: build such an attack "
            "in Python with attacks.create_attack"
        )
    try:
        return create_attack(name, **kwargs)
    except (TypeError, ValueError) as exc:  # settings the user wrote: bad input, not a bug
        raise ValueError(f"attack {spec!r}: {_unprefixed(exc, 'attack', name)}") from exc


def _check_linf_budget(spec: str, cls: Any, settings: Mapping[str, Any], norm: str | None) -> None:
    """Refuse an L∞ budget above 1 (the whole [0, 1] range): ``pgd:eps=8`` almost surely meant 8/255.

    Raises:
        ValueError: naming the spec and the likely intent.
    """
    value = settings.get(cls.budget) if cls.budget else None
    if cls.norm_setting:
        effective = settings.get(cls.norm_setting, norm)
    else:
        effective = cls.budget_norms[0] if len(cls.budget_norms) == 1 else norm
    if effective == "linf" and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
        raise ValueError(
            f"attack {spec!r}: an L∞ budget of {value:g} exceeds the whole [0, 1] pixel range; "
            f"did you mean {value:g}/255 ({value / 255:.4g})?"
        )


def build_attacks(specs: Sequence[str], eps_list: Sequence[float], norm: str) -> list[Any]:
    """Attacks from ``NAME[:k=v,...]`` specs; those whose budget the spec leaves open once per eps."""
    attacks: list[Any] = []
    for spec in specs:
        if takes_eps(spec):
            attacks.extend(build_attack(spec, eps=eps, norm=norm) for eps in eps_list)
        else:
            attacks.append(build_attack(spec, norm=norm))
    return attacks


# ----------------------------------------------------------------------------- defences
def apply_defenses(model: nn.Module, specs: Sequence[str], *, seed: int | None = None) -> nn.Module:
    """Wrap ``model`` with a chain of defences, innermost first, with :func:`defenses.apply_defense`.

    ``["smooth:rho=0.25", "lowpass:bandwidth=16"]`` smooths the first layer, then puts a
    low-pass input layer in front.

    Args:
        model: The model to defend.
        specs: ``NAME[:key=value,...]`` per defence.
        seed: ``--seed``: a defence that draws random numbers and takes a ``generator`` (post-
            averaging) gets one seeded from it and its place in the chain, unless its spec fixes
            ``seed`` itself, so the same command gives the same numbers every time.

    Raises:
        ValueError: malformed spec, unknown defence or bad settings (prefixed with the spec).
    """
    from defenses import DEFENSES, apply_defense

    for position, spec in enumerate(specs):
        name, kwargs = parse_spec(spec)
        if seed is not None and name in DEFENSES and not {"seed", "generator"} & set(kwargs):
            if "generator" in DEFENSES.get(name).meta["settings"]:
                kwargs["generator"] = torch.Generator().manual_seed(_defense_seed(seed, position))
        try:
            model = apply_defense(model, name, **kwargs)
        except (TypeError, ValueError) as exc:  # settings the user wrote
            raise ValueError(f"defence {spec!r}: {_unprefixed(exc, 'defence', name)}") from exc
    return model


def _defense_seed(seed: int, position: int) -> int:
    """The seed of the ``position``-th defence's generator: distinct per defence, fixed by ``--seed``."""
    return (seed * 1_000_003 + 7919 * (position + 1)) % 2**63


def _unprefixed(exc: Exception, kind: str, name: str) -> str:
    """The message of ``exc`` without the library's own ``kind 'name': `` (the CLI names the whole spec)."""
    text, prefix = str(exc), f"{kind} {name!r}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def catalogue(width: int = 100) -> str:
    """The attacks, defences and suites with their settings, for ``bandlimit evaluate --help``."""
    import textwrap

    from attacks import ATTACKS
    from bandlimit.cli._settings import plain_text
    from bandlimit.cli.suites import SUITES
    from defenses import DEFENSES

    def block(title: str, rows: list[tuple[str, str]]) -> list[str]:
        out = [title]
        for name, text in rows:
            out += textwrap.wrap(text, width, initial_indent=f"  {name:<13} ", subsequent_indent=" " * 16)
        return out

    attacks = []
    for entry in ATTACKS:
        preset = entry.meta.get("defaults") or {}
        given = ", ".join(f"{k}={v}" for k, v in preset.items())
        try:
            keys = ", ".join(k for k in entry.obj.setting_names() if k not in preset)
        except TypeError:  # the torchattacks adapter: its keys are the wrapped attack's
            keys = "attack (a torchattacks class name), then that attack's keyword arguments"
        text = plain_text(entry.help or "").rstrip(".")
        attacks.append((entry.name, f"{text}. {'(' + given + ') ' if given else ''}keys: {keys}"))
    defences = [
        (e.name, f"{plain_text(e.help or '').rstrip('.')}. keys: {', '.join(e.meta['settings'])}") for e in DEFENSES
    ]
    suites = [(e.name, e.help) for e in SUITES]
    lines = block("Attacks (--attack NAME:key=value,...):", attacks)
    lines += ["", *block("Defences (--defense NAME:key=value,..., innermost first):", defences)]
    lines += ["", *block("Suites (--suite NAME):", suites)]
    return "\n".join(lines)
