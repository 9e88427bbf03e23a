"""The shared core helpers: registry, attack protocol, device rule, JSON, environment, model guard."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from bandlimit._checks import check_bool
from bandlimit._env import environment
from bandlimit._io import jsonable, write_json
from bandlimit._torch import model_guard, resolve_device
from bandlimit.attack import Attack, AttackResult, ThreatModel, distance, eps_text
from bandlimit.registry import Registry


class TestRegistry:
    def test_register_get_iterate(self) -> None:
        reg: Registry[int] = Registry("number")
        assert reg.register("one", 1, help="first") == 1
        reg.register("two", 2)
        assert reg.get("one").obj == 1 and reg.get("one").help == "first"
        assert [e.name for e in reg] == ["one", "two"] and len(reg) == 2
        assert "two" in reg and "three" not in reg and 3 not in reg
        assert reg.names("t*") == ["two"]

    def test_unknown_name_lists_close_matches_and_known(self) -> None:
        reg: Registry[int] = Registry("number")
        reg.register("seven", 7)
        with pytest.raises(ValueError, match=r"unknown number 'sevn'; did you mean 'seven'\? known: seven"):
            reg.get("sevn")
        with pytest.raises(TypeError, match="expected a name"):
            reg.get(7)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="non-empty string"):
            reg.register("", 1)

    def test_resolver_serves_prefixed_names(self) -> None:
        reg: Registry[str] = Registry("thing")
        reg.add_resolver("x_", lambda name: None if name == "x_bad" else reg_entry(name))
        assert reg.get("x_ok").obj == "x_ok" and "x_ok" in reg
        with pytest.raises(ValueError, match="x_<name>"):
            reg.get("x_bad")


def reg_entry(name: str):
    from bandlimit.registry import Entry

    return Entry(name, name)


class TestThreatModel:
    def test_distance_analytic(self) -> None:
        delta = torch.tensor([[3.0, -4.0], [0.0, 0.5]])
        assert distance(delta, "l2").tolist() == [5.0, 0.5]
        assert distance(delta, "linf").tolist() == [4.0, 0.5]
        assert distance(delta, "l2", dtype=torch.float64).dtype == torch.float64
        assert ThreatModel("l2", 1.0).distance(delta).tolist() == [5.0, 0.5]
        with pytest.raises(ValueError, match="norm: expected one of"):
            distance(delta, "l1")

    def test_validation_key_and_text(self) -> None:
        t = ThreatModel("linf", 8 / 255)
        assert t.key == "linf/0.0313725" and str(t) == "linf 8/255"
        assert eps_text(0.5, "l2") == "0.5" and eps_text(math.inf) == "inf"
        with pytest.raises(ValueError, match="eps: expected a value >= 0"):
            ThreatModel("linf", -1.0)
        with pytest.raises(ValueError, match="norm: expected one of"):
            ThreatModel("l1", 1.0)
        with pytest.raises(TypeError, match="eps: expected a number"):
            ThreatModel("l2", True)  # type: ignore[arg-type]

    def test_protocol_is_structural(self) -> None:
        class Minimal:
            name = "minimal"
            threat = ThreatModel("linf", 0.0)
            randomized = False
            uses_gradients = False

            def run(self, model, x, y, *, targets=None, generator=None):
                return AttackResult(x_adv=x)

        assert isinstance(Minimal(), Attack)
        assert not isinstance(object(), Attack)


class TestResolveDevice:
    def test_auto_follows_model_then_machine(self) -> None:
        assert resolve_device(None, model=nn.Linear(2, 2)) == torch.device("cpu")
        assert resolve_device("auto", model=nn.ReLU()) == torch.device("cpu")  # no parameters: CPU
        expected = "cuda:0" if torch.cuda.is_available() else "cpu"
        assert resolve_device("auto") == torch.device(expected)
        assert resolve_device("cpu") == torch.device("cpu")

    def test_bad_devices(self) -> None:
        with pytest.raises(ValueError, match="expected 'auto', 'cpu'"):
            resolve_device("gpu0")
        with pytest.raises(TypeError, match="expected 'auto'"):
            resolve_device(3)  # type: ignore[arg-type]
        if not torch.cuda.is_available():
            with pytest.raises(ValueError, match="CUDA is not available"):
                resolve_device("cuda")


class TestJson:
    def test_rules(self, tmp_path) -> None:
        value = {"t": torch.tensor([1.0, math.nan]), "i": torch.tensor([1, 2]), "f": math.inf, "d": torch.device("cpu")}
        out = jsonable(value)
        assert out == {"t": [1.0, "NaN"], "i": [1, 2], "f": "Infinity", "d": "cpu"}
        path = write_json(tmp_path / "a.json", value)
        assert json.loads(path.read_text()) == out

    def test_environment_record(self) -> None:
        env = environment("cpu", world_size=2)
        assert env["device"] == "cpu" and env["world_size"] == 2
        assert env["versions"]["torch"] == torch.__version__
        json.dumps(env)


def test_check_bool() -> None:
    assert check_bool(False, "flag") is False
    for bad in (1, "no", None):
        with pytest.raises(TypeError, match="flag: expected True or False"):
            check_bool(bad, "flag")


def test_model_guard_restores_each_module_mode() -> None:
    inner = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval()
    wrapper = nn.Sequential(inner)  # a fresh wrapper is in train mode, its inner model is not
    assert wrapper.training and not inner[1].training
    with model_guard(wrapper):
        assert not any(m.training for m in wrapper.modules())
        assert not any(p.requires_grad for p in wrapper.parameters())
    assert wrapper.training and not inner.training and not inner[1].training
    assert all(p.requires_grad for p in wrapper.parameters())


def test_jsonable_writes_attacks_as_their_repr() -> None:
    from attacks import PGD

    attack = PGD(eps=0.5, steps=3)
    assert jsonable({"attack": attack}) == {"attack": repr(attack)}
    assert "_constraint" not in repr(attack) and repr(attack).startswith("PGD(eps=0.5")


# ------------------------------------------------------------------- progress display
class TestProgressDisplay:
    """Issue 15: outside a terminal the progress display prints plain lines instead of nothing."""

    @staticmethod
    def _console(terminal: bool) -> object:
        import io

        from rich.console import Console

        return Console(file=io.StringIO(), force_terminal=terminal, width=200)

    def test_plain_lines_outside_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from bandlimit import _progress

        clock = iter([0.0, 1.0, 2.0, 3.0, 50.0, 51.0, 52.0])
        monkeypatch.setattr(_progress, "_clock", lambda: next(clock))
        console = self._console(False)
        with _progress.progress_bar("evaluate", console=console) as update:
            assert update is not None
            update("pgd (samples 0+)", 0, 4)  # t=1: new description: a line
            update("pgd (samples 0+)", 1, 4)  # t=2: same description, 1 s later: no line
            update("apgd (samples 0+)", 1, 4)  # t=3: new description: a line with an ETA
            update("apgd (samples 0+)", 2, 4)  # t=50: 47 s since the last line: a line
            update("apgd (samples 0+)", 3, 4)  # t=51: nothing new to say yet
        lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]  # t=52: the last state on exit
        assert lines == [
            "evaluate: pgd (samples 0+)  0/4  elapsed 1s",
            "evaluate: apgd (samples 0+)  1/4  elapsed 3s  ETA 9s",
            "evaluate: apgd (samples 0+)  2/4  elapsed 50s  ETA 50s",
            "evaluate: apgd (samples 0+)  3/4  elapsed 52s  ETA 17s",
        ]

    def test_a_terminal_gets_the_bar_not_lines(self) -> None:
        from bandlimit._progress import progress_bar

        console = self._console(True)
        with progress_bar("evaluate", console=console, transient=False) as update:
            assert update is not None
            update("pgd (samples 0+)", 1, 2)
        out = console.file.getvalue()  # type: ignore[attr-defined]
        assert "pgd (samples 0+)" in out and "1/2" in out and "elapsed" not in out

    def test_durations(self) -> None:
        from bandlimit._progress import _duration

        assert [_duration(s) for s in (0.4, 59.4, 60, 185, 3600, 3725)] == [
            "0s",
            "59s",
            "1m00s",
            "3m05s",
            "1h00m",
            "1h02m",
        ]


# ------------------------------------------------------------------- threads
class TestThreads:
    """Issue 15: the default thread count does not collapse on a busy machine."""

    @pytest.mark.parametrize(
        ("load", "default", "expected"),
        [(0.0, 2, 2), (0.4, 2, 2), (1.2, 2, 1), (4.0, 2, 1), (3.0, 16, 13), (0.0, 1, 1), (-1.0, 4, 4)],
    )
    def test_auto_takes_the_cores_the_load_leaves_free(self, load: float, default: int, expected: int) -> None:
        from bandlimit._threads import auto_threads

        assert auto_threads(load=load, default=default) == expected

    def test_set_threads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import torch

        from bandlimit import _threads

        before = torch.get_num_threads()
        try:
            assert _threads.set_threads(1) == 1 and torch.get_num_threads() == 1
            monkeypatch.setattr(_threads, "auto_threads", lambda: 1)
            assert _threads.set_threads(None) == 1
            for bad in (0, -2, 1.5, True):
                with pytest.raises(ValueError, match="--threads: expected an integer >= 1"):
                    _threads.set_threads(bad)  # type: ignore[arg-type]
        finally:
            torch.set_num_threads(before)
