"""Other projects' checkpoint layouts, and whether a state dict fits a model.

:func:`bandlimit.models.load_checkpoint` reads a bare state dict, ``{"state_dict": ...}``,
``{"model": ...}`` and friends, strips the ``module.`` (DataParallel/DDP) and ``_orig_mod.``
(``torch.compile``) prefixes, adds or drops one leading module name (torchvision's upstream
keys for the ``net.``-wrapped ImageNet models), and refuses a state dict that does not fit the
model with a message naming what differs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from bandlimit.models.normalize import Normalize

__all__ = [
    "CheckpointMismatchError",
    "align_prefix",
    "check_compatible",
    "external_state_dict",
    "is_state_dict",
    "model_meta",
    "strip_wrappers",
    "unwrap",
]

# The warnings belong to load_checkpoint, whose logger users configure.
logger = logging.getLogger("bandlimit.models.checkpoint")

# Containers external projects put their weights under, tried in this order.
_STATE_KEYS = ("state_dict", "model", "model_state_dict", "net", "state")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointMismatchError(ValueError):
    """A readable checkpoint whose weights do not fit the model (classes, normalisation, shapes, keys)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The module whose weights matter: strips DataParallel/DDP (``.module``) and ``torch.compile``."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def _first_normalize(model: nn.Module) -> Normalize | None:
    return next((m for m in model.modules() if isinstance(m, Normalize)), None)


def _classifier_name(model: nn.Module) -> str | None:
    """Name of the last ``nn.Linear`` (the classification head of every registered model)."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def model_meta(model: nn.Module) -> dict[str, Any]:
    """What the model says about itself: ``bandlimit_meta``, else inferred from its layers."""
    meta = dict(getattr(model, "bandlimit_meta", None) or {})
    norm = _first_normalize(model)
    if norm is not None and ("mean" not in meta or "std" not in meta):
        meta["mean"], meta["std"] = norm.stats
    head = _classifier_name(model)
    if "num_classes" not in meta and head is not None:
        meta["num_classes"] = model.get_submodule(head).out_features
    return meta


def is_state_dict(obj: Any) -> bool:
    """Whether ``obj`` is a non-empty mapping of tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def external_state_dict(obj: dict[str, Any], where: str) -> dict[str, Tensor]:
    """The state dict inside another project's checkpoint (bare, or under a usual key).

    Raises:
        ValueError: no state dict found; the message lists the keys that were tried.
    """
    for key in _STATE_KEYS:
        if is_state_dict(obj.get(key)):
            return dict(obj[key])
    if is_state_dict(obj):
        return dict(obj)
    raise ValueError(
        f"{where}: no state dict found; expected a bare state dict or a dict with one of {list(_STATE_KEYS)} "
        f"holding tensors, got keys {sorted(map(str, obj))[:10]}"
    )


def strip_wrappers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` / ``_orig_mod.`` prefixes that wrappers put on every key."""
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                changed = True
    return state


def align_prefix(state: dict[str, Tensor], target: set[str]) -> dict[str, Tensor]:
    """Add or drop one leading module name if that makes the keys match (e.g. ``net.`` wrappers)."""
    candidates = [state]
    heads = {k.split(".", 1)[0] for k in target}
    if len(heads) == 1 and all("." in k for k in target):
        head = heads.pop() + "."
        candidates.append({head + k: v for k, v in state.items()})
    own_heads = {k.split(".", 1)[0] for k in state}
    if len(own_heads) == 1 and all("." in k for k in state):
        head = own_heads.pop() + "."
        candidates.append({k[len(head) :]: v for k, v in state.items()})
    return max(candidates, key=lambda c: len(target & set(c)))


def _same_stats(a: Any, b: Any) -> bool:
    a, b = list(a), list(b)
    return len(a) == len(b) and all(math.isclose(u, v, abs_tol=1e-6) for u, v in zip(a, b, strict=True))


def _fmt_keys(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"{shown}{f' ... ({len(keys)} in all)' if len(keys) > limit else ''}"


def check_compatible(
    state: dict[str, Tensor], meta: dict[str, Any], model: nn.Module, where: str, *, strict: bool
) -> None:
    """Check that ``state`` (with its metadata ``meta``) fits ``model``.

    Raises:
        CheckpointMismatchError: classes, normalisation, shapes or (with ``strict``) keys differ.
    """
    model_state = model.state_dict()
    own = model_meta(model)
    head = _classifier_name(model)
    ck_classes = meta.get("num_classes")
    if head is not None and f"{head}.weight" in state:
        ck_classes = int(state[f"{head}.weight"].shape[0])
    if ck_classes is not None and own.get("num_classes") is not None and int(ck_classes) != int(own["num_classes"]):
        raise CheckpointMismatchError(
            f"{where}: checkpoint has {ck_classes} classes, model has {own['num_classes']}; "
            f"build the model with num_classes={ck_classes}"
        )
    if meta.get("mean") is not None and own.get("mean") is not None:
        if not (_same_stats(meta["mean"], own["mean"]) and _same_stats(meta["std"], own["std"])):
            raise CheckpointMismatchError(
                f"{where}: checkpoint was trained with normalisation mean={tuple(meta['mean'])}, "
                f"std={tuple(meta['std'])}, but the model normalises with mean={tuple(own['mean'])}, "
                f"std={tuple(own['std'])}; build it with those mean/std or pass model=None"
            )
    shapes = [
        f"{k!r}: checkpoint {tuple(state[k].shape)}, model {tuple(model_state[k].shape)}"
        for k in model_state
        if k in state and state[k].shape != model_state[k].shape
    ]
    if shapes:
        raise CheckpointMismatchError(f"{where}: shape mismatch for {len(shapes)} tensor(s): {'; '.join(shapes[:4])}")
    # BatchNorm's num_batches_tracked counter postdates many public checkpoints; BatchNorm
    # fills it in itself, so its absence is not a mismatch.
    missing = [k for k in model_state if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in model_state]
    if missing or unexpected:
        detail = "; ".join(
            part
            for part in (
                f"missing from the checkpoint: {_fmt_keys(missing)}" if missing else "",
                f"unexpected in the checkpoint: {_fmt_keys(unexpected)}" if unexpected else "",
            )
            if part
        )
        if strict:
            raise CheckpointMismatchError(
                f"{where}: checkpoint keys do not match the model ({detail}); check the architecture, or pass "
                "strict=False to load the matching part"
            )
        logger.warning("%s: loading with strict=False (%s)", where, detail)
