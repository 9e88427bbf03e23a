"""Benchmark a new defence: the user's model beside the shipped baselines, in one table.

``bandlimit evaluate --model my_pkg.module:build --suite quick --leaderboard`` evaluates the
user's model and each shipped baseline (``resnet20-natural``, ``resnet20-gaussian``,
``resnet20-fastat``) on the same data, samples, seed, suite and budgets, and ranks them by
worst-case robust accuracy. A baseline whose weights are not installed is listed as
"not available (weights not shipped)" with no numbers: numbers are never invented.

Baseline results are cached together with a fingerprint of the settings that produced them
(data, ``--n``, seed, suite or attacks, budgets, norm, band, mode; and the bandlimit version), in
``OUT/baselines/<name>.json`` and in a cache shared by every run, ``$BANDLIMIT_LEADERBOARD_CACHE``
or ``~/.cache/bandlimit/leaderboard``. A cached result is reused only when the fingerprint matches
and the result is complete, so a second leaderboard under the same settings evaluates only the
user's model. Before evaluating baselines the log says how many and about how long they take
(each costs about what the user's model cost: same attacks, same samples).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BASELINES",
    "NOT_AVAILABLE",
    "LeaderboardEntry",
    "available_baselines",
    "build_leaderboard",
    "entry_from_result",
    "leaderboard_rows",
    "settings_fingerprint",
]

#: Shipped baseline models (registry names with pretrained weights).
BASELINES = ("resnet20-natural", "resnet20-gaussian", "resnet20-fastat")
#: Status of a baseline whose weights are not installed.
NOT_AVAILABLE = "not available (weights not shipped)"

logger = logging.getLogger(__name__)


def shared_cache_dir() -> Path:
    """``$BANDLIMIT_LEADERBOARD_CACHE`` or ``~/.cache/bandlimit/leaderboard``: baseline results of every run."""
    env = os.environ.get("BANDLIMIT_LEADERBOARD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bandlimit" / "leaderboard"


@dataclass
class LeaderboardEntry:
    """One row: a model's clean and robust accuracy under the shared evaluation settings.

    Attributes:
        model: What was evaluated (the ``--model`` spec, or a baseline name).
        status: ``"complete"``, ``"incomplete"`` (stopped early: numbers are partial),
            :data:`NOT_AVAILABLE`, or ``"failed: <why>"``.
        source: ``"this run"``, ``"baseline"`` or ``"baseline (cached)"``.
        clean_accuracy: On the evaluated samples (None when not evaluated).
        robust_accuracy: Worst case over the attacks, per threat group.
        worst_case: Minimum of ``robust_accuracy`` over the groups of the ranking norm.
        norm: The norm whose groups ``worst_case`` is over (the table names it).
        n: Samples evaluated.
        seconds: Wall time of the evaluation's attacks (None when not evaluated).
        findings: Codes of the gradient-masking warnings raised for the model.
    """

    model: str
    status: str
    source: str
    clean_accuracy: float | None = None
    robust_accuracy: dict[str, float] = field(default_factory=dict)
    worst_case: float | None = None
    norm: str = "linf"
    n: int = 0
    findings: list[str] = field(default_factory=list)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as None)."""
        clean = {k: (v if v is None or math.isfinite(v) else None) for k, v in self.robust_accuracy.items()}
        return {
            "model": self.model,
            "status": self.status,
            "source": self.source,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": clean,
            "worst_case": self.worst_case,
            "worst_case_norm": self.norm,
            "n": self.n,
            "findings": list(self.findings),
        }


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """SHA-256 of the settings that make two evaluations comparable (sorted JSON) and the bandlimit version.

    The version is part of it because a suite's attacks may change between versions.
    """
    from bandlimit import __version__

    payload = {**dict(settings), "bandlimit_version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def available_baselines() -> list[str]:
    """Baselines whose weights are installed."""
    from bandlimit.models import list_pretrained

    installed = set(list_pretrained(available_only=True))
    return [name for name in BASELINES if name in installed]


def entry_from_result(model: str, result: Any, *, norm: str, source: str) -> LeaderboardEntry:
    """A row from an ``EvaluationResult``; ``worst_case`` over the groups of ``norm``.

    When no group has that norm, the minimum over all groups is used.
    """
    groups = [g for g in result.groups if g.norm == norm]
    if not groups:
        groups, norm = list(result.groups), "all"
    worst = min((g.robust_accuracy for g in groups), default=None)
    return LeaderboardEntry(
        model=model,
        status="complete" if result.complete else "incomplete",
        source=source,
        clean_accuracy=result.clean_accuracy,
        robust_accuracy=dict(result.robust_accuracy),
        worst_case=worst,
        norm=norm,
        n=result.n,
        findings=sorted({f.code for f in result.findings}),
        seconds=getattr(result, "time_s", None),
    )


def _rank_key(entry: LeaderboardEntry) -> tuple[int, float, float]:
    # Evaluated rows first (complete before incomplete), best worst case first; rows
    # without numbers last, in their given order (sorted() is stable).
    if entry.worst_case is None:
        return (2, 0.0, 0.0)
    return (0 if entry.status == "complete" else 1, -entry.worst_case, -(entry.clean_accuracy or 0.0))


def build_leaderboard(
    user: LeaderboardEntry,
    evaluate_baseline: Callable[[str], Any],
    *,
    norm: str,
    cache: Any = None,
    fingerprint: str = "",
    baselines: Sequence[str] = BASELINES,
    write_cache: bool = True,
) -> list[LeaderboardEntry]:
    """Rank ``user`` against the baselines, evaluating (or reusing cached results of) each.

    Args:
        user: The row of the model under test.
        evaluate_baseline: ``name -> EvaluationResult`` under the same settings as ``user``.
        norm: Norm whose groups define the worst case.
        cache: A ``RunFolder`` (or None): results are read from and written to
            ``baselines/<name>.json`` there.
        fingerprint: :func:`settings_fingerprint` of the shared settings.
        baselines: Baseline names.
        write_cache: Write new results to the cache (False on torchrun ranks other than 0,
            which read the same cache so that every rank takes the same decisions).

    Returns:
        The rows sorted by worst-case robust accuracy (best first).
    """
    from bandlimit.evaluation import EvaluationResult

    installed = set(available_baselines())
    shared = shared_cache_dir() if fingerprint else None

    def cached(name: str) -> Any:
        paths = [cache.file(f"baselines/{name}.json")] if cache is not None else []
        paths += [shared / f"{name}-{fingerprint[:24]}.json"] if shared is not None else []
        for path in paths:
            if path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:  # a damaged cache file is only a cache miss
                    logger.warning("leaderboard: ignoring the unreadable cache file %s (%s)", path, exc)
                    continue
                if data.get("fingerprint") == fingerprint and data["result"].get("complete"):
                    return EvaluationResult.from_dict(data["result"])
        return None

    hits = {name: cached(name) for name in baselines if name in installed}
    todo = [name for name, hit in hits.items() if hit is None]
    if todo:
        each = (
            f"; your model took {user.seconds:.1f} s, so expect about {len(todo) * user.seconds:.0f} s"
            if user.seconds
            else ""
        )
        logger.info(
            "leaderboard: evaluating %d baseline(s) (%s) with the same attacks on the same %d samples%s "
            "(cached for the next run with these settings; --n sets the sample count)",
            len(todo), ", ".join(todo), user.n, each,
        )  # fmt: skip
    rows = [user]
    for name in baselines:
        if name not in installed:
            rows.append(LeaderboardEntry(model=name, status=NOT_AVAILABLE, source="baseline"))
            continue
        hit = hits[name]
        if hit is not None:
            rows.append(entry_from_result(name, hit, norm=norm, source="baseline (cached)"))
            continue
        result = evaluate_baseline(name)
        if write_cache:
            record = {"fingerprint": fingerprint, "result": result.to_dict()}
            if cache is not None:
                cache.file("baselines").mkdir(parents=True, exist_ok=True)
                cache.write_json(f"baselines/{name}.json", record)
            if shared is not None and result.complete:
                _write_shared(shared / f"{name}-{fingerprint[:24]}.json", record)
        rows.append(entry_from_result(name, result, norm=norm, source="baseline"))
    return sorted(rows, key=_rank_key)


def _write_shared(path: Path, record: dict[str, Any]) -> None:
    """Write a baseline result to the shared cache; a cache that cannot be written is only a warning."""
    from bandlimit._io import write_json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
    except OSError as exc:
        logger.warning(
            "leaderboard: could not write the shared cache %s (%s); results stay in the run folder", path, exc
        )


def leaderboard_rows(entries: Sequence[LeaderboardEntry]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Table rows, column order and percent columns for ``results_table`` / ``HtmlReport.table``."""
    groups: dict[str, None] = {}
    for e in entries:
        for key in e.robust_accuracy:
            groups.setdefault(key, None)
    # Name the norm the worst case ranks by: an L2 column may sit beside an L∞ worst case.
    norms = sorted({e.norm for e in entries if e.worst_case is not None})
    symbols = {"linf": "L∞", "l2": "L2", "all": "all threat groups"}
    worst = f"worst case ({', '.join(symbols.get(n, n) for n in norms)})" if norms else "worst case"
    rows = []
    for rank, e in enumerate(entries, start=1):
        row: dict[str, Any] = {
            "#": str(rank) if e.worst_case is not None else "–",
            "model": e.model,
            "status": e.status,
            "clean": e.clean_accuracy if e.clean_accuracy is not None else "–",
            worst: e.worst_case if e.worst_case is not None else "–",
        }
        for key in groups:
            row[_group_label(key)] = e.robust_accuracy.get(key, "–") if e.worst_case is not None else "–"
        row["warnings"] = ", ".join(e.findings) if e.findings else ("none" if e.worst_case is not None else "–")
        rows.append(row)
    labels = [_group_label(key) for key in groups]
    columns = ["#", "model", "status", "clean", worst, *labels, "warnings"]
    return rows, columns, ["clean", worst, *labels]


def _group_label(key: str) -> str:
    """``linf/0.0313725`` -> ``L∞ 8/255`` (a threat group's key as people write it)."""
    from bandlimit.attack import eps_text

    norm, _, eps = key.partition("/")
    try:
        value = float(eps)
    except ValueError:
        return key
    # Keys round eps to 7 digits (8/255 -> 0.0313725), too coarse for eps_text's 1/255 test.
    k = value * 255
    text = f"{round(k)}/255" if round(k) > 0 and abs(k - round(k)) < 1e-4 else eps_text(value, norm)
    return f"{'L∞' if norm == 'linf' else 'L2' if norm == 'l2' else norm} {text}"
