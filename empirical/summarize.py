"""Reduce measured rows (:mod:`steerbounds.empirical.measure`) to the paper's
parameters, per-coefficient tables and fitted bounds.

Directly measured (App. A.3), through ``steerbounds.simulate.estimators``:
λ (eq. 7, slope of |δr| and |U δr| vs |r_e| at small |r_e|, and the exact
derivative at 0), λσ, σ, β and λσβ (Assumption 3; half-normal factor
sqrt(2/π) and the proof's min(|c−|, c+)), α(1−ε) (eq. 38), Δλ (eqs. 10-11,
mean- and min-based, least-squares slope and lower bounding line).
Fitted (§4, App. F.4): Δλ from the behaviour curve (Theorem 1) and λσβ, α(1−ε)
from the helpfulness curve (Theorem 2), via ``steerbounds.bounds.fitting``, on
the average and per P0 quartile.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from steerbounds.bounds import estimators as est


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _slope_dict(fit: est.SlopeFit) -> dict[str, Any]:
    return {"slope": _finite(fit.slope), "stderr": _finite(fit.stderr), "r2": _finite(fit.r2), "n": fit.n}


def per_coefficient(
    rows: Iterable[dict[str, Any]],
    fields: Sequence[str],
    key: Callable[[dict[str, Any]], Any] = lambda r: None,
) -> list[dict[str, Any]]:
    """Mean, standard error and count of each numeric ``field`` per (key, r_e)."""
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        g = groups[(key(r), r["r_e"])]
        for f in fields:
            if f in r and r[f] is not None:
                g[f].append(float(r[f]))
    out = []
    for (k, c), vals in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        row: dict[str, Any] = {"r_e": c}
        if k is not None:
            row["group"] = k
        for f in fields:
            v = np.asarray(vals.get(f, []), dtype=float)
            row[f] = float(v.mean()) if v.size else None
            row[f + "_sem"] = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
        row["n"] = max((len(v) for v in vals.values()), default=0)
        out.append(row)
    return out


# --------------------------------------------------------------------------- λ


def summarize_lambda(rows: list[dict[str, Any]], *, max_abs: float | None = None) -> dict[str, Any]:
    """λ (Assumption 1, eq. 7): least-squares slopes through the origin of |δr| and
    |U δr| vs |r_e| over ``|r_e| ≤ max_abs`` (all when None), and the exact
    derivative |d r^(L)/d r_e| at 0 averaged over queries."""
    r = np.array([x["r_e"] for x in rows], dtype=float)
    nz = r != 0
    out: dict[str, Any] = {"max_abs_r_e": max_abs}
    if np.count_nonzero(nz) >= 2:
        lam = est.fit_slope(np.abs(r), np.array([x["dr_norm"] for x in rows]), max_abs_x=max_abs)
        lam_u = est.fit_slope(np.abs(r), np.array([x["Udr_norm"] for x in rows]), max_abs_x=max_abs)
        out["lambda_fit"] = _slope_dict(lam)
        out["lambda_logits_fit"] = _slope_dict(lam_u)
    jvp = [x["jvp_norm"] for x in rows if "jvp_norm" in x]
    if jvp:
        out["lambda_jvp_mean"] = float(np.mean(jvp))
        out["lambda_jvp_std"] = float(np.std(jvp))
        out["lambda_logits_jvp_mean"] = float(np.mean([x["jvp_U_norm"] for x in rows if "jvp_U_norm" in x]))
    out["table"] = per_coefficient(rows, ("dr_norm", "Udr_norm"))
    return out


# --------------------------------------------------------------------------- σ


def normality(values: np.ndarray) -> dict[str, Any]:
    """Skewness, excess kurtosis, Shapiro-Wilk and D'Agostino-Pearson p-values
    (H0: normal) of a sample (Shapiro on at most 5000 values)."""
    v = np.asarray(values, dtype=float)
    out: dict[str, Any] = {"n": int(v.size), "std": float(v.std(ddof=1)) if v.size > 1 else None}
    if v.size >= 8 and np.ptp(v) > 0:
        out["skew"] = float(stats.skew(v))
        out["excess_kurtosis"] = float(stats.kurtosis(v))
        out["shapiro_p"] = float(stats.shapiro(v[:5000]).pvalue)
        out["dagostino_p"] = float(stats.normaltest(v).pvalue) if v.size >= 20 else None
    return out


def summarize_sigma(
    rows: list[dict[str, Any]], *, lam: float | None = None, max_abs: float | None = None, bins: int = 30
) -> dict[str, Any]:
    """λσ, σ, β, λσβ (Assumption 3; App. A.3 figs. 9-10) and α(1−ε) (eq. 38).

    ``lam``: λ to turn λσ into σ. Per coefficient: std, normality diagnostics and
    a histogram of the pooled projections (for figs. 9a-b).
    """
    proj = np.array([x["proj"] for x in rows], dtype=float)
    w = np.array([x["p0_top"] for x in rows], dtype=float)
    r = np.array([x["r_e"] for x in rows], dtype=float)
    out: dict[str, Any] = {}
    if np.unique(np.abs(r)).size >= 2:
        s = est.estimate_sigma(r, proj, lam=lam, weights=w, max_abs_x=max_abs)
        out.update(
            {
                "lam_sigma_fit": _slope_dict(s.lam_sigma),
                "lam_sigma_pooled_fit": _slope_dict(s.lam_sigma_pooled),
                "sigma": _finite(s.sigma) if s.sigma is not None else None,
                "lam_sigma_beta_half_normal": _finite(s.lam_sigma_beta_half_normal),
                "lam_sigma_beta_mean_abs_fit": _slope_dict(s.lam_sigma_beta_mean_abs),
                "lam_sigma_beta_proof_fit": _slope_dict(s.lam_sigma_beta_proof),
                "beta_half_normal": _finite(s.beta_half_normal),
                "beta_proof": _finite(s.beta_proof),
                "skewness": _finite(s.skewness),
                "excess_kurtosis": _finite(s.excess_kurtosis),
                "normaltest_p": _finite(s.normaltest_pvalue),
                "ks_p": _finite(s.ks_pvalue),
            }
        )
    per = []
    for c in sorted(set(r.tolist())):
        vals = proj[r == c].ravel()
        d = {"r_e": c, **normality(vals)}
        if c != 0 and vals.size and np.ptp(vals) > 0:
            counts, edges = np.histogram(vals, bins=bins)
            d["hist_counts"], d["hist_edges"] = counts.tolist(), edges.tolist()
        sub = [x for x in rows if x["r_e"] == c and "alpha_one_minus_eps" in x]
        if sub:
            d["alpha_one_minus_eps_mean"] = float(np.mean([x["alpha_one_minus_eps"] for x in sub]))
            d["alpha_mean"] = float(np.mean([x["alpha"] for x in sub]))
            d["eps_mean"] = float(np.mean([x["eps"] for x in sub]))
            d["sigma_beta_mean"] = float(np.mean([x["sigma_beta"] for x in sub]))
        per.append(d)
    out["per_coefficient"] = per
    a = [x["alpha_one_minus_eps"] for x in rows if "alpha_one_minus_eps" in x]
    if a:
        out["alpha_one_minus_eps_mean"] = float(np.mean(a))
        out["alpha_mean"] = float(np.mean([x["alpha"] for x in rows if "alpha" in x]))
    sb = [x["sigma_beta"] for x in rows if "sigma_beta" in x]
    if sb and lam is not None:
        out["lam_sigma_beta_realised"] = float(lam * np.mean(sb))
    return out


# --------------------------------------------------------------------------- Δλ


def summarize_delta(rows: list[dict[str, Any]], *, max_abs: float | None = None) -> dict[str, Any]:
    """Δλ from the good/bad cluster separation (App. A.3, eqs. 10-11), over
    coefficients r_e > 0 (≤ ``max_abs``): least-squares slope through the origin
    of the query-averaged separation, and the lower bounding line
    min over r_e of separation/r_e; mean-based (the paper's figs. 11-12) and
    min-based (the hard margin of eq. 8)."""
    use = [x for x in rows if x["r_e"] > 0 and "mean_sep" in x and (max_abs is None or x["r_e"] <= max_abs)]
    table = per_coefficient([x for x in rows if "mean_sep" in x], ("mean_sep", "min_sep", "dr_norm"))
    out: dict[str, Any] = {"table": table, "n_queries": len({x["id"] for x in use})}
    pos = [t for t in table if t["r_e"] > 0 and (max_abs is None or t["r_e"] <= max_abs)]
    if len(pos) >= 2:
        rr = np.array([t["r_e"] for t in pos])
        for name in ("mean_sep", "min_sep"):
            y = np.array([t[name] for t in pos])
            out[f"delta_lambda_{name}_fit"] = _slope_dict(est.fit_slope(rr, y))
            out[f"delta_lambda_{name}_lower"] = float(np.min(y / rr))
        out["separates_fraction"] = float(np.mean([x["min_sep"] > 0 for x in use]))
    return out


# --------------------------------------------------------------------------- behaviour / helpfulness


def p0_groups(rows: list[dict[str, Any]], field: str, n_groups: int = 4) -> dict[str, int]:
    """Query id → P0 quartile (0 = lowest), P0 = ``field`` at r_e = 0."""
    p0 = {x["id"]: x[field] for x in rows if x["r_e"] == 0.0 and x.get(field) is not None}
    if not p0:
        return {}
    ids = sorted(p0, key=lambda i: p0[i])
    return {i: min(n_groups - 1, (n_groups * rank) // len(ids)) for rank, i in enumerate(ids)}


def p0_distribution(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """Per-query P0 (``field`` at r_e = 0): quantiles and a 10-bin histogram."""
    v = np.array([x[field] for x in rows if x["r_e"] == 0.0 and x.get(field) is not None], dtype=float)
    if not v.size:
        return {}
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    counts, edges = np.histogram(v, bins=10, range=(0.0, 1.0))
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "quantiles_0_25_50_75_100": q.tolist(),
        "hist_counts": counts.tolist(),
        "hist_edges": edges.tolist(),
    }


def _fit_or_error(fn: Callable[[], Any]) -> dict[str, Any]:
    """A fit's JSON dictionary (without the bulky covariance/residual arrays), or
    the reason it could not be made."""
    from steerbounds.errors import InputError

    try:
        d = fn().as_dict()
    except (InputError, RuntimeError, ValueError) as exc:
        return {"error": str(exc)}
    d.pop("covariance", None)
    d.pop("residuals", None)
    return d


def summarize_behavior(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """Behaviour expectation per coefficient (mean of ``field`` over queries, eq. 3)
    and Theorem 1's form fitted to it (Δλ and B0 free; ``form="proved"``, eq. 27,
    and ``"stated"``, eq. 5) via :func:`steerbounds.bounds.fitting.fit_behavior_curve`,
    on every coefficient and (``fit_proved_nonneg``) on r_e ≥ 0 only, the range
    Theorem 1 guarantees."""
    from steerbounds.bounds.fitting import fit_behavior_curve

    table = per_coefficient(rows, (field,))
    r = np.array([t["r_e"] for t in table])
    b = np.clip(np.array([t[field] for t in table]), -1.0, 1.0)
    out: dict[str, Any] = {"field": field, "table": table}
    if r.size >= 3:
        out["fit_proved"] = _fit_or_error(lambda: fit_behavior_curve(r, b, form="proved"))
        out["fit_stated"] = _fit_or_error(lambda: fit_behavior_curve(r, b, form="stated"))
    nonneg = r >= 0  # Theorem 1's guarantee is for r_e ≥ 0
    if np.count_nonzero(nonneg) >= 3:
        out["fit_proved_nonneg"] = _fit_or_error(
            lambda: fit_behavior_curve(r[nonneg], b[nonneg], form="proved")
        )
    return out


def summarize_helpfulness(
    rows: list[dict[str, Any]], field: str, *, floor: float | None = None, n_groups: int = 4
) -> dict[str, Any]:
    """Helpfulness per coefficient (mean of ``field``: P(correct), eq. 4) overall,
    per query group (subject) and per P0 quartile, the P0 distribution at r_e = 0,
    and Theorem 2's form (eq. 6; with Corollary 2's ``floor`` = 1/T when given)
    fitted with P0 held at the measured mean at r_e = 0, λσβ and α(1−ε) free, via
    :func:`steerbounds.bounds.fitting.fit_helpfulness_curve` — on the average and
    per P0 quartile."""
    from steerbounds.bounds.fitting import fit_helpfulness_curve

    rows = [x for x in rows if x.get(field) is not None]
    out: dict[str, Any] = {"field": field, "floor": floor, "p0_distribution": p0_distribution(rows, field)}
    out["table"] = per_coefficient(rows, (field,))
    out["table_by_group"] = per_coefficient(rows, (field,), key=lambda x: x.get("group", ""))
    quart = p0_groups(rows, field, n_groups)
    out["table_by_p0_quartile"] = per_coefficient(
        [x for x in rows if x["id"] in quart], (field,), key=lambda x: quart[x["id"]]
    )

    def fit(table: list[dict[str, Any]]) -> dict[str, Any]:
        r = np.array([t["r_e"] for t in table])
        h = np.clip(np.array([t[field] for t in table]), 0.0, 1.0)
        at0 = [t[field] for t in table if t["r_e"] == 0.0]
        if r.size < 3 or not at0:
            return {"error": "need r_e = 0 and at least 3 coefficients"}
        p0 = float(at0[0])
        if not 0.0 < p0 < 1.0:
            return {"error": f"measured P0 = {p0} is not in (0, 1)"}
        return _fit_or_error(lambda: fit_helpfulness_curve(r, h, p0=p0, floor=floor))

    out["fit"] = fit(out["table"])
    out["fit_by_p0_quartile"] = {
        str(g): fit([t for t in out["table_by_p0_quartile"] if t["group"] == g]) for g in range(n_groups)
    }
    return out
