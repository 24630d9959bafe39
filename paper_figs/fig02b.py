"""Fig. 2b: Theorem 1's lower bound with simulated behaviour curves (the simulator's instances)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from steerbounds.paper_figs.common import legend_below, simulated_figure
from steerbounds.paper_figs.data import PaperData


def make(data: PaperData, out_dir: str | Path) -> list[Path]:
    """Fig. 2b: Theorem 1 (eqs. 5/27) against simulated behaviour curves."""
    return simulated_figure(data, out_dir, "fig02b_theorem1", _draw)


def _draw(axes: list[Any], d: dict[str, Any]) -> None:
    from steerbounds.bounds import behavior_lower_bound

    r = np.asarray(d["r_e"])
    b = np.asarray(d["behaviour"])  # (n, K)
    p = d["alignment_params"]
    ok = np.asarray(p["ok"], dtype=bool)
    dl = np.asarray(p["margin"]) * np.asarray(d["alignment_lam"])  # realised Δλ
    b0 = np.asarray(p["b0"])
    ax = axes[0]
    # (a) a few instances with their own bound (proved eq. 27 and stated eq. 5), r_e ≥ 0
    idx = [i for i in np.argsort(np.abs(b0 + 0.5)) if ok[i]][:3]
    pos = r >= 0
    for j, i in enumerate(idx):
        ax.plot(
            r[pos], b[i, pos], "o", ms=3, color=f"C{j}", label=f"simulated, $B_0$={b0[i]:.2f}, Δλ={dl[i]:.2g}"
        )
        ax.plot(
            r[pos],
            np.asarray(behavior_lower_bound(r[pos], b0[i], dl[i], form="proved")),
            color=f"C{j}",
            lw=1.4,
        )
        ax.plot(
            r[pos],
            np.asarray(behavior_lower_bound(r[pos], b0[i], dl[i], form="stated")),
            color=f"C{j}",
            lw=1,
            ls=":",
        )
    ax.set_xlabel("$r_e$")
    ax.set_ylabel("behaviour expectation B")
    ax.set_title("instances nearest $B_0$ = −0.5: bound eq. 27 (solid), eq. 5 (dotted)", fontsize=8)
    legend_below(ax)
    # (b) all instances collapsed: artanh B − artanh B0 vs Δλ r_e must lie above x/2 (eq. 27)
    ax = axes[1]
    # B within 1e-9 of ±1 is float64 saturation: artanh is not resolvable there, leave it out
    bb = b[ok][:, pos]
    resolvable = np.abs(bb) < 1 - 1e-9
    z = (
        np.where(resolvable, np.arctanh(np.clip(bb, -1 + 1e-9, 1 - 1e-9)), np.nan)
        - np.arctanh(b0[ok])[:, None]
    )
    x = np.where(resolvable, dl[ok][:, None] * r[pos][None, :], np.nan)
    ax.plot(
        x.ravel(),
        z.ravel(),
        ".",
        ms=1.5,
        alpha=0.35,
        color="C0",
        label=f"{int(ok.sum())} simulated instances (|B| < 1 − 1e-9)",
    )
    xs = np.linspace(0, float(np.nanmax(x)), 100)
    ax.plot(xs, xs / 2, color="C1", lw=1.6, label="proved bound: x/2 (eq. 27)")
    ax.plot(xs, xs, color="C3", lw=1.2, ls="--", label="stated bound: x (eq. 5)")
    below = float(np.mean(z[resolvable] < x[resolvable] / 2 - 1e-6 * (1 + x[resolvable])))
    below_stated = float(np.mean(z[resolvable] < x[resolvable] - 1e-6 * (1 + x[resolvable])))
    ax.set_xlabel("Δλ·$r_e$ (realised Δλ)")
    ax.set_ylabel("artanh B − artanh $B_0$")
    ax.set_title(f"fraction below: proved bound {below:.3g}, stated bound {below_stated:.3g}", fontsize=8)
    ax.set_ylim(-0.5, float(np.nanmax(z)) + 1)
    legend_below(ax)
    axes[0].figure.suptitle(
        "Fig. 2b — Theorem 1's lower bound and simulated behaviour (instances meeting Assumptions 1-2)",
        fontsize=9,
    )
