"""Realised parameters of each drawn instance: what a bound is evaluated with.

Given an instance (base logits z, projections X on the unit direction u, scores),
these are the quantities the theorems' assumptions name, measured exactly:

* alignment (Assumptions 2 and 4; Theorems 1, 3-5): B0 (eq. 3), the aligned mass P+
  (score > b+), Δ = min_{aligned} X − max_{other} X (eq. 8), δ = P(misclassified)/P(aligned)
  (eq. 47) and the depth M = max(0, max_{misclassified} X − min_{aligned} X) (eq. 53);
* helpfulness (proof of Theorem 2, eqs. 32-38): P0, P±, c±, ε, α, σβ = min(|c−|, c+),
  for the direction actually used (``sign = −1`` for r_e < 0 flips X).

Float64 JAX inside a local ``jax.enable_x64(True)``; numpy out.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from steerbounds.simulate.instances import AlignmentBatch, HelpfulnessBatch, behaviour_from_logits


class AlignmentParameters(NamedTuple):
    """Per instance ``(n,)``: B0, P+ (aligned mass), Δ, δ, M; ``ok`` = groups non-empty."""

    b0: np.ndarray
    p_plus: np.ndarray
    margin: np.ndarray
    delta: np.ndarray
    depth: np.ndarray
    ok: np.ndarray


class HelpfulnessParameters(NamedTuple):
    """Per instance ``(n,)``: the realised quantities of the proof of Theorem 2 (eqs. 32-38)."""

    p0: np.ndarray
    p_plus: np.ndarray
    p_minus: np.ndarray
    c_plus: np.ndarray
    c_minus: np.ndarray
    eps: np.ndarray
    alpha: np.ndarray
    sigma_beta: np.ndarray
    both_nonempty: np.ndarray


def _lse(x, mask):
    return jax.nn.logsumexp(jnp.where(mask, x, -jnp.inf), axis=-1)


@jax.jit
def _alignment(logits, X, score, mis, b_plus):
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
    """Realised B0, P+, Δ, δ, M of each alignment instance (eqs. 3, 8, 47, 53)."""
    with jax.enable_x64(True):
        out = _alignment(
            *(jnp.asarray(a) for a in (batch.logits, batch.X, batch.score, batch.misclassified, batch.b_plus))
        )
        return AlignmentParameters(*(np.asarray(a) for a in out))


@jax.jit
def _helpfulness(logits, X, top, sign):
    lt = jax.nn.logsumexp(logits, axis=-1)
    logp = logits - lt[..., None]
    p = jnp.exp(logp)
    d = sign[..., None] * (X - X[..., :1])
    incorrect = top & (jnp.arange(X.shape[-1]) > 0)
    plus, minus = incorrect & (d > 0), incorrect & (d < 0)
    p_plus = jnp.sum(jnp.where(plus, p, 0.0), axis=-1)
    p_minus = jnp.sum(jnp.where(minus, p, 0.0), axis=-1)
    c_plus = jnp.sum(jnp.where(plus, p * d, 0.0), axis=-1) / jnp.where(p_plus > 0, p_plus, 1.0)
    c_minus = jnp.sum(jnp.where(minus, p * d, 0.0), axis=-1) / jnp.where(p_minus > 0, p_minus, 1.0)
    p0 = p[..., 0]
    total = p_plus + p_minus
    both = (p_plus > 0) & (p_minus > 0)
    eps = jnp.where(total > 0, jnp.clip(1.0 - total / (1.0 - p0), 0.0, 1.0), 0.0)
    alpha = jnp.where(total > 0, jnp.minimum(p_plus, p_minus) / jnp.where(total > 0, total, 1.0), 0.0)
    sigma_beta = jnp.where(both, jnp.minimum(-c_minus, c_plus), 0.0)
    return p0, p_plus, p_minus, c_plus, c_minus, eps, alpha, sigma_beta, both


def helpfulness_parameters(batch: HelpfulnessBatch, sign=1.0) -> HelpfulnessParameters:
    """Realised P0, P±, c±, ε, α, σβ (App. C, eqs. 32-38) for direction ``sign·u``.

    ε is defined by the proof's normalisation ``P+ + P− = (1 − ε)(1 − P0)`` (eq. 38), so
    ``α(1 − ε) = min(P+, P−)/(1 − P0)`` and ``λσβ = λ·sigma_beta``. Mirrors
    :func:`steerbounds.bounds.estimators.realised_theorem2_parameters` (numpy) for the
    batch layout (correct token in slot 0).
    """
    with jax.enable_x64(True):
        logits = jnp.asarray(batch.logits)
        s = jnp.broadcast_to(jnp.asarray(sign, dtype=jnp.float64), logits.shape[:-1])
        out = _helpfulness(logits, jnp.asarray(batch.X), jnp.asarray(batch.top), s)
        return HelpfulnessParameters(*(np.asarray(a) for a in out))
