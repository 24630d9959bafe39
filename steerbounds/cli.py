"""The ``steerbounds`` command line.

Each area registers its own subcommands (``register(subparsers)`` in
``steerbounds.<area>.cli``); registration must not import heavy dependencies
(torch, transformers), so ``steerbounds --help`` stays fast.
Bad input ends with one line on stderr and exit status 2, never a traceback.
A closed stdout (``steerbounds bound ... | head -1``) ends the command quietly, with
nothing on stderr and exit status 141 = 128 + SIGPIPE: the status a shell reports for
a tool killed by SIGPIPE, so ``set -o pipefail`` scripts see a truncated output.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from steerbounds import __version__, options
from steerbounds.errors import InputError

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

# Modules that provide ``register(subparsers) -> None``; each subparser sets
# ``func=callable(args) -> int``.
_AREAS = (
    "steerbounds.bounds.cli",
    "steerbounds.simulate.cli",
    "steerbounds.empirical.cli",
    "steerbounds.empirical.vector_cli",
    "steerbounds.empirical.tradeoff_cli",
    "steerbounds.paper_figs.cli",
)


# argparse takes "-5:5:0.5" or "-2,-1,1" for an unknown option unless it "looks like a
# negative number"; widen that test so coefficient grids and lists may start with "-".
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2, and values
    may start with a minus sign (coefficient grids such as ``-10:10:1``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="steerbounds",
        description="Alignment/helpfulness bounds of steering (Wolf et al., arXiv 2401.16332).",
    )
    parser.add_argument("--version", action="version", version=f"steerbounds {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _warnings_to_stderr(command: str) -> None:
    """Warnings of the ``steerbounds`` logger (e.g. a grid past the small-r_e regime)
    as one line each on stderr: ``steerbounds COMMAND: warning: …``."""
    log = logging.getLogger("steerbounds")
    for old in [h for h in log.handlers if getattr(h, "steerbounds_cli", False)]:
        log.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"steerbounds {command}: warning: %(message)s"))
    handler.steerbounds_cli = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        sys.stdout.flush()  # --help/--version into a closed pipe: BrokenPipeError here
        raise
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    _warnings_to_stderr(args.command)
    options.apply_progress(args)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # output that fit the buffer meets a closed pipe here, not at exit
        return status
    except InputError as exc:
        print(f"steerbounds {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"steerbounds {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
