"""The bad-input catalogue, command line: every case must exit 2 with one clear error line and no traceback.

Every CLI case names the arguments and words stderr must contain. A new case is one line in
:data:`CLI_CASES`; the API cases are in ``test_bad_inputs_attacks.py`` and
``test_bad_inputs_harness.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from _bad_inputs import images, labels, net

from bandlimit.cli import main


# ------------------------------------------------------------------------------ CLI cases
@dataclass(frozen=True)
class CliCase:
    """``bandlimit <argv>`` must exit 2 with every word on stderr and no traceback.

    ``argv`` may use ``{tmp}`` (a fresh folder) and ``{out}`` (``{tmp}/out``); ``setup(tmp)``
    prepares files in the folder first.
    """

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


# Bad files for the CLI cases, written into the test's folder by ``setup``.
def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    """``setup`` writing ``data`` (bytes, or UTF-8 text) to ``tmp/name`` (folders created)."""

    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    return setup


def _folder(name: str) -> Callable[[Path], None]:
    """``setup`` making the folder ``tmp/name``."""
    return lambda tmp: (tmp / name).mkdir(parents=True)


def _npz(name: str, truncate: bool = False, **arrays: Any) -> Callable[[Path], None]:
    """``setup`` writing an npz of ``arrays`` (numpy-converted) to ``tmp/name``, cut in half if ``truncate``."""

    def setup(tmp: Path) -> None:
        import numpy as np

        path = tmp / name
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
        if truncate:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _uint8_images(n: int = 4) -> Any:
    """``n`` 8x8 RGB uint8 images in N,H,W,C (the layout of an npz dataset)."""
    return (images(n) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _checkpoint(name: str, *, nan: bool = False, truncate: bool = False, bare: bool = False) -> Callable[[Path], None]:
    """``setup`` saving the weights of :func:`net` to ``tmp/name``: with NaN weights, cut in half,
    or ``bare`` (a plain state_dict without bandlimit metadata)."""

    def setup(tmp: Path) -> None:
        from bandlimit.models import save_checkpoint

        model, path = net(), tmp / name
        if bare:
            torch.save(model.state_dict(), path)
        else:
            save_checkpoint(path, model)
        if nan:  # written by torch.save directly: save_checkpoint itself would refuse NaN weights
            state = torch.load(path, weights_only=True)
            state["state_dict"]["1.weight"][0, 0] = float("nan")
            torch.save(state, path)
        if truncate:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _defended_checkpoint(name: str) -> Callable[[Path], None]:
    """``setup`` saving a ResNet-20 behind a low-pass filter (its metadata names the defence)."""

    def setup(tmp: Path) -> None:
        from bandlimit.models import create_model, save_checkpoint
        from defenses import apply_defense

        save_checkpoint(tmp / name, apply_defense(create_model("resnet20"), "lowpass", bandwidth=8))

    return setup


def _pickled(name: str) -> Callable[[Path], None]:
    """``setup`` saving a Python object beyond tensors (an argparse.Namespace) with torch.save."""

    def setup(tmp: Path) -> None:
        import argparse

        torch.save({"state_dict": argparse.Namespace(weights=1)}, tmp / name)

    return setup


def _toml(text: str) -> Callable[[Path], None]:
    """``setup`` writing ``text`` to ``tmp/c.toml``."""
    return _write("c.toml", text)


def _state(payload: dict[str, Any]) -> Callable[[Path], None]:
    """``setup`` saving ``payload`` as ``tmp/out/state.pt`` (a foreign state file)."""

    def setup(tmp: Path) -> None:
        (tmp / "out").mkdir()
        torch.save(payload, tmp / "out" / "state.pt")

    return setup


_RANDOM = bytes(range(256)) * 8  # not a zip, not a pickle, not text
# A cheap evaluation of a model with weights (an architecture alone is refused).
_EV = ("evaluate", "--model", "resnet20-natural", "--attack", "fgsm", "--n", "2", "--out", "{out}")
_HM = ("heatmap", "--model", "resnet20-natural", "--n", "2", "--out", "{out}")
_SP = ("spectrum", "--model", "resnet20-natural", "--n", "2", "--out", "{out}")
_TR = ("train", "--data", "cifar10-sample", "--train-split", "test", "--epochs", "1", "--out", "{out}")
_CFG = ("--config", "{tmp}/c.toml")
_NPZ = ("--data", "npz:{tmp}/d.npz")

CLI_CASES: list[CliCase] = [
    # ---- the command line itself: one line, exit 2, no usage dump
    CliCase("unknown-command", ("evalute",), ("invalid choice", "evaluate")),
    CliCase("option-without-value", ("evaluate", "--eps"), ("--eps", "expected one argument")),
    CliCase("int-option-text", ("evaluate", "--n", "eight"), ("--n", "invalid int value")),
    CliCase("choice-option", ("evaluate", "--split", "dev"), ("--split", "invalid choice")),
    CliCase("norm-l1", ("evaluate", "--norm", "l1"), ("--norm", "invalid choice")),
    CliCase(
        "unknown-option",
        ("heatmap", "--cellz", "central:3"),
        ("unrecognized arguments", "--cellz", "bandlimit heatmap --help"),
    ),
    # ---- evaluate: attacks and budgets
    CliCase("evaluate-unknown-attack", ("evaluate", "--attack", "pgdd", "--out", "{out}"), ("unknown attack", "pgd")),
    CliCase("evaluate-bad-eps", ("evaluate", "--eps", "-1", "--out", "{out}"), ("eps", "> 0")),
    CliCase("evaluate-eps-8", ("evaluate", "--eps", "8", "--out", "{out}"), ("--eps", "8/255")),
    CliCase(
        "evaluate-model-without-weights",
        ("evaluate", "--model", "resnet20", "--n", "2", "--out", "{out}"),
        ("resnet20", "without shipped weights", "--checkpoint", "resnet20-natural"),
    ),
    CliCase(
        "heatmap-model-without-weights",
        ("heatmap", "--model", "wideresnet28_10", "--n", "2", "--out", "{out}"),
        ("wideresnet28_10", "random weights"),
    ),
    CliCase(
        "evaluate-data-did-you-mean",
        ("evaluate", "--model", "resnet20-natural", "--data", "cifar10-samples", "--out", "{out}"),
        ("--data", "did you mean", "'cifar10-sample'"),
    ),
    CliCase("evaluate-threads-zero", (*_EV, "--threads", "0"), ("--threads", ">= 1")),
    CliCase("heatmap-threads-negative", (*_HM, "--threads", "-1"), ("--threads", ">= 1")),
    CliCase("spectrum-threads-text", (*_SP, "--threads", "two"), ("--threads", "int")),
    CliCase("evaluate-eps-list-8", ("evaluate", "--eps", "2/255,8", "--out", "{out}"), ("8/255",)),
    CliCase("evaluate-eps-nan", ("evaluate", "--eps", "nan", "--out", "{out}"), ("eps > 0", "nan")),
    CliCase("evaluate-eps-inf", ("evaluate", "--eps", "inf", "--out", "{out}"), ("finite", "inf")),
    CliCase("evaluate-eps-text", ("evaluate", "--eps", "big", "--out", "{out}"), ("--eps", "big")),
    CliCase("evaluate-eps-empty", ("evaluate", "--eps", ",", "--out", "{out}"), ("--eps",)),
    CliCase("evaluate-pgd-eps-8", ("evaluate", "--attack", "pgd:eps=8", "--out", "{out}"), ("pgd:eps=8", "8/255")),
    CliCase(
        "evaluate-pgd-norm-l1",
        ("evaluate", "--attack", "pgd:norm=l1", "--out", "{out}"),
        ("pgd:norm=l1", "norm: expected one of"),
    ),
    CliCase("evaluate-attack-typo", ("evaluate", "--attack", "pgd:stepz=3", "--out", "{out}"), ("stepz",)),
    CliCase("evaluate-attack-steps-0", ("evaluate", "--attack", "pgd:steps=0", "--out", "{out}"), ("steps", ">= 1")),
    CliCase("evaluate-attack-no-value", ("evaluate", "--attack", "pgd:steps", "--out", "{out}"), ("pgd:steps",)),
    CliCase("evaluate-n-zero", ("evaluate", "--n", "0", "--out", "{out}"), ("--n", ">= 1")),
    CliCase("evaluate-batch-size-zero", ("evaluate", "--batch-size", "0", "--out", "{out}"), ("--batch-size", ">= 1")),
    CliCase("evaluate-seed-negative", ("evaluate", "--seed", "-1", "--out", "{out}"), ("--seed", ">= 0")),
    CliCase("evaluate-analysis-n-zero", ("evaluate", "--analysis-n", "0", "--out", "{out}"), ("--analysis-n",)),
    CliCase("evaluate-budget-negative", ("evaluate", "--budget", "-5", "--out", "{out}"), ("--budget", ">= 0")),
    CliCase("evaluate-budget-nan", ("evaluate", "--budget", "nan", "--out", "{out}"), ("--budget", ">= 0")),
    CliCase("evaluate-eot-text", ("evaluate", "--eot", "many", "--out", "{out}"), ("--eot", "many")),
    CliCase("evaluate-device-unknown", (*_EV, "--device", "tpu"), ("device", "tpu")),
    CliCase("evaluate-l2-eps-huge", (*_EV, "--norm", "l2", "--eps", "1000"), ("exceeds", "0.5")),
    # ---- evaluate: models, checkpoints and defences
    CliCase("evaluate-unknown-model", ("evaluate", "--model", "resnet2O", "--out", "{out}"), ("resnet2O", "resnet20")),
    CliCase("evaluate-model-missing-file", ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"), ("no such",)),
    CliCase(
        "evaluate-model-folder", ("evaluate", "--model", "{tmp}/m", "--out", "{out}"), ("folder",), setup=_folder("m")
    ),
    CliCase(
        "evaluate-model-random-bytes",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "not a PyTorch checkpoint"),
        setup=_write("m.pt", _RANDOM),
    ),
    CliCase(
        "evaluate-model-empty-file",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "empty"),
        setup=_write("m.pt", b""),
    ),
    CliCase(
        "evaluate-model-truncated",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "truncated"),
        setup=_checkpoint("m.pt", truncate=True),
    ),
    CliCase(
        "evaluate-model-nan-weights",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("non-finite weights", "1.weight"),
        setup=_checkpoint("m.pt", nan=True),
    ),
    CliCase(
        "evaluate-model-python-objects",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("refusing", "weights_only"),
        setup=_pickled("m.pt"),
    ),
    CliCase(
        "evaluate-checkpoint-of-a-defended-model",
        ("evaluate", "--model", "resnet20", "--checkpoint", "{tmp}/blur.pt", "--n", "2", "--out", "{out}"),
        ("LowPassFilter", "drop the defence", "--model"),
        setup=_defended_checkpoint("blur.pt"),
    ),
    CliCase(
        "evaluate-model-no-metadata",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("no bandlimit metadata",),
        setup=_checkpoint("m.pt", bare=True),
    ),
    CliCase(
        "evaluate-model-unknown-module",
        ("evaluate", "--model", "no_such_mod_xyz:build", "--out", "{out}"),
        ("no_such",),
    ),
    CliCase(
        "evaluate-checkpoint-mismatch",
        (*_EV, "--checkpoint", "{tmp}/m.pt"),
        ("does not match", "resnet20"),
        setup=_checkpoint("m.pt"),
    ),
    CliCase("evaluate-checkpoint-missing", (*_EV, "--checkpoint", "{tmp}/m.pt"), ("--checkpoint", "m.pt")),
    CliCase(
        "evaluate-checkpoint-folder", (*_EV, "--checkpoint", "{tmp}/m"), ("--checkpoint", "folder"), setup=_folder("m")
    ),
    CliCase(
        "evaluate-checkpoint-random-bytes",
        (*_EV, "--checkpoint", "{tmp}/m.pt"),
        ("--checkpoint", "not a PyTorch"),
        setup=_write("m.pt", _RANDOM),
    ),
    CliCase("evaluate-unknown-defense", (*_EV, "--defense", "postavgg"), ("postavgg", "postavg")),
    CliCase("evaluate-defense-missing-setting", (*_EV, "--defense", "postavg"), ("postavg", "radius")),
    CliCase("evaluate-defense-bad-setting", (*_EV, "--defense", "lowpass:bandwidth=-3"), ("lowpass", "bandwidth")),
    # ---- data files
    CliCase("data-unknown", (*_EV, "--data", "cifar11"), ("--data", "cifar11")),
    CliCase("data-npz-missing", (*_EV, *_NPZ), ("--data", "not found")),
    CliCase("data-npz-random-bytes", (*_EV, *_NPZ), ("not an npz file",), setup=_write("d.npz", _RANDOM)),
    CliCase("data-npz-empty-file", (*_EV, *_NPZ), ("not an npz file", "empty"), setup=_write("d.npz", b"")),
    CliCase(
        "data-npz-truncated",
        (*_EV, *_NPZ),
        ("truncated",),
        setup=_npz("d.npz", truncate=True, x=_uint8_images(64), y=labels(64)),
    ),
    CliCase(
        "data-npz-single-npy", (*_EV, *_NPZ), ("single .npy",), setup=_write("d.npz", b"\x93NUMPY\x01\x00" + _RANDOM)
    ),
    CliCase(
        "data-npz-negative-label",
        (*_EV, *_NPZ),
        ("labels >= 0", "'y'", "-1"),
        setup=_npz("d.npz", x=_uint8_images(), y=[0, 1, -1, 2]),
    ),
    CliCase(
        "data-npz-float-images",
        (*_EV, *_NPZ),
        ("--data", "uint8"),
        setup=_npz("d.npz", x=_uint8_images().astype("float32") / 255, y=labels()),
    ),
    CliCase(
        "data-npz-no-images",
        (*_EV, *_NPZ),
        ("no images",),
        setup=_npz("d.npz", x=_uint8_images()[:0], y=labels()[:0]),
    ),
    CliCase("data-npz-no-labels", (*_EV, *_NPZ), ("missing", "'y'"), setup=_npz("d.npz", x=_uint8_images())),
    CliCase(
        "data-npz-object-arrays",
        (*_EV, *_NPZ),
        ("object arrays",),
        setup=_npz("d.npz", x=_uint8_images(), y=__import__("numpy").array([0, 1, 2, None], dtype=object)),
    ),
    CliCase("data-folder-missing", (*_EV, "--data", "folder:{tmp}/imgs"), ("--data", "imgs")),
    # ---- the results folder
    CliCase("out-is-a-file", (*_EV,), ("existing file",), setup=_write("out", "x")),
    CliCase(
        "out-holds-results",
        (*_EV,),
        ("already holds", "results.json", "--overwrite"),
        setup=_write("out/results.json", "{}"),
    ),
    CliCase(
        "out-holds-evaluation-state",
        (*_EV,),
        ("already holds", "--resume", "--overwrite"),
        setup=_write("out/state.pt", _RANDOM),
    ),
    CliCase(
        "resume-random-bytes-state", (*_EV, "--resume"), ("--resume", "state.pt"), setup=_write("out/state.pt", _RANDOM)
    ),
    CliCase("resume-empty-state", (*_EV, "--resume"), ("--resume", "empty"), setup=_write("out/state.pt", b"")),
    CliCase(
        "resume-training-state",
        (*_EV, "--resume"),
        ("training state", "evaluate"),
        setup=_state({"format": "bandlimit-train-state/1", "run_id": "abc"}),
    ),
    CliCase(
        "resume-foreign-state",
        (*_EV, "--resume"),
        ("some other file", "evaluate run"),
        setup=_state({"weights": torch.ones(2)}),
    ),
    # ---- --config files
    CliCase("config-missing", (*_EV, *_CFG), ("--config", "c.toml")),
    CliCase("config-folder", (*_EV, "--config", "{tmp}"), ("--config", "folder")),
    CliCase("config-not-toml", (*_EV, *_CFG), ("not valid TOML",), setup=_toml("n = = 3")),
    CliCase("config-not-text", (*_EV, *_CFG), ("--config", "UTF-8"), setup=_write("c.toml", b"\xff\xfe\x00n = 3")),
    CliCase("config-unknown-key", (*_EV, *_CFG), ("unknown key", "attak"), setup=_toml('attak = "fgsm"')),
    CliCase("config-checks-no", (*_EV, *_CFG), ("checks", "true or false", "c.toml"), setup=_toml('checks = "no"')),
    CliCase("config-quiet-1", (*_EV, *_CFG), ("quiet", "true or false"), setup=_toml("quiet = 1")),
    CliCase("config-n-eight", (*_EV, *_CFG), ("n expected", "integer", "c.toml"), setup=_toml('n = "eight"')),
    CliCase(
        "config-n-zero", ("evaluate", "--out", "{out}", *_CFG), ("n expected", ">= 1", "c.toml"), setup=_toml("n = 0")
    ),
    CliCase("config-seed-float", (*_EV, *_CFG), ("seed", "integer"), setup=_toml("seed = 1.5")),
    CliCase("config-budget-soon", (*_EV, *_CFG), ("budget", "number", "c.toml"), setup=_toml('budget = "soon"')),
    CliCase("config-out-5", ("evaluate", *_CFG), ("out", "a string", "c.toml"), setup=_toml("out = 5")),
    CliCase("config-model-list", (*_EV, *_CFG), ("model", "a string"), setup=_toml('model = ["a", "b"]')),
    CliCase("config-attack-int", ("evaluate", *_CFG), ("attack", "list of strings"), setup=_toml("attack = 5")),
    CliCase("config-eps-true", (*_EV, *_CFG), ("eps",), setup=_toml("eps = true")),
    CliCase("config-eps-8", (*_EV, *_CFG), ("8/255",), setup=_toml("eps = 8")),
    CliCase("config-split-dev", (*_EV, *_CFG), ("split", "one of"), setup=_toml('split = "dev"')),
    CliCase("config-table", (*_EV, *_CFG), ("attack",), setup=_toml("[attack]\npgd = 1")),
    # ---- heatmap
    CliCase("heatmap-cells-99", (*_HM, "--cells", "central:99"), ("--cells", "K <= 32")),
    CliCase("heatmap-cells-zero", (*_HM, "--cells", "central:0"), ("--cells", "K >= 1")),
    CliCase("heatmap-cells-form", (*_HM, "--cells", "all"), ("--cells", "central:K")),
    CliCase("heatmap-norm-negative", (*_HM, "--norm-l2", "-1"), ("--norm-l2", "positive")),
    CliCase("heatmap-norm-nan", (*_HM, "--norm-l2", "nan"), ("--norm-l2", "positive")),
    CliCase("heatmap-n-zero", ("heatmap", "--n", "0", "--out", "{out}"), ("--n", ">= 1")),
    CliCase(
        "heatmap-out-holds-evaluation",
        (*_HM,),
        ("already holds", "--overwrite"),
        setup=_write("out/report.html", "<html></html>"),
    ),
    CliCase("heatmap-config-cells", (*_HM, *_CFG), ("cells", "a string"), setup=_toml("cells = 9")),
    # ---- spectrum
    CliCase("spectrum-low-above-high", (*_SP, "--low", "0.6", "--high", "0.2"), ("--low/--high", "low <= high")),
    CliCase("spectrum-low-negative", (*_SP, "--low", "-0.1"), ("--low/--high",)),
    CliCase("spectrum-eps-8", (*_SP, "--eps", "8"), ("8/255",)),
    CliCase("spectrum-unknown-attack", (*_SP, "--attack", "pgdd"), ("unknown attack",)),
    CliCase("spectrum-out-holds-results", (*_SP,), ("already holds",), setup=_write("out/results.json", "{}")),
    # ---- train
    CliCase("train-n-train-zero", (*_TR, "--n-train", "0"), ("--n-train", ">= 1")),
    CliCase("train-threads-zero", (*_TR, "--threads", "0"), ("--threads", ">= 1")),
    CliCase("train-threads-negative", (*_TR, "--threads", "-3"), ("--threads", ">= 1")),
    CliCase("train-epochs-zero", (*_TR, "--epochs", "0"), ("--epochs", ">= 1")),
    CliCase("train-unknown-recipe", (*_TR, "--recipe", "pgd-at"), ("--recipe", "pgd_at")),
    CliCase("train-unknown-model", (*_TR, "--model", "resnet2O"), ("--model", "resnet2O")),
    CliCase("train-eps-8", (*_TR, "--recipe", "pgd_at", "--eps", "8"), ("eps", "8/255")),
    CliCase("train-lr-text", (*_TR, "--lr", "fast"), ("--lr", "fast")),
    CliCase("train-config-lr-text", (*_TR, *_CFG), ("lr", "c.toml"), setup=_toml('lr = "fast"')),
    CliCase("train-config-augment-no", (*_TR, *_CFG), ("augment", "true or false"), setup=_toml('augment = "no"')),
    CliCase(
        "train-out-holds-results", (*_TR,), ("already holds", "--overwrite"), setup=_write("out/metrics.json", "{}")
    ),
    CliCase(
        "train-resume-random-bytes",
        (*_TR, "--resume"),
        ("resume", "state.pt"),
        setup=_write("out/state.pt", _RANDOM),
    ),
    CliCase(
        "train-resume-evaluation-state",
        (*_TR, "--resume"),
        ("resume", "training state", "bandlimit evaluate"),
        setup=_state({"fingerprint": "x", "batches": {}}),
    ),
    # ---- demo, models, bench
    CliCase("demo-n-zero", ("demo", "--n", "0", "--out", "{out}"), ("--n", "positive")),
    CliCase("demo-threads-zero", ("demo", "--threads", "0", "--out", "{out}"), ("--threads", ">= 1")),
    CliCase("demo-seed-negative", ("demo", "--seed", "-2", "--out", "{out}"), ("--seed", ">= 0")),
    CliCase(
        "demo-out-holds-other-run",
        ("demo", "--out", "{out}"),
        ("already holds", "--overwrite"),
        setup=_write("out/results.json", '{"schema_version": 1, "kind": "evaluation"}'),
    ),
    CliCase("models-card-unknown", ("models", "--card", "resnet2O"), ("resnet2O",)),
    CliCase("bench-unknown", ("bench", "nosuchbench"), ("nosuchbench",)),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_case(case: CliCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    argv = [a.format(tmp=tmp_path, out=tmp_path / "out") for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    for word in case.words:
        assert word in err, f"{word!r} not in {err!r}"


def test_catalogue_size() -> None:
    """The issue asks for at least 150 cases across the API and the command line."""
    from test_bad_inputs_attacks import ATTACK_CASES
    from test_bad_inputs_harness import HARNESS_CASES

    API_CASES = ATTACK_CASES + HARNESS_CASES
    assert len(API_CASES) >= 150 and len(CLI_CASES) >= 100
    assert len({c.id for c in API_CASES}) == len(API_CASES)  # every case named once
    assert len({c.id for c in CLI_CASES}) == len(CLI_CASES)
