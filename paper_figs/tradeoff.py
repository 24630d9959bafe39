"""The efficient steering regime of a run (Fig. 1; §3 "A tradeoff between alignment and usefulness").

Feeds this run's fitted Theorem 1 parameters (Δλ, B0; stated form eq. 5, as the
paper fits) of the next-token behaviour curve (eq. 3: the judged generations of
the quick run are few and short, and saturate) and Theorem 2 parameters (λσβ, α(1−ε), P0) into
:func:`steerbounds.bounds.planner.plan_tradeoff`, whose efficient regime is the
set of r_e ≥ 0 where the marginal gain of the behaviour bound exceeds the marginal
loss of the helpfulness bound (r_e measured in the direction that raises the
behaviour: the fit's ``direction``).

Helpfulness here is the *facts* task (P(correct capital) over the full
vocabulary, eq. 6 without a floor): on MMLU both small models sit near the 1/4
chance level, leaving almost no helpfulness for eq. 6 to describe.
"""

from __future__ import annotations

from typing import Any

from steerbounds.paper_figs.common import fits as read_fits

TRADEOFF_TASK = ("facts", "full_vocab")


def regime(run_dir: str, model: str, behavior: str) -> dict[str, Any] | None:
    """The planner's result for one model/vector from ``fits.json`` (None without both fits)."""
    from steerbounds.bounds.planner import plan_tradeoff

    f = read_fits(run_dir)
    entry = f.get("behavior", {}).get(f"{model}/{behavior}", {})
    fb = (entry.get("nexttoken") or {}).get("stated")
    task, metric = TRADEOFF_TASK
    fh = f.get("helpfulness", {}).get(f"{model}/{behavior}/{task}", {}).get(metric, {}).get("fit")
    r_max = f.get("grids", {}).get(f"{model}__{behavior}", {}).get("r_max")
    if not fb or "delta_lambda" not in fb or not fh or "lam_sigma_beta" not in fh or not r_max:
        return None
    plan = plan_tradeoff(
        b0=fb["b0"],
        delta_lambda=fb["delta_lambda"],
        p0=fh["p0"],
        alpha=fh["alpha_eff"],
        eps=0.0,
        lam_sigma_beta=fh["lam_sigma_beta"],
        form="stated",
        r_max=float(r_max),
        n_grid=401,
    )
    return {
        "model": model,
        "behavior": behavior,
        "task": task,
        "direction": fb.get("direction", 1.0),
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
