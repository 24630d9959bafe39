"""A valid value for every parameter of every ``steerbounds bound`` result, the
options that give a result all of its parameters, and Theorem 2's helpfulness options."""

from __future__ import annotations

from steerbounds.bounds import RESULTS

VALID = {
    "r_e": "1",
    "b0": "-0.2",
    "delta_lambda": "0.5",
    "lam": "0.5",
    "delta": "0.01",
    "M": "1",
    "p_plus": "0.3",
    "p_minus": "0.4",
    "b_plus": "0.5",
    "eps": "0.1",
    "gamma": "-0.3",
    "target": "0.8",
    "n_tokens": "5",
    "p0": "0.2",
    "alpha": "0.5",
    "lam_sigma_beta": "0.4",
    "c_plus": "1",
    "c_minus": "-1",
    "n_top": "4",
    "p0_steps": "0.7,0.9",
}

# Theorem 2's helpfulness parameters (p0, alpha, eps, lam_sigma_beta) as options, at valid
# values: taken by ``bound theorem2``, ``coefficient`` and ``tradeoff``.
HELPFULNESS = ["--p0", "0.6", "--alpha", "0.5", "--eps", "0.1", "--lam-sigma-beta", "0.4"]


def bound_options(name: str, **values: str) -> list[str]:
    """``NAME --param value ...`` for every parameter of the result ``name``: the value
    in ``values`` where given, else the one in :data:`VALID`."""
    argv = [name]
    for p in RESULTS[name].params:
        argv += [f"--{p.replace('_', '-')}", values.get(p, VALID[p])]
    return argv
