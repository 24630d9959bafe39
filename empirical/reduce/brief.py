"""The plain summary of a sweep, one screen for a person (what ``steerbounds sweep`` prints).

How the behaviour expectation B and helpfulness moved over the grid, the theory's
parameters beside the paper's ranges, the per-query verdicts one line each
(:mod:`~steerbounds.empirical.reduce.verdicts`), and the coefficient the Theorem 1 fit
gives for a target B* with the helpfulness bound there (Theorem 2's fit). Everything
comes from the one reduction; the full table is ``summary.json``.
"""

from __future__ import annotations

import math
from typing import Any

from tabulate import tabulate

from steerbounds.empirical.reduce.summary import Estimate, Summary
from steerbounds.empirical.reduce.verdicts import Verdict

# The paper's ranges (Llama-2-13B; App. A.3, §4), for comparison only.
PAPER = {
    "udr_slope": "40–60",
    "lam_sigma": "0.5 (chat), 0.1–0.2 (base)",
    "lam_sigma_beta": "0.33–0.66 (fitted)",
    "delta_lambda_fit": "0.5–3 (fitted)",
    "delta_lambda_mean_lower": "0.1–0.4 (measured)",
}
VERDICT_LINES = (
    "identity",
    "hard_margin",
    "margin_linear",
    "theorem1_mean",
    "anti_steerable",
    "theorem2_eq33",
)


def _v(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _curve_table(summary: Summary) -> list[list[str]]:
    names = [
        ("next_token", "B next-token"),
        ("judged_greedy", "B judged"),
        ("full_vocab", "P(correct)"),
        ("choices", "P(correct) of choices"),
    ]
    curves = {label: summary.curves[n].set_index("r_e")["mean"] for n, label in names if n in summary.curves}
    grid = sorted({r for c in curves.values() for r in c.index})
    rows = [[f"{r:.3g}", *(_v(c.get(r)) for c in curves.values())] for r in grid]
    return [["r_e", *curves], *rows]


def _parameter_rows(summary: Summary) -> list[list[str]]:
    def est(name: str) -> str:
        e: Estimate = summary.parameter(name)
        return e.text(3) if e.ok else "–"

    t1, t2 = (
        summary.fit("theorem1_next_token"),
        summary.fit("theorem2_full_vocab") or summary.fit("theorem2_choices"),
    )
    return [
        ["λ = |d r^(L)/d r_e| at 0 (Assumption 1)", est("lambda"), "–"],
        ["slope of ‖U δr‖ (App. A.3)", est("udr_slope"), PAPER["udr_slope"]],
        ["λσ (Assumption 3)", est("lam_sigma"), PAPER["lam_sigma"]],
        ["λσβ, Theorem 2 fit (eq. 6)", _v(t2["lam_sigma_beta"]) if t2 else "–", PAPER["lam_sigma_beta"]],
        [
            "Δλ, Theorem 1 fit (eq. 27, r_e ≥ 0)",
            _v(t1["delta_lambda"]) if t1 else "–",
            PAPER["delta_lambda_fit"],
        ],
        [
            "Δλ measured (cluster separation)",
            est("delta_lambda_mean_lower"),
            PAPER["delta_lambda_mean_lower"],
        ],
    ]


def plan_line(summary: Summary, target: float) -> str:
    """The coefficient for B* by the Theorem 1 fit and the Theorem 2 bound there."""
    from steerbounds.bounds import helpfulness_upper_bound, required_coefficient

    t1 = summary.fit("theorem1_next_token")
    if t1 is None or not t1["delta_lambda"] > 0:
        return f"no coefficient for B* = {target:g}: the next-token behaviour does not rise on this grid"
    b0 = min(max(t1["b0"], -1 + 1e-9), 1 - 1e-9)
    r = float(required_coefficient(target, b0, t1["delta_lambda"]))
    line = f"coefficient for B* = {target:g} (Theorem 1 fit, eq. 27 inverted): r_e = {r:.3g}"
    name = "theorem2_full_vocab" if summary.fit("theorem2_full_vocab") else "theorem2_choices"
    t2 = summary.fit(name)
    if t2 is not None:
        floor = t2.get("floor") or 0.0
        h, h0 = (
            (1 - floor)
            * float(helpfulness_upper_bound(x, t2["p0"], t2["alpha_eff"], 0.0, t2["lam_sigma_beta"]))
            + floor
            for x in (r, 0.0)
        )
        line += f"; helpfulness bound there {h:.3g}, {100 * (h - h0) / h0:+.0f} % of its value at 0"
    return line + " — check it on the model with steerbounds calibrate"


def brief(manifest: dict[str, Any], summary: Summary, verdict: Verdict | None, *, target: float) -> str:
    """The one-screen summary (module docstring)."""
    cfg = manifest.get("config", {})
    grid = manifest.get("grid") or cfg.get("coefficients") or []
    layers = manifest.get("layers") or []
    scale = manifest.get("scale", {})
    head = (
        f"{manifest.get('model', {}).get('name', '?')}, {summary.behavior} vector at blocks "
        f"{layers[0] if layers else '?'}–{layers[-1] if layers else '?'}, {len(grid)} coefficients "
        f"r_e ∈ [{min(grid, default=0):.3g}, {max(grid, default=0):.3g}] (the model's scale r_max = "
        f"{_v(scale.get('r_max'))}), task {summary.task}"
    )
    curve = _curve_table(summary)
    parts = [
        head,
        "",
        "How the behaviour expectation B (eq. 3) and helpfulness (eq. 4) moved:",
        tabulate(curve[1:], headers=curve[0]),
        "",
        "The theory's parameters beside the paper's (Llama-2-13B):",
        tabulate(_parameter_rows(summary), headers=["", "this run", "paper"]),
    ]
    if verdict is not None:
        lines = [[verdict.labels[k], verdict.tests[k].text()] for k in VERDICT_LINES if k in verdict.tests]
        parts += ["", "Per query (steerbounds validate):", tabulate(lines, tablefmt="plain")]
    parts += ["", plan_line(summary, target)]
    return "\n".join(parts)
