"""Fig. 11: separation of good/bad answer-token clusters along δr (chat model, harmful vectors; eqs. 10-11)."""

from __future__ import annotations

from steerbounds.paper_figs.common import CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import cluster_panel


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 11: good/bad cluster separation along δr (chat model, harmful vectors)."""
    fig, axes = new_figure(1, width=5.4, height=4.2)
    cluster_panel(axes[0], run_dir, CHAT, "harmful")
    fig.suptitle(
        "Fig. 11 — separation of good and bad answer tokens along δr (chat model, harmful vectors)",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig11" + "_clusters")


if __name__ == "__main__":
    raise SystemExit(main(make))
