"""Robust accuracy: verified attacks, per-sample worst case per threat model, checks, resume.

:func:`evaluate` runs a list of attack objects (the duck-typed interface of
``attacks.base.Attack``: ``run``, ``threat``, ``uses_gradients``, ``config``, ``replace``)
against a model and reports clean accuracy, robust accuracy per attack and the per-sample
worst case over all attacks of each threat model (norm and eps), like AutoAttack.

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

Randomness: each attack × batch gets a generator derived from ``seed``, the attack's key and
the batch start in the full data set (``index_offset`` plus the start within ``data``), so
results do not depend on how a run was interrupted and resumed, nor on how it was split into
shards whose boundaries fall on batch boundaries (``bandlimit evaluate`` under torchrun).
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_choice, check_logits, check_nonnegative, check_positive_int
from bandlimit.evaluation import checks as _chk
from bandlimit.evaluation._common import (
    Progress,
    batches,
    check_model,
    derive_generator,
    known_total,
    model_guard,
    notify,
    predict,
    progress_option,
    resolve_device,
)
from bandlimit.evaluation._state import batch_checksum, load_state, model_checksum, new_state, save_state
from bandlimit.evaluation._summary import Planned as _Planned
from bandlimit.evaluation._summary import post_checks as _post_checks
from bandlimit.evaluation._summary import summaries as _summaries
from bandlimit.evaluation._verify import BudgetViolation, attack_info, verify_adversarial
from bandlimit.evaluation.results import (
    AttackSummary,
    EvaluationResult,
    Finding,
    GroupSummary,
    SampleTable,
    environment,
    jsonable,
)

__all__ = ["RANDOMIZED_VOTES", "BudgetViolation", "evaluate"]

#: Forward passes per prediction of a randomised model when ``votes="auto"``.
RANDOMIZED_VOTES = 5
#: Samples of the first batch used by the model checks and the huge-eps probe.
PROBE_SAMPLES = 64


def _label(norm: str, eps: float) -> str:
    return f"{norm}/{eps:.6g}"


def _plan(attacks: list[Any]) -> list[_Planned]:
    infos = [attack_info(a, i) for i, a in enumerate(attacks)]
    plan, seen = [], {}
    for attack, info in zip(attacks, infos, strict=True):
        base = f"{info['name']}/{_label(info['norm'], info['eps'])}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        plan.append(_Planned(key, _label(info["norm"], info["eps"]), attack, info))
    return plan


def _with_eot(p: _Planned, randomized: bool, eot: Any, eot_samples: int) -> str:
    """Swap in an EOT version of a gradient attack when asked; returns the status."""
    if not p.info["uses_gradients"]:
        return "n/a"
    want = eot if isinstance(eot, int) and not isinstance(eot, bool) else None
    if want is None and eot in ("auto", True) and randomized:
        want = eot_samples
    current = p.info["config"].get("eot_samples", None)
    if isinstance(current, int) and current > 1 and (want is None or current >= want):
        # The caller configured EOT on this attack already; it counts as applied either way.
        p.eot_samples = current
        return "applied"
    if want is None:
        return "missing" if randomized else "n/a"
    if "eot_samples" not in p.info["config"] or not callable(getattr(p.attack, "replace", None)):
        return "missing"
    if isinstance(current, int) and current >= want:
        p.eot_samples = current
        return "applied"
    p.attack = p.attack.replace(eot_samples=want)
    p.info = {**p.info, "config": dict(getattr(p.attack, "config", {}))}
    p.eot_samples = want
    return "applied"


def _run_attack(
    p: _Planned, model: nn.Module, x: Tensor, y: Tensor, mask: Tensor, start: int, seed: int, votes: int
) -> dict[str, Any]:
    """Run one attack on the masked samples of a batch; verify; re-predict; time it.

    ``start`` is the global index of the batch's first sample: it seeds the attack's generator
    and names samples in :class:`BudgetViolation` messages.
    """
    n = x.shape[0]
    pred = torch.full((n,), -1, dtype=torch.long)
    dist = torch.full((n,), math.nan, dtype=torch.float64)
    queries = torch.full((n,), -1, dtype=torch.long)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    idx = mask.nonzero().squeeze(1)
    if idx.numel():
        xs, ys = x[idx], y[idx]
        gen = derive_generator(seed, p.key, start, device=x.device)
        out = p.attack.run(model, xs, ys, generator=gen)
        x_adv = out if isinstance(out, Tensor) else getattr(out, "x_adv", None)
        x_adv, d = verify_adversarial(
            xs, x_adv, norm=p.info["norm"], eps=p.info["eps"], attack=p.key, indices=idx + start
        )
        idx_cpu = idx.cpu()
        pred[idx_cpu] = predict(model, x_adv, votes).cpu()
        dist[idx_cpu] = d.cpu()
        q = getattr(out, "queries", None)
        if isinstance(q, Tensor) and q.shape == (idx.numel(),):
            queries[idx_cpu] = q.detach().long().cpu()
    sync()
    return {"pred": pred, "dist": dist, "queries": queries, "time": time.perf_counter() - t0}


def _check_args(eot: Any, eot_samples: Any, votes: Any, mode: Any, seed: Any, budget_s: Any, index_offset: Any) -> None:
    if not (eot in ("auto", False, True) or (isinstance(eot, int) and eot >= 1)):
        raise ValueError(f"eot: expected 'auto', False or an int >= 1 (EOT samples), got {eot!r}")
    check_positive_int(eot_samples, "eot_samples")
    if votes != "auto":
        check_positive_int(votes, "votes")
    check_choice(mode, "mode", ("individual", "cascade"))
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if budget_s is not None:
        check_nonnegative(budget_s, "budget_s")
    if isinstance(index_offset, bool) or not isinstance(index_offset, int):
        raise TypeError(
            f"index_offset: expected an int (position of the first sample of data in the full data set), "
            f"got {type(index_offset).__name__}"
        )
    if index_offset < 0:
        raise ValueError(f"index_offset: expected an int >= 0, got {index_offset}")


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
        attacks: An attack or a list of them; the same attack may appear at several eps.
        n: Evaluate the first ``n`` samples (all when None).
        batch_size: Images per attack call.
        device: Where to run (default: the model's device).
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
        TypeError, ValueError: invalid arguments, data or model output, or a state file
            written by another evaluation.
        BudgetViolation: an attack returned NaN, values outside [0, 1] or a perturbation
            over its budget (the message names the attack and the sample).
    """
    check_model(model)
    attack_list = [attacks] if hasattr(attacks, "run") else list(attacks)
    if not attack_list:
        raise ValueError("attacks: expected at least one attack, got an empty list")
    _check_args(eot, eot_samples, votes, mode, seed, budget_s, index_offset)
    check_positive_int(batch_size, "batch_size")
    plan = _plan(attack_list)
    sanity_info = attack_info(sanity_attack, 0) if sanity_attack is not None else None
    dev = resolve_device(model, device)
    config = {
        "attacks": [{"key": p.key, **{k: jsonable(v) for k, v in p.info.items()}} for p in plan],
        "n": n,
        "batch_size": batch_size,
        "seed": seed,
        "mode": mode,
        "eot": eot,
        "eot_samples": eot_samples,
        "votes": votes,
        "model": model_checksum(model),
    }
    if index_offset:
        # Only when non-zero, so state files written before this option existed still resume.
        config["index_offset"] = index_offset
    path = Path(state_path) if state_path is not None else None
    state = (load_state(path, config) if path is not None else None) or new_state(config)
    t_start = time.perf_counter()
    total = math.ceil(known_total(data, n) / batch_size) * len(plan)
    done, stopped = 0, False
    records: list[tuple[int, dict[str, Any]]] = []
    findings: list[Finding] = []
    with model_guard(model):
        it = batches(data, batch_size=batch_size, device=dev, n=n)
        first = next(it, None)
        if first is None:
            raise ValueError("data: expected at least one sample, got none")
        x0, y0 = first[1][:PROBE_SAMPLES], first[2][:PROBE_SAMPLES]
        with torch.no_grad():
            logits = model(x0)
        num_classes = check_logits(logits, x0.shape[0])
        if int(y0.max()) >= num_classes or int(y0.min()) < 0:
            raise ValueError(
                f"data labels: expected values in [0, {num_classes - 1}] for a model with "
                f"{num_classes} outputs, got [{int(y0.min())}, {int(y0.max())}]"
            )
        randomized = _chk.is_randomized(model, x0)
        n_votes = votes if isinstance(votes, int) else (RANDOMIZED_VOTES if randomized else 1)
        status = {p.key: _with_eot(p, randomized, eot, eot_samples) for p in plan}
        applied = {p.key: p.eot_samples for p in plan if status[p.key] == "applied"}
        missing = [k for k, s in status.items() if s == "missing"]
        probe_correct = predict(model, x0, n_votes) == y0
        check_status: dict[str, str] = {}
        if checks:
            findings += _chk.check_probability_outputs(logits)
            check_status["probability-outputs"] = "flagged" if findings else "passed"
            if randomized:
                findings.append(_chk.randomized_finding(applied, missing, eot))
            check_status["randomized"] = "flagged" if randomized else "passed"
            if bool(probe_correct.any()):
                grads = _chk.check_gradients(model, x0[probe_correct], y0[probe_correct])
                findings += grads
                check_status["gradients"] = "flagged" if grads else "passed"
            else:
                check_status["gradients"] = "skipped: no correctly classified probe sample"
        groups: dict[str, list[_Planned]] = {}
        for p in plan:
            groups.setdefault(p.group, []).append(p)
        if mode == "cascade":  # white-box first, as in AutoAttack (black-box ones are slow)
            groups = {g: sorted(m, key=lambda p: not p.info["uses_gradients"]) for g, m in groups.items()}
        for start, x, y in itertools.chain([first], it):
            entry = state["batches"].get(start)
            checksum = batch_checksum(x, y)
            if entry is None:
                entry = {
                    "checksum": checksum,
                    "label": y.cpu(),
                    "clean_pred": predict(model, x, n_votes).cpu(),
                    "attacks": {},
                }
                state["batches"][start] = entry
            elif entry["label"].shape[0] != x.shape[0] or not math.isclose(
                entry["checksum"], checksum, rel_tol=1e-9, abs_tol=1e-6
            ):
                raise ValueError(
                    f"state_path: the data of the batch starting at sample {start + index_offset} differ from "
                    "the state file (other data, order or transform); resume with the same "
                    "data in the same order, or delete the state file"
                )
            records.append((start + index_offset, entry))  # global indices in the sample table
            correct = entry["clean_pred"].to(dev) == y
            for members in groups.values():
                alive = correct.clone()
                for p in members:
                    rec = entry["attacks"].get(p.key)
                    if rec is None:
                        mask = alive if mode == "cascade" else correct
                        rec = _run_attack(p, model, x, y, mask, start + index_offset, seed, n_votes)
                        entry["attacks"][p.key] = rec
                        if path is not None:
                            save_state(path, state)
                        if budget_s is not None and time.perf_counter() - t_start > budget_s:
                            stopped = True
                    done += 1
                    notify(progress, f"{p.key} (samples {start + index_offset}+)", done, total)
                    pred = rec["pred"].to(dev)
                    alive &= ~((pred >= 0) & (pred != y))
                    if stopped:
                        break
                if stopped:
                    break
            if stopped:  # checked here, so no batch is drawn from the data and dropped
                break
        # Stopping right after the last unit of the last batch still completes the run.
        exhausted = not stopped or next(it, None) is None
        sanity = None
        result_groups = _summaries(plan, groups, records, mode)
        if checks:
            findings += _post_checks(plan, groups, records, result_groups, mode, x0, check_status)
            sanity, sanity_findings = _sanity(
                sanity_attack,
                sanity_info,
                result_groups,
                model,
                (x0, y0, probe_correct, index_offset),
                randomized,
                eot,
                eot_samples,
                seed,
                n_votes,
                check_status,
            )
            findings += sanity_findings
        else:
            check_status = {"all": "skipped: checks=False"}
    table, attack_summaries, group_summaries, clean_acc = result_groups
    complete = exhausted and all(len(e["attacks"]) == len(plan) for _, e in records)
    return EvaluationResult(
        n=int(table.label.numel()),
        clean_accuracy=clean_acc,
        robust_accuracy={g.key: g.robust_accuracy for g in group_summaries},
        attacks=attack_summaries,
        groups=group_summaries,
        samples=table,
        findings=findings,
        checks=check_status,
        complete=complete,
        mode=mode,
        randomized=randomized,
        votes=n_votes,
        eot={"setting": eot, "samples": eot_samples, "applied": applied, "missing": missing},
        sanity=sanity,
        time_s=time.perf_counter() - t_start,
        seed=seed,
        config=config,
        environment=environment(dev),
    )


def _sanity(
    attack: Any,
    info: dict[str, Any] | None,
    summaries: tuple[SampleTable, list[AttackSummary], list[GroupSummary], float],
    model: nn.Module,
    probe: tuple[Tensor, Tensor, Tensor, int],
    randomized: bool,
    eot: Any,
    eot_samples: int,
    seed: int,
    votes: int,
    status: dict[str, str],
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Run the huge-eps probe when no listed attack has a budget that must break everything.

    ``probe`` is ``(x0, y0, correct, start)``: the probe images and labels, the mask of those
    classified correctly (the ones attacked) and the global index of the first one.
    """
    x, y, correct, start = probe
    if "huge-eps" in status:
        return None, []
    if attack is None or info is None:
        status["huge-eps"] = "skipped: no attack at a huge eps and no sanity_attack given"
        return None, []
    numel = int(x[0].numel()) if x.numel() else 0
    if not _chk.huge_eps(info["norm"], info["eps"], numel):
        raise ValueError(
            f"sanity_attack: expected a budget that can reach the mid-grey image (linf eps >= "
            f"0.5 or l2 eps >= {0.5 * math.sqrt(numel):.4g}), got {info['norm']} eps={info['eps']}"
        )
    if not bool(correct.any()):
        status["huge-eps"] = "skipped: no correctly classified probe sample"
        return None, []
    p = _Planned(f"sanity:{info['name']}/{_label(info['norm'], info['eps'])}", "sanity", attack, info)
    _with_eot(p, randomized, eot, eot_samples)
    y = y.to(x.device)
    # The mask (rather than x[correct]) keeps sample positions, so messages name global indices.
    rec = _run_attack(p, model, x, y, correct.to(x.device), start, seed, votes)
    n = int(correct.sum())
    n_robust = int((rec["pred"] == y.cpu()).sum())  # samples not attacked have pred -1
    acc = n_robust / n
    findings = _chk.check_huge_eps(p.key, acc, n_robust)
    status["huge-eps"] = "flagged" if findings else "passed"
    sanity = {
        "attack": p.key,
        "norm": info["norm"],
        "eps": info["eps"],
        "n": n,
        "n_robust": n_robust,
        "robust_accuracy": acc,
        "eot_samples": p.eot_samples,
    }
    return sanity, findings
