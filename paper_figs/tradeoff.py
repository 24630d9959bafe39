"""The efficient steering regime of a run (Fig. 1; §3 "A tradeoff between alignment and usefulness").

With the fitted Theorem 1 curve B(r_e) (eq. 5) and Theorem 2 curve H(r_e) (eq. 6)
of one model and vector, the alignment gain is linear near 0 and the
helpfulness loss quadratic, so for small r_e (in the behaviour's direction) the
gain in P(aligned) = (B − B0)/2 outpaces the loss of P(correct) = H(0) − H(r_e).
The efficient regime is ``0 < r_e ≤ r*`` where the marginal gain dB/dr_e / 2 is at
least the marginal loss −dH/dr_e; both derivatives are evaluated on the bound
functions of :mod:`steerbounds.bounds` (no typed-in numbers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from steerbounds.paper_figs.common import fits as read_fits


def curves(fit_b: dict, fit_h: dict, r_max: float, n: int = 2001) -> dict[str, Any]:
    """Alignment gain, helpfulness loss and the efficient regime on ``[0, r_max]``
    in the direction that raises the behaviour (``fit_b["direction"]``)."""
    from steerbounds.bounds import behavior_lower_bound, helpfulness_upper_bound

    r = np.linspace(0.0, r_max, n)
    b = np.asarray(behavior_lower_bound(r, fit_b["b0"], fit_b["delta_lambda"], form=fit_b["form"]))
    h = np.asarray(helpfulness_upper_bound(r, fit_h["p0"], fit_h["alpha_eff"], 0.0, fit_h["lam_sigma_beta"]))
    if fit_h.get("floor"):
        h = (1.0 - fit_h["floor"]) * h + fit_h["floor"]
    gain = (b - b[0]) / 2.0  # P(aligned) − P0(aligned): B = P+ − P− = 2P+ − 1
    loss = h[0] - h
    marginal_gain, marginal_loss = np.gradient(gain, r), -np.gradient(h, r)
    efficient = marginal_gain >= marginal_loss
    # the regime starts at 0 (linear beats quadratic); it ends at the first crossing
    end = int(np.argmin(efficient)) if not efficient.all() else len(r) - 1
    net = gain - loss
    return {"r": r, "behavior": b, "helpfulness": h, "gain": gain, "loss": loss,
            "r_star": float(r[end]), "r_best_net": float(r[int(np.argmax(net))]), "net_max": float(net.max())}


def regime(run_dir: str, model: str, behavior: str, task: str = "mmlu-international_law") -> dict[str, Any] | None:
    """The efficient regime for one model/vector from ``fits.json`` (None without both fits);
    r_e in the direction that moves the behaviour toward +1 (signed back in ``direction``)."""
    f = read_fits(run_dir)
    fb = f.get("behavior", {}).get(f"{model}/{behavior}", {}).get("stated")
    entry = f.get("helpfulness", {}).get(f"{model}/{behavior}/{task}", {})
    fh = (entry.get("abcd") or entry.get("full_vocab") or {}).get("fit")
    r_grid = f.get("grids", {}).get(f"{model}__{behavior}", {}).get("r_max")
    if not fb or "delta_lambda" not in fb or not fh or "lam_sigma_beta" not in fh or not r_grid:
        return None
    c = curves(fb, fh, float(r_grid))
    return {"model": model, "behavior": behavior, "task": task, "direction": fb.get("direction", 1.0),
            "r_star": c["r_star"], "r_best_net": c["r_best_net"], "net_max": c["net_max"],
            "delta_lambda": fb["delta_lambda"], "b0": fb["b0"], "lam_sigma_beta": fh["lam_sigma_beta"],
            "alpha_eff": fh["alpha_eff"], "p0": fh["p0"], "r_max": float(r_grid), "curves": c}
