"""The efficient steering regime of a run (Fig. 1; §3 "A tradeoff between alignment and usefulness").

Feeds this run's Theorem 1 fit (Δλ, B0; the proved form eq. 27, on r_e ≥ 0) of the
next-token behaviour curve (eq. 3: the judged generations of the quick run are few
and short, and saturate) and Theorem 2 fit (λσβ, α(1−ε), P0) of the *facts* task
into :func:`steerbounds.bounds.planner.plan_tradeoff`, whose efficient regime is
the set of r_e ≥ 0 where the marginal gain of the behaviour bound exceeds the
marginal loss of the helpfulness bound.

Helpfulness is the facts task (P(correct capital) over the full vocabulary, eq. 6
without a floor): on MMLU both small models sit near the 1/4 chance level, leaving
almost no helpfulness for eq. 6 to describe.
"""

from __future__ import annotations

from typing import Any

from steerbounds.paper_figs.data import PaperData

TRADEOFF_TASK = "facts"


def regime(data: PaperData, model: str, behavior: str) -> dict[str, Any] | None:
    """The planner's result for one model/vector (None without both fits)."""
    from steerbounds.bounds.planner import plan_tradeoff

    sb, sh = data.summary(model, behavior), data.summary(model, behavior, TRADEOFF_TASK)
    fb = sb.fit("theorem1_next_token") if sb is not None else None
    fh = sh.fit("theorem2_full_vocab") if sh is not None else None
    r_max = data.grids().get(f"{model}__{behavior}", {}).get("r_max")
    if fb is None or fh is None or not r_max:
        return None
    plan = plan_tradeoff(
        b0=fb["b0"],
        delta_lambda=fb["delta_lambda"],
        p0=fh["p0"],
        alpha=fh["alpha_eff"],
        eps=0.0,
        lam_sigma_beta=fh["lam_sigma_beta"],
        form="proved",
        r_max=float(r_max),
        n_grid=401,
    )
    return {
        "model": model,
        "behavior": behavior,
        "task": TRADEOFF_TASK,
        "efficient_end": float(plan.efficient_end),
        "crossings": list(plan.crossings),
        "linear_gain": float(plan.linear_gain),
        "quadratic_loss": plan.quadratic_loss,
        "delta_lambda": fb["delta_lambda"],
        "b0": fb["b0"],
        "lam_sigma_beta": fh["lam_sigma_beta"],
        "alpha_eff": fh["alpha_eff"],
        "p0": fh["p0"],
        "r_max": float(r_max),
        "plan": plan,
    }
