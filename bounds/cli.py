"""``steerbounds coefficient | bound | tradeoff``: the bounds from the command line.

* ``coefficient`` -- the r_e whose Theorem 1 bound reaches a target behaviour, and
  (given Theorem 2's parameters) the helpfulness bound there;
* ``bound NAME`` -- any result of :data:`steerbounds.bounds.RESULTS` over a grid or
  list of values of one parameter (table, CSV or JSON);
* ``tradeoff`` -- :func:`steerbounds.bounds.planner.plan_tradeoff`, with ``--plot``.

Bad input raises :class:`~steerbounds.errors.InputError` (one line, exit 2).
Registration imports neither JAX nor torch (``steerbounds --help`` stays fast): the
parameter flags of ``bound`` are the table :data:`PARAM_HELP` (a test keeps it equal
to the registry's parameters); matplotlib loads only for ``tradeoff --plot``.
``coefficient --from RUN`` and ``tradeoff --from RUN`` read B0, Δλ, λσβ, α(1−ε) and
P0 from a sweep's ``summary.json`` (the Theorem 1 and Theorem 2 fits).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from steerbounds import options
from steerbounds.errors import InputError

if TYPE_CHECKING:  # numpy loads only when a command runs (steerbounds --help stays fast)
    import numpy as np

_MAX_POINTS = 1_000_000
_HELPFULNESS_FLAGS = ("p0", "alpha", "eps", "lam_sigma_beta")


def _float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--{name.replace('_', '-')} must be a number; got {text!r}") from None
    if math.isnan(value):
        raise InputError(f"--{name.replace('_', '-')} must be a number, not NaN")
    return value


def parse_values(name: str, text: str) -> np.ndarray:
    """A value spec as a 1-D float array: ``x``, a list ``a,b,c`` or a grid ``start:stop:step``.

    The grid includes ``stop`` when it falls on the step (to 1e-9 of a step). A grid or
    list of more than :data:`_MAX_POINTS` values (or whose span overflows float64) is
    refused before anything is built.
    """
    import numpy as np

    flag = f"--{name.replace('_', '-')}"
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"{flag} grid must be start:stop:step; got {text!r}")
        start, stop, step = (_float(name, p) for p in parts)
        if not all(map(math.isfinite, (start, stop, step))) or step <= 0 or stop < start:
            raise InputError(f"{flag} grid needs finite start ≤ stop and step > 0; got {text!r}")
        steps = (stop - start) / step  # inf when the span or the quotient overflows
        if not math.isfinite(steps):
            raise InputError(f"{flag} grid has more than 1e308 points; at most {_MAX_POINTS}")
        count = math.floor(steps + 1e-9) + 1
        if count > _MAX_POINTS:
            raise InputError(f"{flag} grid has {count} points; at most {_MAX_POINTS}")
        return start + step * np.arange(count, dtype=np.float64)
    if text.count(",") >= _MAX_POINTS:
        raise InputError(f"{flag} list has {text.count(',') + 1} values; at most {_MAX_POINTS}")
    items = text.split(",")
    if not text or any(not t.strip() for t in items):
        raise InputError(f"{flag} must be a number, a list a,b,c or a grid start:stop:step; got {text!r}")
    return np.array([_float(name, t) for t in items], dtype=np.float64)


def _emit(
    args: argparse.Namespace, payload: dict[str, Any], rows: list[list[Any]], headers: list[str]
) -> None:
    fmt = "json" if getattr(args, "json", False) else getattr(args, "format", "table")
    if fmt == "json":
        print(json.dumps(payload, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers=headers, floatfmt=".6g"))


# --------------------------------------------------------------------------- coefficient


def _helpfulness_args(args: argparse.Namespace) -> dict[str, float] | None:
    given = {k: getattr(args, k) for k in _HELPFULNESS_FLAGS}
    if all(v is None for v in given.values()):
        return None
    needed = ("p0", "alpha", "lam_sigma_beta")
    missing = [f"--{k.replace('_', '-')}" for k in needed if given[k] is None]
    if missing:
        raise InputError(f"helpfulness parameters come together: also give {', '.join(missing)}")
    out = {k: _float(k, v) for k, v in given.items() if v is not None}
    out.setdefault("eps", 0.0)
    return out


def _fill_from_run(args: argparse.Namespace) -> None:
    """Fill the parameters a sweep measured (``--from RUN_DIR``) where no flag gives them:
    B0 and Δλ from its Theorem 1 fit of the next-token behaviour (eq. 27; halved for
    ``--form stated``), P0, α(1−ε) (as α, with ε = 0) and λσβ from its Theorem 2 fit."""
    if args.from_run is None:
        for flag in ("b0", "delta_lambda"):
            if getattr(args, flag) is None:
                raise InputError(f"--{flag.replace('_', '-')} is required (or --from RUN_DIR)")
        return
    from pathlib import Path

    from steerbounds import io

    path = Path(args.from_run)
    summary = io.read_json(path / "summary.json" if path.is_dir() else path, what="--from")
    fits = summary.get("fits", {}) if isinstance(summary, dict) else {}
    t1 = fits.get("theorem1_next_token") or {}
    if "delta_lambda" not in t1:
        reason = t1.get("error", "the run measured no next-token behaviour")
        raise InputError(f"--from: {str(path)!r} has no Theorem 1 fit ({reason})")
    scale = 0.5 if args.form == "stated" else 1.0  # the same curve: Δλ_stated = Δλ_proved/2
    if args.b0 is None:
        args.b0 = repr(t1["b0"])
    if args.delta_lambda is None:
        args.delta_lambda = repr(scale * t1["delta_lambda"])
    t2 = next(
        (fits[k] for k in ("theorem2_full_vocab", "theorem2_choices") if "lam_sigma_beta" in fits.get(k, {})),
        None,
    )
    if t2 is not None and all(getattr(args, k) is None for k in _HELPFULNESS_FLAGS):
        args.p0, args.alpha, args.eps, args.lam_sigma_beta = (
            repr(t2["p0"]),
            repr(t2["alpha_eff"]),
            "0",
            repr(t2["lam_sigma_beta"]),
        )


def _run_coefficient(args: argparse.Namespace) -> int:
    """steering coefficient for a target behaviour (Theorem 1 inverted)

    The smallest r_e whose Theorem 1 bound reaches --target; with Theorem 2's parameters also the
    helpfulness bound there and its relative cost vs r_e = 0.
    """
    from steerbounds.bounds import helpfulness_upper_bound, required_coefficient

    _fill_from_run(args)

    target, b0, dl = (
        _float("target", args.target),
        _float("b0", args.b0),
        _float("delta_lambda", args.delta_lambda),
    )
    coefficient = float(required_coefficient(target, b0, dl, form=args.form))
    payload: dict[str, Any] = {
        "target": target,
        "b0": b0,
        "delta_lambda": dl,
        "form": args.form,
        "coefficient": coefficient,
    }
    rows: list[list[Any]] = [["coefficient r_e", coefficient]]
    helpful = _helpfulness_args(args)
    if helpful is not None:
        h = float(helpfulness_upper_bound(coefficient, **helpful))
        h0 = float(helpfulness_upper_bound(0.0, **helpful))
        payload.update(helpful, helpfulness_bound=h, helpfulness_bound_at_0=h0, relative_cost=1.0 - h / h0)
        rows += [
            ["helpfulness bound at r_e", h],
            ["helpfulness bound at 0", h0],
            ["relative cost", 1.0 - h / h0],
        ]
    _emit(args, payload, rows, ["quantity", "value"])
    return 0


# --------------------------------------------------------------------------- bound


# every parameter of the registry's results, in first-use order, with its symbol and range
PARAM_HELP: dict[str, str] = {
    "r_e": "r_e: steering coefficient, any real",
    "b0": "B0 ∈ (−1, 1): behaviour expectation without steering",
    "delta_lambda": "Δλ ≥ 0: margin times λ (Assumptions 1-2)",
    "lam": "λ ≥ 0: slope of |δr| in r_e (Assumption 1)",
    "delta": "δ ≥ 0: misclassified mass relative to the aligned mass (Theorem 3)",
    "M": "M ≥ 0: depth of the misclassified answers (Theorem 3)",
    "p_plus": "P+ ∈ [0, 1]: mass of the aligned (or upper) answers",
    "p_minus": "P− ∈ [0, 1]: mass of the misaligned (or lower) answers",
    "b_plus": "B+ ∈ [0, 1]: smallest positive score (Theorem 5)",
    "eps": "ε ∈ [0, 1): mass outside the top-T tokens / slack",
    "gamma": "γ ∈ (−1, 1): floor on B0 (Corollary 1)",
    "target": "B* ∈ (−1, 1): behaviour to reach",
    "n_tokens": "N ≥ 1: answer length in tokens (Theorem 6)",
    "p0": "P0 ∈ (0, 1]: P(correct) without steering",
    "alpha": "α ∈ [0, 1]: tightness (Theorem 2)",
    "lam_sigma_beta": "λσβ ≥ 0: curvature of the helpfulness decay (Theorem 2)",
    "c_plus": "c+ ≥ 0: mean positive logit difference (eq. 32)",
    "c_minus": "c− ≤ 0: mean negative logit difference (eq. 32)",
    "n_top": "T ≥ 1: tokens counted, the correct one included (Corollary 2)",
    "p0_steps": "per-step P0 list a,b,c (corollary3_multitoken)",
}


def _param_flags() -> list[str]:
    return list(PARAM_HELP)


def _call_result(name: str, form: str | None, values: dict[str, Any]) -> np.ndarray:
    import numpy as np

    from steerbounds.bounds import RESULTS

    result = RESULTS[name]
    extra: dict[str, Any] = {}
    if name == "theorem2_components":
        if form not in (None, "33", "34", "36"):
            raise InputError(
                f"--form of theorem2_components must be one of 33, 34, 36 (its equation); got {form!r}"
            )
        extra["equation"] = int(form or 33)
    elif form is not None:
        if form not in result.forms:
            allowed = ", ".join(result.forms) if result.forms else "nothing (a single form)"
            raise InputError(f"--form of {name} must be one of {allowed}; got {form!r}")
        extra["form"] = form
    return np.asarray(result.function(**values, **extra), dtype=np.float64)


def _run_bound(args: argparse.Namespace) -> int:
    """evaluate any bound of the registry over a grid

    Evaluate a result of steerbounds.bounds.RESULTS. Each --PARAM takes a number; one of them may
    take a list a,b,c or a grid start:stop:step (default sweep: --r-e). --p0-steps is the per-step
    list of corollary3_multitoken.
    """
    import numpy as np

    from steerbounds.bounds import RESULTS

    name = args.name
    if name not in RESULTS:
        raise InputError(f"unknown bound {name!r}; known: {', '.join(RESULTS)}")
    result = RESULTS[name]
    values: dict[str, Any] = {}
    sweep: str | None = None
    for p in result.params:
        text = getattr(args, p, None)
        if text is None:
            raise InputError(f"{name} needs --{p.replace('_', '-')} ({', '.join(result.params)})")
        parsed = parse_values(p, text)
        if p == "p0_steps":
            values[p] = parsed  # the N decoding steps, not a sweep
            continue
        if parsed.size > 1:
            if sweep is not None:
                raise InputError(
                    f"only one parameter may take several values; got --{sweep.replace('_', '-')} "
                    f"and --{p.replace('_', '-')}"
                )
            sweep = p
            values[p] = parsed
        else:
            values[p] = float(parsed[0])
    extra = sorted({p for p in _param_flags() if getattr(args, p, None) is not None} - set(result.params))
    if extra:
        raise InputError(
            f"{name} takes no --{', --'.join(e.replace('_', '-') for e in extra)} "
            f"(its parameters: {', '.join(result.params)})"
        )
    work = math.prod(np.size(x) for x in values.values())
    if work > _MAX_POINTS:  # corollary3_multitoken: every point times every decoding step
        raise InputError(f"{name} would evaluate {work} points × steps; at most {_MAX_POINTS}")
    bound = np.atleast_1d(_call_result(name, args.form, values))
    column = sweep or ("r_e" if "r_e" in result.params else result.params[0])
    xs = np.atleast_1d(values[column]) if column != "p0_steps" else np.zeros(1)
    if xs.size != bound.size:  # single point
        xs = np.broadcast_to(xs, bound.shape)
    form = args.form or result.default_form
    payload = {
        "name": name,
        "form": form,
        "kind": result.kind,
        "equations": result.equations,
        "parameters": {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in values.items() if k != sweep
        },
        "sweep": column,
        column: xs.tolist(),
        "bound": bound.tolist(),
    }
    rows = [[float(x), float(b)] for x, b in zip(xs, bound, strict=True)]
    _emit(args, payload, rows, [column, f"{name} ({result.kind})"])
    return 0


# --------------------------------------------------------------------------- tradeoff


def _run_tradeoff(args: argparse.Namespace) -> int:
    """alignment/helpfulness tradeoff planner (efficient regime, Pareto curve)

    Theorem 1 and Theorem 2 together: the coefficient for --target and its helpfulness cost, the
    efficient regime (marginal alignment gain > marginal helpfulness loss) and the Pareto curve;
    --plot draws them.
    """
    from steerbounds.bounds.planner import plan_tradeoff

    _fill_from_run(args)
    helpful = _helpfulness_args(args) or {}
    n_grid = args.n_grid  # plan_tradeoff refuses it outside [2, N_GRID_MAX] before any work
    plot = None
    if args.plot:
        from steerbounds.bounds.plotting import check_plot_path

        plot = check_plot_path(args.plot, option="--plot")  # before any work
    plan = plan_tradeoff(
        b0=_float("b0", args.b0),
        delta_lambda=_float("delta_lambda", args.delta_lambda),
        target=None if args.target is None else _float("target", args.target),
        form=args.form,
        r_max=None if args.r_max is None else _float("r_max", args.r_max),
        n_grid=n_grid,
        **helpful,
    )
    if plot is not None:
        from steerbounds.bounds.plotting import plot_tradeoff

        try:
            plot_tradeoff(plan, plot)
        except OSError as exc:  # the folder changed since the check, or a full disk
            raise InputError(f"--plot: cannot write {str(plot)!r}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(plan.as_dict(), indent=2))
        return 0
    d = plan.as_dict()
    keys = [
        "coefficient",
        "behavior_at_coefficient",
        "helpfulness_at_coefficient",
        "relative_helpfulness_cost",
        "coefficient_is_efficient",
        "linear_gain",
        "quadratic_loss",
        "efficient_end",
        "behavior_at_efficient_end",
        "helpfulness_at_efficient_end",
    ]

    def show(key: str) -> Any:
        value = d[key]
        if key == "efficient_end" and value is None:
            return "∞"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:.6g}"

    rows = [[k, show(k)] for k in keys if d[k] is not None or k == "efficient_end"]
    from tabulate import tabulate

    print(tabulate(rows, headers=["quantity", "value"], floatfmt=".6g"))
    if plot is not None:
        print(f"figure written to {args.plot}")
    return 0


# --------------------------------------------------------------------------- registration


def _add_form(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] | None, default: str | None, text: str
) -> None:
    parser.add_argument("--form", choices=choices, default=default, help=text)


def _add_theorem1(parser: argparse.ArgumentParser, delta_lambda: str) -> None:
    parser.add_argument("--b0", default=None, help="B0 ∈ (−1, 1), behaviour without steering")
    parser.add_argument("--delta-lambda", dest="delta_lambda", default=None, help=delta_lambda)
    parser.add_argument(
        "--from",
        dest="from_run",
        default=None,
        metavar="RUN_DIR",
        help="read B0, Δλ (Theorem 1 fit) and P0, α(1−ε), λσβ (Theorem 2 fit) from a sweep's summary.json; "
        "flags given override them",
    )


def _add_helpfulness(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Theorem 2 (helpfulness) parameters, all or none")
    group.add_argument("--p0", help="P0 ∈ (0, 1], P(correct) without steering")
    group.add_argument("--alpha", help="α ∈ [0, 1]")
    group.add_argument("--eps", help="ε ∈ [0, 1) (default 0)")
    group.add_argument("--lam-sigma-beta", dest="lam_sigma_beta", help="λσβ ≥ 0")


def register(subparsers: Any) -> None:
    """Add ``coefficient``, ``bound`` and ``tradeoff`` to the steerbounds CLI."""
    p = options.add_command(subparsers, "coefficient", _run_coefficient)
    p.add_argument("--target", required=True, help="B* ∈ (−1, 1)")
    _add_theorem1(p, "Δλ > 0")
    _add_form(p, ("proved", "stated"), "proved", "Theorem 1 form: eq. 27 (proved, default) or eq. 5 (stated)")
    _add_helpfulness(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = options.add_command(subparsers, "bound", _run_bound)
    p.add_argument("name", help="result name, e.g. theorem1, theorem2, corollary2_expectation")
    p.add_argument(
        "--form", default=None, help="form (stated/proved/corrected; 33/34/36 for theorem2_components)"
    )
    for param in _param_flags():
        p.add_argument(
            f"--{param.replace('_', '-')}", dest=param, default=None, metavar="V", help=PARAM_HELP[param]
        )
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output: an aligned table, CSV or JSON (default table)",
    )
    p.add_argument("--json", action="store_true", help="same as --format json")

    p = options.add_command(subparsers, "tradeoff", _run_tradeoff)
    _add_theorem1(p, "Δλ ≥ 0")
    _add_helpfulness(p)
    p.add_argument("--target", help="B* ∈ (−1, 1)")
    _add_form(p, ("proved", "stated"), "proved", "Theorem 1 form")
    p.add_argument("--r-max", dest="r_max", help="end of the r_e grid (default: automatic)")
    p.add_argument(
        "--n-grid",
        dest="n_grid",
        type=int,
        default=201,
        help="grid points, 2 to 1000000 (default 201)",
    )
    p.add_argument("--plot", help="write the figure here (format by suffix: .png, .pdf, .svg, ...)")
    p.add_argument("--json", action="store_true", help="print the full plan as JSON")
