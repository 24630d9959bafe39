"""Fits and measured parameters of a run → ``fits.json`` (read by the figures and the report).

* Theorem 1 (eq. 5): Δλ and B0 fitted to each behaviour curve;
* Theorem 2 (eq. 6): λσβ and α(1−ε) fitted to each helpfulness curve (P0 = the
  measured value at r_e = 0);
* λ (Assumption 1, App. A.3): slope of mean |U δr| vs |r_e| in the small-|r_e| range;
* λσ, λσβ, normality (Assumption 3): :func:`steerbounds.simulate.estimators.estimate_sigma`
  on the logit-noise projections;
* Δλ measured (Assumption 2, eqs. 10-11): lower line of the good/bad separation.

The curve fits are :mod:`steerbounds.bounds.fitting`'s.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from steerbounds.errors import InputError
from steerbounds.paper_figs.common import read_json, tables, write_json

SMALL = 0.5  # "small r_e": |r_e| ≤ SMALL · max|r_e| of the grid


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fit_theorem1(r_e: np.ndarray, b: np.ndarray, *, form: str = "stated") -> dict:
    """Δλ, B0 of ``tanh(Δλ r_e + artanh B0)`` (eq. 5; ``form="proved"`` halves the exponent,
    eq. 27), by :func:`steerbounds.bounds.fitting.fit_behavior_curve`. Δλ ≥ 0 there, so a
    curve that falls with r_e is fitted on the mirrored axis (``direction`` = −1)."""
    from steerbounds.bounds.fitting import fit_behavior_curve

    direction = 1.0 if np.polyfit(r_e, b, 1)[0] >= 0 else -1.0
    f = fit_behavior_curve(direction * r_e, np.clip(b, -1.0, 1.0), form=form)
    return {**f.as_dict(), "direction": direction}


def fit_theorem2(r_e: np.ndarray, h: np.ndarray, p0: float, floor: float | None) -> dict:
    """λσβ and α(1−ε) of eq. 6 (with Corollary 2's floor 1/N when given), P0 fixed (from the
    measured helpfulness at r_e = 0), by :func:`steerbounds.bounds.fitting.fit_helpfulness_curve`."""
    from steerbounds.bounds.fitting import fit_helpfulness_curve

    f = fit_helpfulness_curve(r_e, np.clip(h, 0.0, 1.0), p0=float(np.clip(p0, 1e-6, 1 - 1e-6)), floor=floor)
    return f.as_dict()


def _small(r: np.ndarray) -> np.ndarray:
    """The near-zero points ``|r_e| ≤ SMALL·max|r_e|`` (relative tolerance for rounded grids)."""
    if r.size == 0:
        return r.astype(bool)
    top = float(np.abs(r).max())
    return np.abs(r) <= SMALL * top * (1 + 1e-4)


def _clean(r_e: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points with a finite value (a coefficient a partial run has not measured yet is NaN)."""
    r, v = np.asarray(r_e, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(v)
    return r[keep], v[keep]


def _try(fn: Any, *args: Any, **kwargs: Any) -> dict:
    """A fit, or ``{"error": message}`` when the data cannot be fitted (too few points…)."""
    try:
        return fn(*args, **kwargs)
    except (InputError, np.linalg.LinAlgError, ValueError, TypeError) as exc:
        return {"error": str(exc)}


def _poly2(r: np.ndarray, y: np.ndarray) -> dict:
    """y ≈ a + b r + c r² with standard errors (the near-zero Taylor test)."""
    X = np.stack([np.ones_like(r), r, r**2], axis=1)
    coef, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = max(1, len(y) - 3)
    s2 = float(np.sum((y - X @ coef) ** 2)) / dof
    try:
        cov = s2 * np.linalg.inv(X.T @ X)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(3, np.nan)
    return {
        "a": float(coef[0]),
        "b": float(coef[1]),
        "c": float(coef[2]),
        "se_b": float(se[1]),
        "se_c": float(se[2]),
        "n": len(y),
    }


def compute(run_dir: str | Path) -> dict:
    """Every fit of the run; writes and returns ``fits.json``."""
    from steerbounds.bounds.estimators import estimate_sigma, fit_slope

    run_dir = Path(run_dir)
    out: dict[str, Any] = {"behavior": {}, "helpfulness": {}, "lambda": {}, "sigma": {}, "delta_lambda": {}}
    for kind in ("behavior", "behavior_nexttoken"):
        for t in tables(run_dir, kind):
            r, b = _clean(t["r_e"], t["mean"])
            key = f"{t['model']}/{t['behavior']}"
            small = _small(r)
            entry = {
                "stated": _try(fit_theorem1, r, b, form="stated"),
                "near_zero": _poly2(r[small], b[small]) if small.sum() >= 4 else None,
            }
            if kind == "behavior":
                entry["proved"] = _try(fit_theorem1, r, b, form="proved")
                out["behavior"].setdefault(key, {}).update(entry)
            else:
                out["behavior"].setdefault(key, {})["nexttoken"] = entry
    for t in tables(run_dir, "helpfulness"):
        key = f"{t['model']}/{t['behavior']}/{t['task']}"
        entry = {}
        for metric in ("abcd", "full_vocab", "accuracy"):
            if metric not in t:
                continue
            r, h = _clean(t["r_e"], t[metric]["mean"])
            if r.size < 4 or not np.any(r == 0):
                continue
            zero = int(np.argmin(np.abs(r)))
            small = _small(r)
            floor = 1.0 / t["n_answers"] if metric == "abcd" and t.get("n_answers") else None
            h0 = float(h[zero])
            if floor is not None and h0 <= floor:
                floor = None  # no room above chance: fit eq. 6 alone
            # with Cor. 2's floor f the curve at 0 is (1 − f)·P0 + f, so P0 = (H(0) − f)/(1 − f)
            p0 = h0 if floor is None else (h0 - floor) / (1.0 - floor)
            try:
                fit = fit_theorem2(r, h, p0, floor)
            except InputError as exc:  # e.g. a curve not above the floor: recorded, not hidden
                fit = {"error": str(exc)}
            entry[metric] = {
                "fit": fit,
                "near_zero": _poly2(r[small], h[small]) if small.sum() >= 4 else None,
                "h0": float(h[zero]),
                "h_at_max_abs": [float(h[0]), float(h[-1])],
            }
        out["helpfulness"][key] = entry
    for t in tables(run_dir, "lambda"):
        r = np.abs(np.asarray(t["r_e"]))
        key = f"{t['model']}/{t['behavior']}"
        per = {}
        for task, rows in t["tasks"].items():
            if len({len(v) for v in rows["udr_norm"]}) != 1 or not rows["udr_norm"][0]:
                continue  # a partial run: not every coefficient measured on every question
            norms = np.asarray(rows["udr_norm"]).mean(axis=1)
            dnorms = np.asarray(rows["dr_norm"]).mean(axis=1)
            lim = SMALL * r.max() * (1 + 1e-4)
            f_small = fit_slope(r, norms, max_abs_x=lim)
            f_all = fit_slope(r, norms)
            per[task] = {
                "lam_logits": f_small.slope,
                "lam_logits_se": f_small.stderr,
                "r2_small": f_small.r2,
                "lam_logits_all": f_all.slope,
                "r2_all": f_all.r2,
                "lam_hidden": fit_slope(r, dnorms, max_abs_x=lim).slope,
                "max_abs_x": lim,
            }
        out["lambda"][key] = per
    for t in tables(run_dir, "logit_noise"):
        key = f"{t['model']}/{t['behavior']}"
        rows = t["rows"]
        if not rows:
            continue
        r_e = np.asarray(t["r_e"])
        proj = np.concatenate([np.asarray(row["projections"]) for row in rows], axis=0)
        r_rows = np.tile(r_e, len(rows))
        w = np.concatenate(
            [
                np.broadcast_to(np.asarray(row["weights"]), np.asarray(row["projections"]).shape)
                for row in rows
            ],
            axis=0,
        )
        lam_task = [v["lam_logits"] for v in out["lambda"].get(key, {}).values()]
        est = estimate_sigma(
            r_rows,
            proj,
            weights=w,
            lam=float(np.mean(lam_task)) if lam_task else None,
            max_abs_x=SMALL * np.abs(r_e).max() * (1 + 1e-4),
        )
        out["sigma"][key] = {
            "lam_sigma": est.lam_sigma.slope,
            "lam_sigma_r2": est.lam_sigma.r2,
            "lam_sigma_pooled": est.lam_sigma_pooled.slope,
            "sigma": est.sigma,
            "lam_sigma_beta_half_normal": est.lam_sigma_beta_half_normal,
            "lam_sigma_beta_mean_abs": est.lam_sigma_beta_mean_abs.slope,
            "lam_sigma_beta_proof": est.lam_sigma_beta_proof.slope,
            "skewness": est.skewness,
            "excess_kurtosis": est.excess_kurtosis,
            "normaltest_pvalue": est.normaltest_pvalue,
            "ks_pvalue": est.ks_pvalue,
            "n_values": est.n_values,
            "n_queries": len(rows),
            "mass_top10_mean": float(np.mean([row["mass_top"] for row in rows])),
        }
    for t in tables(run_dir, "clusters"):
        key = f"{t['model']}/{t['behavior']}"
        r = np.asarray(t["r_e"])
        pos = r > 0
        per = []
        for q in t["queries"]:
            sep = np.asarray(q["mean_sep"])
            hard = np.asarray(q["hard_margin"])
            per.append(
                {
                    "id": q["id"],
                    "mean_sep_lower": float(np.min(sep[pos] / r[pos])),
                    "mean_sep_slope": fit_slope(r[pos], sep[pos]).slope if pos.sum() >= 2 else None,
                    "hard_margin_lower": float(np.min(hard[pos] / r[pos])),
                    "separates": bool(np.all(hard[pos] > 0)),
                }
            )
        out["delta_lambda"][key] = per
    grids = run_dir / "grids.json"
    out["grids"] = read_json(grids) if grids.is_file() else {}
    write_json(run_dir / "fits.json", out)
    return out
