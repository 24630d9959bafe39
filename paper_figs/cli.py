"""``steerbounds paper``: reproduce the paper's experiments and figures end to end.

Registration imports no torch (``steerbounds --help`` stays fast)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from steerbounds import options
from steerbounds.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``paper`` subcommand."""
    p = options.add_command(subparsers, "paper", _paper)
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (12 min measured on 2 CPU cores with the models converted; "
        "the full run takes hours)",
    )
    p.add_argument("--out", default="paper_run", help="run folder (default: ./paper_run)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run in --out (stages and sweep units already done are skipped)",
    )
    p.add_argument("--models", default="chat,base", help="comma list of chat, base (default: both)")
    p.add_argument("--figures-only", action="store_true", help="only refit and redraw from an existing run")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report's path, the figures, the verdicts and the measured time as JSON "
        "(the progress log goes to stderr)",
    )
    options.add_placement(p)
    options.add_progress(p)


def _paper(args: argparse.Namespace) -> int:
    """run every experiment of the paper, fit, draw all figures and write report.md

    Extract the steering vectors, sweep the coefficients on the chat model (SmolLM2-135M-Instruct)
    and the base model (Gemma-3-270M), run HumanEval in the sandbox, simulate, fit the bounds, draw
    Figs. 1-17 (PNG + PDF) and write report.md. Resumable.
    """
    from steerbounds import io
    from steerbounds.paper_figs import report, stages, timings
    from steerbounds.paper_figs.catalog import draw_all
    from steerbounds.paper_figs.data import PaperData

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    bad = [m for m in models if m not in stages.MODEL_BEHAVIORS]
    if not models or bad:
        raise InputError(f"--models: expected a comma list of chat, base; got {args.models!r}")
    out = io.check_output_dir(args.out, option="--out")
    if args.figures_only:
        if not (out / "config.json").is_file():
            raise InputError(
                f"--figures-only: {str(out)!r} holds no paper run (no config.json); run it first"
            )
    elif out.exists() and any(out.iterdir()) and not args.resume:
        raise InputError(
            f"--out: {str(out)!r} is not empty; pass --resume to continue it or choose a new folder"
        )
    start = time.monotonic()
    cfg = stages.Config.quick() if args.quick else stages.Config()
    cfg = stages.Config(
        **{
            **cfg.__dict__,
            "models": models,
            "humaneval_models": tuple(m for m in cfg.humaneval_models if m in models),
        }
    )
    saved = out / "config.json"
    if args.resume and saved.is_file() and io.read_json(saved, what="config") != io.jsonable(cfg.to_dict()):
        raise InputError(
            f"--resume: {str(out)!r} was run with another configuration (--quick or --models differ)"
        )
    log_to = sys.stderr if args.json else sys.stdout
    if not args.figures_only:
        with io.output_dir(out, option="--out"):
            run = stages.Run(
                out,
                cfg,
                resume=True,
                log=lambda msg: print(f"[{time.monotonic() - start:6.0f} s] {msg}", file=log_to, flush=True),
                ledger=timings.Ledger.open(out),
                placement=options.placement(args),
            )
            stages.run_all(run)
    data = PaperData(out)
    drawn = [str(p.relative_to(out)) for p in draw_all(data, out / "figures")]
    path = report.write(out, figures=drawn)
    if args.json:
        wall, cpu, sittings = timings.totals(timings.read(out))
        print(
            json.dumps(
                {
                    "run_dir": str(out),
                    "report": str(path),
                    "evidence": str(out / report.EVIDENCE_CSV),
                    "figures": drawn,
                    "predictions": report.verdicts(report.evidence(data)),
                    "measured": {"wall_s": wall, "cpu_s": cpu, "sittings": sittings},
                },
                indent=1,
            )
        )
    else:
        print(f"report: {path}  ({(time.monotonic() - start) / 60:.1f} min)")
    return 0
