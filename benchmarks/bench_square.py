"""Square attack benchmark: ours (attacks.Square) against torchattacks.Square, side by side.

Claims checked (issue 11), L∞ eps 8/255, at most 1,000 queries, p_init 0.8, margin loss, on the
correctly classified images among the first N lossless CIFAR-10 test images:

* **strength**: our success rate equals torchattacks' within seed noise (mean over 3 seeds, with
  the spread of each);
* **queries**: mean and median queries of the successful images (both count the start as query 1;
  torchattacks runs up to ``n_queries`` iterations after it, i.e. up to 1,001 queries, ours at most
  1,000 in all);
* **cost**: CPU time (process time, all threads) per query; ours must be cheaper.

Models: the public natural ResNet-20 (``shared/weights/resnet20-12fca82f.th``) and the shipped
fast-AT ResNet-20 (``create_model("resnet20-fastat", pretrained=True)``). Images:
``shared/data/cifar10/test_lossless_1028.npz``. torchattacks is timed on its own search
(``attack_single_run`` after the seeding and set-up its ``perturb`` does, on the same correctly
classified images), which returns its per-image query counts; ours on ``Square.run``, whose
extra clean forward pass is included in its time but not in its queries. Both see the same
model; torchattacks passes all still-active images in one forward, ours (default) 32 at a time.

Run time on 1 CPU thread of the shared development box (from ``--n 128``): about 0.12 s of CPU per
image, seed and attack for the natural model (most images fall within about 50 queries) and 0.7 s
for the fast-AT model (about 60 % of its images resist all 1,000 queries); the full default run
(1,028 images, 3 seeds, both attacks, both models) takes roughly 1.5 hours.

Usage (the lead's full run, on a quiet machine)::

    OMP_NUM_THREADS=1 python benchmarks/bench_square.py --n 1028 --seeds 0 1 2 --threads 1

Development runs (small N, low priority)::

    nice -n 10 python benchmarks/bench_square.py --n 32 --seeds 0 1 2 --threads 1
    nice -n 10 python benchmarks/bench_square.py --n 16 --models fastat --seeds 0
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, whatever is installed

from attacks.square import Square  # noqa: E402
from benchmarks.bench_blackbox import load_cifar, load_resnet20, require_shared  # noqa: E402

logger = logging.getLogger("bench_square")


@dataclass
class Run:
    """One attack run on the correctly classified images."""

    success: Tensor  # (M,) bool, from the model's prediction on the returned images
    queries: Tensor  # (M,) queries spent per image
    cpu_s: float  # process time of the attack call

    @property
    def rate(self) -> float:
        """Success rate in percent."""
        return 100.0 * float(self.success.float().mean())

    def query_stats(self) -> tuple[float, float]:
        """Mean and median queries of the successful images (NaN when none succeeded)."""
        q = self.queries[self.success].double()
        return (float(q.mean()), float(q.median())) if q.numel() else (float("nan"), float("nan"))

    @property
    def ms_per_query(self) -> float:
        """CPU milliseconds per query."""
        return 1000.0 * self.cpu_s / max(int(self.queries.sum()), 1)


def load_models(names: list[str]) -> dict[str, nn.Module]:
    """The benchmark's models by short name, in eval mode."""
    from bandlimit.models import create_model

    builders: dict[str, Callable[[], nn.Module]] = {
        "natural": load_resnet20,
        "fastat": lambda: create_model("resnet20-fastat", pretrained=True),
    }
    return {name: builders[name]().eval() for name in names}


def predict(model: nn.Module, x: Tensor, batch: int = 256) -> Tensor:
    """Predicted classes, in passes of ``batch`` images."""
    with torch.no_grad():
        return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch)])


def run_ours(model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace, seed: int) -> Run:
    """Our Square with a seeded generator."""
    attack = Square(eps=args.eps / 255, max_queries=args.queries, p_init=args.p_init, loss=args.loss)
    start = time.process_time()
    result = attack.run(model, x, y, generator=torch.Generator().manual_seed(seed))
    cpu = time.process_time() - start
    assert result.queries is not None
    success = predict(model, result.x_adv) != y
    differ = int((success != result.info["success"]).sum())
    if differ:
        logger.warning("ours: reported success differs from the model's prediction on %d images", differ)
    return Run(success, result.queries, cpu)


def run_theirs(model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace, seed: int) -> Run:
    """torchattacks.Square's search, seeded and set up as its ``perturb`` does."""
    import torchattacks

    attack = torchattacks.Square(
        model, norm="Linf", eps=args.eps / 255, n_queries=args.queries, p_init=args.p_init, loss=args.loss, seed=seed
    )
    attack.init_hyperparam(x)
    torch.manual_seed(seed)  # what perturb does: torchattacks draws from the global generator
    start = time.process_time()
    queries, x_adv = attack.attack_single_run(x, y)
    cpu = time.process_time() - start
    return Run(predict(model, x_adv) != y, queries.long(), cpu)


def spread(values: list[float]) -> str:
    """``mean ± sd`` of ``values``."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def bench_model(name: str, model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace) -> None:
    """Both attacks over the seeds on one model; prints a table and the claim checks."""
    correct = predict(model, x) == y
    xc, yc = x[correct].contiguous(), y[correct]
    print(f"\n## {name}: clean accuracy {100 * float(correct.float().mean()):.2f} % ({len(yc)} of {len(y)} images)")
    print("| seed | attack | success % | queries mean / median | CPU ms / query | CPU s |")
    print("|---|---|---|---|---|---|")
    runs: dict[str, list[Run]] = {"ours": [], "torchattacks": []}
    for seed in args.seeds:
        for label, fn in (("ours", run_ours), ("torchattacks", run_theirs)):
            run = fn(model, xc, yc, args, seed)
            runs[label].append(run)
            mean_q, median_q = run.query_stats()
            print(
                f"| {seed} | {label} | {run.rate:.2f} | {mean_q:.1f} / {median_q:.0f} | "
                f"{run.ms_per_query:.3f} | {run.cpu_s:.1f} |"
            )
    print()
    for label, rs in runs.items():
        print(
            f"{label:>12}: success {spread([r.rate for r in rs])} %, mean queries "
            f"{spread([r.query_stats()[0] for r in rs])}, CPU ms/query {spread([r.ms_per_query for r in rs])}"
        )
    ours, theirs = runs["ours"], runs["torchattacks"]
    diff = statistics.mean(r.rate for r in ours) - statistics.mean(r.rate for r in theirs)
    ratio = statistics.mean(r.ms_per_query for r in ours) / statistics.mean(r.ms_per_query for r in theirs)
    print(f"success difference (ours - torchattacks): {diff:+.2f} points; CPU per query ours/theirs: {ratio:.3f}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1028, help="first N lossless test images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["natural", "fastat"], choices=["natural", "fastat"])
    parser.add_argument("--eps", type=float, default=8.0, help="L∞ budget in 1/255 units")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--p-init", type=float, default=0.8)
    parser.add_argument("--loss", default="margin", choices=["margin", "ce"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        sys.exit("needs torchattacks: pip install torchattacks")
    require_shared()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    x, y = load_cifar(args.n)
    x = x.contiguous()  # both attacks get the same (default) memory format
    print(
        f"Square L∞ eps {args.eps:g}/255, {args.queries} queries, p_init {args.p_init}, loss {args.loss}, "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    for name, model in load_models(args.models).items():
        bench_model(name, model, x, y, args)


if __name__ == "__main__":
    main()
