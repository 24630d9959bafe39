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

import jax
import numpy as np

import steerbounds.bounds as bounds
from steerbounds.simulate import instances as inst
from steerbounds.simulate.realised import alignment_parameters, helpfulness_parameters

GRID = np.linspace(0.0, 8.0, 33)


def trinary_counterexample(p_plus=0.1, p_minus=0.5, p_neutral=0.4, depth=1000.0) -> inst.AlignmentBatch:
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


def two_token(b0=-0.5) -> inst.AlignmentBatch:
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


def _theorem1(ax, seed: int) -> None:
    b = inst.alignment_batch(jax.random.fold_in(inst.make_key(seed), 1), 400, 6, kind="binary")
    p = alignment_parameters(b)
    dl = b.lam * p.margin
    pick = [
        int(np.flatnonzero((p.b0 > lo) & (p.b0 < hi))[0])
        for lo, hi in ((-0.9, -0.6), (-0.3, 0.0), (0.2, 0.6))
    ]
    colors = ("C0", "C1", "C2", "C3")
    for c, i in zip(colors, pick):
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


def _theorem2(ax, seed: int) -> None:
    b = inst.helpfulness_batch(jax.random.fold_in(inst.make_key(seed), 2), 400, 12, n_top=10)
    q = helpfulness_parameters(b)
    pick = np.flatnonzero(q.both_nonempty & (q.p0 > 0.4))[:4]
    x = np.linspace(-8.0, 8.0, 41)
    for c, i in zip(("C0", "C1", "C2", "C3"), pick):
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
        sign = r < 0
        qp, qm = helpfulness_parameters(one, 1.0), helpfulness_parameters(one, -1.0)
        sel = lambda a, m: np.where(sign, m[0], a[0])  # noqa: E731
        eq33 = bounds.helpfulness_upper_bound_components(
            r,
            sel(qp.p0, qm.p0),
            sel(qp.p_plus, qm.p_plus),
            sel(qp.p_minus, qm.p_minus),
            sel(qp.c_plus, qm.c_plus),
            sel(qp.c_minus, qm.c_minus),
            b.lam[i],
            equation=33,
        )
        ax.plot(x, np.asarray(eq33), ":", color=c)
    ax.set(xlabel="λσ·r_e", ylabel="helpfulness", title="Theorem 2: eq. 6 (solid), eq. 33 (dotted); T = 10")
    ax.legend(fontsize=7)


def _theorem4(ax) -> None:
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


def write_figures(out_dir: str, *, seed: int = 0) -> list[str]:
    """Write the PNG figures into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, draw in (
        ("theorem1.png", lambda ax: _theorem1(ax, seed)),
        ("theorem2.png", lambda ax: _theorem2(ax, seed)),
        ("theorem4.png", _theorem4),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        draw(ax)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp.png"
        fig.savefig(tmp, dpi=120)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)
    return paths
