"""Benchmark: ``calibrate`` against the search loops users run today, in one run.

For a target B* of the next-token behaviour expectation (eq. 3), three ways to find
the coefficient on the same calibration prompts, each checked on the same held-out
prompts (the split of :func:`steerbounds.empirical.calibrate.split`):

* **calibrate** — the forward-mode slope at 0 (on 8 of the prompts) places the first
  probe; Theorem 1 (eq. 27) fitted between the probes that bracket B* places the next,
  until a probe lies within 0.02 of B* (the *search*); then its per-query analysis (B0
  and realised margins of every query: one more pass at r_e = 0);
* **bisection** — B measured on the calibration prompts at each step (one pass of one
  coefficient),
  the bracket [0, r_hi] doubled until it holds B*, then halved until |B − B*| ≤ 0.02;
* **grid** — the paper's authors' uniform grid −10 … 10 step 0.25 (81 points),
  scaled to the model as our grids are (fractions of the residual scale r_max), one
  batched pass; the point whose B is nearest B*.

Work is counted in token-forwards (:func:`steerbounds.empirical.count_token_forwards`:
one per real token per coefficient); the vector extraction is shared and not counted;
the held-out check (one pass at the chosen coefficient) is the same for all and
reported apart. Prints one table and a JSON line.

Usage (from the repository root):
    python benchmarks/calibrate_bench.py                                   # chat model, racist, B* = 0.5
    python benchmarks/calibrate_bench.py --base --behavior not_racist      # Gemma-3-270M base
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from tabulate import tabulate

from steerbounds.empirical import count_token_forwards, load_model
from steerbounds.empirical.calibrate import CalibrateConfig, Prober, calibrate, split
from steerbounds.empirical.steering.base_model import load_base_model
from steerbounds.empirical.sweep.scale import residual_scale
from steerbounds.empirical.workloads import behavior
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector

TOLERANCE = 0.02


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", action="store_true", help="the Gemma-3-270M base model (default: SmolLM2 chat)")
    ap.add_argument("--behavior", default="racist")
    ap.add_argument("--target", type=float, default=0.5)
    ap.add_argument("--n", type=int, default=64, help="behaviour prompts, split in half")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model = load_base_model() if args.base else load_model()
    config = CalibrateConfig(target=args.target, behavior=args.behavior, task=None, n=args.n, seed=args.seed)
    vector = extract_behavior_vector(model, args.behavior, n_pairs=config.n_pairs, seed=args.seed)
    layers = vector.layers
    plus, minus = behavior.answer_sets(config, model.tokenizer)
    calib, held = split(behavior.prompts(config, model), args.seed)

    def mean_b(queries: list, coefficients: list[float]) -> np.ndarray:
        """The mean next-token B at each coefficient: one pass of exactly these
        coefficients (no r_e = 0 reference row, which the searches do not need)."""
        prober = Prober(model, vector, queries, plus, minus, layers)
        prober.measure(coefficients)
        means = prober.means()
        return np.array([means[float(c)] for c in coefficients])

    def held_out(r: float) -> float:
        return float(mean_b(held, [r])[0])

    rows = []
    # calibrate (its own probes, refinement and checks; the check is on held-out prompts)
    t0 = time.monotonic()
    res = calibrate(config, model=model, vector=vector)
    wall = time.monotonic() - t0
    if "search" not in res.token_forwards:
        raise RuntimeError(f"calibrate did not report its search cost: {res.token_forwards}")
    cost = res.token_forwards["search"]
    pooled = res.candidates[0]
    rows.append(
        ["calibrate", pooled.r_e, pooled.achieved_b.value if pooled.achieved_b else float("nan"), cost, wall]
    )

    # bisection on the calibration prompts
    t0 = time.monotonic()
    with count_token_forwards() as c:
        lo, hi = 0.0, residual_scale(model, [q["prompt"] for q in calib[:8]], layers).r_max
        b_hi = float(mean_b(calib, [hi])[0])
        while b_hi < args.target and hi < 1e4:
            lo, hi = hi, 2 * hi
            b_hi = float(mean_b(calib, [hi])[0])
        mid, b_mid = hi, b_hi
        for _ in range(40):
            if abs(b_mid - args.target) <= TOLERANCE:
                break
            mid = (lo + hi) / 2
            b_mid = float(mean_b(calib, [mid])[0])
            lo, hi = (mid, hi) if b_mid < args.target else (lo, mid)
    rows.append(["bisection", mid, held_out(mid), c.count, time.monotonic() - t0])

    # the authors' grid, scaled to the model
    t0 = time.monotonic()
    with count_token_forwards() as c:
        r_max = residual_scale(model, [q["prompt"] for q in calib[:8]], layers).r_max
        grid = [round(r_max * f / 10, 6) for f in np.arange(-10, 10.0001, 0.25)]
        b = mean_b(calib, grid)
        best = grid[int(np.argmin(np.abs(b - args.target)))]
    rows.append(["grid (81 points)", best, held_out(best), c.count, time.monotonic() - t0])

    base = rows[1][3]  # bisection
    table = [
        [name, f"{r:.4g}", f"{a:.3f}", f"{abs(a - args.target):.3f}", n, f"{n / base:.2f}", f"{w:.0f}"]
        for name, r, a, n, w in rows
    ]
    print(
        f"model {model.name}, behaviour {args.behavior}, B* = {args.target}, "
        f"{len(calib)} calibration / {len(held)} held-out prompts"
    )
    print(
        tabulate(
            table,
            headers=["method", "r_e", "held-out B", "|B − B*|", "token-forwards", "÷ bisection", "wall s"],
        )
    )
    print(
        f"calibrate's per-query analysis (one pass at r_e = 0): {res.token_forwards.get('analysis', 0)} "
        f"token-forwards, counted apart; its held-out check: {res.token_forwards.get('verify', 0)}"
    )
    print(
        json.dumps(
            {
                "model": model.name,
                "behavior": args.behavior,
                "target": args.target,
                "rows": rows,
                "calibrate_token_forwards": res.token_forwards,
            }
        )
    )


if __name__ == "__main__":
    main()
