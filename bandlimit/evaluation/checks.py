"""Gradient-masking and sanity checks, run automatically by :func:`~bandlimit.evaluation.evaluate`.

Each check returns :class:`~bandlimit.evaluation.results.Finding` objects (or nothing when the
check passes), in plain words with what to do, like AutoAttack's flags. The longer
explanations live under the anchors of ``docs/evaluation.md`` named in :data:`DOC_ANCHORS`.

The checks and what they catch:

``randomized-model``
    Two identical forward passes give different outputs: a randomised defence. Plain
    gradient attacks then see one random draw per step; EOT (averaging gradients over
    several draws) is needed. The finding says whether the harness applied EOT.
``zero-gradients`` / ``nan-gradients`` / ``no-gradients``
    The input gradient of the loss is exactly zero, NaN, or cannot be taken at all on
    correctly classified clean samples: shattered or obfuscated gradients (quantisation,
    non-differentiable preprocessing, saturated softmax). Use BPDA or black-box attacks.
``black-box-beats-white-box``
    A black-box attack broke samples that every gradient attack at the same budget missed.
    With working gradients that should not happen.
``eps-not-monotone`` / ``eps-flat``
    Robust accuracy rises with eps, or stays put over a doubling of eps: the attack is not
    using its budget, typically because gradients are masked.
``huge-eps-robust``
    Samples stay robust at a budget that can turn any image into a mid-grey one (L∞ ≥ 0.5
    or L2 ≥ 0.5·√d). Only a broken attack leaves samples robust there.
``probability-outputs``
    The model returns probabilities (rows ≥ 0 summing to 1) or values in [0, 1]
    instead of logits; the cross-entropy of attacks then saturates and gradients vanish.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bandlimit.evaluation.results import Finding

__all__ = [
    "DOC_ANCHORS",
    "check_black_box",
    "check_eps_curve",
    "check_gradients",
    "check_huge_eps",
    "check_probability_outputs",
    "huge_eps",
    "is_randomized",
    "randomized_finding",
]

_DOC = "docs/evaluation.md"

#: Documentation anchor per finding code.
DOC_ANCHORS = {
    code: f"{_DOC}#{code}"
    for code in (
        "randomized-model",
        "zero-gradients",
        "nan-gradients",
        "no-gradients",
        "black-box-beats-white-box",
        "eps-not-monotone",
        "eps-flat",
        "huge-eps-robust",
        "probability-outputs",
    )
}

#: Relative tolerance for "identical calls give identical outputs" (GPU kernels may differ
#: in the last bits between calls, a defence's noise differs by far more).
RANDOMIZED_RTOL = 1e-4


def _finding(code: str, source: str, message: str, advice: str, **details: object) -> Finding:
    return Finding(code, "warning", message, advice, DOC_ANCHORS[code], dict(details), source)


@torch.no_grad()
def is_randomized(model: nn.Module, x: Tensor, *, calls: int = 2) -> bool:
    """Whether ``calls`` identical forward passes on ``x`` give different outputs."""
    first = model(x)
    scale = max(1.0, float(first.abs().max()))
    for _ in range(calls - 1):
        if float((model(x) - first).abs().max()) > RANDOMIZED_RTOL * scale:
            return True
    return False


def randomized_finding(
    applied: dict[str, int], not_applied: Sequence[str], eot: object, *, gradient_attacks: int | None = None
) -> Finding:
    """The finding for a randomised model, saying plainly whether EOT was used and where.

    Args:
        applied: Gradient attacks that ran with EOT, and their number of samples.
        not_applied: Gradient attacks that ran without EOT.
        eot: ``evaluate``'s EOT setting (named in the message when it was False).
        gradient_attacks: How many gradient attacks the run has (default: applied + not applied).
    """
    count = len(applied) + len(not_applied) if gradient_attacks is None else gradient_attacks
    if count == 0:
        message = (
            "The model's outputs change between identical calls (a randomised defence). This run has "
            "no gradient attack, so EOT does not apply; every black-box query reads one noisy output, "
            "which can make a randomised defence look more robust than it is."
        )
        advice = (
            "Add gradient attacks with EOT (the standard suite does so automatically for randomised "
            "models) and compare."
        )
    elif applied and not not_applied:
        done = ", ".join(f"{k} ({n} samples)" for k, n in applied.items())
        message = (
            "The model's outputs change between identical calls (a randomised defence). "
            f"The harness attacked it with EOT versions of the gradient attacks: {done}."
        )
        advice = (
            "Check that robust accuracy no longer changes when eot_samples grows; "
            "report the EOT setting with the numbers."
        )
    else:
        why = "eot=False was given" if eot is False else "the attacks have no eot_samples setting"
        missing = ", ".join(not_applied)
        message = (
            "The model's outputs change between identical calls (a randomised defence), but "
            f"EOT was NOT applied to {missing} ({why}). Their robust accuracy is likely "
            "overestimated."
        )
        advice = (
            "Re-run with eot='auto' or eot=<samples> and attacks that support "
            "replace(eot_samples=n), or average the defence's randomness inside the attack."
        )
    return _finding(
        "randomized-model", "model", message, advice, eot_applied=dict(applied), eot_missing=list(not_applied)
    )


def check_gradients(model: nn.Module, x: Tensor, y: Tensor) -> list[Finding]:
    """Flag zero, NaN or missing input gradients of the cross-entropy on ``(x, y)``.

    Call it with correctly classified clean samples and the model in eval mode.
    """
    if x.shape[0] == 0:
        return []
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        try:
            (grad,) = torch.autograd.grad(loss, x)
        except RuntimeError as exc:
            # The graph does not reach the input (detach, no_grad, non-torch code): a
            # gradient attack has nothing to follow. Report it instead of crashing.
            return [
                _finding(
                    "no-gradients",
                    "model",
                    f"The loss has no gradient with respect to the input ({exc}).",
                    "Gradient attacks cannot work on this model; use BPDA (a differentiable "
                    "approximation of the blocking layer) or black-box attacks.",
                )
            ]
    flat = grad.flatten(1)
    nan = ~torch.isfinite(flat).all(dim=1)
    zero = (flat == 0).all(dim=1) & ~nan
    findings = []
    n = x.shape[0]
    if bool(nan.any()):
        findings.append(
            _finding(
                "nan-gradients",
                "model",
                f"The input gradient is NaN or inf on {int(nan.sum())} of {n} correctly classified clean samples.",
                "Look for operations with undefined derivatives (sqrt at 0, log of 0, custom "
                "autograd functions); gradient attacks silently fail on these samples.",
                count=int(nan.sum()),
                n=n,
            )
        )
    if bool(zero.any()):
        findings.append(
            _finding(
                "zero-gradients",
                "model",
                f"The input gradient is exactly zero on {int(zero.sum())} of {n} correctly "
                "classified clean samples (shattered or obfuscated gradients, e.g. "
                "quantisation or a saturated softmax).",
                "Gradient attacks cannot move these samples; evaluate with BPDA and "
                "black-box attacks before trusting the robust accuracy.",
                count=int(zero.sum()),
                n=n,
            )
        )
    return findings


def check_probability_outputs(logits: Tensor) -> list[Finding]:
    """Flag outputs that look like probabilities instead of logits."""
    if logits.numel() == 0:
        return []
    nonneg = bool((logits >= 0).all())
    sums_to_one = nonneg and bool(torch.allclose(logits.sum(dim=1), torch.ones(()), atol=1e-4))
    unit = nonneg and bool((logits <= 1).all())
    if not (sums_to_one or unit):
        return []
    what = "non-negative rows that sum to 1" if sums_to_one else "values all in [0, 1]"
    return [
        _finding(
            "probability-outputs",
            "model",
            f"The model's outputs look like probabilities ({what}), not logits.",
            "Remove the final softmax/sigmoid so the model returns logits; attack losses "
            "saturate on probabilities and gradients vanish.",
            rows_sum_to_one=sums_to_one,
        )
    ]


def check_black_box(group: str, broken: dict[str, Tensor], white: Sequence[str], black: Sequence[str]) -> list[Finding]:
    """Flag samples broken by a black-box attack but by none of the white-box ones.

    Args:
        group: Label of the threat group (norm and eps) the attacks share.
        broken: Per attack key, a bool tensor ``(N,)``: the attack succeeded on the sample.
        white: Keys of the gradient attacks in the group.
        black: Keys of the black-box attacks in the group.
    """
    if not white or not black:
        return []
    any_white = torch.stack([broken[k] for k in white]).any(dim=0)
    findings = []
    for key in black:
        extra = broken[key] & ~any_white
        count = int(extra.sum())
        if count:
            findings.append(
                _finding(
                    "black-box-beats-white-box",
                    "outcome",
                    f"At {group}, the black-box attack {key} broke {count} samples that every "
                    f"gradient attack ({', '.join(white)}) missed.",
                    "Gradients are probably masked; strengthen the white-box attacks (more "
                    "steps, restarts, EOT, BPDA) and report the worst case over all attacks.",
                    group=group,
                    attack=key,
                    count=count,
                )
            )
    return findings


def check_eps_curve(label: str, points: Sequence[tuple[float, float]], n: int) -> list[Finding]:
    """Flag robust accuracy that rises with eps, or stays flat over a doubling of eps.

    Args:
        label: What the curve belongs to (a norm, or an attack name and norm).
        points: ``(eps, robust_accuracy)`` pairs of one norm.
        n: Number of samples behind each accuracy (one sample of slack for rises).
    """
    pts = sorted(points)
    if len(pts) < 2:
        return []
    findings = []
    slack = 1.0 / max(n, 1)
    rises = [(a, b) for a, b in itertools.pairwise(pts) if b[0] > a[0] and b[1] > a[1] + 1e-12]
    if rises:
        (e1, r1), (e2, r2) = rises[0]
        findings.append(
            _finding(
                "eps-not-monotone",
                "outcome",
                f"{label}: robust accuracy rises from {r1:.2%} at eps={e1:.4g} to {r2:.2%} at "
                f"eps={e2:.4g}; a larger budget can never make a model more robust.",
                "The attack does not use its budget (masked gradients, too few steps, or a "
                "step size that does not scale with eps); fix the attack before reporting.",
                label=label,
                points=[list(p) for p in pts],
            )
        )
    (e_lo, r_lo), (e_hi, r_hi) = pts[0], pts[-1]
    if e_lo > 0 and e_hi >= 2 * e_lo and r_lo > 0 and r_hi >= r_lo - slack / 2 and not rises:
        findings.append(
            _finding(
                "eps-flat",
                "outcome",
                f"{label}: robust accuracy stays at {r_hi:.2%} from eps={e_lo:.4g} to eps={e_hi:.4g}.",
                "Robust accuracy should fall as eps grows; a flat curve usually means masked "
                "gradients. Try BPDA, EOT or black-box attacks.",
                label=label,
                points=[list(p) for p in pts],
            )
        )
    return findings


def huge_eps(norm: str, eps: float, numel: int) -> bool:
    """Whether eps lets an attack turn any [0, 1] image into the mid-grey image.

    That holds for L∞ ``eps >= 0.5`` and L2 ``eps >= 0.5 * sqrt(numel)`` (``numel`` = C·H·W);
    a working attack then leaves (almost) no sample robust.
    """
    if norm == "linf":
        return eps >= 0.5
    return eps >= 0.5 * math.sqrt(numel)


def check_huge_eps(label: str, robust_accuracy: float, n_robust: int, *, source: str = "outcome") -> list[Finding]:
    """Flag samples still robust at a budget where none should be (see :func:`huge_eps`).

    ``source`` says what was attacked: ``"outcome"`` for a threat group of the evaluation,
    ``"probe"`` for the sanity attack on the first samples.
    """
    if n_robust == 0:
        return []
    return [
        _finding(
            "huge-eps-robust",
            source,
            f"{label}: {n_robust} samples ({robust_accuracy:.2%}) stay robust at a budget that "
            "can turn any image into a mid-grey one; a working attack leaves almost none.",
            "The attack is blocked (masked gradients, a bug in the defence's forward, or too "
            "few steps); do not trust robust accuracy at smaller eps until this reaches ~0.",
            label=label,
            n_robust=n_robust,
            robust_accuracy=robust_accuracy,
        )
    ]
