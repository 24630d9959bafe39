"""The theory tested per query on a finished run (``steerbounds validate``).

The theorems are statements about one query q at one coefficient r_e. From the
records of a sweep (next-token behaviour with its realised margin; logit noise with
the realised Theorem 2 parameters; helpfulness), every row is tested:

* **Realised-margin identity** (the algebra behind Theorem 1): with u the change of
  the logits and m = min_{i∈+} u_i − max_{j∈−} u_j, log(P+/P−)(r_e) ≥ log(P+/P−)(0) + m,
  i.e. B ≥ tanh(m/2 + artanh B0). It follows from the definitions alone, so it holds
  on every row; a failure is a measurement bug.
* **Assumptions 1 and 2 per query**: a hard margin (m > 0 at every r_e > 0), the slope
  of m against r_e (the query's Δλ) and its linearity (R² on 0 < r_e ≤ the fit range).
* **Theorem 1 with measured Δλ** (eq. 27): on what fraction of the rows with r_e > 0
  does B ≥ tanh(Δλ r_e/2 + artanh B0) hold, with Δλ the run's min-based and mean-based
  lower lines of the good/bad cluster separation (eqs. 10-11)?
* **Steering direction** (Tan et al. 2024's "anti-steerable" inputs): the fraction of
  queries whose log(P+/P−) falls with r_e near 0 (slope < 0 on |r_e| ≤ the fit range).
* **Theorem 2 per query** with the realised parameters (App. C): eq. 33,
  P0/(P0 + P+e^{c+|δr|} + P−e^{c−|δr|}), and eq. 34 bound the measured P(correct)
  at every steered row (deterministically, given the realised P±, c±).

Fractions come with exact (Clopper–Pearson) 95 % intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from steerbounds.empirical.reduce.summary import Summary, fit_range, summarize
from steerbounds.empirical.reduce.tables import Tables
from steerbounds.errors import InputError

IDENTITY_TOL = 1e-6  # log-odds units: float32 logits, computed in float64
B_EDGE = 1 - 1e-12
LINEAR_R2 = 0.9


@dataclass(frozen=True)
class Fraction:
    """k of n, with its exact 95 % interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    def interval(self) -> tuple[float, float]:
        if not self.n:
            return (math.nan, math.nan)
        ci = stats.binomtest(self.k, self.n).proportion_ci(method="exact")
        return float(ci.low), float(ci.high)

    def text(self) -> str:
        if not self.n:
            return "– (0 rows)"
        lo, hi = self.interval()
        return f"{self.k}/{self.n} = {self.value:.2f} [{lo:.2f}, {hi:.2f}]"

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval()
        return {"k": self.k, "n": self.n, "fraction": self.value, "low": lo, "high": hi}


@dataclass
class Verdict:
    """Every per-query test of one run (module docstring)."""

    behavior: str
    tests: dict[str, Fraction] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    points: pd.DataFrame = field(default_factory=pd.DataFrame)  # r_e, id, margin, lift (for the figure)

    def add(self, name: str, label: str, k: int, n: int) -> None:
        self.tests[name] = Fraction(int(k), int(n))
        self.labels[name] = label

    def rows(self) -> list[list[str]]:
        return [[self.labels[k], f.text()] for k, f in self.tests.items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "behavior": self.behavior,
            "tests": {k: {"label": self.labels[k], **f.to_dict()} for k, f in self.tests.items()},
            "values": self.values,
        }


def _artanh(b: Any) -> Any:
    return np.arctanh(np.clip(np.asarray(b, dtype=float), -B_EDGE, B_EDGE))


def _behavior_tests(v: Verdict, t: pd.DataFrame, summary: Summary, limit: float) -> None:
    at0 = t[t["r_e"] == 0.0].set_index("id")
    rows = t[t["r_e"] != 0.0].copy()
    rows["b0"] = rows["id"].map(at0["b"])
    rows["lo0"] = rows["id"].map(at0["log_odds"])
    both = rows.dropna(subset=["log_odds", "lo0"])
    holds = both["log_odds"] >= both["lo0"] + both["margin"] - IDENTITY_TOL * (1 + both["margin"].abs())
    v.add(
        "identity", "realised-margin identity B ≥ tanh(m/2 + artanh B0) (must hold)", holds.sum(), len(both)
    )
    v.points = pd.DataFrame(
        {
            "r_e": rows["r_e"],
            "id": rows["id"],
            "margin": rows["margin"],
            "lift": _artanh(rows["b"]) - _artanh(rows["b0"]),
        }
    )
    pos = rows[rows["r_e"] > 0]
    per_q = pos.groupby("id")
    hard = per_q["margin"].min() > 0
    v.add(
        "hard_margin",
        "queries with a hard margin (m > 0 at every r_e > 0, Assumption 2)",
        hard.sum(),
        len(hard),
    )
    small = pos[pos["r_e"] <= limit]
    slopes, linear = [], 0
    for _, d in small.groupby("id"):
        if len(d) < 2:
            continue
        r, m = d["r_e"].to_numpy(float), d["margin"].to_numpy(float)
        s = float(r @ m / (r @ r))
        tot = float(((m - m.mean()) ** 2).sum())
        r2 = 1 - float(((m - s * r) ** 2).sum()) / tot if tot > 0 else 1.0
        slopes.append(s)
        linear += r2 >= LINEAR_R2
    v.add(
        "margin_linear",
        f"queries whose margin is linear in r_e (R² ≥ {LINEAR_R2}, Assumption 1-2)",
        linear,
        len(slopes),
    )
    v.values["median_margin_slope"] = float(np.median(slopes)) if slopes else None
    for name, param in (("min", "delta_lambda_min_lower"), ("mean", "delta_lambda_mean_lower")):
        dl = summary.value(param)
        v.values[f"delta_lambda_{name}"] = dl
        if dl is None:
            continue
        d = pos.dropna(subset=["b0"])
        bound = np.tanh(max(dl, 0.0) * d["r_e"] / 2 + _artanh(d["b0"]))
        v.add(
            f"theorem1_{name}",
            f"rows r_e > 0 where Theorem 1 (eq. 27) holds with the {name}-based Δλ = {dl:.3g}",
            (d["b"] >= bound - 1e-12).sum(),
            len(d),
        )
    near = rows[rows["r_e"].abs() <= limit].dropna(subset=["log_odds", "lo0"])
    anti, n_q = 0, 0
    for _, d in near.groupby("id"):
        r, y = d["r_e"].to_numpy(float), (d["log_odds"] - d["lo0"]).to_numpy(float)
        n_q += 1
        anti += float(r @ y / (r @ r)) < 0
    v.add("anti_steerable", "queries steered the wrong way near 0 (slope of log(P+/P−) < 0)", anti, n_q)


def _helpfulness_tests(v: Verdict, realised: pd.DataFrame, help_t: pd.DataFrame) -> None:
    from steerbounds.bounds import helpfulness_upper_bound_components

    d = realised.merge(help_t[["r_e", "id", "p_correct"]], on=["r_e", "id"]).dropna(subset=["c_plus"])
    d = d[(d["p0"] > 0) & (d["r_e"] != 0)]
    if d.empty:
        return
    lam = d["dr_norm"].to_numpy(float) / d["r_e"].abs().to_numpy(float)  # λ|r_e| = |δr|
    r_e, p0, p_plus, p_minus, c_plus, c_minus = (
        d[c].to_numpy(float) for c in ("r_e", "p0", "p_plus", "p_minus", "c_plus", "c_minus")
    )
    for eq in (33, 34):
        bound = np.asarray(
            helpfulness_upper_bound_components(r_e, p0, p_plus, p_minus, c_plus, c_minus, lam, equation=eq)
        )
        ok = d["p_correct"].to_numpy(float) <= bound * (1 + 1e-9) + 1e-12
        v.add(
            f"theorem2_eq{eq}",
            f"steered rows where P(correct) ≤ eq. {eq} at the realised P±, c± (must hold)",
            ok.sum(),
            len(d),
        )


def validate_run(tables: Tables, summary: Summary | None = None) -> Verdict:
    """Every per-query test the run's records allow (module docstring)."""
    summary = summary or summarize(tables)
    cfg = tables.manifest.get("config", {})
    v = Verdict(behavior=str(cfg.get("behavior", "")))
    grid = np.asarray(tables.manifest.get("grid") or cfg.get("coefficients") or [], dtype=float)
    if not tables.has("behavior") and not tables.has("realised"):
        raise InputError(
            "run: the sweep has neither behaviour nor logit-noise records to test (measure behavior, sigma)"
        )
    limit = summary.fit_max_abs if summary.fit_max_abs is not None else fit_range(grid, None)
    if tables.has("behavior"):
        _behavior_tests(v, tables["behavior"], summary, limit)
    if tables.has("realised") and tables.has("helpfulness"):
        _helpfulness_tests(v, tables["realised"], tables["helpfulness"])
    return v


def plot_margins(verdicts: list[tuple[str, Verdict]], path: str) -> None:
    """Fig. 2b from real queries: artanh B − artanh B0 against the realised margin m,
    one panel per run, with the identity's line m/2 (every point lies on or above it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steerbounds import io

    fig, axes = plt.subplots(1, len(verdicts), figsize=(4.4 * len(verdicts), 3.9), squeeze=False)
    for ax, (name, v) in zip(axes[0], verdicts, strict=True):
        p = v.points
        if p.empty:
            ax.text(0.5, 0.5, "no behaviour records", ha="center", transform=ax.transAxes)
            continue
        sc = ax.scatter(p["margin"], p["lift"], c=p["r_e"], s=9, cmap="coolwarm", alpha=0.8)
        xs = np.linspace(float(p["margin"].min()), float(p["margin"].max()), 50)
        ax.plot(xs, xs / 2, "k--", lw=1.2, label="m/2 (the identity's bound)")
        ax.set_xlabel("realised margin m = min₊ u − max₋ u (logits)", fontsize=8)
        ax.set_ylabel("artanh B − artanh $B_0$", fontsize=8)
        ident = v.tests.get("identity")
        ax.set_title(f"{name}\nabove the line: {ident.text() if ident else '–'}", fontsize=8)
        fig.colorbar(sc, ax=ax, label="$r_e$")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=7, frameon=False)
    fig.suptitle("Fig. 2b from real queries — Theorem 1's identity on every (query, $r_e$) row", fontsize=9)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
