"""``bandlimit train``: train a registered model with a recipe (natural, Gaussian, adversarial).

Example::

    bandlimit train --model resnet20 --recipe fast_fgsm_rs --schedule cyclic --epochs 15
        --data folder:.data/cifar10-jpeg --test-data folder:.data/cifar10-jpeg --out runs/fast

Settings come from, in order of precedence: the command line, a TOML file given with
``--config`` (its keys are the long option names, with ``-`` or ``_``; values are checked as
the command line checks them), then the defaults of :class:`bandlimit.training.TrainConfig`
and of the recipe. ``--out`` must not hold another run (``--resume`` continues the run whose
``state.pt`` it holds; ``--overwrite`` replaces it); Ctrl-C or a full disk keeps the state of
the last finished epoch, and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from bandlimit._threads import set_threads
from bandlimit.cli._settings import add_command, resolve_settings
from bandlimit.training import TrainConfig, train
from bandlimit.training.config import SCHEDULES

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)

#: Built-in defaults of the options that are not TrainConfig fields.
_DEFAULTS: dict[str, Any] = {
    "recipe": "natural",
    "model": "resnet20",
    "sigma_mode": "fixed",
    "train_split": "train",
    "test_split": "test",
}

#: Options that configure the recipe rather than the loop (CLI name -> recipe setting).
_RECIPE_OPTIONS = {
    "eps": "eps",
    "sigma": "sigma",
    "sigma_mode": "mode",
    "steps": "steps",
    "step_size": "step_size",
    "beta": "beta",
    "label_smoothing": "label_smoothing",
}


def _number(text: str) -> float:
    """A float, also written as a fraction such as ``8/255``."""
    try:
        return float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.03 or 8/255, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``train`` sub-command."""
    summary = "train a model with a recipe (natural, gaussian, pgd_at, fast_fgsm_rs, trades)"
    p = add_command(subparsers, "train", run, help=summary, doc=__doc__)
    p.set_defaults(_parser=p)
    # Every option defaults to None so that a TOML --config value can fill what the command
    # line left unset; real defaults are applied by `resolve_settings`.
    g = p.add_argument_group("what to train")
    g.add_argument("--model", help="registered model name (see `bandlimit models`); default resnet20")
    g.add_argument("--recipe", help="natural | gaussian | pgd_at | fast_fgsm_rs | trades; default natural")
    g.add_argument("--data", help="training data: folder:PATH (uses PATH/train if present), npz:PATH, cifar10, ...")
    g.add_argument("--test-data", help="held-out data for clean accuracy (test split of the given source)")
    g.add_argument("--train-split", help="split of --data to train on (default train; samples only have test)")
    g.add_argument("--test-split", help="split of --test-data to evaluate on (default test)")
    g.add_argument("--n-train", type=int, help="use only N training images (class-balanced for folders)")
    r = p.add_argument_group("recipe")
    r.add_argument("--eps", type=_number, help="L∞ budget in [0,1] units, e.g. 8/255")
    r.add_argument("--steps", type=int, help="attack steps (pgd_at, trades)")
    r.add_argument("--step-size", type=_number, help="attack step size, e.g. 2/255 (fast_fgsm_rs: 10/255)")
    r.add_argument("--sigma", type=_number, help="Gaussian noise std in [0,1] units")
    r.add_argument("--sigma-mode", choices=("fixed", "uniform"), help="gaussian: fixed sigma or U[0, sigma]")
    r.add_argument("--beta", type=_number, help="trades: weight of the KL term")
    r.add_argument("--label-smoothing", type=_number, help="label smoothing of the cross-entropy")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help="passes over the training data (default 30)")
    o.add_argument("--batch-size", type=int, help="global batch size (default 256; split across torchrun ranks)")
    o.add_argument("--lr", type=_number, help="peak learning rate")
    o.add_argument("--weight-decay", type=_number, help="L2 weight decay of every parameter (default 5e-4)")
    o.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default onecycle)")
    o.add_argument("--warmup", type=_number, help="warm-up epochs (onecycle peak position)")
    o.add_argument(
        "--seed", type=int, help="seed of the initialisation, shuffling, augmentation and attacks (default 0)"
    )
    o.add_argument(
        "--no-augment", dest="augment", action="store_false", default=None,
        help="no random crop and flip (default: both, on the device)",
    )  # fmt: skip
    s = p.add_argument_group("execution")
    s.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    s.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bfloat16 autocast")
    s.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=None,
        help="channels-last memory format for model and inputs (default: on)",
    )  # fmt: skip
    s.add_argument(
        "--threads", type=int, help="CPU threads for torch (>= 1; default: the cores the load average leaves free)"
    )
    s.add_argument("--eval-every", type=int, help="evaluate every N epochs")
    s.add_argument("--out", help="output folder (checkpoints, metrics.json); default runs/<model>-<recipe>")
    s.add_argument("--resume", nargs="?", const="auto", help="continue from OUT/state.pt (or the file given)")
    s.add_argument(
        "--overwrite", action="store_const", const=True, default=None, help="replace another run's files in --out"
    )
    s.add_argument("--config", help="TOML file whose keys set defaults for these options")
    s.add_argument("--quiet", action="store_const", const=True, default=None, help="no progress bar")


def _config(settings: dict[str, Any], out: str) -> TrainConfig:
    fields = {
        "epochs": "epochs",
        "batch_size": "batch_size",
        "lr": "lr",
        "weight_decay": "weight_decay",
        "schedule": "schedule",
        "warmup": "warmup",
        "seed": "seed",
        "augment": "augment",
        "device": "device",
        "bf16": "bf16",
        "channels_last": "channels_last",
        "eval_every": "eval_every",
        "quiet": "quiet",
    }
    kwargs = {field: settings[key] for key, field in fields.items() if settings.get(key) is not None}
    resume = settings.get("resume")
    if resume == "auto":
        resume = str(Path(out) / "state.pt")
    return TrainConfig(out_dir=out, resume=resume, **kwargs)


#: What a training run's state file keeps (for the messages of a run that stopped).
RESUME_HINT = "the finished epochs"


def run(args: argparse.Namespace) -> int:
    """Run ``bandlimit train``; returns the exit code."""
    import torch

    from bandlimit.cli._runs import MIN_FREE_BYTES, RunFolder, check_room
    from bandlimit.data import load_dataset, load_tensor_dataset
    from bandlimit.models import create_model, list_models
    from defenses.recipes import create_recipe, list_recipes

    settings = resolve_settings(args, args._parser, _DEFAULTS)
    if settings["recipe"] not in list_recipes():
        raise ValueError(f"--recipe: expected one of {list_recipes()}, got {settings['recipe']!r}")
    if settings["model"] not in list_models():
        raise ValueError(f"--model: expected one of {list_models()}, got {settings['model']!r}")
    if not settings.get("data"):
        raise ValueError("--data: expected a dataset such as folder:PATH or cifar10-sample, got nothing")
    recipe_kwargs = {
        name: settings[key] for key, name in _RECIPE_OPTIONS.items() if key in settings and settings[key] is not None
    }
    if settings["recipe"] != "gaussian":
        recipe_kwargs.pop("mode", None)
    out = settings.get("out") or f"runs/{settings['model']}-{settings['recipe']}"
    try:  # the settings are the user's: a wrong name or type is bad input, not a bug
        recipe = create_recipe(settings["recipe"], **recipe_kwargs)
        config = _config(settings, out)
    except TypeError as exc:
        raise ValueError(f"{exc} (check the options and the --config file)") from exc
    # Refuse an unwritable, full or occupied --out before any data is decoded.
    folder = RunFolder.prepare(
        out,
        "train",
        resume=config.resume is not None,
        overwrite=bool(settings.get("overwrite")),
        resume_hint=RESUME_HINT,
    )
    if config.resume is not None:
        from bandlimit.training import read_training_state

        read_training_state(config.resume)  # a missing, damaged or foreign file is refused before any work
    set_threads(settings.get("threads"))

    # Decoded once into one uint8 tensor (cached for image folders); --n-train takes a
    # class-balanced subset through load_dataset instead.
    if settings.get("n_train"):
        train_set = load_dataset(settings["data"], split=settings["train_split"], n=settings["n_train"])
    else:
        train_set = load_tensor_dataset(settings["data"], split=settings["train_split"])
    test_set = (
        load_tensor_dataset(settings["test_data"], split=settings["test_split"]) if settings.get("test_data") else None
    )
    classes = list(getattr(train_set, "classes", []))
    # The initial weights come from the global generator: seed it (without leaving it changed)
    # so that --seed fixes the whole run, not only shuffling, augmentation and recipe noise.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = create_model(settings["model"], num_classes=len(classes) or None)
    # Every epoch writes last.pt, maybe best.pt and model.pt, and state.pt (weights and momentum),
    # each through a temporary copy: room for about eight copies of the weights.
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    check_room(folder.path, MIN_FREE_BYTES + 8 * weights)
    metadata = {"dataset": settings["data"], "test_dataset": settings.get("test_data"), "classes": classes}
    logger.info(
        "training %s with %s on %s (%d images) -> %s", settings["model"], recipe, settings["data"], len(train_set), out
    )
    with folder.guard():
        folder.start()
        result = train(model, train_set, recipe, config, test_data=test_set, metadata=metadata)

    from bandlimit.cli import console
    from bandlimit.training import dist_info

    if not dist_info().is_main:  # under torchrun only rank 0 reports
        return 0
    final = result.final
    line = f"[bold green]done[/] {len(result.history)} epochs, train acc {final.get('train_acc', float('nan')):.4f}"
    if "test_acc" in final:
        line += f", test acc {final['test_acc']:.4f}"
    console.print(f"{line}; model: {result.files.get('model', out)}")
    return 0
