"""Throughput of the simulator's Theorem 1 and Theorem 2 checks (instance-evaluations per second).

One instance-evaluation = one instance at one coefficient: the true value from the
steered softmax (logsumexp), the realised parameters, the bound, the slack.
Compared in the same run, on the same instances:

* ``jax``   -- the simulator's path, ``steerbounds.simulate.checks.CHECKS[...].evaluate``
  (vectorised float64 JAX; the bound through the public, validated function);
* ``numpy`` -- a straightforward loop over instances and coefficients (numpy softmax
  per evaluation, the bound with ``math``);
* ``floor`` -- one jitted pass over the same steered logits, ``(z + λ r X).sum()``: the
  least work any exact check must do.

Sizes: full vocabulary V = 32,000 (drawn (z, X) with absent slots, and for Theorem 2
also an explicit Gaussian unembedding U, V × 64, as the verdicts draw it) and top-T
only (T = 10 tokens; Theorem 2 adds a one-slot remainder bucket), 21 coefficients per
instance. Every case asserts max |Δslack| ≤ 1e-12 between the simulator and the loop.

Every timing is the best of ``--repeats`` rounds after a warm-up (compilation excluded);
in each round the three paths run one after the other (the machine is shared: the
minimum filters out interference, the interleaving keeps load changes out of the
ratios). The numpy loop runs on a subset (16 instances at V = 32,000, 400 at top-T);
throughputs are per instance-evaluation.

Run: ``python benchmarks/simulate_bench.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from steerbounds.simulate import instances as inst
from steerbounds.simulate.checks import CHECKS

K = 21
MAX_ABS_DIFF = 1e-12
"""Largest |slack difference| allowed between the simulator's path and the numpy loop."""


def _best(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each function over ``repeats`` rounds after a warm-up (compilation).

    The functions run interleaved, one after the other in every round, so that a load
    change on the shared machine hits all of them alike and their ratios stay fair.
    """
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


@jax.jit
def _floor_kernel(z, X, lam, r):
    steered = z[:, None, :] + (lam[:, None] * r)[:, :, None] * X[:, None, :]
    return jnp.sum(steered, axis=-1)


def floor(batch, r):
    with jax.enable_x64(True):
        z = jnp.asarray(np.where(np.isfinite(batch.logits), batch.logits, 0.0))
        return np.asarray(_floor_kernel(z, jnp.asarray(batch.X), jnp.asarray(batch.lam), jnp.asarray(r)))


def _unsteered(batch, i, column):
    """Instance ``i`` on its present slots (finite logits): z, X, ``column``'s entries and p = softmax(z)."""
    valid = np.isfinite(batch.logits[i])
    z = batch.logits[i, valid]
    p = np.exp(z - z.max())
    p /= p.sum()
    return z, batch.X[i, valid], column[i, valid], p


def numpy_theorem1(batch, r):
    """Loop: per instance realised B0, Δ; per coefficient softmax, B, tanh bound (eq. 27)."""
    slack = np.empty(r.shape)
    for i in range(batch.logits.shape[0]):
        z, x, s, p = _unsteered(batch, i, batch.score)
        b0 = float((p * s).sum())  # not p @ s: BLAS threads stall on a shared machine
        dl = batch.lam[i] * (x[s > 0].min() - x[s < 0].max())
        for k in range(r.shape[1]):
            zz = z + batch.lam[i] * r[i, k] * x
            q = np.exp(zz - zz.max())
            b = float((q * s).sum() / q.sum())
            slack[i, k] = b - math.tanh(dl * r[i, k] / 2 + math.atanh(b0))
    return slack


def numpy_theorem2(batch, r):
    """Loop: per instance realised P0, P±, c±; per coefficient softmax and eq. 6."""
    slack = np.empty(r.shape)
    for i in range(batch.logits.shape[0]):
        z, x, top, p = _unsteered(batch, i, batch.top)
        d = x - x[0]
        inc = top.copy()
        inc[0] = False
        plus, minus = inc & (d > 0), inc & (d < 0)
        pp, pm = p[plus].sum(), p[minus].sum()
        cp = (p[plus] * d[plus]).sum() / pp if pp > 0 else 0.0
        cm = (p[minus] * d[minus]).sum() / pm if pm > 0 else 0.0
        mass = min(pp, pm)  # (1 − P0)·α(1 − ε), eq. 38
        lsb = batch.lam[i] * (min(-cm, cp) if pp > 0 and pm > 0 else 0.0)
        for k in range(r.shape[1]):
            zz = z + batch.lam[i] * r[i, k] * x
            q = np.exp(zz - zz.max())
            h = q[0] / q.sum()
            bound = p[0] / (p[0] + mass * (1 + 0.5 * (lsb * r[i, k]) ** 2))
            slack[i, k] = bound - h
    return slack


def _case(name: str, batch: tuple, n_loop: int, repeats: int) -> tuple[float, float, float, float]:
    """Throughputs (jax, numpy loop, floor) in instance-evaluations/s and max |Δslack|."""
    n = batch.logits.shape[0]
    r = np.linspace(0.0, 3.0, K)[None, :] / batch.lam[:, None] * np.ones((n, 1))
    if name == "theorem2":
        r = r - 1.5 / batch.lam[:, None]
    check = CHECKS[name]
    form = "proved" if name == "theorem1" else None
    extras = {"r_e": r}
    ev = check.evaluate(batch, extras, form)
    sub = type(batch)(*(a[:n_loop] for a in batch))
    loop = numpy_theorem1 if name == "theorem1" else numpy_theorem2
    t = _best(
        {
            "jax": lambda: check.evaluate(batch, extras, form),
            "numpy": lambda: loop(sub, r[:n_loop]),
            "floor": lambda: floor(batch, r),
        },
        repeats,
    )
    agree = float(np.max(np.abs(loop(sub, r[:n_loop]) - ev.slack[:n_loop])))
    assert agree <= MAX_ABS_DIFF, f"{name}: the simulator and the numpy loop differ by {agree:.3g}"
    return n * K / t["jax"], n_loop * K / t["numpy"], n * K / t["floor"], agree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    key = inst.make_key(0)
    cases = (
        ("theorem1", "V=32000", lambda k: inst.alignment_batch(k, 48, 32000), 16),
        ("theorem1", "top-T (T=10)", lambda k: inst.alignment_batch(k, 20000, 10), 400),
        ("theorem2", "V=32000", lambda k: inst.helpfulness_batch(k, 48, 32000, n_top=10), 16),
        (
            "theorem2",
            "V=32000 explicit U",
            lambda k: inst.explicit_helpfulness_batch(k, 48, vocab=32000)[0],
            16,
        ),
        ("theorem2", "top-T (T=10) + bucket", lambda k: inst.helpfulness_batch(k, 20000, 11, n_top=10), 400),
    )
    print(
        f"{'check':9s} {'size':22s} {'jax ev/s':>12s} {'numpy ev/s':>12s} {'floor ev/s':>12s} "
        f"{'jax/numpy':>10s} {'jax/floor':>10s} {'max|Δslack|':>12s}"
    )
    for name, label, make, n_loop in cases:
        j, nl, fl, agree = _case(name, make(key), n_loop, args.repeats)
        print(
            f"{name:9s} {label:22s} {j:12.4g} {nl:12.4g} {fl:12.4g} {j / nl:10.3g} {j / fl:10.3g} "
            f"{agree:12.2g}",
            flush=True,
        )


if __name__ == "__main__":
    main()
