"""``steerbounds merge``: the shards (or any partial runs) of one sweep joined into one folder.

:func:`merge_runs` reads each folder's manifest and log (without writing to it),
refuses folders that are not runs of the same sweep — they must agree on every
manifest entry that determines the records (:data:`~steerbounds.empirical.sweep.run.IDENTITY`:
format, result-determining config, model and vector hashes, layers, grid, Δλ
reference, answer tokens, prompts) — and refuses a unit logged with different records
in two folders (a unit logged identically twice is kept once). A unit of the plan that
no folder holds is reported (the shards not given, the folders not finished) and
refused unless ``allow_partial``. The new folder then holds what a single-process run
would have written: the log in plan order, its vector, the tables, the summary and a
manifest with ``status`` ``complete`` (``partial`` for an allowed partial merge) and
``merged_from``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from steerbounds import io
from steerbounds.empirical.sweep.config import SweepConfig
from steerbounds.empirical.sweep.run import FORMAT, VECTOR, identity_difference, open_run
from steerbounds.empirical.sweep.shard import shard_label
from steerbounds.empirical.sweep.units import Unit, in_plan_order, plan_units
from steerbounds.errors import InputError

SHOWN = 3  # missing units named in the error


@dataclass
class _Source:
    folder: Path
    manifest: dict[str, Any]
    lines: list[dict[str, Any]]


@dataclass
class MergeResult:
    """The merged folder, how many units it holds of how many planned, the missing
    unit keys (only with ``allow_partial``) and the folders merged."""

    folder: Path
    units: int
    total: int
    missing: list[str]
    sources: list[Path]


def plan_of(manifest: Mapping[str, Any]) -> list[Unit]:
    """Every work unit of the sweep a manifest describes (its config, absolute grid
    and prompts), in plan order."""
    names = {f.name for f in fields(SweepConfig)}
    given = manifest.get("config", {})
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in names
    }
    config = SweepConfig(**values)
    config.coefficients = tuple(manifest.get("grid", ()))
    prompts = manifest.get("prompts", {})
    return plan_units(config, len(prompts.get("task", [])), len(prompts.get("behavior", [])))


def _read(folder: Path) -> _Source:
    store, manifest = open_run(folder, "RUN_DIR")
    if manifest.get("format") != FORMAT:
        raise InputError(
            f"RUN_DIR: {str(folder)!r} holds a sweep of format {manifest.get('format')!r}, not {FORMAT!r}"
        )
    return _Source(folder, manifest, store.records())


def _units(sources: Sequence[_Source]) -> dict[str, dict[str, Any]]:
    """Each unit's log line, once; a unit logged differently in two folders is refused."""
    found: dict[str, dict[str, Any]] = {}
    where: dict[str, Path] = {}
    for src in sources:
        for line in src.lines:
            key = str(line.get("unit"))
            if key in found and found[key] != line:
                first, other = str(where[key]), str(src.folder)
                raise InputError(f"merge: unit {key!r} has different records in {first!r} and {other!r}")
            found.setdefault(key, line)
            where.setdefault(key, src.folder)
    return found


def _missing_message(missing: Sequence[str], total: int, sources: Sequence[_Source]) -> str:
    shown = ", ".join(missing[:SHOWN]) + (", …" if len(missing) > SHOWN else "")
    parts = [f"merge: {len(missing)} of {total} units missing ({shown})"]
    shards = [src.manifest.get("shard") for src in sources]
    counts = {s[1] for s in shards if s}
    if all(shards) and len(counts) == 1:
        count = counts.pop()
        absent = sorted(set(range(count)) - {s[0] for s in shards if s})
        if absent:
            parts.append("shards not given: " + ", ".join(shard_label((i, count)) for i in absent))
    unfinished = [str(src.folder) for src in sources if src.manifest.get("status") == "running"]
    if unfinished:
        parts.append("unfinished (resume them): " + ", ".join(unfinished))
    return "; ".join(parts) + "; or pass --allow-partial"


def merge_runs(
    runs: Sequence[str | Path],
    out: str | Path,
    *,
    allow_partial: bool = False,
    fit_max_abs: float | None = None,
) -> MergeResult:
    """Merge the sweep folders ``runs`` into the new folder ``out`` (see the module doc)."""
    from steerbounds.empirical.reduce.summary import write_summary
    from steerbounds.empirical.reduce.tables import tables_from_records, write_tables

    if not runs:
        raise InputError("RUN_DIR: give at least one sweep folder")
    target = io.check_output_dir(out, option="--out")
    folders = [Path(r).expanduser() for r in runs]
    if any(f.resolve() == target.resolve() for f in folders if f.exists()):
        raise InputError(f"--out: {str(target)!r} is one of the folders to merge; choose a new folder")
    sources = [_read(f) for f in folders]
    first = sources[0]
    for src in sources[1:]:
        diff = identity_difference(first.manifest, src.manifest)
        if diff is not None:
            raise InputError(
                f"merge: {str(src.folder)!r} is not a run of the same sweep as {str(first.folder)!r} ({diff})"
            )
    plan = plan_of(first.manifest)
    found = _units(sources)
    lines = in_plan_order(list(found.values()), plan)
    missing = [u.key for u in plan if u.key not in found]
    if missing and not allow_partial:
        raise InputError(_missing_message(missing, len(plan), sources))
    manifest = {k: v for k, v in first.manifest.items() if k != "shard"}
    manifest.update(
        status="partial" if missing else "complete",
        units_done=len(lines),
        units_total=len(plan),
        merged_from=[str(f) for f in folders],
        updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    with io.output_dir(target, option="--out") as folder, io.RunStore(folder) as store:
        if store.read_manifest() is not None or store.records_path.exists():
            raise InputError(f"--out: {str(folder)!r} already holds a sweep; choose a new folder")
        vector = next((src.folder / VECTOR for src in sources if (src.folder / VECTOR).is_file()), None)
        if vector is not None:
            io.write_bytes(folder / VECTOR, vector.read_bytes())
        store.extend(lines)
        tables = tables_from_records(lines, manifest=manifest)
        write_tables(tables, folder)
        write_summary(tables, folder, fit_max_abs=fit_max_abs)
        store.write_manifest(tables.manifest)
    return MergeResult(folder, len(lines), len(plan), missing, folders)
