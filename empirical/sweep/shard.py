"""Shards of a sweep: a deterministic partition of its work units, for job arrays.

``--shard I/N`` (0 ≤ I < N) runs the units at positions I, I + N, I + 2N, … of the
plan (:func:`~steerbounds.empirical.sweep.units.plan_units`, a pure function of the
options that determine the results), so N jobs with the same options and
I = 0 … N−1 measure every unit exactly once; round-robin over the plan gives every
shard an equal share (±1) of each kind of unit. ``steerbounds merge`` joins the
shards' folders into the folder a single run would have written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.sweep.units import Unit

_ALLOWED = "I/N with integers 0 ≤ I < N (e.g. 0/4, as $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"


def parse_shard(text: str, *, option: str = "--shard") -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)``; anything else is an :class:`InputError` naming ``option``."""
    index, sep, count = str(text).strip().partition("/")
    try:
        shard = (int(index), int(count)) if sep else None
    except ValueError:
        shard = None
    if shard is None:
        raise InputError(f"{option}: expected {_ALLOWED}, got {text!r}")
    return check_shard(shard, option=option)


def check_shard(shard: object, *, option: str = "shard") -> tuple[int, int]:
    """``shard`` as a checked ``(I, N)`` pair (see the module docstring)."""
    if isinstance(shard, (tuple, list)) and len(shard) == 2:
        index, count = shard
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (index, count))
        if ints and 0 <= index < count:
            return int(index), int(count)
    raise InputError(f"{option}: expected {_ALLOWED}, got {shard!r}")


def shard_units(units: Sequence[Unit], shard: tuple[int, int] | None) -> list[Unit]:
    """The units of ``shard`` (all of them for None): positions I, I + N, … of the plan."""
    if shard is None:
        return list(units)
    index, count = shard
    return list(units[index::count])


def shard_label(shard: Sequence[int]) -> str:
    """``"I/N"``."""
    return f"{shard[0]}/{shard[1]}"
