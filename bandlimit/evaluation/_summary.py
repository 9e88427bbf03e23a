"""Summaries and outcome checks of an evaluation, from its per-sample table.

The same functions serve a single run (its table comes from the batch records) and the merge
of shards (their tables are concatenated), so both give the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

from bandlimit._io import jsonable
from bandlimit.evaluation import checks as _chk
from bandlimit.evaluation._state import BatchRecord
from bandlimit.evaluation.results import AttackSummary, Finding, GroupSummary, SampleTable

__all__ = [
    "AttackSpec",
    "Summary",
    "concat_tables",
    "group_members",
    "outcome_checks",
    "summarise",
    "table_from_records",
]

#: Prediction of an attack that has not run on a sample yet (a partial result).
NOT_RUN = -2


class AttackSpec(Protocol):
    """What a summary records about an attack: a planned attack or a previous summary."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def norm(self) -> str: ...
    @property
    def eps(self) -> float: ...
    @property
    def group(self) -> str: ...
    @property
    def uses_gradients(self) -> bool: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def eot_samples(self) -> int | None: ...


_S = TypeVar("_S", bound=AttackSpec)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Everything an evaluation result reports about its attacks, from the per-sample table."""

    table: SampleTable
    attacks: list[AttackSummary]
    groups: list[GroupSummary]
    clean_accuracy: float


def group_members(specs: Sequence[_S], mode: str) -> dict[str, list[_S]]:
    """The attacks of each threat group, in the order the group runs them.

    In cascade mode the white-box attacks of a group run first, as in AutoAttack (black-box
    attacks are slow and then only see the samples the others could not break).
    """
    groups: dict[str, list[_S]] = {}
    for s in specs:
        groups.setdefault(s.group, []).append(s)
    if mode == "cascade":
        groups = {g: sorted(m, key=lambda s: not s.uses_gradients) for g, m in groups.items()}
    return groups


def table_from_records(records: Sequence[BatchRecord], keys: Sequence[str]) -> SampleTable:
    """The per-sample table (without ``robust``) of the batch records, in order."""

    def column(key: str, field: str, fill: float, dtype: torch.dtype) -> Tensor:
        parts = []
        for b in records:
            rec = b.attacks.get(key)
            parts.append(getattr(rec, field) if rec is not None else torch.full((b.label.numel(),), fill, dtype=dtype))
        return torch.cat(parts)

    return SampleTable(
        index=torch.cat([b.start + torch.arange(b.label.numel()) for b in records]),
        label=torch.cat([b.label for b in records]),
        clean_pred=torch.cat([b.clean_pred for b in records]),
        pred={k: column(k, "pred", NOT_RUN, torch.long) for k in keys},
        distance={k: column(k, "dist", math.nan, torch.float64) for k in keys},
        queries={k: column(k, "queries", -1, torch.long) for k in keys},
        robust={},
    )


def concat_tables(tables: Sequence[SampleTable]) -> SampleTable:
    """The tables of contiguous shards as one (indices renumbered from 0; ``robust`` left out)."""
    keys = list(tables[0].pred)

    def cat(column: str) -> dict[str, Tensor]:
        return {k: torch.cat([getattr(t, column)[k] for t in tables]) for k in keys}

    label = torch.cat([t.label for t in tables])
    return SampleTable(
        index=torch.arange(label.numel()),
        label=label,
        clean_pred=torch.cat([t.clean_pred for t in tables]),
        pred=cat("pred"),
        distance=cat("distance"),
        queries=cat("queries"),
        robust={},
    )


def _stat(q: Tensor, how: str) -> float | None:
    q = q[q >= 0]
    if q.numel() == 0:
        return None
    return float(q.double().mean()) if how == "mean" else float(q.double().quantile(0.5))


def _attack_summary(
    spec: AttackSpec,
    table: SampleTable,
    broken: Tensor,
    acc_mask: Tensor,
    mask: Tensor,
    cumulative: bool,
    time_s: float,
) -> AttackSummary:
    pred, queries = table.pred[spec.key], table.queries[spec.key]
    attacked = pred >= 0
    d = table.distance[spec.key][attacked]
    n_done = int(mask.sum())
    return AttackSummary(
        key=spec.key,
        name=spec.name,
        norm=spec.norm,
        eps=spec.eps,
        group=spec.group,
        uses_gradients=spec.uses_gradients,
        config=jsonable(spec.config),
        eot_samples=spec.eot_samples,
        n=n_done,
        n_attacked=int(attacked.sum()),
        n_success=int(broken.sum()),
        robust_accuracy=float((acc_mask & mask).sum()) / max(n_done, 1),
        cumulative=cumulative,
        time_s=time_s,
        mean_distance=float(d.mean()) if d.numel() else math.nan,
        max_distance=float(d.max()) if d.numel() else math.nan,
        queries_mean=_stat(queries[attacked], "mean"),
        queries_median=_stat(queries[attacked], "median"),
        queries_mean_success=_stat(queries[broken], "mean"),
        queries_median_success=_stat(queries[broken], "median"),
    )


def summarise(specs: Sequence[AttackSpec], table: SampleTable, times: Mapping[str, float], mode: str) -> Summary:
    """Per-attack and per-group summaries, and the table with its worst-case ``robust`` columns.

    Args:
        specs: The attacks, in the order of the evaluation's list.
        table: Per-sample records (``robust`` is recomputed).
        times: Seconds spent per attack key.
        mode: ``"individual"`` or ``"cascade"`` (per-attack numbers are then cumulative).
    """
    label, correct = table.label, table.clean_pred == table.label
    cumulative = mode == "cascade"
    attacks, groups, robust_cols = [], [], {}
    for gkey, members in group_members(specs, mode).items():
        alive = correct.clone()
        ok = torch.ones_like(correct)
        for s in members:
            pred = table.pred[s.key]
            broken = (pred >= 0) & (pred != label)
            ok &= pred != NOT_RUN
            alive &= ~broken
            mask = ok if cumulative else pred != NOT_RUN
            acc_mask = alive if cumulative else correct & ~broken
            attacks.append(_attack_summary(s, table, broken, acc_mask, mask, cumulative, float(times.get(s.key, 0.0))))
        robust = robust_cols[gkey] = alive & ok
        n_group = int(ok.sum())
        groups.append(
            GroupSummary(
                key=gkey,
                norm=members[0].norm,
                eps=members[0].eps,
                attacks=[s.key for s in members],
                n=n_group,
                n_robust=int(robust.sum()),
                robust_accuracy=float(robust.sum()) / max(n_group, 1),
            )
        )
    order = {s.key: i for i, s in enumerate(specs)}
    attacks.sort(key=lambda a: order[a.key])
    table = dataclasses.replace(table, robust=robust_cols)
    return Summary(table, attacks, groups, float(correct.float().mean()))


def _curve_labels(attacks: list[AttackSummary]) -> list[tuple[str, AttackSummary]]:
    """Each attack's eps-curve label: the same attack at several budgets shares one curve.

    Two attacks are "the same" when their name, norm and settings other than the budget agree
    (settings equal to the attack's eps are taken for the budget). Different attacks of one
    name (PGD with restarts and PGD with the CW loss) get separate curves, ``pgd (linf)`` and
    ``pgd (linf) #2``, instead of two points at one eps that no check can read.
    """
    signatures: dict[tuple[str, str], list[str]] = {}
    out = []
    for a in attacks:
        rest = {k: v for k, v in a.config.items() if not (isinstance(v, float) and math.isclose(v, a.eps))}
        signature = json.dumps(rest, sort_keys=True, default=repr)
        seen = signatures.setdefault((a.name, a.norm), [])
        if signature not in seen:
            seen.append(signature)
        k = seen.index(signature) + 1
        out.append((f"{a.name} ({a.norm})" + (f" #{k}" if k > 1 else ""), a))
    return out


def outcome_checks(summary: Summary, mode: str, numel: int, status: dict[str, str]) -> list[Finding]:
    """Checks on the attack outcomes: black-box vs white-box, eps curves, huge eps.

    Args:
        summary: The evaluation's summary.
        mode: ``"individual"`` (each attack's own eps curve is checked too) or ``"cascade"``.
        numel: Values per image (C·H·W), for the huge-eps budget.
        status: Per check, its outcome; updated in place.
    """
    table, findings, bb = summary.table, [], []
    gradients = {a.key: a.uses_gradients for a in summary.attacks}
    broken = {k: (v >= 0) & (v != table.label) for k, v in table.pred.items()}
    compared = False
    for g in summary.groups:
        white = [k for k in g.attacks if gradients[k]]
        black = [k for k in g.attacks if not gradients[k]]
        compared |= bool(white and black)
        bb += _chk.check_black_box(g.key, broken, white, black)
    status["black-box"] = (
        ("flagged" if bb else "passed")
        if compared
        else "skipped: needs a white-box and a black-box attack at the same eps"
    )
    findings += bb
    curves: dict[str, list[tuple[float, float]]] = {}
    for g in summary.groups:
        curves.setdefault(f"worst case ({g.norm})", []).append((g.eps, g.robust_accuracy))
    if mode == "individual":
        for label, a in _curve_labels(summary.attacks):
            curves.setdefault(label, []).append((a.eps, a.robust_accuracy))
    curve_findings, checked = [], 0
    for label, points in curves.items():
        if len({e for e, _ in points}) >= 2:  # a curve needs two budgets
            checked += 1
            curve_findings += _chk.check_eps_curve(label, points, int(table.label.numel()))
    status["eps-curve"] = (
        ("flagged" if curve_findings else "passed") if checked else "skipped: needs two eps of one norm"
    )
    findings += curve_findings
    huge = [g for g in summary.groups if _chk.huge_eps(g.norm, g.eps, numel)]
    huge_findings = [f for g in huge for f in _chk.check_huge_eps(g.key, g.robust_accuracy, g.n_robust)]
    if huge:
        status["huge-eps"] = "flagged" if huge_findings else "passed"
    return findings + huge_findings
