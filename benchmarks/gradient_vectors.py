"""Preference-gradient vectors (Proposition 1, App. I, eqs. 63–65) against PCA and
mean-difference vectors on a real model; the figures of docs/gradient-vectors.md.

For each behaviour (recipe), at its default blocks:

1. the gradient vector v_l = −g_l/|g_l| of the mean preference log-odds LO (eq. 63) of the
   recipe's answer-token sets over its ``--n-pairs`` training queries, with Proposition 1's
   first-order check on those queries (:func:`first_order_check`): dLO/dr_e at 0 by
   forward-mode AD against −Σ_l g_l·v_l = Σ_l |g_l| from the backward pass, eq. 64's step
   dLO/dη against |g|², and the finite-difference change LO(η) − LO(0) for a few η;
2. the PCA and mean-difference vectors of the recipe's contrast pairs (the same training
   rows, App. F.2) and the cosine per block between the three;
3. each vector's first-order slope on the preference data, −Σ_l g_l·v_l = Σ_l |g_l| cos_l
   (cos_l the cosine of v_l with −g_l; the gradient vector maximises it over unit v_l);
4. the next-token behaviour B = tanh(½·log-odds) (eq. 3) and the log-odds, averaged over
   ``--n`` held-out test prompts, at coefficients r_e = f·r_max (f in ``--fractions``,
   r_max the model's residual scale) for each vector.

    flock /tmp/model-job.lock python benchmarks/gradient_vectors.py \\
        --behaviors harmful,racist --json gradient_vectors.json

Prints tables; ``--json`` also writes every figure to a file.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from tabulate import tabulate

from steerbounds.empirical.steering.forward import answer_log_odds, run_last_position
from steerbounds.empirical.steering.injection import steer
from steerbounds.empirical.steering.layers import default_layers
from steerbounds.empirical.steering.models import SteerableModel, load_model
from steerbounds.empirical.steering.preference import first_order_check
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep.scale import residual_scale
from steerbounds.empirical.workloads import recipes
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector


@torch.no_grad()
def behaviour(
    model: SteerableModel,
    vector: SteeringVector,
    prompts: list[str],
    plus: list[int],
    minus: list[int],
    coefficient: float,
) -> tuple[float, float]:
    """Mean B = tanh(½·log-odds) (eq. 3) and mean log-odds over ``prompts`` at r_e."""
    odds = []
    for start in range(0, len(prompts), 16):
        enc = model.encode(prompts[start : start + 16])
        with steer(model, vector, coefficient):
            logits, _ = run_last_position(model, enc["input_ids"], enc["attention_mask"])
        odds.append(answer_log_odds(logits, plus, minus))
    lo = torch.cat(odds)
    return float(torch.tanh(lo / 2).mean()), float(lo.mean())


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float(a @ b / (a.norm() * b.norm()))


def run_behavior(model: SteerableModel, name: str, args: argparse.Namespace) -> dict[str, Any]:
    start = time.time()
    layers = default_layers(model.n_layers, name)
    train = [r["prompt"] for r in recipes.behavior_prompts(name, model, n=args.n_pairs, split="train")]
    test = [r["prompt"] for r in recipes.behavior_prompts(name, model, n=args.n, split="test")]
    plus, minus = recipes.answer_token_sets(name, model.tokenizer)
    check = first_order_check(model, train, plus, minus, layers=layers, steps=args.steps)
    vectors = {
        "gradient": check.vector,
        "pca": extract_behavior_vector(model, name, method="pca", n_pairs=args.n_pairs, layers=layers),
        "mean_diff": extract_behavior_vector(
            model, name, method="mean_diff", n_pairs=args.n_pairs, layers=layers
        ),
    }
    grads = check.gradients
    cosines = {
        layer: {
            "gradient_pca": cosine(vectors["gradient"].directions[layer], vectors["pca"].directions[layer]),
            "gradient_mean_diff": cosine(
                vectors["gradient"].directions[layer], vectors["mean_diff"].directions[layer]
            ),
            "pca_mean_diff": cosine(vectors["pca"].directions[layer], vectors["mean_diff"].directions[layer]),
        }
        for layer in layers
    }
    slopes = {
        key: -sum(float(grads.gradients[layer] @ v.directions[layer].double()) for layer in layers)
        for key, v in vectors.items()
    }
    r_max = residual_scale(model, test, layers).r_max
    curves = {
        key: [
            {
                "fraction": f,
                "r_e": f * r_max,
                **dict(
                    zip(("b", "log_odds"), behaviour(model, v, test, plus, minus, f * r_max), strict=True)
                ),
            }
            for f in args.fractions
        ]
        for key, v in vectors.items()
    }
    return {
        "behavior": name,
        "layers": layers,
        "n_pairs": args.n_pairs,
        "n_test": args.n,
        "answers": {"plus": plus, "minus": minus},
        "first_order": check.to_dict(),
        "gradient_norms": dict(
            zip(map(str, layers), vectors["gradient"].metadata["gradient_norms"], strict=True)
        ),
        "cosines": {str(k): v for k, v in cosines.items()},
        "slopes": slopes,
        "r_max": r_max,
        "curves": curves,
        "wall_s": time.time() - start,
    }


def report(result: dict[str, Any]) -> None:
    fo = result["first_order"]
    print(
        f"\n== {result['behavior']} (blocks {result['layers'][0]}…{result['layers'][-1]}, "
        f"{result['n_pairs']} preference prompts, {result['n_test']} test prompts, {result['wall_s']:.0f} s)"
    )
    print(
        tabulate(
            [
                ("dLO/dr_e (forward-mode AD)", fo["jvp"]),
                ("−Σ g_l·v_l (backward pass)", fo["inner"]),
                ("Σ |g_l|", fo["norm_sum"]),
                ("dLO/dη, eq. 64 step (forward-mode AD)", fo["jvp_step"]),
                ("|g|² (backward pass)", fo["grad_sq"]),
                ("unsteered LO", fo["log_odds"]),
            ],
            floatfmt=".8g",
        )
    )
    print("relative gaps:", {k: f"{v:.2e}" for k, v in fo["relative_gaps"].items()})
    print(
        tabulate(
            [
                (s["eta"], s["change"], s["eta"] * fo["jvp"], s["residual"], s["residual"] / s["eta"] ** 2)
                for s in fo["steps"]
            ],
            headers=["η", "LO(η) − LO(0)", "η·dLO/dr_e", "residual", "residual/η²"],
            floatfmt=".6g",
        )
    )
    print(
        tabulate(
            [(k, *v.values()) for k, v in result["cosines"].items()],
            headers=["block", "cos(grad, pca)", "cos(grad, mean_diff)", "cos(pca, mean_diff)"],
            floatfmt=".3f",
        )
    )
    print(
        "first-order slope of LO on the preference data:",
        {k: round(v, 4) for k, v in result["slopes"].items()},
    )
    rows = []
    for i, point in enumerate(result["curves"]["gradient"]):
        row: list[Any] = [point["fraction"], point["r_e"]]
        for key in ("gradient", "pca", "mean_diff"):
            p = result["curves"][key][i]
            row += [p["b"], p["log_odds"]]
        rows.append(row)
    print(f"next-token B and log-odds on the test prompts (r_max = {result['r_max']:.4g})")
    print(
        tabulate(
            rows,
            headers=["f", "r_e", "B grad", "LO grad", "B pca", "LO pca", "B md", "LO md"],
            floatfmt=".3f",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--behaviors", default="harmful,racist")
    parser.add_argument("--n-pairs", type=int, default=64, help="preference prompts / contrast pairs")
    parser.add_argument("--n", type=int, default=50, help="held-out test prompts for B")
    parser.add_argument("--steps", default="0.05,0.1,0.2", help="η of the finite difference")
    parser.add_argument("--fractions", default="-1,-0.5,-0.25,0,0.25,0.5,1", help="r_e / r_max")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()
    args.steps = tuple(float(x) for x in args.steps.split(","))
    args.fractions = [float(x) for x in args.fractions.split(",")]
    torch.manual_seed(0)
    model = load_model(args.model)
    results = []
    for name in args.behaviors.split(","):
        results.append(run_behavior(model, name.strip(), args))
        report(results[-1])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"model": model.name, "model_hash": model.model_hash(), "results": results}, f, indent=1
            )


if __name__ == "__main__":
    main()
