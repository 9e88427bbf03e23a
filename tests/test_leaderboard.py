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
        self.complete, self.clean_accuracy, self.n, self.findings, self.time_s = True, 0.9, 10, [], 12.5


def test_worst_case_is_over_the_ranking_norm_and_the_column_says_so() -> None:
    result = _Result([_Group("linf/0.0313725", "linf", 0.40), _Group("l2/0.5", "l2", 0.06)])
    entry = entry_from_result("fast-AT", result, norm="linf", source="this run")
    assert entry.worst_case == 0.40 and entry.norm == "linf"  # the L2 group's 6 % is not in it
    missing = LeaderboardEntry(model="resnet20-gaussian", status=NOT_AVAILABLE, source="baseline")
    rows, columns, percent = leaderboard_rows([entry, missing])
    assert columns[4] == "worst case (L∞)" and "worst case (L∞)" in percent
    assert rows[0]["worst case (L∞)"] == 0.40 and rows[0]["L2 0.5"] == 0.06 and rows[0]["L∞ 8/255"] == 0.40
    assert rows[1]["worst case (L∞)"] == "–"
    assert entry.to_dict()["worst_case_norm"] == "linf"


def test_without_a_group_of_the_norm_the_worst_case_is_over_all_groups_and_says_so() -> None:
    result = _Result([_Group("l2/0.5", "l2", 0.3), _Group("l2/1", "l2", 0.1)])
    entry = entry_from_result("m", result, norm="linf", source="this run")
    assert entry.worst_case == 0.1 and entry.norm == "all"
    _, columns, _ = leaderboard_rows([entry])
    assert columns[4] == "worst case (all threat groups)"


def test_baselines_are_reused_from_the_shared_cache_across_runs(monkeypatch, caplog) -> None:
    import logging

    import torch
    from _doubles import FGSM, Net, random_batch

    from bandlimit.cli import _leaderboard
    from bandlimit.evaluation import evaluate

    monkeypatch.setattr(_leaderboard, "available_baselines", lambda: ["resnet20-natural"])
    torch.manual_seed(0)
    model, data = Net(classes=4).eval(), random_batch(8, 8, classes=4)
    calls: list[str] = []

    def evaluate_baseline(name: str) -> object:
        calls.append(name)
        return evaluate(model, data, [FGSM(eps=0.05)], checks=False)

    user = entry_from_result(
        "mine", evaluate(model, data, [FGSM(eps=0.05)], checks=False), norm="linf", source="this run"
    )
    assert user.seconds is not None and user.seconds > 0

    def board(fingerprint: str) -> list[LeaderboardEntry]:
        return _leaderboard.build_leaderboard(
            user, evaluate_baseline, norm="linf", fingerprint=fingerprint, baselines=("resnet20-natural",)
        )

    with caplog.at_level(logging.INFO, logger="bandlimit.cli._leaderboard"):
        first = board("a" * 64)
    assert calls == ["resnet20-natural"] and "evaluating 1 baseline(s)" in caplog.text and "expect about" in caplog.text
    second = board("a" * 64)  # another run (no run folder), same settings: nothing re-attacked
    assert calls == ["resnet20-natural"]
    assert {e.source for e in second if e.model == "resnet20-natural"} == {"baseline (cached)"}
    assert [e.worst_case for e in first] == [e.worst_case for e in second]
    board("b" * 64)  # other settings: evaluated again
    assert calls == ["resnet20-natural", "resnet20-natural"]


def test_the_fingerprint_includes_the_version(monkeypatch) -> None:
    import bandlimit
    from bandlimit.cli._leaderboard import settings_fingerprint

    before = settings_fingerprint({"suite": "quick", "n": 100})
    monkeypatch.setattr(bandlimit, "__version__", "9.9.9")
    assert settings_fingerprint({"suite": "quick", "n": 100}) != before
