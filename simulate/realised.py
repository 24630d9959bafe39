"""Realised parameters of each drawn instance: what a bound is evaluated with.

Given an instance (base logits z, projections X on the unit direction u, scores),
these are the quantities the theorems' assumptions name, measured exactly:

* alignment (Assumptions 2 and 4; Theorems 1, 3-5): B0 (eq. 3), the aligned mass P+
  (score > b+), Δ = min_{aligned} X − max_{other} X (eq. 8), δ = P(misclassified)/P(aligned)
  (eq. 47) and the depth M = max(0, max_{misclassified} X − min_{aligned} X) (eq. 53);
* helpfulness (proof of Theorem 2, eqs. 32-38): P0, P±, c±, ε, α, α(1 − ε),
  σβ = min(|c−|, c+), for the direction actually used (``sign = −1`` for r_e < 0 flips
  X), computed by :func:`steerbounds.bounds.estimators.theorem2_parameters_kernel`, the
  same code as the empirical side's per-query
  :func:`~steerbounds.bounds.estimators.realised_theorem2_parameters`.

Float64 JAX inside a local ``jax.enable_x64(True)``; numpy out.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from steerbounds.bounds.estimators import Theorem2Parameters, theorem2_parameters_kernel
from steerbounds.simulate import wide
from steerbounds.simulate.instances import (
    AlignmentBatch,
    HelpfulnessBatch,
    behaviour_curve,
    behaviour_from_logits,
    coefficient_grid,
    helpfulness_curve,
)

__all__ = [
    "AlignmentParameters",
    "Theorem2Parameters",
    "alignment_parameters",
    "alignment_parameters_with_curve",
    "helpfulness_parameters",
    "helpfulness_parameters_with_curve",
]


class AlignmentParameters(NamedTuple):
    """Per instance ``(n,)``: B0, P+ (aligned mass), Δ, δ, M; ``ok`` = groups non-empty."""

    b0: np.ndarray
    p_plus: np.ndarray
    margin: np.ndarray
    delta: np.ndarray
    depth: np.ndarray
    ok: np.ndarray


def _lse(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jax.nn.logsumexp(jnp.where(mask, x, -jnp.inf), axis=-1)


@jax.jit
def _alignment(
    logits: jax.Array, X: jax.Array, score: jax.Array, mis: jax.Array, b_plus: jax.Array
) -> tuple[jax.Array, ...]:
    valid = jnp.isfinite(logits)
    aligned = valid & (score > b_plus[..., None])
    others = valid & ~aligned & ~mis
    mis = valid & mis
    lt = jax.nn.logsumexp(logits, axis=-1)
    la = _lse(logits, aligned)
    b0 = behaviour_from_logits(logits, score)
    p_plus = jnp.exp(la - lt)
    min_a = jnp.min(jnp.where(aligned, X, jnp.inf), axis=-1)
    margin = min_a - jnp.max(jnp.where(others, X, -jnp.inf), axis=-1)
    delta = jnp.exp(_lse(logits, mis) - la)
    depth = jnp.maximum(jnp.max(jnp.where(mis, X, -jnp.inf), axis=-1) - min_a, 0.0)
    ok = jnp.any(aligned, axis=-1) & jnp.any(others, axis=-1)
    return b0, p_plus, margin, delta, depth, ok


def alignment_parameters(batch: AlignmentBatch) -> AlignmentParameters:
    """Realised B0, P+, Δ, δ, M of each alignment instance (eqs. 3, 8, 47, 53).

    Batches of at least :data:`~steerbounds.simulate.wide.WIDE` slots go row by row, cut
    to their present slots (absent ones are outside every group).
    """
    if wide.is_wide(batch.logits.shape[-1]):
        lengths = wide.present_lengths(np.isfinite(batch.logits))
        tokens = (batch.logits, batch.X, batch.score, batch.misclassified)
        return AlignmentParameters(*wide.rowwise(_alignment, tokens, (batch.b_plus,), lengths))
    with jax.enable_x64(True):
        out = _alignment(
            *(jnp.asarray(a) for a in (batch.logits, batch.X, batch.score, batch.misclassified, batch.b_plus))
        )
        return AlignmentParameters(*(np.asarray(a) for a in out))


@jax.jit
def _alignment_with_curve(
    logits: jax.Array,
    X: jax.Array,
    score: jax.Array,
    mis: jax.Array,
    b_plus: jax.Array,
    lam: jax.Array,
    r: jax.Array,
) -> tuple[jax.Array, ...]:
    """One row's :func:`_alignment` and its curve B(r_e) (:func:`.wide.behaviour_rows`, eq. 3)."""
    return (*_alignment(logits, X, score, mis, b_plus), wide.behaviour_rows(logits, X, score, lam, r))


def alignment_parameters_with_curve(
    batch: AlignmentBatch, r_e: ArrayLike
) -> tuple[AlignmentParameters, np.ndarray]:
    """:func:`alignment_parameters` and the true B(r_e) of
    :func:`~steerbounds.simulate.instances.behaviour_curve` (eq. 3) at ``r_e``, ``(n, K)``.

    A batch of at least :data:`~steerbounds.simulate.wide.WIDE` slots goes row by row
    once for both: one copy into JAX and one computation per row, where the two calls
    would copy and sweep it twice (the same numbers: the same kernels).
    """
    if not wide.is_wide(batch.logits.shape[-1]):
        return alignment_parameters(batch), behaviour_curve(batch, r_e)
    r = coefficient_grid(r_e, batch.logits.shape[0])
    lengths = wide.present_lengths(np.isfinite(batch.logits))
    tokens = (batch.logits, batch.X, batch.score, batch.misclassified)
    *params, curve = wide.rowwise(_alignment_with_curve, tokens, (batch.b_plus, batch.lam, r), lengths)
    return AlignmentParameters(*params), curve


@jax.jit
def _helpfulness(logits: jax.Array, X: jax.Array, top: jax.Array, sign: jax.Array) -> Theorem2Parameters:
    p = jnp.exp(logits - jax.nn.logsumexp(logits, axis=-1)[..., None])
    d = sign[..., None] * (X - X[..., :1])  # X_i − X_correct on the direction sign·u
    incorrect = top & (jnp.arange(X.shape[-1]) > 0)  # incorrect(ε): top-T minus the correct slot 0
    return theorem2_parameters_kernel(jnp, p[..., 0], p, d, incorrect)


def helpfulness_parameters(batch: HelpfulnessBatch, sign: ArrayLike = 1.0) -> Theorem2Parameters:
    """Realised P0, P±, c±, ε, α, α(1 − ε), σβ (App. C, eqs. 32-38) for direction ``sign·u``.

    The batch layout (correct token in slot 0, ``top`` the top-T set) is passed to
    :func:`~steerbounds.bounds.estimators.theorem2_parameters_kernel` over all W slots;
    ε follows its guard (eq. 38: ``P+ + P− = (1 − ε)(1 − P0)``; ε = 0 where that is
    degenerate), so ``α(1 − ε) = min(P+, P−)/(1 − P0)`` and ``λσβ = λ·sigma_beta``.
    ``sign`` is a scalar or ``(n,)`` (±1: −1 for r_e < 0). Batches of at least
    :data:`~steerbounds.simulate.wide.WIDE` slots go row by row, cut to their present
    slots (absent ones carry P_i^0 = 0).
    """
    signs = np.broadcast_to(np.asarray(sign, dtype=np.float64), batch.logits.shape[:-1])
    if wide.is_wide(batch.logits.shape[-1]):
        lengths = wide.present_lengths(np.isfinite(batch.logits) | batch.top)
        return Theorem2Parameters(
            *wide.rowwise(_helpfulness, (batch.logits, batch.X, batch.top), (signs,), lengths)
        )
    with jax.enable_x64(True):
        out = _helpfulness(*(jnp.asarray(a) for a in (batch.logits, batch.X, batch.top, signs)))
        return Theorem2Parameters(*(np.asarray(a) for a in out))


@jax.jit
def _helpfulness_with_curve(
    logits: jax.Array, X: jax.Array, top: jax.Array, sign: jax.Array, lam: jax.Array, r: jax.Array
) -> tuple[jax.Array, ...]:
    """One row's :func:`_helpfulness` and its curve P_{r_e}(a_c) (:func:`.wide.helpfulness_rows`, eq. 4)."""
    return (*_helpfulness(logits, X, top, sign), wide.helpfulness_rows(logits, X, lam, r))


def helpfulness_parameters_with_curve(
    batch: HelpfulnessBatch, r_e: ArrayLike, sign: ArrayLike = 1.0
) -> tuple[Theorem2Parameters, np.ndarray]:
    """:func:`helpfulness_parameters` for ``sign·u`` and the true helpfulness of
    :func:`~steerbounds.simulate.instances.helpfulness_curve` (eq. 4) at ``r_e``, ``(n, K)``.

    A batch of at least :data:`~steerbounds.simulate.wide.WIDE` slots goes row by row
    once for both (one copy into JAX, one computation per row; the same kernels).
    """
    if not wide.is_wide(batch.logits.shape[-1]):
        return helpfulness_parameters(batch, sign), helpfulness_curve(batch, r_e)
    signs = np.broadcast_to(np.asarray(sign, dtype=np.float64), batch.logits.shape[:-1])
    r = coefficient_grid(r_e, batch.logits.shape[0])
    # slots outside the present logits add exact zeros to the curve's sums
    lengths = wide.present_lengths(np.isfinite(batch.logits) | batch.top)
    tokens = (batch.logits, batch.X, batch.top)
    *params, curve = wide.rowwise(_helpfulness_with_curve, tokens, (signs, batch.lam, r), lengths)
    return Theorem2Parameters(*params), curve
