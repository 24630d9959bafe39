"""Figures of a tradeoff matrix (:mod:`steerbounds.empirical.reduce.cross_effects`).

* :func:`plot_matrix` — vectors (rows) × measures (columns): the slope at r_e = 0 per
  r_max (the change of the measure over one unit of the model's scale, first order)
  with its 95 % bootstrap interval; a cell whose interval excludes 0 is marked ●.
* :func:`plot_curves` — one panel per (vector, measure): the mean against r_e/r_max
  with its 95 % bootstrap band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steerbounds import io


def _save(fig: object, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1])  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]


def _order(df: pd.DataFrame, column: str) -> list[str]:
    return list(dict.fromkeys(df[column].astype(str)))


def plot_matrix(slopes: pd.DataFrame, path: str | Path, *, title: str = "") -> None:
    """The matrix of first-order cross-effects (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vectors, measures = _order(slopes, "vector"), _order(slopes, "measure")
    value = np.full((len(vectors), len(measures)), np.nan)
    fig, ax = plt.subplots(figsize=(1.45 * len(measures) + 2, 0.9 * len(vectors) + 1.8))
    for row in slopes.to_dict(orient="records"):
        i, j = vectors.index(str(row["vector"])), measures.index(str(row["measure"]))
        mid, low, high = (float(row[k]) for k in ("slope_per_r_max", "low_per_r_max", "high_per_r_max"))
        value[i, j] = mid
        mark = "● " if low > 0 or high < 0 else ""
        ax.text(j, i, f"{mark}{mid:+.2f}\n[{low:+.2f}, {high:+.2f}]", ha="center", va="center", fontsize=7)
    top = float(np.nanmax(np.abs(value))) or 1.0
    im = ax.imshow(value, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto")
    ax.set_xticks(range(len(measures)), measures, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(vectors)), [f"{v} vector" for v in vectors], fontsize=8)
    fig.colorbar(im, ax=ax, label="dM/d(r_e/r_max) at r_e = 0")
    ax.set_title(
        title or "first-order cross-effects at r_e = 0 (95% bootstrap intervals; ● excludes 0)", fontsize=9
    )
    _save(fig, path)


def plot_curves(curves: pd.DataFrame, path: str | Path, *, title: str = "") -> None:
    """Per-pair curves (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vectors, measures = _order(curves, "vector"), _order(curves, "measure")
    fig, axes = plt.subplots(
        len(vectors),
        len(measures),
        figsize=(2.1 * len(measures), 1.8 * len(vectors) + 0.6),
        squeeze=False,
        sharex=True,
    )
    for (v, m), g in curves.groupby(["vector", "measure"], sort=False):
        ax = axes[vectors.index(str(v)), measures.index(str(m))]
        g = g.sort_values("r_rel")
        ax.fill_between(g["r_rel"], g["low"], g["high"], color="C0", alpha=0.25, lw=0)
        ax.plot(g["r_rel"], g["mean"], "o-", color="C0", ms=3, lw=1)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_ylim(-1.05, 1.05) if g["kind"].iloc[0] != "p_correct" else ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=6)
    for j, m in enumerate(measures):
        axes[0, j].set_title(m, fontsize=8)
        axes[-1, j].set_xlabel("r_e / r_max", fontsize=7)
    for i, v in enumerate(vectors):
        axes[i, 0].set_ylabel(f"{v} vector", fontsize=8)
    fig.suptitle(title or "every measure under every vector (mean, 95% bootstrap band)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
