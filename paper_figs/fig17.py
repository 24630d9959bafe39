"""Fig. 17: HumanEval pass@1 vs r_e (sandboxed execution; App. G)."""

from __future__ import annotations

from pathlib import Path

from steerbounds.paper_figs.common import CHAT, main, missing_panel, new_figure, save_figure
from steerbounds.paper_figs.plots import XLABEL, title

BEHAVIORS = ("harmful", "racist")


def make(run_dir: str, out_dir: str) -> list:
    """Fig. 17: HumanEval pass@1 vs r_e for the chat model (harmful and racist vectors)."""
    from steerbounds.empirical.humaneval.sweep import pass_at_1_by_coefficient, read_records

    fig, axes = new_figure(len(BEHAVIORS), height=3.6)
    for ax, behavior in zip(axes, BEHAVIORS):
        records = read_records(Path(run_dir) / "humaneval" / f"{CHAT}__{behavior}.jsonl")
        if not records:
            missing_panel(ax, f"HumanEval {CHAT}/{behavior}")
            continue
        style = records[-1].get("prompt_style")  # the latest run's prompt style
        records = [r for r in records if r.get("prompt_style") == style]
        rates = pass_at_1_by_coefficient(records, style)
        ax.errorbar(
            [r.coefficient for r in rates],
            [r.pass_at_1 for r in rates],
            yerr=[0.0 if r.stderr != r.stderr else r.stderr for r in rates],
            marker="o",
            ms=4,
            capsize=3,
            label=f"pass@1, greedy (n={rates[0].n} problems)",
        )
        statuses = sorted({r["status"] for r in records})
        counts = {s: sum(r["status"] == s for r in records) for s in statuses}
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(XLABEL, fontsize=8)
        ax.set_ylabel("HumanEval pass@1", fontsize=8)
        ax.set_title(title(CHAT, behavior) + f" (prompt style: {style})", fontsize=9)
        ax.legend(fontsize=7, title=", ".join(f"{k}: {v}" for k, v in counts.items()), title_fontsize=6.5)
    fig.suptitle(
        "Fig. 17 — HumanEval pass rate vs steering coefficient (error bars: SEM over problems)", fontsize=9
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig17_humaneval")


if __name__ == "__main__":
    raise SystemExit(main(make))
