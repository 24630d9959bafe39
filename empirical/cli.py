"""``steerbounds extract`` and ``steerbounds sweep`` (registration imports no torch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from steerbounds import options
from steerbounds.errors import InputError
from steerbounds.options import B_STAR, FINITE, FRACTION, POSITIVE, POSITIVE_INT, add_checked, add_numbers

_MEASURES = ("all", "helpfulness", "behavior", "lambda", "sigma", "delta")
_BEHAVIORS = ("harmful", "harmless", "racist", "not_racist", "honesty")
_JUDGES = ("compliance", "refusal", "agreement", "disagreement")  # workloads.judges.JUDGES
METHOD_CHOICES = ("pca", "pca_centered", "mean_diff", "gradient")


def _shard(text: str) -> tuple[int, int]:
    from steerbounds.empirical.sweep.shard import parse_shard

    try:
        return parse_shard(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _measurement_options(p: argparse.ArgumentParser) -> None:
    """The options that give a behaviour's measurement or a task as files."""
    p.add_argument(
        "--prompts",
        dest="prompts_file",
        default=None,
        help="behaviour prompts file: JSONL/CSV with a prompt (verbatim) or text (chat-templated) field, "
        "or plain text, one user turn per line (default: the recipe's)",
    )
    p.add_argument(
        "--answers",
        dest="answers_file",
        default=None,
        help='answer starts of the next-token B (eq. 3): JSON {"positive": [...], "negative": [...]} '
        "(default: the recipe's)",
    )
    p.add_argument(
        "--judge",
        default=None,
        choices=_JUDGES,
        help="judge of generated text, +1 = the named behaviour (default: the recipe's)",
    )
    p.add_argument(
        "--task-file",
        dest="task_file",
        default=None,
        help="helpfulness task as a CSV in the MMLU layout: question, A, B, C, D, answer (letter or index)",
    )


def _recipe_options(p: argparse.ArgumentParser, *, behavior: str) -> None:
    """The options of a behaviour's vector recipe (App. F.2)."""
    p.add_argument(
        "--behavior",
        default=behavior,
        help=f"the behaviour steered toward, r_e > 0 increases it: a recipe ({', '.join(_BEHAVIORS)}; "
        f"default {behavior}) or your own name with --pairs (and --prompts, --answers, --judge to "
        "measure it)",
    )
    p.add_argument(
        "--pairs",
        dest="pairs_file",
        default=None,
        help="contrast pairs file: JSONL or CSV with fields positive, negative (positive = steered toward)",
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
        help="pca (first principal direction of the pair differences), pca_centered, mean_diff, or "
        "gradient (Proposition 1, eqs. 63-65: the per-layer gradient of the preference log-odds of the "
        "recipe's answer starts on its training queries; extract takes --prompts/--answers for it) "
        "(default pca)",
    )
    add_checked(p, "--n-pairs", POSITIVE_INT, default=128, help="contrast pairs, ≥ 1 (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data subsets and sampling (default 0)")


def _fit_range_option(p: argparse.ArgumentParser) -> None:
    """``--fit-max-abs``: the |r_e| range of the summary's linear fits (sweep and merge)."""
    add_checked(
        p,
        "--fit-max-abs",
        POSITIVE,
        default=None,
        help="|r_e| range of the linear λ, λσ and Δλ fits (default: half the largest |r_e|; summary only)",
    )


def register(subparsers: Any) -> None:
    """Add the ``extract`` and ``sweep`` subcommands."""
    ex = options.add_command(subparsers, "extract", _extract)
    _recipe_options(ex, behavior="harmful")
    ex.add_argument(
        "--prompts",
        dest="prompts_file",
        default=None,
        help="--method gradient: the prompts x of the preference data (eq. 63), a file as for sweep "
        "--prompts (default: the recipe's queries on the training half)",
    )
    ex.add_argument(
        "--answers",
        dest="answers_file",
        default=None,
        help='--method gradient: the preferred / dispreferred answer starts, JSON {"positive": [...], '
        '"negative": [...]} (default: the recipe\'s)',
    )
    options.add_model(ex)
    ex.add_argument("--out", required=True, help="output .safetensors file")
    ex.add_argument("--json", action="store_true", help="print what was written as JSON")

    sw = options.add_command(subparsers, "sweep", _sweep)
    _recipe_options(sw, behavior="racist")
    _measurement_options(sw)
    options.add_model(sw)
    sw.add_argument("--measure", default="all", help=f"comma list of {', '.join(_MEASURES)} (default all)")
    sw.add_argument(
        "--task",
        default="facts",
        choices=("mmlu", "arithmetic", "facts"),
        help="helpfulness task (default facts: capitals, which the default model knows; --task-file "
        "replaces it)",
    )
    sw.add_argument(
        "--coefficients",
        default=None,
        help="r_e grid: start:stop:step (inclusive) or a comma list; prefixed rel: it is in units of the "
        "model's scale r_max (residual norm at the steered blocks / their number) — default rel:-1:1:0.25",
    )
    sw.add_argument("--vector", default=None, help="steering vector file (default: extract and keep in OUT)")
    add_numbers(
        sw,
        ("--n", POSITIVE_INT, 8, "queries per task group (MMLU: subject) and behaviour prompts (default 8)"),
        ("--max-new-tokens", POSITIVE_INT, 24, "tokens generated per behaviour answer (default 24)"),
        ("--temperature", POSITIVE, 1.0, "sampling temperature of --generate sampled/both (default 1.0)"),
        ("--batch-size", POSITIVE_INT, 8, "prompts per forward pass (default 8)"),
        ("--coef-chunk", POSITIVE_INT, 3, "coefficients per pass; memory ∝ it × --batch-size (default 3)"),
        ("--delta-ref", FINITE, None, "r_e defining the steered top-40 cluster (default: the largest)"),
        ("--target", B_STAR, 0.5, "B* for the coefficient line of the summary (default 0.5)"),
    )
    sw.add_argument(
        "--generate",
        default="greedy",
        choices=("none", "greedy", "sampled", "both"),
        help="judged generations of the behaviour prompts: greedy (App. F.3), sampled at --temperature, "
        "both, or none (default greedy)",
    )
    _fit_range_option(sw)
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
    sw.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="measure only part I of N (0 ≤ I < N) of the work units, e.g. "
        "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; join the N folders with steerbounds merge",
    )
    sw.add_argument(
        "--ray",
        default=None,
        metavar="auto|local|ADDRESS",
        help="measure the units on Ray workers (needs steerbounds[ray]): auto = the running cluster "
        "(RAY_ADDRESS or the last one started here) else a new local one, local = a new local one, "
        "HOST:PORT or ray://HOST:PORT = that cluster",
    )
    add_checked(
        sw,
        "--ray-workers",
        POSITIVE_INT,
        default=None,
        help="Ray workers, each loading the model once and reserving this process's torch threads "
        "(OMP_NUM_THREADS) in CPUs, or one GPU with --device cuda (default and at most: as many as "
        "the cluster has room for)",
    )
    sw.add_argument("--verbose", action="store_true", help="also print every quantity of summary.json")
    sw.add_argument("--json", action="store_true", help="print the summary and verdicts as JSON")
    _register_merge(subparsers)
    _register_calibrate(subparsers)
    _register_validate(subparsers)


def _register_merge(subparsers: Any) -> None:
    me = options.add_command(subparsers, "merge", _merge)
    me.add_argument("runs", nargs="+", metavar="RUN_DIR", help="sweep folders (steerbounds sweep --out)")
    me.add_argument("--out", required=True, help="new output folder")
    me.add_argument(
        "--allow-partial", action="store_true", help="merge even if units are missing (status partial)"
    )
    _fit_range_option(me)
    me.add_argument("--json", action="store_true", help="print the summary and verdicts as JSON")


def _merge(args: argparse.Namespace) -> int:
    """join the shards (--shard I/N) or partial runs of one sweep into one run folder

    Join sweep folders of the same sweep (same options, model and vector) into OUT, with every work
    unit once, in plan order: the tables and summary a single run would write. Folders of another
    sweep, or a unit with different records in two folders, are refused; so is a missing unit,
    unless --allow-partial.
    """
    from steerbounds.empirical.sweep.merge import merge_runs

    result = merge_runs(args.runs, args.out, allow_partial=args.allow_partial, fit_max_abs=args.fit_max_abs)
    if not args.json:
        note = f"; {len(result.missing)} missing" if result.missing else ""
        print(f"merged {result.units} of {result.total} units from {len(result.sources)} folders{note}\n")
    return _report(result.folder, fit_max_abs=args.fit_max_abs, as_json=args.json, verbose=False, target=0.5)


def _register_calibrate(subparsers: Any) -> None:
    ca = options.add_command(subparsers, "calibrate", _calibrate)
    add_checked(
        ca, "--target", B_STAR, required=True, help="B* ∈ (−1, 1), the behaviour expectation to reach"
    )
    ca.add_argument(
        "--level",
        default="next-token",
        choices=("next-token", "generated"),
        help="next-token B (eq. 3, default) or judged generations (Theorem 6 with N = --max-new-tokens)",
    )
    ca.add_argument(
        "--task", default="facts", help="helpfulness task: mmlu, arithmetic, facts (default) or none"
    )
    ca.add_argument("--vector", default=None, help="steering vector file (default: extract from the recipe)")
    add_numbers(
        ca,
        ("--min-helpfulness", FRACTION, None, "H: the largest alignment whose helpfulness bound stays ≥ H"),
        ("--confidence", FRACTION, 0.9, "fraction of queries that must reach B* (default 0.9)"),
        ("--n", POSITIVE_INT, 64, "behaviour prompts, split in half (default 64)"),
        ("--n-task", POSITIVE_INT, 24, "task queries, split in half (default 24)"),
        ("--max-new-tokens", POSITIVE_INT, 24, "answer length N for --level generated (default 24)"),
        ("--bootstrap", POSITIVE_INT, 300, "bootstrap resamples for the intervals (default 300)"),
    )
    _recipe_options(ca, behavior="racist")
    _measurement_options(ca)
    options.add_model(ca)
    ca.add_argument("--plot", default=None, help="write a figure of the probes, fit and checks (PNG/PDF/SVG)")
    ca.add_argument("--json", action="store_true", help="print the full result as JSON")


def _check_plot(path: str) -> None:
    """Refuse a ``--plot`` file that cannot be written or is not a PNG, PDF or SVG (before any work)."""
    from steerbounds import io

    io.check_output_file(path, option="--plot")
    if path.rsplit(".", 1)[-1].lower() not in ("png", "pdf", "svg"):
        raise InputError(f"--plot: {path!r} must end in .png, .pdf or .svg")


def _calibrate(args: argparse.Namespace) -> int:
    """the coefficient for a target behaviour B*, its helpfulness cost, verified on held-out prompts

    Probe a few coefficients chosen from the forward-mode slope at r_e = 0, fit Theorem 1 (eq. 27)
    per query and pooled, invert it for --target, fit Theorem 2 on --task, and measure B and
    helpfulness at the returned coefficients on held-out prompts.
    """
    from tabulate import tabulate

    from steerbounds import io
    from steerbounds.empirical.calibrate import ROW_HEADERS, CalibrateConfig, calibrate, plot, validate

    if args.plot is not None:
        _check_plot(args.plot)
    task = None if args.task == "none" else args.task
    if task not in (None, "mmlu", "arithmetic", "facts"):
        raise InputError(f"--task: {args.task!r} is not allowed; use mmlu, arithmetic, facts or none")
    config = options.config_from(CalibrateConfig, args, defaulted=("batch_size",), task=task)
    validate(config)  # refused before the model is loaded
    result = calibrate(config)
    if args.plot is not None:
        plot(result, args.plot)
    if args.json:
        print(io.dumps(result.to_dict(), sort_keys=False))
        return 0
    print(tabulate(result.rows(), headers=ROW_HEADERS))
    fit = result.fit
    print(
        f"Theorem 1 (eq. 27) on {result.n_calibration} calibration prompts: B0 = {result.b0:.3g}, "
        f"Δλ = {fit['delta_lambda']:.3g}; probes {', '.join(f'{p:.3g}' for p in result.probes)}; "
        f"held-out: {result.n_held_out} prompts"
    )
    if result.coefficient_interval is not None:
        print(f"pooled coefficient with its bootstrap interval: {result.coefficient_interval.text()}")
    if result.helpfulness_fit is not None:
        h = result.helpfulness_fit
        print(
            f"Theorem 2 (eq. 6) on the task: λσβ = {h['lam_sigma_beta']:.3g}, α(1−ε) = {h['alpha_eff']:.3g}; "
            f"efficient regime 0 ≤ r_e ≤ {h['efficient_end']:.3g}"
        )
    for note in result.notes:
        print(f"note: {note}")
    print(f"token-forwards: {result.token_forwards}; {result.wall_s:.0f} s")
    return 0


def _register_validate(subparsers: Any) -> None:
    va = options.add_command(subparsers, "validate", _validate)
    va.add_argument("runs", nargs="+", metavar="RUN_DIR", help="sweep folders (steerbounds sweep --out)")
    va.add_argument("--plot", default=None, help="write Fig. 2b from the runs' queries here (PNG/PDF/SVG)")
    va.add_argument("--json", action="store_true", help="print the verdicts as JSON")


def _validate(args: argparse.Namespace) -> int:
    """test the theory per query on finished sweeps (identity, margins, Theorems 1 and 2)

    For every (query, r_e) row of each sweep: the realised-margin identity, the hard margin and its
    linearity (Assumptions 1-2), Theorem 1 with the measured Δλ, the anti-steerable fraction and
    Theorem 2's realised-parameter forms (eqs. 33-34); fractions with exact 95% intervals.
    """
    from tabulate import tabulate

    from steerbounds import io

    if args.plot is not None:
        _check_plot(args.plot)
    from steerbounds.empirical.reduce.tables import load_results
    from steerbounds.empirical.reduce.verdicts import plot_margins, validate_run

    verdicts = [(run, validate_run(load_results(run))) for run in args.runs]
    if args.plot is not None:
        plot_margins(verdicts, args.plot)
    if args.json:
        print(io.dumps({run: v.to_dict() for run, v in verdicts}, sort_keys=False))
        return 0
    for run, v in verdicts:
        print(f"{run} ({v.behavior})")
        print(tabulate(v.rows(), headers=["test", "holds (95% interval)"]))
        print()
    return 0


def _extract(args: argparse.Namespace) -> int:
    """extract a behaviour steering vector (App. F.2 recipe) into a safetensors file

    Extract the steering vector of a behaviour from its contrast pairs (App. F.2): positive = the
    behaviour steered toward (r_e > 0 increases it).
    """
    from steerbounds import io
    from steerbounds.empirical.steering.models import load_model
    from steerbounds.empirical.workloads.behavior import is_recipe
    from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector, recipe_of
    from steerbounds.empirical.workloads.files import read_answers, read_pairs, read_prompts
    from steerbounds.empirical.workloads.recipes import token_sets

    gradient = args.method == "gradient"
    _check_extract_inputs(args, gradient, is_recipe(args.behavior))
    pairs = read_pairs(args.pairs_file) if args.pairs_file is not None else None  # refused before the model
    words = read_answers(args.answers_file) if args.answers_file is not None else None
    if not args.out.endswith(".safetensors"):
        raise InputError(f"--out: expected a .safetensors file name, got {args.out!r}")
    io.check_output_file(args.out, option="--out")  # before the model is loaded
    model = load_model(args.model, dtype=args.dtype, **options.placement(args))
    if pairs is not None:
        pairs = (pairs[0][: args.n_pairs], pairs[1][: args.n_pairs])
    prompts = None
    if args.prompts_file is not None:
        prompts = [r["prompt"] for r in read_prompts(args.prompts_file, model)]
    answers = token_sets(model.tokenizer, *words) if words is not None else None
    vec = extract_behavior_vector(
        model, args.behavior, **recipe_of(args), pairs=pairs, prompts=prompts, answers=answers
    )
    path = vec.save(args.out)
    if args.json:
        print(
            io.dumps(
                {
                    "path": str(path),
                    "behavior": args.behavior,
                    "method": vec.method,
                    "layers": vec.layers,
                    "n_pairs": args.n_pairs,
                    "model": model.name,
                    "model_hash": vec.model_hash,
                    "content_hash": vec.content_hash(),
                },
                sort_keys=False,
            )
        )
        return 0
    print(
        f"wrote {path} ({args.behavior}, {vec.method}, layers {vec.layers[0]}…{vec.layers[-1]}, "
        f"{args.n_pairs} pairs, model {model.name})"
    )
    return 0


def _check_extract_inputs(args: argparse.Namespace, gradient: bool, recipe: bool) -> None:
    """Refuse, before the model is loaded, inputs the chosen method does not read and a
    custom behaviour without the data its method needs."""
    if gradient and args.pairs_file is not None:
        raise InputError(
            "--pairs: --method gradient takes prompts and answer starts (--prompts, --answers), "
            "not contrast pairs"
        )
    if not gradient and (args.prompts_file is not None or args.answers_file is not None):
        raise InputError(
            "--prompts/--answers: only --method gradient reads them; give --pairs for the others"
        )
    if recipe:
        return
    if gradient and (args.prompts_file is None or args.answers_file is None):
        raise InputError(
            f"--behavior: {args.behavior!r} is not a recipe ({', '.join(_BEHAVIORS)}); "
            f"--method gradient needs --prompts and --answers"
        )
    if not gradient and args.pairs_file is None:
        raise InputError(
            f"--behavior: {args.behavior!r} is not a recipe ({', '.join(_BEHAVIORS)}); give --pairs"
        )


def _sweep(args: argparse.Namespace) -> int:
    """measure λ, σ, Δλ, behaviour and helpfulness over steering coefficients (resumable)

    Measure the paper's quantities over a grid of coefficients r_e; results are appended per work
    unit to OUT/results.jsonl, summarised in OUT/summary.json and OUT/summary.csv.
    """
    from steerbounds import io
    from steerbounds.empirical.sweep.config import (
        SweepConfig,
        parse_grid,
        validate,
    )

    measures = tuple(m.strip() for m in args.measure.split(",") if m.strip())
    bad = [m for m in measures if m not in _MEASURES]
    if bad or not measures:
        raise InputError(
            f"--measure: {bad[0] if bad else args.measure!r} is not allowed; use a comma list of "
            f"{', '.join(_MEASURES)}"
        )
    grid, relative = (
        parse_grid(args.coefficients, option="--coefficients")
        if args.coefficients is not None
        else ((), True)
    )
    config = options.config_from(
        SweepConfig,
        args,
        measures=measures,
        coefficients=() if relative else grid,
        relative=grid if relative and grid else None,
        progress=not args.no_progress,
    )
    validate(config)  # bad input is refused before torch and the model are loaded
    if config.out is not None:
        io.check_output_dir(config.out, option="--out")
    from steerbounds.empirical.sweep.run import MANIFEST, run_sweep

    out = run_sweep(config)
    if config.shard is not None:
        from steerbounds.empirical.sweep.shard import shard_label

        manifest = io.read_json(out / MANIFEST, what="manifest")
        if args.json:
            doc = {"shard": list(config.shard), "units": manifest["units_done"], "out": str(out)}
            print(io.dumps(doc, sort_keys=False))
            return 0
        print(
            f"shard {shard_label(config.shard)} complete: {manifest['units_done']} units in {out}; "
            f"join the shards with: steerbounds merge --out MERGED_DIR RUN_DIR..."
        )
        return 0
    return _report(
        out, fit_max_abs=config.fit_max_abs, as_json=args.json, verbose=args.verbose, target=args.target
    )


def _report(out: Path, *, fit_max_abs: float | None, as_json: bool, verbose: bool, target: float) -> int:
    """Print a finished run's brief (or, ``as_json``, its summary and verdict)."""
    from tabulate import tabulate

    from steerbounds import io
    from steerbounds.empirical.reduce.brief import brief
    from steerbounds.empirical.reduce.summary import summarize, summary_rows
    from steerbounds.empirical.reduce.tables import load_results
    from steerbounds.empirical.reduce.verdicts import validate_run
    from steerbounds.empirical.sweep.run import MANIFEST, RESULTS, SUMMARY_CSV, SUMMARY_JSON

    tables = load_results(out)
    summary = summarize(tables, fit_max_abs=fit_max_abs)
    verdict = validate_run(tables, summary) if tables.has("behavior") else None
    if as_json:
        doc = {
            "summary": summary.to_dict(),
            "verdict": verdict.to_dict() if verdict else None,
            "out": str(out),
        }
        print(io.dumps(doc, sort_keys=False))
        return 0
    if verbose:
        print(tabulate(list(summary_rows(summary.to_dict())), headers=["quantity", "value"]))
        print()
    print(brief(tables.manifest, summary, verdict, target=target))
    files = ", ".join(str(out / f) for f in (RESULTS, SUMMARY_JSON, SUMMARY_CSV, MANIFEST, "tables/"))
    print(f"\nfull results: {files}")
    return 0
