"""Fig. 1: the alignment/helpfulness tradeoff and the efficient regime, from this run's fits."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, CHAT, main, missing_panel, new_figure, save_figure
from steerbounds.paper_figs.plots import title
from steerbounds.paper_figs.tradeoff import regime

PANELS = ((CHAT, "harmful"), (CHAT, "racist"), (BASE, "harmless"), (BASE, "not_racist"))


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 1: fitted alignment (Thm 1) and helpfulness (Thm 2) vs |r_e| with the efficient regime."""
    fig, axes = new_figure(len(PANELS), ncols=2, height=3.6)
    for ax, (model, behavior) in zip(axes, PANELS):
        reg = regime(run_dir, model, behavior)
        if reg is None:
            missing_panel(ax, f"fits for {model}/{behavior}")
            continue
        plan = reg["plan"]
        ax.plot(
            plan.r_e,
            (1 + plan.behavior) / 2,
            color="C0",
            label=f"alignment P(B=+1), Thm 1 fit to next-token B (Δλ={reg['delta_lambda']:.3g}, $B_0$={reg['b0']:.2f})",
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
            label=f"efficient regime (planner): |r_e| ≤ {reg['efficient_end']:.3g}",
        )
        ax.set_ylim(0, 1.02)
        sign = "+" if reg["direction"] > 0 else "−"
        ax.set_xlabel(f"|r_e| (steering toward +1 = {sign}r_e)", fontsize=8)
        ax.set_ylabel("probability", fontsize=8)
        ax.set_title(title(model, behavior), fontsize=9)
        ax.legend(fontsize=6, loc="lower left")
    fig.suptitle(
        "Fig. 1 — linear alignment gain vs quadratic helpfulness loss: the bounds at this run's fitted "
        "parameters, efficient regime from bounds.planner.plan_tradeoff",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig01_tradeoff")


if __name__ == "__main__":
    raise SystemExit(main(make))
