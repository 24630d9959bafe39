"""Command-line pieces shared by the areas' commands.

Registration only (no torch import): a subcommand documented by the docstring of
the function that runs it (:func:`add_command`), an option whose value is checked as it is
parsed (:func:`add_checked` with a :class:`Kind`), which model is loaded and where it is placed
(:func:`add_model`; ``--device``, ``--device-map``, ``--max-memory``: :func:`add_placement`,
read by :func:`steerbounds.empirical.steering.models.load_model`), the progress switch
(``--no-progress``/``--quiet``: :func:`steerbounds.progress.disable`), and a
command's configuration dataclass filled from its parsed options (:func:`config_from`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Config = TypeVar("Config", bound="DataclassInstance")

#: accelerate's placement strategies (= ``steerbounds.empirical.steering.models.DEVICE_MAPS``)
DEVICE_MAP_CHOICES = ("auto", "balanced", "balanced_low_0", "sequential")
#: the weights' precisions a model can be loaded in
DTYPE_CHOICES = ("float32", "bfloat16", "float16")


class Kind(NamedTuple):
    """What an option's value must be: ``convert(text)``, satisfying ``ok``, said as ``what``."""

    convert: Callable[[str], Any]
    ok: Callable[[Any], bool]
    what: str


def at_least(low: int) -> Kind:
    """A whole number ≥ ``low``."""
    return Kind(int, lambda v: v >= low, f"an int ≥ {low}")


POSITIVE_INT = at_least(1)
FINITE = Kind(float, math.isfinite, "a finite number")
POSITIVE = Kind(float, lambda v: 0 < v < math.inf, "a number > 0")
FRACTION = Kind(float, lambda v: 0 < v < 1, "a number in (0, 1)")
B_STAR = Kind(float, lambda v: -1 < v < 1, "a number in (-1, 1)")  # a behaviour expectation


def add_checked(p: argparse.ArgumentParser, flag: str, kind: Kind, **kwargs: Any) -> None:
    """Add the option ``flag``, whose value must be of ``kind``: otherwise it is refused
    with one line naming ``flag``."""

    def parse(text: str) -> Any:
        try:
            value = kind.convert(text)
        except ValueError:
            value = None
        if value is None or not kind.ok(value):
            raise argparse.ArgumentTypeError(f"{flag} must be {kind.what}, got {text!r}")
        return value

    p.add_argument(flag, type=parse, **kwargs)


def add_command(
    subparsers: Any, name: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, run by ``run``, and return its parser.

    ``run``'s docstring is the command's documentation: its first paragraph is the
    line in the command list, the rest the description of ``NAME --help`` (so
    ``python -OO``, which strips docstrings, leaves the commands without help text).
    """
    summary, _, description = (run.__doc__ or "").partition("\n\n")
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=_one_line(summary).replace("%", "%%"), description=_one_line(description) or None
    )
    parser.set_defaults(func=run)
    return parser


def _one_line(paragraph: str) -> str:
    """A docstring paragraph as one line (argparse %-formats a subcommand's help line, so
    :func:`add_command` escapes its %; a description is printed as it is)."""
    return " ".join(paragraph.split())


def config_from(
    cls: type[Config], args: argparse.Namespace, *, defaulted: Collection[str] = (), **given: Any
) -> Config:
    """The dataclass ``cls`` with ``given`` fields, and every other field from the parsed
    option of the same name in ``args``.

    A field that is neither given, nor a parsed option, nor named in ``defaulted`` (left at
    its default on purpose) raises ``TypeError`` naming it: an option renamed later cannot
    leave its field silently at the default.
    """
    parsed = vars(args)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in given]
    unmatched = [n for n in names if n not in parsed and n not in defaulted]
    if unmatched:
        raise TypeError(f"{cls.__name__}: no option, value or default named for {', '.join(unmatched)}")
    return cls(**{n: parsed[n] for n in names if n in parsed}, **given)


def add_placement(p: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """``--device``, ``--device-map`` and ``--max-memory`` (``prefix``: e.g. "with --model: ")."""
    p.add_argument(
        "--device",
        default="cpu",
        help=f"{prefix}auto, cpu, cuda or cuda:N (default cpu; auto = cuda:0 where CUDA is available, "
        "else cpu)",
    )
    p.add_argument(
        "--device-map",
        default=None,
        choices=DEVICE_MAP_CHOICES,
        help=f"{prefix}let accelerate place the blocks over the GPUs, the CPU and the disk instead of "
        "--device (default: none, the whole model on --device)",
    )
    p.add_argument(
        "--max-memory",
        default=None,
        metavar="DEVICE=SIZE,…",
        help=f"{prefix}with --device-map: memory per device, e.g. 0=20GiB,cpu=60GiB (beyond it, blocks "
        "are offloaded to disk; default: accelerate's, all free memory)",
    )


def add_numbers(p: argparse.ArgumentParser, *rows: tuple[str, Kind, Any, str]) -> None:
    """One :func:`add_checked` option per row ``(flag, kind, default, help)``: a command's
    numeric options as one table."""
    for flag, kind, default, text in rows:
        add_checked(p, flag, kind, default=default, help=text)


def add_model(p: argparse.ArgumentParser) -> None:
    """The options that say which model to load (``--model``, ``--dtype``), where it is
    placed (:func:`add_placement`), its progress bars and where its data comes from."""
    p.add_argument(
        "--model", default=None, help="HF folder, .gguf file or hub id (default: SmolLM2-135M-Instruct)"
    )
    add_placement(p)
    p.add_argument(
        "--dtype", default="float32", choices=DTYPE_CHOICES, help="weights' precision (default float32)"
    )
    add_progress(p)
    p.add_argument(
        "--data-dir", default=None, help="folder with the full data sets (default: the shipped subsets)"
    )


def placement(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``load_model`` given by :func:`add_placement`'s options."""
    return {"device": args.device, "device_map": args.device_map, "max_memory": args.max_memory}


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (alias ``--quiet``)."""
    p.add_argument(
        "--no-progress",
        "--quiet",
        dest="no_progress",
        action="store_true",
        help="no progress bars (extraction, sweeps, model loading and conversion); results still print",
    )


def apply_progress(args: argparse.Namespace) -> None:
    """Turn every progress bar of this process off when ``--no-progress`` was given."""
    if getattr(args, "no_progress", False):
        from steerbounds import progress

        progress.disable()
