"""Fig. 10: logit-noise histograms and their std vs r_e (base model; Assumption 3, App. A.3)."""

from __future__ import annotations

from steerbounds.paper_figs.common import BASE, main, new_figure, save_figure
from steerbounds.paper_figs.plots import noise_panels


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 10: logit-noise histograms and σ vs r_e (base model)."""
    fig, axes = new_figure(4, ncols=2, height=3.5)
    noise_panels(axes[0], axes[2], run_dir, BASE, "not_racist")
    noise_panels(axes[1], axes[3], run_dir, BASE, "harmless")
    fig.suptitle(
        "Fig. 10 — change of token logits minus the correct answer's, top-10 tokens of MMLU "
        "questions (base model). (a,b) histograms with normal fits; (c,d) std vs r_e, "
        "slope = λσ",
        fontsize=8.5,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig10" + "_logit_noise")


if __name__ == "__main__":
    raise SystemExit(main(make))
