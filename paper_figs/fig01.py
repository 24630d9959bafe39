"""Fig. 1: the alignment/helpfulness tradeoff and the efficient regime, from this run's fits."""

from __future__ import annotations

from pathlib import Path

from steerbounds.paper_figs.common import (
    BASE,
    CHAT,
    legend_below,
    missing_panel,
    new_figure,
    save_figure,
    title,
)
from steerbounds.paper_figs.data import PaperData
from steerbounds.paper_figs.tradeoff import regime

PANELS = ((CHAT, "harmful"), (CHAT, "racist"), (BASE, "harmless"), (BASE, "not_racist"))


def make(data: PaperData, out_dir: str | Path) -> list[Path]:
    """Fig. 1: fitted alignment (Thm 1) and helpfulness (Thm 2) vs r_e with the efficient regime."""
    fig, axes = new_figure(len(PANELS), ncols=2, height=4.4)
    for ax, (model, behavior) in zip(axes, PANELS, strict=True):
        reg = regime(data, model, behavior)
        if reg is None:
            missing_panel(ax, f"fits for {model}/{behavior}")
            continue
        plan = reg["plan"]
        ax.plot(
            plan.r_e,
            (1 + plan.behavior) / 2,
            color="C0",
            label=f"alignment P(B=+1), Thm 1 fit to next-token B "
            f"(Δλ={reg['delta_lambda']:.3g}, $B_0$={reg['b0']:.2f})",
        )
        ax.plot(
            plan.r_e,
            plan.helpfulness,
            color="C3",
            label=f"helpfulness (facts), Thm 2 fit (λσβ={reg['lam_sigma_beta']:.3g})",
        )
        end = min(reg["efficient_end"], float(plan.r_e[-1]))
        ax.axvspan(
            0,
            end,
            color="C2",
            alpha=0.15,
            label=f"efficient regime: 0 ≤ $r_e$ ≤ {reg['efficient_end']:.3g}",
        )
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("steering coefficient $r_e$ (toward the behaviour, B = +1)", fontsize=8)
        ax.set_ylabel("probability", fontsize=8)
        ax.set_title(title(model, behavior), fontsize=9)
        legend_below(ax, fontsize=6)
    fig.suptitle(
        "Fig. 1 — linear alignment gain vs quadratic helpfulness loss: the bounds at this run's fitted "
        "parameters; shaded: where the marginal alignment gain exceeds the marginal helpfulness loss",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig01_tradeoff")
