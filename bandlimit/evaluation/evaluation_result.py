"""The result of :func:`~bandlimit.evaluation.evaluate`, and the merge of the results of shards."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from bandlimit.evaluation._summary import Summary, concat_tables, outcome_checks, summarise
from bandlimit.evaluation.results import (
    FINDING_SOURCES,
    AttackSummary,
    Finding,
    GroupSummary,
    Result,
    SampleTable,
)

__all__ = ["EvaluationResult"]


@dataclasses.dataclass
class EvaluationResult(Result):
    """Result of :func:`~bandlimit.evaluation.evaluate`.

    Attributes:
        n: Samples evaluated. ``clean_accuracy``: on those samples.
        robust_accuracy: Worst-case robust accuracy per threat group (``"linf/0.03137"``).
        attacks, groups: Summaries per attack and per threat group.
        samples: Per-sample records.
        findings: Gradient-masking and sanity warnings (empty on a healthy evaluation), in
            the order of their ``source`` (:data:`~bandlimit.evaluation.results.FINDING_SOURCES`).
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

    @classmethod
    def from_summary(cls, summary: Summary, *, findings: Sequence[Finding], **fields: Any) -> EvaluationResult:
        """The result whose numbers are ``summary``; the other fields as given.

        ``findings`` are listed in the order of their source (stable within a source), so a
        merged result lists them as a single run does.
        """
        return cls(
            n=int(summary.table.label.numel()),
            clean_accuracy=summary.clean_accuracy,
            robust_accuracy={g.key: g.robust_accuracy for g in summary.groups},
            attacks=summary.attacks,
            groups=summary.groups,
            samples=summary.table,
            findings=sorted(findings, key=lambda f: FINDING_SOURCES.index(f.source)),
            **fields,
        )

    @classmethod
    def merge(cls, shards: Sequence[EvaluationResult], image_shape: Sequence[int]) -> EvaluationResult:
        """One result from the results of contiguous shards of the data, in order.

        Per-sample records are concatenated (indices renumbered from 0), summaries and the
        findings on the attack outcomes (source ``"outcome"``: black-box vs white-box, eps
        curves, huge eps) are recomputed on the whole table, exactly as a single process
        computes them. Findings on the model itself and the huge-eps probe come from the
        first shard, which holds the first samples like a single-process run.

        Args:
            shards: The result of each rank, in rank order (rank r holds the r-th slice).
            image_shape: ``(C, H, W)`` of the images (for the huge-eps budget).

        Raises:
            ValueError: no shard.
        """
        if not shards:
            raise ValueError("shards: expected at least one result, got none")
        first = shards[0]
        if len(shards) == 1:
            return first
        times = {
            a.key: sum(s.time_s for shard in shards for s in shard.attacks if s.key == a.key) for a in first.attacks
        }
        summary = summarise(first.attacks, concat_tables([s.samples for s in shards]), times, first.mode)
        status = dict(first.checks)
        findings = [f for f in first.findings if f.source != "outcome"]
        if "all" not in status:  # checks=False leaves a single "all" entry
            findings += outcome_checks(summary, first.mode, math.prod(image_shape), status)
        return cls.from_summary(
            summary,
            findings=findings,
            checks=status,
            complete=all(s.complete for s in shards),
            mode=first.mode,
            randomized=any(s.randomized for s in shards),
            votes=first.votes,
            eot=first.eot,
            sanity=first.sanity,
            time_s=max(s.time_s for s in shards),
            seed=first.seed,
            config={**first.config, "n": summary.table.label.numel(), "world_size": len(shards)},
            environment={**first.environment, "world_size": len(shards)},
        )

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
