"""``bandlimit bench gpu``: the prepared GPU check stays runnable on a machine without a GPU.

The full ``--tiny`` run (every section on the CPU, random 16x16 images, a few steps) goes through
the command line in this process once per module; the tests read its JSON. The DDP section runs
the trainer's distributed path in a subprocess with the gloo backend and compares it with the
single-process run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from bandlimit.cli import main

SECTIONS = {"training", "attacks", "analyses", "agreement", "ddp", "adversarial"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON of one ``bench gpu --tiny`` run."""
    out = tmp_path_factory.mktemp("bench_gpu") / "tiny.json"
    assert main(["bench", "gpu", "--tiny", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_tiny_runs_every_section_and_writes_the_json(tiny: dict[str, Any]) -> None:
    assert tiny["tiny"] is True and tiny["device"] == "cpu"
    assert set(tiny["sections"]) == SECTIONS and not tiny["skipped"]
    for name, section in tiny["sections"].items():
        assert "error" not in section, (name, section.get("error"))
        assert section["wall_s"] > 0 and section["rows"], name
        for goal in section["goals"].values():  # every goal carries its value and a verdict
            assert isinstance(goal["met"], bool) and goal["goal"].startswith(("<=", ">="))
    training = tiny["sections"]["training"]["metrics"]
    assert set(training) == {"resnet20", "preact_resnet18"}
    for run in training.values():
        assert run["library"]["images_per_s"] > 0 and run["bare"]["images_per_s"] > 0
        assert run["ratio"] == pytest.approx(run["library"]["images_per_s"] / run["bare"]["images_per_s"])
    white = tiny["sections"]["attacks"]["metrics"]["white_box"]["runs"]
    assert {"bare fp32", "bare bf16", "PGD fp32", "PGD bf16", "APGD fp32", "APGD bf16"} <= set(white)
    assert set(tiny["sections"]["attacks"]["metrics"]["black_box"]) == {"square", "simba"}
    # torchattacks is either measured (its version recorded) or its absence explained.
    assert isinstance(tiny["sections"]["attacks"]["metrics"]["torchattacks"], str)
    assert tiny["sections"]["analyses"]["metrics"]["cells"] == 16 * 16 // 2 + 2  # one per conjugate pair
    # Agreement says why CPU and GPU need not match exactly.
    assert any("Exact equality is not expected" in note for note in tiny["sections"]["agreement"]["notes"])


def test_ddp_path_matches_the_single_process_run_on_gloo(tiny: dict[str, Any]) -> None:
    ddp = tiny["sections"]["ddp"]
    metrics = ddp["metrics"]
    assert metrics["backend"] == "gloo" and metrics["ddp_wrappers"] == 1  # the DDP wrapper really ran
    assert metrics["steps"] >= 2
    assert metrics["max_weight_diff"] <= 1e-6 and metrics["max_metric_diff"] <= 1e-9
    assert ddp["goals"]["ddp_weights"]["met"] and ddp["goals"]["ddp_metrics"]["met"]
    assert metrics["single_s"] > 0 and metrics["worker_s"] > 0  # both sides ran in their own process
    single, parallel = metrics["single_history"], metrics["ddp_history"]
    assert [r["epoch"] for r in single] == [r["epoch"] for r in parallel]


def test_without_cuda_it_says_so_and_what_it_would_measure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "none.json"
    assert main(["bench", "gpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "No CUDA device is present" in text
    assert all(name in text for name in SECTIONS) and "--tiny" in text
    assert not out.exists()  # nothing measured, nothing written


def test_missing_data_names_the_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["bench", "gpu", "--device", "cpu", "--data-root", str(tmp_path), "--only", "analyses"])
    assert code == 2
    missing, *explanation = capsys.readouterr().err.splitlines()
    assert "test_lossless_1028.npz" in missing and "cifar10-jpeg" not in missing  # analyses needs no JPEGs
    assert "cifar10_jpeg_q75.tar.gz" in " ".join(explanation)


def test_only_and_budget_choose_the_sections(tmp_path: Path) -> None:
    out = tmp_path / "some.json"
    assert main(["bench", "gpu", "--tiny", "--only", "analyses", "--out", str(out)]) == 0
    assert set(json.loads(out.read_text())["sections"]) == {"analyses"}
    assert main(["bench", "gpu", "--tiny", "--only", "ddp", "analyses", "--budget-s", "0", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert not result["sections"] and set(result["skipped"]) == {"analyses", "ddp"}
    assert all(why.startswith("budget") for why in result["skipped"].values())
