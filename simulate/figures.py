"""Figures: true curves of simulated instances against the bounds (PNG, matplotlib Agg).

* ``theorem1.png`` -- like the paper's fig. 2b: true B(r_e) (points) of drawn instances
  against Theorem 1 proved (eq. 27, solid) and stated (eq. 5, dashed), x = Δλ·r_e;
* ``theorem2.png`` -- like fig. 3b: true helpfulness (points) against Theorem 2 (eq. 6,
  solid) and eq. 33 (dotted) with each draw's realised parameters, x = λσ·r_e;
* ``theorem4.png`` -- the trinary counterexample of eq. 66 (neutral answers pushed far
  below): true B against eq. 66 and the corrected bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np

import steerbounds.bounds as bounds
from steerbounds.io import atomic_path
from steerbounds.simulate import instances as inst
from steerbounds.simulate.realised import alignment_parameters, helpfulness_parameters

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GRID = np.linspace(0.0, 8.0, 33)


def trinary_counterexample(
    p_plus: float = 0.1, p_minus: float = 0.5, p_neutral: float = 0.4, depth: float = 1000.0
) -> inst.AlignmentBatch:
    """Three tokens (+1, −1, 0) with masses P+, P−, P_neutral; margin Δ = 1 between the
    aligned token and the misaligned one, the neutral one ``depth`` below (λ = 1)."""
    logits = np.log([[p_plus, p_minus, p_neutral]])
    return inst.AlignmentBatch(
        logits=logits,
        X=np.array([[1.0, 0.0, -depth]]),
        score=np.array([[1.0, -1.0, 0.0]]),
        misclassified=np.zeros((1, 3), bool),
        lam=np.ones(1),
        b_plus=np.zeros(1),
    )


def two_token(b0: float = -0.5) -> inst.AlignmentBatch:
    """Aligned and misaligned token at margin exactly Δ = 1 (λ = 1): Theorem 1's tight case."""
    logits = np.log([[(1 + b0) / 2, (1 - b0) / 2]])
    return inst.AlignmentBatch(
        logits=logits,
        X=np.array([[1.0, 0.0]]),
        score=np.array([[1.0, -1.0]]),
        misclassified=np.zeros((1, 2), bool),
        lam=np.ones(1),
        b_plus=np.zeros(1),
    )


def _theorem1(ax: Axes, seed: int) -> None:
    b = inst.alignment_batch(jax.random.fold_in(inst.make_key(seed), 1), 400, 6, kind="binary")
    p = alignment_parameters(b)
    dl = b.lam * p.margin
    pick = [
        int(np.flatnonzero((p.b0 > lo) & (p.b0 < hi))[0])
        for lo, hi in ((-0.9, -0.6), (-0.3, 0.0), (0.2, 0.6))
    ]
    colors = ("C0", "C1", "C2", "C3")
    for c, i in zip(colors, pick, strict=False):  # colors[3] is the two-token instance's
        r = GRID / dl[i]
        true = inst.behaviour_curve(inst.AlignmentBatch(*(a[i : i + 1] for a in b)), r[None, :])[0]
        ax.plot(GRID, true, "o", ms=3, color=c, label=f"drawn, B0={p.b0[i]:.2f}")
        ax.plot(GRID, np.asarray(bounds.behavior_lower_bound(r, p.b0[i], dl[i])), "-", color=c)
        ax.plot(
            GRID, np.asarray(bounds.behavior_lower_bound(r, p.b0[i], dl[i], form="stated")), "--", color=c
        )
    tight = inst.behaviour_curve(two_token(), GRID[None, :])[0]
    ax.plot(GRID, tight, "s", ms=3, color=colors[3], label="two tokens, margin Δ, B0=-0.5")
    ax.plot(GRID, np.asarray(bounds.behavior_lower_bound(GRID, -0.5, 1.0)), "-", color=colors[3])
    ax.plot(
        GRID, np.asarray(bounds.behavior_lower_bound(GRID, -0.5, 1.0, form="stated")), "--", color=colors[3]
    )
    ax.set(
        xlabel="Δλ·r_e", ylabel="behaviour B", title="Theorem 1: proved eq. 27 (solid), stated eq. 5 (dashed)"
    )
    ax.legend(fontsize=7)


def _theorem2(ax: Axes, seed: int) -> None:
    b = inst.helpfulness_batch(jax.random.fold_in(inst.make_key(seed), 2), 400, 12, n_top=10)
    q = helpfulness_parameters(b)
    pick = np.flatnonzero(q.both_nonempty & (q.p0 > 0.4))[:4]
    x = np.linspace(-8.0, 8.0, 41)
    for c, i in zip(("C0", "C1", "C2", "C3"), pick, strict=False):  # up to 4 picked instances
        r = x / (b.lam[i] * b.sigma[i])
        one = inst.HelpfulnessBatch(*(a[i : i + 1] for a in b))
        ax.plot(
            x,
            inst.helpfulness_curve(one, r[None, :])[0],
            "o",
            ms=3,
            color=c,
            label=f"drawn, P0={q.p0[i]:.2f}",
        )
        ax.plot(
            x,
            np.asarray(
                bounds.helpfulness_upper_bound(r, q.p0[i], q.alpha[i], q.eps[i], b.lam[i] * q.sigma_beta[i])
            ),
            "-",
            color=c,
        )
        # eq. 33 with P±, c± of the direction actually used (−u for r_e < 0)
        neg = r < 0
        qp, qm = helpfulness_parameters(one, 1.0), helpfulness_parameters(one, -1.0)
        p0, p_plus, p_minus, c_plus, c_minus = (
            np.where(neg, m[0], a[0])
            for a, m in (
                (qp.p0, qm.p0),
                (qp.p_plus, qm.p_plus),
                (qp.p_minus, qm.p_minus),
                (qp.c_plus, qm.c_plus),
                (qp.c_minus, qm.c_minus),
            )
        )
        eq33 = bounds.helpfulness_upper_bound_components(
            r, p0, p_plus, p_minus, c_plus, c_minus, b.lam[i], equation=33
        )
        ax.plot(x, np.asarray(eq33), ":", color=c)
    ax.set(xlabel="λσ·r_e", ylabel="helpfulness", title="Theorem 2: eq. 6 (solid), eq. 33 (dotted); T = 10")
    ax.legend(fontsize=7)


def _theorem4(ax: Axes) -> None:
    b = trinary_counterexample()
    x = np.linspace(0.0, 4.0, 41)
    true = inst.behaviour_curve(b, x[None, :])[0]
    ax.plot(x, true, "o", ms=3, color="k", label="true B (P+=0.1, P-=0.5, P0=0.4, neutral far below)")
    ax.plot(
        x,
        np.asarray(bounds.trinary_behavior_lower_bound(x, -0.4, 0.1, 1.0, form="stated")),
        "--",
        color="C3",
        label="eq. 66 (stated)",
    )
    ax.plot(
        x,
        np.asarray(bounds.trinary_behavior_lower_bound(x, -0.4, 0.1, 1.0)),
        "-",
        color="C0",
        label="corrected",
    )
    ax.set(xlabel="Δλ·r_e", ylabel="behaviour B", title="Theorem 4: eq. 66 is violated")
    ax.legend(fontsize=7)


def write_figures(out_dir: str | os.PathLike[str], *, seed: int = 0) -> list[str]:
    """Write the PNG figures into the existing folder ``out_dir`` (each atomically,
    :func:`steerbounds.io.atomic_path`); return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    draws: tuple[tuple[str, Callable[[Axes], None]], ...] = (
        ("theorem1.png", lambda ax: _theorem1(ax, seed)),
        ("theorem2.png", lambda ax: _theorem2(ax, seed)),
        ("theorem4.png", _theorem4),
    )
    paths = []
    for name, draw in draws:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        try:
            draw(ax)
            fig.tight_layout()
            path = Path(out_dir) / name
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=120, format="png")
        finally:
            plt.close(fig)
        paths.append(str(path))
    return paths
