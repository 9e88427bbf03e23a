"""Tests of the leaderboard table: the worst case names the norm it ranks by (issue 15)."""

from __future__ import annotations

from bandlimit.cli._leaderboard import NOT_AVAILABLE, LeaderboardEntry, entry_from_result, leaderboard_rows


class _Group:
    def __init__(self, key: str, norm: str, robust: float) -> None:
        self.key, self.norm, self.robust_accuracy = key, norm, robust


class _Result:
    """The parts of an EvaluationResult a leaderboard row reads."""

    def __init__(self, groups: list[_Group]) -> None:
        self.groups = groups
        self.robust_accuracy = {g.key: g.robust_accuracy for g in groups}
        self.complete, self.clean_accuracy, self.n, self.findings = True, 0.9, 10, []


def test_worst_case_is_over_the_ranking_norm_and_the_column_says_so() -> None:
    result = _Result([_Group("linf/0.0313725", "linf", 0.40), _Group("l2/0.5", "l2", 0.06)])
    entry = entry_from_result("fast-AT", result, norm="linf", source="this run")
    assert entry.worst_case == 0.40 and entry.norm == "linf"  # the L2 group's 6 % is not in it
    missing = LeaderboardEntry(model="resnet20-gaussian", status=NOT_AVAILABLE, source="baseline")
    rows, columns, percent = leaderboard_rows([entry, missing])
    assert columns[4] == "worst case (L∞)" and "worst case (L∞)" in percent
    assert rows[0]["worst case (L∞)"] == 0.40 and rows[0]["l2/0.5"] == 0.06
    assert rows[1]["worst case (L∞)"] == "–"
    assert entry.to_dict()["worst_case_norm"] == "linf"


def test_without_a_group_of_the_norm_the_worst_case_is_over_all_groups_and_says_so() -> None:
    result = _Result([_Group("l2/0.5", "l2", 0.3), _Group("l2/1", "l2", 0.1)])
    entry = entry_from_result("m", result, norm="linf", source="this run")
    assert entry.worst_case == 0.1 and entry.norm == "all"
    _, columns, _ = leaderboard_rows([entry])
    assert columns[4] == "worst case (all threat groups)"
