"""``steerbounds simulate``: Monte-Carlo verdicts on every bound of the paper.

Quick by default (~10^3 instances per result); ``--thorough`` draws ≥ 10^5. Prints a
table (result × form × instances × violations × worst slack × verdict), the
statistical claims and the probes; ``--json`` prints the machine-readable report
instead; ``--out DIR`` writes ``verdicts.json`` and PNG figures, checkpointing each
finished result so an interrupted run resumes where it stopped. Exit status 1 only
when a result's default form (one marked as holding) is violated; 2 on bad input.
Registration imports nothing heavy (JAX is imported when the command runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from steerbounds.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="check every bound on synthetic instances (Monte Carlo)",
        description="Draw synthetic steering instances satisfying each result's assumptions, evaluate every "
        "bound (stated and proved forms) with the realised parameters, and report violations, "
        "minimal counterexamples, statistical claims and probes outside the assumptions.",
    )
    p.add_argument(
        "--thorough", action="store_true", help="at least 10^5 instances per result (default: quick)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed, an integer in [0, 2^32) (default 0)")
    p.add_argument(
        "--instances", type=int, default=None, help="instances per result (overrides quick/thorough)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON report to stdout (nothing else)")
    p.add_argument("--out", metavar="DIR", default=None, help="write verdicts.json and PNG figures into DIR")
    p.set_defaults(func=run)


def _check_out(out: str | None) -> None:
    if out is None:
        return
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"--out must be a directory (it exists as a file: {out})")
    os.makedirs(out, exist_ok=True)


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    seed, n = args.seed, args.instances
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed must be an integer in [0, 2^32); got {seed}")
    if n is not None and not 1 <= n <= 10**7:
        raise InputError(f"--instances must be an integer in [1, 10^7]; got {n}")
    _check_out(args.out)

    from steerbounds.simulate import claims as cl
    from steerbounds.simulate import report as rp
    from steerbounds.simulate.verdicts import Verdict, run_verdicts

    settings = {"seed": seed, "thorough": bool(args.thorough), "n_instances": n}
    done, on_result = None, None
    if args.out:
        ckpt = os.path.join(args.out, "verdicts.partial.json")
        state = {"settings": settings, "results": {}}
        if os.path.exists(ckpt):
            with open(ckpt, encoding="utf-8") as fh:
                old = json.load(fh)
            if old.get("settings") == settings:
                state = old
        done = {k: [Verdict.from_dict(d) for d in v] for k, v in state["results"].items()}

        def on_result(name, verdicts):
            state["results"][name] = [v.to_dict() for v in verdicts]
            _atomic_write(ckpt, json.dumps(state))

    verdicts = run_verdicts(
        thorough=bool(args.thorough),
        seed=seed,
        n_instances=n,
        done=done,
        on_result=on_result,
        progress=not args.json and sys.stderr.isatty(),
    )
    scale = 10 if args.thorough else 1
    claims = cl.run_claims(seed=seed, n=20_000 * scale)
    probes = cl.run_probes(seed=seed, n=2_000 * scale)
    report = rp.build_report(verdicts, claims, probes, seed=seed, thorough=bool(args.thorough), n_instances=n)

    if args.out:
        from steerbounds.simulate.figures import write_figures

        report["figures"] = write_figures(args.out, seed=seed)
        _atomic_write(os.path.join(args.out, "verdicts.json"), rp.to_json(report))
        os.remove(os.path.join(args.out, "verdicts.partial.json"))
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
        if args.out:
            print(f"\nwrote {os.path.join(args.out, 'verdicts.json')} and {len(report['figures'])} figures")
    return report["exit_status"]
