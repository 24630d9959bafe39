"""The one reduction: tables of a run → the paper's parameters, curves and fitted bounds.

``summarize(tables)`` gives a :class:`Summary`, used alike by ``steerbounds sweep``
(``summary.json``, ``summary.csv``, the printed table) and ``steerbounds paper``
(figures and report). One set of rules, applied everywhere:

* **Curves**: per coefficient, the mean over queries, its standard error
  s/√n (App. F.5) and n; also per query group (MMLU subject) and per P0 quartile.
* **Fit range** ("small r_e", Assumption 1): the linear fits use
  |r_e| ≤ ``fit_max_abs``, by default half the grid's largest |r_e|.
* **λ** (Assumption 1, eq. 7): the exact slope |d r^(L)/d r_e| at 0 (forward-mode AD)
  averaged over queries; also the least-squares slopes through the origin of the mean
  |δr| and mean |U δr| curves (App. A.3 figs. 6-8, the paper's "λ = 40–60") against |r_e|.
* **λσ, σ, β** (Assumption 3, App. A.3 figs. 9-10; App. C eq. 37):
  :func:`~steerbounds.bounds.estimators.estimate_sigma` on the logit-noise
  projections, weighted by P_i⁰; σ = λσ/λ with λ the exact slope; the realised
  α(1 − ε) (eq. 38) averaged over the steered rows.
* **Δλ** (Assumption 2, eqs. 10-11): slope through the origin and lower bounding
  line min_{r_e>0} sep/r_e of the query-averaged good/bad separation over
  0 < r_e ≤ range, mean-based (the paper's figs. 11-12) and min-based (the hard
  margin of eq. 8); the fraction of steered rows with a hard margin.
* **Theorem 1** (eq. 27, the proved form): Δλ and B0 of ``tanh(Δλ r_e/2 + artanh B0)``
  fitted to the mean behaviour on r_e ≥ 0, the range the theorem covers. (The
  printed eq. 5 is the same curve with Δλ_stated = Δλ/2.)
* **Theorem 2** (eq. 6): λσβ and α(1 − ε) fitted on every coefficient, P0 held at the
  measured mean H(0). For N-choice tasks over the choices, Corollary 2's floor
  f = 1/N: ``(1 − f)·eq. 6 + f`` with P0 = (H(0) − f)/(1 − f); when H(0) ≤ 1/N there is
  nothing above chance to fit, and the fit is reported as not possible.
* **Near 0** (Taylor test of Theorems 1 and 2): y ≈ a + b r_e + c r_e² on the range.

Every quantity is estimated on its own: one that cannot be estimated is reported
with the reason, and every other one is still produced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from steerbounds import io
from steerbounds.bounds import estimators as est
from steerbounds.empirical.reduce.tables import Tables
from steerbounds.errors import InputError

FORMAT = "steerbounds.summary/1"
SMALL_FRACTION = 0.5  # default fit range: |r_e| ≤ SMALL_FRACTION · max |r_e| of the grid
_ESTIMATION_ERRORS = (InputError, ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)

# One line per quantity: what it is, with the paper's symbol (printed by the CLI and the report).
LABELS: dict[str, str] = {
    "lambda": "λ: |d r^(L)/d r_e| at 0, mean over queries (Assumption 1)",
    "lambda_slope": "λ: slope of |δr| vs |r_e| (Assumption 1, eq. 7)",
    "udr_slope": "slope of |U δr| vs |r_e| (App. A.3; paper: 40–60)",
    "udr_jvp": "|U d r^(L)/d r_e| at 0, mean over queries",
    "lam_sigma": "λσ: slope of the within-query std of the logit noise (Assumption 3)",
    "lam_sigma_pooled": "λσ pooled over queries (App. A.3 figs. 9c-d)",
    "sigma": "σ = λσ/λ",
    "lam_sigma_beta_half_normal": "λσβ ≈ sqrt(2/π)·pooled λσ (App. A.3)",
    "lam_sigma_beta_proof": "λσβ: slope of min(|c−|, c+) (App. C eq. 37)",
    "alpha_one_minus_eps": "α(1−ε) realised, mean over steered rows (eq. 38)",
    "noise_skewness": "skewness of the standardised logit noise",
    "noise_excess_kurtosis": "excess kurtosis of the standardised logit noise",
    "noise_normaltest_p": "D'Agostino-Pearson p (H0: normal logit noise)",
    "delta_lambda_mean": "Δλ: slope of the mean-based separation (eqs. 10-11)",
    "delta_lambda_mean_lower": "Δλ: lower line of the mean-based separation",
    "delta_lambda_min": "Δλ: slope of the min-based separation (hard margin, eq. 8)",
    "delta_lambda_min_lower": "Δλ: lower line of the min-based separation",
    "hard_margin_fraction": "fraction of steered rows with a hard margin (min-based > 0)",
    "p0_full_vocab": "P0: P(correct) at r_e = 0 over the full vocabulary",
    "p0_choices": "P0: P(correct) at r_e = 0 over the choices",
    "b0_next_token": "B0: next-token behaviour at r_e = 0 (eq. 3)",
}
FIT_LABELS: dict[str, str] = {
    "theorem1_next_token": "Theorem 1 (eq. 27) fit to the next-token behaviour, r_e ≥ 0",
    "theorem1_judged_greedy": "Theorem 1 (eq. 27) fit to the judged greedy behaviour, r_e ≥ 0",
    "theorem1_judged_sampled": "Theorem 1 (eq. 27) fit to the judged sampled behaviour, r_e ≥ 0",
    "theorem2_full_vocab": "Theorem 2 (eq. 6) fit to P(correct) over the full vocabulary",
    "theorem2_choices": "Theorem 2 (eq. 6 + Cor. 2 floor 1/N) fit to P(correct) over the choices",
}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Estimate:
    """A quantity, or the reason it could not be estimated (``error``)."""

    value: float | None = None
    stderr: float | None = None
    n: int | None = None
    r2: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def text(self, digits: int = 4) -> str:
        if not self.ok:
            return f"— ({self.error})" if self.error else "—"
        out = f"{self.value:.{digits}g}"
        if self.stderr is not None and math.isfinite(self.stderr):
            out += f" ± {self.stderr:.2g}"
        return out


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _slope_estimate(fit: est.SlopeFit) -> Estimate:
    return Estimate(_finite(fit.slope), _finite(fit.stderr), fit.n, _finite(fit.r2))


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or an :class:`Estimate` carrying the reason it failed."""
    try:
        return fn(*args, **kwargs)
    except _ESTIMATION_ERRORS as exc:
        return Estimate(error=str(exc).splitlines()[0][:200] or type(exc).__name__)


# --------------------------------------------------------------------------- curves


def per_coefficient(df: pd.DataFrame, column: str, by: str | None = None) -> pd.DataFrame:
    """Mean, standard error of the mean (s/√n, n − 1 std) and count of ``column``
    per r_e (and per ``by``), over the rows where it is not null."""
    keys = ["r_e"] if by is None else [by, "r_e"]
    cols = [*keys, "mean", "sem", "n"]
    if df.empty or column not in df:
        return pd.DataFrame(columns=cols)
    d = df[[*keys, column]].dropna(subset=[column])
    if d.empty:
        return pd.DataFrame(columns=cols)
    values = d[column].astype(float)
    g = values.groupby([d[k] for k in keys], sort=True)
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.size()}).reset_index()
    out["sem"] = np.where(out["n"] > 1, out["std"] / np.sqrt(out["n"]), np.nan)
    return out[cols]


def fit_range(r_e: np.ndarray, fit_max_abs: float | None) -> float:
    """The |r_e| limit of the linear fits: ``fit_max_abs``, else half the grid's
    largest |r_e| (with a relative tolerance for rounded grids)."""
    if fit_max_abs is not None:
        return float(fit_max_abs)
    top = float(np.max(np.abs(r_e))) if r_e.size else 0.0
    if top == 0:
        raise InputError("r_e: the grid has no non-zero coefficient")
    return SMALL_FRACTION * top * (1 + 1e-4)


def near_zero(curve: pd.DataFrame, limit: float) -> dict[str, Any]:
    """y ≈ a + b r_e + c r_e² on |r_e| ≤ ``limit`` of a curve's means, with the
    standard errors of b and c (the Taylor test of Theorems 1 and 2 near 0)."""
    c = curve[np.abs(curve["r_e"].astype(float)) <= limit]
    r, y = c["r_e"].to_numpy(float), c["mean"].to_numpy(float)
    if r.size < 4:
        raise InputError(f"near_zero: {r.size} coefficients within |r_e| ≤ {limit:.4g}; need 4")
    X = np.stack([np.ones_like(r), r, r**2], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = float(np.sum((y - X @ coef) ** 2)) / max(1, r.size - 3)
    se = np.sqrt(np.clip(np.diag(s2 * np.linalg.inv(X.T @ X)), 0, None))
    return {
        "a": float(coef[0]),
        "b": float(coef[1]),
        "c": float(coef[2]),
        "se_b": float(se[1]),
        "se_c": float(se[2]),
        "n": int(r.size),
        "max_abs_r_e": limit,
    }


def p0_quartiles(df: pd.DataFrame, column: str, n_groups: int = 4) -> dict[str, int]:
    """Query id → P0 quartile (0 = lowest), P0 = ``column`` at r_e = 0."""
    at0 = df[(df["r_e"] == 0.0) & df[column].notna()].sort_values(column, kind="stable")
    ids = at0["id"].tolist()
    return {i: min(n_groups - 1, (n_groups * rank) // len(ids)) for rank, i in enumerate(ids)}


def p0_distribution(df: pd.DataFrame, column: str) -> dict[str, Any]:
    """Per-query P0 (``column`` at r_e = 0): mean, quantiles and a 10-bin histogram."""
    v = df.loc[(df["r_e"] == 0.0) & df[column].notna(), column].to_numpy(float)
    if not v.size:
        raise InputError(f"{column}: no query measured at r_e = 0")
    counts, edges = np.histogram(v, bins=10, range=(0.0, 1.0))
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "quantiles_0_25_50_75_100": np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0]).tolist(),
        "hist_counts": counts.tolist(),
        "hist_edges": edges.tolist(),
    }


# --------------------------------------------------------------------------- fits


def theorem1_fit(curve: pd.DataFrame) -> dict[str, Any]:
    """Theorem 1's proved form (eq. 27) fitted to a behaviour curve on r_e ≥ 0."""
    from steerbounds.bounds.fitting import fit_behavior_curve

    c = curve[curve["r_e"] >= 0]
    if len(c) < 3:
        raise InputError(f"theorem1: {len(c)} coefficients r_e ≥ 0; need 3")
    fit = fit_behavior_curve(c["r_e"].to_numpy(float), np.clip(c["mean"].to_numpy(float), -1, 1))
    d = fit.as_dict()
    d.pop("covariance")
    d.pop("residuals")
    return {**d, "range": "r_e ≥ 0", "delta_lambda_stated_form": fit.delta_lambda / 2}


def theorem2_fit(curve: pd.DataFrame, floor: float | None) -> dict[str, Any]:
    """Theorem 2 (eq. 6; with Corollary 2's ``floor`` 1/N) fitted to a helpfulness
    curve, P0 held at the measured H(0) (minus the floor's share)."""
    from steerbounds.bounds.fitting import fit_helpfulness_curve

    if len(curve) < 3:
        raise InputError(f"theorem2: {len(curve)} coefficients; need 3")
    at0 = curve.loc[curve["r_e"] == 0.0, "mean"]
    if at0.empty:
        raise InputError("theorem2: no measurement at r_e = 0")
    h0 = float(at0.iloc[0])
    if floor is not None and h0 <= floor:
        raise InputError(f"theorem2: H(0) = {h0:.3g} is at or below chance 1/N = {floor:.3g}; nothing to fit")
    p0 = h0 if floor is None else (h0 - floor) / (1.0 - floor)
    if not 0.0 < p0 < 1.0:
        raise InputError(f"theorem2: measured P0 = {p0:.3g} is not in (0, 1)")
    fit = fit_helpfulness_curve(
        curve["r_e"].to_numpy(float), np.clip(curve["mean"].to_numpy(float), 0, 1), p0=p0, floor=floor
    )
    d = fit.as_dict()
    d.pop("covariance")
    d.pop("residuals")
    return {**d, "h0_measured": h0}


def _fit_or_error(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    out = _attempt(fn, *args)
    return {"error": out.error} if isinstance(out, Estimate) else out


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """Everything the reduction of one run gives (see the module docstring)."""

    behavior: str
    task: str
    fit_max_abs: float | None
    parameters: dict[str, Estimate] = field(default_factory=dict)
    group_parameters: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_fits: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    near_zero: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_near_zero: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    group_curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def parameter(self, name: str) -> Estimate:
        return self.parameters.get(name, Estimate(error="not measured in this run"))

    def value(self, name: str) -> float | None:
        return self.parameter(name).value if self.parameter(name).ok else None

    def fit(self, name: str) -> dict[str, Any] | None:
        f = self.fits.get(name)
        return f if f is not None and "error" not in f else None

    def curve(self, name: str) -> pd.DataFrame | None:
        return self.curves.get(name)

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): io.jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]

        return {
            "format": FORMAT,
            "behavior": self.behavior,
            "task": self.task,
            "fit_max_abs": self.fit_max_abs,
            "parameters": {k: v.to_dict() for k, v in self.parameters.items()},
            "group_parameters": {
                k: {g: e.to_dict() for g, e in v.items()} for k, v in self.group_parameters.items()
            },
            "fits": self.fits,
            "group_fits": self.group_fits,
            "near_zero": self.near_zero,
            "group_near_zero": self.group_near_zero,
            "curves": {k: records(v) for k, v in self.curves.items()},
            "group_curves": {k: records(v) for k, v in self.group_curves.items()},
            "diagnostics": self.diagnostics,
        }

    def curves_csv(self) -> str:
        """Every curve as CSV rows: curve, group, r_e, mean, sem, n."""
        frames = [c.assign(curve=name, group="all") for name, c in self.curves.items()]
        frames += [c.assign(curve=name) for name, c in self.group_curves.items()]
        cols = ["curve", "group", "r_e", "mean", "sem", "n"]
        if not frames:
            return ",".join(cols) + "\n"
        return str(pd.concat(frames, ignore_index=True)[cols].to_csv(index=False, lineterminator="\n"))

    def rows(self) -> Iterator[tuple[str, str]]:
        """(label, value) for every parameter and fit, each quantity once."""
        return summary_rows(self.to_dict())


def _estimate_text(e: Mapping[str, Any]) -> str:
    return Estimate(**{k: e.get(k) for k in ("value", "stderr", "n", "r2", "error")}).text()


def summary_rows(summary: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(label, value) for every parameter and fit of a summary (a :class:`Summary`'s
    ``to_dict()``, e.g. read back from ``summary.json``), each quantity once."""
    for name, e in summary.get("parameters", {}).items():
        yield LABELS.get(name, name), _estimate_text(e)
    for name, f in summary.get("fits", {}).items():
        label = FIT_LABELS.get(name, name)
        if "error" in f:
            yield label, f"— ({f['error']})"
        elif "delta_lambda" in f:
            se = f["stderr"].get("delta_lambda")
            yield label, f"Δλ = {f['delta_lambda']:.4g} ± {se:.2g}, B0 = {f['b0']:.3g}"
        else:
            se = f["stderr"].get("lam_sigma_beta")
            yield label, f"λσβ = {f['lam_sigma_beta']:.4g} ± {se:.2g}, α(1−ε) = {f['alpha_eff']:.3g}"


def _fitted_slope(t: pd.DataFrame, column: str, limit: float) -> Estimate:
    """Least-squares slope through the origin of the per-coefficient mean of ``column``
    against |r_e| on |r_e| ≤ limit (the mean curve of App. A.3 figs. 6-8; with equal
    counts per coefficient the slope equals the fit over every row); R² and the
    standard error are those of the mean curve."""
    curve = per_coefficient(t, column)
    return _slope_estimate(
        est.fit_slope(np.abs(curve["r_e"].to_numpy(float)), curve["mean"].to_numpy(float), max_abs_x=limit)
    )


def _lambda_part(s: Summary, t: pd.DataFrame, limit: float) -> None:
    jvp = t["jvp_norm"].dropna().to_numpy(float)

    def mean_of(v: np.ndarray, what: str) -> Estimate:
        if not v.size:
            raise InputError(f"{what}: no r_e = 0 rows with the forward-mode slope")
        se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
        return Estimate(float(v.mean()), se, int(v.size))

    s.parameters["lambda"] = _attempt(mean_of, jvp, "lambda")
    s.parameters["lambda_slope"] = _attempt(_fitted_slope, t, "dr_norm", limit)
    s.parameters["udr_slope"] = _attempt(_fitted_slope, t, "udr_norm", limit)
    s.parameters["udr_jvp"] = _attempt(mean_of, t["jvp_udr_norm"].dropna().to_numpy(float), "udr_jvp")
    s.group_parameters["udr_slope"] = {
        str(g): _attempt(_fitted_slope, d, "udr_norm", limit) for g, d in t.groupby("group", sort=True)
    }
    s.curves["dr_norm"] = per_coefficient(t, "dr_norm")
    s.curves["udr_norm"] = per_coefficient(t, "udr_norm")
    s.group_curves["udr_norm"] = per_coefficient(t, "udr_norm", by="group")


def normality(values: np.ndarray) -> dict[str, Any]:
    """Std, skewness, excess kurtosis, Shapiro-Wilk and D'Agostino-Pearson p-values
    (H0: normal) of a sample (Shapiro on at most 5000 values)."""
    v = np.asarray(values, dtype=float)
    out: dict[str, Any] = {"n": int(v.size), "std": float(v.std(ddof=1)) if v.size > 1 else None}
    if v.size >= 8 and np.ptp(v) > 0:
        out["skew"] = float(stats.skew(v))
        out["excess_kurtosis"] = float(stats.kurtosis(v))
        out["shapiro_p"] = float(stats.shapiro(v[:5000]).pvalue)
        out["dagostino_p"] = float(stats.normaltest(v).pvalue) if v.size >= 20 else None
    return out


def _noise_part(s: Summary, noise: pd.DataFrame, realised: pd.DataFrame, limit: float) -> None:
    wide = noise.pivot_table(index=["r_e", "id"], columns="rank", values="proj", aggfunc="first")
    weights = noise.pivot_table(index=["r_e", "id"], columns="rank", values="p0_token", aggfunc="first")
    r_rows = wide.index.get_level_values("r_e").to_numpy(float)
    lam = s.value("lambda")

    def sigma() -> est.SigmaEstimate:
        return est.estimate_sigma(
            r_rows, wide.to_numpy(float), lam=lam, weights=weights.to_numpy(float), max_abs_x=limit
        )

    res = _attempt(sigma)
    if isinstance(res, Estimate):
        for name in ("lam_sigma", "lam_sigma_pooled", "sigma", "lam_sigma_beta_half_normal"):
            s.parameters[name] = res
    else:
        s.parameters["lam_sigma"] = _slope_estimate(res.lam_sigma)
        s.parameters["lam_sigma_pooled"] = _slope_estimate(res.lam_sigma_pooled)
        s.parameters["sigma"] = (
            Estimate(_finite(res.sigma)) if res.sigma is not None else Estimate(error="λ not measured")
        )
        s.parameters["lam_sigma_beta_half_normal"] = Estimate(_finite(res.lam_sigma_beta_half_normal))
        s.parameters["lam_sigma_beta_proof"] = (
            _slope_estimate(res.lam_sigma_beta_proof)
            if res.lam_sigma_beta_proof is not None
            else Estimate(error="no steered row has logit-noise differences of both signs (I+ or I− empty)")
        )
        s.parameters["noise_skewness"] = Estimate(_finite(res.skewness), n=res.n_values)
        s.parameters["noise_excess_kurtosis"] = Estimate(_finite(res.excess_kurtosis), n=res.n_values)
        s.parameters["noise_normaltest_p"] = Estimate(_finite(res.normaltest_pvalue), n=res.n_values)
    a = realised["alpha_one_minus_eps"].dropna().to_numpy(float) if not realised.empty else np.array([])
    s.parameters["alpha_one_minus_eps"] = (
        Estimate(
            float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else None, int(a.size)
        )
        if a.size
        else Estimate(error="no steered row with realised Theorem 2 parameters")
    )
    per = []
    for c, d in noise.groupby("r_e", sort=True):
        row: dict[str, Any] = {"r_e": float(cast(float, c)), **normality(d["proj"].to_numpy(float))}
        sub = realised[realised["r_e"] == c] if not realised.empty else realised
        if not sub.empty:
            row["alpha_one_minus_eps_mean"] = float(sub["alpha_one_minus_eps"].mean())
            row["sigma_beta_mean"] = float(sub["sigma_beta"].mean())
        per.append(row)
    s.diagnostics["noise_by_coefficient"] = per
    s.diagnostics["noise_mass_top"] = float(
        (noise.groupby(["r_e", "id"])["p0_token"].sum() + noise.groupby(["r_e", "id"])["p0"].first()).mean()
    )


def _delta_part(s: Summary, t: pd.DataFrame, limit: float) -> None:
    sep = t.dropna(subset=["mean_sep"])
    mean_curve, min_curve = per_coefficient(sep, "mean_sep"), per_coefficient(sep, "min_sep")
    s.curves["mean_sep"], s.curves["min_sep"] = mean_curve, min_curve

    def line(curve: pd.DataFrame, lower: bool) -> Estimate:
        pos = curve[(curve["r_e"] > 0) & (curve["r_e"] <= limit)]
        if len(pos) < (1 if lower else 2):
            raise InputError(f"delta: {len(pos)} coefficients in 0 < r_e ≤ {limit:.4g}")
        r, y = pos["r_e"].to_numpy(float), pos["mean"].to_numpy(float)
        if lower:
            return Estimate(float(np.min(y / r)), n=int(r.size))
        return _slope_estimate(est.fit_slope(r, y))

    s.parameters["delta_lambda_mean"] = _attempt(line, mean_curve, False)
    s.parameters["delta_lambda_mean_lower"] = _attempt(line, mean_curve, True)
    s.parameters["delta_lambda_min"] = _attempt(line, min_curve, False)
    s.parameters["delta_lambda_min_lower"] = _attempt(line, min_curve, True)
    steered = sep[(sep["r_e"] > 0) & (sep["r_e"] <= limit)]
    s.parameters["hard_margin_fraction"] = (
        Estimate(float((steered["min_sep"] > 0).mean()), n=len(steered))
        if len(steered)
        else Estimate(error="no steered row with both clusters")
    )


def _behavior_part(s: Summary, t: pd.DataFrame, name: str, column: str, limit: float) -> None:
    curve = per_coefficient(t, column)
    s.curves[name] = curve
    s.fits[f"theorem1_{name}"] = _fit_or_error(theorem1_fit, curve)
    s.near_zero[name] = _fit_or_error(near_zero, curve, limit)


def _helpfulness_part(s: Summary, t: pd.DataFrame, limit: float) -> None:
    parts: list[tuple[str, str, float | None]] = [
        ("full_vocab", "p_correct", None),
        ("accuracy_full_vocab", "top1", None),
    ]
    if t["p_choices"].notna().any():
        n_choices = int(t["n_choices"].dropna().iloc[0])
        parts += [("choices", "p_choices", 1.0 / n_choices), ("accuracy_choices", "correct_choice", None)]
    for name, column, floor in parts:
        curve = per_coefficient(t, column)
        s.curves[name] = curve
        s.group_curves[name] = per_coefficient(t, column, by="group")
        if name.startswith("accuracy"):
            continue
        dist = _attempt(p0_distribution, t, column)
        s.parameters[f"p0_{name}"] = (
            dist if isinstance(dist, Estimate) else Estimate(dist["mean"], n=dist["n"])
        )
        s.fits[f"theorem2_{name}"] = _fit_or_error(theorem2_fit, curve, floor)
        groups = list(s.group_curves[name].groupby("group", sort=True))
        s.group_fits[f"theorem2_{name}"] = {
            str(g): _fit_or_error(theorem2_fit, c.drop(columns="group"), floor) for g, c in groups
        }
        s.near_zero[name] = _fit_or_error(near_zero, curve, limit)
        s.group_near_zero[name] = {
            str(g): _fit_or_error(near_zero, c.drop(columns="group"), limit) for g, c in groups
        }
        if not isinstance(dist, Estimate):
            s.diagnostics[f"p0_distribution_{name}"] = dist
            quart = p0_quartiles(t, column)
            q = t[t["id"].isin(quart)]
            q = q.assign(p0_quartile=q["id"].map(quart))
            s.group_curves[f"{name}_by_p0_quartile"] = per_coefficient(q, column, by="p0_quartile")


def summarize(tables: Tables, *, fit_max_abs: float | None = None) -> Summary:
    """The one reduction of a run's tables (see the module docstring)."""
    cfg = tables.manifest.get("config", {})
    grid = np.asarray(
        tables.manifest.get("grid")
        or cfg.get("coefficients")
        or sorted({float(c) for n in tables.names for c in tables[n]["r_e"]}),
        dtype=float,
    )
    s = Summary(behavior=str(cfg.get("behavior", "")), task=str(cfg.get("task", "")), fit_max_abs=None)
    if tables.has("humaneval"):
        h = tables["humaneval"]
        s.curves["pass_at_1"] = per_coefficient(
            h.assign(passed=(h["status"] == "passed").astype(float)), "passed"
        )
    limit = _attempt(fit_range, grid, fit_max_abs)
    if isinstance(limit, Estimate):
        s.diagnostics["error"] = limit.error
        return s
    s.fit_max_abs = limit
    if tables.has("lambda"):
        _lambda_part(s, tables["lambda"], limit)
    if tables.has("noise"):
        _noise_part(s, tables["noise"], tables["realised"], limit)
    if tables.has("delta"):
        _delta_part(s, tables["delta"], limit)
    if tables.has("behavior"):
        b = tables["behavior"]
        s.parameters["b0_next_token"] = _attempt(
            lambda: Estimate(float(b.loc[b["r_e"] == 0.0, "b"].mean()), n=int((b["r_e"] == 0.0).sum()))
        )
        _behavior_part(s, b, "next_token", "b", limit)
        s.curves["next_token_unnormalised"] = per_coefficient(b, "b_unnorm")
    if tables.has("generation"):
        g = tables["generation"]
        for mode, d in g.groupby("mode", sort=True):
            _behavior_part(s, d, f"judged_{mode}", "score", limit)
    if tables.has("helpfulness"):
        _helpfulness_part(s, tables["helpfulness"], limit)
    return s


def write_summary(tables: Tables, folder: str | Path, *, fit_max_abs: float | None = None) -> Summary:
    """Summarise and write ``summary.json`` and ``summary.csv`` into ``folder``."""
    from steerbounds.empirical.sweep.run import SUMMARY_CSV, SUMMARY_JSON

    s = summarize(tables, fit_max_abs=fit_max_abs)
    io.write_json(Path(folder) / SUMMARY_JSON, s.to_dict(), sort_keys=False)
    io.write_text(Path(folder) / SUMMARY_CSV, s.curves_csv())
    return s
