"""Shared pieces of ``bench_gpu.py``: sizes, data, the run context, device timing, report rows.

The sections (``_gpu_training.py``, ``_gpu_attacks.py``) receive a :class:`Context` and return a
:class:`Report`: JSON metrics, table rows and goal checks. Timing on CUDA uses CUDA events
(the device's own clock, after a synchronize); on the CPU it is wall time, which only shows that
the code runs (the CPU numbers are no target).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

#: The files ``--data-root`` must hold (see benchmarks/README.md for where they come from).
JPEG_DIR = "cifar10-jpeg"
LOSSLESS = "test_lossless_1028.npz"


@dataclass(frozen=True)
class Sizes:
    """Every size of the run in one place (the full run fits in about 6 minutes on one H100/H200).

    Estimates for the full sizes (ResNet-20: 41 MFLOP per image forward, about 3x that per
    training image; PreAct ResNet-18: 0.56 GFLOP; an H100 trains ResNet-20 at >= 30k images/s in
    bf16 with good code, a bare fp32 loop perhaps at a third of that): the five natural trainings
    (ResNet-20 three times, PreAct ResNet-18 twice) under 3 minutes, fast adversarial training
    about a minute, every other section well under a minute.
    """

    image_size: int = 32
    train_images: int = 50_000
    test_images: int = 1028
    batch: int = 512
    #: (model, epochs) trained by the library and by the bare loop.
    train_models: tuple[tuple[str, int], ...] = (("resnet20", 6), ("preact_resnet18", 3))
    fast_at_model: str = "preact_resnet18"
    fast_at_epochs: int = 5
    attack_images: int = 1028
    attack_steps: int = 20
    repeats: int = 3
    blackbox_images: int = 256
    one_by_one: int = 8
    square_queries: int = 100
    simba_queries: int = 200
    postavg_samples: int = 32
    postavg_batch: int = 256
    heatmap_images: int = 1028
    #: Images per forward pass of the heat map on an accelerator (4 cells of 1,028 images).
    heatmap_pass: int = 4112
    agree_images: int = 512
    agree_heatmap_images: int = 64
    ddp_images: int = 8192
    ddp_epochs: int = 2

    def scaled(self, factor: float) -> Sizes:
        """These sizes with image counts and epochs multiplied by ``factor`` (each at least 1)."""

        def count(value: int, least: int) -> int:
            return max(least, round(value * factor))

        train = count(self.train_images, 64)
        batch = min(self.batch, max(16, train // 4))
        return dataclasses.replace(
            self,
            train_images=train,
            test_images=count(self.test_images, 16),
            batch=batch,
            train_models=tuple((m, count(e, 1)) for m, e in self.train_models),
            fast_at_epochs=count(self.fast_at_epochs, 1),
            attack_images=count(self.attack_images, 8),
            blackbox_images=count(self.blackbox_images, 4),
            heatmap_images=count(self.heatmap_images, 4),
            agree_images=count(self.agree_images, 8),
            agree_heatmap_images=count(self.agree_heatmap_images, 4),
            ddp_images=max(2 * batch, count(self.ddp_images, 32)),
        )


#: The smoke run of the test suite: every section, a few steps on random 16x16 images, CPU.
TINY = Sizes(
    image_size=16,
    train_images=32,
    test_images=16,
    batch=16,
    train_models=(("resnet20", 1), ("preact_resnet18", 1)),
    fast_at_model="resnet20",
    fast_at_epochs=1,
    attack_images=8,
    attack_steps=2,
    repeats=1,
    blackbox_images=4,
    one_by_one=2,
    square_queries=6,
    simba_queries=6,
    postavg_samples=3,
    postavg_batch=4,
    heatmap_images=4,
    heatmap_pass=64,
    agree_images=8,
    agree_heatmap_images=4,
    ddp_images=32,
    ddp_epochs=1,
)


class Data:
    """The images, loaded on first use: the JPEG training set and the lossless test images.

    With ``root=None`` (``--tiny``) both are random images with random labels.
    """

    def __init__(self, root: Path | None, sizes: Sizes, seed: int) -> None:
        self.root = root
        self.sizes = sizes
        self.seed = seed
        self._train: tuple[Tensor, Tensor] | None = None
        self._test: tuple[Tensor, Tensor] | None = None

    def missing(self, needs: tuple[str, ...]) -> list[Path]:
        """The required files or folders that are not under the data root."""
        if self.root is None:
            return []
        wanted = {"train": self.root / JPEG_DIR / "train", "test": self.root / LOSSLESS}
        return [wanted[n] for n in needs if not wanted[n].exists()]

    def _random(self, n: int, offset: int) -> tuple[Tensor, Tensor]:
        gen = torch.Generator().manual_seed(self.seed + offset)
        side = self.sizes.image_size
        x = torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8)
        return x, torch.randint(0, 10, (n,), generator=gen)

    def train(self) -> tuple[Tensor, Tensor]:
        """Training images (uint8 ``(N, 3, H, W)``, on the CPU) and labels."""
        if self._train is None:
            if self.root is None:
                self._train = self._random(self.sizes.train_images, 1)
            else:
                from bandlimit.data import decode_all, load_dataset

                folder = load_dataset(f"folder:{self.root / JPEG_DIR}", split="train", n=self.sizes.train_images)
                self._train = decode_all(folder)
        return self._train

    def test(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        """The first ``n`` (default: ``sizes.test_images``) test images (float in [0, 1], CPU) and labels."""
        if self._test is None:
            if self.root is None:
                s = self.sizes
                most = max(s.test_images, s.attack_images, s.blackbox_images, s.postavg_batch, s.heatmap_images)
                x, y = self._random(max(most, s.agree_images), 2)
                self._test = (x.float() / 255, y)
            else:
                from bandlimit.data import load_dataset, to_tensors

                self._test = to_tensors(load_dataset(f"npz:{self.root / LOSSLESS}"))
        x, y = self._test
        n = self.sizes.test_images if n is None else min(n, len(x))
        return x[:n], y[:n]


@dataclass
class Context:
    """What every section gets: the device, the sizes, the data and the seed."""

    device: torch.device
    sizes: Sizes
    data: Data
    seed: int = 0
    tiny: bool = False

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator (the attacks draw on it, so CPU and GPU runs start alike)."""
        return torch.Generator().manual_seed(self.seed + offset)

    def pretrained(self, name: str) -> nn.Module:
        """A shipped model (``resnet20-natural``, ``resnet20-fastat``) in eval mode on the device."""
        from bandlimit.models import create_model

        return create_model(name, pretrained=True).to(self.device).eval()


@dataclass
class Report:
    """What a section returns: metrics (JSON), rows (``measure, value, goal``) and goal checks."""

    metrics: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    goals: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, measure: str, value: str, goal: str = "") -> None:
        """Add a table row."""
        self.rows.append((measure, value, goal))

    def check(self, key: str, measure: str, value: float, op: str, target: float, unit: str = "x") -> bool:
        """Add a row with a goal (``op`` is ``">="`` or ``"<="``) and record whether it is met."""
        met = value >= target if op == ">=" else value <= target
        text = f"{op} {target:g}{unit}: {'met' if met else 'MISSED'}"
        self.goals[key] = {"measure": measure, "value": value, "goal": f"{op} {target:g}{unit}", "met": met}
        self.row(measure, f"{value:.3f}{unit}", text)
        return met


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Seconds ``fn()`` takes (CUDA events on the GPU, wall time on the CPU) and its result."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        out = fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0, out
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(fns: dict[str, Callable[[], Any]], device: torch.device, repeats: int) -> dict[str, tuple[float, Any]]:
    """Median seconds and last result of each function, measured round-robin after one warm-up each.

    Taking turns exposes every candidate to the same clocks and background load.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    outs: dict[str, Any] = {}
    for _ in range(repeats):
        for key, fn in fns.items():
            seconds, outs[key] = timed(fn, device)
            times[key].append(seconds)
    return {k: (statistics.median(times[k]), outs[k]) for k in fns}


def autocast(device: torch.device, enabled: bool) -> Any:
    """bf16 autocast on the device's type, or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


@torch.no_grad()
def correct(model: nn.Module, x: Tensor, y: Tensor, batch: int = 1024) -> Tensor:
    """Per-image correctness ``(N,)`` bool of ``model`` (fp32, eval mode) on ``x``."""
    return torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)])


@contextmanager
def cudnn_deterministic(enabled: bool = True) -> Iterator[None]:
    """Deterministic cuDNN algorithms for the duration (restored afterwards)."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = enabled, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def rate(value: float, unit: str) -> str:
    """A throughput with thousands separators."""
    return f"{value:,.0f} {unit}"


def pct(value: float) -> str:
    """A fraction as a percentage."""
    return f"{100.0 * value:.2f} %"
