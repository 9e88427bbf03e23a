"""Smoke tests of the paper-reproduction scripts in experiments/ (tiny configs) and their shared glue.

Each script's ``main(cfg)`` runs end to end at a tiny scale on the public ResNet-20 weights of
``../shared/weights`` (skipped when absent), and must write results.json, SUMMARY.md and every
figure SUMMARY.md links to. The glue's small pure helpers are checked on analytic cases.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def load_script(name: str) -> ModuleType:
    """Import experiments/<name>.py (its folder on sys.path, as when run as a script)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def glue(name: str) -> ModuleType:
    """experiments/<name>.py of the shared glue (``_common``, ``_verdicts``), imported as the scripts do."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bandlimit checkpoint of the public ResNet-20 (CIFAR-10, ~92%), used for every model slot."""
    found = sorted((SHARED / "weights").glob("resnet20-*.th"))
    if not found:
        pytest.skip("public ResNet-20 weights not found in ../shared/weights")
    from bandlimit.models import create_model, load_checkpoint, save_checkpoint

    model = load_checkpoint(found[0], create_model("resnet20"))
    path = tmp_path_factory.mktemp("ckpt") / "resnet20.pt"
    save_checkpoint(path, model)
    return str(path)


@pytest.fixture(autouse=True)
def keep_threads() -> Iterator[None]:
    """The scripts set torch's thread count; restore it for the other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def check_outputs(out: Path, summary: dict) -> None:
    """results.json parses, SUMMARY.md has one row per claim and every linked figure exists."""
    assert json.loads((out / "results.json").read_text())["config"]["out_dir"] == str(out)
    text = (out / "SUMMARY.md").read_text()
    words = "|".join(glue("_verdicts").VERDICT_WORDS)
    for row in summary["table"]:
        cells = [row[k] for k in ("claim", "source", "model", "n", "ours", "verdict")]
        assert "| " + " | ".join(cells) + " |" in text
        assert all(cells), row  # every column filled: the model's training data, n, the source
        # The rule of RESULTS.md (experiments/_verdicts.py): the word first, its comparisons after.
        assert re.match(rf"({words})\b", row["verdict"]), row["verdict"]
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (out / link).is_file(), link


def smoke(name: str, tmp_path: Path, **changes: object) -> None:
    module = load_script(name)
    cfg = dataclasses.replace(module.Config(), threads=1, device="cpu", out_dir=str(tmp_path / name), **changes)
    summary = module.main(cfg)
    check_outputs(tmp_path / name, summary)


SLOTS3 = ("natural", "gaussian", "adversarial")


def test_yin_fourier_perspective(checkpoint: str, tmp_path: Path) -> None:
    smoke(
        "yin_fourier_perspective",
        tmp_path,
        **dict.fromkeys(SLOTS3, checkpoint),
        heatmap_images=4,
        heatmap_cells="central:3",
        filter_images=4,
        spectrum_images=4,
        pgd_steps=1,
        corruption_images=4,
    )


def test_yin_imagenet(tmp_path: Path) -> None:
    from bandlimit.models.imagenet import WEIGHTS_AVAILABLE, _lite_status

    settings = {
        "imagenet": "sample",
        "heatmap_images": 2,
        "cell_stride": 31,
        "filter_images": 2,
        "bandwidths": (8.0, 32.0),
    }
    if _lite_status() == WEIGHTS_AVAILABLE:
        smoke("yin_imagenet", tmp_path, **settings)
        return
    # Without the optional `lite` extra the script must say plainly that it did not run.
    module = load_script("yin_imagenet")
    out = tmp_path / "yin_imagenet"
    cfg = dataclasses.replace(module.Config(), threads=1, device="cpu", out_dir=str(out), **settings)
    summary = module.main(cfg)
    assert "skipped" in summary and "lite" in (out / "SUMMARY.md").read_text()


def test_lin_post_averaging(checkpoint: str, tmp_path: Path) -> None:
    smoke(
        "lin_post_averaging",
        tmp_path,
        natural=checkpoint,
        images=4,
        square_images=2,
        search_steps=2,
        search_pgd_steps=2,
        radii=(2.0,),
        k=2,
        pgd_steps=1,
        deepfool_steps=2,
        cw_steps=2,
        queries=4,
    )


def test_wang_hfc(checkpoint: str, tmp_path: Path) -> None:
    smoke(
        "wang_hfc",
        tmp_path,
        **dict.fromkeys(SLOTS3, checkpoint),
        split_images=4,
        radii=(4.0, 8.0),
        train_images=32,
        batch_size=16,
        epochs=1,
        track_images=4,
        rhos=(0.0, 0.5),
        eps=(2 / 255,),
        pgd_steps=1,
        smooth_images=2,
        min_eps_step=4 / 255,
        min_eps_max=8 / 255,
    )


def test_wang_hfc_reads_checkpoints(checkpoint: str, tmp_path: Path) -> None:
    """Part 2 from given per-epoch checkpoints instead of a training run (one record per file)."""
    module = load_script("wang_hfc")
    cfg = dataclasses.replace(module.Config(), checkpoints=checkpoint, track_images=2, radii=(8.0,))
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    out = module.training_curves(x, y, torch.device("cpu"), cfg)
    assert len(out["records"]) == 1 and out["records"][0]["checkpoint"] == checkpoint
    with pytest.raises(FileNotFoundError, match="--checkpoints"):
        module.training_curves(x, y, torch.device("cpu"), dataclasses.replace(cfg, checkpoints=str(tmp_path / "no*")))


def test_wang_hfc_training_curves_are_repeatable() -> None:
    """Part 2's short training run is seeded, initial weights included (reruns give the same curve)."""
    module = load_script("wang_hfc")
    cfg = dataclasses.replace(module.Config(), train_images=32, batch_size=16, epochs=1, track_images=2, radii=(8.0,))
    x, y = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1])
    runs = []
    for global_seed in (1, 2):  # the global generator's state must not matter
        torch.manual_seed(global_seed)
        runs.append(module.training_curves(x, y, torch.device("cpu"), cfg)["records"])
    assert runs[0] == runs[1] and runs[0][0]["train_acc"] is not None


def test_guo_simba(checkpoint: str, tmp_path: Path) -> None:
    smoke("guo_simba", tmp_path, natural=checkpoint, adversarial=checkpoint, images=2, max_queries=8, imagenet_images=0)


def test_sharma_band_pgd(checkpoint: str, tmp_path: Path) -> None:
    smoke("sharma_band_pgd", tmp_path, natural=checkpoint, adversarial=checkpoint, images=3, steps=1)


# --------------------------------------------------------------------------- glue helpers
def test_parse_config_full_then_overrides() -> None:
    module = load_script("sharma_band_pgd")
    common = sys.modules["_common"]
    cfg = common.parse_config(module.Config, "x", module.FULL, ["--full", "--steps", "3", "--eps", "0.1,0.2"])
    assert (cfg.images, cfg.steps, cfg.eps) == (1000, 3, (0.1, 0.2))
    assert common.parse_config(module.Config, "x", module.FULL, []) == module.Config()
    with pytest.raises(SystemExit):
        common.parse_config(module.Config, "x", module.FULL, ["--no-such-option", "1"])


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    """A stand-in for a script's config dataclass."""

    eps: tuple[float, ...] = (0.1, 0.2)
    out_dir: str | None = None


def test_run_summary_and_finish_run_write_results_and_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    common = glue("_common")
    timer = common.Timer()
    with timer("part"):
        pass
    table = [
        common.Row("claim A", "paper", "m1 (data)", "200", "12.3%", "agrees (rule)"),
        common.Row("claim B", "unverified", "m1 (data)", "0", "n/a", "inconclusive (rule)"),
    ]
    summary = common.run_summary(
        "Paper 2019",
        TinyConfig(out_dir=str(tmp_path)),
        "cifar10-sample",
        {"models": {"natural": "m1"}, "paper_numbers": {"a": 1}},
        device=torch.device("cpu"),
        timer=timer,
        results={"acc": float("nan")},
        table=table,
        results_key="robust_accuracy",
    )
    keys = ["paper", "config", "data", "models", "paper_numbers", "hardware", "runtime_s", "robust_accuracy", "table"]
    assert list(summary) == keys
    assert list(summary["runtime_s"]) == ["part", "total"]

    with caplog.at_level(logging.INFO, logger="experiments"):
        returned = common.finish_run(
            tmp_path,
            summary,
            title="Title",
            command="python experiments/x.py",
            setup="Setup sentence.",
            figures={"a figure": "fig.png"},
            notes="A note.",
        )
    assert returned is summary
    assert f"results in {tmp_path}" in caplog.text

    written = json.loads((tmp_path / "results.json").read_text())
    assert list(written) == keys
    assert written["config"] == {"eps": [0.1, 0.2], "out_dir": str(tmp_path)}
    assert written["robust_accuracy"] == {"acc": "NaN"}  # strict JSON has no NaN: the library's one rule
    assert written["table"][0] == {
        "claim": "claim A",
        "source": "paper",
        "model": "m1 (data)",
        "n": "200",
        "ours": "12.3%",
        "verdict": "agrees (rule)",
    }
    measured = f"Measured: {summary['runtime_s']['total']:.0f} s on {summary['hardware']}."
    lines = (tmp_path / "SUMMARY.md").read_text().splitlines()
    assert lines[:7] == [
        "# Title",
        "",
        "Reproduce:",
        "",
        "    python experiments/x.py",
        "",
        f"Setup sentence. {measured}",
    ]
    assert lines[8:12] == [
        "| paper's claim | source | model (training data) | n | our number [95 % interval] | verdict |",
        "|---|---|---|---|---|---|",
        "| claim A | paper | m1 (data) | 200 | 12.3% | agrees (rule) |",
        "| claim B | unverified | m1 (data) | 0 | n/a | inconclusive (rule) |",
    ]
    assert lines[-3:] == ["A note.", "", "![a figure](fig.png)"]


def test_run_main_runs_main_on_the_command_line_config(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_script("sharma_band_pgd")
    common = sys.modules["_common"]
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))  # basicConfig may add one
    monkeypatch.setattr(sys, "argv", ["sharma_band_pgd.py", "--full", "--steps", "3"])
    seen: list[object] = []
    common.run_main(module.Config, module.__doc__, module.FULL, seen.append)
    assert seen == [dataclasses.replace(module.Config(), **(module.FULL | {"steps": 3}))]


def test_combine_follows_the_rule() -> None:
    combine = glue("_verdicts").combine
    assert combine(["agrees", "agrees"], "r") == "agrees (r)"
    assert combine(["disagrees"], "r") == "disagrees (r)"
    assert combine(["agrees", "disagrees", "inconclusive"], "r").startswith("partly")
    assert combine(["agrees", "inconclusive"], "r").startswith("inconclusive")  # not established
    assert combine(["disagrees", "inconclusive"], "r").startswith("disagrees")  # a counter-example
    assert combine(["inconclusive", "inconclusive"], "r").startswith("inconclusive")
    with pytest.raises(ValueError, match="unknown verdicts"):
        combine(["yes"], "r")
    with pytest.raises(ValueError, match="at least one"):
        combine([], "r")


def test_measures_intervals_and_judgement() -> None:
    v = glue("_verdicts")
    a = v.rate(3, 10)
    assert (a.value, a.n) == (0.3, 10) and a.low < 0.3 < a.high
    assert str(a) == "30.0% [10.8, 60.3]"  # Wilson 95 %: 0.1078, 0.6032
    assert a.judge(">", 0.05) == "agrees" and a.judge(">", 0.7) == "disagrees"
    assert a.judge(">", 0.5) == "inconclusive"
    d = v.diff(v.rate(9, 10), v.rate(3, 10))
    assert str(d) == "+60.0 pts [+17.1, +80.9]"  # Newcombe (1998) Table II (b)
    assert d.judge(">", 0.0) == "agrees"
    m = v.mean_of([100.0, 100.0, 100.0])
    assert (m.value, m.low, m.high) == (100.0, 100.0, 100.0)
    assert str(v.rate(0, 0)) == "n/a" and v.rate(0, 0).judge(">", 0.5) == "inconclusive"
    assert str(v.mean_of([])) == "n/a"


def test_load_model_reads_the_public_weights() -> None:
    common = glue("_common")
    if not common.PUBLIC_RESNET20.is_file():
        pytest.skip("public ResNet-20 weights not found in ../shared/weights")
    model = common.load_model(str(common.PUBLIC_RESNET20), torch.device("cpu"))
    x, y, source = common.cifar_test(100, torch.device("cpu"))
    assert source.startswith("npz:../shared/")  # no machine path in committed results
    assert common.accuracy(model, x, y) > 0.85  # the public model: ~92 % on CIFAR-10


def test_trained_on_names_the_data() -> None:
    trained_on = glue("_common").trained_on
    assert "JPEG" in trained_on("resnet20-fastat")
    assert "4,660 lossless" in trained_on("resnet20-pgdat-lossless")
    assert "lossless" in trained_on("../shared/weights/resnet20-12fca82f.th")
    assert "unknown" in trained_on("/tmp/some-checkpoint.pt")


def test_ring_errors_analytic() -> None:
    module = load_script("yin_fourier_perspective")
    d = (torch.arange(32) - 16).abs()
    error = torch.maximum(d[:, None], d[None, :]).double() / 16  # error = Chebyshev radius / 16
    rings = module.ring_errors(error)
    assert rings["low"] == pytest.approx((0 + 8 * 1) / 9 / 16)
    assert rings["mid"] == pytest.approx((7 * 56 + 8 * 64 + 9 * 72) / (56 + 64 + 72) / 16)
    assert rings["high"] > rings["mid"] > rings["low"]


def test_imagenet_grid_cells_and_display() -> None:
    module = load_script("yin_imagenet")
    cells = module.grid_cells(224, 63, 4)
    assert cells.shape == (15 * 15, 2)
    assert [112, 112] in cells.tolist()  # DC is evaluated
    assert int((cells - 112).abs().max()) == 28
    error = torch.full((224, 224), float("nan"), dtype=torch.float64)
    error[cells[:, 0], cells[:, 1]] = 0.5
    shown = module.display_map(error, 63, 4)
    assert shown.shape == (63, 63) and not bool(shown.isnan().any())


def test_random_band_size_and_seed() -> None:
    module = load_script("sharma_band_pgd")
    a, b = module.random_band(32, 32, 64, 0), module.random_band(32, 32, 64, 0)
    assert int(a.sum()) == 64 and torch.equal(a, b)
    assert not torch.equal(a, module.random_band(32, 32, 64, 1))
