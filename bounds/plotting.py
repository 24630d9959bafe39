"""Figures for the tradeoff planner (matplotlib, Agg backend; no display needed).

Draws what the paper's Figures 1, 2b and 3b show, for one set of parameters: the
behaviour lower bound (Theorem 1) and the helpfulness upper bound (Theorem 2) against
r_e with the efficient regime shaded, and the Pareto curve of helpfulness bound
against behaviour bound traced by r_e.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from steerbounds.bounds.planner import TradeoffPlan
from steerbounds.errors import InputError
from steerbounds.io import atomic_path, check_output_file

__all__ = ["FORMATS", "check_plot_path", "plot_tradeoff"]

FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")
"""Figure formats by file suffix (those of matplotlib's Agg backend that need nothing else)."""


def check_plot_path(path: str | os.PathLike[str], *, option: str = "path") -> Path:
    """``path`` if a figure can be written there, else an InputError naming ``option``.

    Checked before any work: the path is not a folder, its parent folder exists (or can
    be made) and is writable, and its suffix names a format of :data:`FORMATS`.
    """
    p = check_output_file(path, option=option)
    if p.suffix[1:].lower() not in FORMATS:
        allowed = ", ".join(f".{f}" for f in FORMATS)
        raise InputError(f"{option} must end in a figure format ({allowed}); got {str(path)!r}")
    return p


def plot_tradeoff(plan: TradeoffPlan, path: str | os.PathLike[str]) -> Path:
    """Write the two-panel tradeoff figure for ``plan`` to ``path`` (format from the suffix).

    ``path`` is checked first (:func:`check_plot_path`); a missing parent folder is
    made. The figure is written through :func:`steerbounds.io.atomic_path`, so a killed
    run never leaves a truncated figure.
    """
    path = check_plot_path(path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    eq = "eq. 27" if plan.form == "proved" else "eq. 5"
    left.plot(plan.r_e, plan.behavior, color="tab:blue", label=f"behaviour lower bound (Thm 1, {eq})")
    if plan.helpfulness is not None:
        left.plot(plan.r_e, plan.helpfulness, color="tab:red", label="helpfulness upper bound (Thm 2, eq. 6)")
    end = min(plan.efficient_end, float(plan.r_e[-1]))
    if end > 0:
        label = "efficient regime" + ("" if math.isfinite(plan.efficient_end) else " (unbounded)")
        left.axvspan(0.0, end, color="tab:green", alpha=0.12, label=label)
    if plan.coefficient is not None:
        left.axvline(
            plan.coefficient, color="k", ls="--", lw=1, label=f"coefficient for B* = {plan.target:g}"
        )
    left.set_xlabel("steering coefficient $r_e$")
    left.set_ylabel("bound")
    left.set_ylim(-1.05, 1.05)
    left.set_title("Bounds vs $r_e$")
    left.legend(loc="lower right", fontsize=8)

    if plan.helpfulness is not None:
        points = right.scatter(plan.behavior, plan.helpfulness, c=plan.r_e, s=8, cmap="viridis")
        right.plot(plan.behavior, plan.helpfulness, color="0.6", lw=0.8, zorder=0)
        fig.colorbar(points, ax=right, label="$r_e$")
        if math.isfinite(plan.efficient_end):
            right.plot(
                plan.behavior_at_efficient_end,
                plan.helpfulness_at_efficient_end,
                "o",
                mfc="none",
                mec="tab:green",
                ms=10,
                label=f"efficient end r_e = {plan.efficient_end:.3g}",
            )
        if plan.coefficient is not None:
            right.plot(
                plan.behavior_at_coefficient,
                plan.helpfulness_at_coefficient,
                "kx",
                ms=9,
                label=f"coefficient r_e = {plan.coefficient:.3g}",
            )
        right.set_xlabel("behaviour lower bound")
        right.set_ylabel("helpfulness upper bound")
        right.set_title("Pareto curve (alignment vs helpfulness)")
        if right.get_legend_handles_labels()[0]:
            right.legend(loc="lower left", fontsize=8)
    else:
        right.axis("off")
        right.text(0.5, 0.5, "no helpfulness parameters given", ha="center", va="center")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=path.suffix[1:].lower())
    finally:
        plt.close(fig)
    return path
