"""One check per result of :data:`steerbounds.bounds.RESULTS`: draw, evaluate, compare.

A :class:`Check` knows how to draw instances satisfying the result's assumptions, how
to choose the coefficients (or the targets of a coefficient result), and how to
evaluate the true value and the bound *with the realised parameters of each draw*
(:mod:`~steerbounds.simulate.realised`). The bound is always computed by the public
function in the registry, so the check tests what users call.

The *slack* is ``true − bound`` for lower bounds, ``bound − true`` for upper bounds,
and ``B(r*) − target`` for coefficient results (at r* and at larger coefficients);
a violation is slack < −:data:`TOLERANCE`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import jax
import numpy as np

from steerbounds.bounds import RESULTS
from steerbounds.errors import InputError
from steerbounds.simulate import instances as inst
from steerbounds.simulate.realised import (
    AlignmentParameters,
    Theorem2Parameters,
    alignment_parameters,
    alignment_parameters_with_curve,
    helpfulness_parameters,
    helpfulness_parameters_with_curve,
)

Extras = dict[str, np.ndarray]
"""Per-instance arrays drawn with a batch (coefficients ``r_e``, targets, ε, γ)."""

Batch = inst.AlignmentBatch | inst.HelpfulnessBatch
B = TypeVar("B", bound=Batch)


def with_fields(batch: B, **fields: np.ndarray) -> B:
    """``batch`` with some fields replaced (``_replace`` that keeps the batch's type)."""
    return type(batch)(**{**batch._asdict(), **fields})


BoundFn = Callable[[np.ndarray, AlignmentParameters, Extras, "str | None"], np.ndarray]

TOLERANCE = 1e-9
"""Absolute slack below which a comparison counts as a violation. Float64 round-off of a
bound that is exactly tight (Theorem 1's two-token instance) reaches ~1e-10 when
|B0| → 1 (artanh of a rounded B0); real violations found are ≥ 1e-4."""

N_COEFFICIENTS = 21
"""Coefficients per instance on a bound result's grid."""

MULTIPLIERS = np.array([1.0, 1.01, 1.5, 2.0, 4.0])
"""A coefficient result r* is checked at r*·m for these m (the claim is for r_e ≥ r*)."""

N_STEPS_MAX = 6
"""Decoding steps N ~ U{1, …, 6} for the multi-token results (App. K)."""


@dataclass
class Evaluation:
    """Outcome of one check on a batch: arrays over (instance, coefficient)."""

    r_e: np.ndarray  # (n, K) coefficients evaluated
    true: np.ndarray  # (n, K) true B or helpfulness
    bound: np.ndarray  # (n, K) the bound (or the target, for coefficient results)
    slack: np.ndarray  # (n, K), ≥ 0 where the result holds
    ok: np.ndarray  # (n,) instance valid for the result (its groups non-empty)
    params: dict[str, np.ndarray] = field(default_factory=dict)  # realised, per instance


@dataclass(frozen=True)
class Check:
    """How to test one result: draw instances, pick coefficients, evaluate."""

    name: str
    family: str  # "binary", "soft", "trinary", "general", "helpfulness", "multi_binary", "multi_helpfulness"
    forms: tuple[str | None, ...]
    default_forms: tuple[str | None, ...]
    draw_extras: Callable[[jax.Array, Any], Extras]  # (key, batch) -> per-instance coefficients, targets
    evaluate: Callable[[Any, Extras, str | None], Evaluation]  # (batch, extras, form)


# --------------------------------------------------------------------------- helpers


def _uniform(key: jax.Array, shape: tuple[int, ...], lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(jax.random.uniform(key, shape, minval=lo, maxval=hi))


def _loguniform(key: jax.Array, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    return np.exp(_uniform(key, shape, np.log(lo), np.log(hi)))


def _call(name: str, *args: Any, form: str | None = None, **kwargs: Any) -> np.ndarray:
    fn = RESULTS[name].function
    if form is not None:
        kwargs["form"] = form
    return np.asarray(fn(*args, **kwargs))


def _lower(true: np.ndarray, bound: np.ndarray) -> np.ndarray:
    return true - bound


def _upper(true: np.ndarray, bound: np.ndarray) -> np.ndarray:
    return bound - true


# --------------------------------------------------------------------------- alignment grids


def alignment_grid(key: jax.Array, batch: inst.AlignmentBatch) -> Extras:
    """r_e = r_max·linspace(0, 1, K), r_max = κ/(Δλ), κ ~ logU(0.05, 40)."""
    p = alignment_parameters(batch)
    dl = np.maximum(batch.lam * p.margin, 1e-12)
    kappa = _loguniform(key, dl.shape, 0.05, 40.0)
    return {"r_e": (kappa / dl)[:, None] * np.linspace(0.0, 1.0, N_COEFFICIENTS)[None, :]}


def _eval_behaviour(
    batch: inst.AlignmentBatch, extras: Extras, form: str | None, bound_fn: BoundFn
) -> Evaluation:
    r = extras["r_e"]
    p, true = alignment_parameters_with_curve(batch, r)
    ok = p.ok & (np.abs(p.b0) < 1.0)
    dl = batch.lam * p.margin
    safe = {
        "b0": np.where(ok, p.b0, 0.0),
        "dl": np.where(ok, dl, 0.0),
        "p_plus": np.where(ok, p.p_plus, 0.5),
        "lam": batch.lam,
        "b_plus": batch.b_plus,
        "delta": np.where(ok, p.delta, 0.0),
        "M": np.where(ok, p.depth, 0.0),
    }
    bound = bound_fn(r, p, safe, form)
    params = {
        "b0": p.b0,
        "delta_lambda": dl,
        "lam": batch.lam,
        "margin": p.margin,
        "p_plus": p.p_plus,
        "delta": p.delta,
        "M": p.depth,
        "b_plus": batch.b_plus,
    }
    return Evaluation(r, true, bound, _lower(true, bound), ok, params)


def _theorem1(r: np.ndarray, p: AlignmentParameters, safe: Extras, form: str | None) -> np.ndarray:
    return _call("theorem1", r, safe["b0"][:, None], safe["dl"][:, None], form=form)


def _theorem3(r: np.ndarray, p: AlignmentParameters, safe: Extras, form: str | None) -> np.ndarray:
    return _call(
        "theorem3_soft_margin",
        r,
        safe["b0"][:, None],
        safe["dl"][:, None],
        safe["lam"][:, None],
        safe["delta"][:, None],
        safe["M"][:, None],
        form=form,
    )


def _theorem4(r: np.ndarray, p: AlignmentParameters, safe: Extras, form: str | None) -> np.ndarray:
    # B0 ≤ P+ and B0 ≥ 2P+ − 1 hold exactly; clip round-off so validation accepts them
    b0 = np.clip(safe["b0"], 2.0 * safe["p_plus"] - 1.0, safe["p_plus"])
    return _call("theorem4_trinary", r, b0[:, None], safe["p_plus"][:, None], safe["dl"][:, None], form=form)


def _theorem5(r: np.ndarray, p: AlignmentParameters, safe: Extras, form: str | None) -> np.ndarray:
    pp = safe["p_plus"]
    return _call(
        "theorem5_general", r, pp[:, None], (1.0 - pp)[:, None], safe["b_plus"][:, None], safe["dl"][:, None]
    )


def _behaviour_check(bound_fn: BoundFn) -> Callable[[inst.AlignmentBatch, Extras, str | None], Evaluation]:
    return lambda batch, extras, form: _eval_behaviour(batch, extras, form, bound_fn)


# --------------------------------------------------------------------------- coefficient results


def corollary1_extras(key: jax.Array, batch: inst.AlignmentBatch) -> Extras:
    """ε ~ logU(1e-4, 0.5); γ ~ U(−1, min(B0, 0)): a floor γ ≤ B0 (the implemented reading)."""
    k1, k2 = jax.random.split(key)
    p = alignment_parameters(batch)
    n = p.b0.shape[0]
    eps = _loguniform(k1, (n,), 1e-4, 0.5)
    top = np.minimum(p.b0, 0.0)
    gamma = -1.0 + (top + 1.0) * (0.001 + 0.998 * _uniform(k2, (n,)))
    return {"eps": eps, "gamma": gamma}


def _eval_corollary1(batch: inst.AlignmentBatch, extras: Extras, form: str | None) -> Evaluation:
    p = alignment_parameters(batch)
    dl = batch.lam * p.margin
    ok = p.ok & (dl > 0)
    r_star = _call("corollary1", extras["eps"], extras["gamma"], np.where(ok, dl, 1.0), form=form)
    r = r_star[:, None] * MULTIPLIERS[None, :]
    true = inst.behaviour_curve(batch, r)
    target = np.broadcast_to((1.0 - extras["eps"])[:, None], true.shape)
    params = {
        "b0": p.b0,
        "delta_lambda": dl,
        "eps": extras["eps"],
        "gamma": extras["gamma"],
        "r_star": r_star,
    }
    return Evaluation(r, true, target, true - target, ok, params)


def _required_extras(key: jax.Array, batch: inst.AlignmentBatch) -> Extras:
    """Targets B* = tanh(U(−3, 6)) ∈ (−1, 1)."""
    n = batch.lam.shape[0]
    return {"target": np.tanh(_uniform(key, (n,), -3.0, 6.0))}


def _eval_required(batch: inst.AlignmentBatch, extras: Extras, form: str | None) -> Evaluation:
    p = alignment_parameters(batch)
    dl = batch.lam * p.margin
    ok = p.ok & (dl > 0) & (np.abs(p.b0) < 1.0)
    r_star = _call(
        "required_coefficient", extras["target"], np.where(ok, p.b0, 0.0), np.where(ok, dl, 1.0), form=form
    )
    r = r_star[:, None] * MULTIPLIERS[None, :]
    true = inst.behaviour_curve(batch, r)
    target = np.broadcast_to(extras["target"][:, None], true.shape)
    params = {"b0": p.b0, "delta_lambda": dl, "target": extras["target"], "r_star": r_star}
    return Evaluation(r, true, target, true - target, ok, params)


# --------------------------------------------------------------------------- multi-token (App. K)


def _steps(batch: B) -> tuple[B, int, int]:
    """(n, N, W) → flattened (n·N, W) batch with λ repeated per step."""
    n, N = batch.logits.shape[:2]
    flat = type(batch)(*(np.reshape(a, (n * N, *a.shape[2:])) if a.ndim >= 2 else a for a in batch))
    return with_fields(flat, lam=np.repeat(batch.lam, N)), n, N


def _theorem6_extras(key: jax.Array, batch: inst.AlignmentBatch) -> Extras:
    n = batch.lam.shape[0]
    return {"eps": _loguniform(key, (n,), 1e-4, 0.4)}


def _eval_theorem6(batch: inst.AlignmentBatch, extras: Extras, form: str | None) -> Evaluation:
    """Sequence behaviour B = 2·Π_i w_i − 1, w_i the aligned mass at step i (App. K.1)."""
    flat, n, N = _steps(batch)
    p = alignment_parameters(flat)
    w0 = (1.0 + p.b0.reshape(n, N)) / 2.0
    b0 = 2.0 * np.prod(w0, axis=1) - 1.0
    dl = batch.lam * p.margin.reshape(n, N).min(axis=1)
    ok = p.ok.reshape(n, N).all(axis=1) & (dl > 0) & (b0 > -1.0) & (b0 < 1.0)
    r_star = _call("theorem6_multitoken", extras["eps"], N, np.where(ok, b0, 0.0), np.where(ok, dl, 1.0))
    r = r_star[:, None] * MULTIPLIERS[None, :]
    steps_b = inst.behaviour_curve(flat, np.repeat(r, N, axis=0)).reshape(n, N, -1)
    true = 2.0 * np.prod((1.0 + steps_b) / 2.0, axis=1) - 1.0
    target = np.broadcast_to((1.0 - 2.0 * extras["eps"])[:, None], true.shape)
    params = {"b0": b0, "delta_lambda": dl, "eps": extras["eps"], "n_tokens": np.full(n, N), "r_star": r_star}
    return Evaluation(r, true, target, true - target, ok, params)


def helpfulness_grid(key: jax.Array, batch: inst.HelpfulnessBatch) -> Extras:
    """Symmetric r_e = r_max·linspace(−1, 1, K), r_max = κ/(λσ), κ ~ logU(0.1, 20)."""
    lam = batch.lam
    sig = batch.sigma if batch.sigma.ndim == 1 else batch.sigma.min(axis=-1)
    kappa = _loguniform(key, lam.shape, 0.1, 20.0)
    return {"r_e": (kappa / (lam * sig))[:, None] * np.linspace(-1.0, 1.0, N_COEFFICIENTS)[None, :]}


def _eval_corollary3(batch: inst.HelpfulnessBatch, extras: Extras, form: str | None) -> Evaluation:
    """h = Π_i h_i (chain rule, App. K.2) against eq. 79 with the weakest step's α(1−ε), λσβ."""
    flat, n, N = _steps(batch)
    q = helpfulness_parameters(flat)
    r = extras["r_e"]
    h = inst.helpfulness_curve(flat, np.repeat(r, N, axis=0)).reshape(n, N, -1)
    true = np.prod(h, axis=1)
    a1e = (q.alpha * (1.0 - q.eps)).reshape(n, N).min(axis=1)
    lsb = batch.lam * q.sigma_beta.reshape(n, N).min(axis=1)
    p0 = q.p0.reshape(n, N)
    bound = _call("corollary3_multitoken", r, p0[:, None, :], a1e[:, None], 0.0, lsb[:, None])
    params = {
        "alpha_one_minus_eps": a1e,
        "lam_sigma_beta": lsb,
        "p0_steps": p0,
        "all_both_nonempty": q.both_nonempty.reshape(n, N).all(axis=1),
    }
    return Evaluation(r, true, bound, _upper(true, bound), np.ones(n, bool), params)


# --------------------------------------------------------------------------- helpfulness


def _eval_theorem2(batch: inst.HelpfulnessBatch, extras: Extras, form: str | None) -> Evaluation:
    r = extras["r_e"]
    q, true = helpfulness_parameters_with_curve(batch, r)
    lsb = batch.lam * q.sigma_beta
    bound = _call("theorem2", r, q.p0[:, None], q.alpha[:, None], q.eps[:, None], lsb[:, None])
    return Evaluation(
        r, true, bound, _upper(true, bound), np.ones(r.shape[0], bool), _helpfulness_params(batch, q)
    )


def _helpfulness_params(batch: inst.HelpfulnessBatch, q: Theorem2Parameters) -> Extras:
    return {
        "p0": q.p0,
        "p_plus": q.p_plus,
        "p_minus": q.p_minus,
        "c_plus": q.c_plus,
        "c_minus": q.c_minus,
        "eps": q.eps,
        "alpha": q.alpha,
        "lam": batch.lam,
        "lam_sigma_beta": batch.lam * q.sigma_beta,
        "n_top": batch.top.sum(axis=-1),
        "both_nonempty": q.both_nonempty,
    }


def _eval_components(batch: inst.HelpfulnessBatch, extras: Extras, form: str | None) -> Evaluation:
    """Eqs. 33/34/36 with P±, c± of the direction actually used (−u for r_e < 0)."""
    r = extras["r_e"]
    qp, qm = helpfulness_parameters(batch, 1.0), helpfulness_parameters(batch, -1.0)
    neg = r < 0

    def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(neg, b[:, None], a[:, None])

    if form is None or not form.startswith("eq"):
        raise InputError(f"form must be one of eq33, eq34, eq36; got {form!r}")
    true = inst.helpfulness_curve(batch, r)
    bound = _call(
        "theorem2_components",
        r,
        pick(qp.p0, qm.p0),
        pick(qp.p_plus, qm.p_plus),
        pick(qp.p_minus, qm.p_minus),
        pick(qp.c_plus, qm.c_plus),
        pick(qp.c_minus, qm.c_minus),
        batch.lam[:, None],
        equation=int(form.removeprefix("eq")),
    )
    return Evaluation(
        r, true, bound, _upper(true, bound), np.ones(r.shape[0], bool), _helpfulness_params(batch, qp)
    )


def _eval_corollary2(batch: inst.HelpfulnessBatch, extras: Extras, form: str | None) -> Evaluation:
    """Each query a one-query data set: E[h] = h, against eq. 45 / its proved form."""
    r = extras["r_e"]
    q, true = helpfulness_parameters_with_curve(batch, r)
    T = batch.top.sum(axis=-1).astype(float)
    bound = _call(
        "corollary2_expectation",
        r,
        q.p0[:, None],
        q.alpha[:, None],
        q.eps[:, None],
        (batch.lam * q.sigma_beta)[:, None],
        T[:, None],
        form=form,
    )
    return Evaluation(
        r, true, bound, _upper(true, bound), np.ones(r.shape[0], bool), _helpfulness_params(batch, q)
    )


# --------------------------------------------------------------------------- registry of checks


def _forms(name: str) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    res = RESULTS[name]
    if not res.forms:
        return (None,), (None,)
    return res.forms, (res.default_form,)


def _check(
    name: str,
    family: str,
    draw_extras: Callable[[jax.Array, Any], Extras],
    evaluate: Callable[[Any, Extras, str | None], Evaluation],
    forms: tuple[tuple[str | None, ...], tuple[str | None, ...]] | None = None,
) -> Check:
    f, d = forms if forms is not None else _forms(name)
    return Check(name, family, f, d, draw_extras, evaluate)


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        _check("theorem1", "binary", alignment_grid, _behaviour_check(_theorem1)),
        _check("theorem3_soft_margin", "soft", alignment_grid, _behaviour_check(_theorem3)),
        _check("theorem4_trinary", "trinary", alignment_grid, _behaviour_check(_theorem4)),
        _check("theorem5_general", "general", alignment_grid, _behaviour_check(_theorem5)),
        _check("corollary1", "binary", corollary1_extras, _eval_corollary1),
        _check("required_coefficient", "binary", _required_extras, _eval_required),
        _check("theorem6_multitoken", "multi_binary", _theorem6_extras, _eval_theorem6),
        _check("theorem2", "helpfulness", helpfulness_grid, _eval_theorem2),
        _check(
            "theorem2_components",
            "helpfulness",
            helpfulness_grid,
            _eval_components,
            forms=(("eq33", "eq34", "eq36"), ("eq33", "eq34", "eq36")),
        ),
        _check("corollary2_expectation", "helpfulness", helpfulness_grid, _eval_corollary2),
        _check("corollary3_multitoken", "multi_helpfulness", helpfulness_grid, _eval_corollary3),
    )
}
"""Result name → :class:`Check`; covers every entry of :data:`steerbounds.bounds.RESULTS`."""


def draw_batch(family: str, key: jax.Array, n: int, width: int, *, law: str = "normal") -> Batch:
    """Draw n instances of a family (multi-token families: N ~ U{1..6} steps, shared λ)."""
    if family in inst.ALIGNMENT_KINDS:
        return inst.alignment_batch(key, n, width, kind=cast(inst.AlignmentKind, family), law=law)
    if family == "helpfulness":
        return inst.helpfulness_batch(key, n, width, law=law)
    k1, k2 = jax.random.split(key)
    steps = 1 + int(_uniform(k1, ()) * N_STEPS_MAX)
    b: Batch
    if family == "multi_binary":
        b = inst.alignment_batch(k2, n * steps, width, kind="binary", law=law)
    else:
        b = inst.helpfulness_batch(k2, n * steps, width, law=law)
    return _by_steps(b, n, steps)


def _by_steps(b: B, n: int, steps: int) -> B:
    """``(n·N, W)`` → ``(n, N, W)`` with one λ per instance (the first step's)."""
    shaped = type(b)(*(a.reshape((n, steps, *a.shape[1:])) for a in b))
    return with_fields(shaped, lam=shaped.lam[:, 0])
