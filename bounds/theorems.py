"""The paper's bounds as vectorised float64 JAX functions.

Wolf et al., *Tradeoffs Between Alignment and Helpfulness in Language Models with
Steering Methods* (arXiv 2401.16332). Symbols follow the paper:

* ``r_e``   -- the steering coefficient (vectors of unit norm, eq. 2);
* ``B0``    -- behaviour expectation without steering (Definition 1, eq. 3);
* ``Δλ``    -- margin Δ (Assumption 2, eq. 8) times λ (Assumption 1, eq. 7);
* ``P0``    -- probability of the correct answer without steering (eq. 4);
* ``α, ε``  -- tightness and mass outside the top-T tokens (Theorem 2, eq. 38);
* ``λσβ``   -- curvature of the helpfulness decay (Theorem 2, eq. 6).

Every public function validates concrete inputs (``InputError`` naming the
parameter and its allowed range, NaN rejected), broadcasts its array arguments,
and computes in float64 inside a *local* ``jax.enable_x64(True)`` scope: the
user's global ``jax_enable_x64`` flag is never changed. The ``*_kernel`` functions
are the raw jitted formulas (no validation) for use inside ``jax.jit``/``grad``.

Where the printed statement and the proof's conclusion differ, ``form="stated"``
is the printed formula and ``form="proved"`` the one the proof arrives at; the
simulator (``steerbounds simulate``) decides which holds, and the default is the
one that holds. See the README's *Findings* for counterexamples.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp

from steerbounds.bounds import validation as v
from steerbounds.errors import InputError

Form = Literal["stated", "proved"]
TrinaryForm = Literal["stated", "corrected"]
ArrayLike = jax.typing.ArrayLike

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


def _form(form: str, allowed: tuple[str, ...]) -> str:
    if form not in allowed:
        raise InputError(f"form must be one of {', '.join(allowed)}; got {form!r}")
    return form


def _f64(*xs: ArrayLike) -> list[jax.Array]:
    return [jnp.asarray(x, dtype=jnp.float64) for x in xs]


def _exponent_factor(form: str) -> float:
    """Theorem 1 family: the proof (eq. 22→23) halves the exponent of the statement."""
    return 1.0 if form == "stated" else 0.5


# --------------------------------------------------------------------------- kernels


@partial(jax.jit, static_argnames="form")
def behavior_lower_bound_kernel(r_e, b0, delta_lambda, form: str = "proved"):
    """tanh(k·Δλ·r_e + artanh B0), k = 1 (eq. 5) or 1/2 (eq. 27)."""
    return jnp.tanh(_exponent_factor(form) * delta_lambda * r_e + jnp.arctanh(b0))


@partial(jax.jit, static_argnames="form")
def soft_margin_kernel(r_e, b0, delta_lambda, lam, delta, M, form: str = "proved"):
    """Eq. 61 (proved) / eq. 51 with ε = 2δ·e^{Mλr_e} (stated), floored at −1."""
    tanh_part = behavior_lower_bound_kernel(r_e, b0, delta_lambda, form=form)
    # 2δ·exp(Mλ r_e) in log space: δ = 0 gives exactly 0, never 0·∞.
    penalty = jnp.exp(jnp.log(2.0 * delta) + M * lam * r_e)
    return jnp.maximum(tanh_part - penalty, -1.0)


@partial(jax.jit, static_argnames="form")
def trinary_kernel(r_e, b0, p_plus, delta_lambda, form: str = "corrected"):
    """Eq. 66 (stated; equal to the proof's eq. 70) and its corrected minimum."""
    x = delta_lambda * r_e
    # eq. 66 evaluated without overflow: for x > 0 multiply through by e^{-x}.
    # (where, not minimum/maximum: those split the gradient 50/50 at x = 0)
    xn = jnp.where(x > 0, 0.0, x)
    xp = jnp.where(x > 0, x, 0.0)
    grow = p_plus * jnp.expm1(xn)  # P+(e^x - 1), x <= 0
    low = (b0 + grow) / (1.0 + grow)
    shrink = -p_plus * jnp.expm1(-xp)  # P+(1 - e^{-x}), x > 0
    decay = jnp.exp(-xp)
    high = (b0 * decay + shrink) / (decay + shrink)
    stated = jnp.where(x > 0, high, low)
    if form == "stated":
        return stated
    # Neutral tokens can be pushed far below the aligned ones; when P+e^x < P- the
    # worst case drops them from the denominator: (P+e^x - P-)/(P+e^x + P-).
    # At r_e = 0 nothing moves and B = B0 exactly; for any r_e > 0 the infimum over
    # instances is the minimum below (so the bound jumps at r_e = 0 when eq. 66 < 0).
    p_minus = jnp.maximum(p_plus - b0, 0.0)
    binary = jnp.tanh(0.5 * (x + jnp.log(p_plus) - jnp.log(p_minus)))
    return jnp.where(x == 0, stated, jnp.minimum(stated, binary))


@jax.jit
def general_kernel(r_e, p_plus, p_minus, b_plus, delta_lambda):
    """Eq. 67: (b+ P+ e^{Δλr_e} - P-)/(P+ e^{Δλr_e} + P-) = (b+ + 1)·w - 1."""
    w = jax.nn.sigmoid(delta_lambda * r_e + jnp.log(p_plus) - jnp.log(p_minus))
    return (b_plus + 1.0) * w - 1.0


@jax.jit
def helpfulness_kernel(r_e, p0, alpha, eps, lam_sigma_beta):
    """Eq. 6 / eq. 38."""
    growth = 1.0 + 0.5 * jnp.square(lam_sigma_beta * r_e)
    return p0 / (p0 + (1.0 - p0) * alpha * (1.0 - eps) * growth)


@partial(jax.jit, static_argnames="equation")
def components_kernel(r_e, p0, p_plus, p_minus, c_plus, c_minus, lam, equation: int = 33):
    """Eqs. 33, 34, 36 in log space (|δr| = λ|r_e|, Assumption 1)."""
    norm = lam * jnp.abs(r_e)
    log_p0 = jnp.log(p0)
    if equation == 36:
        c_min = jnp.minimum(jnp.abs(c_minus), c_plus)
        mass = jnp.minimum(p_plus, p_minus)
        return p0 / (p0 + mass * (1.0 + 0.5 * jnp.square(c_min * norm)))
    if equation == 33:
        terms = [log_p0, jnp.log(p_plus) + c_plus * norm, jnp.log(p_minus) + c_minus * norm]
    else:  # 34
        log_mass = jnp.log(jnp.minimum(p_plus, p_minus))
        terms = [log_p0, log_mass + c_plus * norm, log_mass + c_minus * norm]
    terms = jnp.broadcast_arrays(*terms)
    return jnp.exp(log_p0 - jax.nn.logsumexp(jnp.stack(terms), axis=0))


@partial(jax.jit, static_argnames="form")
def expected_helpfulness_kernel(r_e, p0, alpha, eps, lam_sigma_beta, n_top, form: str = "proved"):
    """Eq. 45 (stated) and the proof-consistent form (proved)."""
    if form == "stated":
        growth = 1.0 + jnp.square(lam_sigma_beta * r_e)
        core = p0 / (p0 + alpha * (1.0 - p0) * growth)
    else:
        core = helpfulness_kernel(r_e, p0, alpha, eps, lam_sigma_beta)
    return (1.0 - 1.0 / n_top) * core + 1.0 / n_top


@jax.jit
def multitoken_helpfulness_kernel(r_e, p0_steps, alpha, eps, lam_sigma_beta):
    """Eq. 79 in log space; ``p0_steps`` carries the N steps on its last axis."""
    growth = 1.0 + 0.5 * jnp.square(lam_sigma_beta * r_e)
    scale = (alpha * (1.0 - eps) * growth)[..., None]
    log_num = jnp.sum(jnp.log(p0_steps), axis=-1)
    log_den = jnp.sum(jnp.log(p0_steps + (1.0 - p0_steps) * scale), axis=-1)
    return jnp.exp(log_num - log_den)


# --------------------------------------------------------------------------- alignment


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
    form = _form(form, ("stated", "proved"))
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("b0", b0, v.OPEN_UNIT_SYMMETRIC)
    v.check_interval("delta_lambda", delta_lambda, v.NON_NEGATIVE)
    with jax.enable_x64(True):
        return behavior_lower_bound_kernel(*_f64(r_e, b0, delta_lambda), form=form)


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
    form = _form(form, ("stated", "proved"))
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("b0", b0, v.OPEN_UNIT_SYMMETRIC)
    v.check_interval("delta_lambda", delta_lambda, v.NON_NEGATIVE)
    v.check_interval("lam", lam, v.NON_NEGATIVE)
    v.check_interval("delta", delta, v.NON_NEGATIVE)
    v.check_interval("M", M, v.NON_NEGATIVE)
    with jax.enable_x64(True):
        return soft_margin_kernel(*_f64(r_e, b0, delta_lambda, lam, delta, M), form=form)


def soft_margin_max_coefficient(eps: ArrayLike, delta: ArrayLike, M: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Theorem 3's validity range (eqs. 51, 62): r_e < log(ε/(2δ)) / (M·λ).

    A negative value means no r_e ≥ 0 satisfies the condition (ε ≤ 2δ).

    Args:
        eps: ε > 0, the slack subtracted from the bound.
        delta: δ > 0.
        M: M > 0.
        lam: λ > 0.
    """
    v.check_interval("eps", eps, v.POSITIVE)
    v.check_interval("delta", delta, v.POSITIVE)
    v.check_interval("M", M, v.POSITIVE)
    v.check_interval("lam", lam, v.POSITIVE)
    with jax.enable_x64(True):
        eps, delta, M, lam = _f64(eps, delta, M, lam)
        return jnp.log(eps / (2.0 * delta)) / (M * lam)


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
    exactly it is B0.

    Args:
        r_e: steering coefficient (guarantee for r_e ≥ 0).
        b0: B0 = P+ − P− ∈ [−1, 1].
        p_plus: P+ ∈ (0, 1], probability of aligned answers without steering;
            needs P− = P+ − B0 ≥ 0 and P+ + P− ≤ 1.
        delta_lambda: Δλ ≥ 0.
        form: ``"corrected"`` (default) or ``"stated"``.
    """
    form = _form(form, ("stated", "corrected"))
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("b0", b0, v.CLOSED_UNIT_SYMMETRIC)
    v.check_interval("p_plus", p_plus, v.POSITIVE_PROBABILITY)
    v.check_interval("delta_lambda", delta_lambda, v.NON_NEGATIVE)
    if not v.is_traced(b0, p_plus):
        b0_a, pp_a = v.as_float_array("b0", b0), v.as_float_array("p_plus", p_plus)
        v.check_condition("b0", b0_a <= pp_a + 1e-12, "must be ≤ p_plus (P− = P+ − B0 ≥ 0)")
        v.check_condition("b0", b0_a >= 2.0 * pp_a - 1.0 - 1e-12, "must be ≥ 2·p_plus − 1 (P+ + P− ≤ 1)")
    with jax.enable_x64(True):
        return trinary_kernel(*_f64(r_e, b0, p_plus, delta_lambda), form=form)


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
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("p_plus", p_plus, v.POSITIVE_PROBABILITY)
    v.check_interval("p_minus", p_minus, v.PROBABILITY)
    v.check_interval("b_plus", b_plus, v.CLOSED_UNIT_SYMMETRIC)
    v.check_interval("delta_lambda", delta_lambda, v.NON_NEGATIVE)
    if not v.is_traced(p_plus, p_minus):
        total = v.as_float_array("p_plus", p_plus) + v.as_float_array("p_minus", p_minus)
        v.check_condition("p_minus", total <= 1.0 + 1e-12, "must satisfy p_plus + p_minus ≤ 1")
    with jax.enable_x64(True):
        return general_kernel(*_f64(r_e, p_plus, p_minus, b_plus, delta_lambda))


def required_coefficient(
    target: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike, *, form: Form = "proved"
) -> jax.Array:
    """Inversion of Theorem 1: the smallest r_e ≥ 0 whose bound reaches ``target``.

    * ``form="stated"`` (eq. 5): ``(artanh B* − artanh B0) / Δλ``;
    * ``form="proved"`` (eq. 27): ``2·(artanh B* − artanh B0) / Δλ``.

    Clipped at 0: when B* ≤ B0 no steering is needed.

    Args:
        target: B* ∈ (−1, 1), the behaviour expectation to guarantee.
        b0: B0 ∈ (−1, 1).
        delta_lambda: Δλ > 0.
        form: ``"proved"`` (default) or ``"stated"``.
    """
    form = _form(form, ("stated", "proved"))
    v.check_interval("target", target, v.OPEN_UNIT_SYMMETRIC)
    v.check_interval("b0", b0, v.OPEN_UNIT_SYMMETRIC)
    v.check_interval("delta_lambda", delta_lambda, v.POSITIVE)
    with jax.enable_x64(True):
        target, b0, delta_lambda = _f64(target, b0, delta_lambda)
        gap = jnp.arctanh(target) - jnp.arctanh(b0)
        return jnp.maximum(gap / (_exponent_factor(form) * delta_lambda), 0.0)


def corollary1_coefficient(
    eps: ArrayLike, gamma: ArrayLike, delta_lambda: ArrayLike, *, form: Form = "proved"
) -> jax.Array:
    """Corollary 1 (App. D): a coefficient that guarantees B > 1 − ε.

    * ``form="stated"``: ``(artanh(1 − ε) − artanh γ) / Δλ``;
    * ``form="proved"``: twice that (from eq. 27).

    The corollary is printed for prompts with ``B0 < γ < 0``; but Theorem 1's bound
    increases with B0, so the coefficient computed from γ suffices only when γ is a
    *lower* bound on B0 (``B0 ≥ γ``). We implement that reading; the simulator shows
    the printed reading failing.

    Args:
        eps: ε ∈ (0, 1), the target is 1 − ε.
        gamma: γ ∈ (−1, 0), a lower bound on B0.
        delta_lambda: Δλ > 0.
        form: ``"proved"`` (default) or ``"stated"``.
    """
    form = _form(form, ("stated", "proved"))
    v.check_interval("eps", eps, v.OPEN_PROBABILITY)
    v.check_interval("gamma", gamma, (-1.0, 0.0, False, False))
    v.check_interval("delta_lambda", delta_lambda, v.POSITIVE)
    with jax.enable_x64(True):
        eps, gamma, delta_lambda = _f64(eps, gamma, delta_lambda)
        gap = jnp.arctanh(1.0 - eps) - jnp.arctanh(gamma)
        return gap / (_exponent_factor(form) * delta_lambda)


def multitoken_required_coefficient(
    eps: ArrayLike, n_tokens: ArrayLike, b0: ArrayLike, delta_lambda: ArrayLike
) -> jax.Array:
    """Theorem 6 (App. K.1, eq. 72; proof eqs. 73–77): coefficient for an N-token answer.

    ``r_e > (log(N/ε) + log((1 − B0)/(1 + B0))) / Δλ`` guarantees ``B > 1 − 2ε`` (eq. 78),
    when Theorem 1's assumptions hold at every decoding step and B0 ≤ min_i B0^i.
    Statement and proof agree (the proof's per-step bound, eq. 74, uses the full
    exponent Δλ r_e, consistent with Theorem 1's proved form). Clipped at 0.

    Args:
        eps: ε ∈ (0, 1).
        n_tokens: N, an integer ≥ 1.
        b0: B0 ∈ (−1, 1), behaviour expectation of the whole response without steering.
        delta_lambda: Δλ > 0.
    """
    v.check_interval("eps", eps, v.OPEN_PROBABILITY)
    v.check_integer("n_tokens", n_tokens, 1)
    v.check_interval("b0", b0, v.OPEN_UNIT_SYMMETRIC)
    v.check_interval("delta_lambda", delta_lambda, v.POSITIVE)
    with jax.enable_x64(True):
        eps, n, b0, delta_lambda = _f64(eps, n_tokens, b0, delta_lambda)
        value = (jnp.log(n / eps) - 2.0 * jnp.arctanh(b0)) / delta_lambda
        return jnp.maximum(value, 0.0)


# --------------------------------------------------------------------------- helpfulness


def _check_helpfulness(r_e, p0, alpha, eps, lam_sigma_beta) -> None:
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("p0", p0, v.POSITIVE_PROBABILITY)
    v.check_interval("alpha", alpha, v.PROBABILITY)
    v.check_interval("eps", eps, v.HALF_OPEN_PROBABILITY)
    v.check_interval("lam_sigma_beta", lam_sigma_beta, v.NON_NEGATIVE)


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

    Args:
        r_e: steering coefficient, any finite real.
        p0: P0 ∈ (0, 1], probability of the correct answer without steering.
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1), mass outside the top-T tokens.
        lam_sigma_beta: λσβ ≥ 0.
    """
    _check_helpfulness(r_e, p0, alpha, eps, lam_sigma_beta)
    with jax.enable_x64(True):
        return helpfulness_kernel(*_f64(r_e, p0, alpha, eps, lam_sigma_beta))


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
        equation: 33, 34 or 36.
    """
    if equation not in (33, 34, 36):
        raise InputError(f"equation must be one of 33, 34, 36; got {equation!r}")
    v.check_interval("r_e", r_e, v.REAL)
    v.check_interval("p0", p0, v.POSITIVE_PROBABILITY)
    v.check_interval("p_plus", p_plus, v.PROBABILITY)
    v.check_interval("p_minus", p_minus, v.PROBABILITY)
    v.check_interval("c_plus", c_plus, v.NON_NEGATIVE)
    v.check_interval("c_minus", c_minus, v.NON_POSITIVE)
    v.check_interval("lam", lam, v.NON_NEGATIVE)
    if not v.is_traced(p0, p_plus, p_minus):
        total = sum(v.as_float_array(n, x) for n, x in (("p0", p0), ("p_plus", p_plus), ("p_minus", p_minus)))
        v.check_condition("p_plus", total <= 1.0 + 1e-12, "must satisfy p0 + p_plus + p_minus ≤ 1")
    with jax.enable_x64(True):
        return components_kernel(*_f64(r_e, p0, p_plus, p_minus, c_plus, c_minus, lam), equation=equation)


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
    (T = N).

    Args:
        r_e: steering coefficient.
        p0: P0 ∈ (0, 1].
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1).
        lam_sigma_beta: λσβ ≥ 0.
        n_top: T ≥ 1, the number of top tokens (answer choices).
        form: ``"proved"`` (default) or ``"stated"``.
    """
    form = _form(form, ("stated", "proved"))
    _check_helpfulness(r_e, p0, alpha, eps, lam_sigma_beta)
    v.check_interval("n_top", n_top, (1.0, float("inf"), True, False))
    with jax.enable_x64(True):
        return expected_helpfulness_kernel(*_f64(r_e, p0, alpha, eps, lam_sigma_beta, n_top), form=form)


def multitoken_helpfulness_upper_bound(
    r_e: ArrayLike, p0_steps: ArrayLike, alpha: ArrayLike, eps: ArrayLike, lam_sigma_beta: ArrayLike
) -> jax.Array:
    """Corollary 3 (App. K.2, eq. 79): helpfulness bound for an N-token answer.

    ``Π_i P0^i / Π_i (P0^i + (1 − P0^i)·α(1 − ε)·(1 + (λσβ)² r_e²/2))`` -- Theorem 2 at each
    decoding step, multiplied by the chain rule; informative (α > 0 at every step) with
    probability ≥ 1 − 2N/T. Its denominator's leading r_e-dependence is quadratic
    (eq. 80). As in eq. 79, α, ε and λσβ are shared by all steps: with per-step values,
    pass the weakest (smallest α(1 − ε) and λσβ), which keeps the bound valid.

    Args:
        r_e: steering coefficient; broadcasts against ``p0_steps[..., 0]``.
        p0_steps: per-step probabilities P0^i ∈ (0, 1] of the correct tokens, the N
            steps on the last axis (N ≥ 1).
        alpha: α ∈ [0, 1].
        eps: ε ∈ [0, 1).
        lam_sigma_beta: λσβ ≥ 0.
    """
    _check_helpfulness(r_e, 1.0, alpha, eps, lam_sigma_beta)
    v.check_interval("p0_steps", p0_steps, v.POSITIVE_PROBABILITY)
    if not v.is_traced(p0_steps) and v.as_float_array("p0_steps", p0_steps).ndim == 0:
        raise InputError("p0_steps must have the N decoding steps on its last axis (ndim ≥ 1); got a scalar")
    with jax.enable_x64(True):
        return multitoken_helpfulness_kernel(*_f64(r_e, p0_steps, alpha, eps, lam_sigma_beta))
