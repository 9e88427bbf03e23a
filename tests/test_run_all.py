"""experiments/run_all.py (one process per script, limits, budget, record) and tools/gather_results.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """run_all with three fake scripts: one succeeds, one fails, one hangs."""
    module = load(REPO / "experiments" / "run_all.py", "run_all_under_test")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "good.py").write_text(
        "import sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('--out-dir') + 1])\n"
        "(out / 'SUMMARY.md').write_text('# good\\n' + ' '.join(args))\n"
    )
    (scripts / "bad.py").write_text("import sys\nprint('boom')\nsys.exit(3)\n")
    (scripts / "slow.py").write_text("import time\ntime.sleep(30)\n")
    monkeypatch.setattr(module, "HERE", scripts)
    monkeypatch.setattr(
        module, "SCRIPTS", {"good": {"full": 1, "cpu": 1}, "bad": {"full": 1, "cpu": 1}, "slow": {"full": 1, "cpu": 1}}
    )
    return module


def test_runs_each_script_and_records_failures(run_all: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = run_all.main(["--full", "--device", "cpu", "--timeout-s", "3", "--out", str(out), "--no-gather"])
    assert rc == 1  # one failed, one timed out
    record = json.loads((out / "run_all.json").read_text())
    assert record["good"]["returncode"] == 0 and not record["good"]["skipped"]
    assert "--full --device cpu --out-dir" in (out / "good" / "SUMMARY.md").read_text()
    assert record["bad"]["returncode"] == 3
    assert "boom" in (out / "bad" / "run.log").read_text()
    assert record["slow"]["timed_out"] is True and record["slow"]["seconds"] < 20


def test_only_and_budget(run_all: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_all.main(["--only", "good", "--out", str(out), "--no-gather"]) == 0
    assert list(json.loads((out / "run_all.json").read_text())) == ["good"]
    # A budget smaller than a script's expected time starts nothing, and says why.
    assert run_all.main(["--budget-s", "0.5", "--out", str(out), "--no-gather"]) == 0
    record = json.loads((out / "run_all.json").read_text())
    assert all(r["skipped"] and "budget" in r["reason"] for r in record.values())


def test_default_limits(run_all: ModuleType) -> None:
    assert run_all.parse_args(["--full"]).timeout_s == 600.0  # the 10 minutes on a GPU
    assert run_all.parse_args([]).timeout_s == 1800.0


@pytest.mark.parametrize("argv", [["--timeout-s", "0"], ["--budget-s", "-1"], ["--only", "nope"]])
def test_bad_arguments(run_all: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        run_all.parse_args(argv)
    assert err.value.code == 2


def test_gather_results_includes_rule_models_and_paper_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gather = load(REPO / "tools" / "gather_results.py", "gather_under_test")
    root = tmp_path / "experiments"
    (root / "results" / "sharma_band_pgd").mkdir(parents=True)
    (root / "results_full" / "sharma_band_pgd").mkdir(parents=True)
    (root / "results" / "sharma_band_pgd" / "SUMMARY.md").write_text("# S\n\nCPU body ![fig](a.png)\n")
    table = [{"verdict": "agrees (r)"}, {"verdict": "agrees (r)"}, {"verdict": "not comparable (why)"}]
    (root / "results" / "sharma_band_pgd" / "results.json").write_text(json.dumps({"table": table}))
    (root / "results_full" / "sharma_band_pgd" / "SUMMARY.md").write_text("# S\n\nGPU body ![fig](a.png)\n")
    monkeypatch.setattr(gather, "ROOT", root)
    assert gather.main() == 0
    text = (root / "RESULTS.md").read_text()
    assert "**How to read a verdict.**" in text and "inconclusive" in text
    assert "resnet20-pgdat-lossless (fine-tuned from the public ResNet-20 on the 4,660 lossless" in text
    assert "CPU body ![fig](results/sharma_band_pgd/a.png)" in text
    assert "### Paper scale (`--full`)" in text and "![fig](results_full/sharma_band_pgd/a.png)" in text
    assert "| 5. Sharma et al. 2019 — band-limited PGD | 2 | 0 | 0 | 0 | 1 | 0 |" in text
    assert "Not run yet in this repository. Run: `python experiments/wang_hfc.py`" in text
