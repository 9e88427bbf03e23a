"""Result dataclasses that serialise to JSON and back, and the parts of an evaluation result.

Every result of the evaluation harness is a dataclass deriving from :class:`Result`. It
converts to a plain dict (:meth:`Result.to_dict`), to JSON text (:meth:`Result.to_json`) and
to a file (:meth:`Result.save`, atomic), and back (:meth:`Result.from_dict`,
:meth:`Result.load`).

Encoding rules (those of :func:`bandlimit._io.jsonable`, kept simple so other tools can read
the files):

- tensors become (nested) lists; their dtype family survives a round trip (bool, integer,
  floating), but float64 tensors come back as float32;
- non-finite floats (in scalars and in tensors) become the strings ``"NaN"``, ``"Infinity"``
  and ``"-Infinity"``, so the files are strict JSON; ``float("NaN")`` reads them back;
- every top-level result carries ``schema_version``, ``kind``, the resolved ``config``, the
  ``seed`` and an ``environment`` dict (:func:`bandlimit._env.environment`).

The result classes themselves live beside the functions that make them
(:mod:`~bandlimit.evaluation.evaluation_result`, :mod:`~bandlimit.evaluation.analysis_results`);
this module holds their base, the findings of the checks and the per-attack parts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from bandlimit._io import atomic_write, jsonable

__all__ = [
    "FINDING_SOURCES",
    "SCHEMA_VERSION",
    "AttackSummary",
    "Finding",
    "GroupSummary",
    "Result",
    "SampleTable",
    "attack_labels",
]

#: Bumped whenever a field of a result changes meaning or disappears.
SCHEMA_VERSION = 1

#: Where a :class:`Finding` comes from, in the order an evaluation lists them: checks on the
#: model itself (outputs, randomness, gradients on the first samples), checks on the attack
#: outcomes over all samples, and the huge-eps probe with ``sanity_attack``.
FINDING_SOURCES = ("model", "outcome", "probe")

_R = TypeVar("_R", bound="Result")


def _decode_nested(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_nested(v) for v in value]
    if isinstance(value, str):
        return float(value)
    return value


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
        source: One of :data:`FINDING_SOURCES`: ``"model"`` and ``"probe"`` findings are
            measured on the first samples only, ``"outcome"`` ones on every sample's attack
            results (so merging the results of shards recomputes them).
    """

    code: str
    severity: str
    message: str
    advice: str
    doc: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "model"

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


# ------------------------------------------------------------------- parts of an evaluation
@dataclasses.dataclass
class AttackSummary:
    """What one attack achieved (see :class:`~bandlimit.evaluation.EvaluationResult`).

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


#: Settings that only mean something when another one is set (APGD's target order without
#: targets, a band's edges without a band); labels leave them out otherwise.
_DEPENDS_ON = {"target_order": "targets", "band_space": "band", "band_low": "band", "band_high": "band"}


def attack_labels(attacks: Sequence[AttackSummary]) -> list[str]:
    """Readable names for a table: the attack's name, plus what tells it from same-named ones.

    Keys (``pgd/linf/0.0313725#2``) are unique but say nothing; two torchattacks attacks, or a
    band-limited PGD beside a plain one, share a name. Within each name, the settings whose
    values differ are shown (``torchattacks (attack=Square)``, ``pgd (band=high)``); attacks
    that still coincide (same settings, other budgets) are told apart by their threat column.
    """
    by_name: dict[str, list[AttackSummary]] = {}
    for a in attacks:
        by_name.setdefault(a.name, []).append(a)
    labels = []
    for a in attacks:
        same = by_name[a.name]
        varying = sorted(
            {k for b in same for k in {*a.config, *b.config} if a.config.get(k) != b.config.get(k)}
            - {"eps", "norm"}  # the budget is the threat column
        )
        shown = ", ".join(
            f"{k}={a.config.get(k)}"
            for k in varying
            if a.config.get(k) is not None and (k not in _DEPENDS_ON or a.config.get(_DEPENDS_ON[k]))
        )
        labels.append(f"{a.name} ({shown})" if shown else a.name)
    return labels
