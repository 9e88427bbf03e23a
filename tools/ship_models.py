"""Turn a finished ``bandlimit train`` run into a shipped model: checkpoint, model card, SHA-256.

Usage (from the repository root, after training)::

    python tools/ship_models.py --run runs/resnet20-natural --name resnet20-natural \
        --data npz:../shared/data/cifar10/test_lossless_1028.npz

It measures clean and PGD-20 (L∞ 8/255) accuracy on the given test data with the evaluation
harness (every adversarial example verified), writes ``bandlimit/models/assets/<name>.pt``
(weights + metadata, no optimiser state) and ``<name>.md`` (the model card), and prints the
SHA-256 to put into ``bandlimit/models/pretrained.py``. Every number in the card comes from
this run or from the training run's own ``metrics.json`` and log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import re
import sys
from pathlib import Path

import torch

from attacks import PGD
from bandlimit.data import load_dataset
from bandlimit.evaluation import evaluate
from bandlimit.models import load_checkpoint, read_checkpoint, save_checkpoint

ASSETS = Path(__file__).resolve().parents[1] / "bandlimit" / "models" / "assets"
log = logging.getLogger("ship_models")


def _training_facts(run: Path) -> dict[str, object]:
    """Epochs, wall time and final clean accuracy from the run's metrics.json and time log."""
    metrics = json.loads((run / "metrics.json").read_text())
    records = metrics if isinstance(metrics, list) else metrics.get("epochs", metrics.get("history", []))
    facts: dict[str, object] = {
        "epochs": len(records),
        "train_seconds": round(sum(float(r.get("time_s", 0.0)) for r in records), 1),
        "last_record": records[-1] if records else {},
    }
    log_file = run.parent / f"{run.name}.log"
    if log_file.is_file():
        text = log_file.read_text(errors="replace")
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
        if wall:
            facts["wall_clock"] = wall.group(1)
        cmd = re.search(r'Command being timed: "(.*)"', text)
        if cmd:
            facts["command"] = cmd.group(1).replace("/work/main/", "").replace("/work/shared/", "../shared/")
    return facts


def main(argv: list[str] | None = None) -> int:
    """Measure, write the checkpoint and the card, print the SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="training run folder (holds model.pt)")
    parser.add_argument("--name", required=True, help="registry name, e.g. resnet20-natural")
    parser.add_argument("--data", required=True, help="test data for the card (load_dataset name)")
    parser.add_argument("--n", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--eps", type=float, default=8 / 255)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--description", default="", help="one paragraph on the recipe")
    parser.add_argument(
        "--reproduce", action="append", default=None, help="a line of the card's reproduce block (repeatable)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    model = load_checkpoint(args.run / "model.pt").eval()
    # The file's own metadata: the training run records its data set and initialisation there.
    meta = {**dict(getattr(model, "bandlimit_meta", {})), **read_checkpoint(args.run / "model.pt")["meta"]}
    data = load_dataset(args.data)
    result = evaluate(model, data, [PGD(eps=args.eps, steps=args.steps)], n=args.n, batch_size=256, seed=0)
    pgd_acc = next(iter(result.robust_accuracy.values()))
    facts = _training_facts(args.run)
    metrics = {
        "clean_accuracy": result.clean_accuracy,
        f"pgd{args.steps}_linf_{round(args.eps * 255)}_255": pgd_acc,
        "test_images": result.n,
        "test_data": args.data.split("/")[-1],
    }
    ASSETS.mkdir(parents=True, exist_ok=True)
    target = ASSETS / f"{args.name}.pt"
    save_checkpoint(
        target,
        model,
        metadata={
            "dataset": meta.get("dataset") or "cifar10",
            "recipe": meta.get("recipe"),
            "metrics": metrics,
            "training": {k: v for k, v in facts.items() if k != "last_record"},
            "registry_name": args.name,
        },
    )
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    shared_data = args.data.replace("/work/shared/", "../shared/")
    recipe = meta.get("recipe") or {}
    recipe_text = ", ".join(f"{k}={v}" for k, v in recipe.items()) if isinstance(recipe, dict) else str(recipe)
    # Which data trained it, from the run's own metadata: the frequency analyses depend on it.
    lossless = "lossless" in str(meta.get("dataset", ""))
    training_data = (
        "the **4,660 lossless** CIFAR-10 training images (`train_lossless_4660.npz`, 932 per official training "
        f"batch), fine-tuned from `{meta.get('init', 'the public lossless-trained ResNet-20')}` (trained by its "
        "authors on the full lossless training set): no JPEG anywhere"
        if lossless
        else "the **JPEG (quality 75) copy** of the full CIFAR-10 training set (50,000 images): the only full "
        "training set available offline here. JPEG removes high frequencies, which matters for frequency analyses."
    )
    config = json.loads((args.run / "metrics.json").read_text()).get("config", {})
    precision = (
        ", ".join(
            [
                x
                for x, on in (("bf16 autocast", config.get("bf16")), ("channels_last", config.get("channels_last")))
                if on
            ]
        )
        or "fp32"
    )
    reproduce = "\n".join(
        args.reproduce
        or [
            *(
                []
                if lossless
                else ["mkdir -p .data && tar xzf ../shared/data/cifar10/cifar10_jpeg_q75.tar.gz -C .data"]
            ),
            str(facts.get("command", "see tools/train_shipped_models.sh")),
        ]
    )
    card = f"""# {args.name}

{args.description}

| | |
|---|---|
| architecture | ResNet-20 (He et al. 2016, option-A shortcuts), {sum(p.numel() for p in model.parameters()):,} parameters |
| normalisation (inside the model) | mean {tuple(round(m, 4) for m in meta.get("mean", ()))}, std {tuple(round(s, 4) for s in meta.get("std", ()))} |
| recipe | `{recipe_text}` |
| training data | {training_data} |
| training | {facts.get("epochs")} epochs, {facts.get("train_seconds")} s of epoch time (wall clock {facts.get("wall_clock", "n/a")}) on a 2-core AMD EPYC CPU (no GPU), {precision}, shared with other jobs |
| clean accuracy | **{100 * result.clean_accuracy:.1f}%** on {result.n} lossless CIFAR-10 test images (`{metrics["test_data"]}`) |
| PGD-{args.steps} accuracy, L∞ {args.eps * 255:.0f}/255 | **{100 * pgd_acc:.1f}%** on the same images (random start, the library's default PGD step schedule, verified by the harness) |
| SHA-256 | `{digest}` |

Reproduce (from a clone, with the team's offline data in `../shared`):

```bash
{reproduce}
python tools/ship_models.py --run runs/{args.run.name} --name {args.name} --data {shared_data}
```
"""
    (ASSETS / f"{args.name}.md").write_text(card, encoding="utf-8")
    log.info(
        "%s: clean %.2f%%  PGD-%d %.2f%%  (%d images)",
        args.name,
        100 * result.clean_accuracy,
        args.steps,
        100 * pgd_acc,
        result.n,
    )
    log.info("wrote %s (%d bytes) sha256 %s", target, target.stat().st_size, digest)
    log.info("python %s, torch %s, %s", platform.python_version(), torch.__version__, platform.processor() or "cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
