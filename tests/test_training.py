"""Tests of bandlimit.training: augmentation, schedules, config, the loop, checkpoints, resume, CLI."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _data_helpers import _rand_images, _write_folder
from _doubles import BNConvNet
from torch import nn
from torch.nn import functional as F

from bandlimit.data import load_dataset, to_tensors
from bandlimit.training import (
    TrainConfig,
    augment_batch,
    evaluate_accuracy,
    learning_rate,
    random_crop,
    random_flip,
    read_training_state,
    train,
)
from bandlimit.training.data import as_tensors, compact_images
from defenses.recipes import GaussianAugmentation, NaturalTraining

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixtures
class BNDropNet(BNConvNet):
    """Tiny conv net with BatchNorm and dropout (exercises buffers and the global RNG)."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__(classes, pool=1, dropout=0.2)


def toy_data(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 noise images; label 1 images have a brighter red channel (learnable by a conv net)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 3, 8, 8, generator=g) * 195
    x[:, 0] += 60 * y.view(-1, 1, 1).float()
    return x.to(torch.uint8), y


def fresh_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return BNDropNet()


def cfg(**kw: object) -> TrainConfig:
    base = dict(epochs=3, batch_size=16, lr=0.05, device="cpu", quiet=True, eval_batch_size=32)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- augmentation
class TestAugment:
    def test_crop_is_a_translation_of_the_padded_image(self) -> None:
        g = torch.Generator().manual_seed(1)
        x = torch.rand(6, 3, 8, 8, generator=g)
        out = random_crop(x, 2, generator=torch.Generator().manual_seed(3))
        padded = F.pad(x, (2, 2, 2, 2))
        for i in range(6):  # independent check: the output equals one of the 25 windows
            windows = [padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
            assert any(torch.equal(out[i], w) for w in windows)

    def test_crop_offsets_vary_and_cover_the_range(self) -> None:
        x = torch.arange(64.0).view(1, 1, 8, 8).expand(400, 1, 8, 8).contiguous()
        out = random_crop(x, 4, generator=torch.Generator().manual_seed(0))
        shifts = {int(o.flatten()[o.flatten().nonzero()[0, 0]]) for o in out if o.any()}
        assert len(shifts) > 20  # many different offsets, one per image

    def test_crop_keeps_dtype_device_shape(self) -> None:
        x = (torch.rand(5, 3, 8, 8) * 255).to(torch.uint8)
        out = random_crop(x, 4, generator=torch.Generator().manual_seed(0))
        assert out.dtype == torch.uint8 and out.shape == x.shape
        assert torch.equal(random_crop(x, 0), x)

    def test_flip_probability_extremes(self) -> None:
        x = torch.rand(4, 3, 5, 7)
        assert torch.equal(random_flip(x, 1.0), x.flip(3))
        assert torch.equal(random_flip(x, 0.0), x)

    def test_augment_deterministic_with_seed(self) -> None:
        x = torch.rand(16, 3, 8, 8)
        a = augment_batch(x, generator=torch.Generator().manual_seed(5))
        b = augment_batch(x, generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b) and not torch.equal(a, x)

    def test_crop_errors(self) -> None:
        with pytest.raises(ValueError, match=r"expected shape \(N, C, H, W\)"):
            random_crop(torch.rand(3, 8, 8), 4)
        with pytest.raises(ValueError, match="padding"):
            random_crop(torch.rand(1, 3, 8, 8), -1)


# ------------------------------------------------------------------------------ schedules
class TestSchedule:
    def lrs(self, **kw: object) -> list[float]:
        c = TrainConfig(**{"epochs": 10, "lr": 1.0, **kw})  # type: ignore[arg-type]
        return [learning_rate(c, s, 10) for s in range(100)]

    def test_cyclic_is_wong_triangle(self) -> None:
        lrs = self.lrs(schedule="cyclic")
        assert lrs[49] == pytest.approx(1.0)  # peak at mid-training (step 50 of 100)
        assert lrs[0] == pytest.approx(0.02) and lrs[-1] == pytest.approx(0.0)
        assert lrs[74] == pytest.approx(0.5)

    def test_onecycle_warmup_then_linear_decay(self) -> None:
        lrs = self.lrs(schedule="onecycle", warmup=2)
        assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 19
        assert lrs[-1] == 0.0 and lrs[59] == pytest.approx(0.5)

    def test_cosine_and_multistep(self) -> None:
        cos = self.lrs(schedule="cosine")
        assert cos[49] == pytest.approx(0.5) and all(a >= b for a, b in itertools.pairwise(cos))
        ms = self.lrs(schedule="multistep", milestones=(3, 6), gamma=0.5)
        assert ms[29] == 1.0 and ms[30] == 0.5 and ms[60] == 0.25


class TestConfig:
    @pytest.mark.parametrize(
        ("kw", "match"),
        [
            ({"epochs": 0}, "epochs"),
            ({"lr": -1.0}, "lr"),
            ({"schedule": "step"}, "schedule"),
            ({"warmup": 50.0}, "warmup"),
            ({"optimizer": "adam"}, "optimizer"),
        ],
    )
    def test_bad_values(self, kw: dict[str, object], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**kw)  # type: ignore[arg-type]

    def test_identity_ignores_paths(self) -> None:
        assert TrainConfig(out_dir="a").identity() == TrainConfig(out_dir="b", resume="x").identity()


class TestData:
    def test_compact_images_is_lossless(self) -> None:
        x8 = (torch.rand(4, 3, 5, 5) * 255).to(torch.uint8)
        assert torch.equal(compact_images(x8.float() / 255), x8)
        noisy = torch.rand(4, 3, 5, 5)
        assert compact_images(noisy).dtype == torch.float32

    def test_dataset_and_errors(self) -> None:
        x, y = toy_data(8)
        ds = torch.utils.data.TensorDataset(x.float() / 255, y)
        xd, yd = as_tensors(ds, "d", torch.device("cpu"))
        assert torch.equal(xd, x) and torch.equal(yd, y)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            as_tensors((x.float(), y), "d", torch.device("cpu"))
        with pytest.raises(TypeError, match="pair of tensors"):
            as_tensors([1, 2, 3], "d", torch.device("cpu"))

    # The next four replace the tests of the removed bandlimit.data.GPUTensorDataset: the
    # training loop's as_tensors is the one way to hold a whole dataset on the device.
    def test_bandlimit_datasets_keep_uint8_storage(self, tmp_path: Path, device: torch.device) -> None:
        np.savez(tmp_path / "d.npz", x=_rand_images(10, 4, 4, seed=7), y=np.arange(10) % 3)
        ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
        xd, yd = as_tensors(ds, "d", device)
        assert xd.dtype == torch.uint8 and xd.device.type == device.type and yd.dtype == torch.int64
        x, y = to_tensors(ds)
        assert torch.equal(xd.cpu().float() / 255, x) and torch.equal(yd.cpu(), y)

    def test_image_folder_is_decoded_to_uint8(self, tmp_path: Path) -> None:
        _write_folder(tmp_path / "f", {"a": _rand_images(3, 5, 6, seed=1), "b": _rand_images(2, 5, 6, seed=2)})
        folder = load_dataset(f"folder:{tmp_path / 'f'}")
        xd, yd = as_tensors(folder, "d", torch.device("cpu"))
        assert xd.dtype == torch.uint8 and xd.shape == (5, 3, 5, 6) and yd.tolist() == [0, 0, 0, 1, 1]
        assert torch.equal(xd, torch.stack([folder.read_uint8(i) for i in range(5)]))

    def test_float_images_that_are_not_8_bit_stay_float(self) -> None:
        x = torch.rand(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
        xd, _ = as_tensors((x, torch.arange(4)), "d", torch.device("cpu"))
        assert xd.dtype == torch.float32 and torch.equal(xd, x)
        with pytest.raises(TypeError, match="expected integer labels"):
            as_tensors((x, torch.zeros(4)), "d", torch.device("cpu"))

    @pytest.mark.gpu
    def test_on_cuda(self) -> None:
        xd, yd = as_tensors(load_dataset("cifar10-sample"), "d", torch.device("cuda"))
        assert xd.is_cuda and yd.is_cuda and xd.dtype == torch.uint8
        assert torch.equal(xd[:8].cpu().float() / 255, to_tensors(load_dataset("cifar10-sample"), n=8)[0])


# ---------------------------------------------------------------------------------- loop
class TestLoop:
    def test_loss_decreases_and_learns(self) -> None:
        x, y = toy_data(128)
        model = fresh_model()
        res = train(model, (x, y), NaturalTraining(), cfg(epochs=6, lr=0.1, augment=False), test_data=(x, y))
        losses = [h["train_loss"] for h in res.history]
        assert losses[-1] < 0.8 * losses[0]
        assert res.final["test_acc"] > 0.8
        assert res.final["test_acc"] == pytest.approx(evaluate_accuracy(model, x, y))

    def test_files_metrics_and_checkpoint_metadata(self, tmp_path: Path) -> None:
        from bandlimit.models import read_checkpoint

        x, y = toy_data()
        res = train(fresh_model(), (x, y), NaturalTraining(), cfg(out_dir=tmp_path), test_data=(x, y))
        assert {"state", "last", "model", "metrics", "best"} <= set(res.files)
        log = json.loads((tmp_path / "metrics.json").read_text())
        assert [h["epoch"] for h in log["history"]] == [1, 2, 3]
        assert {"train_loss", "train_acc", "test_acc", "lr", "time_s", "images_per_s"} <= set(log["history"][0])
        ckpt = read_checkpoint(tmp_path / "model.pt")
        meta = ckpt["meta"]
        assert meta["recipe"]["name"] == "natural" and meta["architecture"] == "BNDropNet"
        assert meta["metrics"]["clean_accuracy"] == pytest.approx(res.final["test_acc"])
        assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind

    def test_resume_is_bit_identical(self, tmp_path: Path) -> None:
        x, y = toy_data()
        recipe = GaussianAugmentation(sigma=0.1, mode="uniform")
        full = fresh_model()
        train(full, (x, y), recipe, cfg())

        class Interrupt(RuntimeError):
            pass

        class Crashing:  # same name and settings as `recipe`, dies in the third epoch
            name, config, calls = recipe.name, recipe.config, 0

            def loss(self, model, xb, yb, *, generator):  # type: ignore[no-untyped-def]
                Crashing.calls += 1
                if Crashing.calls > 2 * 4 + 1:
                    raise Interrupt
                return recipe.loss(model, xb, yb, generator=generator)

        with pytest.raises(Interrupt):
            train(fresh_model(), (x, y), Crashing(), cfg(out_dir=tmp_path))
        assert read_training_state(tmp_path / "state.pt")["epoch"] == 2
        resumed = fresh_model(seed=123)  # different init: everything must come from the file
        res = train(resumed, (x, y), recipe, cfg(out_dir=tmp_path, resume=str(tmp_path / "state.pt")))
        assert [h["epoch"] for h in res.history] == [1, 2, 3]
        for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
            assert torch.equal(a, b), k

    def test_foreign_or_corrupt_resume_is_refused_and_untouched(self, tmp_path: Path) -> None:
        x, y = toy_data()
        train(fresh_model(), (x, y), NaturalTraining(), cfg(epochs=1, out_dir=tmp_path))
        state = tmp_path / "state.pt"
        before = state.read_bytes()
        with pytest.raises(ValueError, match=r"another run.*recipe"):
            train(fresh_model(), (x, y), GaussianAugmentation(), cfg(epochs=1, out_dir=tmp_path, resume=str(state)))
        with pytest.raises(ValueError, match=r"another run.*lr"):
            train(fresh_model(), (x, y), NaturalTraining(), cfg(epochs=1, lr=0.3, out_dir=tmp_path, resume=str(state)))
        assert state.read_bytes() == before
        bad = tmp_path / "bad.pt"
        bad.write_bytes(b"not a checkpoint")
        with pytest.raises(ValueError, match="cannot read"):
            train(fresh_model(), (x, y), NaturalTraining(), cfg(epochs=1, out_dir=tmp_path, resume=str(bad)))
        with pytest.raises(ValueError, match="model checkpoints"):
            read_training_state(tmp_path / "last.pt")
        with pytest.raises(ValueError, match="already holds a training state"):
            train(fresh_model(), (x, y), NaturalTraining(), cfg(epochs=1, out_dir=tmp_path))
        assert state.read_bytes() == before

    def test_divergence_writes_nothing(self, tmp_path: Path) -> None:
        class NaNRecipe:
            name, config = "nan", {}

            def loss(self, model, xb, yb, *, generator):  # type: ignore[no-untyped-def]
                logits = model(xb)
                return logits.sum() * float("nan"), logits

        with pytest.raises(FloatingPointError, match="diverged"):
            train(fresh_model(), toy_data(), NaNRecipe(), cfg(epochs=1, out_dir=tmp_path))
        assert not (tmp_path / "state.pt").exists()

    def test_argument_errors(self, tmp_path: Path) -> None:
        x, y = toy_data()
        with pytest.raises(TypeError, match="recipe"):
            train(fresh_model(), (x, y), object(), cfg())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="batch_size"):
            train(fresh_model(), (x, y), NaturalTraining(), cfg(batch_size=1000))
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(PermissionError, match="cannot write"):
            train(fresh_model(), (x, y), NaturalTraining(), cfg(out_dir=blocker / "sub"))
        with pytest.raises(ValueError, match="labels"):
            train(fresh_model(), (x, y[:3]), NaturalTraining(), cfg())


# ------------------------------------------------------------------------- kill & resume
_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from test_training import fresh_model, toy_data, cfg
    from bandlimit.training import train
    from defenses.recipes import NaturalTraining

    class SlowNatural(NaturalTraining):
        # 10 ms per step (128 steps, ~1.3 s per epoch) so that the kill lands mid-epoch on a
        # fast idle machine too, not after the run has already finished.
        def loss(self, model, xb, yb, *, generator=None):
            time.sleep(0.01)
            return super().loss(model, xb, yb, generator=generator)

    x, y = toy_data(256)
    resume = sys.argv[2] if len(sys.argv) > 2 else None
    train(fresh_model(), (x, y), SlowNatural(), cfg(epochs=4, batch_size=2, out_dir=sys.argv[1], resume=resume))
    """
)


def test_sigkill_mid_epoch_then_resume(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(tests=str(REPO / "tests")))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (out / "state.pt").exists():
            assert proc.poll() is None, "training exited before writing its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.05)
        time.sleep(0.3)  # well inside epoch 2 (128 steps of >= 10 ms each)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    epoch = read_training_state(out / "state.pt")["epoch"]
    assert 1 <= epoch < 4
    done = subprocess.run(
        [sys.executable, str(script), str(out), str(out / "state.pt")], env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert all(math.isfinite(h["train_loss"]) for h in history)


# ----------------------------------------------------------------------------------- CLI
def err(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's error output, unwrapped (rich wraps long lines)."""
    return capsys.readouterr().err.replace("\n", " ")


class TestCLI:
    def run(self, *args: str) -> int:
        from bandlimit.cli import main

        return main(["train", *args])

    def test_cli_errors_are_one_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert self.run("--recipe", "nope", "--data", "cifar10-sample") == 2
        assert "expected one of" in err(capsys)
        assert self.run("--model", "resnet9000", "--data", "cifar10-sample") == 2
        assert "resnet20" in err(capsys)
        assert self.run("--recipe", "pgd_at", "--eps", "1.5", "--data", "cifar10-sample") == 2
        assert "eps" in err(capsys)
        assert self.run("--data", f"folder:{tmp_path / 'missing'}", "--out", str(tmp_path / "o")) == 2
        assert "not found" in err(capsys)
        blocker = tmp_path / "f"
        blocker.write_text("")
        assert self.run("--data", "cifar10-sample", "--out", str(blocker / "o")) == 2
        assert "cannot write" in err(capsys)
        bad = tmp_path / "c.toml"
        bad.write_text("learning_rate = 3\n")
        assert self.run("--config", str(bad), "--data", "cifar10-sample") == 2
        assert "unknown keys" in err(capsys)

    def test_cli_seed_fixes_the_initial_weights_too(self, tmp_path: Path) -> None:
        from bandlimit.models import load_checkpoint

        def weights(seed: str, name: str) -> dict[str, torch.Tensor]:
            args = ["--model", "resnet20", "--data", "cifar10-sample", "--train-split", "test", "--n-train", "20",
                    "--batch-size", "10", "--epochs", "1", "--device", "cpu", "--quiet", "--seed", seed]  # fmt: skip
            assert self.run(*args, "--out", str(tmp_path / name)) == 0
            return load_checkpoint(tmp_path / name / "model.pt").state_dict()

        torch.manual_seed(123)  # the global generator's state must not matter
        a = weights("3", "a")
        torch.manual_seed(456)
        b, c = weights("3", "b"), weights("4", "c")
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not all(torch.equal(a[k], c[k]) for k in a)

    def test_cli_trains_with_toml_defaults(self, tmp_path: Path) -> None:
        conf = tmp_path / "c.toml"
        conf.write_text('epochs = 1\nbatch-size = 50\nlr = 0.05\nrecipe = "gaussian"\nsigma = "8/255"\n')
        out = tmp_path / "run"
        code = self.run(
            "--config", str(conf), "--model", "resnet20", "--data", "cifar10-sample", "--train-split", "test",
            "--n-train", "100", "--out", str(out), "--device", "cpu", "--quiet", "--epochs", "1",
        )  # fmt: skip
        assert code == 0
        log = json.loads((out / "metrics.json").read_text())
        assert log["recipe"] == {"name": "gaussian", "sigma": pytest.approx(8 / 255), "mode": "fixed",
                                 "label_smoothing": 0.0}  # fmt: skip
        assert log["config"]["batch_size"] == 50 and log["architecture"] == "resnet20"
        from bandlimit.models import load_checkpoint

        model = load_checkpoint(out / "model.pt")
        assert model.bandlimit_meta["architecture"] == "resnet20"
