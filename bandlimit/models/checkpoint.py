"""Safe, self-describing checkpoints: atomic writes, ``weights_only`` reads, clear mismatch errors.

Format (a plain dict, loadable with ``torch.load(..., weights_only=True)``)::

    {"format": "bandlimit-checkpoint", "version": 1,
     "state_dict": {...},
     "meta": {"architecture", "num_classes", "mean", "std", "dataset", "input_size", "recipe",
              "metrics", "bandlimit_version", "torch_version", "created", ...},
     **extra}          # e.g. optimizer / scheduler / RNG states of a training run

:func:`load_checkpoint` also reads the common external layouts: a bare state dict,
``{"state_dict": ...}``, ``{"model": ...}``, keys prefixed ``module.`` (DataParallel/DDP) or
``_orig_mod.`` (``torch.compile``), and upstream torchvision state dicts for the ``net.``-wrapped
ImageNet models.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._io import atomic_write, load_torch_file
from bandlimit.models._layouts import (
    CheckpointMismatchError,
    align_prefix,
    check_compatible,
    external_state_dict,
    is_state_dict,
    model_meta,
    strip_wrappers,
    unwrap,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointMismatchError",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "bandlimit-checkpoint"
CHECKPOINT_VERSION = 1
_RESERVED = frozenset({"format", "version", "state_dict", "meta"})
# Exact types: subclasses (torch's TorchVersion str, IntEnum, numpy scalars) are pickled by
# class name and refused by weights_only loading.
_SAFE_SCALARS = frozenset({str, int, float, bool, bytes, type(None), torch.dtype, torch.device, torch.Size})


def _check_serialisable(obj: Any, where: str) -> None:
    """Refuse values that ``torch.load(weights_only=True)`` would not read back."""
    if isinstance(obj, Tensor) or type(obj) in _SAFE_SCALARS:
        return
    if type(obj) in (dict, OrderedDict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: expected str or int keys, got {type(key).__name__} key {key!r}")
            _check_serialisable(value, f"{where}[{key!r}]")
        return
    if type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_serialisable(value, f"{where}[{i}]")
        return
    hint = "; convert it with torch.from_numpy(...)" if type(obj).__module__.startswith("numpy") else ""
    raise TypeError(
        f"{where}: expected tensors, numbers, strings, None, lists, tuples or dicts (what weights_only=True "
        f"loading accepts), got {type(obj).__module__}.{type(obj).__qualname__}{hint}"
    )


def _torch_save(payload: dict[str, Any], path: Path) -> None:
    """Serialise in memory, then write atomically: a crash leaves the previous file intact."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    # Keep an existing file's permissions; a new one gets the usual 0644.
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    atomic_write(path, buffer.getvalue(), mode=mode)


# --------------------------------------------------------------------------- save


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    metadata: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``model``'s weights and metadata atomically.

    The file is written to a temporary name in the same folder, flushed to disk and renamed
    over ``path``, so a crash leaves either the previous checkpoint or the new one, never a
    half-written file.

    Args:
        path: Destination file (parent folders are created).
        model: The model; DataParallel/DDP and ``torch.compile`` wrappers are unwrapped, so the
            keys never carry ``module.``.
        metadata: Merged over ``model.bandlimit_meta`` (e.g. ``{"recipe": "pgd_at", "metrics":
            {"clean": 0.91}}``). Must stay JSON-like.
        extra: More top-level entries (optimizer, scheduler, RNG states, epoch, ...), read back
            with :func:`read_checkpoint`. Must not use the reserved keys
            ``format``, ``version``, ``state_dict``, ``meta``.

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or a value would not load back with
            ``weights_only=True`` (e.g. a numpy array; the message names where it is).
        ValueError: ``extra`` uses a reserved key, or ``path`` is a folder.
    """
    from bandlimit import __version__

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or Path), got {type(path).__name__}")
    if Path(path).is_dir():
        raise ValueError(
            f"path: expected a file path, got the folder {str(path)!r}; name a file in it, "
            f"e.g. {str(Path(path) / 'model.pt')!r}"
        )
    extra = dict(extra or {})
    clash = sorted(_RESERVED & set(extra))
    if clash:
        raise ValueError(f"extra: expected keys other than {sorted(_RESERVED)}, got {clash}; rename them")
    net = unwrap(model)
    meta: dict[str, Any] = {
        "architecture": None,
        "num_classes": None,
        "mean": None,
        "std": None,
        "dataset": None,
        "recipe": None,
        "metrics": {},
        **model_meta(net),
        **dict(metadata or {}),
        "bandlimit_version": __version__,
        "torch_version": str(torch.__version__),  # a str subclass weights_only would refuse
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state_dict": state, "meta": meta, **extra}
    _check_serialisable(payload, "checkpoint")
    out = Path(path)
    _torch_save(payload, out)
    logger.debug("saved checkpoint %s (%s)", out, meta.get("architecture"))
    return out


# --------------------------------------------------------------------------- read


def read_checkpoint(path: str | os.PathLike[str], *, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint file safely (``torch.load(weights_only=True)``) and return its dict.

    Use it to resume training (``extra`` entries such as the optimizer state sit at the top
    level) or to inspect ``["meta"]``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, or the file is truncated, not a PyTorch file, holds arbitrary
            Python objects (refused, never unpickled), or is not a dict.
    """
    p = Path(path)
    obj = load_torch_file(p, what="checkpoint", map_location=map_location)
    if not isinstance(obj, dict):
        raise ValueError(f"{str(p)!r}: expected a dict (a state dict or a checkpoint), got {type(obj).__name__}")
    return obj


def _split_payload(obj: dict[str, Any], where: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, meta)`` of a bandlimit checkpoint or an external layout (no metadata)."""
    if obj.get("format") != CHECKPOINT_FORMAT:
        return external_state_dict(obj, where), {}
    version = obj.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise ValueError(
            f"{where}: checkpoint format version {version!r} is newer than this bandlimit reads "
            f"(<= {CHECKPOINT_VERSION}); upgrade bandlimit"
        )
    if not is_state_dict(obj.get("state_dict")):
        raise ValueError(f"{where}: damaged bandlimit checkpoint: 'state_dict' is missing or not tensors")
    return dict(obj["state_dict"]), dict(obj.get("meta") or {})


def _check_finite(state: dict[str, Tensor], where: str) -> None:
    """Refuse weights holding NaN or infinity: such a model's every number would be meaningless."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:3]) + (f" ... ({len(bad)} in all)" if len(bad) > 3 else "")
        raise ValueError(
            f"{where}: the checkpoint holds non-finite weights (NaN or infinity) in {shown}; the training that "
            "wrote it diverged or the file is damaged: refusing to load it (use an earlier checkpoint)"
        )


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module | None = None,
    *,
    strict: bool = True,
    map_location: Any = "cpu",
    inner: bool = False,
) -> nn.Module:
    """Load weights into ``model`` (or build it from the checkpoint's metadata) and return it in eval mode.

    Reading uses ``torch.load(weights_only=True)`` only. External layouts are accepted (see the
    module docstring); their architecture must be given as ``model`` because they carry no
    metadata, e.g. ``load_checkpoint("resnet20.th", create_model("resnet20"))``.

    Args:
        path: Checkpoint file.
        model: Model to load into; ``None`` builds it with
            :func:`~bandlimit.models.create_model` from the metadata (architecture,
            num_classes, mean, std, architecture keyword arguments).
        strict: Require the keys to match exactly (shapes and class counts must always match).
        map_location: Passed to ``torch.load``.
        inner: For a checkpoint saved from a model wrapped by an input-layer defence (a
            filter, post-averaging; its metadata names it under ``"defense"``): load the inner
            model's weights, and leave re-wrapping to the caller (the CLI does it from the
            metadata). Without it such a checkpoint is refused, since loading it into the bare
            architecture would silently drop the defence.

    Returns:
        The model with the weights loaded, in eval mode; its ``bandlimit_meta`` (when present)
        gains ``checkpoint``, ``recipe`` and ``metrics`` from the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable/foreign file, NaN or infinite weights, missing metadata when
            ``model`` is None, or a mismatch (classes, normalisation, shapes, keys; a
            :class:`CheckpointMismatchError`); the message names what differs.
    """
    where = str(path)
    payload = read_checkpoint(path, map_location=map_location)
    state, meta = _split_payload(payload, where)
    _check_finite(state, where)
    state = strip_wrappers(state)
    if model is None:
        from bandlimit.models.registry import create_model

        if not meta.get("architecture"):
            raise ValueError(
                f"{where}: the checkpoint has no bandlimit metadata naming its architecture; pass the model, "
                "e.g. load_checkpoint(path, create_model('resnet20'))"
            )
        model = create_model(
            meta["architecture"],
            num_classes=meta.get("num_classes"),
            mean=meta.get("mean"),
            std=meta.get("std"),
            **dict(meta.get("kwargs") or {}),
        )
    elif not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module or None, got {type(model).__name__}")
    net = unwrap(model)
    aligned = align_prefix(state, set(net.state_dict()))
    defense = meta.get("defense")
    if isinstance(defense, dict) and set(aligned) != set(state) and not inner:
        raise CheckpointMismatchError(
            f"{where}: saved from a model wrapped by the defence {defense.get('name')!r} "
            f"({', '.join(f'{k}={v}' for k, v in defense.items() if k != 'name')}); loading it into "
            f"{type(net).__name__} would keep only the inner model's weights and drop the defence. Evaluate the "
            f"whole defended model with `--model {where}`, or in Python load_checkpoint(path, inner=True) and "
            "wrap it again (defenses.apply_defense)"
        )
    state = aligned
    check_compatible(state, meta, net, where, strict=strict)
    net.load_state_dict(state, strict=strict)
    if isinstance(getattr(net, "bandlimit_meta", None), dict):
        net.bandlimit_meta = {
            **net.bandlimit_meta,
            "checkpoint": where,
            **{k: meta[k] for k in ("recipe", "metrics", "pretrained") if meta.get(k) is not None},
        }
    return model.eval()
