"""Plan a steering coefficient: what a target behaviour costs in helpfulness.

Combines Theorem 1 (behaviour lower bound B_lb, eq. 27 proved / eq. 5 stated) and
Theorem 2 (helpfulness upper bound H_ub, eq. 6) for one query, over r_e ≥ 0 (the
coefficient in the direction that classifies aligned over misaligned answers, where
Theorem 1's guarantee holds).

Efficient regime (the paper's §3 "tradeoff" paragraph and Figure 1, made precise):

    E = { r_e ≥ 0 : dB_lb/dr_e (r_e) > −dH_ub/dr_e (r_e) },

the coefficients where the marginal alignment gain of the behaviour bound exceeds
the marginal helpfulness loss of the helpfulness bound. With
``B_lb = tanh(kΔλ r_e + artanh B0)`` (k = 1/2 proved, 1 stated) and
``H_ub = P0/(P0 + (1 − P0)α(1 − ε)(1 + (λσβ)² r_e²/2))``:

    dB_lb/dr_e  = kΔλ·(1 − B_lb²)                       (linear gain kΔλ(1 − B0²) at 0)
    −dH_ub/dr_e = (λσβ)²(1 − P0)α(1 − ε)·r_e·H_ub²/P0    (0 at r_e = 0: the loss is quadratic)

so E always contains a neighbourhood of 0 when Δλ > 0 and |B0| < 1. Its end point
``r_eff`` is the first r_e > 0 where the two marginals are equal (found by a grid
scan for the first sign change, then Brent's method). B_lb' decays exponentially and
−H_ub' like r_e⁻³, so a crossing exists whenever λσβ, α(1 − ε) > 0 and P0 < 1;
otherwise H_ub is constant and r_eff = ∞. If the marginals cross more than once
(possible when B0 < 0: B_lb' rises until B_lb = 0), ``crossings`` lists them all
on the scanned range and E is the union of the intervals where the gain wins.
Both marginals are closed forms; the tests check them against ``jax.grad`` of the
numeric bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy.optimize import brentq

from steerbounds.bounds import theorems, validation
from steerbounds.errors import InputError

__all__ = ["N_GRID_MAX", "TradeoffPlan", "marginal_gain", "marginal_loss", "plan_tradeoff"]

N_GRID_MAX = 1_000_000
"""Most grid points a plan takes (as many as ``steerbounds bound`` evaluates)."""


@dataclass(frozen=True)
class TradeoffPlan:
    """The planner's result; arrays are over the grid ``r_e`` (0 … r_max).

    ``coefficient`` (None without a target) is the smallest r_e whose behaviour bound
    reaches the target (Theorem 1 inverted). Helpfulness fields are None when the
    helpfulness parameters were not given. ``efficient_end`` is r_eff (∞ when H_ub
    is constant). ``pareto_*`` is the alignment-vs-helpfulness frontier traced by r_e.
    """

    form: str
    b0: float
    delta_lambda: float
    p0: float | None
    alpha: float | None
    eps: float | None
    lam_sigma_beta: float | None
    target: float | None
    coefficient: float | None
    behavior_at_coefficient: float | None
    helpfulness_at_coefficient: float | None
    relative_helpfulness_cost: float | None
    linear_gain: float
    quadratic_loss: float | None
    efficient_end: float
    behavior_at_efficient_end: float
    helpfulness_at_efficient_end: float | None
    crossings: tuple[float, ...]
    r_e: np.ndarray = field(repr=False)
    behavior: np.ndarray = field(repr=False)
    helpfulness: np.ndarray | None = field(repr=False)

    @property
    def coefficient_is_efficient(self) -> bool | None:
        """Whether the target's coefficient lies inside the efficient regime [0, r_eff]."""
        if self.coefficient is None:
            return None
        return bool(self.coefficient <= self.efficient_end)

    @property
    def pareto_behavior(self) -> np.ndarray:
        """Alignment axis of the Pareto curve (B_lb over the grid)."""
        return self.behavior

    @property
    def pareto_helpfulness(self) -> np.ndarray | None:
        """Helpfulness axis of the Pareto curve (H_ub over the grid)."""
        return self.helpfulness

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (an unbounded efficient regime gives ``efficient_end: null``)."""

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "form": self.form,
            "parameters": {
                "b0": self.b0,
                "delta_lambda": self.delta_lambda,
                "p0": self.p0,
                "alpha": self.alpha,
                "eps": self.eps,
                "lam_sigma_beta": self.lam_sigma_beta,
            },
            "target": self.target,
            "coefficient": num(self.coefficient),
            "behavior_at_coefficient": num(self.behavior_at_coefficient),
            "helpfulness_at_coefficient": num(self.helpfulness_at_coefficient),
            "relative_helpfulness_cost": num(self.relative_helpfulness_cost),
            "coefficient_is_efficient": self.coefficient_is_efficient,
            "linear_gain": self.linear_gain,
            "quadratic_loss": num(self.quadratic_loss),
            "efficient_end": num(self.efficient_end),
            "efficient_regime_unbounded": not math.isfinite(self.efficient_end),
            "behavior_at_efficient_end": num(self.behavior_at_efficient_end),
            "helpfulness_at_efficient_end": num(self.helpfulness_at_efficient_end),
            "crossings": [float(c) for c in self.crossings],
            "pareto": {
                "r_e": self.r_e.tolist(),
                "behavior": self.behavior.tolist(),
                "helpfulness": None if self.helpfulness is None else self.helpfulness.tolist(),
            },
        }


def _k(form: str) -> float:
    return 0.5 if form == "proved" else 1.0


def marginal_gain(r_e: Any, b0: float, delta_lambda: float, form: str = "proved") -> np.ndarray:
    """dB_lb/dr_e = kΔλ·sech²(kΔλ r_e + artanh B0) (Theorem 1, eq. 27/eq. 5)."""
    with np.errstate(over="ignore"):  # an overflowing y or cosh(y)² gives a gain of 0
        y = _k(form) * delta_lambda * np.asarray(r_e, dtype=np.float64) + np.arctanh(b0)
        return _k(form) * delta_lambda / np.cosh(y) ** 2


def marginal_loss(r_e: Any, p0: float, alpha: float, eps: float, lam_sigma_beta: float) -> np.ndarray:
    """−dH_ub/dr_e = (λσβ)²(1 − P0)α(1 − ε)·r_e·H_ub²/P0 (Theorem 2, eq. 6).

    Evaluated as ``λσβ·H·(1 − H)·u/g`` with u = λσβ r_e, g = 1 + u²/2 and
    1 − H = A g/(P0 + A g), A = (1 − P0)α(1 − ε) (the same quantity): every factor is
    bounded, so nothing overflows for extreme parameters.
    """
    r = np.asarray(r_e, dtype=np.float64)
    spread = (1.0 - p0) * alpha * (1.0 - eps)
    with np.errstate(over="ignore", invalid="ignore"):
        u = lam_sigma_beta * r
        g = 1.0 + 0.5 * u * u
        ag = np.where(spread == 0, 0.0, spread * g)
        den = p0 + ag
        rest = np.where(np.isinf(ag), 1.0, ag / den)  # 1 − H, without cancellation
        u_over_g = np.where(np.isinf(u), 0.0, u / g)
        return lam_sigma_beta * (p0 / den) * rest * u_over_g


def _scalar(name: str, value: Any) -> float:
    """One finite real number by the bounds' coercion rule (:func:`validation.real`); a
    subnormal is read as 0, as the bounds read it."""
    checked = np.asarray(validation.real(name, value, validation.REAL))
    if checked.ndim != 0:
        raise InputError(f"{name} must be a single number; got an array of shape {checked.shape}")
    x = float(checked)
    return 0.0 if abs(x) < validation.TINY else x


def plan_tradeoff(
    *,
    b0: float,
    delta_lambda: float,
    p0: float | None = None,
    alpha: float | None = None,
    eps: float | None = None,
    lam_sigma_beta: float | None = None,
    target: float | None = None,
    form: Literal["proved", "stated"] = "proved",
    r_max: float | None = None,
    n_grid: int = 201,
) -> TradeoffPlan:
    """Coefficient for a target, its helpfulness cost, the efficient regime and the Pareto curve.

    Args:
        b0: B0 ∈ (−1, 1), behaviour expectation without steering.
        delta_lambda: Δλ ≥ 0 (> 0 when a target is given).
        p0, alpha, lam_sigma_beta: Theorem 2's P0 ∈ (0, 1], α ∈ [0, 1], λσβ ≥ 0 -- all
            three or none (then only the behaviour side is planned).
        eps: ε ∈ [0, 1) (default 0 when the helpfulness parameters are given).
        target: B* ∈ (−1, 1), the behaviour expectation to guarantee.
        form: Theorem 1's ``"proved"`` (eq. 27, default) or ``"stated"`` (eq. 5) form.
        r_max: end of the r_e grid (> 0); default: far enough to show the coefficient,
            the efficient end and B_lb ≥ 0.99.
        n_grid: number of grid points, 2 to :data:`N_GRID_MAX`.

    Raises:
        InputError: any parameter out of its range or NaN, or partial helpfulness parameters.
    """
    if form not in ("proved", "stated"):
        raise InputError(f"form must be one of stated, proved; got {form!r}")
    b0 = _scalar("b0", b0)
    delta_lambda = _scalar("delta_lambda", delta_lambda)
    theorems.behavior_lower_bound(0.0, b0, delta_lambda, form=form)  # validates b0, Δλ
    hp = _helpfulness_parameters(p0, alpha, eps, lam_sigma_beta)
    if (
        not isinstance(n_grid, (int, np.integer))
        or isinstance(n_grid, (bool, np.bool_))
        or not 2 <= n_grid <= N_GRID_MAX
    ):
        raise InputError(f"n_grid must be an integer in [2, {N_GRID_MAX}]; got {n_grid!r}")
    if r_max is not None:
        r_max = _scalar("r_max", r_max)
        if not r_max > 0:
            raise InputError(f"r_max must be in (0, ∞); got {r_max!r}")
        if r_max / (n_grid - 1) < validation.TINY:
            raise InputError(
                f"r_max must be at least {validation.TINY!r}·(n_grid − 1) (a grid step that is not "
                f"subnormal); got {r_max!r}"
            )

    def behavior(r: Any) -> np.ndarray:
        return np.asarray(theorems.behavior_lower_bound(r, b0, delta_lambda, form=form))

    def helpfulness(r: Any, h: _Helpfulness) -> np.ndarray:
        return np.asarray(theorems.helpfulness_upper_bound(r, h.p0, h.alpha, h.eps, h.lam_sigma_beta))

    coefficient = behavior_at = helpful_at = cost = None
    if target is not None:
        target = _scalar("target", target)
        coefficient = float(theorems.required_coefficient(target, b0, delta_lambda, form=form))
        behavior_at = float(behavior(coefficient))
        if hp is not None:
            helpful_at = float(helpfulness(coefficient, hp))
            cost = 1.0 - helpful_at / float(helpfulness(0.0, hp))

    k = _k(form)
    linear_gain = k * delta_lambda * (1.0 - b0**2)
    crossings, efficient_end = _crossings(b0, delta_lambda, form, hp)

    if r_max is None:
        b99 = (math.atanh(0.99) - math.atanh(b0)) / (k * delta_lambda) if delta_lambda > 0 else 0.0
        candidates = [1.0, b99]
        if coefficient is not None:
            candidates.append(1.25 * coefficient)
        if math.isfinite(efficient_end):
            candidates.append(1.5 * efficient_end)
        r_max = min(max(candidates), validation.MAX)
    grid = np.linspace(0.0, r_max, n_grid)
    helpful_at_end = None
    if hp is not None:
        helpful_at_end = float(helpfulness(efficient_end if math.isfinite(efficient_end) else 0.0, hp))
    return TradeoffPlan(
        form=form,
        b0=b0,
        delta_lambda=delta_lambda,
        p0=None if hp is None else hp.p0,
        alpha=None if hp is None else hp.alpha,
        eps=None if hp is None else hp.eps,
        lam_sigma_beta=None if hp is None else hp.lam_sigma_beta,
        target=target,
        coefficient=coefficient,
        behavior_at_coefficient=behavior_at,
        helpfulness_at_coefficient=helpful_at,
        relative_helpfulness_cost=cost,
        linear_gain=linear_gain,
        quadratic_loss=None if hp is None else _quadratic_loss(hp),
        efficient_end=efficient_end,
        behavior_at_efficient_end=float(behavior(efficient_end)) if math.isfinite(efficient_end) else 1.0,
        helpfulness_at_efficient_end=helpful_at_end,
        crossings=crossings,
        r_e=grid,
        behavior=behavior(grid),
        helpfulness=None if hp is None else helpfulness(grid, hp),
    )


class _Helpfulness(NamedTuple):
    """Theorem 2's parameters, validated: P0, α, ε, λσβ."""

    p0: float
    alpha: float
    eps: float
    lam_sigma_beta: float


def _helpfulness_parameters(
    p0: float | None, alpha: float | None, eps: float | None, lam_sigma_beta: float | None
) -> _Helpfulness | None:
    """The helpfulness parameters, validated (all three of P0, α, λσβ or none; ε defaults to 0)."""
    given = {"p0": p0, "alpha": alpha, "lam_sigma_beta": lam_sigma_beta}
    if all(v is None for v in given.values()) and eps is None:
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise InputError(f"helpfulness parameters come together: also give {', '.join(missing)}")
    hp = _Helpfulness(
        _scalar("p0", p0),
        _scalar("alpha", alpha),
        0.0 if eps is None else _scalar("eps", eps),
        _scalar("lam_sigma_beta", lam_sigma_beta),
    )
    theorems.helpfulness_upper_bound(0.0, *hp)  # validates the ranges
    return hp


def _quadratic_loss(hp: _Helpfulness) -> float:
    """d²H_ub/dr_e²/2 at 0: −P0(1 − P0)α(1 − ε)(λσβ)²/(2 d0²), d0 = P0 + (1 − P0)α(1 − ε).

    A product of bounded factors (nothing overflows), saturated at −1.8e308.
    """
    spread = (1.0 - hp.p0) * (hp.alpha * (1.0 - hp.eps))
    d0 = hp.p0 + spread
    curvature = hp.lam_sigma_beta * hp.lam_sigma_beta
    if spread == 0 or curvature == 0:
        return 0.0
    return max(-(hp.p0 / d0) * (spread / d0) * curvature / 2.0, -validation.MAX)


def _crossings(
    b0: float, delta_lambda: float, form: str, hp: _Helpfulness | None
) -> tuple[tuple[float, ...], float]:
    """Every r_e > 0 on the scanned range where the marginals cross, and r_eff (the first)."""
    if delta_lambda == 0:
        return (), 0.0  # no alignment gain at all: E is empty
    if hp is None or not (hp.lam_sigma_beta > 0 and hp.alpha * (1.0 - hp.eps) > 0 and hp.p0 < 1):
        return (), math.inf  # H_ub is constant
    # Scan range: until B_lb' is negligible against any positive −H_ub'.
    k = _k(form)
    saturate = (12.0 - math.atanh(b0)) / (k * delta_lambda)
    scan_end = min(max(saturate, 1.0, 4.0 * math.sqrt(2.0) / hp.lam_sigma_beta), validation.MAX)

    def excess(r: Any) -> np.ndarray:
        return marginal_gain(r, b0, delta_lambda, form) - marginal_loss(r, *hp)

    scan = np.linspace(0.0, scan_end, 4001)[1:]
    values = excess(scan)
    flips = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    found = [brentq(excess, scan[i], scan[i + 1], xtol=1e-14, rtol=1e-14) for i in flips]
    if values[0] <= 0:  # crossing inside the first grid cell (excess(0) = gain at 0 ≥ 0)
        found.insert(0, brentq(excess, 0.0, scan[0], xtol=1e-16, rtol=1e-14))
    crossings = tuple(float(c) for c in found)
    return crossings, crossings[0] if crossings else math.inf
