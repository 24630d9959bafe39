"""Synthetic steering instances (JAX, vectorised, seeded) and their exact curves.

An instance is a query q with unembedding U (V × d), final representation r(q) and a
steering change ``δr = λ·r_e·u`` with |u| = 1 (Assumption 1, eq. 7). The model's
next-token distribution is ``softmax(U(r + δr))`` (eq. 1), so the logits are

    z_i(r_e) = ⟨r, Uᵀe_i⟩ + λ·r_e·⟨u, Uᵀe_i⟩ = z_i + λ·r_e·X_i.

Everything the paper's results depend on enters through the base logits ``z = U r``
and the projections ``X = U u`` (the X_i of App. C). Conversely any pair (z, X) is
realised by d = 2, ``U = [z | X]``, r = e₁, u = e₂. So the generators draw (z, X)
directly (documented equivalence); :func:`explicit_helpfulness_batch` builds the
explicit U, r, u at full vocabulary size instead, and :func:`steered_logits` is the
literal ``U(r + λ r_e u)``.

Conventions: arrays are ``(n, W)`` over n instances and W token slots; a slot with
logit ``-inf`` is absent (zero probability), so one batch mixes vocabulary sizes.
For helpfulness instances the correct token is slot 0 and ``top`` marks the top-T
set (the correct token included: T counts it). Curves are computed exactly from
the max-shifted softmax (the logsumexp trick) in float64; generators and curves
enter ``jax.enable_x64(True)`` locally and return numpy arrays.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from steerbounds.errors import InputError
from steerbounds.simulate import wide
from steerbounds.simulate.laws import check_law, standard_draws

AlignmentKind = Literal["binary", "soft", "trinary", "general"]
ALIGNMENT_KINDS = ("binary", "soft", "trinary", "general")

# Parameter ranges of the random draws (documented in docs/simulate.md).
LAMBDA_RANGE = (0.1, 10.0)  # λ, log-uniform (Assumption 1)
SIGMA_RANGE = (0.1, 3.0)  # σ of D, log-uniform (Assumption 3)
MARGIN_RANGE = (0.01, 3.0)  # Δ, uniform (Assumption 2)
LOGIT_OFFSET = 6.0  # aligned-group logit offset ~ U(−6, 6): B0 across (−1, 1)
PUSH_RANGE = (0.01, 30.0)  # how far non-aligned answers may sit below the margin
EPS_MAX = 0.5  # ε ~ U(0, 0.5) (or exactly 0 with probability 1/4)


class AlignmentBatch(NamedTuple):
    """Alignment instances (Theorems 1, 3, 4, 5; Corollary 1; App. K.1).

    logits: ``(n, W)`` base logits z (−inf: absent slot).
    X: ``(n, W)`` projections ⟨u, Uᵀe_i⟩ on the unit steering direction.
    score: ``(n, W)`` behaviour score B(i) ∈ [−1, 1] (±1 binary, {−1, 0, 1} trinary).
    misclassified: ``(n, W)`` bool, Assumption 4's misclassified set (score −1).
    lam: ``(n,)`` λ of Assumption 1.
    b_plus: ``(n,)`` threshold: the aligned set is ``score > b_plus`` (0 for binary and
        trinary; Theorem 5's b+ for general scores).
    """

    logits: np.ndarray
    X: np.ndarray
    score: np.ndarray
    misclassified: np.ndarray
    lam: np.ndarray
    b_plus: np.ndarray


class HelpfulnessBatch(NamedTuple):
    """Helpfulness instances (Theorem 2, Corollaries 2-3).

    logits: ``(n, W)`` base logits (slot 0 is the correct answer).
    X: ``(n, W)`` projections ⟨u, Uᵀe_i⟩.
    top: ``(n, W)`` bool, the top-T set (includes slot 0).
    lam: ``(n,)`` λ; sigma: ``(n,)`` σ of the law D of eq. 9.
    """

    logits: np.ndarray
    X: np.ndarray
    top: np.ndarray
    lam: np.ndarray
    sigma: np.ndarray


def _masked_max(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.max(jnp.where(mask, x, -jnp.inf), axis=-1)


def _masked_min(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.min(jnp.where(mask, x, jnp.inf), axis=-1)


def _check_sizes(n: int, width: int, min_width: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n must be an integer ≥ 1; got {n!r}")
    if not isinstance(width, (int, np.integer)) or width < min_width:
        raise InputError(f"width must be an integer ≥ {min_width}; got {width!r}")


# --------------------------------------------------------------------------- alignment


def make_key(seed: int) -> jax.Array:
    """The simulator's root key for ``seed``: ``jax.random.key(seed, impl="rbg")``.

    The RBG implementation (XLA's RngBitGenerator) compiles several times faster than
    the default threefry on CPU; draws are a deterministic function of the seed on a
    given backend. Any ``jax.random`` key is accepted by the generators.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in [0, 2^32); got {seed!r}")
    return jax.random.key(int(seed), impl="rbg")


def _loguniform_from(u: jax.Array, lo: float, hi: float) -> jax.Array:
    return jnp.exp(jnp.log(lo) + u * (jnp.log(hi) - jnp.log(lo)))


@partial(jax.jit, static_argnames=("n", "width", "kind", "law"))
def _alignment(key: jax.Array, n: int, width: int, kind: str, law: str) -> tuple[jax.Array, ...]:
    # few random calls (each one costs compile time): per-token and per-instance blocks
    k = jax.random.split(key, 4)
    uw = jax.random.uniform(k[0], (n, width, 8))
    ui = jax.random.uniform(k[1], (n, 16))
    zn = jax.random.normal(k[2], (n, width))
    dl = standard_draws(k[3], law, (n, width, 2))

    def col(j: int) -> jax.Array:  # per-instance uniform, shape (n, 1)
        return ui[:, j : j + 1]

    idx = jnp.arange(width)[None, :]
    min_tokens = 3 if kind == "trinary" else 2
    n_valid = min_tokens + jnp.floor(col(0) * (width + 1 - min_tokens))
    valid = idx < n_valid
    q_plus = 0.1 + 0.8 * col(1)
    aligned = ((uw[..., 0] < q_plus) | (idx == 0)) & (idx != 1) & valid
    rest = valid & ~aligned

    b_plus = jnp.zeros((n,))
    neutral = jnp.zeros_like(aligned)
    if kind == "trinary":
        neutral = rest & ((uw[..., 1] < 0.9 * col(2)) | (idx == 2)) & (idx != 1)
        score = jnp.where(aligned, 1.0, jnp.where(neutral, 0.0, -1.0))
    elif kind == "general":
        b_plus = -1.0 + 1.9 * ui[:, 2]
        bp = b_plus[:, None]
        hi = bp + (1.0 - bp) * (1.0 - uw[..., 1])  # (b+, 1]
        lo = -1.0 + (bp + 1.0) * uw[..., 2]  # [−1, b+]
        score = jnp.where(aligned, hi, lo)
    else:
        score = jnp.where(aligned, 1.0, -1.0)
    score = jnp.where(valid, score, 0.0)

    if kind == "soft":
        q_mis = 0.5 * col(3) * (col(4) < 0.7)
        mis = rest & (idx >= 2) & (uw[..., 3] < q_mis)
    else:
        mis = jnp.zeros_like(aligned)

    # base logits: spread s_z; aligned and neutral groups shifted to spread B0 over
    # (−1, 1); misclassified answers 2-14 nats below the aligned offset (small δ)
    s_z = 3.0 * col(5)
    off_a = LOGIT_OFFSET * (2.0 * col(6) - 1.0)
    off_n = LOGIT_OFFSET * (2.0 * col(7) - 1.0)
    logits = s_z * zn + jnp.where(aligned, off_a, 0.0) + jnp.where(neutral, off_n, 0.0)
    logits = jnp.where(mis, s_z * zn + off_a - 2.0 - 2.0 * LOGIT_OFFSET * col(8), logits)
    logits = jnp.where(valid, logits, -jnp.inf)

    # projections: non-aligned draws σ·D, about half pushed far below; aligned ones
    # above the best non-aligned one by the margin Δ (all exactly at Δ w.p. 0.3)
    sigma = _loguniform_from(col(9), *SIGMA_RANGE)
    far = _loguniform_from(col(10), *PUSH_RANGE)
    push = far * -jnp.log1p(-uw[..., 4]) * (uw[..., 5] < 0.5)
    others = rest & ~mis
    x_others = sigma * dl[..., 0] - push
    top_other = _masked_max(x_others, others)[:, None]
    margin = MARGIN_RANGE[0] + (MARGIN_RANGE[1] - MARGIN_RANGE[0]) * col(11)
    spread = 2.0 * col(12) * (col(13) > 0.3)
    x_aligned = top_other + margin + spread * jnp.abs(dl[..., 1])
    min_aligned = _masked_min(x_aligned, aligned)[:, None]
    x_mis = min_aligned + 2.0 * col(14) * (2.0 * uw[..., 6] - 1.0)
    X = jnp.where(aligned, x_aligned, jnp.where(mis, x_mis, x_others))
    X = jnp.where(valid, X, 0.0)

    lam = _loguniform_from(ui[:, 15], *LAMBDA_RANGE)
    return logits, X, score, mis, lam, b_plus


def alignment_batch(
    key: jax.Array, n: int, width: int, *, kind: AlignmentKind = "binary", law: str = "normal"
) -> AlignmentBatch:
    """n random alignment instances with up to ``width`` tokens each (≥ 2; ≥ 3 trinary).

    * ``binary`` -- scores ±1; u separates aligned from misaligned answers with
      margin Δ (Assumption 2, eq. 8);
    * ``soft`` -- binary plus a misclassified set of misaligned answers near the aligned
      cluster, of small mass (Assumption 4, eqs. 47-50; realised δ and M per draw);
    * ``trinary`` -- scores {−1, 0, +1}; u separates aligned from misaligned *and*
      neutral answers with margin Δ (Theorem 4);
    * ``general`` -- scores in [−1, 1]; u separates scores > b+ from the rest (Theorem 5).

    Non-aligned projections are ``σ·D`` with some pushed far below (up to ~30 units),
    which is where neutral answers hurt Theorem 4's statement. Returns float64 arrays.
    """
    if kind not in ALIGNMENT_KINDS:
        raise InputError(f"kind must be one of {', '.join(ALIGNMENT_KINDS)}; got {kind!r}")
    check_law(law)
    _check_sizes(n, width, 3 if kind == "trinary" else 2)
    with jax.enable_x64(True):
        batch = _alignment(key, int(n), int(width), kind, law)
        return AlignmentBatch(*(np.asarray(a) for a in batch))


# --------------------------------------------------------------------------- helpfulness


@partial(jax.jit, static_argnames=("n", "width", "n_top", "t_max", "law"))
def _helpfulness(
    key: jax.Array, n: int, width: int, n_top: int, t_max: int, law: str
) -> tuple[jax.Array, ...]:
    k = jax.random.split(key, 4)
    ui = jax.random.uniform(k[0], (n, 10))
    zn = jax.random.normal(k[1], (n, width, 2))
    dl = standard_draws(k[2], law, (n, width))

    def col(j: int) -> jax.Array:
        return ui[:, j : j + 1]

    idx = jnp.arange(width)[None, :]
    T = jnp.full((n, 1), n_top) if n_top else 2 + jnp.floor(col(0) * (t_max - 1))
    top = idx < T
    rest = ~top
    has_rest = jnp.any(rest, axis=1, keepdims=True)
    eps = jnp.where(has_rest & (col(2) > 0.25), EPS_MAX * col(1), 0.0)
    boost = -3.0 + 8.0 * col(4)
    z = 3.0 * col(3) * zn[..., 0] + jnp.where(idx == 0, boost, 0.0)
    log_top = jax.nn.log_softmax(jnp.where(top, z, -jnp.inf), axis=1) + jnp.log1p(-eps)
    z_rest = 3.0 * col(5) * zn[..., 1]
    log_rest = jax.nn.log_softmax(jnp.where(rest, z_rest, -jnp.inf), axis=1) + jnp.log(eps)
    logits = jnp.where(top, log_top, jnp.where(eps > 0, log_rest, -jnp.inf))

    lam = _loguniform_from(ui[:, 6], *LAMBDA_RANGE)
    sigma = _loguniform_from(ui[:, 7], *SIGMA_RANGE)
    X = sigma[:, None] * dl * jnp.where(top, 1.0, 3.0 * col(8))
    return logits, X, top, lam, sigma


def helpfulness_batch(
    key: jax.Array, n: int, width: int, *, n_top: int | None = None, t_max: int = 20, law: str = "normal"
) -> HelpfulnessBatch:
    """n random helpfulness instances (Assumption 3, eq. 9).

    Slot 0 is the correct token; slots ``< T`` are the top-T set holding 1 − ε of the
    mass (T counts the correct token); the other ``width − T`` slots hold ε (with
    ``width = T + 1`` that is one remainder bucket). X_i ~ σ·D i.i.d. on the top-T; the
    rest gets σ·D times an arbitrary scale (the theorem assumes nothing there).

    Args:
        key: a ``jax.random`` key.
        n: number of instances.
        width: token slots (≥ 2; ``32000`` for the full-vocabulary path).
        n_top: fixed T (2 ≤ T ≤ width), or None for T ~ U{2, …, min(t_max, width)}.
        t_max: upper end of the random T.
        law: the law D (see :data:`~steerbounds.simulate.laws.LAWS`).
    """
    check_law(law)
    _check_sizes(n, width, 2)
    if n_top is not None and not (isinstance(n_top, (int, np.integer)) and 2 <= n_top <= width):
        raise InputError(f"n_top must be an integer in [2, width={width}] or None; got {n_top!r}")
    if not (isinstance(t_max, (int, np.integer)) and t_max >= 2):
        raise InputError(f"t_max must be an integer ≥ 2; got {t_max!r}")
    with jax.enable_x64(True):
        batch = _helpfulness(key, int(n), int(width), int(n_top or 0), int(min(t_max, width)), law)
        return HelpfulnessBatch(*(np.asarray(a) for a in batch))


@partial(jax.jit, static_argnames=("n", "vocab", "d"))
def _explicit(key: jax.Array, n: int, vocab: int, d: int) -> tuple[jax.Array, ...]:
    k = jax.random.split(key, 6)
    sigma = _loguniform_from(jax.random.uniform(k[0], ()), *SIGMA_RANGE)
    U = sigma * jax.random.normal(k[1], (vocab, d))
    u = jax.random.normal(k[2], (n, d))
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    # |r| chosen so the logits' std σ|r| lies in [2, 6]: a top-T holding most of the mass
    tau = jax.random.uniform(k[3], (n, 1), minval=2.0, maxval=6.0)
    r = jax.random.normal(k[4], (n, d))
    r = r / jnp.linalg.norm(r, axis=1, keepdims=True) * tau / sigma
    lam = _loguniform_from(jax.random.uniform(k[5], (n,)), *LAMBDA_RANGE)
    return U, r, u, lam, sigma


def explicit_helpfulness_batch(
    key: jax.Array, n: int, *, vocab: int = 32000, d: int = 64, n_top: int = 10
) -> tuple[HelpfulnessBatch, np.ndarray, np.ndarray, np.ndarray]:
    """Helpfulness instances built from an explicit unembedding (full-vocabulary path).

    U (V × d) has i.i.d. N(0, σ²) entries, so for a unit u each ``X_i = (U u)_i ~ N(0, σ²)``
    (eq. 9 with D normal; tokens correlated only through the shared U). Each query has
    its own r (logits ``U r``) and u. Columns are reordered per instance so that the T
    most probable tokens come first and a uniformly chosen one of them, the correct
    answer, sits in slot 0.

    Returns:
        ``(batch, U, r, u)`` with ``batch.logits = (U r)[perm]`` and ``batch.X = (U u)[perm]``;
        the permutation is returned implicitly through ``batch`` (use :func:`steered_logits`
        with U, r, u for the literal ``U(r + λ r_e u)`` in the original order).
    """
    _check_sizes(n, vocab, 2)
    if not (isinstance(d, (int, np.integer)) and d >= 2):
        raise InputError(f"d must be an integer ≥ 2; got {d!r}")
    if not (isinstance(n_top, (int, np.integer)) and 2 <= n_top <= vocab):
        raise InputError(f"n_top must be an integer in [2, vocab={vocab}]; got {n_top!r}")
    with jax.enable_x64(True):
        U, r, u, lam, sigma = _explicit(key, int(n), int(vocab), int(d))
        z = r @ U.T
        X = u @ U.T
        order = jnp.argsort(-z, axis=1)
        pick = jax.random.randint(jax.random.fold_in(key, 7), (n,), 0, n_top)
        first = jnp.take_along_axis(order, pick[:, None], axis=1)
        order = order.at[jnp.arange(n), pick].set(order[:, 0]).at[:, 0].set(first[:, 0])
        z = jnp.take_along_axis(z, order, axis=1)
        X = jnp.take_along_axis(X, order, axis=1)
        top = jnp.broadcast_to(jnp.arange(vocab)[None, :] < n_top, (n, vocab))
        batch = HelpfulnessBatch(*(np.asarray(a) for a in (z, X, top, lam, jnp.full((n,), sigma))))
        return batch, np.asarray(U), np.asarray(r), np.asarray(u)


def steered_logits(U: ArrayLike, r: ArrayLike, u: ArrayLike, lam: ArrayLike, r_e: ArrayLike) -> np.ndarray:
    """The literal eq. 1 with Assumption 1: ``U (r + λ·r_e·u)`` for each instance (row)."""
    with jax.enable_x64(True):
        Uj, rj, uj, lj, rej = (jnp.asarray(a, dtype=jnp.float64) for a in (U, r, u, lam, r_e))
        return np.asarray((rj + (lj * rej)[..., None] * uj) @ Uj.T)


# --------------------------------------------------------------------------- exact curves


def coefficient_grid(r_e: ArrayLike, n: int) -> np.ndarray:
    """Coefficients ``(n, K)`` from ``(K,)`` (shared), ``(n, K)`` or a scalar."""
    r = np.asarray(r_e, dtype=np.float64)
    if r.ndim == 0:
        r = r[None]
    return np.broadcast_to(r, (n, r.shape[-1]))


@jax.jit
def behaviour_from_logits(logits: jax.Array, score: jax.Array) -> jax.Array:
    """B = Σ_i s_i softmax(logits)_i (Definition 1, eq. 3) over the last axis.

    Max-shifted (the logsumexp trick): ``e = exp(z − max z) ≤ 1``, ``B = Σ e·s / Σ e``;
    two passes over the logits, no overflow; absent slots (−inf) contribute 0.
    """
    e = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    return jnp.sum(e * score, axis=-1) / jnp.sum(e, axis=-1)


@jax.jit
def _behaviour_curve(
    logits: jax.Array, X: jax.Array, score: jax.Array, lam: jax.Array, r: jax.Array
) -> jax.Array:
    def one(rk: jax.Array) -> jax.Array:  # rk: (n,)
        return behaviour_from_logits(logits + (lam * rk)[:, None] * X, score)

    return jax.lax.map(one, r.T).T


def behaviour_curve(batch: AlignmentBatch, r_e: ArrayLike) -> np.ndarray:
    """True B(r_e) per instance, ``(n, K)``, exactly from the steered softmax (eq. 3, eq. 13).

    ``r_e`` is ``(K,)`` (shared) or ``(n, K)`` (per instance). Batches of at least
    :data:`~steerbounds.simulate.wide.WIDE` slots go row by row (:mod:`~steerbounds.simulate.wide`).
    """
    r = coefficient_grid(r_e, batch.logits.shape[0])
    if wide.is_wide(batch.logits.shape[-1]):
        lengths = wide.present_lengths(np.isfinite(batch.logits))
        tokens = (batch.logits, batch.X, batch.score)
        return wide.rowwise(wide.behaviour_rows, tokens, (batch.lam, r), lengths)[0]
    with jax.enable_x64(True):
        args = (batch.logits, batch.X, batch.score, batch.lam, r)
        return np.asarray(_behaviour_curve(*(jnp.asarray(a, dtype=jnp.float64) for a in args)))


@jax.jit
def _helpfulness_curve(logits: jax.Array, X: jax.Array, lam: jax.Array, r: jax.Array) -> jax.Array:
    def one(rk: jax.Array) -> jax.Array:
        steered = logits + (lam * rk)[:, None] * X
        e = jnp.exp(steered - jnp.max(steered, axis=-1, keepdims=True))
        return e[:, 0] / jnp.sum(e, axis=-1)

    return jax.lax.map(one, r.T).T


def helpfulness_curve(batch: HelpfulnessBatch, r_e: ArrayLike) -> np.ndarray:
    """True helpfulness P_{θ,r_e}(a_correct|q) (eq. 4) per instance, ``(n, K)``, max-shifted softmax.

    Batches of at least :data:`~steerbounds.simulate.wide.WIDE` slots go row by row.
    """
    r = coefficient_grid(r_e, batch.logits.shape[0])
    if wide.is_wide(batch.logits.shape[-1]):
        lengths = wide.present_lengths(np.isfinite(batch.logits))
        return wide.rowwise(wide.helpfulness_rows, (batch.logits, batch.X), (batch.lam, r), lengths)[0]
    with jax.enable_x64(True):
        args = (batch.logits, batch.X, batch.lam, r)
        return np.asarray(_helpfulness_curve(*(jnp.asarray(a, dtype=jnp.float64) for a in args)))
