"""Fig. 17: HumanEval pass@1 vs r_e (sandboxed execution; App. G)."""

from __future__ import annotations

from pathlib import Path

from steerbounds.paper_figs.common import (
    CHAT,
    XLABEL,
    legend_below,
    missing_panel,
    new_figure,
    save_figure,
    title,
)
from steerbounds.paper_figs.data import PaperData

BEHAVIORS = ("harmful", "racist")


def make(data: PaperData, out_dir: str | Path) -> list[Path]:
    """Fig. 17: HumanEval pass@1 vs r_e for the chat model (harmful and racist vectors)."""
    fig, axes = new_figure(len(BEHAVIORS), height=4.2)
    for ax, behavior in zip(axes, BEHAVIORS, strict=True):
        t, s = data.humaneval(CHAT, behavior), data.humaneval_summary(CHAT, behavior)
        curve = s.curve("pass_at_1") if s is not None else None
        if t is None or curve is None or curve.empty:
            missing_panel(ax, f"HumanEval {CHAT}/{behavior}")
            continue
        records = t["humaneval"]
        ax.errorbar(
            curve["r_e"],
            curve["mean"],
            yerr=curve["sem"].fillna(0.0),
            marker="o",
            ms=4,
            capsize=3,
            label=f"pass@1, greedy (n={curve['n'].max()} problems)",
        )
        counts = records["status"].value_counts().sort_index()
        style = ", ".join(sorted(set(records["prompt_style"])))
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(XLABEL, fontsize=8)
        ax.set_ylabel("HumanEval pass@1", fontsize=8)
        ax.set_title(title(CHAT, behavior) + f" (prompt style: {style})", fontsize=9)
        legend_below(ax, title=", ".join(f"{k}: {v}" for k, v in counts.items()), title_fontsize=6.5)
    fig.suptitle(
        "Fig. 17 — HumanEval pass rate vs steering coefficient (error bars: SEM over problems)", fontsize=9
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig17_humaneval")
