"""The paper's bounds as vectorised float64 JAX functions.

Wolf et al., *Tradeoffs Between Alignment and Helpfulness in Language Models with
Steering Methods* (arXiv 2401.16332). Symbols follow the paper:

* ``r_e``   -- the steering coefficient (vectors of unit norm, eq. 2);
* ``B0``    -- behaviour expectation without steering (Definition 1, eq. 3);
* ``Δλ``    -- margin Δ (Assumption 2, eq. 8) times λ (Assumption 1, eq. 7);
* ``P0``    -- probability of the correct answer without steering (eq. 4);
* ``α, ε``  -- tightness and mass outside the top-T tokens (Theorem 2, eq. 38);
* ``λσβ``   -- curvature of the helpfulness decay (Theorem 2, eq. 6).

Every public function validates concrete inputs by the one rule of
:mod:`steerbounds.bounds.validation` (``InputError`` naming the parameter and its
allowed range), broadcasts its array arguments, stays finite and in range on the
whole valid domain (see the kernels' section), and computes in float64 inside a
*local* ``jax.enable_x64(True)`` scope: the
user's global ``jax_enable_x64`` flag is never changed. The ``*_kernel`` functions
are the raw jitted formulas (no validation) for use inside ``jax.jit``/``grad``.

Where the printed statement and the proof's conclusion differ, ``form="stated"``
is the printed formula and ``form="proved"`` the one the proof arrives at; the
simulator (``steerbounds simulate``) decides which holds, and the default is the
one that holds. See the README's *Findings* for counterexamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from steerbounds.bounds import validation as v
from steerbounds.errors import InputError

Form = Literal["stated", "proved"]
TrinaryForm = Literal["stated", "corrected"]
ArrayLike = jax.typing.ArrayLike
_Spec = tuple[str, ArrayLike, v.Interval]  # (name, value, allowed interval) for validation.parameters

_MAX = v.MAX  # largest float64; coefficients beyond it saturate here
_TINY = v.TINY  # smallest normal float64
_LN2 = math.log(2.0)

__all__ = [
    "behavior_lower_bound",
    "corollary1_coefficient",
    "expected_helpfulness_upper_bound",
    "general_behavior_lower_bound",
    "helpfulness_upper_bound",
    "helpfulness_upper_bound_components",
    "multitoken_helpfulness_upper_bound",
    "multitoken_required_coefficient",
    "required_coefficient",
    "soft_margin_behavior_lower_bound",
    "soft_margin_max_coefficient",
    "trinary_behavior_lower_bound",
]


def _form(form: object, allowed: tuple[str, ...]) -> str:
    """``form`` if it is one of ``allowed`` (a string), else an InputError."""
    if not isinstance(form, str) or form not in allowed:
        raise InputError(f"form must be one of {', '.join(allowed)}; got {form!r}")
    return form


def _f64(*xs: v.Checked) -> list[jax.Array]:
    return [jnp.asarray(x, dtype=jnp.float64) for x in xs]


def _in_float64(kernel: Callable[..., jax.Array], values: Iterable[v.Checked], **static: object) -> jax.Array:
    """``kernel`` on the validated ``values`` as float64 arrays, inside a local ``jax.enable_x64(True)``
    scope (``static``: its static arguments, e.g. ``form``)."""
    with jax.enable_x64(True):
        return kernel(*_f64(*values), **static)


def _exponent_factor(form: str) -> float:
    """Theorem 1 family: the proof (eq. 22→23) halves the exponent of the statement."""
    return 1.0 if form == "stated" else 0.5


# --------------------------------------------------------------------------- kernels
#
# Extreme valid inputs (parameters up to 1.8e308, probabilities down to 2.2e-308 or
# within 1e-16 of 1) keep every kernel finite and in its range; the guards below
# change nothing where the plain formula is finite, so ordinary values are unchanged:
#
# * a product whose factor overflowed meets an exact zero (0·inf): read as 0 (_mul);
# * a log term log p + e with p = 0 while e overflowed to +inf: read as log 0 = −inf;
# * a ratio of exponentials is divided through by e^x for x > 0 (no inf/inf);
# * a coefficient larger than the largest float64 saturates at ±1.7976931348623157e308.


def _mul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a·b for non-NaN a, b, with 0·(±inf) (an exact zero times an overflowed factor) read as 0."""
    product = jnp.multiply(a, b)
    return jnp.where(jnp.isnan(product), 0.0, product)


def _mul3(a: jax.Array, b: jax.Array, x: jax.Array) -> jax.Array:
    """a·b·x for a, b ≥ 0 without a spurious 0 or inf from the partial product a·b.

    Where a·b leaves the normal float64 range (and no factor is 0) the product is
    sign(x)·exp(log a + log b + log|x|); elsewhere it is (a·b)·x as printed, with
    0·inf read as 0, so ordinary values and the gradient in x are unchanged.
    """
    ab = a * b
    in_logs = ((ab < _TINY) | (ab > _MAX)) & (a > 0) & (b > 0) & (x != 0)
    a_, b_, x_ = (jnp.where(in_logs, y, 1.0) for y in (a, b, x))
    via_logs = jnp.sign(x_) * jnp.exp(jnp.log(a_) + jnp.log(b_) + jnp.log(jnp.abs(x_)))
    return jnp.where(in_logs, via_logs, _mul(ab, x))


def _log_plus(p: jax.Array, e: jax.Array) -> jax.Array:
    """log p + e, −inf where p = 0 (also when e = +inf, where the sum would be NaN)."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)) + e, -jnp.inf)


def _odds(p_plus: jax.Array, p_minus: jax.Array, rest: jax.Array, x: jax.Array) -> jax.Array:
    """(P+·e^x − P−)/(P+·e^x + rest) for rest ≥ P− ≥ 0, without overflow or cancellation.

    For x > 0 numerator and denominator are divided by e^x; each branch sees only its
    own half of x, so neither overflows (``where``, not minimum/maximum: those split the
    gradient 50/50 at x = 0). The denominator is 0 only when P+·e^x underflows and
    rest = 0 (so P− = 0): the ratio is then 1.
    """
    positive = x > 0
    grow = jnp.exp(jnp.where(positive, 0.0, x))  # e^x, x ≤ 0
    decay = jnp.exp(-jnp.where(positive, x, 0.0))  # e^{−x}, x > 0
    num = jnp.where(positive, p_plus - p_minus * decay, p_plus * grow - p_minus)
    den = jnp.where(positive, p_plus + rest * decay, p_plus * grow + rest)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 1.0)


@partial(jax.jit, static_argnames="form")
def behavior_lower_bound_kernel(
    r_e: jax.Array, b0: jax.Array, delta_lambda: jax.Array, form: str = "proved"
) -> jax.Array:
    """tanh(k·Δλ·r_e + artanh B0), k = 1 (eq. 5) or 1/2 (eq. 27); an overflowing
    k·Δλ·r_e is ±inf and gives ±1."""
    # k·(Δλ·r_e), not (k·Δλ)·r_e: k·Δλ may underflow where Δλ·r_e does not (k ∈ {1, ½} is exact).
    return jnp.tanh(_exponent_factor(form) * (delta_lambda * r_e) + jnp.arctanh(b0))


@partial(jax.jit, static_argnames="form")
def soft_margin_kernel(
    r_e: jax.Array,
    b0: jax.Array,
    delta_lambda: jax.Array,
    lam: jax.Array,
    delta: jax.Array,
    M: jax.Array,
    form: str = "proved",
) -> jax.Array:
    """Eq. 61 (proved) / eq. 51 with ε = 2δ·e^{Mλr_e} (stated), floored at −1."""
    tanh_part = behavior_lower_bound_kernel(r_e, b0, delta_lambda, form=form)
    # 2δ·exp(Mλ r_e) in log space; δ = 0 gives exactly 0 (never 0·∞), M·λ·r_e is
    # exact where M·λ alone under- or overflows, and 2δ beyond float64 is log δ + log 2.
    log_2delta = jnp.where(delta > _MAX / 2, jnp.log(delta) + _LN2, jnp.log(2.0 * delta))
    exponent = jnp.where(delta == 0, -jnp.inf, log_2delta + _mul3(M, lam, r_e))
    return jnp.maximum(tanh_part - jnp.exp(exponent), -1.0)


@partial(jax.jit, static_argnames="form")
def trinary_kernel(
    r_e: jax.Array, b0: jax.Array, p_plus: jax.Array, delta_lambda: jax.Array, form: str = "corrected"
) -> jax.Array:
    """Eq. 66 (stated; equal to the proof's eq. 70) and its corrected minimum.

    Eq. 66 is evaluated as (P+e^x − P−)/(P+e^x + 1 − P+), x = Δλ r_e, P− = P+ − B0 (the
    same fraction: B0 + P+(e^x − 1) = P+e^x − P−): no cancellation when P+ → 1 and
    x → −∞, where the printed form is 0/0 (B0 = P+ = 1). P− is projected onto
    [0, 1 − P+], the valid set (the input check allows 1e-12 of rounding).
    """
    x = delta_lambda * r_e
    rest = 1.0 - p_plus  # P− plus the neutral mass
    p_minus = jnp.clip(p_plus - b0, 0.0, rest)
    stated = _odds(p_plus, p_minus, rest, x)
    if form == "stated":
        return stated
    # Neutral tokens can be pushed far below the aligned ones; when P+e^x < P- the
    # worst case drops them from the denominator: (P+e^x - P-)/(P+e^x + P-).
    # At r_e = 0 nothing moves and B = B0 exactly; for any r_e > 0 the infimum over
    # instances is the minimum below (so the bound jumps at r_e = 0 when eq. 66 < 0).
    binary = _odds(p_plus, p_minus, p_minus, x)
    return jnp.where(x == 0, stated, jnp.minimum(stated, binary))


@jax.jit
def general_kernel(
    r_e: jax.Array, p_plus: jax.Array, p_minus: jax.Array, b_plus: jax.Array, delta_lambda: jax.Array
) -> jax.Array:
    """Eq. 67: (b+ P+ e^{Δλr_e} - P-)/(P+ e^{Δλr_e} + P-) = (b+ + 1)·w - 1 (w = 1 where P− = 0)."""
    logit = delta_lambda * r_e + jnp.log(p_plus) - jnp.log(p_minus)
    w = jax.nn.sigmoid(jnp.where(p_minus == 0, jnp.inf, logit))
    return (b_plus + 1.0) * w - 1.0


@jax.jit
def helpfulness_kernel(
    r_e: jax.Array, p0: jax.Array, alpha: jax.Array, eps: jax.Array, lam_sigma_beta: jax.Array
) -> jax.Array:
    """Eq. 6 / eq. 38 (an overflowing (λσβ r_e)² gives 0, or 1 where α(1 − ε)(1 − P0) = 0)."""
    growth = 1.0 + 0.5 * jnp.square(lam_sigma_beta * r_e)
    return p0 / (p0 + _mul((1.0 - p0) * alpha * (1.0 - eps), growth))


@partial(jax.jit, static_argnames="equation")
def components_kernel(
    r_e: jax.Array,
    p0: jax.Array,
    p_plus: jax.Array,
    p_minus: jax.Array,
    c_plus: jax.Array,
    c_minus: jax.Array,
    lam: jax.Array,
    equation: int = 33,
) -> jax.Array:
    """Eqs. 33, 34, 36 in log space (|δr| = λ|r_e|, Assumption 1)."""
    size = jnp.abs(r_e)  # c·(λ|r_e|) through _mul3: λ|r_e| may overflow where c·λ|r_e| does not
    if equation == 36:
        c_min = jnp.minimum(jnp.abs(c_minus), c_plus)
        mass = jnp.minimum(p_plus, p_minus)
        return p0 / (p0 + _mul(mass, 1.0 + 0.5 * jnp.square(_mul3(lam, size, c_min))))
    up, down = _mul3(lam, size, c_plus), _mul3(lam, size, c_minus)
    if equation == 33:
        terms = [jnp.log(p0), _log_plus(p_plus, up), _log_plus(p_minus, down)]
    else:  # 34
        mass = jnp.minimum(p_plus, p_minus)
        terms = [jnp.log(p0), _log_plus(mass, up), _log_plus(mass, down)]
    terms = jnp.broadcast_arrays(*terms)
    return jnp.exp(terms[0] - jax.nn.logsumexp(jnp.stack(terms), axis=0))


@partial(jax.jit, static_argnames="form")
def expected_helpfulness_kernel(
    r_e: jax.Array,
    p0: jax.Array,
    alpha: jax.Array,
    eps: jax.Array,
    lam_sigma_beta: jax.Array,
    n_top: jax.Array,
    form: str = "proved",
) -> jax.Array:
    """Eq. 45 (stated) and the proof-consistent form (proved)."""
    if form == "stated":
        growth = 1.0 + jnp.square(lam_sigma_beta * r_e)
        core = p0 / (p0 + _mul(alpha * (1.0 - p0), growth))
    else:
        core = helpfulness_kernel(r_e, p0, alpha, eps, lam_sigma_beta)
    return (1.0 - 1.0 / n_top) * core + 1.0 / n_top


@jax.jit
def multitoken_helpfulness_kernel(
    r_e: jax.Array, p0_steps: jax.Array, alpha: jax.Array, eps: jax.Array, lam_sigma_beta: jax.Array
) -> jax.Array:
    """Eq. 79 in log space; ``p0_steps`` carries the N steps on its last axis."""
    growth = 1.0 + 0.5 * jnp.square(lam_sigma_beta * r_e)
    scale = _mul(alpha * (1.0 - eps), growth)[..., None]
    log_num = jnp.sum(jnp.log(p0_steps), axis=-1)
    log_den = jnp.sum(jnp.log(p0_steps + _mul(1.0 - p0_steps, scale)), axis=-1)
    return jnp.exp(log_num - log_den)


# --------------------------------------------------------------------------- alignment


def _theorem1_specs(r_e: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike) -> tuple[_Spec, ...]:
    """Theorem 1's parameters (shared by Theorem 3) with their ranges, for :func:`validation.parameters`."""
    return (
        ("r_e", r_e, v.REAL),
        ("b0", b0, v.OPEN_UNIT_SYMMETRIC),
        ("delta_lambda", delta_lambda, v.NON_NEGATIVE),
    )


def behavior_lower_bound(
    r_e: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike, *, form: Form = "proved"
) -> jax.Array:
    """Theorem 1: lower bound on the behaviour expectation B[P_{θ,r_e}(·|q)].

    * ``form="stated"`` -- eq. 5: ``tanh(Δλ·r_e + artanh B0)``;
    * ``form="proved"`` -- eq. 27 (proof, App. B, eqs. 12–27): ``tanh(Δλ·r_e/2 + artanh B0)``.

    The proof's step eq. 22 → 23 turns ``(1 − a e^{−Δ|δr|})/(1 + a e^{−Δ|δr|})`` into
    ``tanh((Δ|δr| − ln a)/2)``, halving the exponent of the statement.

    Guarantee domain: r_e ≥ 0, where δr = λ r_e u classifies aligned over misaligned
    answers with margin Δ (Assumption 2). For r_e < 0 along the same direction the
    proved expression is an *upper* bound instead (the same argument with max for min).

    Args:
        r_e: steering coefficient, any finite real.
        b0: B0 ∈ (−1, 1), behaviour expectation without steering.
        delta_lambda: Δλ ≥ 0.
        form: ``"proved"`` (default, holds) or ``"stated"``.
    """
    chosen = _form(form, ("stated", "proved"))
    values = v.parameters(*_theorem1_specs(r_e, b0, delta_lambda))
    return _in_float64(behavior_lower_bound_kernel, values, form=chosen)


def soft_margin_behavior_lower_bound(
    r_e: ArrayLike,
    b0: ArrayLike,
    delta_lambda: ArrayLike,
    lam: ArrayLike,
    delta: ArrayLike,
    M: ArrayLike,
    *,
    form: Form = "proved",
) -> jax.Array:
    """Theorem 3 (App. H): behaviour lower bound under a soft margin (Assumption 4).

    * ``form="proved"`` -- eq. 61: ``tanh(Δλ·r_e/2 + artanh B0) − 2δ·exp(M·λ·r_e)``;
    * ``form="stated"`` -- eq. 51, ``tanh(Δλ·r_e + artanh B0) − ε``, with the smallest ε
      its validity condition ``r_e < log(ε/2δ)/(Mλ)`` allows: ε = 2δ·exp(Mλ r_e).

    Eq. 62 (``tanh(Δλ r_e/2 + artanh B0) − ε``) follows from eq. 61 on the range given by
    :func:`soft_margin_max_coefficient`. M is the depth of misclassified answers along
    the *normalised* direction, ``min ⟨δr/|δr|, Uᵀ(e_i − e_j)⟩ > −M``, as the proof
    (eq. 53) uses it; δ bounds their mass, ``P(misclassified) < δ·P(aligned)`` (eq. 47).
    B ∈ [−1, 1], so the value is floored at −1 (where the bound is vacuous).

    Args:
        r_e: steering coefficient (guarantee for r_e ≥ 0).
        b0: B0 ∈ (−1, 1).
        delta_lambda: Δλ ≥ 0.
        lam: λ ≥ 0 (Assumption 1).
        delta: δ ≥ 0, misclassified mass relative to the aligned mass.
        M: M ≥ 0, depth of the misclassified answers.
        form: ``"proved"`` (default) or ``"stated"``.
    """
    chosen = _form(form, ("stated", "proved"))
    values = v.parameters(
        *_theorem1_specs(r_e, b0, delta_lambda),
        ("lam", lam, v.NON_NEGATIVE),
        ("delta", delta, v.NON_NEGATIVE),
        ("M", M, v.NON_NEGATIVE),
    )
    return _in_float64(soft_margin_kernel, values, form=chosen)


def soft_margin_max_coefficient(eps: ArrayLike, delta: ArrayLike, M: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Theorem 3's validity range (eqs. 51, 62): r_e < log(ε/(2δ)) / (M·λ).

    A negative value means no r_e ≥ 0 satisfies the condition (ε ≤ 2δ). Where ε/(2δ)
    leaves the float64 range its log is ``log ε − log δ − log 2``; where M·λ underflows
    the quotient is taken in log space; a quotient beyond the float64 range saturates
    at ±1.7976931348623157e308 (every float64 r_e, or none, satisfies the condition).

    Args:
        eps: ε > 0, the slack subtracted from the bound.
        delta: δ > 0.
        M: M > 0.
        lam: λ > 0.
    """
    values = v.parameters(
        ("eps", eps, v.POSITIVE), ("delta", delta, v.POSITIVE), ("M", M, v.POSITIVE), ("lam", lam, v.POSITIVE)
    )
    with jax.enable_x64(True):
        eps_, delta_, M_, lam_ = _f64(*values)
        ratio = eps_ / (2.0 * delta_)
        normal = (ratio >= v.TINY) & (ratio <= _MAX)
        log_ratio = jnp.where(
            normal, jnp.log(jnp.where(normal, ratio, 1.0)), jnp.log(eps_) - jnp.log(delta_) - _LN2
        )
        ml = M_ * lam_
        direct = log_ratio / jnp.where(ml >= v.TINY, ml, 1.0)
        in_logs = jnp.sign(log_ratio) * jnp.exp(jnp.log(jnp.abs(log_ratio)) - jnp.log(M_) - jnp.log(lam_))
        return jnp.clip(jnp.where(ml >= v.TINY, direct, in_logs), -_MAX, _MAX)


def trinary_behavior_lower_bound(
    r_e: ArrayLike,
    b0: ArrayLike,
    p_plus: ArrayLike,
    delta_lambda: ArrayLike,
    *,
    form: TrinaryForm = "corrected",
) -> jax.Array:
    """Theorem 4 (App. J): lower bound for a trinary score B ∈ {−1, 0, +1}.

    * ``form="stated"`` -- eq. 66 (identical to the proof's eq. 70):
      ``(B0 + P+(e^{Δλ r_e} − 1)) / (1 + P+(e^{Δλ r_e} − 1))``;
    * ``form="corrected"`` -- ``min(eq. 66, (P+e^{x} − P−)/(P+e^{x} + P−))``, x = Δλ r_e.

    The proof bounds ``(1 − a)/(1 + b)`` by replacing a and b by their upper bounds,
    which is only valid while ``1 − a ≥ 0``; when ``P+ e^x < P−`` the neutral answers
    (score 0) can be pushed far below the aligned ones and vanish from the
    denominator, and eq. 66 is violated. The minimum covers both cases, equals eq. 66
    whenever eq. 66 is ≥ 0, and is the infimum over instances for r_e > 0; at r_e = 0
    exactly it is B0 (up to rounding).

    Args:
        r_e: steering coefficient (guarantee for r_e ≥ 0).
        b0: B0 = P+ − P− ∈ [−1, 1].
        p_plus: P+ ∈ (0, 1], probability of aligned answers without steering;
            needs P− = P+ − B0 ≥ 0 and P+ + P− ≤ 1.
        delta_lambda: Δλ ≥ 0.
        form: ``"corrected"`` (default) or ``"stated"``.
    """
    chosen = _form(form, ("stated", "corrected"))
    values = v.parameters(
        ("r_e", r_e, v.REAL),
        ("b0", b0, v.CLOSED_UNIT_SYMMETRIC),
        ("p_plus", p_plus, v.POSITIVE_PROBABILITY),
        ("delta_lambda", delta_lambda, v.NON_NEGATIVE),
    )
    b0_, p_plus_ = values[1], values[2]
    if not v.is_traced(b0_, p_plus_):
        b0_a, pp_a = np.asarray(b0_), np.asarray(p_plus_)
        v.check_condition("b0", b0_a <= pp_a + 1e-12, "must be ≤ p_plus (P− = P+ − B0 ≥ 0)")
        v.check_condition("b0", b0_a >= 2.0 * pp_a - 1.0 - 1e-12, "must be ≥ 2·p_plus − 1 (P+ + P− ≤ 1)")
    return _in_float64(trinary_kernel, values, form=chosen)


def general_behavior_lower_bound(
    r_e: ArrayLike, p_plus: ArrayLike, p_minus: ArrayLike, b_plus: ArrayLike, delta_lambda: ArrayLike
) -> jax.Array:
    """Theorem 5 (App. J, eq. 67; proof eq. 71): a general score B ∈ [−1, 1].

    ``(b+·P+·e^{Δλ r_e} − P−) / (P+·e^{Δλ r_e} + P−)``, where P+ is the unsteered mass of
    answers with score > b+ and P− that of the rest (P− = 1 − P+ in the theorem; a
    smaller P− is accepted but the guarantee needs the full rest mass).

    Args:
        r_e: steering coefficient (guarantee for r_e ≥ 0).
        p_plus: P+ ∈ (0, 1].
        p_minus: P− ∈ [0, 1], P+ + P− ≤ 1.
        b_plus: b+ ∈ [−1, 1], the score threshold the steering direction separates.
        delta_lambda: Δλ ≥ 0.
    """
    values = v.parameters(
        ("r_e", r_e, v.REAL),
        ("p_plus", p_plus, v.POSITIVE_PROBABILITY),
        ("p_minus", p_minus, v.PROBABILITY),
        ("b_plus", b_plus, v.CLOSED_UNIT_SYMMETRIC),
        ("delta_lambda", delta_lambda, v.NON_NEGATIVE),
    )
    if not v.is_traced(values[1], values[2]):
        total = np.asarray(values[1]) + np.asarray(values[2])
        v.check_condition("p_minus", total <= 1.0 + 1e-12, "must satisfy p_plus + p_minus ≤ 1")
    return _in_float64(general_kernel, values)


def _artanh_one_minus(eps: jax.Array) -> jax.Array:
    """artanh(1 − ε) as ``(log(2 − ε) − log ε)/2``, exact for every ε (1 − ε rounds to 1 below 1.1e-16)."""
    return 0.5 * (jnp.log(2.0 - eps) - jnp.log(eps))


def _theorem1_inverse(
    target: _Spec,
    b0: _Spec,
    delta_lambda: ArrayLike,
    form: object,
    artanh_target: Callable[[jax.Array], jax.Array] = jnp.arctanh,
) -> jax.Array:
    """Theorem 1 solved for r_e: ``(artanh B* − artanh B0) / (k·Δλ)``, k = 1 (eq. 5) or ½ (eq. 27).

    ``target`` and ``b0`` are the (name, value, interval) of B* and B0, validated with
    Δλ > 0; ``artanh_target`` maps the validated B* to artanh B* (``jnp.arctanh`` unless
    a caller has a more exact form). Clipped at 0 (B* ≤ B0
    needs no steering); a coefficient beyond the float64 range saturates at
    1.7976931348623157e308.
    """
    chosen = _form(form, ("stated", "proved"))
    values = v.parameters(target, b0, ("delta_lambda", delta_lambda, v.POSITIVE))
    with jax.enable_x64(True):
        target_, b0_, delta_lambda_ = _f64(*values)
        gap = artanh_target(target_) - jnp.arctanh(b0_)
        # (gap/k)/Δλ, not gap/(k·Δλ): k·Δλ may underflow (k ∈ {1, ½}: same bits otherwise).
        return jnp.clip(gap / _exponent_factor(chosen) / delta_lambda_, 0.0, _MAX)


def required_coefficient(
    target: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike, *, form: Form = "proved"
) -> jax.Array:
    """Inversion of Theorem 1: the smallest r_e ≥ 0 whose bound reaches ``target``.

    * ``form="stated"`` (eq. 5): ``(artanh B* − artanh B0) / Δλ``;
    * ``form="proved"`` (eq. 27): ``2·(artanh B* − artanh B0) / Δλ``.

    Clipped at 0: when B* ≤ B0 no steering is needed. A coefficient beyond the float64
    range (Δλ near 1e-308) saturates at 1.7976931348623157e308.

    Args:
        target: B* ∈ (−1, 1), the behaviour expectation to guarantee.
        b0: B0 ∈ (−1, 1).
        delta_lambda: Δλ > 0.
        form: ``"proved"`` (default) or ``"stated"``.
    """
    return _theorem1_inverse(
        ("target", target, v.OPEN_UNIT_SYMMETRIC), ("b0", b0, v.OPEN_UNIT_SYMMETRIC), delta_lambda, form
    )


def corollary1_coefficient(
    eps: ArrayLike, gamma: ArrayLike, delta_lambda: ArrayLike, *, form: Form = "proved"
) -> jax.Array:
    """Corollary 1 (App. D): a coefficient that guarantees B > 1 − ε.

    It is Theorem 1's inversion (:func:`required_coefficient`) at B* = 1 − ε, B0 = γ:

    * ``form="stated"``: ``(artanh(1 − ε) − artanh γ) / Δλ``;
    * ``form="proved"``: twice that (from eq. 27).

    The corollary is printed for prompts with ``B0 < γ < 0``; but Theorem 1's bound
    increases with B0, so the coefficient computed from γ suffices only when γ is a
    *lower* bound on B0 (``B0 ≥ γ``). We implement that reading; the simulator shows
    the printed reading failing.

    ``artanh(1 − ε)`` is evaluated as ``(log(2 − ε) − log ε)/2``, exact for every ε
    (1 − ε itself rounds to 1 below ε ≈ 1.1e-16); a coefficient beyond the float64
    range saturates at 1.7976931348623157e308.

    Args:
        eps: ε ∈ (0, 1), the target is 1 − ε.
        gamma: γ ∈ (−1, 0), a lower bound on B0.
        delta_lambda: Δλ > 0.
        form: ``"proved"`` (default) or ``"stated"``.
    """
    return _theorem1_inverse(
        ("eps", eps, v.OPEN_PROBABILITY),
        ("gamma", gamma, v.NEGATIVE_OPEN_UNIT),
        delta_lambda,
        form,
        artanh_target=_artanh_one_minus,
    )


def multitoken_required_coefficient(
    eps: ArrayLike, n_tokens: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike
) -> jax.Array:
    """Theorem 6 (App. K.1, eq. 72; proof eqs. 73–77): coefficient for an N-token answer.

    ``r_e > (log(N/ε) + log((1 − B0)/(1 + B0))) / Δλ`` guarantees ``B > 1 − 2ε`` (eq. 78),
    when Theorem 1's assumptions hold at every decoding step and B0 ≤ min_i B0^i.
    Statement and proof agree (the proof's per-step bound, eq. 74, uses the full
    exponent Δλ r_e, consistent with Theorem 1's proved form). Clipped at 0; where
    N/ε overflows its log is ``log N − log ε``; a coefficient beyond the float64 range
    saturates at 1.7976931348623157e308.

    Args:
        eps: ε ∈ (0, 1).
        n_tokens: N, an integer ≥ 1.
        b0: B0 ∈ (−1, 1), behaviour expectation of the whole response without steering.
        delta_lambda: Δλ > 0.
    """
    eps_c = v.real("eps", eps, v.OPEN_PROBABILITY)
    n_c = v.integer("n_tokens", n_tokens, 1)
    b0_c = v.real("b0", b0, v.OPEN_UNIT_SYMMETRIC)
    dl_c = v.real("delta_lambda", delta_lambda, v.POSITIVE)
    v.broadcast(
        {
            "eps": np.shape(eps_c),
            "n_tokens": np.shape(n_c),
            "b0": np.shape(b0_c),
            "delta_lambda": np.shape(dl_c),
        }
    )
    with jax.enable_x64(True):
        eps_, n, b0_, delta_lambda_ = _f64(eps_c, n_c, b0_c, dl_c)
        ratio = n / eps_
        finite = jnp.isfinite(ratio)
        log_ratio = jnp.where(finite, jnp.log(jnp.where(finite, ratio, 1.0)), jnp.log(n) - jnp.log(eps_))
        return jnp.clip((log_ratio - 2.0 * jnp.arctanh(b0_)) / delta_lambda_, 0.0, _MAX)


# --------------------------------------------------------------------------- helpfulness


def _helpfulness_specs(
    p0: ArrayLike, alpha: ArrayLike, eps: ArrayLike, lam_sigma_beta: ArrayLike
) -> tuple[_Spec, ...]:
    """Theorem 2's shared parameters with their ranges, for :func:`validation.parameters`."""
    return (
        ("p0", p0, v.POSITIVE_PROBABILITY),
        ("alpha", alpha, v.PROBABILITY),
        ("eps", eps, v.HALF_OPEN_PROBABILITY),
        ("lam_sigma_beta", lam_sigma_beta, v.NON_NEGATIVE),
    )


def helpfulness_upper_bound(
    r_e: ArrayLike, p0: ArrayLike, alpha: ArrayLike, eps: ArrayLike, lam_sigma_beta: ArrayLike
) -> jax.Array:
    """Theorem 2 (eq. 6; proof App. C, eqs. 28–38): upper bound on helpfulness.

    ``P0 / (P0 + (1 − P0)·α(1 − ε)·(1 + (λσβ)²·r_e²/2))``. Statement and proof agree.
    With the realised quantities of the proof, ``α(1 − ε) = min(P+, P−)/(1 − P0)`` and
    ``λσβ = λ·min(|c−|, c+)`` (eqs. 33–38), the bound holds for every direction; the
    theorem's "with probability 1 − 2/T" (Assumption 3, T counting the correct token)
    is the chance that both I+ and I− are non-empty, i.e. that α > 0 and the bound is
    informative (with α = 0 it is the trivial bound 1). Even symmetric in r_e.

    Limits: an overflowing (λσβ r_e)² gives 0 (1 where α(1 − ε)(1 − P0) = 0); a product
    (1 − P0)α(1 − ε) below 2.2e-308 is 0, so the bound is the trivial (valid) 1.

    Args:
        r_e: steering coefficient, any finite real.
        p0: P0 ∈ (0, 1], probability of the correct answer without steering.
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1), mass outside the top-T tokens.
        lam_sigma_beta: λσβ ≥ 0.
    """
    values = v.parameters(("r_e", r_e, v.REAL), *_helpfulness_specs(p0, alpha, eps, lam_sigma_beta))
    return _in_float64(helpfulness_kernel, values)


def helpfulness_upper_bound_components(
    r_e: ArrayLike,
    p0: ArrayLike,
    p_plus: ArrayLike,
    p_minus: ArrayLike,
    c_plus: ArrayLike,
    c_minus: ArrayLike,
    lam: ArrayLike,
    *,
    equation: int = 33,
) -> jax.Array:
    """Theorem 2's intermediate forms (App. C) from P±, c± directly.

    * eq. 33: ``P0 / (P0 + P+·e^{c+ λ|r_e|} + P−·e^{c− λ|r_e|})``;
    * eq. 34: ``P0 / (P0 + min(P+, P−)(e^{c+ λ|r_e|} + e^{c− λ|r_e|}))``;
    * eq. 36: ``P0 / (P0 + min(P+, P−)(1 + min(|c−|, c+)²·λ²r_e²/2))``.

    Each is ≥ the previous one (33 ≤ 34 ≤ 36); all hold deterministically given the
    realised P± and c± of the direction δr/|δr| actually used (for r_e < 0 that
    direction is −u, which swaps the roles of the tokens).

    Args:
        r_e: steering coefficient.
        p0: P0 ∈ (0, 1].
        p_plus, p_minus: P± ∈ [0, 1], masses of the incorrect top-T tokens whose
            projection lies above/below the correct one's; P0 + P+ + P− ≤ 1.
        c_plus: c+ ≥ 0, P-weighted mean of X_i − X_correct over I+.
        c_minus: c− ≤ 0, the same over I−.
        lam: λ ≥ 0.
        equation: 33, 34 or 36 (an ``int``).
    """
    if (
        isinstance(equation, (bool, np.bool_))
        or not isinstance(equation, (int, np.integer))
        or equation
        not in (
            33,
            34,
            36,
        )
    ):
        raise InputError(f"equation must be one of 33, 34, 36 (an int); got {equation!r}")
    values = v.parameters(
        ("r_e", r_e, v.REAL),
        ("p0", p0, v.POSITIVE_PROBABILITY),
        ("p_plus", p_plus, v.PROBABILITY),
        ("p_minus", p_minus, v.PROBABILITY),
        ("c_plus", c_plus, v.NON_NEGATIVE),
        ("c_minus", c_minus, v.NON_POSITIVE),
        ("lam", lam, v.NON_NEGATIVE),
    )
    if not v.is_traced(*values[1:4]):
        total = np.asarray(values[1]) + np.asarray(values[2]) + np.asarray(values[3])
        v.check_condition("p_plus", total <= 1.0 + 1e-12, "must satisfy p0 + p_plus + p_minus ≤ 1")
    return _in_float64(components_kernel, values, equation=int(equation))


def expected_helpfulness_upper_bound(
    r_e: ArrayLike,
    p0: ArrayLike,
    alpha: ArrayLike,
    eps: ArrayLike,
    lam_sigma_beta: ArrayLike,
    n_top: ArrayLike,
    *,
    form: Form = "proved",
) -> jax.Array:
    """Corollary 2 and App. E (eqs. 39–45): bound on the expected helpfulness.

    Averaging over the randomness of which of I± is empty (probability 1/T each):

    * ``form="stated"`` -- eq. 45: ``(1 − 1/T)·P0/(P0 + α(1 − P0)(1 + (λσβ)² r_e²)) + 1/T``;
    * ``form="proved"`` -- ``(1 − 1/T)·P0/(P0 + α(1 − ε)(1 − P0)(1 + (λσβ)² r_e²/2)) + 1/T``:
      the Theorem 2 term (eq. 38) dominates the one-sided sigmoid terms (eqs. 43–44)
      since α(1 − ε) ≤ 1 and ½κ² ≤ c², so this is what the combination in App. E
      actually yields; eq. 45 drops the (1 − ε) and the ½.

    Both tend to 1/T as |r_e| → ∞: Corollary 2's limit 1/N for N answer choices
    (T = N). Extreme inputs as in :func:`helpfulness_upper_bound`.

    Args:
        r_e: steering coefficient.
        p0: P0 ∈ (0, 1].
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1).
        lam_sigma_beta: λσβ ≥ 0.
        n_top: T ≥ 1, the number of top tokens (answer choices).
        form: ``"proved"`` (default) or ``"stated"``.
    """
    chosen = _form(form, ("stated", "proved"))
    values = v.parameters(
        ("r_e", r_e, v.REAL),
        *_helpfulness_specs(p0, alpha, eps, lam_sigma_beta),
        ("n_top", n_top, v.AT_LEAST_ONE),
    )
    return _in_float64(expected_helpfulness_kernel, values, form=chosen)


def multitoken_helpfulness_upper_bound(
    r_e: ArrayLike, p0_steps: ArrayLike, alpha: ArrayLike, eps: ArrayLike, lam_sigma_beta: ArrayLike
) -> jax.Array:
    """Corollary 3 (App. K.2, eq. 79): helpfulness bound for an N-token answer.

    ``Π_i P0^i / Π_i (P0^i + (1 − P0^i)·α(1 − ε)·(1 + (λσβ)² r_e²/2))`` -- Theorem 2 at each
    decoding step, multiplied by the chain rule; informative (α > 0 at every step) with
    probability ≥ 1 − 2N/T. Its denominator's leading r_e-dependence is quadratic
    (eq. 80). As in eq. 79, α, ε and λσβ are shared by all steps: with per-step values,
    pass the weakest (smallest α(1 − ε) and λσβ), which keeps the bound valid. Extreme
    inputs as in :func:`helpfulness_upper_bound`.

    Args:
        r_e: steering coefficient; broadcasts against ``p0_steps[..., 0]``.
        p0_steps: per-step probabilities P0^i ∈ (0, 1] of the correct tokens, the N
            steps on the last axis (N ≥ 1).
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1).
        lam_sigma_beta: λσβ ≥ 0.
    """
    steps = v.real("p0_steps", p0_steps, v.POSITIVE_PROBABILITY)
    if np.ndim(steps) == 0:
        raise InputError("p0_steps must have the N decoding steps on its last axis (ndim ≥ 1); got a scalar")
    shared = [
        v.real(name, x, interval)
        for name, x, interval in (
            ("r_e", r_e, v.REAL),
            ("alpha", alpha, v.PROBABILITY),
            ("eps", eps, v.HALF_OPEN_PROBABILITY),
            ("lam_sigma_beta", lam_sigma_beta, v.NON_NEGATIVE),
        )
    ]
    shapes = dict(zip(("r_e", "alpha", "eps", "lam_sigma_beta"), map(np.shape, shared), strict=True))
    v.broadcast({**shapes, "p0_steps[..., 0]": np.shape(steps)[:-1]})
    r_e_, alpha_, eps_, lsb_ = shared
    return _in_float64(multitoken_helpfulness_kernel, (r_e_, steps, alpha_, eps_, lsb_))
