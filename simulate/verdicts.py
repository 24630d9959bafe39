"""Does each result of :data:`steerbounds.bounds.RESULTS` hold? Monte Carlo verdicts.

For every result and each of its forms, :func:`run_verdicts` draws instances that
satisfy the result's assumptions (:mod:`~steerbounds.simulate.checks`), evaluates the
bound with each draw's realised parameters on a grid of coefficients, and records the
violations: how many instances violate it, the worst slack, and a minimal
counterexample (the violating instance with fewest tokens, shrunk further by removing
tokens while it still violates, its numbers rounded where that keeps it violating).
:func:`replay` re-evaluates a counterexample from its printed parameters.

A result *holds* if its default form has no violation; statistical claims and probes
outside the assumptions are in :mod:`~steerbounds.simulate.claims`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from steerbounds.bounds import RESULTS
from steerbounds.errors import InputError
from steerbounds.simulate import instances as inst
from steerbounds.simulate.checks import (
    CHECKS,
    TOLERANCE,
    B,
    Batch,
    Check,
    Evaluation,
    Extras,
    draw_batch,
    with_fields,
)

QUICK_INSTANCES = 1500
"""Instances per result in the quick run (``steerbounds simulate``)."""

THOROUGH_INSTANCES = 100_000
"""Instances per result with ``--thorough``."""

CHUNK = 10_000
"""Instances drawn per batch (memory: CHUNK × width × 21 coefficients)."""

WIDTHS = {
    "binary": (12, 3),
    "soft": (12, 4),
    "trinary": (12, 4),
    "general": (12, 3),
    "helpfulness": (24, 11),
    "multi_binary": (6,),
    "multi_helpfulness": (12,),
}
"""Token slots per family; chunks cycle through them (small vocabularies find counterexamples)."""

FULL_VOCAB = 32_000
FULL_VOCAB_RESULTS = {"theorem1": 16, "theorem2": 16}
"""Results also checked at full vocabulary size V = 32,000 (instances in the quick run; 16×
with ``--thorough``). Theorem 2's come from an explicit Gaussian unembedding U (V × 64)."""


@dataclass
class Verdict:
    """Outcome for one (result, form)."""

    result: str
    form: str | None
    default: bool
    equations: str
    kind: str
    instances: int
    evaluations: int
    violations: int
    worst_slack: float
    verdict: str  # "holds" or "violated"
    counterexample: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(**d)


# --------------------------------------------------------------------------- shrinking


def _take(batch: B, i: int) -> B:
    return type(batch)(*(a[i : i + 1] for a in batch))


def _slice_extras(extras: Extras, i: int, column: int | None) -> Extras:
    out = {}
    for k, v in extras.items():
        v = v[i : i + 1]
        if k == "r_e" and column is not None:
            v = v[:, column : column + 1]
        out[k] = v
    return out


def _violates(check: Check, batch: Batch, extras: Extras, form: str | None) -> tuple[bool, Evaluation]:
    ev = check.evaluate(batch, extras, form)
    return bool(ev.ok[0] and np.min(ev.slack[0]) < -TOLERANCE), ev


def _remove(batch: B, j: int) -> B:
    logits = batch.logits.copy()
    logits[0, j] = -np.inf
    if isinstance(batch, inst.HelpfulnessBatch):
        return with_fields(batch, logits=logits, top=batch.top & (np.arange(logits.shape[1]) != j))
    return with_fields(batch, logits=logits)


def _compact(batch: B) -> B:
    keep = np.isfinite(batch.logits[0])
    if isinstance(batch, inst.HelpfulnessBatch):
        keep |= batch.top[0]  # the top-T set keeps its slots
    return type(batch)(*(a[:, keep] if a.ndim == 2 else a for a in batch))


def _round(batch: B, digits: int) -> B:
    return with_fields(
        batch,
        logits=np.round(batch.logits, digits),
        X=np.round(batch.X, digits),
        lam=np.round(batch.lam, digits),
    )


def shrink(
    check: Check, batch: B, extras: Extras, form: str | None, index: int, column: int | None
) -> tuple[B, Extras]:
    """Smallest instance that still violates: remove tokens greedily, then round numbers."""
    b = _take(batch, index)
    e = _slice_extras(extras, index, column)
    family = check.family
    if family in inst.ALIGNMENT_KINDS or family == "helpfulness":
        changed = True
        while changed:
            changed = False
            for j in np.flatnonzero(np.isfinite(b.logits[0]))[::-1]:
                if family == "helpfulness" and j == 0:
                    continue  # the correct token stays
                trial = _remove(b, int(j))
                if _violates(check, trial, e, form)[0]:
                    b, changed = trial, True
        b = _compact(b)
        for digits in (2, 4, 6):
            trial = _round(b, digits)
            if _violates(check, trial, e, form)[0]:
                b = trial
                break
    return b, e


def counterexample(
    check: Check, batch: Batch, extras: Extras, form: str | None, ev: Evaluation
) -> dict[str, Any]:
    """A minimal, re-runnable violating instance of ``check`` (see :func:`replay`)."""
    bad = ev.ok & (ev.slack.min(axis=1) < -TOLERANCE)
    sizes = np.isfinite(batch.logits).reshape(batch.logits.shape[0], -1).sum(axis=1)
    cand = np.flatnonzero(bad)
    # fewest tokens first; then prefer |B0| ≤ 0.9 (readable numbers); then the worst slack
    extreme = np.abs(ev.params["b0"][cand]) > 0.9 if "b0" in ev.params else np.zeros(cand.size, bool)
    i = int(cand[np.lexsort((ev.slack[cand].min(axis=1), extreme, sizes[cand]))[0]])
    column = int(np.argmin(ev.slack[i])) if "r_e" in extras else None
    b, e = shrink(check, batch, extras, form, i, column)
    final = check.evaluate(b, e, form)
    k = int(np.argmin(final.slack[0]))
    return {
        "result": check.name,
        "form": form,
        "family": check.family,
        "r_e": float(final.r_e[0, k]),
        "true": float(final.true[0, k]),
        "bound": float(final.bound[0, k]),
        "slack": float(final.slack[0, k]),
        "realised": {key: np.asarray(v[0]).tolist() for key, v in final.params.items()},
        "instance": {name: np.asarray(a[0]).tolist() for name, a in b._asdict().items()},
        "extras": {key: np.asarray(v[0]).tolist() for key, v in e.items()},
    }


def replay(example: dict[str, Any]) -> Evaluation:
    """Re-evaluate a counterexample dict (as printed/saved) from its parameters alone."""
    check = CHECKS.get(str(example.get("result")))
    if check is None:
        raise InputError(
            f"example['result'] must be one of {', '.join(CHECKS)}; got {example.get('result')!r}"
        )
    cls: type[Batch] = inst.HelpfulnessBatch if "top" in example["instance"] else inst.AlignmentBatch
    fields = {}
    for name in cls._fields:
        value = example["instance"][name]
        dtype = bool if name in ("top", "misclassified") else float
        fields[name] = np.array([value], dtype=dtype)
    batch = cls(**fields)
    extras = {k: np.array([v], dtype=float) for k, v in example["extras"].items()}
    return check.evaluate(batch, extras, example["form"])


# --------------------------------------------------------------------------- running


def _plan(name: str, thorough: bool, n_instances: int | None) -> list[tuple[int, int]]:
    """(n, width) chunks for one result."""
    total = n_instances or (THOROUGH_INSTANCES if thorough else QUICK_INSTANCES)
    widths = WIDTHS[CHECKS[name].family]
    chunk = min(CHUNK, total)
    plan: list[tuple[int, int]] = []
    left, w = total, 0
    while left > 0:
        n = min(chunk, left)
        plan.append((n, widths[w % len(widths)]))
        left -= n
        w += 1
    full = FULL_VOCAB_RESULTS.get(name)
    if full:
        plan.append((full * (16 if thorough else 1), FULL_VOCAB))
    return plan


def _validate(thorough: object, seed: object, n_instances: object) -> None:
    if not isinstance(thorough, bool):
        raise InputError(f"thorough must be True or False; got {thorough!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in [0, 2^32); got {seed!r}")
    if n_instances is not None and (
        not isinstance(n_instances, (int, np.integer))
        or isinstance(n_instances, bool)
        or not 1 <= n_instances <= 10**7
    ):
        raise InputError(f"n_instances must be an integer in [1, 10^7] or None; got {n_instances!r}")


@dataclass
class _Tally:
    """Running counts of one (result, form): valid instances, evaluations, violations,
    the worst slack, and the narrowest chunk with a violation (for its counterexample)."""

    n: int = 0
    evals: int = 0
    viol: int = 0
    worst: float = math.inf
    example: tuple[int, Batch, Extras, Evaluation] | None = None

    def add(self, ev: Evaluation, width: int, batch: Batch, extras: Extras) -> None:
        slack = np.where(ev.ok[:, None], ev.slack, np.inf)
        bad = ev.ok & (slack.min(axis=1) < -TOLERANCE)
        self.n += int(ev.ok.sum())
        self.evals += int(ev.ok.sum()) * slack.shape[1]
        self.viol += int(bad.sum())
        self.worst = min(self.worst, float(slack.min()))
        if bad.any() and (self.example is None or width < self.example[0]):
            self.example = (width, batch, extras, ev)


def run_verdicts(
    *,
    thorough: bool = False,
    seed: int = 0,
    n_instances: int | None = None,
    results: tuple[str, ...] | None = None,
    progress: bool = False,
    done: dict[str, list[Verdict]] | None = None,
    on_result: Callable[[str, list[Verdict]], None] | None = None,
) -> list[Verdict]:
    """Verdicts for every result of :data:`~steerbounds.bounds.RESULTS` and each of its forms.

    Args:
        thorough: ≥ 10^5 instances per result (default: a quick run, ~10^3).
        seed: seeds every ``jax.random`` key; equal seeds give equal verdicts.
        n_instances: instances per result (overrides quick/thorough; full-vocabulary
            instances of Theorems 1 and 2 come on top).
        results: restrict to these result names (default: all).
        progress: show a tqdm bar.
        done: verdicts already computed with the same settings (result name → its
            verdicts), reused instead of recomputed (resuming an interrupted run).
        on_result: called with (name, verdicts) after each result (checkpointing).
    """
    _validate(thorough, seed, n_instances)
    names = tuple(RESULTS) if results is None else tuple(results)
    for name in names:
        if name not in CHECKS:
            raise InputError(f"results must name entries of RESULTS ({', '.join(RESULTS)}); got {name!r}")
    root = inst.make_key(int(seed))
    verdicts = []
    bar = tqdm(names, desc="simulate", disable=not progress, leave=False)
    for name in bar:
        if done and name in done:
            verdicts.extend(done[name])
            continue
        r_index = list(RESULTS).index(name)
        check = CHECKS[name]
        res = RESULTS[name]
        stats = {form: _Tally() for form in check.forms}
        for c_index, (n, width) in enumerate(_plan(name, thorough, n_instances)):
            key = jax.random.fold_in(jax.random.fold_in(root, r_index), c_index)
            k_batch, k_extra = jax.random.split(key)
            batch: Batch
            if width == FULL_VOCAB and check.family == "helpfulness":
                batch = inst.explicit_helpfulness_batch(k_batch, n, vocab=FULL_VOCAB)[0]  # explicit U, r, u
            else:
                batch = draw_batch(check.family, k_batch, n, width)
            extras = check.draw_extras(k_extra, batch)
            for form in check.forms:
                ev = check.evaluate(batch, extras, form)
                stats[form].add(ev, width, batch, extras)
        mine = []
        for form in check.forms:
            s = stats[form]
            example = None
            if s.example is not None:
                _, batch, extras, ev = s.example
                example = counterexample(check, batch, extras, form, ev)
            default = form in check.default_forms
            mine.append(
                Verdict(
                    result=name,
                    form=form,
                    default=default,
                    equations=res.equations,
                    kind=res.kind,
                    instances=s.n,
                    evaluations=s.evals,
                    violations=s.viol,
                    worst_slack=s.worst,
                    verdict="holds" if s.viol == 0 else "violated",
                    counterexample=example,
                )
            )
        verdicts.extend(mine)
        if on_result is not None:
            on_result(name, mine)
    return verdicts


def exit_status(verdicts: list[Verdict]) -> int:
    """1 if a default form (a result marked as holding) is violated, else 0."""
    return int(any(v.default and v.violations for v in verdicts))
