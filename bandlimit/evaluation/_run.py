"""Running an evaluation's plan: the probe samples, attack × batch units into records, the huge-eps probe.

:func:`~bandlimit.evaluation.evaluate` plans (:mod:`~bandlimit.evaluation._plan`), probes the
model on its first samples (:func:`probe_model`), runs every attack × batch with a
:class:`Runner` into the resumable records (:mod:`~bandlimit.evaluation._state`), then
summarises (:mod:`~bandlimit.evaluation._summary`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_label_range, check_logits
from bandlimit._progress import Progress, notify
from bandlimit._torch import first_forward
from bandlimit.evaluation import checks as _chk
from bandlimit.evaluation._common import derive_generator, predict
from bandlimit.evaluation._plan import PlannedAttack, check_attack, with_eot
from bandlimit.evaluation._state import AttackRecord, BatchRecord, EvaluationState, batch_checksum
from bandlimit.evaluation._summary import group_members
from bandlimit.evaluation._verify import verify_adversarial
from bandlimit.evaluation.results import Finding

__all__ = ["PROBE_SAMPLES", "RANDOMIZED_VOTES", "Probe", "Runner", "probe_model", "sanity_plan", "sanity_probe"]

#: Forward passes per prediction of a randomised model when ``votes="auto"``.
RANDOMIZED_VOTES = 5
#: Samples of the first batch used by the model checks and the huge-eps probe.
PROBE_SAMPLES = 64

_CLEAN = "model output on the clean images"


@dataclasses.dataclass(frozen=True)
class Probe:
    """The first samples of the data: they decide randomness and votes and feed the model checks.

    Attributes:
        x, y: Up to :data:`PROBE_SAMPLES` images and labels of the first batch.
        logits: The model's outputs on ``x``.
        randomized: Whether identical calls give different outputs.
        votes: Forward passes per prediction for the whole evaluation.
        correct: Which probe samples the model classifies correctly (with ``votes``).
        start: Global index of ``x[0]``.
    """

    x: Tensor
    y: Tensor
    logits: Tensor
    randomized: bool
    votes: int
    correct: Tensor
    start: int


def probe_model(model: nn.Module, x: Tensor, y: Tensor, votes: int | str, start: int) -> Probe:
    """Probe the model on the first samples of the first batch (``start`` is its global index).

    Raises:
        ValueError, TypeError: images the model cannot take (named clearly), malformed logits or
            labels outside the model's output width.
        NonFiniteLogits: NaN or inf logits.
    """
    x0, y0 = x[:PROBE_SAMPLES], y[:PROBE_SAMPLES]
    with torch.no_grad():
        logits = first_forward(model, x0, "data images")
    num_classes = check_logits(logits, x0.shape[0], _CLEAN, samples=start)
    check_label_range(y0, num_classes, "data labels", samples=start)
    randomized = _chk.is_randomized(model, x0)
    n_votes = votes if isinstance(votes, int) else (RANDOMIZED_VOTES if randomized else 1)
    correct = predict(model, x0, n_votes, name=_CLEAN, samples=start) == y0
    return Probe(x0, y0, logits, randomized, n_votes, correct, start)


@dataclasses.dataclass
class Runner:
    """Runs planned attacks batch by batch into the state's records; stops at the time budget.

    Attributes:
        model: The model (in eval mode, frozen, for the whole run).
        seed: Seed of every attack's generators.
        votes: Forward passes per prediction.
        mode: ``"individual"`` or ``"cascade"``.
        state: The batch records (saved after every attack × batch when it has a path).
        deadline: ``time.perf_counter()`` value after which no further unit of work starts.
        progress: Called after every attack × batch, with ``total`` units expected.
    """

    model: nn.Module
    seed: int
    votes: int
    mode: str
    state: EvaluationState
    deadline: float
    progress: Progress | None
    total: int
    done: int = 0

    def attack(self, p: PlannedAttack, x: Tensor, y: Tensor, mask: Tensor, start: int) -> AttackRecord:
        """Run one attack on the masked samples of a batch; verify; re-predict; time it.

        ``start`` is the global index of the batch's first sample: it seeds the attack's
        generator and names samples in :class:`BudgetViolation` messages.
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
            gen = derive_generator(self.seed, p.key, start, device=x.device)
            out = p.run(self.model, xs, ys, generator=gen, start=start)
            # A bare tensor is accepted too; verify_adversarial names anything else.
            x_adv = out if isinstance(out, Tensor) else getattr(out, "x_adv", None)
            x_adv, d = verify_adversarial(xs, x_adv, norm=p.norm, eps=p.eps, attack=p.key, indices=idx + start)
            idx_cpu = idx.cpu()
            name = f"model output on the adversarial examples of attack {p.key}"
            pred[idx_cpu] = predict(self.model, x_adv, self.votes, name=name, samples=idx + start).cpu()
            dist[idx_cpu] = d.cpu()
            q = getattr(out, "queries", None)
            if isinstance(q, Tensor) and q.shape == (idx.numel(),):
                queries[idx_cpu] = q.detach().long().cpu()
        sync()
        return AttackRecord(pred, dist, queries, time.perf_counter() - t0)

    def batch(self, plan: Sequence[PlannedAttack], start: int, x: Tensor, y: Tensor) -> tuple[BatchRecord, bool]:
        """Run the attacks of ``plan`` not yet recorded on one batch.

        Returns:
            The batch's record, and whether the time budget ran out (the batch may then be
            unfinished).
        """
        checksum = batch_checksum(x, y)
        record = self.state.find(start, checksum, x.shape[0])
        if record is None:
            clean = predict(self.model, x, self.votes, name=_CLEAN, samples=start, y=y)
            record = self.state.add_batch(BatchRecord(start, checksum, y.cpu(), clean.cpu()))
        correct = record.clean_pred.to(x.device) == y
        for members in group_members(plan, self.mode).values():
            alive = correct.clone()
            for p in members:
                rec = record.attacks.get(p.key)
                stopped = False
                if rec is None:
                    # Name the attack while it runs (the display shows what is running, not what finished).
                    notify(self.progress, f"{p.key} (samples {start}+)", self.done, self.total)
                    rec = self.attack(p, x, y, alive if self.mode == "cascade" else correct, start)
                    self.state.add(record, p.key, rec)
                    stopped = time.perf_counter() > self.deadline
                self.done += 1
                notify(self.progress, f"{p.key} (samples {start}+)", self.done, self.total)
                pred = rec.pred.to(x.device)
                alive &= ~((pred >= 0) & (pred != y))
                if stopped:
                    return record, True
        return record, False

    def run(
        self, plan: Sequence[PlannedAttack], data: Iterable[tuple[int, Tensor, Tensor]]
    ) -> tuple[list[BatchRecord], bool]:
        """Run ``plan`` on every ``(global start, x, y)`` batch of ``data``.

        Returns:
            The batch records seen, and whether the data ran out (False: stopped early).
        """
        records = []
        it = iter(data)
        for start, x, y in it:
            record, stopped = self.batch(plan, start, x, y)
            records.append(record)
            if stopped:
                # Checked here, so no batch is drawn from the data and dropped; stopping right
                # after the last unit of the last batch still completes the run.
                return records, next(it, None) is None
        return records, True


def sanity_plan(
    sanity_attack: object, plan: Sequence[PlannedAttack], probe: Probe, eot: Any, eot_samples: int
) -> PlannedAttack | None:
    """The huge-eps probe's attack, or None when a listed attack already has a huge budget.

    Raises:
        ValueError: its budget is not huge (it could not break every sample).
    """
    numel = int(probe.x[0].numel())
    if sanity_attack is None or any(_chk.huge_eps(p.norm, p.eps, numel) for p in plan):
        return None
    attack = check_attack(sanity_attack, "sanity_attack")
    threat = attack.threat
    if not _chk.huge_eps(threat.norm, threat.eps, numel):
        raise ValueError(
            f"sanity_attack: expected a budget that can reach the mid-grey image (linf eps >= "
            f"0.5 or l2 eps >= {0.5 * math.sqrt(numel):.4g}), got {threat.norm} eps={threat.eps}"
        )
    planned = PlannedAttack(f"sanity:{attack.name}/{threat.key}", threat, attack)
    return with_eot(planned, probe.randomized, eot, eot_samples)


def sanity_probe(
    runner: Runner, p: PlannedAttack | None, probe: Probe, status: dict[str, str]
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Run the huge-eps probe on the correctly classified probe samples (see :func:`sanity_plan`)."""
    if "huge-eps" in status:  # a listed attack had a huge budget: the outcome checks judged it
        return None, []
    if p is None:
        status["huge-eps"] = "skipped: no attack at a huge eps and no sanity_attack given"
        return None, []
    if not bool(probe.correct.any()):
        status["huge-eps"] = "skipped: no correctly classified probe sample"
        return None, []
    # The mask (rather than x[correct]) keeps sample positions, so messages name global indices.
    rec = runner.attack(p, probe.x, probe.y, probe.correct, probe.start)
    n = int(probe.correct.sum())
    n_robust = int((rec.pred == probe.y.cpu()).sum())  # samples not attacked have pred -1
    findings = _chk.check_huge_eps(p.key, n_robust / n, n_robust, source="probe")
    status["huge-eps"] = "flagged" if findings else "passed"
    sanity = {
        "attack": p.key,
        "norm": p.norm,
        "eps": p.eps,
        "n": n,
        "n_robust": n_robust,
        "robust_accuracy": n_robust / n,
        "eot_samples": p.eot_samples,
    }
    return sanity, findings
