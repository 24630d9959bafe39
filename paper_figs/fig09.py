"""Fig. 9: logit-noise histograms and their std vs r_e (chat model; Assumption 3, App. A.3)."""

from __future__ import annotations

from steerbounds.paper_figs.common import CHAT, main, new_figure, save_figure
from steerbounds.paper_figs.plots import noise_panels


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 9: logit-noise histograms and σ vs r_e (chat model)."""
    fig, axes = new_figure(4, ncols=2, height=3.5)
    noise_panels(axes[0], axes[2], run_dir, CHAT, "racist")
    noise_panels(axes[1], axes[3], run_dir, CHAT, "harmful")
    fig.suptitle(
        "Fig. 9 — change of token logits minus the correct answer's, top-10 tokens of MMLU "
        "questions (chat model). (a,b) histograms with normal fits; (c,d) std vs r_e, "
        "slope = λσ",
        fontsize=8.5,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig09" + "_logit_noise")


if __name__ == "__main__":
    raise SystemExit(main(make))
