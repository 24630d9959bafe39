"""Panel builders shared by several figure scripts (behaviour, helpfulness, λ, noise, clusters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from steerbounds.paper_figs.common import (
    BEHAVIOR_LABEL,
    MODEL_LABEL,
    dense_grid,
    errorbar,
    fits,
    missing_panel,
    read_table,
)

MMLU_TASKS = ("mmlu-international_law", "mmlu-medical_genetics", "mmlu-high_school_computer_science")
TASK_LABEL = {
    "mmlu-international_law": "international law",
    "mmlu-medical_genetics": "medical genetics",
    "mmlu-high_school_computer_science": "HS computer science",
    "arithmetic": "arithmetic",
    "facts": "facts (capitals)",
}
XLABEL = "steering coefficient $r_e$ (norm of the vector added per layer)"


def title(model: str, behavior: str) -> str:
    return f"{MODEL_LABEL[model]}\n{BEHAVIOR_LABEL[behavior]} vector"


def behavior_panel(ax: Any, run_dir: str, model: str, behavior: str) -> None:
    """Fig. 4 panel: measured behaviour expectation (generation + judge, and next-token
    eq. 3) with the fitted Theorem 1 curve (eq. 5)."""
    from steerbounds.bounds import behavior_lower_bound

    t = read_table(run_dir, "behavior", model, behavior)
    nt = read_table(run_dir, "behavior_nexttoken", model, behavior)
    if t is None and nt is None:
        missing_panel(ax, f"behaviour {model}/{behavior}")
        return
    if t is not None:
        errorbar(ax, t["r_e"], t["mean"], t["sem"], color="C0", label=f"generated + judged (n={t['n']})")
        fit = fits(run_dir).get("behavior", {}).get(f"{model}/{behavior}", {}).get("stated")
        if fit and "delta_lambda" in fit:
            x = dense_grid(t["r_e"])
            y = np.asarray(
                behavior_lower_bound(
                    fit.get("direction", 1.0) * x, fit["b0"], fit["delta_lambda"], form="stated"
                )
            )
            ax.plot(
                x,
                y,
                color="C1",
                lw=1.8,
                label=f"Thm 1 fit: Δλ={fit['delta_lambda']:.3g}, $B_0$={fit['b0']:.2f}",
            )
    if nt is not None:
        errorbar(ax, nt["r_e"], nt["mean"], nt["sem"], color="0.5", ls="--", label="next-token (eq. 3)")
        fit = (
            fits(run_dir)
            .get("behavior", {})
            .get(f"{model}/{behavior}", {})
            .get("nexttoken", {})
            .get("stated")
        )
        if fit and "delta_lambda" in fit:
            x = dense_grid(nt["r_e"])
            y = np.asarray(
                behavior_lower_bound(
                    fit.get("direction", 1.0) * x, fit["b0"], fit["delta_lambda"], form="stated"
                )
            )
            ax.plot(
                x,
                y,
                color="C3",
                lw=1.2,
                ls=":",
                label=f"Thm 1 fit to next-token: Δλ={fit['delta_lambda']:.3g}, $B_0$={fit['b0']:.2f}",
            )
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel(XLABEL, fontsize=8)
    ax.set_ylabel(f"behaviour expectation B ({BEHAVIOR_LABEL[behavior]} = +1)", fontsize=8)
    ax.set_title(title(model, behavior), fontsize=9)
    ax.legend(fontsize=6.5, loc="best")


def helpfulness_panel(
    ax: Any,
    run_dir: str,
    model: str,
    behavior: str,
    tasks: Sequence[str],
    metric: str,
    fit_task: str | None,
    chance: float | None,
) -> None:
    """Fig. 5/13/14 panel: helpfulness vs r_e per task; Theorem 2 (eq. 6) fitted on ``fit_task``."""
    from steerbounds.bounds import helpfulness_upper_bound

    drew = False
    for i, task in enumerate(tasks):
        t = read_table(run_dir, "helpfulness", model, behavior, task)
        if t is None or metric not in t:
            continue
        errorbar(
            ax,
            t["r_e"],
            t[metric]["mean"],
            t[metric]["sem"],
            color=f"C{i}",
            label=f"{TASK_LABEL.get(task, task)} (n={t['n']})",
        )
        drew = True
        if task == fit_task:
            entry = fits(run_dir).get("helpfulness", {}).get(f"{model}/{behavior}/{task}", {}).get(metric, {})
            fit = entry.get("fit") if entry else None
            if fit and "lam_sigma_beta" in fit:
                x = dense_grid(t["r_e"])
                y = np.asarray(
                    helpfulness_upper_bound(x, fit["p0"], fit["alpha_eff"], 0.0, fit["lam_sigma_beta"])
                )
                if fit.get("floor"):
                    y = (1.0 - fit["floor"]) * y + fit["floor"]
                ax.plot(
                    x,
                    y,
                    color="red",
                    lw=1.6,
                    label=f"Thm 2 fit ({TASK_LABEL.get(task, task)}): λσβ={fit['lam_sigma_beta']:.3g}, "
                    f"α(1-ε)={fit['alpha_eff']:.2f}",
                )
    if not drew:
        missing_panel(ax, f"helpfulness {model}/{behavior} ({metric})")
        return
    if chance is not None:
        ax.axhline(chance, color="0.6", ls=":", lw=1, label=f"1/N = {chance:g} (Cor. 2)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(XLABEL, fontsize=8)
    ylabel = {
        "abcd": "P(correct) over A-D",
        "full_vocab": "P(correct) over full vocabulary",
        "accuracy": "accuracy (greedy token, full vocabulary)",
    }[metric]
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title(model, behavior), fontsize=9)
    ax.legend(fontsize=6, loc="best")


def lambda_panel(ax: Any, run_dir: str, model: str, behavior: str, *, average: bool) -> None:
    """Figs. 6-8: mean |U δr| vs r_e per MMLU subject (or averaged), with the fitted slope λ."""
    t = read_table(run_dir, "lambda", model, behavior)
    if t is None:
        missing_panel(ax, f"|U δr| {model}/{behavior}")
        return
    r = np.asarray(t["r_e"])
    fit = fits(run_dir).get("lambda", {}).get(f"{model}/{behavior}", {})
    tasks = [k for k in MMLU_TASKS if k in t["tasks"]]
    if average:
        per_q = np.concatenate([np.asarray(t["tasks"][k]["udr_norm"]) for k in tasks], axis=1)
        m = per_q.mean(1)
        se = per_q.std(1, ddof=1) / np.sqrt(per_q.shape[1])
        errorbar(ax, r, m, se, color="C0", label=f"MMLU, 3 subjects (n={per_q.shape[1]})")
        lam = float(np.mean([fit[k]["lam_logits"] for k in tasks if k in fit])) if fit else None
        if lam:
            ax.plot(r, lam * np.abs(r), color="C1", label=f"λ|r_e|, λ={lam:.3g} (mean of subjects)")
    else:
        for i, k in enumerate(tasks):
            per_q = np.asarray(t["tasks"][k]["udr_norm"])
            errorbar(
                ax,
                r,
                per_q.mean(1),
                per_q.std(1, ddof=1) / np.sqrt(per_q.shape[1]),
                color=f"C{i}",
                label=TASK_LABEL[k],
            )
            if k in fit:
                ax.plot(
                    r,
                    fit[k]["lam_logits"] * np.abs(r),
                    color=f"C{i}",
                    ls="--",
                    lw=1,
                    label=f"fit λ={fit[k]['lam_logits']:.3g} (R²={fit[k]['r2_small']:.3f})",
                )
    ax.set_xlabel(XLABEL, fontsize=8)
    ax.set_ylabel("|U δr| (logit units)", fontsize=8)
    ax.set_title(title(model, behavior), fontsize=9)
    ax.legend(fontsize=6.5)


def noise_panels(ax_hist: Any, ax_sigma: Any, run_dir: str, model: str, behavior: str) -> None:
    """Figs. 9-10: histogram of ⟨δr, Uᵀ(e_i − e_correct)⟩ (top-10 tokens) and its std vs r_e."""
    t = read_table(run_dir, "logit_noise", model, behavior)
    if t is None or not t["rows"]:
        missing_panel(ax_hist, f"logit noise {model}/{behavior}")
        missing_panel(ax_sigma, f"logit noise {model}/{behavior}")
        return
    r = np.asarray(t["r_e"])
    proj = np.stack([np.asarray(row["projections"]) for row in t["rows"]], axis=1)  # (K, Q, T')
    from scipy import stats

    chosen = [k for k in np.argsort(-np.abs(r)) if r[k] > 0][:2][::-1]
    for j, k in enumerate(chosen):
        vals = proj[k].ravel()
        ax_hist.hist(vals, bins=30, density=True, alpha=0.45, color=f"C{j}", label=f"$r_e$={r[k]:.3g}")
        xs = np.linspace(vals.min(), vals.max(), 200)
        ax_hist.plot(xs, stats.norm.pdf(xs, vals.mean(), vals.std(ddof=1)), color=f"C{j}", lw=1.2)
    ax_hist.set_xlabel("⟨δr, Uᵀ(e_i − e_correct)⟩ (logits), top-10 tokens", fontsize=8)
    ax_hist.set_ylabel("density (normal fit as line)", fontsize=8)
    ax_hist.set_title(title(model, behavior), fontsize=9)
    ax_hist.legend(fontsize=6.5)
    std = np.array([proj[k].ravel().std(ddof=1) for k in range(len(r))])
    ax_sigma.plot(r, std, "o-", ms=3.5, color="C0", label=f"std over {proj.shape[1]} questions × top-10")
    sig = fits(run_dir).get("sigma", {}).get(f"{model}/{behavior}")
    if sig:
        ax_sigma.plot(
            r,
            sig["lam_sigma_pooled"] * np.abs(r),
            color="C1",
            label=f"slope = λσ (pooled) = {sig['lam_sigma_pooled']:.3g}\n"
            f"within-query λσ = {sig['lam_sigma']:.3g}",
        )
    ax_sigma.set_xlabel(XLABEL, fontsize=8)
    ax_sigma.set_ylabel("std of logit-difference change", fontsize=8)
    ax_sigma.set_title(title(model, behavior), fontsize=9)
    ax_sigma.legend(fontsize=6.5)


def cluster_panel(ax: Any, run_dir: str, model: str, behavior: str) -> None:
    """Figs. 11-12: mean separation ⟨δr, Uᵀ(e_good − e_bad)⟩ vs r_e for three prompts, with the
    lower bounding line Δλ·r_e (eq. 11)."""
    t = read_table(run_dir, "clusters", model, behavior)
    if t is None or not t["queries"]:
        missing_panel(ax, f"clusters {model}/{behavior}")
        return
    r = np.asarray(t["r_e"])
    dl = fits(run_dir).get("delta_lambda", {}).get(f"{model}/{behavior}", [])
    for i, q in enumerate(t["queries"]):
        label = q["text"][:38] + ("…" if len(q["text"]) > 38 else "")
        ax.plot(r, q["mean_sep"], "o-", ms=3.5, color=f"C{i}", label=label)
    if dl:
        lower = min(d["mean_sep_lower"] for d in dl)
        pos = r[r >= 0]
        ax.plot(pos, lower * pos, "k--", lw=1.2, label=f"lower line Δλ·r_e, Δλ={lower:.3g}")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_xlabel(XLABEL, fontsize=8)
    ax.set_ylabel("mean ⟨δr, Uᵀe_good⟩ − mean ⟨δr, Uᵀe_bad⟩ (logits)", fontsize=7.5)
    ax.set_title(
        title(model, behavior) + f"\n(good/bad = top-{t['top_k']} tokens with/without steering)", fontsize=8.5
    )
    ax.legend(fontsize=6)
