"""Fig. 5: helpfulness (P(correct) over A-D) vs r_e with the Theorem 2 curve; arithmetic and facts."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import MMLU_TASKS, helpfulness_panel

PANELS = ((BASE, "harmless"), (BASE, "not_racist"), (CHAT, "harmful"), (CHAT, "racist"))


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 5: helpfulness vs r_e (MMLU A-D; arithmetic and facts) with the Theorem 2 fit."""
    fig, axes = new_figure(2 * len(PANELS), ncols=len(PANELS), height=3.6)
    for ax, (model, behavior) in zip(axes[: len(PANELS)], PANELS):
        helpfulness_panel(ax, run_dir, model, behavior, MMLU_TASKS, "abcd", MMLU_TASKS[0], 0.25)
    for ax, (model, behavior) in zip(axes[len(PANELS) :], PANELS):
        helpfulness_panel(ax, run_dir, model, behavior, ("arithmetic", "facts"), "full_vocab", "facts", None)
    fig.suptitle(
        "Fig. 5 — helpfulness vs steering coefficient. Top: MMLU, P(correct) renormalised over A-D "
        "(Thm 2 fitted on international law). Bottom: arithmetic and facts, P(correct first token) "
        "over the full vocabulary (Thm 2 fitted on facts). Error bars: SEM",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig05_helpfulness")


if __name__ == "__main__":
    raise SystemExit(main(make))
