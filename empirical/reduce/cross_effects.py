"""The reduction of a tradeoff matrix: tidy rows → curves, slopes at 0, contrasts, efficient regimes.

Input: the tidy table of :mod:`steerbounds.empirical.tradeoff_matrix`, one row per
(vector v, measure m, coefficient r_e, query) with columns ``vector, measure, kind,
r_e, r_max, id, value`` (``kind``: ``next_token`` = B of eq. 3, ``judged`` = the judge's
score of a generated response (App. F.3), ``p_correct`` = P(correct) of eq. 4), and the
forward-mode table ``vector, measure, id, slope`` (d value/d r_e at 0, exact).
Every interval is a 95 % percentile bootstrap over the queries of the measure
(:func:`~steerbounds.empirical.calibrate.bootstrap_mean`), resampling whole queries so
the rows of one query stay paired across coefficients.

* :func:`curves` — the mean of each measure per coefficient, with its interval.
* :func:`slopes` — the first-order cross-effect dM/dr_e at r_e = 0: per query the
  least-squares slope on the coefficients with |r_e| ≤ the smallest non-zero |r_e| of
  the grid on either side (three points −a, 0, +a for a symmetric grid: the central
  difference), averaged over the queries; also per r_max (the slope times the vector's
  r_max, the change of M over one unit of the model's scale,
  :mod:`~steerbounds.empirical.sweep.scale`) and, for the next-token measures and the
  tasks, the exact forward-mode slope at 0 for comparison.
* :func:`contrasts` — M(r_e) − M(0) at every r_e ≠ 0, paired per query.
* :func:`efficient_regimes` — the planner (:func:`~steerbounds.bounds.planner.plan_tradeoff`)
  for vector v against measure m: Theorem 1 (eq. 27) fitted to v's own next-token B
  on r_e ≥ 0, Theorem 2 (eq. 6) fitted to m in the role of helpfulness: a task's
  P(correct), or another behaviour's *aligned probability* (1 + s·B)/2 = the share of
  its aligned answer starts (s = +1 for honesty/harmless/not_racist, −1 for
  harmful/racist). The efficient regime is 0 ≤ r_e ≤ r_eff, where the marginal gain
  of B_lb exceeds the marginal loss of H_ub; ``beyond_grid`` marks an r_eff past the
  largest measured coefficient (the fitted bounds extrapolated).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from steerbounds.bounds.planner import plan_tradeoff
from steerbounds.empirical.calibrate import bootstrap_mean
from steerbounds.empirical.reduce.summary import per_coefficient, theorem1_fit, theorem2_fit
from steerbounds.errors import InputError

TIDY_COLUMNS = ("vector", "measure", "kind", "r_e", "r_max", "id", "value")
JVP_COLUMNS = ("vector", "measure", "id", "slope")
#: s of the aligned probability (1 + s·B)/2: the side of a behaviour a user wants to keep
ALIGNED_SIGN = {"harmful": -1, "harmless": 1, "racist": -1, "not_racist": 1, "honesty": 1}
B_EDGE = 1 - 1e-6


def _matrix(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (sorted) and the values as queries × coefficients."""
    wide = rows.pivot_table(index="id", columns="r_e", values="value", aggfunc="first").sort_index(axis=1)
    wide = wide.dropna()
    if wide.empty:
        raise InputError("tidy: no query is measured at every coefficient")
    return wide.columns.to_numpy(float), wide.to_numpy(float)


def _groups(tidy: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    if tidy.empty:
        raise InputError("tidy: the table has no rows")
    return [(str(v), str(m), g) for (v, m), g in tidy.groupby(["vector", "measure"], sort=False)]


def curves(tidy: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean of every (vector, measure) per r_e with its 95 % bootstrap interval."""
    out = []
    for v, m, g in _groups(tidy):
        r, y = _matrix(g)
        for k, c in enumerate(r):
            iv = bootstrap_mean(y[:, k], bootstrap, seed)
            out.append(
                {
                    "vector": v,
                    "measure": m,
                    "kind": g["kind"].iloc[0],
                    "r_e": c,
                    "r_rel": c / float(g["r_max"].iloc[0]),
                    "mean": iv.value,
                    "low": iv.low,
                    "high": iv.high,
                    "n": y.shape[0],
                }
            )
    return pd.DataFrame(out)


def slope_range(r: np.ndarray) -> float:
    """The |r_e| limit of the slope fit: the smallest non-zero |r_e| on each side of 0,
    the larger of the two (so that both sides enter)."""
    pos, neg = r[r > 0], -r[r < 0]
    if not pos.size or not neg.size:
        raise InputError("coefficients: the slope at 0 needs coefficients on both sides of 0")
    return float(max(pos.min(), neg.min())) * (1 + 1e-9)


def query_slopes(r: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per query (rows of ``y``) the least-squares slope on the coefficients within
    :func:`slope_range` (0 included)."""
    keep = np.abs(r) <= slope_range(r)
    x = r[keep]
    if x.size < 2 or not np.any(x != x.mean()):
        raise InputError("coefficients: fewer than two distinct coefficients in the slope range")
    dx = x - x.mean()
    yy = y[:, keep]
    return ((yy - yy.mean(axis=1, keepdims=True)) @ dx) / float(dx @ dx)


def slopes(tidy: pd.DataFrame, jvp: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The first-order cross-effects (module docstring): slope at 0 by the small-|r_e|
    linear fit with its interval, per r_e and per r_max, and the forward-mode slope."""
    out = []
    for v, m, g in _groups(tidy):
        r, y = _matrix(g)
        r_max = float(g["r_max"].iloc[0])
        s = bootstrap_mean(query_slopes(r, y), bootstrap, seed)
        row: dict[str, Any] = {
            "vector": v,
            "measure": m,
            "kind": g["kind"].iloc[0],
            "slope": s.value,
            "low": s.low,
            "high": s.high,
            "slope_per_r_max": s.value * r_max,
            "low_per_r_max": s.low * r_max,
            "high_per_r_max": s.high * r_max,
            "fit_max_abs": slope_range(r),
            "r_max": r_max,
            "n": y.shape[0],
        }
        j = jvp[(jvp["vector"] == v) & (jvp["measure"] == m)] if not jvp.empty else jvp
        if not j.empty:
            jv = bootstrap_mean(j["slope"].to_numpy(float), bootstrap, seed)
            row.update({"jvp_slope": jv.value, "jvp_low": jv.low, "jvp_high": jv.high})
        out.append(row)
    return pd.DataFrame(out)


def contrasts(tidy: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """M(r_e) − M(0) of every (vector, measure) at every r_e ≠ 0, paired per query, with
    its 95 % bootstrap interval."""
    out = []
    for v, m, g in _groups(tidy):
        r, y = _matrix(g)
        if 0.0 not in r:
            raise InputError(f"tidy: {v} × {m} has no row at r_e = 0")
        zero = int(np.flatnonzero(r == 0.0)[0])
        for k, c in enumerate(r):
            if k == zero:
                continue
            iv = bootstrap_mean(y[:, k] - y[:, zero], bootstrap, seed)
            out.append(
                {
                    "vector": v,
                    "measure": m,
                    "r_e": c,
                    "r_rel": c / float(g["r_max"].iloc[0]),
                    "change": iv.value,
                    "low": iv.low,
                    "high": iv.high,
                }
            )
    return pd.DataFrame(out)


def helpfulness_curve(rows: pd.DataFrame, measure_behavior: str | None) -> pd.DataFrame:
    """The per-coefficient curve of a measure in the role of helpfulness: a task's
    P(correct), or a behaviour's aligned probability (1 + s·B)/2."""
    d = rows[["r_e", "id", "value"]].copy()
    if measure_behavior is not None:
        d["value"] = (1 + ALIGNED_SIGN[measure_behavior] * d["value"]) / 2
    return per_coefficient(d, "value")


def _own(tidy: pd.DataFrame, vector: str) -> pd.DataFrame:
    return tidy[(tidy["vector"] == vector) & (tidy["measure"] == f"{vector}:next-token")]


def efficient_regimes(tidy: pd.DataFrame) -> pd.DataFrame:
    """The planner for every vector against every other next-token or task measure
    (module docstring); ``error`` says why a pair has no regime."""
    out = []
    for v, m, g in _groups(tidy):
        kind = g["kind"].iloc[0]
        if kind == "judged" or m == f"{v}:next-token":
            continue
        r_max = float(g["r_max"].iloc[0])
        row: dict[str, Any] = {"vector": v, "measure": m, "r_max": r_max}
        try:
            own = _own(tidy, v)
            if own.empty:
                raise InputError(f"no next-token measure of the vector's own behaviour {v!r}")
            own_curve = per_coefficient(own, "value")
            rise = float(own_curve["mean"].iloc[-1] - own_curve.loc[own_curve["r_e"] == 0.0, "mean"].iloc[0])
            t1 = theorem1_fit(own_curve)
            if not (rise > 0 and t1["delta_lambda"] > 0):
                raise InputError(
                    f"the vector does not raise its own behaviour (B(max r_e) − B(0) = {rise:.3g}, "
                    f"Δλ = {t1['delta_lambda']:.3g})"
                )
            behavior = m.split(":", 1)[0] if kind == "next_token" else None
            t2 = theorem2_fit(helpfulness_curve(g, behavior), None)
            plan = plan_tradeoff(
                b0=float(np.clip(t1["b0"], -B_EDGE, B_EDGE)),
                delta_lambda=float(t1["delta_lambda"]),
                p0=float(t2["p0"]),
                alpha=float(np.clip(t2["alpha_eff"], 0, 1)),
                eps=0.0,
                lam_sigma_beta=float(max(t2["lam_sigma_beta"], 0.0)),
                r_max=float(g["r_e"].max()),
            )
        except (InputError, ValueError, RuntimeError) as exc:
            row["error"] = str(exc).splitlines()[0][:200]
            out.append(row)
            continue
        end = float(plan.efficient_end)
        row.update(
            {
                "delta_lambda": float(t1["delta_lambda"]),
                "b0": float(t1["b0"]),
                "h0": float(t2["h0_measured"]),
                "lam_sigma_beta": float(t2["lam_sigma_beta"]),
                "alpha_eff": float(t2["alpha_eff"]),
                "efficient_end": end,
                "efficient_end_rel": end / r_max if math.isfinite(end) else math.inf,
                "beyond_grid": bool(end > float(g["r_e"].max())),
                "behavior_at_end": float(plan.behavior_at_efficient_end),
                "helpfulness_at_end": _none_or_float(plan.helpfulness_at_efficient_end),
            }
        )
        out.append(row)
    return pd.DataFrame(out)


def _none_or_float(x: float | None) -> float | None:
    return None if x is None else float(x)
