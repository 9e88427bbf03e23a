"""Tests of ``bandlimit evaluate | heatmap | spectrum``, the results folder and the leaderboard.

The model under test is a linear classifier that interpolates the first 16 CIFAR-10 sample
images (least squares), written as a module into ``tmp_path``: it classifies those images
correctly, has honest gradients, an L∞ margin of about 5.5/255 on each image, so every
analysis has something to measure, in well under a second per call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
from _cli_helpers import MODULE, importable_model

from bandlimit.cli import main
from bandlimit.cli._leaderboard import NOT_AVAILABLE, LeaderboardEntry, _rank_key, available_baselines
from bandlimit.cli._runs import RunFolder, to_toml
from bandlimit.evaluation import EvaluationResult, HeatmapResult, SpectrumReport


@pytest.fixture
def model_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``<module>:build`` of the interpolating linear model (a fresh module name per test)."""
    return importable_model(tmp_path, monkeypatch)


def _run(*argv: str) -> int:
    return main([*argv])


def _images_in_report(folder: Path) -> int:
    return (folder / "report.html").read_text(encoding="utf-8").count('<img src="data:image/png;base64,')


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_writes_the_results_folder(tmp_path: Path, model_spec: str) -> None:
    out = tmp_path / "run"
    code = _run(
        "evaluate", "--model", model_spec, "--attack", "pgd:steps=5", "--attack", "fgsm",
        "--eps", "1/255,8/255", "--n", "16", "--batch-size", "8", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0
    result = EvaluationResult.load(out / "results.json")
    assert result.complete and result.n == 16
    assert result.clean_accuracy == 1.0  # the model interpolates these 16 images
    assert {a.name for a in result.attacks} == {"pgd", "fgsm"}
    assert len(result.groups) == 2
    # A larger budget never helps the model (the harness's own curve check agrees).
    small, large = sorted(result.groups, key=lambda g: g.eps)
    assert large.robust_accuracy <= small.robust_accuracy
    assert large.robust_accuracy < 1.0
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["accuracy_vs_eps_linf.png"]
    assert _images_in_report(out) == len(figures)
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["attack"] == ["pgd:steps=5", "fgsm"] and config["n"] == 16 and config["eps"] == "1/255,8/255"
    assert "out" not in config
    env = json.loads((out / "environment.json").read_text())
    assert env["versions"]["torch"] == torch.__version__
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".results-*"))  # no temporary files left


def test_evaluate_checkpoint_and_defense_chain(tmp_path: Path) -> None:
    from bandlimit.models import create_model, save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "r20.pt", create_model("resnet20"))
    out = tmp_path / "run"
    code = _run(
        "evaluate", "--model", str(ckpt), "--defense", "lowpass:bandwidth=16", "--attack", "fgsm",
        "--n", "8", "--out", str(out), "--quiet", "--no-sanity",
    )  # fmt: skip
    assert code == 0
    result = EvaluationResult.load(out / "results.json")
    assert result.n == 8 and result.complete
    assert "lowpass:bandwidth=16" in (out / "report.html").read_text()


def test_config_file_merges_and_command_line_wins(tmp_path: Path, model_spec: str) -> None:
    cfg = tmp_path / "eval.toml"
    cfg.write_text(f'model = "{model_spec}"\nattack = "fgsm"\nn = 8\nseed = 5\nbatch-size = 4\nquiet = true\n')
    out = tmp_path / "run"
    assert _run("evaluate", "--config", str(cfg), "--seed", "7", "--out", str(out), "--no-sanity") == 0
    result = EvaluationResult.load(out / "results.json")
    assert result.n == 8 and result.seed == 7 and result.config["batch_size"] == 4
    assert [a.name for a in result.attacks] == ["fgsm"]
    # The written config repeats the run.
    again = tmp_path / "again"
    assert _run("evaluate", "--config", str(out / "config.toml"), "--out", str(again)) == 0
    repeat = EvaluationResult.load(again / "results.json")
    assert torch.equal(repeat.samples.pred["fgsm/linf/0.0313725"], result.samples.pred["fgsm/linf/0.0313725"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--attack", "pgdd"], r"unknown attack 'pgdd'.*did you mean pgd"),
        (["--attack", "pgd:steps"], r"malformed parameter 'steps'.*expected key=value"),
        (["--attack", "pgd:steps=0"], r"steps"),
        (["--attack", "pgd:stepz=3"], r"pgd:stepz=3"),
        (["--attack", "fgsm", "--defense", "blur:sigma=1"], r"unknown defence 'blur'"),
        (["--attack", "fgsm", "--eps", ","], r"expected at least one eps"),
        (["--attack", "fgsm", "--eps=-8/255"], r"expected eps > 0"),
        (["--attack", "simba", "--norm", "l2"], r"use --norm linf"),
        (["--attack", "fgsm", "--data", "npz:/no/such/file.npz"], r"--data 'npz:/no/such/file.npz'.*cifar10-sample"),
        (["--attack", "fgsm", "--eot", "many"], r"--eot: expected auto, off"),
        (["--attack", "fgsm", "--n", "0"], r"--n: expected an integer >= 1"),
        (["--attack", "fgsm", "--config", "/no/such.toml"], r"--config: expected a TOML file"),
    ],
)
def test_bad_input_exits_2_naming_the_fix(
    tmp_path: Path, model_spec: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "run"
    code = _run("evaluate", "--model", model_spec, "--n", "4", "--out", str(out), "--quiet", *argv)
    assert code == 2
    import re

    err = " ".join(capsys.readouterr().err.split())
    assert re.search(message, err), err
    assert not (out / "results.json").exists()


def test_unknown_config_key_and_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('modle = "resnet20"\n')
    assert _run("evaluate", "--config", str(cfg)) == 2
    assert "unknown key 'modle'" in capsys.readouterr().err
    assert _run("evaluate", "--attack", "fgsm", "--out", str(tmp_path / "o")) == 2
    assert "--model: expected a registry name" in " ".join(capsys.readouterr().err.split())


def test_checkpoint_that_does_not_match_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bandlimit.models import create_model, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "r20.pt", create_model("resnet20"))
    code = _run(
        "evaluate", "--model", "resnet32", "--checkpoint", str(ckpt), "--attack", "fgsm", "--out", str(tmp_path / "o")
    )
    assert code == 2
    assert "--checkpoint does not match --model 'resnet32'" in " ".join(capsys.readouterr().err.split())


def test_unwritable_out_is_refused_before_any_work(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bandlimit.cli.names as common

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(common, "load_model", fail)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert _run("evaluate", "--model", model_spec, "--attack", "fgsm", "--out", str(blocker / "run")) == 2
    assert "choose a writable folder with --out" in " ".join(capsys.readouterr().err.split())
    assert _run("evaluate", "--model", model_spec, "--attack", "fgsm", "--out", str(blocker)) == 2
    assert "got an existing file" in capsys.readouterr().err


def test_budget_stop_is_incomplete_everywhere_then_resume_completes(tmp_path: Path, model_spec: str) -> None:
    out = tmp_path / "run"
    base = ["evaluate", "--model", model_spec, "--attack", "fgsm", "--attack", "pgd:steps=3"]
    base += ["--n", "16", "--batch-size", "8", "--out", str(out), "--quiet"]
    assert _run(*base, "--budget", "0") == 3
    partial = EvaluationResult.load(out / "results.json")
    assert partial.complete is False
    assert "INCOMPLETE RUN" in (out / "report.html").read_text()
    assert "INCOMPLETE" in (out / "report.html").read_text().split("Per attack")[1][:200]
    # Re-running into the same folder needs --resume; with it the run completes.
    assert _run(*base) == 2
    assert _run(*base, "--resume") == 0
    done = EvaluationResult.load(out / "results.json")
    assert done.complete and "INCOMPLETE" not in (out / "report.html").read_text()


def test_ctrl_c_writes_partial_results_marked_incomplete(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bandlimit.evaluation as evaluation

    real = evaluation.evaluate
    calls = []

    def interrupted_once(*args: object, **kwargs: object) -> EvaluationResult:
        calls.append(kwargs.get("budget_s"))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", interrupted_once)
    out = tmp_path / "run"
    code = _run(
        "evaluate", "--model", model_spec, "--attack", "fgsm", "--attack", "pgd:steps=3", "--n", "16",
        "--batch-size", "8", "--out", str(out), "--quiet", "--leaderboard",
    )  # fmt: skip
    assert code == 130
    assert calls == [None, 0.0]
    result = EvaluationResult.load(out / "results.json")
    assert result.complete is False
    assert not (out / "leaderboard.json").exists()  # nothing more runs after an interrupt
    assert "interrupted (Ctrl-C)" in (out / "report.html").read_text()


# ------------------------------------------------------------------ heatmap and spectrum
def test_heatmap_command(tmp_path: Path, model_spec: str) -> None:
    out = tmp_path / "hm"
    assert _run("heatmap", "--model", model_spec, "--n", "4", "--cells", "central:7", "--out", str(out), "--quiet") == 0
    result = HeatmapResult.load(out / "results.json")
    assert result.norm == 4.0 and result.n == 4 and result.random_sign and result.clip
    assert result.error.shape == (32, 32)
    evaluated = torch.isfinite(result.error)
    assert int(evaluated.sum()) == 49  # the central 7×7 block only
    assert (out / "figures" / "heatmap.png").is_file() and _images_in_report(out) == 1
    assert _run("heatmap", "--model", model_spec, "--norm-l2", "-1", "--out", str(tmp_path / "x")) == 2


def test_spectrum_command_with_filtered(tmp_path: Path, model_spec: str) -> None:
    out = tmp_path / "sp"
    code = _run(
        "spectrum", "--model", model_spec, "--attack", "pgd:steps=3", "--attack", "pgd:steps=3,band=low",
        "--n", "8", "--filtered", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0
    report = SpectrumReport.load(out / "results.json")
    assert len(report.spectra) == 2
    full, low = report.spectra
    assert abs(sum(full.band_energy.values()) - 1.0) < 1e-6
    assert low.band_energy["low"] > full.band_energy["low"]  # the band-limited attack stays low
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == ["accuracy_vs_bandwidth.png", "accuracy_vs_radius.png", "radial_profiles.png", "spectra.png"]
    assert _images_in_report(out) == 4
    assert json.loads((out / "filtered.json").read_text())["kind"] == "filtered"


# ----------------------------------------------------------------------- leaderboard
def test_leaderboard_lists_missing_baselines_without_numbers(tmp_path: Path, model_spec: str) -> None:
    if available_baselines():
        pytest.skip("baseline weights are installed; this test covers their absence")
    out = tmp_path / "lb"
    code = _run(
        "evaluate", "--model", model_spec, "--suite", "quick", "--leaderboard", "--n", "8", "--analysis-n", "4",
        "--out", str(out), "--quiet", "--no-sanity",
    )  # fmt: skip
    assert code == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert board[0]["model"] == model_spec and board[0]["worst_case"] is not None
    missing = board[1:]
    assert [e["model"] for e in missing] == ["resnet20-natural", "resnet20-gaussian", "resnet20-fastat"]
    assert all(
        e["status"] == NOT_AVAILABLE and e["worst_case"] is None and e["clean_accuracy"] is None for e in missing
    )
    assert {p.name for p in (out / "figures").glob("*.png")} >= {"heatmap.png", "spectra.png", "radial_profiles.png"}
    html = (out / "report.html").read_text()
    assert html.count(NOT_AVAILABLE) == 3 and _images_in_report(out) == len(list((out / "figures").glob("*.png")))
    result = EvaluationResult.load(out / "results.json")
    assert {a.name for a in result.attacks} == {"pgd", "simba", "fourier"}


def test_leaderboard_ranking_order() -> None:
    rows = [
        LeaderboardEntry("a", "complete", "x", 0.9, {"g": 0.1}, 0.1),
        LeaderboardEntry("b", NOT_AVAILABLE, "baseline"),
        LeaderboardEntry("c", "incomplete", "x", 0.9, {"g": 0.9}, 0.9),
        LeaderboardEntry("d", "complete", "x", 0.8, {"g": 0.4}, 0.4),
    ]
    assert [r.model for r in sorted(rows, key=_rank_key)] == ["d", "a", "c", "b"]


# ----------------------------------------------------------------- folder and merging
def test_to_toml_round_trip() -> None:
    settings = {"model": 'a "quoted" name', "n": 3, "eps": 0.5, "flag": True, "attack": ["pgd", "fgsm"], "x": None}
    settings["inf"] = float("inf")
    settings["table"] = {"k": 1}
    back = tomllib.loads(to_toml(settings))
    assert back == {k: v for k, v in settings.items() if v is not None}
    with pytest.raises(TypeError, match="expected a TOML scalar"):
        to_toml({"bad": [{"a": 1}]})


def test_merge_of_shards_equals_one_run(model_spec: str) -> None:
    from attacks.pgd import FGSM, PGD
    from bandlimit.cli.names import resolve_model
    from bandlimit.data import load_dataset, to_tensors
    from bandlimit.evaluation import evaluate

    model = resolve_model(model_spec)
    x, y = to_tensors(load_dataset("cifar10-sample", n=16))
    attacks = [FGSM(eps=2 / 255), PGD(eps=2 / 255, steps=3, random_start=False), FGSM(eps=8 / 255)]
    whole = evaluate(model, (x, y), attacks, batch_size=5)
    parts = [evaluate(model, (x[s], y[s]), attacks, batch_size=5) for s in (slice(0, 7), slice(7, 16))]
    merged = EvaluationResult.merge(parts, x.shape[1:])
    assert merged.robust_accuracy == whole.robust_accuracy
    assert merged.clean_accuracy == whole.clean_accuracy
    assert torch.equal(merged.samples.index, whole.samples.index)
    for key, pred in whole.samples.pred.items():
        assert torch.equal(merged.samples.pred[key], pred)
    assert [a.robust_accuracy for a in merged.attacks] == [a.robust_accuracy for a in whole.attacks]
    assert [f.code for f in merged.findings] == [f.code for f in whole.findings]
    assert merged.checks["eps-curve"] == whole.checks["eps-curve"]


def test_run_folder_atomic_json(tmp_path: Path) -> None:
    folder = RunFolder.prepare(tmp_path / "f", "evaluate")
    folder.write_json("a.json", {"x": 1})
    # Non-finite numbers follow the one JSON convention (bandlimit._io): strict JSON with "NaN".
    folder.write_json("b.json", {"x": float("nan")})

    def strict(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    assert json.loads((tmp_path / "f" / "b.json").read_text(), parse_constant=strict) == {"x": "NaN"}

    class Unwritable:
        def to_json(self) -> str:
            raise ValueError("Out of range float values are not JSON compliant")

    with pytest.raises(ValueError, match="Out of range float"):
        folder.write_json("a.json", Unwritable())
    assert json.loads((tmp_path / "f" / "a.json").read_text()) == {"x": 1}  # old file intact

    def half_written(path: Path) -> None:
        path.write_bytes(b"\x89PNG half")
        raise RuntimeError("the plot failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        folder.figure("broken", half_written)
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["a.json", "b.json", "figures"]
    assert not list((tmp_path / "f" / "figures").iterdir())  # no figure, no temporary file


# ----------------------------------------------------------------------- subprocesses
def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(tmp_path))
    return env


def test_console_script_smoke(tmp_path: Path) -> None:
    """The installed script: a real process, its exit status and the one-line error (no traceback)."""
    script = shutil.which("bandlimit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the bandlimit console script is not installed in this environment")
    out = tmp_path / "run"
    proc = subprocess.run(
        [script, "evaluate", "--model", "resnet20", "--attack", "pgd:stepz=3", "--out", str(out)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr and "stepz" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # refused before any work


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(tmp_path: Path) -> None:
    (tmp_path / "dist_model.py").write_text(MODULE)
    # Settings go through --config: torchrun's own parser would take --n for one of its options.
    (tmp_path / "run.toml").write_text(
        'model = "dist_model:build"\nattack = ["fgsm", "pgd:steps=3,random_start=false"]\neps = "2/255,8/255"\n'
        'n = 16\nbatch_size = 4\ndevice = "cpu"\nquiet = true\n'
    )
    common = ["evaluate", "--config", str(tmp_path / "run.toml")]
    runner = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "bandlimit.cli",
    ]
    proc = subprocess.run(
        [*runner, *common, "--out", str(tmp_path / "two")],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").glob("state*.pt")) == ["state-rank0.pt", "state-rank1.pt"]
    sys.path.insert(0, str(tmp_path))
    try:
        assert main([*common, "--out", str(tmp_path / "one")]) == 0
    finally:
        sys.path.remove(str(tmp_path))
    two = EvaluationResult.load(tmp_path / "two" / "results.json")
    one = EvaluationResult.load(tmp_path / "one" / "results.json")
    assert two.complete and two.n == one.n == 16
    assert two.environment["world_size"] == 2
    assert two.robust_accuracy == one.robust_accuracy and two.clean_accuracy == one.clean_accuracy
    for key, pred in one.samples.pred.items():
        assert torch.equal(two.samples.pred[key], pred)


def test_bench_lists_runs_and_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    from bandlimit.cli.bench import find_benchmarks

    scripts = find_benchmarks()
    assert {"pgd", "pgd_crosscheck", "blackbox", "defenses", "heatmap"} <= set(scripts)
    assert _run("bench") == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in scripts)
    assert _run("bench", "heatmap", "--images", "1", "--pass-sizes", "64", "32", "--repeats", "1") == 0
    assert "identical maps: True" in capsys.readouterr().out
    assert _run("bench", "nope") == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_bench_autoattack_tiny_runs_both_and_compares(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("bench", "autoattack", "--tiny", "--batch", "4") == 0
    out = capsys.readouterr().out
    assert "standard suite" in out and "AutoAttack" in out and "CPU time ratio (ours / AutoAttack)" in out
    assert "broken only by ours (" in out and "broken only by AutoAttack (" in out


def test_progress_lines_outside_a_terminal(tmp_path: Path, model_spec: str, capsys: pytest.CaptureFixture) -> None:
    """Issue 15: with stdout redirected (make demo > log, CI, nohup) a run prints what it is doing."""
    code = _run(
        "evaluate", "--model", model_spec, "--attack", "fgsm", "--attack", "pgd:steps=2",
        "--n", "16", "--batch-size", "8", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "  elapsed " in line]
    assert lines, "no progress line outside a terminal"
    assert all(line.startswith("evaluate: ") for line in lines)
    # Each attack is named while it runs, per batch, and the count reaches the total.
    assert any("fgsm/" in line and "(samples 0+)" in line for line in lines)
    assert any("pgd/" in line and "(samples 8+)" in line for line in lines)
    assert lines[-1].split("  ")[1] == "4/4"
    # Tables are not cut to 80 columns in a log: the model spec, a long name, is shown whole.
    assert model_spec in printed.replace("\n", "")


def test_help_is_plain_text_and_every_option_says_what_it_does() -> None:
    """Issue 15: --help renders without raw reST, and no option is left without a line."""
    import argparse

    from bandlimit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) >= {"demo", "evaluate", "heatmap", "spectrum", "train", "models", "bench"}
    for name, command in sub.choices.items():
        text = command.format_help()
        assert "``" not in text and ":func:" not in text, name
        assert not any(line.rstrip().endswith("::") for line in text.splitlines()), name
        silent = [a.option_strings for a in command._actions if a.option_strings and not a.help]
        assert not silent, (name, silent)
    # evaluate --help lists every attack, defence and suite with its keys.
    from attacks import ATTACKS
    from bandlimit.cli.suites import SUITES
    from defenses import DEFENSES

    text = " ".join(sub.choices["evaluate"].format_help().split())
    for entry in ATTACKS:
        assert f" {entry.name} " in text, entry.name
    assert "keys: step, basis, max_queries" in text  # SimBA's keys, eps among them
    for entry in DEFENSES:
        assert f" {entry.name} " in text and ", ".join(entry.meta["settings"]) in text, entry.name
    for entry in SUITES:
        assert f" {entry.name} " in text, entry.name


def test_demo_explains_its_deliberate_plain_pgd_instead_of_generic_advice() -> None:
    """Issue 15: the demo's own plain-PGD column on a randomised defence gets a note that fits the demo."""
    from bandlimit.cli.demo.folder import finding_text
    from bandlimit.evaluation.results import Finding

    def finding(**details: object) -> Finding:
        return Finding(
            code="randomized-model", severity="warning", message="EOT was NOT applied to pgd/linf/0.0313725.",
            advice="Re-run with eot='auto' from Python.", doc="docs/evaluation.md#randomized-model", details=details,
        )  # fmt: skip

    both = finding_text(
        "post-avg", finding(eot_applied={"pgd/linf/0.0313725#2": 4}, eot_missing=["pgd/linf/0.0313725"])
    )
    assert "on purpose" in both and "PGD-EOT column (4 samples" in both and "from Python" not in both
    # Without a PGD-EOT column the harness's own message and advice are shown unchanged.
    alone = finding_text("m", finding(eot_applied={}, eot_missing=["pgd/linf/0.0313725"]))
    assert (
        alone
        == "m: [warning] EOT was NOT applied to pgd/linf/0.0313725. What to do: Re-run with eot='auto' from Python."
    )


def test_heat_map_panel_is_drawn_in_a_terminal_only() -> None:
    """Coloured blocks in a log file are a solid rectangle: the demo and the commands print a line instead."""
    import io

    from rich.console import Console

    from bandlimit.cli._output import print_panel
    from bandlimit.reports import heatmap_panel

    panel = heatmap_panel(torch.rand(8, 8), title="map")
    for terminal, drawn in ((True, True), (False, False)):
        buffer = io.StringIO()
        print_panel(Console(file=buffer, force_terminal=terminal, width=80), panel)
        assert ("██" in buffer.getvalue()) is drawn
        assert ("drawn in a terminal only" in buffer.getvalue()) is not drawn
    # The demo goes through the same function (it printed the blocks into logs before).
    demo = (Path(__file__).resolve().parents[1] / "bandlimit" / "cli" / "demo" / "__init__.py").read_text()
    assert "print_panel(console, heatmap_panel(" in demo
