"""What a sweep measures: :class:`SweepConfig`, its validation and the coefficient grids."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from steerbounds.empirical.workloads.sources import Sources
from steerbounds.errors import InputError, check_int

MEASURES = ("helpfulness", "lambda", "sigma", "delta", "behavior")
TASK_MEASURES = ("helpfulness", "lambda", "sigma")
BEHAVIOR_MEASURES = ("delta", "behavior")
GENERATE_CHOICES = ("none", "greedy", "sampled", "both")
# the default grid, relative to the model's scale r_max (steerbounds.empirical.sweep.scale)
DEFAULT_RELATIVE = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
RELATIVE_PREFIX = "rel:"
MAX_COEFFICIENTS = 10_000
# |r_e| beyond this drives float32 hidden states to overflow (norms square it): refused
MAX_ABS_COEFFICIENT = 1e9


@dataclass
class SweepConfig(Sources):
    """Everything that determines a sweep's results (see ``steerbounds sweep --help``).

    ``coefficients``: the r_e grid (0 is always measured as the reference), or
    ``relative``: the grid as fractions of the model's scale r_max
    (:func:`~steerbounds.empirical.sweep.scale.residual_scale`), measured on the
    model at the vector's blocks when the run starts (with neither given:
    :data:`DEFAULT_RELATIVE`, ``rel:-1:1:0.25``);
    ``n``: queries per task group (MMLU: per subject) and behaviour prompts;
    ``measures``: subset of :data:`MEASURES` (``("all",)`` = every one);
    ``generate``: judged generations for the behaviour measure (none, greedy,
    sampled, both); ``coef_chunk`` × ``batch_size``: the size of one work unit;
    ``delta_ref``: the coefficient whose top-40 tokens define the good cluster
    (default: the largest coefficient); a ``task_file`` sets ``task="file"``. The model,
    the vector and the behaviour's files: :class:`~steerbounds.empirical.workloads.sources.Sources`.
    Fields marked ``run`` (there: ``device_map``, ``max_memory``) say where and how the run
    is done, not what it measures: ``fit_max_abs`` (the |r_e| range of the
    linear λ, λσ and Δλ fits; None = half the grid's largest |r_e|) only affects the
    summary, so a finished run can be resumed with another; ``shard`` ``(I, N)``: measure
    only the I-th of N parts of the units (:mod:`~steerbounds.empirical.sweep.shard`);
    ``ray``: measure the units on a Ray cluster (``auto``, ``local`` or its address) with
    ``ray_workers`` workers (default: as many as the cluster has room for;
    :mod:`~steerbounds.empirical.sweep.ray_backend`).
    """

    behavior: str = "harmful"
    measures: tuple[str, ...] = ("all",)
    task: str = "mmlu"
    coefficients: tuple[float, ...] = ()
    relative: tuple[float, ...] | None = None
    n: int = 8
    generate: str = "greedy"
    max_new_tokens: int = 24
    temperature: float = 1.0
    batch_size: int = 8
    coef_chunk: int = 3
    delta_ref: float | None = None
    fit_max_abs: float | None = field(default=None, metadata={"run": True})
    out: str | None = field(default=None, metadata={"run": True})
    resume: bool = field(default=False, metadata={"run": True})
    repair: bool = field(default=False, metadata={"run": True})
    progress: bool = field(default=True, metadata={"run": True})
    shard: tuple[int, int] | None = field(default=None, metadata={"run": True})
    ray: str | None = field(default=None, metadata={"run": True})
    ray_workers: int | None = field(default=None, metadata={"run": True})

    def result_key(self) -> dict[str, Any]:
        """The fields that determine the results (not where/how the run is done); a
        relative grid stands for the absolute one it resolves to on the model."""
        skip = {"coefficients"} if self.relative is not None else set()
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in fields(self)
            if not f.metadata.get("run") and f.name not in skip
        }


def parse_grid(spec: str, *, option: str = "coefficients") -> tuple[tuple[float, ...], bool]:
    """A grid and whether it is relative: ``"rel:" + grid`` gives fractions of the
    model's scale r_max (see :class:`SweepConfig`), anything else absolute r_e."""
    text = str(spec).strip()
    relative = text.startswith(RELATIVE_PREFIX)
    return parse_coefficients(text[len(RELATIVE_PREFIX) :] if relative else text, option=option), relative


def parse_coefficients(spec: str, *, option: str = "coefficients") -> tuple[float, ...]:
    """``"a:b:step"`` (inclusive of b, like the paper's grids) or a comma list;
    sorted and without duplicates. A grid whose count overflows or exceeds
    :data:`MAX_COEFFICIENTS` is refused before any list is built."""
    text = str(spec).strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            a, b, step = parts
            if not all(math.isfinite(x) for x in parts) or step <= 0 or b < a:
                raise InputError(f"{option}: {spec!r} needs finite start ≤ stop and step > 0")
            span = (b - a) / step
            if not math.isfinite(span) or span + 1 > MAX_COEFFICIENTS:
                raise InputError(
                    f"{option}: {spec!r} gives {'too many' if not math.isfinite(span) else int(span) + 1} "
                    f"coefficients; allowed at most {MAX_COEFFICIENTS}"
                )
            count = math.floor(span + 1e-9) + 1
            values = [round(a + i * step, 10) for i in range(count)]
        else:
            items = [x for x in text.split(",") if x.strip()]
            if len(items) > MAX_COEFFICIENTS:
                raise InputError(f"{option}: {len(items)} values; allowed at most {MAX_COEFFICIENTS}")
            values = [float(x) for x in items]
    except ValueError:
        raise InputError(f"{option}: cannot parse {spec!r}; use 'start:stop:step' or a comma list") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(f"{option}: {spec!r} must give finite coefficients only")
    return tuple(sorted(set(values)))


def validate(config: SweepConfig) -> SweepConfig:
    """Check every field; expand ``measures=("all",)``; return the config."""
    from steerbounds.empirical.workloads import behavior
    from steerbounds.empirical.workloads.judges import JUDGES
    from steerbounds.empirical.workloads.recipes import BEHAVIORS
    from steerbounds.empirical.workloads.tasks import TASKS

    beh = str(config.behavior).strip().lower().replace("-", "_")
    config.behavior = beh if beh in BEHAVIORS else str(config.behavior).strip()
    if not config.behavior:
        raise InputError(f"behavior: expected a name ({', '.join(BEHAVIORS)} or your own with files)")
    if config.judge is not None and config.judge not in JUDGES:
        raise InputError(f"judge: {config.judge!r} is not allowed; use one of {', '.join(JUDGES)}")
    if config.task_file is not None:
        config.task = "file"
    ms = tuple(config.measures)
    if ms == ("all",) or "all" in ms:
        ms = MEASURES
    bad = [m for m in ms if m not in MEASURES]
    if bad or not ms:
        raise InputError(
            f"measure: {bad[0] if bad else ''!r} is not allowed; use all or {', '.join(MEASURES)}"
        )
    config.measures = tuple(m for m in MEASURES if m in ms)
    behavior.check(
        config,
        needs_prompts=any(m in config.measures for m in BEHAVIOR_MEASURES),
        needs_judge="behavior" in config.measures and config.generate != "none",
    )
    for name in ("pairs_file", "prompts_file", "answers_file", "task_file"):
        path = getattr(config, name)
        if path is not None and not Path(path).expanduser().is_file():
            raise InputError(f"{name}: no such file {path!r}")
    if config.task not in TASKS:
        raise InputError(f"task: {config.task!r} is not allowed; use one of {', '.join(TASKS)}")
    if config.relative is None and not config.coefficients:
        config.relative = DEFAULT_RELATIVE
    if config.relative is not None:
        rel = [float(c) for c in config.relative]
        if not rel or not all(math.isfinite(c) and abs(c) <= 100 for c in rel):
            raise InputError("relative: need finite fractions of the model's scale with |fraction| ≤ 100")
        config.relative = tuple(sorted(set(rel) | {0.0}))
        if config.coefficients:
            raise InputError("coefficients: give an absolute grid or a relative one (rel:…), not both")
        return _validate_rest(config)
    coeffs = [float(c) for c in config.coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise InputError("coefficients: need at least one finite coefficient")
    if len(coeffs) > MAX_COEFFICIENTS:
        raise InputError(f"coefficients: {len(coeffs)} values; allowed at most {MAX_COEFFICIENTS}")
    big = max(abs(c) for c in coeffs)
    if big > MAX_ABS_COEFFICIENT:
        raise InputError(
            f"coefficients: |r_e| must be ≤ {MAX_ABS_COEFFICIENT:g} (float32 hidden states overflow beyond); "
            f"got {big:g}"
        )
    config.coefficients = tuple(sorted(set(coeffs) | {0.0}))
    return _validate_rest(config)


def resolve_grid(config: SweepConfig, r_max: float) -> tuple[float, ...]:
    """The absolute grid of a relative config: fractions × r_max, rounded to 4 digits
    (the paper's grids are printed so)."""
    if config.relative is None:
        return config.coefficients
    grid = tuple(sorted({round(r_max * f, 4) for f in config.relative} | {0.0}))
    if max(abs(c) for c in grid) > MAX_ABS_COEFFICIENT:
        raise InputError(f"relative: the grid reaches |r_e| > {MAX_ABS_COEFFICIENT:g} on this model")
    return grid


def _validate_rest(config: SweepConfig) -> SweepConfig:
    for name in ("n", "n_pairs", "max_new_tokens", "batch_size", "coef_chunk"):
        check_int(name, getattr(config, name))
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise InputError(f"seed: expected an int, got {config.seed!r}")
    if config.generate not in GENERATE_CHOICES:
        raise InputError(
            f"generate: {config.generate!r} is not allowed; use one of {', '.join(GENERATE_CHOICES)}"
        )
    if not (
        isinstance(config.temperature, (int, float))
        and math.isfinite(config.temperature)
        and config.temperature > 0
    ):
        raise InputError(f"temperature: expected a finite number > 0, got {config.temperature!r}")
    if config.fit_max_abs is not None and not (math.isfinite(config.fit_max_abs) and config.fit_max_abs > 0):
        raise InputError(f"fit_max_abs: expected a finite number > 0, got {config.fit_max_abs!r}")
    if config.delta_ref is not None and not (math.isfinite(config.delta_ref) and config.delta_ref != 0):
        raise InputError(f"delta_ref: expected a finite non-zero coefficient, got {config.delta_ref!r}")
    _validate_distribution(config)
    grid = config.relative if config.relative is not None else config.coefficients
    if "delta" in config.measures and config.delta_ref is None and max(grid) <= 0:
        raise InputError("delta_ref: no positive coefficient to define the steered cluster; give delta_ref")
    return config


def _validate_distribution(config: SweepConfig) -> None:
    """Check ``shard``, ``ray`` and ``ray_workers`` (Ray itself is not imported)."""
    from steerbounds.empirical.sweep.ray_backend import check_address
    from steerbounds.empirical.sweep.shard import check_shard

    if config.shard is not None:
        config.shard = check_shard(config.shard)
    if config.ray is not None:
        config.ray = check_address(config.ray)
    if config.ray_workers is not None:
        check_int("ray_workers", config.ray_workers)
        if config.ray is None:
            raise InputError("ray_workers: only with ray (--ray auto|local|ADDRESS)")
