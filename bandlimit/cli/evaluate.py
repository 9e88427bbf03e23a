"""``bandlimit evaluate``: verified robust accuracy under attacks, with masking checks and a report.

Examples::

    bandlimit evaluate --model resnet20-natural --attack pgd:steps=20 --attack simba:max_queries=1000 --eps 2/255,8/255
    bandlimit evaluate --model ckpt.pt --defense postavg:radius=0.5,samples=15 --suite quick --n 500
    bandlimit evaluate --model my_pkg.module:build --suite quick --leaderboard      # benchmark a new defence
    torchrun --nproc_per_node 4 -m bandlimit.cli evaluate --config run.toml --out runs/x   # n = 10000 in run.toml

Attacks without an explicit budget run once per ``--eps``; ``--norm`` applies to attacks
that take one. Every result lands in ``--out``: ``results.json``, ``config.toml`` (run it
again with ``--config``), ``environment.json``, ``figures/*.png`` and ``report.html``. A run
stopped by ``--budget`` or Ctrl-C is written and marked incomplete; ``--resume`` continues it.
Under torchrun each process evaluates a contiguous slice of whole batches of the samples
(with its global offset, so results equal a one-process run) and rank 0 merges the
per-sample records and writes the folder; it needs at least one batch per process. Give
``--n`` in the ``--config`` file there: torchrun's own parser takes ``--n`` for one of its options.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bandlimit._threads import set_threads
from bandlimit.attack import eps_text
from bandlimit.cli import _dist, _output, names
from bandlimit.cli._settings import COMMON_DEFAULTS, add_command, replayable, resolve_settings

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "norm": "linf",
    "band_space": "dct",
    "eot": "auto",
    "checks": True,
    "sanity": True,
    "analysis_n": 32,
}
#: Budget used when --eps is not given.
DEFAULT_EPS = {"linf": 8 / 255, "l2": 0.5}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``evaluate`` sub-command."""
    from bandlimit.cli.suites import SUITES

    summary = "robust accuracy under attacks, gradient-masking checks, figures and an HTML report"
    p = add_command(subparsers, "evaluate", run, help=summary, doc=__doc__, common=True)
    p.epilog = f"{names.catalogue()}\n\n{p.epilog}"
    a = p.add_argument_group("attacks")
    a.add_argument(
        "--attack", action="append", metavar="SPEC", help="NAME[:key=value,...] (repeatable), e.g. pgd:steps=20"
    )
    a.add_argument("--suite", choices=SUITES.names(), help="adaptive attack suite (default quick if no --attack)")
    a.add_argument("--eps", help="comma-separated budgets, e.g. 2/255,8/255 (default 8/255 L∞, 0.5 L2)")
    a.add_argument("--norm", choices=("linf", "l2"), help="threat norm of attacks that take one (default linf)")
    a.add_argument(
        "--mode",
        choices=("individual", "cascade"),
        help="every attack on every sample, or each only on the survivors (default: cascade for a suite, "
        "else individual)",
    )
    a.add_argument(
        "--band",
        choices=("low", "mid", "high"),
        help="band-limited threat model: gradient attacks confine the perturbation to this band; attacks "
        "that cannot (Square, SimBA) are left out of suites",
    )
    a.add_argument("--band-space", choices=("dct", "fourier"), help="transform of --band (default dct)")
    a.add_argument("--eot", help="auto (default: EOT on randomised models), off, or EOT samples N")
    a.add_argument(
        "--no-checks", dest="checks", action="store_const", const=False, default=None, help="skip the masking checks"
    )
    a.add_argument(
        "--no-sanity", dest="sanity", action="store_const", const=False, default=None, help="skip huge-eps probe"
    )
    r = p.add_argument_group("long runs")
    r.add_argument("--resume", action="store_const", const=True, default=None, help="continue OUT/state.pt")
    r.add_argument("--budget", type=float, metavar="SECONDS", help="stop after this long (results marked incomplete)")
    f = p.add_argument_group("frequency analyses and benchmark")
    f.add_argument("--heatmap", action="store_const", const=True, default=None, help="Fourier heat map too")
    f.add_argument("--spectrum", action="store_const", const=True, default=None, help="perturbation spectra too")
    f.add_argument("--filtered", action="store_const", const=True, default=None, help="accuracy vs bandwidth too")
    f.add_argument("--analysis-n", type=int, help="samples for those analyses (default 32)")
    f.add_argument(
        "--leaderboard",
        "--baselines",
        dest="leaderboard",
        action="store_const",
        const=True,
        default=None,
        help="rank the model beside the shipped baselines (implies --heatmap --spectrum; suite quick by default)",
    )


def _parse_eot(value: Any) -> Any:
    if value in (None, "auto"):
        return "auto"
    if value in ("off", "false", "no", False):
        return False
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or isinstance(value, bool):
        raise ValueError(f"--eot: expected auto, off or a number of EOT samples >= 1, got {value!r}")
    return number


def _plan(settings: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the attack settings before anything is loaded."""
    from bandlimit.cli.specs import parse_eps_list
    from bandlimit.cli.suites import SUITES, build_suite

    norm = settings["norm"]
    raw = settings.get("eps")
    eps_list = parse_eps_list(raw, norm=norm) if raw is not None else [DEFAULT_EPS[norm]]
    specs = list(settings.get("attack") or [])
    if settings.get("leaderboard"):
        settings["suite"] = settings.get("suite") or "quick"
        settings["heatmap"] = settings["spectrum"] = True
    if not specs and not settings.get("suite"):
        settings["suite"] = "quick"
    if settings.get("mode") is None:  # a suite is meant as a cascade (AutoAttack style)
        suite = SUITES.get(settings["suite"]).obj if settings.get("suite") and not specs else None
        settings["mode"] = suite.mode if suite is not None else "individual"
    # Unknown names and bad settings fail here, before any work (the suite's image size and
    # model kind are not known yet; the check does not depend on them).
    names.build_attacks(specs, eps_list, norm)
    if settings.get("suite"):
        build_suite(settings["suite"], eps_list, norm=norm, randomized=True, flagged=True, **_band(settings))
    budget = settings.get("budget")
    if budget is not None and not budget >= 0:  # NaN fails this test too
        raise ValueError(f"--budget: expected seconds >= 0, got {budget}")
    settings["eps"] = ",".join(eps_text(e, norm) for e in eps_list)
    return {"eps_list": eps_list, "specs": specs, "eot": _parse_eot(settings.get("eot"))}


def _check_l2_budgets(attacks: list[Any], shape: tuple[int, ...]) -> None:
    """Refuse an L2 budget beyond the diameter of the image cube: no image is that far from another.

    Raises:
        ValueError: naming the attack and the largest meaningful budget.
    """
    import math

    diameter = math.sqrt(math.prod(shape))
    for attack in attacks:
        if attack.threat.norm == "l2" and attack.threat.eps > diameter:
            raise ValueError(
                f"--eps: an L2 budget of {attack.threat.eps:g} ({attack.name}) exceeds {diameter:.4g}, the distance "
                f"between the darkest and brightest {'×'.join(map(str, shape))} images; expected eps <= {diameter:.4g} "
                "(CIFAR papers use 0.5)"
            )


def _band(settings: dict[str, Any]) -> dict[str, Any]:
    """The band-limited threat model of ``--band`` / ``--band-space`` as suite arguments."""
    return {"band": settings.get("band"), "band_space": settings.get("band_space") or "dct"}


def _attacks_for(model: Any, data: Any, settings: dict[str, Any], plan: dict[str, Any]) -> list[Any]:
    import torch

    from bandlimit._torch import model_device
    from bandlimit.cli.suites import build_suite, model_flags

    attacks = names.build_attacks(plan["specs"], plan["eps_list"], settings["norm"])
    if settings.get("suite"):
        # The model checks on a few images choose the suite's conditional attacks (EOT, Square).
        probe = [data[i] for i in range(min(8, len(data)))]
        x = torch.stack([p[0] for p in probe]).to(model_device(model))
        y = torch.as_tensor([int(p[1]) for p in probe], device=x.device)
        randomized, flagged = model_flags(model, x, y)
        attacks += build_suite(
            settings["suite"],
            plan["eps_list"],
            norm=settings["norm"],
            image_size=int(x.shape[-1]),
            randomized=randomized,
            flagged=flagged,
            **_band(settings),
        )
    return attacks


def _sanity_attack(settings: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """PGD at a budget that reaches any image: a working attack leaves nothing robust there."""
    import math

    if not settings.get("sanity") or not settings.get("checks"):
        return None
    eps = 1.0 if settings["norm"] == "linf" else math.sqrt(math.prod(shape))
    return names.build_attack("pgd:steps=20", eps=eps, norm=settings["norm"])


def _evaluate(
    model: Any, data: Any, attacks: list[Any], settings: dict[str, Any], plan: dict[str, Any], ctx: dict[str, Any]
) -> tuple[Any, bool]:
    """Run the harness on this rank's shard; merge on rank 0 under torchrun; survive Ctrl-C."""
    from bandlimit.evaluation import EvaluationResult, evaluate

    info, state = ctx["info"], Path(ctx["state"])
    if info.enabled:
        state = state.with_name(f"{state.stem}-rank{info.rank}{state.suffix}")
    # Whole batches per rank and the global offset: the merged result equals a one-process run.
    part, offset = _dist.shard(data, info, settings["batch_size"])
    kwargs = dict(
        batch_size=settings["batch_size"],
        device=ctx["device"],
        seed=settings["seed"],
        mode=settings["mode"],
        eot=plan["eot"],
        checks=settings["checks"],
        sanity_attack=ctx["sanity"],
        state_path=state,
        index_offset=offset,
    )
    interrupted = False
    try:
        with ctx["reporter"].task(ctx["title"]) as progress:
            result = evaluate(model, part, attacks, budget_s=settings.get("budget"), progress=progress, **kwargs)
    except KeyboardInterrupt:
        # The state file holds every finished attack × batch; re-reading it with a zero budget
        # gives the partial result (at most one more unit of work runs).
        interrupted = True
        from bandlimit.cli import err_console

        err_console.print("[yellow]interrupted: writing the partial results (Ctrl-C again to abort)...[/]")
        result = evaluate(model, part, attacks, budget_s=0.0, **kwargs)
    if info.enabled:
        from bandlimit.training.distributed import all_gather_objects

        shards = all_gather_objects(result, info)
        result = EvaluationResult.merge(shards, names.image_shape(data)) if info.is_main else result
        box = [result]
        import torch.distributed as dist

        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result, interrupted


#: What the state files of an evaluate run keep (for the messages of a run that stopped).
RESUME_HINT = "the finished attacks × batches"


def _check_states(path: Path) -> None:
    """Before ``--resume`` loads anything: the folder's state files must be evaluation states.

    Raises:
        ValueError: a damaged or foreign state file (one line; the file is left as it is).
    """
    from bandlimit._io import load_torch_file

    for file in sorted(path.glob("state*.pt")):
        try:
            state = load_torch_file(file, what="evaluation state")
        except ValueError as exc:
            raise ValueError(f"--resume: {exc}; delete it to start afresh, or choose another --out") from exc
        if not (isinstance(state, dict) and "fingerprint" in state and "batches" in state):
            kind = "a training state" if isinstance(state, dict) and "run_id" in state else "some other file"
            raise ValueError(
                f"--resume: {file} is {kind}, not the state of an interrupted evaluate run; choose another --out"
            )


def run(args: argparse.Namespace) -> int:
    """Run ``bandlimit evaluate``; returns the exit code."""
    from bandlimit.cli._runs import RunFolder

    settings = resolve_settings(args, args._parser, DEFAULTS)
    plan = _plan(settings)
    info, device = _dist.dist_setup(settings.get("device"))
    set_threads(settings.get("threads"))
    folder = None
    if info.is_main:
        folder = RunFolder.prepare(
            settings.get("out"),
            "evaluate",
            resume=bool(settings.get("resume")),
            overwrite=bool(settings.get("overwrite")),
            resume_hint=RESUME_HINT,
        )
        if settings.get("resume"):
            _check_states(folder.path)
    model = names.load_model(settings, device)
    data = names.load_data(settings)
    shape = names.image_shape(data)
    attacks = _attacks_for(model, data, settings, plan)
    _check_l2_budgets(attacks, shape)
    if folder is not None:
        folder.start()  # before the ranks meet: they write their state files into it
    path = _dist.broadcast_path(folder.path if folder else Path(), info)
    folder = folder or RunFolder(path, resume_hint=RESUME_HINT)
    settings["out"] = str(path)
    ctx = {
        "info": info,
        "device": device,
        "state": folder.file("state.pt"),
        "sanity": _sanity_attack(settings, shape),
        "reporter": _output.Reporter(not settings.get("quiet") and info.is_main),
        "title": "evaluate",
    }
    with folder.guard():
        return _run(model, data, attacks, settings, plan, ctx, folder)


def _run(
    model: Any, data: Any, attacks: list[Any], settings: dict[str, Any], plan: dict[str, Any], ctx: dict[str, Any],
    folder: Any,
) -> int:  # fmt: skip
    """Evaluate, write the folder, show the results; returns the exit code."""
    from bandlimit.cli._evaluation_report import incomplete_banner, result_sections

    info, device = ctx["info"], ctx["device"]
    result, interrupted = _evaluate(model, data, attacks, settings, plan, ctx)
    if info.is_main:
        folder.write_json("results.json", result)
        folder.write_config(replayable(settings))
        folder.write_environment(device, world_size=info.world_size)
    board = None
    if settings.get("leaderboard") and not interrupted:
        board = _leaderboard(result, data, settings, plan, ctx, folder)
    if info.is_main:
        sections = result_sections(result, settings, board, folder)
        if not interrupted:
            sections += _analyses(model, data, attacks, settings, ctx, folder)
        banner = incomplete_banner(result, interrupted)
        _output.write_report(folder, f"bandlimit evaluate: {settings['model']}", sections, settings, incomplete=banner)
        _output.show(sections)
        from bandlimit.cli import console

        if banner:
            console.print(f"[bold red]{banner}[/]")
        console.print(f"[dim]results: {folder.path}/ (results.json, config.toml, figures/, report.html)[/]")
    if info.enabled:
        import torch.distributed as dist

        # Peers wait until rank 0 has written the folder: a rank that tears gloo down while
        # another still talks to it can abort the whole job at exit.
        dist.barrier()
        dist.destroy_process_group()
    if interrupted:
        return 130
    return 0 if result.complete else 3


def _leaderboard(
    result: Any, data: Any, settings: dict[str, Any], plan: dict[str, Any], ctx: dict[str, Any], folder: Any
) -> list[Any]:
    from bandlimit.cli._leaderboard import build_leaderboard, entry_from_result, settings_fingerprint

    keys = ("data", "data_root", "split", "n", "seed", "suite", "attack", "eps", "norm", "band", "band_space")
    keys += ("mode", "eot", "batch_size")
    shared = {k: settings.get(k) for k in keys}

    def evaluate_baseline(name: str) -> Any:
        model = names.resolve_model(name).to(ctx["device"]).eval()
        attacks = _attacks_for(model, data, settings, plan)
        sub = {**ctx, "state": folder.file(f"baselines/{name}.state.pt"), "title": f"baseline {name}"}
        folder.file("baselines").mkdir(exist_ok=True)
        return _evaluate(model, data, attacks, settings, plan, sub)[0]

    user = entry_from_result(str(settings["model"]), result, norm=settings["norm"], source="this run")
    return build_leaderboard(
        user,
        evaluate_baseline,
        norm=settings["norm"],
        cache=folder,
        fingerprint=settings_fingerprint(shared),
        write_cache=ctx["info"].is_main,
    )


def _analyses(
    model: Any, data: Any, attacks: list[Any], settings: dict[str, Any], ctx: dict[str, Any], folder: Any
) -> list[_output.Section]:
    """The optional frequency analyses on the first --analysis-n samples."""
    from bandlimit.cli.heatmap import heatmap_section
    from bandlimit.cli.spectrum import filtered_section, spectrum_section

    n = min(settings["analysis_n"], len(data))
    reporter, sections = ctx["reporter"], []
    if settings.get("heatmap"):
        sections.append(heatmap_section(model, data, settings, reporter, folder, n=n, json_name="heatmap.json")[1])
    if settings.get("spectrum"):
        # The attacks at the largest budget of the chosen norm (and those with a fixed budget).
        top = max((a.threat.eps for a in attacks if a.threat.norm == settings["norm"]), default=None)
        chosen = [a for a in attacks if a.threat.norm != settings["norm"] or a.threat.eps == top]
        sections.append(
            spectrum_section(model, data, chosen, settings, reporter, folder, n=n, json_name="spectrum.json")[1]
        )
    if settings.get("filtered"):
        sections.append(filtered_section(model, data, settings, reporter, folder, n=n, json_name="filtered.json")[1])
    return sections
