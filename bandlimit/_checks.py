"""Input validation shared by every public function of bandlimit, attacks and defenses.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) with an "expected X, got Y" message that names the fix. None of them uses ``assert``,
so they keep working under ``python -O``.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable
from typing import Any

import torch

__all__ = [
    "RANGE_TOLERANCE",
    "NonFiniteLogits",
    "check_bool",
    "check_budget",
    "check_choice",
    "check_finite_number",
    "check_images",
    "check_label_range",
    "check_labels",
    "check_logits",
    "check_nonnegative",
    "check_positive",
    "check_positive_int",
    "check_probability",
    "check_seed",
    "check_tensor_rank",
    "make_generator",
    "nonfinite_message",
]

#: Images may exceed [0, 1] by this much (float rounding of a projection) before we complain.
RANGE_TOLERANCE = 1e-6


def _var(name: str) -> str:
    """A variable name for a fix in a message: ``"data labels"`` -> ``labels`` (``labels.long()``)."""
    return name if name.isidentifier() else name.split()[-1]


def check_tensor_rank(x: Any, name: str, *, min_rank: int, floating: bool = True) -> None:
    """Check that ``x`` is a tensor of at least ``min_rank`` dims (and floating, if asked).

    Raises:
        TypeError: ``x`` is not a tensor, or not floating point when ``floating`` is set.
        ValueError: ``x`` has fewer than ``min_rank`` dimensions.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point tensor (float32 or float64), got {x.dtype}; "
            f"convert with {_var(name)}.float()"
        )
    if x.dim() < min_rank:
        raise ValueError(f"{name}: expected a tensor with at least {min_rank} dims, got shape {tuple(x.shape)}")


def check_images(x: Any, name: str = "x", *, check_range: bool = True) -> None:
    """Check an image batch: a float tensor ``(N, C, H, W)`` with values in [0, 1].

    Args:
        x: The candidate image batch.
        name: Argument name used in the error message.
        check_range: Also check that every value lies in [0, 1] (within 1e-6) and is finite.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: wrong rank, empty batch, NaN, or values outside [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point image tensor in [0, 1], got dtype {x.dtype}; "
            f"for uint8 images use {_var(name)}.float() / 255"
        )
    if x.dim() != 4:
        raise ValueError(
            f"{name}: expected shape (N, C, H, W), got {tuple(x.shape)}; "
            f"add a batch dimension with {_var(name)}.unsqueeze(0)"
            if x.dim() == 3
            else f"{name}: expected shape (N, C, H, W), got {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one image, got an empty batch")
    if check_range:
        x = x.detach()  # reading values of a tensor that requires grad is fine, and silent
        if torch.isnan(x).any():
            raise ValueError(f"{name}: expected finite values, got NaN")
        lo, hi = float(x.min()), float(x.max())
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise ValueError(
                f"{name}: expected values in [0, 1], got [{lo:.4g}, {hi:.4g}]; bandlimit works on "
                "un-normalised images (normalisation is the model's first layer, "
                "bandlimit.models.Normalize)"
            )


def _sample(bad: torch.Tensor, samples: int | torch.Tensor) -> str:
    """Which sample a boolean row mask ``bad`` names first, and how many it marks.

    ``samples`` is the index of row 0 in the data, or a tensor of every row's index.
    """
    pos = int(bad.nonzero()[0, 0])
    index = pos + samples if isinstance(samples, int) else int(samples[pos])
    return f"sample {index} ({int(bad.sum())} of {bad.numel()} samples affected)"


def check_labels(y: Any, n: int, name: str = "y", *, num_classes: int | None = None) -> None:
    """Check integer class labels of shape ``(n,)``, optionally in ``[0, num_classes)``.

    Raises:
        TypeError: ``y`` is not an integer tensor.
        ValueError: wrong shape or labels out of range.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of int64 labels, got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer labels (torch.long), got {y.dtype}; use {_var(name)}.long()")
    if y.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) to match the images, got {tuple(y.shape)}")
    if num_classes is not None and n > 0:
        check_label_range(y, num_classes, name)


def check_label_range(
    y: torch.Tensor, num_classes: int, name: str = "labels", *, samples: int | torch.Tensor = 0
) -> None:
    """Check that every label lies in ``[0, num_classes)``, the model's output width.

    A label the model cannot output makes every accuracy on it silently wrong, so callers
    check every batch (against the logits they computed anyway).

    Args:
        y: Integer labels ``(N,)``.
        num_classes: Number of the model's outputs.
        name: How the message calls the labels.
        samples: Index of ``y[0]`` in the data, or a tensor of every label's index.

    Raises:
        ValueError: a label is negative or ``>= num_classes`` (the message names the first one).
    """
    bad = (y < 0) | (y >= num_classes)
    if bool(bad.any()):
        value = int(y[bad.nonzero()[0, 0]])
        raise ValueError(
            f"{name}: expected labels in [0, {num_classes - 1}] for a model with {num_classes} outputs, "
            f"got {value} at {_sample(bad, samples)}; are the labels from another data set, or is the "
            "model built for another number of classes?"
        )


class NonFiniteLogits(ValueError):
    """A model returned NaN or infinite logits where they would be scored."""


def check_logits(
    logits: Any, n: int, name: str = "model output", *, samples: int | torch.Tensor = 0, finite: bool = True
) -> int:
    """Check a model output: float tensor ``(n, classes)``, finite unless ``finite=False``. Returns ``classes``.

    Args:
        logits: The model's output.
        n: Number of images given to the model.
        name: Where the output comes from, e.g. ``"model output on the clean images"``.
        samples: Index of row 0 in the data, or a tensor of every row's index (for messages).
        finite: Also check that every logit is finite (one reduction and one device sync).

    Raises:
        TypeError: the output is not a floating-point tensor.
        ValueError: the output has the wrong shape or fewer than 2 classes.
        NonFiniteLogits: it contains NaN or inf (the message names the first sample).
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor of logits (N, classes), got {type(logits).__name__}")
    if not logits.is_floating_point():
        # Integer outputs (predicted labels, votes) have no gradient and no margin to attack.
        raise TypeError(
            f"{name}: expected floating-point logits (N, classes), got {logits.dtype}; "
            "return the model's scores, not its predicted labels"
        )
    if logits.dim() != 2 or logits.shape[0] != n:
        raise ValueError(
            f"{name}: expected logits of shape ({n}, classes), got {tuple(logits.shape)}; "
            "the model must map (N, C, H, W) images to (N, classes) logits"
        )
    if logits.shape[1] < 2:
        # One logit: argmax is always 0 and cross-entropy is constant, so every attack would
        # "fail" (zero gradient, no class to flip to) and the model would pass for robust.
        raise ValueError(
            f"{name}: expected logits for at least 2 classes, got shape {tuple(logits.shape)}; "
            "for a binary classifier with one logit z, output two, e.g. torch.cat([-z, z], dim=1)"
        )
    if finite:
        ok = torch.isfinite(logits).all(dim=1)
        if not bool(ok.all()):
            raise NonFiniteLogits(nonfinite_message(name, _sample(~ok, samples)))
    return int(logits.shape[1])


def nonfinite_message(name: str, where: str) -> str:
    """The one message for NaN or inf logits: ``name`` says whose output, ``where`` which sample."""
    return (
        f"{name}: expected finite logits, got NaN or inf at {where}; no accuracy can be scored "
        "from them: check the model on these inputs (a division by zero, a log of 0, a float16 overflow)"
    )


def check_budget(norm: str, eps: float, name: str = "eps", *, numel: int | None = None) -> None:
    """Warn when a budget is larger than any perturbation of a [0, 1] image can be.

    The rule: an L∞ ``eps > 1`` (more than the whole pixel range; ``eps = 1`` itself, the
    sanity probes' "anything goes" budget, stays silent), and, once the image size
    ``numel = C·H·W`` is known, an L2 ``eps > sqrt(numel)`` (the diameter of the [0, 1] image
    cube; ``eps`` equal to it stays silent). Such a budget is nearly always a 0..255 value given
    for [0, 1] images, so the warning suggests ``eps/255``.

    Warns:
        UserWarning: the budget exceeds what [0, 1] images allow.
    """
    if norm == "linf":
        limit, what = 1.0, "1, the whole [0, 1] pixel range"
    elif numel is not None:
        limit = math.sqrt(numel)
        what = f"sqrt(C*H*W) = {limit:.4g}, the diameter of the [0, 1] image cube"
    else:
        return
    if math.isinf(eps) or eps <= limit:
        return
    warnings.warn(
        f"{name}={eps:g}: this {norm} budget exceeds {what}, so it constrains nothing; images are in "
        f"[0, 1], not 0..255: did you mean {name}={eps:g}/255 (= {eps / 255:.4g}), like 8/255?",
        UserWarning,
        stacklevel=3,
    )


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``; returns it.

    Raises:
        TypeError: ``value`` is not a string.
        ValueError: ``value`` is not among ``choices``.
    """
    options = sorted(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {options}, got {value!r}")
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name}: expected one of {options}, got {value!r}{hint}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Check that ``value`` is exactly ``True`` or ``False`` (not 1, "no" or None); returns it.

    Raises:
        TypeError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def check_finite_number(value: Any, name: str) -> float:
    """Check that ``value`` is a real, finite number; returns it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        else:
            raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def check_nonnegative(value: Any, name: str, *, allow_inf: bool = False) -> float:
    """Check a real number ``>= 0`` (NaN rejected; inf only if ``allow_inf``); returns it."""
    if allow_inf and isinstance(value, (int, float)) and not isinstance(value, bool) and value == math.inf:
        return math.inf
    value = check_finite_number(value, name)
    if value < 0:
        raise ValueError(f"{name}: expected a value >= 0, got {value}")
    return value


def check_positive(value: Any, name: str) -> float:
    """Check a finite real number ``> 0``; returns it."""
    value = check_finite_number(value, name)
    if value <= 0:
        raise ValueError(f"{name}: expected a value > 0, got {value}")
    return value


def check_probability(value: Any, name: str) -> float:
    """Check a number in [0, 1]; returns it."""
    value = check_finite_number(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a value in [0, 1], got {value}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    """Check an integer seed (not a bool, a float or a string, which would seed something else); returns it.

    Raises:
        TypeError: ``value`` is not an int.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    return value


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check an integer ``>= minimum``; returns it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def make_generator(
    seed: int | torch.Generator | None, device: torch.device | str | None = None
) -> torch.Generator | None:
    """Return a ``torch.Generator`` for ``seed`` on ``device`` (or pass one through).

    ``None`` stays ``None`` (draw from the global RNG, which library code never reseeds).

    Raises:
        TypeError: ``seed`` is neither an int, a Generator nor None.
    """
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, a torch.Generator or None, got {type(seed).__name__}")
    gen = torch.Generator(device=torch.device(device) if device is not None else "cpu")
    gen.manual_seed(seed)
    return gen
