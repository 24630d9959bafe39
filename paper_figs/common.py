"""Shared helpers of the figure scripts: the run-folder layout, atomic JSON I/O,
standard errors (App. F.5) and saving every figure as PNG and PDF.

Run-folder layout (written by :mod:`steerbounds.paper_figs.stages`):

``tables/<kind>__<model>__<behavior>[__<task>].json``
    one measured curve per file (see each stage for the fields);
``humaneval/<model>__<behavior>.jsonl``
    per-(coefficient, problem) sandbox records;
``simulate/*.json``
    simulator draws for Figs. 2b and 3b;
``fits.json``
    every fitted / measured parameter (λ, λσ, λσβ, Δλ, α, …) with its source.

Figures never contain typed-in numbers: they read these files and evaluate the
bounds of :mod:`steerbounds.bounds` for theory curves.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CHAT, BASE = "chat", "base"
MODEL_LABEL = {CHAT: "SmolLM2-135M-Instruct (chat)", BASE: "Gemma-3-270M (base)"}
BEHAVIOR_LABEL = {
    "harmful": "harmful",
    "harmless": "harmless",
    "racist": "racist",
    "not_racist": "not racist",
}


def table_name(kind: str, model: str, behavior: str, task: str | None = None) -> str:
    parts = [kind, model, behavior] + ([task] if task else [])
    return "__".join(p.replace(":", "-").replace("/", "-") for p in parts) + ".json"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (temp file in the same folder + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True, default=_default)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_table(
    run_dir: str | os.PathLike, kind: str, model: str, behavior: str, task: str | None = None
) -> dict | None:
    """A measured curve, or None when that stage has not produced it."""
    p = Path(run_dir) / "tables" / table_name(kind, model, behavior, task)
    return read_json(p) if p.is_file() else None


def tables(run_dir: str | os.PathLike, kind: str) -> list[dict]:
    """Every table of one kind, sorted by file name."""
    folder = Path(run_dir) / "tables"
    return [read_json(p) for p in sorted(folder.glob(f"{kind}__*.json"))] if folder.is_dir() else []


def mean_sem(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean and standard error of the mean, s/sqrt(n) with the n-1 sample std (App. F.5)."""
    x = np.asarray(list(values), dtype=float)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    sem = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(x.mean()), sem, n


def fits(run_dir: str | os.PathLike) -> dict:
    p = Path(run_dir) / "fits.json"
    return read_json(p) if p.is_file() else {}


def save_figure(fig: Any, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<name>.png`` (150 dpi) and ``.pdf``; close it."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=150, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def new_figure(
    n_panels: int, *, width: float = 4.2, height: float = 3.3, ncols: int | None = None
) -> tuple[Any, list]:
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


def errorbar(ax: Any, x: Sequence[float], y: Sequence[float], sem: Sequence[float] | None, **kw: Any) -> Any:
    yerr = None if sem is None else np.nan_to_num(np.asarray(sem, dtype=float), nan=0.0)
    return ax.errorbar(x, y, yerr=yerr, marker="o", ms=3.5, capsize=2.5, lw=1.2, **kw)


def dense_grid(r_e: Sequence[float], n: int = 301) -> np.ndarray:
    r = np.asarray(r_e, dtype=float)
    return np.linspace(float(r.min()), float(r.max()), n)


def main(make: Any, argv: Sequence[str] | None = None) -> int:
    """``python -m steerbounds.paper_figs.figNN RUN_DIR [OUT_DIR]`` (OUT_DIR defaults to RUN_DIR/figures)."""
    import argparse

    parser = argparse.ArgumentParser(description=(make.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out_dir", nargs="?")
    args = parser.parse_args(argv)
    out = args.out_dir or str(Path(args.run_dir) / "figures")
    for p in make(args.run_dir, out):
        print(p)
    return 0
