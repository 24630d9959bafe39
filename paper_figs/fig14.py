"""Fig. 14: MMLU helpfulness as accuracy (greedy next token over the full vocabulary) vs r_e (App. F.4)."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import MMLU_TASKS, helpfulness_panel

PANELS = ((BASE, "harmless"), (BASE, "not_racist"), (CHAT, "harmful"), (CHAT, "racist"))


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 14: MMLU accuracy (greedy next token over the full vocabulary) vs r_e."""
    fig, axes = new_figure(len(PANELS), ncols=len(PANELS), height=3.6)
    for ax, (model, behavior) in zip(axes, PANELS):
        helpfulness_panel(ax, run_dir, model, behavior, MMLU_TASKS, "accuracy", MMLU_TASKS[0], None)
    fig.suptitle(
        "Fig. 14 — MMLU accuracy (greedy next token over the full vocabulary) vs steering coefficient (Thm 2 fitted on international law; "
        "error bars: SEM)",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig14" + "_accuracy")


if __name__ == "__main__":
    raise SystemExit(main(make))
