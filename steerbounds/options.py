"""Command-line options shared by every command that loads a model or shows progress.

Registration only (no torch import): where a model is placed (``--device``,
``--device-map``, ``--max-memory``, read by
:func:`steerbounds.empirical.steering.models.load_model`) and the progress switch
(``--no-progress``/``--quiet``: :func:`steerbounds.progress.disable`).
"""

from __future__ import annotations

import argparse
from typing import Any

#: accelerate's placement strategies (= ``steerbounds.empirical.steering.models.DEVICE_MAPS``)
DEVICE_MAP_CHOICES = ("auto", "balanced", "balanced_low_0", "sequential")


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
