"""``steerbounds simulate``: Monte-Carlo verdicts on every bound of the paper.

Quick by default (~10^3 instances per result); ``--thorough`` draws ≥ 10^5. Prints a
table (result × form × instances × violations × worst slack × verdict), the
statistical claims and the probes; ``--json`` prints the machine-readable report
instead; ``--out DIR`` writes ``verdicts.json`` and PNG figures, checkpointing each
finished result (:mod:`~steerbounds.simulate.checkpoint`) so an interrupted run
resumes where it stopped. Every setting, ``--out`` included, is checked before any
work. Exit status 1 only when a result's default form (one marked as holding) is
violated; 2 on bad input. Registration imports nothing heavy (JAX is imported when
the command runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steerbounds import options
from steerbounds.errors import InputError
from steerbounds.io import check_output_dir

if TYPE_CHECKING:
    from steerbounds.simulate.claims import Claim, Probe
    from steerbounds.simulate.verdicts import Verdict


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand to the ``steerbounds`` parser."""
    p = options.add_command(subparsers, "simulate", run)
    p.add_argument(
        "--thorough", action="store_true", help="at least 10^5 instances per result (default: quick)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed, an integer in [0, 2^32) (default 0)")
    p.add_argument(
        "--instances", type=int, default=None, help="instances per result (overrides quick/thorough)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON report to stdout (nothing else)")
    p.add_argument("--out", metavar="DIR", default=None, help="write verdicts.json and PNG figures into DIR")


def prepare_out(out: str) -> Path:
    """Check ``--out`` (a folder that exists or can be made) and create it; InputError if not.

    Called before any work: a file, a path under a file, or a folder that cannot be
    created or written ends the command with one line on stderr and exit status 2.
    """
    path = check_output_dir(out, option="--out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out: cannot create the folder {str(path)!r} ({exc.strerror or exc})") from None
    return path


def _claims_and_report(
    verdicts: list[Verdict], *, seed: int, thorough: bool, n_instances: int | None
) -> tuple[list[Claim], list[Probe], dict[str, Any]]:
    """The statistical claims, the probes and the report built from them and ``verdicts``."""
    from steerbounds.simulate import claims as cl
    from steerbounds.simulate import report as rp

    scale = 10 if thorough else 1
    claims = cl.run_claims(seed=seed, n=20_000 * scale)
    probes = cl.run_probes(seed=seed, n=2_000 * scale)
    report = rp.build_report(verdicts, claims, probes, seed=seed, thorough=thorough, n_instances=n_instances)
    return claims, probes, report


def run(args: argparse.Namespace) -> int:
    """check every bound on synthetic instances (Monte Carlo)

    Draw synthetic steering instances satisfying each result's assumptions, evaluate every bound
    (stated and proved forms) with the realised parameters, and report violations, minimal
    counterexamples, statistical claims and probes outside the assumptions.
    """
    seed, n = args.seed, args.instances
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed must be an integer in [0, 2^32); got {seed}")
    if n is not None and not 1 <= n <= 10**7:
        raise InputError(f"--instances must be an integer in [1, 10^7]; got {n}")
    out = None if args.out is None else prepare_out(args.out)

    from steerbounds.simulate import report as rp

    thorough = bool(args.thorough)
    progress = not args.json and sys.stderr.isatty()

    if out is None:
        from steerbounds.simulate.verdicts import run_verdicts

        verdicts = run_verdicts(thorough=thorough, seed=seed, n_instances=n, progress=progress)
        claims, probes, report = _claims_and_report(verdicts, seed=seed, thorough=thorough, n_instances=n)
    else:
        from steerbounds.io import RunStore, write_text
        from steerbounds.simulate.checkpoint import CHECKPOINT, checkpointed_verdicts
        from steerbounds.simulate.figures import write_figures

        with RunStore(out, records=CHECKPOINT) as store:
            verdicts = checkpointed_verdicts(
                store, seed=seed, thorough=thorough, n_instances=n, progress=progress
            )
            claims, probes, report = _claims_and_report(verdicts, seed=seed, thorough=thorough, n_instances=n)
            report["figures"] = write_figures(out, seed=seed)
            write_text(out / "verdicts.json", rp.to_json(report))
            store.records_path.unlink(missing_ok=True)  # the run is complete: its checkpoint goes
    if args.json:
        print(rp.to_json(report))
    else:
        print(rp.verdict_table(verdicts))
        print()
        print(rp.claim_table(claims))
        print()
        print(rp.probe_table(probes))
        if report["findings"]:
            print("\nFindings (printed statements that fail):")
            for line in report["findings"]:
                print(f"  - {line}")
        if out is not None:
            print(f"\nwrote {out / 'verdicts.json'} and {len(report['figures'])} figures")
    return int(report["exit_status"])
