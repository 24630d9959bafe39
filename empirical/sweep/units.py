"""Work units of a sweep: a chunk of coefficients × a batch of queries, with a stable key.

A unit is the grain of the run store: it is measured in one batched pass and
appended as one record line, so a killed run loses at most the unit in flight and
a resume (or another shard) skips every unit whose key is already logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from steerbounds.empirical.sweep.config import BEHAVIOR_MEASURES, TASK_MEASURES, SweepConfig

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
