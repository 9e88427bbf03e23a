"""Tests of bandlimit.models.checkpoint: round trips, atomic writes, external layouts, safe loading, clear errors."""

from __future__ import annotations

import logging
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import bandlimit.models.checkpoint as ckpt_mod
from bandlimit.models import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    create_model,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)

REQUIRED_META = {
    "architecture",
    "num_classes",
    "mean",
    "std",
    "dataset",
    "recipe",
    "metrics",
    "bandlimit_version",
    "torch_version",
    "created",
}


def _trained_resnet20(**kwargs: Any) -> nn.Module:
    """A resnet20 whose BN statistics differ from the init (so a round trip is not trivially equal)."""
    torch.manual_seed(0)
    model = create_model("resnet20", **kwargs)
    with torch.no_grad():
        model(torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)))  # updates running stats
    return model.eval()


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key, value in sa.items():
        torch.testing.assert_close(sb[key], value, rtol=0, atol=0, msg=key)


def _bare_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- round trip


def test_round_trip_builds_model_from_metadata(tmp_path: Path) -> None:
    model = _trained_resnet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    opt.step()
    model.eval()
    extra = {"optimizer": opt.state_dict(), "epoch": 3, "rng": {"torch": torch.get_rng_state()}}
    path = save_checkpoint(
        tmp_path / "run" / "last.pt", model, metadata={"recipe": "natural", "metrics": {"clean": 0.9}}, extra=extra
    )
    assert path == tmp_path / "run" / "last.pt"
    loaded = load_checkpoint(path)
    assert not loaded.training
    _assert_same_weights(model, loaded)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.bandlimit_meta["recipe"] == "natural" and loaded.bandlimit_meta["metrics"] == {"clean": 0.9}

    raw = read_checkpoint(path)
    assert raw["format"] == "bandlimit-checkpoint" and raw["version"] == 1
    assert REQUIRED_META <= set(raw["meta"])
    assert raw["meta"]["architecture"] == "resnet20" and raw["meta"]["num_classes"] == 10
    assert raw["meta"]["torch_version"] == str(torch.__version__)
    assert raw["epoch"] == 3
    torch.testing.assert_close(raw["rng"]["torch"], extra["rng"]["torch"])
    fresh = torch.optim.SGD(loaded.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(raw["optimizer"])  # the training loop can resume from `extra`
    assert fresh.state_dict()["param_groups"][0]["momentum"] == 0.9


def test_round_trip_keeps_normalisation_and_architecture_kwargs(tmp_path: Path) -> None:
    model = _trained_resnet20(mean=CIFAR10_MEAN, std=CIFAR10_STD)
    save_checkpoint(tmp_path / "a.pt", model)
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert loaded.bandlimit_meta["mean"] == CIFAR10_MEAN
    assert loaded.normalize.stats[1] == pytest.approx(CIFAR10_STD)

    wrn = create_model("wideresnet28_10", depth=10, widen_factor=1, num_classes=3)
    save_checkpoint(tmp_path / "w.pt", wrn)
    rebuilt = load_checkpoint(tmp_path / "w.pt")
    assert rebuilt.bandlimit_meta["kwargs"] == {"depth": 10, "widen_factor": 1}
    _assert_same_weights(wrn, rebuilt)


def test_normalisation_mismatch_is_an_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", _trained_resnet20(mean=CIFAR10_MEAN, std=CIFAR10_STD))
    with pytest.raises(
        ValueError, match=r"trained with normalisation mean=\(0.4914.*model normalises with mean=\(0.485"
    ):
        load_checkpoint(tmp_path / "c.pt", create_model("resnet20"))


def test_wrapped_models_save_without_module_prefix(tmp_path: Path) -> None:
    model = _trained_resnet20()
    save_checkpoint(tmp_path / "dp.pt", nn.DataParallel(model))
    keys = read_checkpoint(tmp_path / "dp.pt")["state_dict"].keys()
    assert not any(k.startswith("module.") for k in keys) and "conv1.weight" in keys
    _assert_same_weights(model, load_checkpoint(tmp_path / "dp.pt"))


def test_user_model_without_metadata(tmp_path: Path, tiny_model: nn.Module) -> None:
    save_checkpoint(tmp_path / "t.pt", tiny_model)
    meta = read_checkpoint(tmp_path / "t.pt")["meta"]
    assert meta["num_classes"] == 10 and meta["architecture"] is None  # inferred from the last Linear
    clone = type(tiny_model)()
    _assert_same_weights(tiny_model, load_checkpoint(tmp_path / "t.pt", clone))
    with pytest.raises(ValueError, match="no bandlimit metadata naming its architecture"):
        load_checkpoint(tmp_path / "t.pt")


# --------------------------------------------------------------------------- atomic writes


def test_crash_during_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.pt"
    old = _trained_resnet20()
    save_checkpoint(path, old, metadata={"metrics": {"epoch": 1}})
    before = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    real_save = torch.save

    def crash_half_way(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)  # half the bytes are on disk when the "power goes out"
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash_half_way)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_checkpoint(path, create_model("resnet20"), metadata={"metrics": {"epoch": 2}})
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert read_checkpoint(path)["meta"]["metrics"] == {"epoch": 1}
    _assert_same_weights(old, load_checkpoint(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"], "temporary file left behind"


def test_interrupt_before_rename_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _trained_resnet20())
    before = path.read_bytes()

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, create_model("resnet20"))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt"]


# --------------------------------------------------------------------------- external layouts


@pytest.mark.parametrize(
    "layout",
    ["bare", "state_dict", "model", "module_prefix", "compile_prefix", "state_dict_with_module_prefix"],
)
def test_external_layouts(tmp_path: Path, layout: str) -> None:
    source = _trained_resnet20()
    state = _bare_state(source)
    payload: dict[str, Any] = {
        "bare": state,
        "state_dict": {"state_dict": state, "best_prec1": 91.0},
        "model": {"model": state, "epoch": 200},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
        "compile_prefix": {f"_orig_mod.{k}": v for k, v in state.items()},
        "state_dict_with_module_prefix": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
    }[layout]
    torch.save(payload, tmp_path / "ext.th")
    loaded = load_checkpoint(tmp_path / "ext.th", create_model("resnet20"))
    assert not loaded.training
    _assert_same_weights(source, loaded)


def test_public_layout_without_num_batches_tracked(tmp_path: Path) -> None:
    source = _trained_resnet20()
    state = {f"module.{k}": v for k, v in _bare_state(source).items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state, "best_prec1": 91.78}, tmp_path / "public.th")
    loaded = load_checkpoint(tmp_path / "public.th", create_model("resnet20"))
    for key, value in state.items():
        torch.testing.assert_close(loaded.state_dict()[key.removeprefix("module.")], value, rtol=0, atol=0)


def test_upstream_torchvision_state_dict_into_wrapper(tmp_path: Path) -> None:
    torch.manual_seed(0)
    import torchvision

    upstream = torchvision.models.squeezenet1_1(num_classes=4)
    torch.save(upstream.state_dict(), tmp_path / "sq.pth")
    model = load_checkpoint(tmp_path / "sq.pth", create_model("tv_squeezenet1_1", num_classes=4))
    torch.testing.assert_close(model.net.features[0].weight, upstream.features[0].weight, rtol=0, atol=0)


# --------------------------------------------------------------------------- errors


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, _trained_resnet20())
    data = good.read_bytes()
    for name, content in (("half.pt", data[: len(data) // 2]), ("empty.pt", b""), ("text.pt", b"hello " * 50)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=r"cannot read .*: the file is truncated or not a PyTorch checkpoint"):
            load_checkpoint(tmp_path / name, create_model("resnet20"))
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match=r"no state dict found; .* got keys \['epoch', 'lr'\]"):
        load_checkpoint(tmp_path / "foreign.pt", create_model("resnet20"))
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match=r"expected a dict .* got Tensor"):
        load_checkpoint(tmp_path / "tensor.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "a.pt", _trained_resnet20())
    payload = read_checkpoint(path)
    payload["version"] = 99
    torch.save(payload, path)
    with pytest.raises(ValueError, match="format version 99 is newer"):
        load_checkpoint(path)


def test_missing_and_unexpected_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = _trained_resnet20()
    state = _bare_state(source)
    del state["layer3.2.bn2.bias"]
    state["extra_head.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(
        ValueError,
        match=r"missing from the checkpoint: 'layer3.2.bn2.bias'; unexpected in the checkpoint: 'extra_head.weight'",
    ):
        load_checkpoint(tmp_path / "m.pt", create_model("resnet20"))
    target = create_model("resnet20")
    kept = target.layer3[2].bn2.bias.detach().clone()
    with caplog.at_level(logging.WARNING, logger="bandlimit.models.checkpoint"):
        loaded = load_checkpoint(tmp_path / "m.pt", target, strict=False)
    assert "strict=False" in caplog.text
    torch.testing.assert_close(loaded.conv1.weight, source.conv1.weight, rtol=0, atol=0)
    torch.testing.assert_close(loaded.layer3[2].bn2.bias, kept, rtol=0, atol=0)
    # A different depth is a key mismatch that names the extra blocks.
    with pytest.raises(ValueError, match=r"missing from the checkpoint: 'layer1.3.conv1.weight'"):
        load_checkpoint(tmp_path / "m.pt", create_model("resnet32"), strict=True)


def test_class_count_mismatch(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c100.pt", create_model("resnet20", num_classes=100))
    with pytest.raises(
        ValueError, match="checkpoint has 100 classes, model has 10; build the model with num_classes=100"
    ):
        load_checkpoint(tmp_path / "c100.pt", create_model("resnet20"))
    # Without metadata the class count is read off the classifier's shape.
    torch.save(create_model("resnet20", num_classes=100).state_dict(), tmp_path / "bare100.pt")
    with pytest.raises(ValueError, match="checkpoint has 100 classes, model has 10"):
        load_checkpoint(tmp_path / "bare100.pt", create_model("resnet20"))
    # With strict=False too: shapes and classes must always match.
    with pytest.raises(ValueError, match="checkpoint has 100 classes"):
        load_checkpoint(tmp_path / "bare100.pt", create_model("resnet20"), strict=False)


def test_shape_mismatch(tmp_path: Path) -> None:
    torch.save(create_model("wideresnet28_10", depth=10, widen_factor=2).state_dict(), tmp_path / "w2.pt")
    with pytest.raises(ValueError, match=r"shape mismatch for .* 'block1.layer.0.conv1.weight': checkpoint \(32, 16"):
        load_checkpoint(tmp_path / "w2.pt", create_model("wideresnet28_10", depth=10, widen_factor=1))


_UNPICKLED: list[str] = []


def _record_unpickle(tag: str) -> str:
    _UNPICKLED.append(tag)
    return tag


class _Payload:
    """An object whose unpickling would run code (here: record that it ran)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record_unpickle, ("executed",))


def test_arbitrary_objects_are_refused_not_unpickled(tmp_path: Path) -> None:
    state = _bare_state(create_model("resnet20"))
    torch.save({"state_dict": state, "hook": _Payload()}, tmp_path / "evil.pt")
    _UNPICKLED.clear()
    with pytest.raises(ValueError, match=r"refusing to load .* weights_only=True"):
        load_checkpoint(tmp_path / "evil.pt", create_model("resnet20"))
    assert _UNPICKLED == [], "the payload was executed"
    # Sanity: a full unpickle of the same file would run it (so the check above can fail).
    with open(tmp_path / "evil.pt", "rb") as f:
        torch.load(f, weights_only=False, pickle_module=pickle)
    assert _UNPICKLED == ["executed"]


def test_save_rejects_values_that_would_not_load(tmp_path: Path) -> None:
    model = create_model("resnet20")
    with pytest.raises(TypeError, match=r"checkpoint\['rng'\]\['numpy'\]: .*numpy.ndarray; convert it with torch"):
        save_checkpoint(tmp_path / "x.pt", model, extra={"rng": {"numpy": np.zeros(3)}})
    with pytest.raises(ValueError, match=r"extra: expected keys other than .* got \['meta'\]"):
        save_checkpoint(tmp_path / "x.pt", model, extra={"meta": {}})
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        save_checkpoint(tmp_path / "x.pt", {"a": 1})  # type: ignore[arg-type]
    assert not (tmp_path / "x.pt").exists()


# --------------------------------------------------------------------- issue 12 faults
def test_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match=r"expected a file, got a folder; name the file inside it"):
        load_checkpoint(tmp_path / "run")
    with pytest.raises(ValueError, match=r"folder"):
        save_checkpoint(tmp_path / "run", create_model("resnet20"))
    assert list((tmp_path / "run").iterdir()) == []  # no temporary file left in it


def test_random_bytes_are_not_called_python_objects(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(bytes(range(256)) * 16)
    with pytest.raises(ValueError, match=r"not a PyTorch checkpoint") as info:
        load_checkpoint(tmp_path / "junk.pt")
    assert "Python objects" not in str(info.value)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_file_cut_anywhere_is_one_clear_error(tmp_path: Path, fraction: float) -> None:
    save_checkpoint(tmp_path / "good.pt", create_model("resnet20"))
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=r"cannot read .*: the file is truncated or not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    model = create_model("resnet20")
    save_checkpoint(tmp_path / "good.pt", model)
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    payload["state_dict"]["linear.weight"][0, 0] = float("nan")
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"non-finite weights .* 'linear.weight'"):
        load_checkpoint(tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"non-finite weights"):
        load_checkpoint(tmp_path / "nan.pt", create_model("resnet20"))


class TestDefendedCheckpoints:
    """Issue 15: a checkpoint saved from a defended model never loads as the bare model silently."""

    @staticmethod
    def _saved(tmp_path: Path, spec: str) -> tuple[Path, torch.nn.Module]:
        from bandlimit.cli.names import apply_defenses

        torch.manual_seed(0)
        defended = apply_defenses(create_model("resnet20").eval(), [spec])
        path = tmp_path / "defended.pt"
        save_checkpoint(path, defended)
        return path, defended

    @pytest.mark.parametrize(
        "spec", ["lowpass:bandwidth=8", "highpass:radius=3", "postavg:radius=0.5,samples=4,seed=3"]
    )
    def test_refused_into_the_bare_architecture_and_rebuilt_by_the_cli(self, tmp_path: Path, spec: str) -> None:
        from bandlimit.cli.names import resolve_model
        from bandlimit.models import CheckpointMismatchError

        path, defended = self._saved(tmp_path, spec)
        for load in (lambda: load_checkpoint(path, create_model("resnet20")), lambda: load_checkpoint(path)):
            with pytest.raises(CheckpointMismatchError, match=r"wrapped by the defence .*drop the defence.*--model"):
                load()
        inner = load_checkpoint(path, inner=True)
        assert type(inner).__name__ == "CifarResNet"
        rebuilt = resolve_model(str(path))
        x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(x), defended.eval()(x), rtol=0, atol=1e-6)

    def test_a_smoothed_model_is_its_own_weights(self, tmp_path: Path) -> None:
        # First-layer smoothing changes the weights, not the structure: it loads as the architecture.
        path, defended = self._saved(tmp_path, "smooth:rho=0.25")
        loaded = load_checkpoint(path, create_model("resnet20"))
        x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), defended.eval()(x), rtol=0, atol=1e-6)


def test_a_lin_post_averaged_checkpoint_is_rebuilt_with_its_settings(tmp_path: Path) -> None:
    from bandlimit.cli.names import resolve_model
    from defenses import LinPostAveraging

    torch.manual_seed(0)
    defended = LinPostAveraging(create_model("resnet20").eval(), radius=6.0, samples=2, seed=5)
    save_checkpoint(tmp_path / "lin.pt", defended)
    rebuilt = resolve_model(str(tmp_path / "lin.pt"))
    assert isinstance(rebuilt, LinPostAveraging) and rebuilt.config == defended.config
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), defended(x), rtol=0, atol=1e-6)
