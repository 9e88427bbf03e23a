"""Fault tests of the command line: occupied results folders, seeds, Ctrl-C and a full disk.

Each test runs a real command on a tiny model and checks what is on disk and what was said
afterwards: another run's results are never replaced without ``--overwrite``, a run refused
before its work leaves nothing behind, the same command with the same ``--seed`` gives the
same numbers (randomised defences included), and a run stopped by Ctrl-C or a full disk
says only what is true and keeps what ``--resume`` needs. (``kill -9`` during training is
tested in ``test_training.py::test_sigkill_mid_epoch_then_resume``.)
"""

from __future__ import annotations

import errno
import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import importable_model

import bandlimit._io as io
from bandlimit.cli import main
from bandlimit.evaluation import EvaluationResult, HeatmapResult


@pytest.fixture
def model_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``<module>:build`` of the interpolating linear model (a fresh module name per test)."""
    return importable_model(tmp_path, monkeypatch)


def _evaluate(model: str, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "--model", model, "--attack", "fgsm", "--n", "8", "--batch-size", "4",
            "--out", str(out), "--quiet", *extra]  # fmt: skip


def _heatmap(model: str, out: Path, *extra: str) -> list[str]:
    return ["heatmap", "--model", model, "--n", "2", "--cells", "central:3", "--out", str(out), "--quiet", *extra]


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    """Stderr as one line (the console may wrap long lines)."""
    return " ".join(capsys.readouterr().err.split())


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


# ---------------------------------------------------------------------------- occupied --out
def test_heatmap_refuses_a_finished_evaluation_then_overwrite_replaces_it(
    tmp_path: Path, model_spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(_evaluate(model_spec, out)) == 0
    before = _snapshot(out)
    capsys.readouterr()
    for argv in (_heatmap(model_spec, out), _evaluate(model_spec, out), ["spectrum", "--model", model_spec,
                 "--attack", "fgsm", "--n", "2", "--out", str(out), "--quiet"]):  # fmt: skip
        assert main(argv) == 2
        message = _err(capsys)
        assert "already holds another run" in message and "results.json" in message and "--overwrite" in message
        assert _snapshot(out) == before  # results, config, report and figures untouched
    assert main(_heatmap(model_spec, out, "--overwrite")) == 0
    assert HeatmapResult.load(out / "results.json").n == 2
    # Nothing of the evaluation is left to be mistaken for part of the heat map's run.
    assert not (out / "state.pt").exists() and not (out / "figures" / "accuracy_vs_eps_linf.png").exists()


def test_a_run_refused_before_its_work_leaves_nothing_behind(
    tmp_path: Path, model_spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "run"
    assert main(_evaluate(str(tmp_path / "missing.pt"), out)) == 2  # the model is refused after --out was checked
    assert main(_heatmap(model_spec, out, "--cells", "central:99")) == 2  # refused once the image size is known
    assert main(["spectrum", "--model", model_spec, "--data", f"npz:{tmp_path / 'no.npz'}", "--out", str(out)]) == 2
    assert not (tmp_path / "new").exists()  # no empty figures/ (nor the folder) left behind
    assert list(tmp_path.glob(".write-test-*")) == []


def test_demo_replaces_an_earlier_demo_but_not_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bandlimit.cli.demo.measure as measure

    class Reached(Exception):
        pass

    def run_demo(*args: Any, **kwargs: Any) -> None:
        raise Reached

    monkeypatch.setattr(measure, "run_demo", run_demo)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"schema": "bandlimit-demo/1"}))
    with pytest.raises(Reached):  # an earlier demo's folder is taken: the demo starts its work
        main(["demo", "--out", str(out)])
    (out / "results.json").write_text(json.dumps({"schema_version": 1, "kind": "evaluation"}))
    assert main(["demo", "--out", str(out)]) == 2
    assert "already holds another run" in _err(capsys)
    with pytest.raises(Reached):
        main(["demo", "--out", str(out), "--overwrite"])


# ------------------------------------------------------------------------------------ --seed
_NOISY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    """
)


def _numbers(path: Path) -> dict[str, Any]:
    """results.json without what may differ between identical runs (timings, environment)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("time_s", "environment")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(path.read_text()))


def test_seed_fixes_a_randomised_defence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An untrained linear model: noise of radius 8 flips its decisions, so the draws show.
    name = f"noisy_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(_NOISY)
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["evaluate", "--model", f"{name}:build", "--defense", "postavg:radius=8,samples=1", "--attack", "fgsm",
            "--eps", "1/255", "--n", "16", "--seed", "0", "--eot", "off", "--no-checks", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert _numbers(tmp_path / "a" / "results.json") == _numbers(tmp_path / "b" / "results.json")


# ------------------------------------------------------------------------------------ Ctrl-C
def test_second_ctrl_c_claims_no_results(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bandlimit.evaluation as evaluation

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # the first Ctrl-C, then the second during the partial write

    monkeypatch.setattr(evaluation, "evaluate", interrupted)
    out = tmp_path / "run"
    assert main(_evaluate(model_spec, out)) == 130
    message = _err(capsys)
    assert not (out / "results.json").exists()
    assert "wrote no results" in message
    assert "results written" not in message and "marked incomplete" not in message


def test_ctrl_c_in_heatmap_claims_no_results(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bandlimit.evaluation as evaluation

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "fourier_heatmap", interrupted)
    out = tmp_path / "hm"
    assert main(_heatmap(model_spec, out)) == 130
    message = _err(capsys)
    assert "wrote no results" in message and "marked incomplete" not in message
    assert list(out.rglob("*.json")) == []


# --------------------------------------------------------------------------------- full disk
def _full_disk(monkeypatch: pytest.MonkeyPatch, when: Any) -> None:
    """Make every atomic write of a file for which ``when(path)`` holds fail with ENOSPC."""
    real = io._fill

    def fill(tmp: Path, content: Any) -> None:
        if when(tmp):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(tmp, content)

    monkeypatch.setattr(io, "_fill", fill)


def test_full_disk_while_drawing_keeps_the_heatmap_numbers(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _full_disk(monkeypatch, lambda tmp: tmp.suffix == ".png")
    out = tmp_path / "hm"
    assert main(_heatmap(model_spec, out)) == 2
    message = _err(capsys)
    assert "no space left" in message and "results.json" in message and "Traceback" not in message
    assert HeatmapResult.load(out / "results.json").n == 2  # the work is not lost
    assert list(out.rglob(".*tmp*")) == []  # no temporary file left


def test_full_disk_keeps_the_evaluation_state_then_resume_finishes(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with monkeypatch.context() as patch:
        _full_disk(patch, lambda tmp: ".results.json." in tmp.name)
        out = tmp_path / "run"
        assert main(_evaluate(model_spec, out)) == 2
    message = _err(capsys)
    assert "no space left" in message and "--resume" in message and "Traceback" not in message
    assert (out / "state.pt").is_file() and not (out / "results.json").exists()
    assert main(_evaluate(model_spec, out, "--resume")) == 0
    assert EvaluationResult.load(out / "results.json").complete


def test_too_little_room_is_refused_before_any_work(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    import bandlimit.cli._runs as runs
    import bandlimit.cli.names as names

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the free space was checked")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(runs.shutil, "disk_usage", lambda path: usage._replace(free=2**20))
    monkeypatch.setattr(names, "load_model", fail)
    for argv in (_evaluate(model_spec, tmp_path / "a"), _heatmap(model_spec, tmp_path / "b")):
        assert main(argv) == 2
        assert "MiB free" in _err(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_full_disk_in_training_keeps_the_state_then_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics_writes = []

    def second_metrics(tmp: Path) -> bool:  # the disk fills up during the second epoch's writes
        if ".metrics.json." in tmp.name:
            metrics_writes.append(tmp)
        return len(metrics_writes) == 2

    out = tmp_path / "train"
    argv = ["train", "--model", "resnet20", "--data", "cifar10-sample", "--train-split", "test", "--n-train", "8",
            "--batch-size", "8", "--epochs", "2", "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    with monkeypatch.context() as patch:
        _full_disk(patch, second_metrics)
        assert main(argv) == 2
    message = _err(capsys)
    assert "no space left" in message and "Traceback" not in message
    assert "state.pt" in message and "--resume" in message
    assert main(argv) == 2  # the interrupted run is not replaced by accident
    assert "--resume" in _err(capsys)
    assert main([*argv, "--resume"]) == 0
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2
