"""Result dataclasses that serialise to JSON and back.

Every result of the evaluation harness is a dataclass deriving from :class:`Result`. It
converts to a plain dict (:meth:`Result.to_dict`), to JSON text (:meth:`Result.to_json`) and
to a file (:meth:`Result.save`, atomic), and back (:meth:`Result.from_dict`,
:meth:`Result.load`).

Encoding rules (kept simple so other tools can read the files):

- tensors become (nested) lists; their dtype family survives a round trip (bool, integer,
  floating), but float64 tensors come back as float32;
- non-finite floats (in scalars and in tensors) become the strings ``"NaN"``, ``"Infinity"``
  and ``"-Infinity"``, so the files are strict JSON; ``float("NaN")`` reads them back;
- every top-level result carries ``schema_version``, ``kind``, the resolved ``config``, the
  ``seed`` and an ``environment`` dict (bandlimit and torch versions, device, Python, time).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from bandlimit._io import atomic_write

__all__ = [
    "SCHEMA_VERSION",
    "AttackSummary",
    "EvaluationResult",
    "FilteredResult",
    "Finding",
    "GroupSummary",
    "HeatmapResult",
    "Result",
    "SampleTable",
    "SpectrumReport",
    "SpectrumResult",
    "environment",
    "jsonable",
]

#: Bumped whenever a field of a result changes meaning or disappears.
SCHEMA_VERSION = 1

_R = TypeVar("_R", bound="Result")


def _encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _decode_nested(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_nested(v) for v in value]
    if isinstance(value, str):
        return float(value)
    return value


def _encode_tensor(t: Tensor) -> Any:
    data = t.detach().cpu()
    if data.is_complex():
        data = data.abs()
    if data.is_floating_point():
        return _encode_nested_floats(data.double().tolist())
    return data.tolist()


def _encode_nested_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode_nested_floats(v) for v in value]
    return _encode_float(float(value))


def jsonable(value: Any) -> Any:
    """Convert ``value`` into something :func:`json.dumps` accepts without loss of meaning.

    Dataclasses become dicts, tensors lists, tuples lists, non-finite floats strings, and any
    other object its ``repr`` (so an arbitrary attack setting never breaks serialisation).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Tensor):
        return _encode_tensor(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (torch.device, torch.dtype)):
        return str(value)
    return repr(value)


def _decode(value: Any, hint: Any) -> Any:
    """Decode a JSON value into the type ``hint`` of a dataclass field."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _decode(value, args[0]) if len(args) == 1 else value
    if hint is Tensor:
        return torch.tensor(_decode_nested(value))
    if hint is float:
        return float(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _from_dict(hint, value)
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        return [_decode(v, arg) for v in value]
    if origin is dict:
        _, arg = typing.get_args(hint) or (str, Any)
        return {k: _decode(v, arg) for k, v in value.items()}
    if origin is tuple:
        return tuple(value)
    return value


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in data:
            continue
        kwargs[f.name] = _decode(data[f.name], hints[f.name])
    return cls(**kwargs)


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    import bandlimit

    dev = torch.device(device) if device is not None else torch.device("cpu")
    env: dict[str, Any] = {
        "bandlimit": bandlimit.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(dev),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if dev.type == "cuda" and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(dev)
    return env


@dataclasses.dataclass
class Finding:
    """One result of a gradient-masking or sanity check (like AutoAttack's flags).

    Attributes:
        code: Stable short identifier, e.g. ``"randomized-model"``.
        severity: ``"warning"`` (the robustness number may be wrong) or ``"error"`` (it is
            almost certainly wrong).
        message: What was observed, in plain words, with the numbers.
        advice: What to do about it.
        doc: Anchor of the longer explanation in the documentation.
        details: Machine-readable numbers behind the message.
    """

    code: str
    severity: str
    message: str
    advice: str
    doc: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.code}: {self.message} {self.advice}"


@dataclasses.dataclass
class Result:
    """Base of every top-level result: JSON round trip plus provenance fields.

    Subclasses are dataclasses whose fields are JSON-friendly types, tensors, nested result
    dataclasses, or lists/dicts of those. They set the class variable ``kind``.
    """

    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``schema_version`` and ``kind`` added."""
        out = {"schema_version": SCHEMA_VERSION, "kind": self.kind}
        out.update(jsonable(self))
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as strict JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON to ``path`` atomically (temporary file, then rename)."""
        return atomic_write(path, self.to_json())

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            ValueError: the dict is of another kind or a newer schema version.
        """
        if not isinstance(data, dict):
            raise TypeError(f"data: expected a dict, got {type(data).__name__}")
        kind = data.get("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(
                f"expected a {cls.kind!r} result, got kind {kind!r}; load it with the matching result class"
            )
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(
                f"expected schema_version <= {SCHEMA_VERSION}, got {version!r}; upgrade bandlimit to read this file"
            )
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls: type[_R], text: str) -> _R:
        """Rebuild a result from :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls: type[_R], path: str | os.PathLike[str]) -> _R:
        """Read a result written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- robust accuracy
@dataclasses.dataclass
class AttackSummary:
    """What one attack achieved (see :class:`EvaluationResult`).

    Attributes:
        key: Unique label of the attack in this evaluation, e.g. ``"pgd/linf/0.03137"``.
        name, norm, eps, uses_gradients: The attack's identity and threat model.
        group: Key of its threat group (norm and eps).
        config: The settings it ran with (after any EOT change).
        eot_samples: EOT samples the harness set, or None if it changed nothing.
        n: Samples evaluated; ``n_attacked``: clean-correct samples it ran on;
            ``n_success``: those it broke (verified by the harness).
        robust_accuracy: Fraction of the ``n`` samples still correctly classified. With
            ``cumulative`` (cascade mode) it is the accuracy after this attack *and* every
            attack before it in its group.
        time_s: Wall time spent in the attack (and the harness's re-check of it).
        mean_distance, max_distance: Verified perturbation size in the threat norm over the
            attacked samples (NaN when none was attacked).
        queries_mean, queries_median: Model queries per attacked sample (black-box attacks
            that report them), and ``*_success`` over the samples they broke.
    """

    key: str
    name: str
    norm: str
    eps: float
    group: str
    uses_gradients: bool
    config: dict[str, Any]
    eot_samples: int | None
    n: int
    n_attacked: int
    n_success: int
    robust_accuracy: float
    cumulative: bool
    time_s: float
    mean_distance: float
    max_distance: float
    queries_mean: float | None = None
    queries_median: float | None = None
    queries_mean_success: float | None = None
    queries_median_success: float | None = None


@dataclasses.dataclass
class GroupSummary:
    """Per-sample worst case over the attacks sharing one threat model (norm and eps)."""

    key: str
    norm: str
    eps: float
    attacks: list[str]
    n: int
    n_robust: int
    robust_accuracy: float


@dataclasses.dataclass
class SampleTable:
    """Per-sample records, one entry per evaluated sample, as columns.

    ``pred[key]`` holds the model's (re-computed) prediction on the attack's verified output;
    ``-1`` where the attack did not run because the sample was already misclassified (or, in
    cascade mode, already broken in its group) and ``-2`` where it has not run yet (partial
    result). ``distance[key]`` is the verified perturbation size (NaN where not attacked),
    ``queries[key]`` the queries spent (``-1`` where unknown), ``robust[group]`` the worst
    case over the group.
    """

    index: Tensor
    label: Tensor
    clean_pred: Tensor
    pred: dict[str, Tensor]
    distance: dict[str, Tensor]
    queries: dict[str, Tensor]
    robust: dict[str, Tensor]


@dataclasses.dataclass
class EvaluationResult(Result):
    """Result of :func:`~bandlimit.evaluation.evaluate`.

    Attributes:
        n: Samples evaluated. ``clean_accuracy``: on those samples.
        robust_accuracy: Worst-case robust accuracy per threat group (``"linf/0.03137"``).
        attacks, groups: Summaries per attack and per threat group.
        samples: Per-sample records.
        findings: Gradient-masking and sanity warnings (empty on a healthy evaluation).
        checks: Per check, ``"passed"``, ``"flagged"`` or ``"skipped: <why>"``.
        complete: False when the run stopped early (``budget_s``); numbers then cover only
            the work done and must not be reported as final.
        mode: ``"individual"`` or ``"cascade"``. ``randomized``: the model's outputs vary
            between identical calls. ``votes``: forward passes per prediction (majority).
        eot: What the harness did about EOT. ``sanity``: the huge-eps probe's outcome.
    """

    kind: ClassVar[str] = "evaluation"

    n: int
    clean_accuracy: float
    robust_accuracy: dict[str, float]
    attacks: list[AttackSummary]
    groups: list[GroupSummary]
    samples: SampleTable
    findings: list[Finding]
    checks: dict[str, str]
    complete: bool
    mode: str
    randomized: bool
    votes: int
    eot: dict[str, Any]
    sanity: dict[str, Any] | None
    time_s: float
    seed: int
    config: dict[str, Any]
    environment: dict[str, Any]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity ``"warning"`` or ``"error"``."""
        return [f for f in self.findings if f.severity in ("warning", "error")]

    def robust_accuracy_at(self, eps: float, norm: str | None = None) -> float:
        """Worst-case robust accuracy of the group with budget ``eps`` (and ``norm``).

        Raises:
            KeyError: no group, or several groups (pass ``norm``), match.
        """
        hits = [
            g
            for g in self.groups
            if math.isclose(g.eps, eps, rel_tol=1e-9, abs_tol=1e-12) and (norm is None or g.norm == norm)
        ]
        if len(hits) != 1:
            known = [g.key for g in self.groups]
            raise KeyError(f"expected exactly one threat group at eps={eps} (norm={norm}), known: {known}")
        return hits[0].robust_accuracy


# ------------------------------------------------------------------------ frequency analyses
@dataclasses.dataclass
class SpectrumResult(Result):
    """Mean Fourier magnitude of adversarial perturbations (see ``perturbation_spectrum``).

    Attributes:
        label: The attack (or ``"perturbation"`` for explicit tensors).
        spectrum: ``(H, W)`` centred mean ``|F(x_adv - x)|``, averaged over images and channels.
        radii, profile: Its radial profile (one bin per integer radius).
        band_energy: Fractions of the energy ``|F|^2`` in the low, mid and high bands
            (``low``/``high`` edges as fractions of Nyquist, see ``band_edges``).
        n: Perturbations averaged. ``success_rate``: fraction of them that fooled the model
            (None for explicit tensors).
    """

    kind: ClassVar[str] = "spectrum"

    label: str
    spectrum: Tensor
    radii: Tensor
    profile: Tensor
    band_energy: dict[str, float]
    band_edges: list[float]
    n: int
    success_rate: float | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SpectrumReport(Result):
    """Perturbation spectra of several attacks on one model and data set."""

    kind: ClassVar[str] = "spectrum-report"

    spectra: list[SpectrumResult]
    config: dict[str, Any]
    seed: int
    environment: dict[str, Any]

    def __getitem__(self, label: str) -> SpectrumResult:
        for s in self.spectra:
            if s.label == label:
                return s
        raise KeyError(f"no spectrum for {label!r}; known: {[s.label for s in self.spectra]}")


@dataclasses.dataclass
class HeatmapResult(Result):
    """Fourier heat map (Yin et al. 2019), see ``fourier_heatmap``.

    Attributes:
        error: ``(H, W)`` error rate under ``norm * U(i, j)`` noise at every centred cell
            (NaN outside a requested subset). Point-symmetric by construction.
        accuracy: ``1 - error`` (NaN outside the subset).
        clean_accuracy: Accuracy on the unperturbed images.
        norm: L2 norm of the noise per channel. ``n``: images per cell.
    """

    kind: ClassVar[str] = "heatmap"

    error: Tensor
    accuracy: Tensor
    clean_accuracy: float
    norm: float
    n: int
    cells_evaluated: int
    random_sign: bool
    clip: bool
    config: dict[str, Any]
    seed: int
    environment: dict[str, Any]


@dataclasses.dataclass
class FilteredResult(Result):
    """Accuracy on low-/high-pass filtered images and on Wang et al.'s LFC/HFC split.

    Attributes:
        bandwidths: Sweep of square bandwidths B; ``lowpass_accuracy[k]`` keeps the centred
            B×B block, ``highpass_accuracy[k]`` removes it (Yin et al.).
        radii: Sweep of disc radii r; ``low_accuracy[k]`` on the low-frequency component
            (distance < r), ``high_accuracy[k]`` on the rest (Wang et al.), each optionally
            divided by its per-image maximum (``rescale``).
    """

    kind: ClassVar[str] = "filtered"

    clean_accuracy: float
    n: int
    shape: str
    bandwidths: list[float]
    lowpass_accuracy: list[float]
    highpass_accuracy: list[float]
    radii: list[float]
    low_accuracy: list[float]
    high_accuracy: list[float]
    rescale: bool
    clip: bool
    config: dict[str, Any]
    environment: dict[str, Any]
