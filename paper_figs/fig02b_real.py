"""Fig. 2b from real queries: Theorem 1's identity artanh B − artanh B0 ≥ m/2 (eq. 27's
step, with the realised margin m) on every (query, r_e) row of each model/vector's sweep."""

from __future__ import annotations

from pathlib import Path

from steerbounds.empirical.reduce.verdicts import Verdict, plot_margins
from steerbounds.paper_figs.data import PaperData
from steerbounds.paper_figs.report import PAIRS

STEM = "fig02b_real_queries"


def make(data: PaperData, out_dir: str | Path) -> list[Path]:
    """One panel per model/vector with behaviour records (PNG + PDF); none when no sweep has them."""
    verdicts: list[tuple[str, Verdict]] = []
    for model, behavior in PAIRS:
        v = data.verdict(model, behavior)
        if v is not None:
            verdicts.append((f"{model}/{behavior}", v))
    if not verdicts:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{STEM}.png", out / f"{STEM}.pdf"]
    for path in paths:
        plot_margins(verdicts, str(path))
    return paths
