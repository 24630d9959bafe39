"""The panel kinds of the declared figures (:mod:`steerbounds.paper_figs.catalog`).

Each draws one axes from a sweep's tables and its summary (the one reduction):

* ``behavior``    — behaviour expectation vs r_e (judged greedy generations and the
  next-token form, eq. 3) with the Theorem 1 fit (eq. 27) on r_e ≥ 0 (Fig. 4, 16);
* ``helpfulness`` — P(correct) vs r_e per task with the Theorem 2 fit (eq. 6, with
  Corollary 2's 1/N floor over the choices) on one of them (Figs. 5, 13, 14, 16);
* ``lambda``      — |U δr| vs |r_e| with the fitted slope (App. A.3, Figs. 6-8);
* ``noise_hist`` / ``noise_std`` — the logit-noise histogram with a normal fit, and
  its std vs r_e with the slope λσ (Assumption 3; Figs. 9-10);
* ``clusters``    — good/bad answer-cluster separation along δr for a few prompts
  with the lower line Δλ·r_e (eqs. 10-11; Figs. 11-12).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from steerbounds.paper_figs.common import (
    BEHAVIOR_LABEL,
    MMLU_SUBJECTS,
    TASK_LABEL,
    XLABEL,
    dense_grid,
    errorbar,
    legend_below,
    missing_panel,
    title,
)
from steerbounds.paper_figs.data import PaperData

# helpfulness metric → (summary curve, y label, Theorem 2 fit of the summary)
METRICS: dict[str, tuple[str, str, str | None]] = {
    "choices": ("choices", "P(correct) over A-D", "theorem2_choices"),
    "full_vocab": ("full_vocab", "P(correct) over the full vocabulary", "theorem2_full_vocab"),
    "accuracy": ("accuracy_full_vocab", "accuracy (greedy token, full vocabulary)", None),
}
N_CLUSTER_PROMPTS = 3


def _theorem1_line(ax: Any, r: ArrayLike, fit: Mapping[str, Any], of: str, **kw: Any) -> None:
    from steerbounds.bounds import behavior_lower_bound

    x = dense_grid(r, low=0.0)
    y = np.asarray(behavior_lower_bound(x, fit["b0"], fit["delta_lambda"], form="proved"))
    label = f"Thm 1 fit (eq. 27) to {of}: Δλ={fit['delta_lambda']:.3g}, $B_0$={fit['b0']:.2f}"
    ax.plot(x, y, label=label, **kw)


def behavior_panel(ax: Any, data: PaperData, model: str, behavior: str) -> None:
    """Measured behaviour expectation (judged and next-token) with Theorem 1 fits."""
    s = data.summary(model, behavior)
    series = [
        ("judged_greedy", "generated + judged", "C0", "C1"),
        ("next_token", "next-token (eq. 3)", "0.5", "C3"),
    ]
    drawn = False
    for name, label, color, fit_color in series:
        curve = s.curve(name) if s is not None else None
        if curve is None or curve.empty:
            continue
        errorbar(
            ax,
            curve["r_e"],
            curve["mean"],
            curve["sem"],
            color=color,
            label=f"{label} (n={curve['n'].max()})",
        )
        fit = s.fit(f"theorem1_{name}") if s is not None else None
        if fit is not None:
            _theorem1_line(ax, curve["r_e"], fit, label.split(" (")[0], color=fit_color, lw=1.5)
        drawn = True
    if not drawn:
        missing_panel(ax, f"behaviour {model}/{behavior}")
        return
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    _finish(ax, model, behavior, f"behaviour expectation B ({BEHAVIOR_LABEL[behavior]} = +1)")


def helpfulness_panel(
    ax: Any,
    data: PaperData,
    model: str,
    behavior: str,
    *,
    tasks: Sequence[tuple[str, str]],
    metric: str,
    fit_on: tuple[str, str] | None = None,
    chance: float | None = None,
) -> None:
    """Helpfulness vs r_e per (sweep task, group) with the Theorem 2 fit on ``fit_on``."""
    from steerbounds.bounds import helpfulness_upper_bound

    curve_name, ylabel, fit_name = METRICS[metric]
    drawn = False
    for i, (task, group) in enumerate(tasks):
        s = data.summary(model, behavior, task)
        curves = s.group_curves.get(curve_name) if s is not None else None
        if s is None or curves is None or curves.empty:
            continue
        c = curves[curves["group"] == group]
        if c.empty:
            continue
        errorbar(
            ax,
            c["r_e"],
            c["mean"],
            c["sem"],
            color=f"C{i}",
            label=f"{TASK_LABEL.get(group, group)} (n={c['n'].max()})",
        )
        drawn = True
        fit = s.group_fits.get(fit_name or "", {}).get(group) if fit_on == (task, group) else None
        if fit is not None and "error" not in fit:
            x = dense_grid(c["r_e"])
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
                label=f"Thm 2 fit ({TASK_LABEL.get(group, group)}): λσβ={fit['lam_sigma_beta']:.3g}, "
                f"α(1-ε)={fit['alpha_eff']:.2f}",
            )
    if not drawn:
        missing_panel(ax, f"helpfulness {model}/{behavior} ({metric})")
        return
    if chance is not None:
        ax.axhline(chance, color="0.6", ls=":", lw=1, label=f"1/N = {chance:g} (Cor. 2)")
    ax.set_ylim(-0.02, 1.02)
    _finish(ax, model, behavior, ylabel)


def lambda_panel(ax: Any, data: PaperData, model: str, behavior: str, *, average: bool) -> None:
    """Mean |U δr| vs r_e per MMLU subject (or over all questions) with the fitted slope."""
    s = data.summary(model, behavior)
    if s is None or s.curve("udr_norm") is None:
        missing_panel(ax, f"|U δr| {model}/{behavior}")
        return
    if average:
        c = s.curves["udr_norm"]
        errorbar(ax, c["r_e"], c["mean"], c["sem"], color="C0", label=f"MMLU, 3 subjects (n={c['n'].max()})")
        lam = s.parameter("udr_slope")
        if lam.ok and lam.value is not None:
            r = c["r_e"].to_numpy(float)
            ax.plot(r, lam.value * np.abs(r), color="C1", label=f"slope·|r_e|, slope={lam.value:.3g}")
    else:
        curves = s.group_curves["udr_norm"]
        for i, g in enumerate(x for x in MMLU_SUBJECTS if x in set(curves["group"])):
            c = curves[curves["group"] == g]
            errorbar(ax, c["r_e"], c["mean"], c["sem"], color=f"C{i}", label=TASK_LABEL[g])
            fit = s.group_parameters.get("udr_slope", {}).get(g)
            if fit is not None and fit.ok and fit.value is not None:
                r = c["r_e"].to_numpy(float)
                ax.plot(
                    r,
                    fit.value * np.abs(r),
                    color=f"C{i}",
                    ls="--",
                    lw=1,
                    label=f"fit: slope={fit.value:.3g} (R²={fit.r2:.3f})",
                )
    _finish(ax, model, behavior, "|U δr| (logit units)")


def noise_hist_panel(ax: Any, data: PaperData, model: str, behavior: str) -> None:
    """Histogram of ⟨δr, Uᵀ(e_i − e_correct)⟩ (top-10 tokens) at the two largest r_e > 0,
    with normal densities of the same mean and std."""
    from scipy import stats

    t = data.tables(model, behavior)
    if t is None or not t.has("noise"):
        missing_panel(ax, f"logit noise {model}/{behavior}")
        return
    noise = t["noise"]
    r = sorted({float(c) for c in noise["r_e"] if c > 0})[-2:]
    for j, c in enumerate(r):
        vals = noise.loc[noise["r_e"] == c, "proj"].to_numpy(float)
        ax.hist(vals, bins=30, density=True, alpha=0.45, color=f"C{j}", label=f"$r_e$={c:.3g}")
        xs = np.linspace(vals.min(), vals.max(), 200)
        ax.plot(xs, stats.norm.pdf(xs, vals.mean(), vals.std(ddof=1)), color=f"C{j}", lw=1.2)
    _finish(
        ax,
        model,
        behavior,
        "density (normal fit as line)",
        xlabel="⟨δr, Uᵀ(e_i − e_correct)⟩ (logits), top-10 tokens",
    )


def noise_std_panel(ax: Any, data: PaperData, model: str, behavior: str) -> None:
    """Std of the logit-noise projections (pooled over questions and tokens) vs r_e,
    with the fitted slope λσ."""
    s = data.summary(model, behavior)
    per = s.diagnostics.get("noise_by_coefficient") if s is not None else None
    if s is None or not per:
        missing_panel(ax, f"logit noise {model}/{behavior}")
        return
    r = np.array([d["r_e"] for d in per])
    std = np.array([d["std"] if d["std"] is not None else np.nan for d in per])
    ax.plot(r, std, "o-", ms=3.5, color="C0", label="std over questions × top-10 tokens")
    pooled, within = s.parameter("lam_sigma_pooled"), s.parameter("lam_sigma")
    if pooled.ok and pooled.value is not None:
        ax.plot(
            r,
            pooled.value * np.abs(r),
            color="C1",
            label=f"slope = λσ (pooled) = {pooled.value:.3g}; within-query λσ = {within.text(3)}",
        )
    _finish(ax, model, behavior, "std of logit-difference change")


def clusters_panel(ax: Any, data: PaperData, model: str, behavior: str) -> None:
    """Mean separation ⟨δr, Uᵀ(e_good − e_bad)⟩ vs r_e for the first prompts with both
    clusters at every coefficient, and the lower bounding line Δλ·r_e (eq. 11)."""
    t, s = data.tables(model, behavior), data.summary(model, behavior)
    if t is None or s is None or not t.has("delta"):
        missing_panel(ax, f"clusters {model}/{behavior}")
        return
    d = t["delta"]
    n_coef = d["r_e"].nunique()
    complete = d.dropna(subset=["mean_sep"]).groupby("id")["r_e"].nunique()
    ids = sorted(complete[complete == n_coef].index, key=lambda i: int(i) if str(i).isdigit() else 0)
    prompts = t.manifest.get("prompts", {}).get("behavior", [])
    for i, qid in enumerate(ids[:N_CLUSTER_PROMPTS]):
        q = d[d["id"] == qid].sort_values("r_e")
        text = _user_text(prompts[int(qid)]) if str(qid).isdigit() and int(qid) < len(prompts) else str(qid)
        ax.plot(
            q["r_e"],
            q["mean_sep"],
            "o-",
            ms=3.5,
            color=f"C{i}",
            label=text[:38] + ("…" if len(text) > 38 else ""),
        )
    lower = s.parameter("delta_lambda_mean_lower")
    if lower.ok and lower.value is not None:
        pos = np.sort(d.loc[d["r_e"] >= 0, "r_e"].unique())
        ax.plot(pos, lower.value * pos, "k--", lw=1.2, label=f"lower line Δλ·r_e, Δλ={lower.value:.3g}")
    ax.axhline(0, color="0.8", lw=0.8)
    _finish(
        ax,
        model,
        behavior,
        "mean ⟨δr, Uᵀe_good⟩ − mean ⟨δr, Uᵀe_bad⟩ (logits)",
        subtitle="\n(good/bad = top-40 tokens with/without steering)",
    )


def _user_text(prompt: str) -> str:
    """The instruction inside a chat-formatted prompt (for legends)."""
    for marker in ("<|im_start|>user\n", "user\n"):
        if marker in prompt:
            prompt = prompt.split(marker, 1)[1]
    return prompt.split("<|im_end|>", 1)[0].strip()


def _finish(
    ax: Any,
    model: str,
    behavior: str,
    ylabel: str,
    *,
    xlabel: str = XLABEL,
    subtitle: str = "",
) -> None:
    """Axis labels, the model/vector title and the legend under the axes."""
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title(model, behavior) + subtitle, fontsize=9 if not subtitle else 8.5)
    legend_below(ax)


PANEL_KINDS: dict[str, Callable[..., None]] = {
    "behavior": behavior_panel,
    "helpfulness": helpfulness_panel,
    "lambda": lambda_panel,
    "noise_hist": noise_hist_panel,
    "noise_std": noise_std_panel,
    "clusters": clusters_panel,
}
