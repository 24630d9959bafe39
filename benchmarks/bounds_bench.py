"""Throughput of the Theorem 1 and Theorem 2 bounds on many points, against a floor.

For each bound, on the same float64 array of r_e values (default 10^7 points):

* ``floor``     -- one jitted elementwise pass ``2*x + 1`` (float64): memory-bound minimum;
* ``kernel``    -- the jitted JAX kernel (``theorems.*_kernel``), input already a JAX array;
* ``public``    -- the validated public function, called with a numpy array (validation
                   of every element for NaN/range, conversion, kernel);
* ``numpy``     -- the same formula written in plain numpy;
* ``lambdify``  -- ``sympy.lambdify`` (numpy backend) of :mod:`steerbounds.bounds.symbolic`;
* ``validate r_e`` / ``numpy->jax`` -- the public function's two overheads on their own
  (the range/NaN check of the r_e array, and the float64 copy into a JAX array).

Warm-up (compilation) is excluded; each timing is the best of ``--repeats`` runs.
Prints points/s and each variant's time as a multiple of the floor's.

    python benchmarks/bounds_bench.py [--n 10000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tabulate import tabulate

from steerbounds.bounds import behavior_lower_bound, helpfulness_upper_bound, symbolic, theorems, validation

B0, DL = -0.5, 0.3
P0, ALPHA, EPS, LSB = 0.6, 0.5, 0.1, 0.4


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (results blocked on)."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


@jax.jit
def floor_kernel(x):
    return 2.0 * x + 1.0


def variants(r_np: np.ndarray, r_jax: jax.Array) -> dict[str, dict[str, Callable[[], object]]]:
    k = 0.5  # Theorem 1 proved form (eq. 27)
    theorem1_sym = symbolic.lambdified("theorem1", "proved")
    theorem2_sym = symbolic.lambdified("theorem2")
    a_eff = ALPHA * (1.0 - EPS)
    return {
        "theorem1 (eq. 27)": {
            "kernel": lambda: theorems.behavior_lower_bound_kernel(r_jax, B0, DL, form="proved"),
            "public": lambda: behavior_lower_bound(r_np, B0, DL),
            "numpy": lambda: np.tanh(k * DL * r_np + np.arctanh(B0)),
            "lambdify": lambda: theorem1_sym(r_e=r_np, b0=B0, delta_lambda=DL),
        },
        "theorem2 (eq. 6)": {
            "kernel": lambda: theorems.helpfulness_kernel(r_jax, P0, ALPHA, EPS, LSB),
            "public": lambda: helpfulness_upper_bound(r_np, P0, ALPHA, EPS, LSB),
            "numpy": lambda: P0 / (P0 + (1.0 - P0) * a_eff * (1.0 + 0.5 * (LSB * r_np) ** 2)),
            "lambdify": lambda: theorem2_sym(r_e=r_np, p0=P0, alpha=ALPHA, eps=EPS, lam_sigma_beta=LSB),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="points (default 10^7)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (best is kept)")
    args = parser.parse_args()

    print(
        f"steerbounds bounds benchmark: n = {args.n:,} float64 points, best of {args.repeats}, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, numpy {np.__version__}, "
        f"python {platform.python_version()}"
    )
    with jax.enable_x64(True):
        r_np = np.linspace(-10.0, 10.0, args.n)
        r_jax = jnp.asarray(r_np)
        assert r_jax.dtype == jnp.float64
        floor = best_time(lambda: floor_kernel(r_jax), args.repeats)
        rows = [["floor 2*x+1 (jit)", "-", f"{floor * 1e3:.1f}", f"{args.n / floor:.3g}", "1.00"]]
        overheads = {
            "validate r_e": lambda: validation.real("r_e", r_np, validation.REAL),
            "numpy->jax": lambda: jnp.asarray(r_np, dtype=jnp.float64),
        }
        for label, fn in overheads.items():
            t = best_time(fn, args.repeats)
            rows.append(
                [label, "(public overhead)", f"{t * 1e3:.1f}", f"{args.n / t:.3g}", f"{t / floor:.2f}"]
            )
        for bound, fns in variants(r_np, r_jax).items():
            reference = None
            for label, fn in fns.items():
                out = np.asarray(fn())
                if reference is None:
                    reference = out
                else:
                    np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-14)
                t = best_time(fn, args.repeats)
                rows.append([label, bound, f"{t * 1e3:.1f}", f"{args.n / t:.3g}", f"{t / floor:.2f}"])
    print(tabulate(rows, headers=["variant", "bound", "best ms", "points/s", "time / floor"]))


if __name__ == "__main__":
    main()
