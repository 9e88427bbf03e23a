"""The output sections of ``bandlimit evaluate``: robust accuracy, masking checks, leaderboard."""

from __future__ import annotations

from typing import Any

from bandlimit.attack import eps_text
from bandlimit.cli._leaderboard import leaderboard_rows
from bandlimit.cli._output import Section

__all__ = ["incomplete_banner", "result_sections"]


def incomplete_banner(result: Any, interrupted: bool) -> str | None:
    """The warning shown above a result that is not final (None for a complete one)."""
    if result.complete:
        return None
    why = "interrupted (Ctrl-C)" if interrupted else "stopped by --budget"
    return (
        f"INCOMPLETE RUN ({why}): these numbers cover only the attacks × samples finished so far and are "
        "not final robust accuracies. Run the same command with --resume to complete it."
    )


def result_sections(result: Any, settings: dict[str, Any], board: list[Any] | None, folder: Any) -> list[Section]:
    """Robust accuracy (tables, accuracy-vs-eps figures), the masking checks and the leaderboard."""
    from bandlimit.evaluation.results import attack_labels
    from bandlimit.reports import plot_accuracy_vs_eps

    mark = "" if result.complete else " [INCOMPLETE: partial results]"
    groups = [
        {
            "threat model": f"{'L∞' if g.norm == 'linf' else 'L2'} eps={eps_text(g.eps, g.norm)}",
            "attacks": len(g.attacks),
            "samples": g.n,
            "robust": g.n_robust,
            "robust accuracy": g.robust_accuracy,
        }
        for g in result.groups
    ]
    labels = attack_labels(result.attacks)
    attacks = [
        {
            "attack": label,
            "threat": f"{'L∞' if a.norm == 'linf' else 'L2'} {eps_text(a.eps, a.norm)}",
            "EOT": a.eot_samples or "-",
            "attacked": a.n_attacked,
            "broken": a.n_success,
            "robust accuracy": a.robust_accuracy,
            "mean dist": a.mean_distance,
            "queries": f"{a.queries_median:.0f}" if a.queries_median is not None else "-",
            "time s": f"{a.time_s:.2f}",
        }
        for a, label in zip(result.attacks, labels, strict=True)
    ]
    for column in ("EOT", "queries"):  # shown only when they say something
        if all(row[column] == "-" for row in attacks):
            for row in attacks:
                del row[column]
    defence = " + ".join(settings.get("defense") or []) or "none"
    summary = Section(
        "Robust accuracy",
        tables=[
            (f"Worst case per threat model{mark}", groups, list(groups[0]), ["robust accuracy"]),
            (
                f"Per attack{' (cumulative, cascade)' if result.mode == 'cascade' else ''}{mark}",
                attacks,
                list(attacks[0]),
                ["robust accuracy"],
            ),
        ],
        notes=[
            f"Model {settings['model']} (defence: {defence}) on {result.n} samples of {settings['data']}: clean "
            f"accuracy {result.clean_accuracy:.1%}; mode {result.mode}; seed {result.seed}; "
            f"{'randomised model, ' + str(result.votes) + ' votes per prediction; ' if result.randomized else ''}"
            f"{result.time_s:.1f} s."
        ],
    )
    for norm in sorted({g.norm for g in result.groups}):
        curves = {
            "worst case": (
                [g.eps for g in result.groups if g.norm == norm],
                [g.robust_accuracy for g in result.groups if g.norm == norm],
            )
        }
        if result.mode == "individual":
            for a, label in zip(result.attacks, labels, strict=True):
                if a.norm == norm:
                    eps, acc = curves.setdefault(label, ([], []))
                    eps.append(a.eps)
                    acc.append(a.robust_accuracy)
        folder.figure(
            f"accuracy_vs_eps_{norm}",
            plot_accuracy_vs_eps,
            curves,
            norm=norm,
            title=f"Robust accuracy vs eps ({norm}){mark}",
            caption=f"Robust accuracy vs eps ({norm}) on {result.n} samples{mark}.",
        )
        summary.figures.append(f"accuracy_vs_eps_{norm}")
    checks = Section(
        "Gradient-masking checks",
        tables=[("Checks", [{"check": k, "status": v} for k, v in result.checks.items()], ["check", "status"], [])],
        warnings=[
            f"{f.severity.upper()} ({f.code}): {f.message} What to do: {f.advice} More: {f.doc}"
            for f in result.findings
        ],
        notes=[] if result.findings else ["No gradient-masking warning."],
    )
    sections = [summary, checks]
    if board:
        rows, columns, percent = leaderboard_rows(board)
        sections.append(
            Section("Leaderboard", tables=[("Sorted by worst-case robust accuracy", rows, columns, percent)])
        )
        folder.write_json("leaderboard.json", [e.to_dict() for e in board])
    return sections
