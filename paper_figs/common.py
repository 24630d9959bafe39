"""Shared pieces of the figures: labels, figure layout, legends that never cover data,
and saving every figure as PNG and PDF (atomically, via :mod:`steerbounds.io`).

Run-folder layout (written by :mod:`steerbounds.paper_figs.stages`):
``sweeps/<model>__<behavior>__<task>/`` one sweep run store each;
``humaneval/<model>__<behavior>/`` the HumanEval run stores; ``simulate/curves.json``
the simulator's draws for Figs. 2b and 3b; ``grids.json`` the coefficient scale of
each model/vector. Figures never contain typed-in numbers: they read these through
:class:`steerbounds.paper_figs.data.PaperData` and evaluate the bounds of
:mod:`steerbounds.bounds` for theory curves.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from steerbounds import io

CHAT, BASE = "chat", "base"
MODEL_LABEL = {CHAT: "SmolLM2-135M-Instruct (chat)", BASE: "Gemma-3-270M (base)"}
BEHAVIOR_LABEL = {
    "harmful": "harmful",
    "harmless": "harmless",
    "racist": "racist",
    "not_racist": "not racist",
}
MMLU_SUBJECTS = ("international_law", "medical_genetics", "high_school_computer_science")
TASK_LABEL = {
    "international_law": "international law",
    "medical_genetics": "medical genetics",
    "high_school_computer_science": "HS computer science",
    "arithmetic": "arithmetic",
    "facts": "facts (capitals)",
}
XLABEL = "steering coefficient $r_e$ (norm of the vector added per layer)"


def title(model: str, behavior: str) -> str:
    return f"{MODEL_LABEL[model]}\n{BEHAVIOR_LABEL[behavior]} vector"


def save_figure(fig: Any, out_dir: str | os.PathLike[str], name: str) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<name>.png`` (150 dpi) and ``.pdf``, atomically; close it."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=ext)
        paths.append(path)
    plt.close(fig)
    return paths


def new_figure(
    n_panels: int, *, width: float = 4.2, height: float = 3.3, ncols: int | None = None
) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = ncols or n_panels
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def legend_below(ax: Any, **kw: Any) -> None:
    """The panel's legend under its axes, outside the data area (never covers data)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            fontsize=kw.pop("fontsize", 6.5),
            frameon=False,
            **kw,
        )


def missing_panel(ax: Any, what: str) -> None:
    """Mark a panel whose data the run did not produce (never invent data)."""
    ax.text(
        0.5,
        0.5,
        f"no data:\n{what}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=9,
        color="0.4",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def errorbar(ax: Any, x: ArrayLike, y: ArrayLike, sem: ArrayLike | None, **kw: Any) -> Any:
    yerr = None if sem is None else np.nan_to_num(np.asarray(sem, dtype=float), nan=0.0)
    return ax.errorbar(x, y, yerr=yerr, marker="o", ms=3.5, capsize=2.5, lw=1.2, **kw)


def dense_grid(r_e: ArrayLike, n: int = 301, *, low: float | None = None) -> np.ndarray:
    r = np.asarray(r_e, dtype=float)
    return np.linspace(float(r.min()) if low is None else low, float(r.max()), n)


def simulated_figure(
    data: Any, out_dir: str | os.PathLike[str], name: str, draw: Callable[[list[Any], dict[str, Any]], None]
) -> list[Path]:
    """A two-panel figure of the simulator's curves (Figs. 2b, 3b): ``draw(axes, curves)``,
    or both panels marked missing when the run has no simulated curves."""
    fig, axes = new_figure(2, width=4.6, height=3.8)
    curves = data.simulated()
    if curves is None:
        for ax in axes:
            missing_panel(ax, "simulate/curves.json")
    else:
        draw(axes, curves)
    fig.tight_layout()
    return save_figure(fig, out_dir, name)
