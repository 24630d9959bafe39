"""``steerbounds extract`` and ``steerbounds sweep`` (registration imports no torch)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from steerbounds.errors import InputError

_MEASURES = ("all", "helpfulness", "behavior", "lambda", "sigma", "delta")
_BEHAVIORS = ("harmful", "harmless", "racist", "not_racist")
DTYPE_CHOICES = ("float32", "bfloat16", "float16")
METHOD_CHOICES = ("pca", "pca_centered", "mean_diff")


def _checked(
    name: str, convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str
) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)``, refused with one line naming ``name``
    unless it converts and satisfies ``ok``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}")
        return value

    return parse


def _positive_int(name: str) -> Callable[[str], Any]:
    return _checked(name, int, lambda v: v >= 1, "an int ≥ 1")


def _finite_float(name: str) -> Callable[[str], Any]:
    return _checked(name, float, math.isfinite, "a finite number")


def _model_options(p: argparse.ArgumentParser) -> None:
    """The options that say which model to load and where its data comes from."""
    p.add_argument(
        "--model", default=None, help="HF folder, .gguf file or hub id (default: SmolLM2-135M-Instruct)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument(
        "--dtype", default="float32", choices=DTYPE_CHOICES, help="weights' precision (default float32)"
    )
    p.add_argument(
        "--data-dir", default=None, help="folder with the full data sets (default: the shipped subsets)"
    )


def _recipe_options(p: argparse.ArgumentParser) -> None:
    """The options of a behaviour's vector recipe (App. F.2)."""
    p.add_argument(
        "--behavior",
        default="harmful",
        choices=_BEHAVIORS,
        help="the behaviour steered toward: r_e > 0 increases it (default harmful)",
    )
    p.add_argument(
        "--layers",
        default=None,
        help="blocks to read/steer, e.g. -20:-11 or 6,7,8 (default: the paper's depth)",
    )
    p.add_argument(
        "--method",
        default="pca",
        choices=METHOD_CHOICES,
        help="pca (first principal direction of the pair differences), pca_centered or mean_diff "
        "(default pca)",
    )
    p.add_argument(
        "--n-pairs", type=_positive_int("--n-pairs"), default=128, help="contrast pairs, ≥ 1 (default 128)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data subsets and sampling (default 0)")


def register(subparsers: Any) -> None:
    """Add the ``extract`` and ``sweep`` subcommands."""
    ex = subparsers.add_parser(
        "extract",
        help="extract a behaviour steering vector (App. F.2 recipe) into a safetensors file",
        description="Extract the steering vector of a behaviour from its contrast pairs (App. F.2): "
        "positive = the behaviour steered toward (r_e > 0 increases it).",
    )
    _recipe_options(ex)
    _model_options(ex)
    ex.add_argument("--out", required=True, help="output .safetensors file")
    ex.set_defaults(func=_extract)

    sw = subparsers.add_parser(
        "sweep",
        help="measure λ, σ, Δλ, behaviour and helpfulness over steering coefficients (resumable)",
        description="Measure the paper's quantities over a grid of coefficients r_e; results are appended "
        "per work unit to OUT/results.jsonl, summarised in OUT/summary.json and OUT/summary.csv.",
    )
    _recipe_options(sw)
    _model_options(sw)
    sw.add_argument("--measure", default="all", help=f"comma list of {', '.join(_MEASURES)} (default all)")
    sw.add_argument("--task", default="mmlu", choices=("mmlu", "arithmetic", "facts"))
    sw.add_argument(
        "--coefficients", default=None, help="start:stop:step (inclusive) or a comma list (default -32:32:8)"
    )
    sw.add_argument(
        "--n",
        type=_positive_int("--n"),
        default=8,
        help="queries per task group (MMLU: per subject) and behaviour prompts (default 8)",
    )
    sw.add_argument("--vector", default=None, help="steering vector file (default: extract and keep in OUT)")
    sw.add_argument("--generate", default="greedy", choices=("none", "greedy", "sampled", "both"))
    sw.add_argument("--max-new-tokens", type=_positive_int("--max-new-tokens"), default=24)
    sw.add_argument("--temperature", type=_finite_float("--temperature"), default=1.0)
    sw.add_argument("--batch-size", type=_positive_int("--batch-size"), default=8)
    sw.add_argument("--coef-chunk", type=_positive_int("--coef-chunk"), default=3)
    sw.add_argument(
        "--fit-max-abs",
        type=_finite_float("--fit-max-abs"),
        default=None,
        help="|r_e| range of the linear λ, λσ and Δλ fits (default: half the largest |r_e|; summary only)",
    )
    sw.add_argument(
        "--delta-ref",
        type=_finite_float("--delta-ref"),
        default=None,
        help="coefficient defining the steered top-40 cluster (default: the largest)",
    )
    sw.add_argument("--out", default=None, help="output folder (default runs/BEHAVIOR-TASK-TIME)")
    sw.add_argument(
        "--resume", action="store_true", help="continue the sweep in --out, skipping finished units"
    )
    sw.add_argument(
        "--repair",
        action="store_true",
        help="with --resume: drop corrupt lines of results.jsonl (reported with their line number) "
        "and redo their units",
    )
    sw.add_argument("--no-progress", action="store_true")
    sw.set_defaults(func=_sweep)


def _extract(args: argparse.Namespace) -> int:
    from steerbounds import io
    from steerbounds.empirical.steering.models import load_model
    from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector, recipe_of

    if not args.out.endswith(".safetensors"):
        raise InputError(f"--out: expected a .safetensors file name, got {args.out!r}")
    io.check_output_file(args.out, option="--out")  # before the model is loaded
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    vec = extract_behavior_vector(model, args.behavior, **recipe_of(args))
    path = vec.save(args.out)
    print(
        f"wrote {path} ({args.behavior}, {vec.method}, layers {vec.layers[0]}…{vec.layers[-1]}, "
        f"{args.n_pairs} pairs, model {model.name})"
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from steerbounds import io
    from steerbounds.empirical.reduce.summary import summary_rows
    from steerbounds.empirical.sweep.config import (
        DEFAULT_COEFFICIENTS,
        SweepConfig,
        parse_coefficients,
        validate,
    )

    measures = tuple(m.strip() for m in args.measure.split(",") if m.strip())
    bad = [m for m in measures if m not in _MEASURES]
    if bad or not measures:
        raise InputError(
            f"--measure: {bad[0] if bad else args.measure!r} is not allowed; use a comma list of "
            f"{', '.join(_MEASURES)}"
        )
    coeffs = (
        parse_coefficients(args.coefficients, option="--coefficients")
        if args.coefficients is not None
        else DEFAULT_COEFFICIENTS
    )
    config = SweepConfig(
        behavior=args.behavior,
        measures=measures,
        task=args.task,
        coefficients=coeffs,
        n=args.n,
        seed=args.seed,
        model=args.model,
        vector=args.vector,
        layers=args.layers,
        method=args.method,
        n_pairs=args.n_pairs,
        generate=args.generate,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        batch_size=args.batch_size,
        coef_chunk=args.coef_chunk,
        fit_max_abs=args.fit_max_abs,
        delta_ref=args.delta_ref,
        data_dir=args.data_dir,
        device=args.device,
        dtype=args.dtype,
        out=args.out,
        resume=args.resume,
        repair=args.repair,
        progress=not args.no_progress,
    )
    validate(config)  # bad input is refused before torch and the model are loaded
    if config.out is not None:
        io.check_output_dir(config.out, option="--out")
    from steerbounds.empirical.sweep.run import MANIFEST, RESULTS, SUMMARY_CSV, SUMMARY_JSON, run_sweep

    out = run_sweep(config)
    summary = io.read_json(out / SUMMARY_JSON, what="summary")
    print(tabulate(list(summary_rows(summary)), headers=["quantity", "value"]))
    files = ", ".join(str(out / f) for f in (RESULTS, SUMMARY_JSON, SUMMARY_CSV, MANIFEST, "tables/"))
    print(f"results: {files}")
    return 0
