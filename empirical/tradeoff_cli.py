"""``steerbounds tradeoff-matrix``: every behaviour vector against every measure.

Registration imports no torch; the command loads what it needs when it runs.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from steerbounds import options
from steerbounds.options import at_least

_BEHAVIORS = ("harmful", "harmless", "racist", "not_racist", "honesty")  # workloads.recipes.BEHAVIORS
_TASKS = ("arithmetic", "facts", "mmlu")  # tradeoff_matrix.TASK_CHOICES
_DEFAULT_GRID = "rel:-1,-0.5,-0.2,0,0.2,0.5,1"


def _names(option: str, allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip().lower().replace("-", "_") for x in text.split(",") if x.strip())
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{option} must be a comma list of {', '.join(allowed)}, got {text!r}"
            )
        return items

    return parse


def register(subparsers: Any) -> None:
    """Add the ``tradeoff-matrix`` subcommand."""
    p = options.add_command(subparsers, "tradeoff-matrix", _run)
    p.add_argument(
        "--behaviors",
        type=_names("--behaviors", _BEHAVIORS),
        default=("harmful", "racist", "honesty"),
        help=f"comma list of recipes, each a vector and a measure ({', '.join(_BEHAVIORS)}; default "
        "harmful,racist,honesty)",
    )
    p.add_argument(
        "--tasks",
        type=_names("--tasks", _TASKS),
        default=("arithmetic", "facts"),
        help=f"comma list of helpfulness tasks ({', '.join(_TASKS)}; default arithmetic,facts)",
    )
    p.add_argument(
        "--coefficients",
        default=_DEFAULT_GRID,
        help="r_e grid with values on both sides of 0: start:stop:step or a comma list; prefixed rel: in "
        f"units of each vector's r_max (default {_DEFAULT_GRID})",
    )
    options.add_numbers(  # the whole-number options, each with its least value
        p,
        ("--n", at_least(2), 24, "prompts per behaviour (default 24)"),
        ("--n-task", at_least(2), 32, "queries per task (default 32)"),
        ("--n-generate", at_least(0), 8, "prompts with judged greedy answers, 0 … --n (default 8; 0: none)"),
        ("--max-new-tokens", at_least(1), 24, "tokens per judged generation (default 24)"),
        ("--n-pairs", at_least(1), 128, "contrast pairs per vector (default 128)"),
        ("--bootstrap", at_least(10), 1000, "bootstrap resamples of the queries (default 1000)"),
        ("--batch-size", at_least(1), 16, "prompts per pass (default 16)"),
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the data subsets and the bootstrap (default 0)"
    )
    options.add_model(p)
    p.add_argument("--out", required=True, help="output folder (tables, result.json, matrix.png, curves.png)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _fmt(x: Any) -> str:
    return f"{x:.3g}" if _finite(x) else "–"


def _run(args: argparse.Namespace) -> int:
    """sweep each behaviour vector once and measure every behaviour and task: cross-effects at r_e = 0
    with intervals, per-pair curves, efficient regimes

    For each behaviour's vector, one batched pass per query set over the coefficient grid measures
    every behaviour's next-token B (eq. 3) and judged generations (App. F.3) and every task's
    P(correct) (eq. 4). Writes the tidy table, the slopes at r_e = 0 (95% bootstrap over queries),
    the contrasts M(r_e) − M(0), the planner's efficient regime of each vector against each other
    measure, and two figures.
    """
    from steerbounds import io
    from steerbounds.empirical.sweep.config import parse_grid

    grid, relative = parse_grid(args.coefficients, option="--coefficients")
    from steerbounds.empirical.tradeoff_matrix import MatrixConfig, validate

    config = options.config_from(MatrixConfig, args, coefficients=grid, relative=relative)
    validate(config)  # refused before the model is loaded
    io.check_output_dir(args.out, option="--out")
    from tabulate import tabulate

    from steerbounds.empirical.reduce.cross_figures import plot_curves, plot_matrix
    from steerbounds.empirical.tradeoff_matrix import tradeoff_matrix

    result = tradeoff_matrix(config)
    result.write(args.out)
    plot_matrix(
        result.reduced["slopes"], f"{args.out}/matrix.png", title=f"{result.model}: cross-effects at r_e = 0"
    )
    plot_curves(
        result.reduced["curves"],
        f"{args.out}/curves.png",
        title=f"{result.model}: every measure under every vector",
    )
    if args.json:
        print(io.dumps(result.to_dict(), sort_keys=False))
        return 0
    rows = [
        [
            r["vector"],
            r["measure"],
            f"{r['slope_per_r_max']:+.3g} [{r['low_per_r_max']:+.3g}, {r['high_per_r_max']:+.3g}]",
            _fmt(r["jvp_slope"] * r["r_max"]) if _finite(r.get("jvp_slope")) else "–",
        ]
        for r in result.reduced["slopes"].to_dict(orient="records")
    ]
    print(tabulate(rows, headers=["vector", "measure", "slope per r_max [95%]", "forward-mode per r_max"]))
    eff = result.reduced["efficient"]
    print()
    print(
        tabulate(
            [
                [
                    r["vector"],
                    r["measure"],
                    r["error"] if isinstance(r.get("error"), str) else _fmt(r.get("efficient_end_rel")),
                ]
                for r in eff.to_dict(orient="records")
            ],
            headers=["vector", "against", "efficient regime end r_eff / r_max"],
        )
    )
    print(
        f"\nwrote {args.out}/ (tidy.parquet, jvp.csv, slopes.csv, curves.csv, contrasts.csv, efficient.csv, "
        f"result.json, matrix.png, curves.png) in {result.wall_s:.0f} s"
    )
    return 0
