"""``bench_gpu`` sections on training: the library's trainer against a bare loop, fast AT, the DDP path.

* ``training``: ``bandlimit.training.train`` (bf16 autocast, channels_last, uint8 data on the
  device, on-device crop and flip) against :func:`bare_train`, a plain fp32 loop written here with
  the same model, initial weights, data, augmentation function, learning-rate schedule, epochs
  and batch (its augmentation draws on the device; the trainer's on a CPU generator).
* ``adversarial``: fast FGSM-RS adversarial training (Wong et al. 2020) for a few epochs, then
  clean and PGD-20 accuracy verified by the harness (for the record).
* ``ddp``: the trainer's DistributedDataParallel code path in one process (NCCL on CUDA, gloo on
  the CPU) against the same run without it (:func:`ddp_worker` runs each side in a fresh subprocess).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks._gpu_common import Context, Report, cudnn_deterministic, pct, rate, sync

SCRIPT = Path(__file__).resolve().parent / "bench_gpu.py"
#: A worker that has not finished by then is stuck (the full-size run takes seconds on a GPU).
WORKER_TIMEOUT_S = 150


def _model(name: str, seed: int) -> nn.Module:
    from bandlimit.models import create_model

    torch.manual_seed(seed)  # the same initial weights for every run of one model
    return create_model(name)


def _config(ctx: Context, epochs: int, **changes: Any) -> Any:
    from bandlimit.training import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=ctx.sizes.batch,
        device=str(ctx.device),
        seed=ctx.seed,
        quiet=True,
        eval_every=epochs,  # evaluate once, at the end: the epochs time training alone
        **changes,
    )


def steady_rate(history: list[dict[str, Any]], images: int) -> float:
    """Images per second over the epochs after the first (warm-up: cuDNN set-up, allocator), else epoch 1."""
    times = [r["time_s"] for r in history]
    steady = times[1:] or times
    return images * len(steady) / sum(steady)


def bare_train(model: nn.Module, x_u8: Tensor, y: Tensor, config: Any, device: torch.device) -> list[float]:
    """The reference: a plain fp32 training loop (contiguous tensors, float data on the device).

    Same optimiser, learning rate per step, shuffling and on-device augmentation
    (:func:`bandlimit.training.augment_batch`, its random numbers drawn on the device) as the
    library, without autocast, channels_last, uint8 storage or any bookkeeping. Returns the
    seconds of each epoch.
    """
    from bandlimit.training import augment_batch, learning_rate

    x = x_u8.to(device).float().div_(255.0)
    y = y.to(device)
    model.to(device).train()
    opt = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    # The augmentation draws on the device: a CPU generator's numbers would be copied to the GPU
    # every step, and a copy from pageable memory makes the host wait for the GPU each time.
    shuffle = torch.Generator().manual_seed(config.seed)
    aug = torch.Generator(device=device).manual_seed(config.seed + 1)
    steps = len(x) // config.batch_size
    times = []
    for epoch in range(config.epochs):
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=shuffle).to(device)
        for step in range(steps):
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            xb = augment_batch(x[idx], crop_padding=config.crop_padding, generator=aug)
            for group in opt.param_groups:
                group["lr"] = learning_rate(config, epoch * steps + step, steps)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def _library_run(ctx: Context, name: str, epochs: int, images: int, **changes: Any) -> dict[str, Any]:
    """One ``bandlimit.training.train`` run of the natural recipe: images/s, test accuracy, history."""
    from bandlimit.training import train
    from defenses.recipes import create_recipe

    x, y = ctx.data.train()
    t0 = time.perf_counter()
    result = train(
        _model(name, ctx.seed),
        (x, y),
        create_recipe("natural"),
        _config(ctx, epochs, **changes),
        test_data=ctx.data.test(),
    )
    wall = time.perf_counter() - t0
    ips = steady_rate(result.history, images)
    return {"images_per_s": ips, "test_acc": result.final["test_acc"], "wall_s": wall, "history": result.history}


def training(ctx: Context) -> Report:
    """Library trainer vs the bare fp32 loop: images/s and test accuracy after the same schedule.

    The first model is also trained by the library in fp32 with contiguous tensors (a diagnostic:
    library fp32 / bare separates the trainer's own overhead from what bf16 + channels_last gain).
    """
    from bandlimit.training import evaluate_accuracy

    report = Report()
    x, y = ctx.data.train()
    x_test, y_test = (t.to(ctx.device) for t in ctx.data.test())
    images = (len(x) // ctx.sizes.batch) * ctx.sizes.batch
    for i, (name, epochs) in enumerate(ctx.sizes.train_models):
        lib = _library_run(ctx, name, epochs, images)
        bare = _model(name, ctx.seed)
        t0 = time.perf_counter()
        epoch_s = bare_train(bare, x, y, _config(ctx, epochs), ctx.device)
        steady = epoch_s[1:] or epoch_s
        ref = {
            "images_per_s": images * len(steady) / sum(steady),
            "test_acc": evaluate_accuracy(bare, x_test, y_test),
            "wall_s": time.perf_counter() - t0,
            "epoch_s": epoch_s,
        }
        ratio = lib["images_per_s"] / ref["images_per_s"]
        found = {"epochs": epochs, "batch": ctx.sizes.batch, "library": lib, "bare": ref, "ratio": ratio}
        report.row(
            f"{name}: library (bf16, channels_last, uint8)",
            rate(lib["images_per_s"], "img/s"),
            f"test acc {pct(lib['test_acc'])}",
        )
        report.row(f"{name}: bare fp32 loop", rate(ref["images_per_s"], "img/s"), f"test acc {pct(ref['test_acc'])}")
        if i == 0:
            fp32 = found["library_fp32"] = _library_run(ctx, name, epochs, images, bf16=False, channels_last=False)
            report.row(
                f"{name}: library fp32, contiguous (diagnostic)",
                rate(fp32["images_per_s"], "img/s"),
                f"{fp32['images_per_s'] / ref['images_per_s']:.3f}x bare",
            )
        report.metrics[name] = found
        report.check(f"{name}_train_speedup", f"{name}: library / bare images/s", ratio, ">=", 1.5)
    report.notes.append(
        f"{len(x)} training images, batch {ctx.sizes.batch}, natural recipe, one-cycle schedule; images/s over the "
        "epochs after the first; test accuracy on the lossless test images. The bare loop shares the "
        "augmentation (drawn on the device) and the schedule, so the ratio is that of bf16, channels_last, "
        "uint8 storage and the trainer's own bookkeeping."
    )
    return report


def adversarial(ctx: Context) -> Report:
    """Fast FGSM-RS adversarial training, then clean and PGD-20 accuracy (verified by the harness)."""
    from attacks import PGD
    from bandlimit.evaluation import evaluate
    from bandlimit.training import train
    from defenses.recipes import create_recipe

    report = Report()
    x, y = ctx.data.train()
    x_test, y_test = ctx.data.test()
    epochs = ctx.sizes.fast_at_epochs
    model = _model(ctx.sizes.fast_at_model, ctx.seed)
    config = _config(ctx, epochs, schedule="cyclic", lr=0.2)
    t0 = time.perf_counter()
    result = train(model, (x, y), create_recipe("fast_fgsm_rs"), config)
    train_s = time.perf_counter() - t0
    ev = evaluate(
        model.eval(), (x_test, y_test), [PGD(eps=8 / 255, steps=20)], batch_size=512, seed=ctx.seed, checks=False
    )
    robust = ev.groups[0].robust_accuracy
    images = (len(x) // ctx.sizes.batch) * ctx.sizes.batch
    ips = steady_rate(result.history, images)
    report.metrics = {
        "model": ctx.sizes.fast_at_model,
        "epochs": epochs,
        "batch": ctx.sizes.batch,
        "lr": 0.2,
        "schedule": "cyclic",
        "train_s": train_s,
        "images_per_s": ips,
        "clean_acc": ev.clean_accuracy,
        "pgd20_acc": robust,
        "n_test": ev.n,
        "history": result.history,
    }
    report.row(f"{ctx.sizes.fast_at_model}, fast FGSM-RS, {epochs} epochs", f"{train_s:.1f} s", rate(ips, "img/s"))
    report.row("clean accuracy", pct(ev.clean_accuracy), f"{ev.n} lossless test images")
    report.row("PGD-20 accuracy, L∞ 8/255", pct(robust), "anchor: 46 % PGD-50 after 15 epochs")
    report.notes.append(
        "For the record. Anchor: Wong et al. 2020, PreAct ResNet-18, 15 epochs, 46 % PGD-50 accuracy at 8/255 "
        "in 12 minutes on an RTX 2080 Ti. PGD-20 here: the library's default step schedule, one restart."
    )
    return report


# --------------------------------------------------------------------------------------------
# The DDP code path in one process
# --------------------------------------------------------------------------------------------


def _one_run(spec: dict[str, Any], x: Tensor, y: Tensor, test: tuple[Tensor, Tensor]) -> tuple[nn.Module, Any]:
    from bandlimit.training import TrainConfig, train
    from defenses.recipes import create_recipe

    model = _model(spec["model"], spec["seed"])
    with cudnn_deterministic():
        result = train(model, (x, y), create_recipe("natural"), TrainConfig(**spec["config"]), test_data=test)
    return model, result


def _ddp_run(spec: dict[str, Any], x: Tensor, y: Tensor, test: tuple[Tensor, Tensor]) -> tuple[nn.Module, Any, int]:
    """:func:`_one_run` through the trainer's distributed branches; also returns the DDP wrappers built.

    The trainer treats a world of one process as "not distributed" (``DistInfo.enabled`` is
    ``world_size > 1``) and offers no switch to force its distributed path, so this makes the
    trainer's own ``setup`` report an enabled one-process job: the run then takes every
    distributed branch (DistributedDataParallel wrapper, sharded permutation, all-reduced
    metrics, broadcast BatchNorm buffers, gathered RNG states) over a real process group. A
    world of one keeps the result comparable with the plain run: the DDP average over one
    replica is the replica's own gradient.
    """
    import torch.distributed as dist

    import bandlimit.training.loop as loop
    from bandlimit.training import DistInfo

    class OneProcessJob(DistInfo):
        @property
        def enabled(self) -> bool:
            return True

    class CountedDDP(loop.DistributedDataParallel):  # type: ignore[misc, name-defined]
        made = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            CountedDDP.made += 1

    dist.init_process_group(spec["backend"], init_method="env://")
    try:
        loop.setup = lambda _device: OneProcessJob()  # type: ignore[assignment]
        loop.DistributedDataParallel = CountedDDP  # type: ignore[misc]
        model, result = _one_run(spec, x, y, test)
    finally:
        dist.destroy_process_group()
    return model, result, CountedDDP.made


def ddp_worker(folder: str, mode: str) -> int:
    """One side of the ``ddp`` section in a fresh process (``bench_gpu.py --ddp-worker DIR MODE``).

    ``mode`` is ``plain`` (the single-process run) or ``ddp`` (:func:`_ddp_run`). Both sides run
    in their own new process, so global state left by earlier sections (cuDNN settings, RNG,
    allocator) cannot tell them apart; only the distributed branches differ.
    """
    base = Path(folder)
    spec = json.loads((base / "spec.json").read_text())
    data = torch.load(base / "data.pt", weights_only=True)
    args = (spec, data["x"], data["y"], (data["x_test"], data["y_test"]))
    if mode == "ddp":
        model, result, wrappers = _ddp_run(*args)
        info = {"backend": spec["backend"], "ddp_wrappers": wrappers}
    else:
        model, result = _one_run(*args)
        info = {}
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, base / f"{mode}.pt")
    (base / f"{mode}.json").write_text(json.dumps({**info, "history": result.history}))
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(base: Path, mode: str, backend: str) -> tuple[dict[str, Any], dict[str, Tensor], float]:
    """Run :func:`ddp_worker` in a subprocess; its result, weights and wall seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    if mode == "ddp":
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        if backend == "nccl":
            env.setdefault("NCCL_SOCKET_IFNAME", "lo")  # one process on one host: no network needed
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--ddp-worker", str(base), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the {mode} worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    weights = torch.load(base / f"{mode}.pt", weights_only=True)
    return json.loads((base / f"{mode}.json").read_text()), weights, seconds


def ddp(ctx: Context) -> Report:
    """The trainer's DDP path (one process, NCCL or gloo) against the plain run: same weights and metrics."""
    report = Report()
    x, y = ctx.data.train()
    x, y = x[: ctx.sizes.ddp_images], y[: ctx.sizes.ddp_images]
    x_test, y_test = ctx.data.test()
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    config = _config(ctx, ctx.sizes.ddp_epochs).to_dict()
    spec = {"model": "resnet20", "seed": ctx.seed, "backend": backend, "config": config}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_ddp_") as tmp:
        base = Path(tmp)
        (base / "spec.json").write_text(json.dumps(spec))
        torch.save({"x": x, "y": y, "x_test": x_test, "y_test": y_test}, base / "data.pt")
        single, single_weights, single_s = _worker(base, "plain", backend)
        worker, ddp_weights, worker_s = _worker(base, "ddp", backend)
    weight_diff = max(
        float((v.double() - ddp_weights[k].double()).abs().max()) if v.numel() else 0.0
        for k, v in single_weights.items()
    )
    metric_diff = max(
        abs(a[key] - b[key])
        for a, b in zip(single["history"], worker["history"], strict=True)
        for key in ("train_loss", "train_acc", "test_acc")
        if key in a
    )
    steps = ctx.sizes.ddp_epochs * (len(x) // ctx.sizes.batch)
    report.metrics = {
        "backend": worker["backend"],
        "ddp_wrappers": worker["ddp_wrappers"],
        "steps": steps,
        "max_weight_diff": weight_diff,
        "max_metric_diff": metric_diff,
        "single_s": single_s,
        "worker_s": worker_s,
        "single_history": single["history"],
        "ddp_history": worker["history"],
    }
    report.row("process group", f"{worker['backend']}, world size 1", f"DDP wrappers built: {worker['ddp_wrappers']}")
    report.check("ddp_weights", f"max |weight difference| after {steps} steps", weight_diff, "<=", 1e-4, unit="")
    report.check("ddp_metrics", "max |loss / accuracy difference|", metric_diff, "<=", 1e-4, unit="")
    report.notes.append(
        "The trainer's DistributedDataParallel path (DDP wrapper, sharding, all-reduce, buffer broadcast, "
        "RNG gather) in one process with a real process group, against the plain run, each in a fresh "
        "process with deterministic cuDNN, so any difference beyond rounding points at the distributed code."
    )
    return report
