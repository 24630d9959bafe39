"""Fig. 7 — |U δr| vs r_e per MMLU subject with fitted λ."""

from __future__ import annotations

from steerbounds.paper_figs.common import CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import lambda_panel


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 7 — |U δr| vs r_e per MMLU subject with fitted λ."""
    fig, axes = new_figure(1, width=5.2, height=4.0)
    lambda_panel(axes[0], run_dir, CHAT, "racist", average=False)
    fig.suptitle(
        "Fig. 7 — |U δr| vs r_e per MMLU subject with fitted λ (chat model, racist vectors)", fontsize=8.5
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig07" + "_lambda")


if __name__ == "__main__":
    raise SystemExit(main(make))
