"""Full-vocabulary batches, one instance at a time: rows that stay in cache.

At V = 32,000 one instance's arrays (z, X, scores: 256 KB each in float64) fit in the
CPU's L2 cache, a batch of them does not. So for a batch whose token axis is at least
:data:`WIDE` slots, :func:`rowwise` runs a jitted kernel on one instance (row) at a
time, all coefficients of its curve at once, with the row cut to its present
slots: trailing absent slots (logit −inf, outside the top-T) are exact zeros of every
sum of the paper's quantities (probabilities, eqs. 3-4 and 32-38), so they are dropped,
and the length kept is rounded up to a size class (:func:`size_class`) so that a batch
compiles a handful of shapes, not one per instance. The batch is copied to JAX once
and the rows of one class go through one jitted ``lax.map`` (no per-row dispatch).
The kernels compute what the batched ones do (float64, max-shifted softmax); only the
order of float additions may differ (≤ 1e-15 relative; tested, and asserted in
``benchmarks/simulate_bench.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

WIDE = 2048
"""Token axes at least this long are evaluated row by row (the full-vocabulary path)."""

MIN_CLASS = 128
"""Smallest size class; every class is a multiple of it."""


def is_wide(width: int) -> bool:
    """Whether a batch with ``width`` token slots takes the row-by-row path."""
    return width >= WIDE


def present_lengths(present: np.ndarray) -> np.ndarray:
    """Per row ``(n, W)`` of a bool mask: 1 + the index of its last present slot (≥ 1)."""
    width = present.shape[-1]
    last = width - 1 - np.argmax(present[:, ::-1], axis=1)
    return np.where(present.any(axis=1), last + 1, 1)


def size_class(length: int, width: int) -> int:
    """``length`` rounded up to a multiple of max(MIN_CLASS, 2^(⌊log2 length⌋ − 2)) (at
    most 4 classes per doubling, ≤ 25% padding), capped at ``width``."""
    step = max(MIN_CLASS, 1 << max(int(length).bit_length() - 3, 0))
    return min(width, -(-int(length) // step) * step)


@cache
def _over_rows(kernel: Callable[..., Any], width: int, n_tokens: int) -> Callable[..., Any]:
    """Jitted ``(rows, *arrays) ↦ lax.map`` of ``kernel`` over the listed rows, each row's
    first ``n_tokens`` arrays cut to ``width`` slots (the other arrays passed whole)."""

    def mapped(rows: jax.Array, *arrays: jax.Array) -> Any:
        def one(i: jax.Array) -> Any:
            picked = [jax.lax.dynamic_slice_in_dim(a, i, 1, axis=0) for a in arrays]
            return kernel(*(a[:, :width] for a in picked[:n_tokens]), *picked[n_tokens:])

        return jax.lax.map(one, rows)

    return jax.jit(mapped)


def rowwise(
    kernel: Callable[..., Any],
    tokens: Sequence[np.ndarray],
    per_row: Sequence[np.ndarray],
    lengths: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """``kernel(*tokens_row, *per_row_row)`` for each row, outputs stacked on axis 0.

    The arrays are copied to JAX once; the rows of one size class go through one jitted
    ``lax.map`` (one call and one compilation per class and row count), each step on
    one cache-sized row.

    Args:
        kernel: jitted; takes the ``(1, w)`` token arrays then the ``(1, ...)`` per-row
            arrays and returns an array or a tuple of arrays with a leading axis of 1.
        tokens: ``(n, W)`` arrays over token slots (cut to each row's size class).
        per_row: ``(n, ...)`` arrays (λ, coefficients, signs), passed whole per row.
        lengths: ``(n,)`` present lengths (:func:`present_lengths`).
    """
    width = tokens[0].shape[-1]
    classes = np.array([size_class(int(m), width) for m in lengths])
    outs: list[np.ndarray] = []
    with jax.enable_x64(True):
        arrays = [jax.device_put(a) for a in (*tokens, *per_row)]
        for w in np.unique(classes):
            rows = np.flatnonzero(classes == w)
            got = _over_rows(kernel, int(w), len(tokens))(jnp.asarray(rows), *arrays)
            parts = [np.asarray(o)[:, 0] for o in (got if isinstance(got, tuple) else (got,))]
            if not outs:
                outs = [np.empty((len(lengths), *p.shape[1:]), dtype=p.dtype) for p in parts]
            for o, p in zip(outs, parts, strict=True):
                o[rows] = p
    return tuple(outs)


@jax.jit
def behaviour_rows(
    logits: jax.Array, X: jax.Array, score: jax.Array, lam: jax.Array, r: jax.Array
) -> jax.Array:
    """B(r_e) = Σ s_i softmax(z + λ r_e X)_i (eq. 3) for ``(1, w)`` rows at ``(1, K)`` coefficients.

    All K steered rows at once, max-shifted; the two sums Σ e·s and Σ e are one
    product of e with ``[s, 1]`` (e is computed once).
    """
    steered = logits[:, None, :] + (lam[:, None] * r)[:, :, None] * X[:, None, :]  # (1, K, w)
    e = jnp.exp(steered - jnp.max(steered, axis=-1, keepdims=True))
    sums = e @ jnp.stack([score, jnp.ones_like(score)], axis=-1)  # (1, K, 2)
    return sums[..., 0] / sums[..., 1]


@jax.jit
def helpfulness_rows(logits: jax.Array, X: jax.Array, lam: jax.Array, r: jax.Array) -> jax.Array:
    """P_{r_e}(a_correct) = softmax(z + λ r_e X)_0 (eq. 4) for ``(1, w)`` rows at ``(1, K)`` coefficients."""
    steered = logits[:, None, :] + (lam[:, None] * r)[:, :, None] * X[:, None, :]  # (1, K, w)
    e = jnp.exp(steered - jnp.max(steered, axis=-1, keepdims=True))
    return e[..., 0] / jnp.sum(e, axis=-1)
