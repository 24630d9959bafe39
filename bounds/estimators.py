"""Estimators of the paper's parameters from measured arrays (numpy in, numpy out).

Shared by the simulator (planted instances) and the empirical side (arrays
measured on real models). Symbols follow Wolf et al. (arXiv 2401.16332):

* λ      -- |δr| = λ|r_e| (Assumption 1, eq. 7), measured as in App. A.3;
* σ      -- std of ``X_i = ⟨δr/|δr|, Uᵀe_i⟩`` over the top-T tokens (Assumption 3, eq. 9);
* β      -- ``min(|c'−|, c'+)`` of the proof of Theorem 2 (App. C, eq. 37), or its
  half-normal estimate (App. A.3: λσβ ≈ sqrt(2/π)·λσ);
* P0, P±, c±, α, ε -- the realised quantities of the proof of Theorem 2 (eqs. 32-38);
* Δλ     -- margin times λ (Assumption 2, eq. 8; App. A.3 eqs. 10-11).

Array conventions: a *row* is one measurement (one query at one coefficient);
``r_e`` has one entry per row; ``delta_r`` is ``(rows, d)`` (or ``(rows, V)`` logit
changes ``U δr`` when ``U`` is None); ``U`` is the ``(V, d)`` unembedding.
Every function validates its input and raises :class:`~steerbounds.errors.InputError`
naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from steerbounds.errors import InputError

__all__ = [
    "AlphaEstimate",
    "DeltaLambdaEstimate",
    "LambdaEstimate",
    "SigmaEstimate",
    "SlopeFit",
    "Theorem2Parameters",
    "estimate_alpha",
    "estimate_delta_lambda",
    "estimate_lambda",
    "estimate_sigma",
    "fit_slope",
    "logit_noise_projections",
    "realised_theorem2_parameters",
    "theorem2_parameters_kernel",
]

HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)
"""Mean of |Z| for Z ~ N(0, 1): App. A.3's λσβ ≈ 0.8·λσ."""


# --------------------------------------------------------------------------- validation


def _array(name: str, value: ArrayLike, *, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an array of real numbers; got {type(value).__name__}") from exc
    if ndim is not None and arr.ndim not in ndim:
        raise InputError(f"{name} must have ndim in {ndim}; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite (no NaN or inf)")
    return arr


def _ids(name: str, value: ArrayLike, vocab: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr.astype(float))) or np.any(arr != np.round(arr)):
            raise InputError(f"{name} must hold integer token ids in [0, {vocab - 1}]")
        arr = arr.astype(np.int64)
    arr = arr.astype(np.int64)
    if np.any(arr < 0) or np.any(arr >= vocab):
        raise InputError(f"{name} must hold integer token ids in [0, {vocab - 1}]")
    return arr


def _logit_change(delta_r: ArrayLike, U: ArrayLike | None) -> np.ndarray:
    """``U δr`` per row: ``(rows, V)``. With U None, delta_r already is ``U δr``."""
    dr = _array("delta_r", delta_r, ndim=(1, 2))
    if dr.ndim == 1:
        dr = dr[None, :]
    if U is None:
        return dr
    u = _array("U", U, ndim=(2,))
    if u.shape[1] != dr.shape[1]:
        raise InputError(f"U must be (V, d) with d = delta_r.shape[-1] = {dr.shape[1]}; got shape {u.shape}")
    return dr @ u.T


def _r_e(r_e: ArrayLike, rows: int) -> np.ndarray:
    r = _array("r_e", r_e, ndim=(0, 1))
    r = np.broadcast_to(r, (rows,)) if r.ndim == 0 else r
    if r.shape[0] != rows:
        raise InputError(f"r_e must have one entry per row ({rows}); got {r.shape[0]}")
    return r


# --------------------------------------------------------------------------- slopes


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares line ``y ≈ slope·x (+ intercept)``.

    ``stderr`` is the standard error of the slope; ``r2`` is ``1 − SS_res/SS_tot``
    with SS_tot centred on the mean of y (so it can be negative through the origin);
    ``n`` is the number of points used.
    """

    slope: float
    stderr: float
    intercept: float
    r2: float
    n: int


def fit_slope(
    x: ArrayLike, y: ArrayLike, *, through_origin: bool = True, max_abs_x: float | None = None
) -> SlopeFit:
    """Ordinary least squares of y on x (the slopes of App. A.3, figs. 6-12).

    Args:
        x, y: 1-D arrays of equal length (finite).
        through_origin: fit ``y = slope·x`` (default; eq. 7 has no intercept) or
            ``y = slope·x + intercept``.
        max_abs_x: keep only points with ``|x| ≤ max_abs_x`` (the linear regime of
            Assumption 1, "for small coefficients"); None keeps all.
    """
    xs = _array("x", x, ndim=(1,))
    ys = _array("y", y, ndim=(1,))
    if xs.shape != ys.shape:
        raise InputError(f"x and y must have the same length; got {xs.shape[0]} and {ys.shape[0]}")
    if max_abs_x is not None:
        if not (isinstance(max_abs_x, (int, float)) and math.isfinite(max_abs_x) and max_abs_x > 0):
            raise InputError(f"max_abs_x must be a finite number > 0 or None; got {max_abs_x!r}")
        keep = np.abs(xs) <= max_abs_x
        xs, ys = xs[keep], ys[keep]
    n = int(xs.shape[0])
    need = 2 if through_origin else 3
    if n < need:
        raise InputError(f"x must have at least {need} points (after max_abs_x); got {n}")
    if through_origin:
        sxx = float(np.dot(xs, xs))
        if sxx == 0.0:
            raise InputError("x must not be all zero for a fit through the origin")
        slope = float(np.dot(xs, ys)) / sxx
        intercept = 0.0
        resid = ys - slope * xs
        dof = n - 1
        stderr = math.sqrt(float(np.dot(resid, resid)) / dof / sxx)
    else:
        xm, ym = float(xs.mean()), float(ys.mean())
        sxx = float(np.dot(xs - xm, xs - xm))
        if sxx == 0.0:
            raise InputError("x must take at least two distinct values")
        slope = float(np.dot(xs - xm, ys - ym)) / sxx
        intercept = ym - slope * xm
        resid = ys - slope * xs - intercept
        dof = n - 2
        stderr = math.sqrt(float(np.dot(resid, resid)) / dof / sxx)
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    ss_res = float(np.dot(resid, resid))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    return SlopeFit(slope=slope, stderr=stderr, intercept=intercept, r2=r2, n=n)


# --------------------------------------------------------------------------- λ


@dataclass(frozen=True)
class LambdaEstimate:
    """λ of Assumption 1 (eq. 7): slope of |δr| vs |r_e|; and of |U δr| vs |r_e| (App. A.3)."""

    lam: SlopeFit | None
    lam_logits: SlopeFit | None


def estimate_lambda(
    r_e: ArrayLike, delta_r: ArrayLike, U: ArrayLike | None = None, *, max_abs_x: float | None = None
) -> LambdaEstimate:
    """λ from measured final-layer changes (eq. 7; App. A.3, figs. 6-8).

    Args:
        r_e: coefficients, one per row of ``delta_r``.
        delta_r: ``(rows, d)`` changes ``δr = r^{(L)}(q, r_e) − r^{(L)}(q, 0)``.
        U: optional ``(V, d)`` unembedding; when given, the slope of ``|U δr|`` (what
            the paper plots) is fitted too.
        max_abs_x: restrict to the linear regime ``|r_e| ≤ max_abs_x``.

    Returns:
        ``lam`` = slope of |δr| vs |r_e| through the origin; ``lam_logits`` = slope of
        |U δr| vs |r_e| (None without U).
    """
    dr = _array("delta_r", delta_r, ndim=(1, 2))
    dr = dr[None, :] if dr.ndim == 1 else dr
    r = _r_e(r_e, dr.shape[0])
    lam = fit_slope(np.abs(r), np.linalg.norm(dr, axis=1), max_abs_x=max_abs_x)
    lam_logits = None
    if U is not None:
        lam_logits = fit_slope(np.abs(r), np.linalg.norm(_logit_change(dr, U), axis=1), max_abs_x=max_abs_x)
    return LambdaEstimate(lam=lam, lam_logits=lam_logits)


# --------------------------------------------------------------------------- σ, β


def logit_noise_projections(
    delta_r: ArrayLike, U: ArrayLike | None, top_ids: ArrayLike, correct_ids: ArrayLike
) -> np.ndarray:
    """``⟨δr, Uᵀ(e_i − e_correct)⟩`` for the top-T tokens i (App. A.3, figs. 9-10).

    Args:
        delta_r: ``(rows, d)`` final-layer changes, or ``(rows, V)`` logit changes
            ``U δr`` when ``U`` is None.
        U: ``(V, d)`` unembedding, or None.
        top_ids: ``(T,)`` or ``(rows, T)`` token ids (the top-T tokens without steering).
        correct_ids: scalar or ``(rows,)`` id of the correct token.

    Returns:
        ``(rows, T')`` differences of logit changes. The correct token's own entry
        (identically 0) is dropped when it is among ``top_ids`` in every row
        (T' = T − 1); if it is in some rows only, InputError.
    """
    logits = _logit_change(delta_r, U)
    rows, vocab = logits.shape
    top = _ids("top_ids", top_ids, vocab)
    if top.ndim not in (1, 2):
        raise InputError(f"top_ids must be (T,) or (rows, T); got shape {top.shape}")
    top = np.broadcast_to(top, (rows, top.shape[-1])) if top.ndim == 1 else top
    if top.shape[0] != rows:
        raise InputError(f"top_ids must have one row per row of delta_r ({rows}); got {top.shape[0]}")
    correct = _ids("correct_ids", correct_ids, vocab)
    correct = np.broadcast_to(correct, (rows,)) if correct.ndim == 0 else correct
    if correct.shape != (rows,):
        raise InputError(
            f"correct_ids must be a scalar or have one entry per row ({rows}); got {correct.shape}"
        )
    diff = np.take_along_axis(logits, top, axis=1) - logits[np.arange(rows), correct][:, None]
    is_correct = top == correct[:, None]
    present = is_correct.any(axis=1)
    if present.all():
        if np.any(is_correct.sum(axis=1) != 1):
            raise InputError("top_ids must list each token at most once")
        return diff[~is_correct].reshape(rows, top.shape[1] - 1)
    if present.any():
        raise InputError("top_ids must contain the correct token in every row or in none")
    return diff


@dataclass(frozen=True)
class SigmaEstimate:
    """σ-related slopes of App. A.3 (figs. 9-10) and the proof's β (App. C, eq. 37).

    * ``lam_sigma`` -- slope of the within-row std of ``⟨δr, Uᵀ(e_i − e_c)⟩`` vs |r_e|;
      subtracting X_c shifts a row without changing its spread, so this is λσ of
      eq. 9 (the std of X_i times |δr| = λ|r_e|);
    * ``lam_sigma_pooled`` -- slope of the std pooled over all rows at one |r_e| (the
      paper's figs. 9c-d aggregate over questions): ≈ sqrt(2)·λσ for independent X_c;
    * ``sigma`` -- λσ/λ when λ is given;
    * ``lam_sigma_beta_half_normal`` -- App. A.3's estimate sqrt(2/π)·(pooled slope)
      ("the mean of a half-normal distribution with parameter λσ");
    * ``lam_sigma_beta_mean_abs`` -- slope of the mean |difference| vs |r_e| (the
      half-normal mean measured rather than assumed);
    * ``lam_sigma_beta_proof`` -- slope of ``min(|c−|, c+)`` (P-weighted means over
      I∓, eq. 32) vs |r_e|: λ·σβ with β = min(|c'−|, c'+) as the proof defines it;
    * ``beta_half_normal``/``beta_proof`` -- those divided by ``lam_sigma``; the proof's
      two are None when no steered row has differences of both signs (I+ or I− empty
      everywhere: β is undefined there, while every other quantity still is);
    * normality of the standardised differences: skewness, excess kurtosis,
      D'Agostino-Pearson and Kolmogorov-Smirnov p-values (H0: normal).
    """

    lam_sigma: SlopeFit
    lam_sigma_pooled: SlopeFit
    sigma: float | None
    lam_sigma_beta_half_normal: float
    lam_sigma_beta_mean_abs: SlopeFit
    lam_sigma_beta_proof: SlopeFit | None
    beta_half_normal: float
    beta_proof: float | None
    skewness: float
    excess_kurtosis: float
    normaltest_pvalue: float
    ks_pvalue: float
    n_values: int


def _group_rms(abs_r: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct |r_e|: sqrt of the mean of ``values`` (unbiased variances pooled)."""
    keys, inverse = np.unique(abs_r, return_inverse=True)
    sums = np.bincount(inverse, weights=values)
    counts = np.bincount(inverse)
    return keys, np.sqrt(sums / counts)


def estimate_sigma(
    r_e: ArrayLike,
    projections: ArrayLike,
    *,
    lam: float | None = None,
    weights: ArrayLike | None = None,
    max_abs_x: float | None = None,
) -> SigmaEstimate:
    """λσ, σ and β from logit-noise projections (App. A.3; App. C eqs. 32-37).

    Args:
        r_e: coefficients, one per row.
        projections: ``(rows, T')`` values ``⟨δr, Uᵀ(e_i − e_correct)⟩`` from
            :func:`logit_noise_projections` (T' ≥ 2).
        lam: λ (from :func:`estimate_lambda`) to turn λσ into σ; None leaves σ unset.
        weights: optional ``(rows, T')`` or ``(T',)`` unsteered probabilities P_i^0
            of the same tokens, weighting c± as in eq. 32 (uniform when None).
        max_abs_x: restrict to ``|r_e| ≤ max_abs_x``.

    Rows with r_e = 0 carry no spread and are used only in the slope fits.
    """
    proj = _array("projections", projections, ndim=(2,))
    rows, t = proj.shape
    if t < 2:
        raise InputError(f"projections must have at least 2 tokens per row; got {t}")
    r = np.abs(_r_e(r_e, rows))
    if lam is not None and not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam > 0):
        raise InputError(f"lam must be a finite number > 0 or None; got {lam!r}")
    if weights is None:
        w = np.ones_like(proj)
    else:
        w = np.broadcast_to(_array("weights", weights, ndim=(1, 2)), proj.shape)
        if np.any(w < 0):
            raise InputError("weights must be ≥ 0 (probabilities P_i^0)")
    if max_abs_x is not None:
        keep = r <= max_abs_x
        proj, r, w = proj[keep], r[keep], w[keep]
        rows = proj.shape[0]

    # within-row spread (X_c cancels): pooled per |r_e| as an RMS of unbiased variances
    keys, within = _group_rms(r, proj.var(axis=1, ddof=1))
    if keys.size < 2:
        raise InputError("r_e must take at least two distinct |values|")
    lam_sigma = fit_slope(keys, within)
    # pooled over rows (the paper's aggregation)
    pooled = np.array([proj[r == k].std(ddof=1) if proj[r == k].size > 1 else 0.0 for k in keys])
    lam_sigma_pooled = fit_slope(keys, pooled)
    mean_abs = np.array([np.abs(proj[r == k]).mean() for k in keys])
    lam_sigma_beta_mean_abs = fit_slope(keys, mean_abs)

    # the proof's c± (eq. 32): P-weighted means of the positive / negative differences
    pos, neg = proj > 0, proj < 0
    wp, wn = np.where(pos, w, 0.0), np.where(neg, w, 0.0)
    sp, sn = wp.sum(axis=1), wn.sum(axis=1)
    c_plus = np.where(sp > 0, (wp * proj).sum(axis=1) / np.where(sp > 0, sp, 1.0), 0.0)
    c_minus = np.where(sn > 0, (wn * proj).sum(axis=1) / np.where(sn > 0, sn, 1.0), 0.0)
    both = (sp > 0) & (sn > 0)
    zero = r == 0
    use = both | zero
    kappa = np.minimum(np.abs(c_minus), c_plus)
    two_sided = np.count_nonzero(use & ~zero) >= 1
    lam_sigma_beta_proof = fit_slope(r[use], kappa[use]) if two_sided else None

    # normality of the standardised differences (per row, X_c removed)
    # centred within its row, X_i − mean_row has variance σ²|δr|²(1 − 1/T'); scale by the
    # fitted λσ|r_e| so that under normality z ~ N(0, 1) exactly
    nz = ~zero
    centred = proj[nz] - proj[nz].mean(axis=1, keepdims=True)
    scale = lam_sigma.slope * r[nz][:, None] * math.sqrt(1.0 - 1.0 / t)
    z = (centred / np.where(scale > 0, scale, 1.0)).ravel()
    skew = float(stats.skew(z))
    kurt = float(stats.kurtosis(z))
    normal_p = float(stats.normaltest(z).pvalue) if z.size >= 20 else float("nan")
    ks_p = float(stats.kstest(z, "norm").pvalue)

    ls = lam_sigma.slope
    return SigmaEstimate(
        lam_sigma=lam_sigma,
        lam_sigma_pooled=lam_sigma_pooled,
        sigma=None if lam is None else ls / lam,
        lam_sigma_beta_half_normal=HALF_NORMAL_MEAN * lam_sigma_pooled.slope,
        lam_sigma_beta_mean_abs=lam_sigma_beta_mean_abs,
        lam_sigma_beta_proof=lam_sigma_beta_proof,
        beta_half_normal=HALF_NORMAL_MEAN * lam_sigma_pooled.slope / ls if ls > 0 else float("inf"),
        beta_proof=(
            None
            if lam_sigma_beta_proof is None
            else (lam_sigma_beta_proof.slope / ls if ls > 0 else float("inf"))
        ),
        skewness=skew,
        excess_kurtosis=kurt,
        normaltest_pvalue=normal_p,
        ks_pvalue=ks_p,
        n_values=int(z.size),
    )


# --------------------------------------------------------------------------- Theorem 2 realised


class Theorem2Parameters(NamedTuple):
    """Realised quantities of the proof of Theorem 2 (App. C, eqs. 32-38).

    Every field is an array over the leading (query or instance) axes. The one
    definition for the empirical side (:func:`realised_theorem2_parameters`, per query)
    and the simulator (:func:`steerbounds.simulate.realised.helpfulness_parameters`,
    batched over instances); both compute it with :func:`theorem2_parameters_kernel`.

    * ``p0`` -- P0 = P_correct^0;
    * ``p_plus``/``p_minus`` -- P± = Σ_{I±} P_i^0, I± = the incorrect top-T tokens with
      ±(X_i − X_correct) > 0 (eq. 32);
    * ``c_plus``/``c_minus`` -- P-weighted means of X_i − X_correct over I± (eq. 33; 0
      if the set is empty);
    * ``eps`` -- ε of the proof's normalisation P+ + P− = (1 − ε)(1 − P0) (eq. 38), with
      the guard of :func:`theorem2_parameters_kernel`;
    * ``alpha_one_minus_eps`` -- α(1 − ε) = min(P+, P−)/(1 − P0) (eq. 37 → 38);
    * ``alpha`` -- α = min(P+, P−)/(P+ + P−) (0 when both sets are empty);
    * ``sigma_beta`` -- σβ = min(|c−|, c+) on the direction used (eq. 37), 0 unless both
      sets are non-empty; λσβ = λ·sigma_beta;
    * ``both_nonempty`` -- I+ and I− both non-empty (probability 1 − 2/T, App. C).
    """

    p0: np.ndarray
    p_plus: np.ndarray
    p_minus: np.ndarray
    c_plus: np.ndarray
    c_minus: np.ndarray
    eps: np.ndarray
    alpha_one_minus_eps: np.ndarray
    alpha: np.ndarray
    sigma_beta: np.ndarray
    both_nonempty: np.ndarray


def theorem2_parameters_kernel(xp: ModuleType, p0: Any, p: Any, d: Any, incorrect: Any) -> Theorem2Parameters:
    """Eqs. 32-38 on arrays of either module: ``xp`` is ``numpy`` or ``jax.numpy``.

    Args:
        xp: the array module (``numpy``, or ``jax.numpy`` inside a trace; float64).
        p0: ``(...)`` P0, the unsteered probability of the correct token.
        p: ``(..., K)`` unsteered probabilities P_i^0 of K candidate tokens.
        d: ``(..., K)`` differences X_i − X_correct on the normalised direction used.
        incorrect: ``(..., K)`` bool, the candidates in incorrect(ε) (the top-T tokens
            other than the correct one); the others are ignored.

    The ε guard (eq. 38): ε = 1 − (P+ + P−)/(1 − P0), clipped to [0, 1] against
    round-off (I± ⊆ incorrect(ε), so P+ + P− ≤ 1 − P0 exactly). Where the normalisation
    is degenerate -- I+ and I− both empty (P+ + P− = 0, where it would give ε = 1,
    outside the theorem's ε ∈ [0, 1)) or no incorrect mass (1 − P0 = 0, P0 rounded to
    1) -- the bound's factor (1 − P0)·α(1 − ε) = min(P+, P−) (eq. 37 → 38) does not
    depend on ε, so ε = 0 is returned (and α = 0 when both sets are empty): eq. 38 keeps
    its value and (α, ε) stay valid inputs of the public bounds. ``alpha_one_minus_eps``
    is 0 when 1 − P0 = 0.
    """
    plus, minus = incorrect & (d > 0), incorrect & (d < 0)
    p_plus = xp.sum(xp.where(plus, p, 0.0), axis=-1)
    p_minus = xp.sum(xp.where(minus, p, 0.0), axis=-1)
    c_plus = xp.sum(xp.where(plus, p * d, 0.0), axis=-1) / xp.where(p_plus > 0, p_plus, 1.0)
    c_minus = xp.sum(xp.where(minus, p * d, 0.0), axis=-1) / xp.where(p_minus > 0, p_minus, 1.0)
    both = (p_plus > 0) & (p_minus > 0)
    m = xp.minimum(p_plus, p_minus)
    total = p_plus + p_minus
    rest = 1.0 - p0  # 1 − P0
    safe_rest = xp.where(rest > 0, rest, 1.0)
    eps = xp.where((total > 0) & (rest > 0), xp.clip(1.0 - total / safe_rest, 0.0, 1.0), 0.0)
    return Theorem2Parameters(
        p0=p0,
        p_plus=p_plus,
        p_minus=p_minus,
        c_plus=c_plus,
        c_minus=c_minus,
        eps=eps,
        alpha_one_minus_eps=xp.where(rest > 0, m / safe_rest, 0.0),
        alpha=xp.where(total > 0, m / xp.where(total > 0, total, 1.0), 0.0),
        sigma_beta=xp.where(both, xp.minimum(xp.abs(c_minus), c_plus), 0.0),
        both_nonempty=both,
    )


def realised_theorem2_parameters(
    p0_probs: ArrayLike, correct_id: ArrayLike, X: ArrayLike, top_ids: ArrayLike
) -> Theorem2Parameters:
    """P0, P±, c±, α, ε and σβ of the proof of Theorem 2 (eqs. 32-38), per query.

    Args:
        p0_probs: ``(..., V)`` unsteered next-token probabilities P_i^0.
        correct_id: id of the correct token; scalar or ``(...)``.
        X: ``(..., V)`` projections ``X_i = ⟨δr/|δr|, Uᵀe_i⟩`` on the *normalised*
            direction actually used (for r_e < 0 pass −X). Any positive rescaling of X
            leaves P±, α, ε unchanged and rescales c±, σβ.
        top_ids: ``(T,)`` or ``(..., T)`` the top-T tokens holding 1 − ε of the mass;
            the correct token may or may not be among them (it never enters I±).

    Returns:
        :class:`Theorem2Parameters` (numpy) from :func:`theorem2_parameters_kernel`;
        ``λσβ = λ·sigma_beta`` (eq. 36 → 38).
    """
    p = _array("p0_probs", p0_probs)
    x = _array("X", X)
    if p.ndim < 1 or p.shape != x.shape:
        raise InputError(f"p0_probs and X must have the same shape (..., V); got {p.shape} and {x.shape}")
    if np.any(p < 0) or np.any(p > 1):
        raise InputError("p0_probs must be probabilities in [0, 1]")
    vocab = p.shape[-1]
    lead = p.shape[:-1]
    correct = np.broadcast_to(_ids("correct_id", correct_id, vocab), lead)
    top = _ids("top_ids", top_ids, vocab)
    top = np.broadcast_to(top, (*lead, top.shape[-1]))
    p0 = np.take_along_axis(p, correct[..., None], axis=-1)[..., 0]
    if np.any(p0 >= 1.0):
        raise InputError("p0_probs: P0 of the correct token must be < 1 (no incorrect mass to move)")
    d = np.take_along_axis(x, top, axis=-1) - np.take_along_axis(x, correct[..., None], axis=-1)
    pt = np.take_along_axis(p, top, axis=-1)
    return theorem2_parameters_kernel(np, p0, pt, d, top != correct[..., None])


@dataclass(frozen=True)
class AlphaEstimate:
    """α and ε of Theorem 2 over a set of queries (eq. 38), with per-query values."""

    alpha: np.ndarray
    eps: np.ndarray
    alpha_one_minus_eps: np.ndarray
    mean_alpha: float
    mean_alpha_one_minus_eps: float
    fraction_both_nonempty: float


def estimate_alpha(
    p0_probs: ArrayLike, correct_ids: ArrayLike, top_ids: ArrayLike, logit_change: ArrayLike
) -> AlphaEstimate:
    """α, ε and α(1 − ε) of Theorem 2 from measured logit changes (eq. 38).

    I± depend only on the signs of ``X_i − X_correct``, so the logit change
    ``U δr = |δr|·X`` (any coefficient r_e > 0) suffices: no λ is needed.

    Args:
        p0_probs: ``(queries, V)`` unsteered probabilities.
        correct_ids: ``(queries,)`` correct token ids.
        top_ids: ``(T,)`` or ``(queries, T)`` top-T token ids.
        logit_change: ``(queries, V)`` steered minus unsteered logits at a coefficient
            r_e > 0 (the direction δr/|δr| the bound is about).
    """
    params = realised_theorem2_parameters(p0_probs, correct_ids, logit_change, top_ids)
    return AlphaEstimate(
        alpha=params.alpha,
        eps=params.eps,
        alpha_one_minus_eps=params.alpha_one_minus_eps,
        mean_alpha=float(np.mean(params.alpha)),
        mean_alpha_one_minus_eps=float(np.mean(params.alpha_one_minus_eps)),
        fraction_both_nonempty=float(np.mean(params.both_nonempty)),
    )


# --------------------------------------------------------------------------- Δλ


@dataclass(frozen=True)
class DeltaLambdaEstimate:
    """Δλ from the separation of good and bad answers (App. A.3, eqs. 10-11).

    * ``hard_margin`` -- slope vs r_e of ``min_good ⟨δr, Uᵀe⟩ − max_bad ⟨δr, Uᵀe⟩``
      (Assumption 2's min, eq. 8 times |δr| = λ r_e);
    * ``hard_margin_lower`` -- largest s with margin ≥ s·r_e at every r_e > 0 (the
      "lower bounding line" of eq. 11);
    * ``mean_separation`` / ``mean_separation_lower`` -- the same with the cluster
      means instead of min/max (the paper's figs. 11-12);
    * ``separates`` -- the hard margin is > 0 at every r_e > 0.
    """

    hard_margin: SlopeFit
    hard_margin_lower: float
    mean_separation: SlopeFit
    mean_separation_lower: float
    separates: bool


def estimate_delta_lambda(
    r_e: ArrayLike,
    delta_r: ArrayLike,
    U: ArrayLike | None,
    good_ids: ArrayLike,
    bad_ids: ArrayLike,
    *,
    max_abs_x: float | None = None,
) -> DeltaLambdaEstimate:
    """Δλ as slopes vs r_e of the hard margin and of the cluster separation (eqs. 8, 10-11).

    Args:
        r_e: coefficients (rows with r_e > 0 are used; the steering direction is the
            one that should favour the good answers).
        delta_r: ``(rows, d)`` changes δr, or ``(rows, V)`` logit changes when U is None.
        U: ``(V, d)`` unembedding or None.
        good_ids, bad_ids: token ids of aligned / misaligned answers (1-D, disjoint).
        max_abs_x: restrict to ``r_e ≤ max_abs_x``.
    """
    logits = _logit_change(delta_r, U)
    rows, vocab = logits.shape
    r = _r_e(r_e, rows)
    good = _ids("good_ids", good_ids, vocab).ravel()
    bad = _ids("bad_ids", bad_ids, vocab).ravel()
    if good.size == 0 or bad.size == 0:
        raise InputError("good_ids and bad_ids must each name at least one token")
    if np.intersect1d(good, bad).size:
        raise InputError("good_ids and bad_ids must be disjoint")
    keep = r > 0
    if max_abs_x is not None:
        keep &= r <= max_abs_x
    if np.count_nonzero(keep) < 2:
        raise InputError("r_e must have at least two positive coefficients (after max_abs_x)")
    lg, lb = logits[keep][:, good], logits[keep][:, bad]
    rk = r[keep]
    hard = lg.min(axis=1) - lb.max(axis=1)
    mean = lg.mean(axis=1) - lb.mean(axis=1)
    return DeltaLambdaEstimate(
        hard_margin=fit_slope(rk, hard),
        hard_margin_lower=float(np.min(hard / rk)),
        mean_separation=fit_slope(rk, mean),
        mean_separation_lower=float(np.min(mean / rk)),
        separates=bool(np.all(hard > 0)),
    )
