"""Work units of a sweep: a chunk of coefficients × a batch of queries, with a stable key.

A unit is the grain of the run store: it is measured in one batched pass and
appended as one record line, so a killed run loses at most the unit in flight and
a resume (or another shard) skips every unit whose key is already logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from steerbounds.empirical.sweep.config import BEHAVIOR_MEASURES, TASK_MEASURES, SweepConfig
from steerbounds.errors import InputError

UNIT_KINDS = ("task", "behavior", "generate")


@dataclass(frozen=True)
class Unit:
    """``kind``: "task" (helpfulness, λ, σ on the task queries), "behavior" (Δλ and
    next-token behaviour on the behaviour prompts) or "generate" (judged
    generations, ``mode`` greedy or sampled); ``chunk``/``coefficients`` and
    ``batch``/``items`` (query indices) place it in the grid."""

    kind: str
    chunk: int
    coefficients: tuple[float, ...]
    batch: int
    items: tuple[int, ...]
    mode: str | None = None

    @property
    def key(self) -> str:
        kind = self.kind if self.mode is None else f"{self.kind}-{self.mode}"
        return f"{kind}|c{self.chunk}|b{self.batch}"


def plan_units(config: SweepConfig, n_task: int, n_behavior: int) -> list[Unit]:
    """Every work unit of a validated config, in execution order."""
    coeffs = list(config.coefficients)
    chunks = [tuple(coeffs[i : i + config.coef_chunk]) for i in range(0, len(coeffs), config.coef_chunk)]
    kinds: list[tuple[str, str | None, int]] = []
    if any(m in config.measures for m in TASK_MEASURES):
        kinds.append(("task", None, n_task))
    if any(m in config.measures for m in BEHAVIOR_MEASURES):
        kinds.append(("behavior", None, n_behavior))
        if "behavior" in config.measures and config.generate != "none":
            modes = ("greedy", "sampled") if config.generate == "both" else (config.generate,)
            kinds.extend(("generate", m, n_behavior) for m in modes)
    units = []
    for kind, mode, total in kinds:
        batches = [
            tuple(range(i, min(total, i + config.batch_size))) for i in range(0, total, config.batch_size)
        ]
        for ci, chunk in enumerate(chunks):
            for bi, items in enumerate(batches):
                units.append(Unit(kind, ci, chunk, bi, items, mode))
    return units


def in_plan_order(lines: Sequence[Mapping[str, Any]], units: Sequence[Unit]) -> list[Mapping[str, Any]]:
    """Log lines sorted into the order of ``units`` (lines of one unit keep their
    order), so that a log written in any order (Ray workers, merged shards, a unit
    redone after ``--repair``) gives the tables of a run in plan order. A line of a
    unit that is not in ``units`` is an :class:`InputError`."""
    position = {u.key: i for i, u in enumerate(units)}
    stray = next((str(line.get("unit")) for line in lines if line.get("unit") not in position), None)
    if stray is not None:
        raise InputError(f"results: unit {stray!r} is not part of this run's plan")
    return sorted(lines, key=lambda line: position[str(line["unit"])])
