"""Summaries and post-run checks of an evaluation, built from its per-batch records."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bandlimit.evaluation import checks as _chk
from bandlimit.evaluation.results import AttackSummary, Finding, GroupSummary, SampleTable, jsonable

__all__ = ["Planned", "post_checks", "summaries"]


class Planned:
    """One attack as the harness runs it (after any EOT change)."""

    def __init__(self, key: str, group: str, attack: Any, info: dict[str, Any]) -> None:
        self.key, self.group, self.attack, self.info = key, group, attack, info
        self.eot_samples: int | None = None


def summaries(
    plan: list[Planned], groups: dict[str, list[Planned]], records: list[tuple[int, dict]], mode: str
) -> tuple[SampleTable, list[AttackSummary], list[GroupSummary], float]:
    """Per-sample table and per-attack / per-group summaries from the batch records."""
    label = torch.cat([e["label"] for _, e in records])
    clean = torch.cat([e["clean_pred"] for _, e in records])
    index = torch.cat([s + torch.arange(e["label"].numel()) for s, e in records])
    correct = clean == label

    def column(key: str, field: str, fill: float) -> Tensor:
        parts = []
        for _, e in records:
            rec = e["attacks"].get(key)
            size = e["label"].numel()
            dtype = torch.float64 if field == "dist" else torch.long
            parts.append(rec[field] if rec is not None else torch.full((size,), fill, dtype=dtype))
        return torch.cat(parts)

    pred = {p.key: column(p.key, "pred", -2) for p in plan}
    dist = {p.key: column(p.key, "dist", math.nan) for p in plan}
    queries = {p.key: column(p.key, "queries", -1) for p in plan}
    broken = {k: (v >= 0) & (v != label) for k, v in pred.items()}
    attack_summaries = []
    robust_cols, group_summaries = {}, []
    for gkey, members in groups.items():
        alive = correct.clone()
        ok = torch.ones_like(correct)
        for p in members:
            ok &= pred[p.key] != -2
            own = correct & ~broken[p.key]
            alive &= ~broken[p.key]
            cumulative = mode == "cascade"
            mask = ok if cumulative else pred[p.key] != -2
            acc_mask = alive if cumulative else own
            n_done = int(mask.sum())
            attacked = pred[p.key] >= 0
            d = dist[p.key][attacked]
            q = queries[p.key][attacked]
            qs = queries[p.key][broken[p.key]]
            attack_summaries.append(
                AttackSummary(
                    key=p.key,
                    name=p.info["name"],
                    norm=p.info["norm"],
                    eps=p.info["eps"],
                    group=gkey,
                    uses_gradients=p.info["uses_gradients"],
                    config=jsonable(p.info["config"]),
                    eot_samples=p.eot_samples,
                    n=n_done,
                    n_attacked=int(attacked.sum()),
                    n_success=int(broken[p.key].sum()),
                    robust_accuracy=float((acc_mask & mask).sum()) / max(n_done, 1),
                    cumulative=cumulative,
                    time_s=float(sum(e["attacks"][p.key]["time"] for _, e in records if p.key in e["attacks"])),
                    mean_distance=float(d.mean()) if d.numel() else math.nan,
                    max_distance=float(d.max()) if d.numel() else math.nan,
                    queries_mean=_stat(q, "mean"),
                    queries_median=_stat(q, "median"),
                    queries_mean_success=_stat(qs, "mean"),
                    queries_median_success=_stat(qs, "median"),
                )
            )
        robust = alive & ok
        robust_cols[gkey] = robust
        n_group = int(ok.sum())
        first = members[0].info
        group_summaries.append(
            GroupSummary(
                key=gkey,
                norm=first["norm"],
                eps=first["eps"],
                attacks=[p.key for p in members],
                n=n_group,
                n_robust=int(robust.sum()),
                robust_accuracy=float(robust.sum()) / max(n_group, 1),
            )
        )
    order = {p.key: i for i, p in enumerate(plan)}
    attack_summaries.sort(key=lambda s: order[s.key])
    table = SampleTable(index, label, clean, pred, dist, queries, robust_cols)
    clean_acc = float(correct.float().mean())
    return table, attack_summaries, group_summaries, clean_acc


def _stat(q: Tensor, how: str) -> float | None:
    q = q[q >= 0]
    if q.numel() == 0:
        return None
    return float(q.double().mean()) if how == "mean" else float(q.double().quantile(0.5))


def post_checks(
    plan: list[Planned],
    groups: dict[str, list[Planned]],
    records: list[tuple[int, dict]],
    summaries: tuple[SampleTable, list[AttackSummary], list[GroupSummary], float],
    mode: str,
    x0: Tensor,
    status: dict[str, str],
) -> list[Finding]:
    """Checks on the attack outcomes: black-box vs white-box, eps curves, huge eps."""
    table, attack_summaries, group_summaries, _ = summaries
    findings: list[Finding] = []
    bb: list[Finding] = []
    compared = False
    for gkey, members in groups.items():
        white = [p.key for p in members if p.info["uses_gradients"]]
        black = [p.key for p in members if not p.info["uses_gradients"]]
        compared |= bool(white and black)
        broken = {k: (v >= 0) & (v != table.label) for k, v in table.pred.items()}
        bb += _chk.check_black_box(gkey, broken, white, black)
    status["black-box"] = (
        ("flagged" if bb else "passed")
        if compared
        else "skipped: needs a white-box and a black-box attack at the same eps"
    )
    findings += bb
    curves: dict[str, list[tuple[float, float]]] = {}
    for g in group_summaries:
        curves.setdefault(f"worst case ({g.norm})", []).append((g.eps, g.robust_accuracy))
    if mode == "individual":
        for s in attack_summaries:
            curves.setdefault(f"{s.name} ({s.norm})", []).append((s.eps, s.robust_accuracy))
    curve_findings = []
    n = int(table.label.numel())
    for label, points in curves.items():
        if len({e for e, _ in points}) == len(points):  # one point per eps
            curve_findings += _chk.check_eps_curve(label, points, n)
    multi = any(len(p) >= 2 for p in curves.values())
    status["eps-curve"] = ("flagged" if curve_findings else "passed") if multi else "skipped: needs two eps of one norm"
    findings += curve_findings
    numel = int(x0[0].numel())
    huge = [g for g in group_summaries if _chk.huge_eps(g.norm, g.eps, numel)]
    huge_findings = []
    for g in huge:
        huge_findings += _chk.check_huge_eps(g.key, g.robust_accuracy, g.n_robust)
    if huge:
        status["huge-eps"] = "flagged" if huge_findings else "passed"
    findings += huge_findings
    return findings
