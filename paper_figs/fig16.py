"""Fig. 16: the second model (Gemma-3-270M base): behaviour and full-vocabulary helpfulness vs r_e."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, main, new_figure, save_figure
from steerbounds.paper_figs.plots import MMLU_TASKS, behavior_panel, helpfulness_panel

BEHAVIORS = ("harmless", "not_racist")


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 16: second model — behaviour (Thm 1 fit) and MMLU full-vocabulary helpfulness."""
    fig, axes = new_figure(4, ncols=2, height=3.6)
    for i, behavior in enumerate(BEHAVIORS):
        behavior_panel(axes[i], run_dir, BASE, behavior)
        helpfulness_panel(axes[2 + i], run_dir, BASE, behavior, MMLU_TASKS, "full_vocab", MMLU_TASKS[0], None)
    fig.suptitle(
        "Fig. 16 (with Fig. 15) — second model, Gemma-3-270M base: behaviour (top) and MMLU "
        "P(correct) over the full vocabulary (bottom); error bars: SEM",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig16_second_model")


if __name__ == "__main__":
    raise SystemExit(main(make))
