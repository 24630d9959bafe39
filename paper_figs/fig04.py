"""Fig. 4: behaviour expectation vs r_e with the fitted Theorem 1 curve (eq. 5), both models."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import behavior_panel

PANELS = ((BASE, "harmless"), (BASE, "not_racist"), (CHAT, "harmful"), (CHAT, "racist"))


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 4: behaviour expectation vs r_e with the fitted Theorem 1 curve."""
    fig, axes = new_figure(len(PANELS), ncols=2, height=3.6)
    for ax, (model, behavior) in zip(axes, PANELS):
        behavior_panel(ax, run_dir, model, behavior)
    fig.suptitle("Fig. 4 — behaviour expectation vs steering coefficient (error bars: SEM)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig04_behavior")


if __name__ == "__main__":
    raise SystemExit(main(make))
