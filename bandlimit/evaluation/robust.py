"""Robust accuracy: verified attacks, per-sample worst case per threat model, checks, resume.

:func:`evaluate` runs a list of attack objects (anything implementing the core protocol
:class:`bandlimit.attack.Attack`: ``name``, ``threat``, ``randomized``, ``uses_gradients``,
``run``) against a model and reports clean accuracy, robust accuracy per attack and the
per-sample worst case over all attacks of each threat model (norm and eps), like AutoAttack.

How the harness keeps the numbers honest:

- every ``x_adv`` is verified (see :func:`~bandlimit.evaluation.verify_adversarial`): NaN,
  values outside [0, 1] or a perturbation over budget raise :class:`BudgetViolation`; the
  output is projected (removing float overshoot only) and predictions are recomputed by
  the harness, never taken from the attack;
- a sample counts as robust at a threat model only if every attack of that group failed;
- randomised models are detected and attacked with EOT versions of the gradient attacks
  (``eot="auto"``); their predictions are a majority vote over ``votes`` forward passes
  (5 when ``votes="auto"``; 1 for deterministic models);
- gradient-masking checks run automatically (:mod:`bandlimit.evaluation.checks`).

The work is planned (:mod:`~bandlimit.evaluation._plan`), run batch by batch into records
that are the resumable state (:mod:`~bandlimit.evaluation._state`), and summarised
(:mod:`~bandlimit.evaluation._summary`).

Randomness: each attack × batch gets a generator derived from ``seed``, the attack's key and
the batch start in the full data set (``index_offset`` plus the start within ``data``), so
results do not depend on how a run was interrupted and resumed, nor on how it was split into
shards whose boundaries fall on batch boundaries (``bandlimit evaluate`` under torchrun).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bandlimit._checks import check_bool, check_choice, check_nonnegative, check_positive_int, check_seed
from bandlimit._env import environment
from bandlimit._io import jsonable
from bandlimit._progress import Progress, progress_option
from bandlimit._torch import model_guard, resolve_device
from bandlimit.evaluation import checks as _chk
from bandlimit.evaluation._common import batches, check_model, known_total
from bandlimit.evaluation._plan import plan_attacks, with_eot
from bandlimit.evaluation._run import RANDOMIZED_VOTES, Probe, Runner, probe_model, sanity_plan, sanity_probe
from bandlimit.evaluation._state import EvaluationState, model_checksum
from bandlimit.evaluation._summary import outcome_checks, summarise, table_from_records
from bandlimit.evaluation._verify import BudgetViolation
from bandlimit.evaluation.evaluation_result import EvaluationResult
from bandlimit.evaluation.results import Finding

__all__ = ["RANDOMIZED_VOTES", "BudgetViolation", "evaluate"]


def _check_args(
    eot: Any, eot_samples: Any, votes: Any, mode: Any, seed: Any, budget_s: Any, index_offset: Any, state_path: Any
) -> None:
    if state_path is not None and not isinstance(state_path, (str, os.PathLike)):
        raise TypeError(f"state_path: expected a file path (str or Path) or None, got {type(state_path).__name__}")
    if not (eot in ("auto", False, True) or (isinstance(eot, int) and eot >= 1)):
        raise ValueError(f"eot: expected 'auto', False or an int >= 1 (EOT samples), got {eot!r}")
    check_positive_int(eot_samples, "eot_samples")
    if votes != "auto":
        check_positive_int(votes, "votes")
    check_choice(mode, "mode", ("individual", "cascade"))
    check_seed(seed)
    if budget_s is not None:
        check_nonnegative(budget_s, "budget_s")
    if isinstance(index_offset, bool) or not isinstance(index_offset, int):
        raise TypeError(
            f"index_offset: expected an int (position of the first sample of data in the full data set), "
            f"got {type(index_offset).__name__}"
        )
    if index_offset < 0:
        raise ValueError(f"index_offset: expected an int >= 0, got {index_offset}")


def _model_checks(model: nn.Module, probe: Probe, eot: dict[str, Any]) -> tuple[list[Finding], dict[str, str]]:
    """Checks on the model itself, on the probe samples: output type, randomness, gradients.

    ``eot`` is the result's EOT record (setting, samples, applied, missing).
    """
    findings = _chk.check_probability_outputs(probe.logits)
    status = {"probability-outputs": "flagged" if findings else "passed"}
    if probe.randomized:
        findings.append(_chk.randomized_finding(eot["applied"], eot["missing"], eot["setting"]))
    status["randomized"] = "flagged" if probe.randomized else "passed"
    if bool(probe.correct.any()):
        grads = _chk.check_gradients(model, probe.x[probe.correct], probe.y[probe.correct])
        findings += grads
        status["gradients"] = "flagged" if grads else "passed"
    else:
        status["gradients"] = "skipped: no correctly classified probe sample"
    return findings, status


@progress_option("evaluate")
def evaluate(
    model: nn.Module,
    data: Any,
    attacks: Any,
    *,
    n: int | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    seed: int = 0,
    mode: str = "individual",
    eot: Any = "auto",
    eot_samples: int = 20,
    votes: int | str = "auto",
    checks: bool = True,
    sanity_attack: Any = None,
    state_path: str | Path | None = None,
    budget_s: float | None = None,
    progress: Progress | bool | None = None,
    index_offset: int = 0,
) -> EvaluationResult:
    """Clean and robust accuracy of ``model`` under ``attacks``, verified and checked.

    Args:
        model: ``nn.Module`` from [0, 1] images to logits (put in eval mode for the call).
        data: A Dataset, a DataLoader or an ``(x, y)`` pair of tensors.
        attacks: An attack or a list of them (objects implementing
            :class:`bandlimit.attack.Attack`); the same attack may appear at several eps.
        n: Evaluate the first ``n`` samples (all when None).
        batch_size: Images per attack call.
        device: Where to run (default: the model's device); ``"cuda"`` without CUDA raises ValueError.
        seed: Seed of every attack's generator (recorded in the result).
        mode: ``"individual"`` runs every attack on every clean-correct sample, so each
            attack's own robust accuracy is reported; ``"cascade"`` runs an attack only on
            samples still robust in its threat group (white-box attacks first, AutoAttack
            style), which is cheaper and gives the same kind of worst case but only
            cumulative per-attack numbers.
        eot: ``"auto"``: on a randomised model, gradient attacks with an ``eot_samples``
            setting run as ``attack.replace(eot_samples=eot_samples)``; an int forces that
            many EOT samples; False never changes the attacks.
        eot_samples: EOT samples used by ``eot="auto"``.
        votes: Forward passes per prediction (majority vote); ``"auto"``: 1, or
            :data:`RANDOMIZED_VOTES` for a randomised model.
        checks: Run the gradient-masking checks (:mod:`bandlimit.evaluation.checks`).
        sanity_attack: An attack at a budget that must break everything (L∞ eps ≥ 0.5 or L2
            eps ≥ 0.5·√(C·H·W), e.g. built by the application layer); run on up to 64
            clean-correct samples when no attack of ``attacks`` has such a budget.
        state_path: Save progress there after every attack × batch and resume from it.
        budget_s: Stop after the first attack × batch that ends past this many seconds;
            the result then has ``complete=False`` (resume with ``state_path``).
        progress: ``True`` for a progress bar on stderr, or a callback
            ``progress(description, completed, total)`` called after each unit of work.
        index_offset: Position of the first sample of ``data`` in the full data set, for a
            shard of a larger evaluation. Attack generators are seeded with global batch
            starts and per-sample records and error messages name global sample indices, so
            evaluating ``data[a:b]`` with ``index_offset=a`` reproduces rows ``a:b`` of the
            full evaluation exactly when ``a`` and ``b`` are multiples of ``batch_size`` (or
            ``b`` is the end of the data): the batches then coincide. Recorded in the state
            file, so a state written with another offset is refused.

    Returns:
        An :class:`~bandlimit.evaluation.results.EvaluationResult`.

    Raises:
        TypeError, ValueError: invalid arguments (an attack not implementing the protocol is
            named by its position), data or model output, or a state file written by another
            evaluation or another version of bandlimit.
        BudgetViolation: an attack returned NaN, values outside [0, 1] or a perturbation
            over its budget (the message names the attack and the sample).
    """
    check_model(model)
    _check_args(eot, eot_samples, votes, mode, seed, budget_s, index_offset, state_path)
    check_positive_int(batch_size, "batch_size")
    check_bool(checks, "checks")
    plan = plan_attacks(attacks)
    dev = resolve_device(device, model=model)
    config = {
        "attacks": [jsonable({"key": p.key, **p.describe()}) for p in plan],
        "n": n,
        "batch_size": batch_size,
        "seed": seed,
        "mode": mode,
        "eot": eot,
        "eot_samples": eot_samples,
        "votes": votes,
        "model": model_checksum(model),
    }
    if index_offset:  # only when non-zero: a one-process run records what it always did
        config["index_offset"] = index_offset
    state = EvaluationState(Path(state_path) if state_path is not None else None, config)
    t_start = time.perf_counter()
    with model_guard(model):
        it = batches(data, batch_size=batch_size, device=dev, n=n, model=model)
        first = next(it, None)
        if first is None:
            raise ValueError("data: expected at least one sample, got none")
        probe = probe_model(model, first[1], first[2], votes, index_offset)
        plan = [with_eot(p, probe.randomized, eot, eot_samples) for p in plan]
        eot_report = {
            "setting": eot,
            "samples": eot_samples,
            "applied": {p.key: p.eot_samples for p in plan if p.eot_status == "applied"},
            "missing": [p.key for p in plan if p.eot_status == "missing"],
        }
        findings, status = _model_checks(model, probe, eot_report) if checks else ([], {"all": "skipped: checks=False"})
        sanity = sanity_plan(sanity_attack, plan, probe, eot, eot_samples) if checks else None
        runner = Runner(
            model,
            seed,
            probe.votes,
            mode,
            state,
            deadline=math.inf if budget_s is None else t_start + budget_s,
            progress=progress,
            total=math.ceil(known_total(data, n) / batch_size) * len(plan),
        )
        global_batches = ((s + index_offset, x, y) for s, x, y in itertools.chain([first], it))
        records, exhausted = runner.run(plan, global_batches)
        times = {p.key: sum(b.attacks[p.key].time_s for b in records if p.key in b.attacks) for p in plan}
        summary = summarise(plan, table_from_records(records, [p.key for p in plan]), times, mode)
        sanity_result = None
        if checks:
            findings += outcome_checks(summary, mode, int(probe.x[0].numel()), status)
            sanity_result, probe_findings = sanity_probe(runner, sanity, probe, status)
            findings += probe_findings
    return EvaluationResult.from_summary(
        summary,
        findings=findings,
        checks=status,
        complete=exhausted and all(len(b.attacks) == len(plan) for b in records),
        mode=mode,
        randomized=probe.randomized,
        votes=probe.votes,
        eot=eot_report,
        sanity=sanity_result,
        time_s=time.perf_counter() - t_start,
        seed=seed,
        config=config,
        environment=environment(dev),
    )
