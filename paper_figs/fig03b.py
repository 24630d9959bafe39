"""Fig. 3b: Theorem 2's upper bound with simulated helpfulness curves (the simulator's instances)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from steerbounds.paper_figs.common import legend_below, simulated_figure
from steerbounds.paper_figs.data import PaperData


def make(data: PaperData, out_dir: str | Path) -> list[Path]:
    """Fig. 3b: Theorem 2 (eq. 6) against simulated helpfulness curves."""
    return simulated_figure(data, out_dir, "fig03b_theorem2", _draw)


def _draw(axes: list[Any], d: dict[str, Any]) -> None:
    from steerbounds.bounds import helpfulness_upper_bound

    r = np.asarray(d["r_e"])
    h = np.asarray(d["helpfulness"])  # (n, K)
    p = {k: np.asarray(v) for k, v in d["helpfulness_params"].items()}
    lam = np.asarray(d["helpfulness_lam"])
    ok = p["both_nonempty"].astype(bool) & (p["p0"] < 1)
    lsb = lam * p["sigma_beta"]
    alpha_eff = p["alpha"] * (1 - p["eps"])
    bound = np.stack(
        [
            np.asarray(helpfulness_upper_bound(r, p["p0"][i], min(1.0, alpha_eff[i]), 0.0, lsb[i]))
            if ok[i]
            else np.full(r.shape, np.nan)
            for i in range(len(lam))
        ]
    )
    ax = axes[0]
    idx = [i for i in np.argsort(-p["p0"]) if ok[i]][:3]
    for j, i in enumerate(idx):
        ax.plot(
            r,
            h[i],
            "o",
            ms=3,
            color=f"C{j}",
            label=f"$P_0$={p['p0'][i]:.2f}, α(1-ε)={alpha_eff[i]:.2f}, λσβ={lsb[i]:.2g}",
        )
        ax.plot(r, bound[i], color=f"C{j}", lw=1.4)
    ax.set_xlabel("$r_e$")
    ax.set_ylabel("P(correct answer)")
    ax.set_title("simulated (points) and the bound eq. 6 at realised parameters (lines)", fontsize=8)
    legend_below(ax)
    ax = axes[1]
    sel = ok[:, None] & np.isfinite(bound)
    ax.plot(
        bound[sel],
        h[sel],
        ".",
        ms=1.5,
        alpha=0.35,
        color="C0",
        label=f"{int(ok.sum())} instances × {len(r)} $r_e$",
    )
    ax.plot([0, 1], [0, 1], color="C1", lw=1.4, label="simulated = bound")
    above = float(np.mean(h[sel] > bound[sel] + 1e-9))
    ax.set_xlabel("Theorem 2 bound (eq. 6) at realised parameters")
    ax.set_ylabel("simulated P(correct)")
    ax.set_title(f"fraction above the bound: {above:.3g} (the bound holds w.p. ≥ 1 − 2/T)", fontsize=8)
    legend_below(ax)
    axes[0].figure.suptitle(
        "Fig. 3b — Theorem 2's upper bound and simulated helpfulness (instances meeting Assumption 3)",
        fontsize=9,
    )
