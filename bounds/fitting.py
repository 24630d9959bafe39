"""Fit the bounds' functional forms to measured curves, as in the paper's §4.

The paper fits Theorem 1's form with Δλ free to behaviour-vs-r_e curves (Figure 4,
Δλ ≈ 0.5–3) and Theorem 2's form with λσβ free to helpfulness curves (Figure 5,
λσβ ≈ 0.33–0.66), optionally with Corollary 2's floor 1/T (App. F.4). Here:

* :func:`fit_behavior_curve` -- Δλ (and B0) in ``tanh(k·Δλ·r_e + artanh B0)``
  (k = 1/2 for eq. 27, ``form="proved"``; k = 1 for eq. 5, ``form="stated"``);
* :func:`fit_helpfulness_curve` -- λσβ and α_eff = α(1 − ε) (or P0) in eq. 6,
  ``P0/(P0 + (1 − P0)·α_eff·(1 + (λσβ)² r_e²/2))``, or with a floor f = 1/T,
  ``(1 − f)·eq. 6 + f`` (Corollary 2, proved form).

Identifiability of eq. 6: it equals ``h0/(1 + c·r_e²)`` with ``h0 = P0/(P0 + (1 − P0)α_eff)``
(the bound at 0) and ``c = (1 − h0)(λσβ)²/2``. So λσβ is always identifiable, but P0
and α_eff only through h0: give one of them (``p0=`` or ``alpha_eff=``). With neither,
α_eff is fixed at 1 (the tight case, H(0) = P0) and P0 = h0 is fitted.

Least squares by :func:`scipy.optimize.curve_fit` (trust-region reflective, with the
parameter bounds Δλ ≥ 0, B0 ∈ (−1, 1), α_eff ∈ [0, 1], λσβ ≥ 0, P0 ∈ (0, 1]) from
several data-driven starts. Standard errors are the square roots of the covariance's
diagonal: scaled by the residual variance when ``sigma`` is None, absolute (``sigma``
are the points' standard deviations) otherwise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from steerbounds.bounds import theorems, validation
from steerbounds.errors import InputError

__all__ = ["BehaviorFit", "HelpfulnessFit", "fit_behavior_curve", "fit_helpfulness_curve"]

_B0_EDGE = 1e-9  # B0 bounds (−1 + edge, 1 − edge): artanh stays finite
_P0_EDGE = 1e-9


@dataclass(frozen=True)
class _Fit:
    """What every fit reports (shared fields)."""

    stderr: dict[str, float]
    covariance: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    rmse: float
    r_squared: float
    n: int
    #: the form's parameters :meth:`as_dict` reports, in order, before the shared fields
    REPORTED: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the fit: :attr:`REPORTED`, then the shared fields
        (arrays and tuples as lists)."""
        names = (*self.REPORTED, *(f.name for f in fields(_Fit)))
        return {name: _plain(getattr(self, name)) for name in names}


def _plain(value: Any) -> Any:
    """``value`` as JSON takes it: an array or tuple as a list, a dict copied."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


@dataclass(frozen=True)
class BehaviorFit(_Fit):
    """Theorem 1's form fitted to a behaviour curve (eq. 27 or eq. 5).

    ``stderr`` has ``delta_lambda`` (and ``b0`` when it was fitted); ``covariance`` is
    over the fitted parameters in that order; ``residuals`` = data − fit.
    """

    REPORTED = ("delta_lambda", "b0", "form", "fit_b0")

    delta_lambda: float = 0.0
    b0: float = 0.0
    form: theorems.Form = "proved"
    fit_b0: bool = True

    def predict(self, r_e: Any) -> np.ndarray:
        """The fitted curve ``tanh(k·Δλ·r_e + artanh B0)`` at ``r_e``."""
        return np.asarray(theorems.behavior_lower_bound(r_e, self.b0, self.delta_lambda, form=self.form))


@dataclass(frozen=True)
class HelpfulnessFit(_Fit):
    """Theorem 2's form (eq. 6), optionally with Corollary 2's floor, fitted to a curve.

    ``fitted`` names the free parameters (the order of ``covariance``); ``h0`` is the
    fitted bound at r_e = 0, ``P0/(P0 + (1 − P0)α_eff)``.
    """

    REPORTED = ("lam_sigma_beta", "alpha_eff", "p0", "h0", "floor", "fitted")

    lam_sigma_beta: float = 0.0
    alpha_eff: float = 1.0
    p0: float = 1.0
    floor: float | None = None
    fitted: tuple[str, ...] = ()

    @property
    def h0(self) -> float:
        """Bound at r_e = 0 without the floor: P0/(P0 + (1 − P0)·α_eff)."""
        return self.p0 / (self.p0 + (1.0 - self.p0) * self.alpha_eff)

    def predict(self, r_e: Any) -> np.ndarray:
        """The fitted curve at ``r_e`` (eq. 6 with α(1 − ε) = α_eff, then the floor)."""
        core = np.asarray(
            theorems.helpfulness_upper_bound(r_e, self.p0, self.alpha_eff, 0.0, self.lam_sigma_beta)
        )
        return core if self.floor is None else (1.0 - self.floor) * core + self.floor


# --------------------------------------------------------------------------- validation


def _curve(
    r_e: Any, values: Any, value_name: str, lo: float, hi: float, n_params: int
) -> tuple[np.ndarray, np.ndarray]:
    x = validation.as_float_array("r_e", r_e)  # the bounds' type rule: no bools, strings, ...
    y = validation.as_float_array(value_name, values)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise InputError(
            f"r_e and {value_name} must be 1-D arrays of the same length; got shapes {x.shape} and {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise InputError("r_e must be finite (no NaN or ±∞)")
    if not np.all(np.isfinite(y)) or np.any(y < lo) or np.any(y > hi):
        raise InputError(f"{value_name} must lie in [{lo:g}, {hi:g}] (no NaN)")
    needed = n_params + 1
    if x.size < needed or np.unique(x).size < n_params:
        raise InputError(
            f"need at least {needed} points at {n_params} distinct r_e values to fit "
            f"{n_params} parameters with a standard error; got {x.size}"
        )
    return x, y


def _sigma(sigma: Any, n: int) -> np.ndarray | None:
    if sigma is None:
        return None
    s = validation.as_float_array("sigma", sigma)
    if s.ndim == 0:
        s = np.full(n, float(s))
    if s.shape != (n,):
        raise InputError(f"sigma must be a scalar or have the data's length {n}; got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("sigma must be positive and finite")
    return s


def _in_interval(name: str, value: Any, lo: float, hi: float, lo_closed: bool, hi_closed: bool) -> float:
    """One number in the interval, by the bounds' validation rule (:func:`validation.real`)."""
    checked = np.asarray(validation.real(name, value, (lo, hi, lo_closed, hi_closed)))
    if checked.ndim != 0:
        raise InputError(f"{name} must be a single number; got an array of shape {checked.shape}")
    return float(checked)


# --------------------------------------------------------------------------- least squares


Model = Callable[..., np.ndarray]


def _least_squares(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    starts: Sequence[tuple[float, ...]],
    lower: np.ndarray,
    upper: np.ndarray,
    sigma: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """curve_fit from each start; keep the lowest weighted cost. Returns (popt, pcov)."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for start in starts:
        p0 = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, pcov = curve_fit(
                    model,
                    x,
                    y,
                    p0=p0,
                    bounds=(lower, upper),
                    sigma=sigma,
                    absolute_sigma=sigma is not None,
                    method="trf",
                    max_nfev=20000,
                )
        except RuntimeError:  # no convergence from this start
            continue
        w = 1.0 if sigma is None else sigma
        cost = float(np.sum(((model(x, *popt) - y) / w) ** 2))
        if best is None or cost < best[0]:
            best = (cost, popt, pcov)
    if best is None:
        raise InputError("the fit did not converge from any starting value; check the data")
    return best[1], best[2]


def _stats(names: tuple[str, ...], pcov: np.ndarray, residuals: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    diag = np.diag(pcov)
    stderr = {
        n: float(np.sqrt(d)) if np.isfinite(d) and d >= 0 else float("inf")
        for n, d in zip(names, diag, strict=True)
    }
    ssr = float(np.sum(residuals**2))
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ssr / sst if sst > 0 else (1.0 if ssr == 0 else 0.0)
    cov = np.where(np.isfinite(pcov), pcov, np.inf)
    return dict(
        stderr=stderr,
        covariance=cov,
        residuals=residuals,
        rmse=math.sqrt(ssr / y.size),
        r_squared=r2,
        n=int(y.size),
    )


# --------------------------------------------------------------------------- behaviour


def fit_behavior_curve(
    r_e: Any,
    behavior: Any,
    *,
    fit_b0: bool = True,
    b0: float | None = None,
    form: Literal["proved", "stated"] = "proved",
    sigma: Any = None,
) -> BehaviorFit:
    """Fit Theorem 1's form to a measured behaviour curve B(r_e) (the paper's Figure 4).

    Model ``B(r_e) = tanh(k·Δλ·r_e + artanh B0)``, k = 1/2 (``form="proved"``, eq. 27)
    or 1 (``form="stated"``, eq. 5): the same curve, with Δλ_stated = Δλ_proved/2.

    Args:
        r_e: coefficients (1-D, finite).
        behavior: measured behaviour expectations in [−1, 1], same length.
        fit_b0: fit B0 too (default); if False, ``b0`` is required and held fixed.
        b0: B0 ∈ (−1, 1); with ``fit_b0=True`` it is only the starting value.
        form: ``"proved"`` (default) or ``"stated"``.
        sigma: standard deviations of the points (scalar or array), or None.

    Raises:
        InputError: mismatched shapes, NaN, values out of range, too few points.
    """
    if form not in ("proved", "stated"):
        raise InputError(f"form must be one of stated, proved; got {form!r}")
    if not fit_b0 and b0 is None:
        raise InputError("b0 is required when fit_b0=False")
    if b0 is not None:
        b0 = _in_interval("b0", b0, -1.0, 1.0, False, False)
    n_params = 2 if fit_b0 else 1
    x, y = _curve(r_e, behavior, "behavior", -1.0, 1.0, n_params)
    s = _sigma(sigma, x.size)
    k = 0.5 if form == "proved" else 1.0

    # Start: linear regression of artanh(B) on r_e (B clipped away from ±1).
    z = np.arctanh(np.clip(y, -0.99, 0.99))
    slope, intercept = np.polyfit(x, z, 1) if np.unique(x).size > 1 else (0.0, float(z.mean()))
    dl0 = max(slope / k, 1e-3)
    z0 = float(np.arctanh(b0)) if b0 is not None else float(intercept)
    b00 = float(np.clip(np.tanh(z0), -0.99, 0.99))
    spread = max(float(np.ptp(x)), 1e-6)
    dl_starts = sorted({dl0, 0.3 * dl0, 3.0 * dl0, 4.0 / (k * spread)})

    starts: list[tuple[float, ...]]
    held: float | None = None  # B0 when it is held fixed
    if fit_b0:

        def free_b0(r: np.ndarray, dl: float, bb: float) -> np.ndarray:
            return np.tanh(k * dl * r + np.arctanh(bb))

        model: Model = free_b0
        starts = [(d, b) for d in dl_starts for b in {b00, 0.0}]
        lower, upper = np.array([0.0, -1.0 + _B0_EDGE]), np.array([np.inf, 1.0 - _B0_EDGE])
        names: tuple[str, ...] = ("delta_lambda", "b0")
    else:
        assert b0 is not None  # fit_b0=False requires b0 (checked above)
        held = b0
        fixed = float(np.arctanh(held))

        def held_b0(r: np.ndarray, dl: float) -> np.ndarray:
            return np.tanh(k * dl * r + fixed)

        model = held_b0
        starts = [(d,) for d in dl_starts]
        lower, upper = np.array([0.0]), np.array([np.inf])
        names = ("delta_lambda",)
    popt, pcov = _least_squares(model, x, y, starts, lower, upper, s)
    residuals = y - model(x, *popt)
    return BehaviorFit(
        delta_lambda=float(popt[0]),
        b0=float(popt[1]) if held is None else held,
        form=form,
        fit_b0=fit_b0,
        **_stats(names, pcov, residuals, y),
    )


# --------------------------------------------------------------------------- helpfulness


def fit_helpfulness_curve(
    r_e: Any,
    helpfulness: Any,
    *,
    p0: float | None = None,
    alpha_eff: float | None = None,
    floor: float | None = None,
    sigma: Any = None,
) -> HelpfulnessFit:
    """Fit Theorem 2's form (eq. 6) to a measured helpfulness curve (the paper's Figure 5).

    Model ``H(r_e) = (1 − f)·P0/(P0 + (1 − P0)·α_eff·(1 + (λσβ)² r_e²/2)) + f`` with
    α_eff = α(1 − ε) and f = ``floor`` (Corollary 2: f = 1/T for T answer choices;
    None or 0 for eq. 6 alone). Free: λσβ ≥ 0 always, and α_eff ∈ [0, 1] unless given,
    P0 ∈ (0, 1] unless given. P0 and α_eff are not both identifiable (see the module
    docstring): with neither given, α_eff is fixed at 1.

    Args:
        r_e: coefficients (1-D, finite).
        helpfulness: measured helpfulness in [0, 1], same length.
        p0: P0 ∈ (0, 1) to hold fixed (e.g. the measured value at r_e = 0).
        alpha_eff: α(1 − ε) ∈ (0, 1] to hold fixed (only when ``p0`` is None).
        floor: f ∈ [0, 1), Corollary 2's asymptote 1/T.
        sigma: standard deviations of the points (scalar or array), or None.

    Raises:
        InputError: mismatched shapes, NaN, values out of range, too few points, both
            ``p0`` and ``alpha_eff`` given, or the data not above the floor.
    """
    if p0 is not None and alpha_eff is not None:
        raise InputError("give at most one of p0 and alpha_eff (eq. 6 then has nothing left to split h0)")
    if p0 is not None:
        p0 = _in_interval("p0", p0, 0.0, 1.0, False, False)
    if alpha_eff is not None:
        alpha_eff = _in_interval("alpha_eff", alpha_eff, 0.0, 1.0, False, True)
    f = 0.0 if floor is None else _in_interval("floor", floor, 0.0, 1.0, True, False)
    x, y = _curve(r_e, helpfulness, "helpfulness", 0.0, 1.0, 2)
    s = _sigma(sigma, x.size)

    # Start: (H − f)/(1 − f) = h0/(1 + c r²)  =>  (1 − f)/(H − f) = 1/h0 + (c/h0)·r², linear in r².
    g = np.clip((y - f) / (1.0 - f), 1e-6, 1.0)
    inv = 1.0 / g
    slope, intercept = np.polyfit(x**2, inv, 1) if np.unique(x**2).size > 1 else (0.0, float(inv.mean()))
    h0 = float(np.clip(1.0 / intercept if intercept > 0 else g.max(), 1e-3, 1.0 - 1e-3))
    c = max(slope * h0, 1e-6)
    lsb0 = math.sqrt(2.0 * c / (1.0 - h0))

    def core(r: np.ndarray, p: float, a: float, lsb: float) -> np.ndarray:
        return (1.0 - f) * p / (p + (1.0 - p) * a * (1.0 + 0.5 * (lsb * r) ** 2)) + f

    lsb_starts = (lsb0, 0.3 * lsb0, 3.0 * lsb0)
    starts: list[tuple[float, ...]]
    if p0 is not None:
        fixed_p0 = p0

        def held_p0(r: np.ndarray, lsb: float, a: float) -> np.ndarray:
            return core(r, fixed_p0, a, lsb)

        model: Model = held_p0
        a0 = float(np.clip(fixed_p0 * (1.0 / h0 - 1.0) / (1.0 - fixed_p0), 1e-3, 1.0))
        starts = [(start, a) for start in lsb_starts for a in {a0, 0.5}]
        lower, upper = np.array([0.0, 0.0]), np.array([np.inf, 1.0])
        names: tuple[str, ...] = ("lam_sigma_beta", "alpha_eff")
    else:
        fixed_a = 1.0 if alpha_eff is None else alpha_eff

        def held_alpha(r: np.ndarray, lsb: float, p: float) -> np.ndarray:
            return core(r, p, fixed_a, lsb)

        model = held_alpha
        p00 = float(np.clip(h0 * fixed_a / (1.0 - h0 + h0 * fixed_a), 1e-3, 1.0))
        starts = [(start, p00) for start in lsb_starts]
        lower, upper = np.array([0.0, _P0_EDGE]), np.array([np.inf, 1.0])
        names = ("lam_sigma_beta", "p0")
    popt, pcov = _least_squares(model, x, y, starts, lower, upper, s)
    residuals = y - model(x, *popt)
    lsb = float(popt[0])
    if p0 is not None:
        a_fit, p_fit = float(popt[1]), p0
    else:
        a_fit, p_fit = (1.0 if alpha_eff is None else alpha_eff), float(popt[1])
    return HelpfulnessFit(
        lam_sigma_beta=lsb,
        alpha_eff=a_fit,
        p0=p_fit,
        floor=floor,
        fitted=names,
        **_stats(names, pcov, residuals, y),
    )
