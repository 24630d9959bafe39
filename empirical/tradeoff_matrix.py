"""Cross-behaviour tradeoffs (``steerbounds tradeoff-matrix``): every vector against every measure.

For a set of behaviours (recipes, :mod:`~steerbounds.empirical.workloads.recipes`) and
helpfulness tasks (:mod:`~steerbounds.empirical.workloads.tasks`):

1. extract each behaviour's vector v (App. F.2) and put its grid in the model's units:
   the coefficients are fractions of v's r_max (:func:`~steerbounds.empirical.sweep.scale.residual_scale`);
2. for each v, one batched pass per query set over the whole grid
   (:func:`~steerbounds.empirical.sweep.measure.record_pass`, r_e = 0 included) measures
   **every** measure from the same logits: each behaviour's next-token B (eq. 3) on its
   prompts and each task's P(correct) (eq. 4), with the exact forward-mode slope at 0;
   each behaviour's judged generations (App. F.3) on its first ``n_generate`` prompts;
3. the tidy table (one row per vector × measure × r_e × query) is reduced by
   :mod:`~steerbounds.empirical.reduce.cross_effects`: curves, slopes at r_e = 0 with
   intervals (the first-order cross-effects), contrasts M(r_e) − M(0), and the efficient
   regime of each vector against each other measure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from steerbounds import io
from steerbounds.empirical.reduce import cross_effects as ce
from steerbounds.empirical.steering.models import SteerableModel, load_configured
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep import measure
from steerbounds.empirical.sweep.scale import residual_scale
from steerbounds.empirical.workloads import recipes
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector
from steerbounds.empirical.workloads.judges import default_judge
from steerbounds.empirical.workloads.sources import ModelSource
from steerbounds.empirical.workloads.tasks import task_queries
from steerbounds.errors import InputError, check_int

TASK_CHOICES = ("arithmetic", "facts", "mmlu")
#: default grid, in fractions of each vector's r_max (symmetric: the slope at 0 is a central difference)
DEFAULT_GRID = (-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0)
SCALE_PROMPTS = 8  # behaviour prompts the residual scale r_max is measured on


@dataclass
class MatrixConfig(ModelSource):
    """What to measure (``steerbounds tradeoff-matrix --help``). ``coefficients`` are
    fractions of each vector's r_max when ``relative`` (default), else absolute r_e;
    each behaviour's vector is extracted from its first ``n_pairs`` contrast pairs. The
    model and its placement: :class:`~steerbounds.empirical.workloads.sources.ModelSource`."""

    behaviors: tuple[str, ...] = ("harmful", "racist", "honesty")
    tasks: tuple[str, ...] = ("arithmetic", "facts")
    coefficients: tuple[float, ...] = DEFAULT_GRID
    relative: bool = True
    n: int = 24
    n_task: int = 32
    n_generate: int = 8
    max_new_tokens: int = 24
    n_pairs: int = 128
    bootstrap: int = 1000
    batch_size: int = 16


def validate(config: MatrixConfig) -> MatrixConfig:
    """Check every field before any model is loaded."""
    if not config.behaviors:
        raise InputError("behaviors: need at least one behaviour")
    config.behaviors = tuple(recipes.canonical_behavior(b) for b in config.behaviors)
    if len(set(config.behaviors)) != len(config.behaviors):
        raise InputError(f"behaviors: {', '.join(config.behaviors)} names a behaviour twice")
    bad = [t for t in config.tasks if t not in TASK_CHOICES]
    if bad:
        raise InputError(f"tasks: {bad[0]!r} is not allowed; use {', '.join(TASK_CHOICES)}")
    if len(set(config.tasks)) != len(config.tasks):
        raise InputError("tasks: a task is named twice")
    c = np.asarray(config.coefficients, float)
    if c.size < 3 or not np.all(np.isfinite(c)) or not (c > 0).any() or not (c < 0).any():
        raise InputError(
            "coefficients: need ≥ 3 finite values with some below and some above 0; "
            f"got {config.coefficients!r}"
        )
    config.coefficients = tuple(sorted({0.0, *(float(x) for x in c)}))
    for name, low in (
        ("n", 2),
        ("n_task", 2),
        ("n_generate", 0),
        ("max_new_tokens", 1),
        ("n_pairs", 1),
        ("bootstrap", 10),
        ("batch_size", 1),
    ):
        check_int(name, getattr(config, name), low)
    if config.n_generate > config.n:
        raise InputError(f"n_generate: {config.n_generate} exceeds n = {config.n} behaviour prompts")
    return config


@dataclass
class TradeoffMatrix:
    """The measured matrix: the tidy table, the forward-mode slopes, each vector's
    r_max and layers, and the reductions of :mod:`~steerbounds.empirical.reduce.cross_effects`."""

    tidy: pd.DataFrame
    jvp: pd.DataFrame
    scales: dict[str, dict[str, Any]]
    config: dict[str, Any]
    wall_s: float = 0.0
    model: str = ""
    reduced: dict[str, pd.DataFrame] = field(default_factory=dict)

    def reduce(self) -> TradeoffMatrix:
        """Fill ``reduced`` with curves, slopes, contrasts and efficient regimes."""
        b, s = int(self.config["bootstrap"]), int(self.config["seed"])
        self.reduced = {
            "curves": ce.curves(self.tidy, bootstrap=b, seed=s),
            "slopes": ce.slopes(self.tidy, self.jvp, bootstrap=b, seed=s),
            "contrasts": ce.contrasts(self.tidy, bootstrap=b, seed=s),
            "efficient": ce.efficient_regimes(self.tidy),
        }
        return self

    def to_dict(self) -> dict[str, Any]:
        return io.jsonable(
            {
                "model": self.model,
                "config": self.config,
                "scales": self.scales,
                "wall_s": self.wall_s,
                **{name: df.to_dict(orient="records") for name, df in self.reduced.items()},
            }
        )

    def write(self, folder: str | Path) -> list[Path]:
        """``tidy.parquet``, ``jvp.csv``, one CSV per reduction and ``result.json`` in ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(out / "tidy.parquet") as tmp:
            self.tidy.to_parquet(tmp, index=False)
        paths = [out / "tidy.parquet", io.write_text(out / "jvp.csv", self.jvp.to_csv(index=False))]
        for name, df in self.reduced.items():
            paths.append(io.write_text(out / f"{name}.csv", df.to_csv(index=False)))
        paths.append(io.write_json(out / "result.json", self.to_dict(), sort_keys=False))
        return paths


# --------------------------------------------------------------------------- measuring


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def softmax_slope(logits0: torch.Tensor, dlogits: torch.Tensor, support: Sequence[int], target: int) -> float:
    """d p_target/d r_e at 0 of p = softmax over ``support`` of the logits, from the
    logits' tangent: p_t (dz_t − Σ_j p_j dz_j)."""
    idx = list(support)
    p = torch.softmax(logits0[idx].double(), dim=0)
    dz = dlogits[idx].double()
    t = idx.index(int(target))
    return float(p[t] * (dz[t] - (p * dz).sum()))


def behavior_slope(
    logits0: torch.Tensor, dlogits: torch.Tensor, plus: Sequence[int], minus: Sequence[int]
) -> float:
    """dB/dr_e at 0 of B = tanh(½ log(P+/P−)) (eq. 3 as in eq. 12): (1 − B²)/2 times
    d log(P+/P−)/dr_e = Σ₊ p_i dz_i/P+ − Σ₋ p_j dz_j/P− (the softmax normaliser's
    derivative is common to log P+ and log P− and cancels)."""
    p = torch.softmax(logits0.double(), dim=-1)
    dz = dlogits.double()
    pp, pm = p[list(plus)], p[list(minus)]
    dlo = (pp * dz[list(plus)]).sum() / pp.sum() - (pm * dz[list(minus)]).sum() / pm.sum()
    b = (pp.sum() - pm.sum()) / (pp.sum() + pm.sum())
    return float((1 - b**2) / 2 * dlo)


@dataclass(frozen=True)
class _QuerySet:
    """One measure's next-token queries: a behaviour's prompts or a task's queries."""

    measure: str
    kind: str
    queries: list[dict[str, Any]]
    plus: list[int] | None = None
    minus: list[int] | None = None


def _query_sets(model: SteerableModel, config: MatrixConfig) -> list[_QuerySet]:
    sets = []
    for b in config.behaviors:
        qs = recipes.behavior_prompts(b, model, n=config.n, seed=config.seed, data_dir=config.data_dir)
        plus, minus = recipes.answer_token_sets(b, model.tokenizer)
        sets.append(_QuerySet(f"{b}:next-token", "next_token", qs, plus, minus))
    for t in config.tasks:
        qs = task_queries(model, t, n=config.n_task, seed=config.seed, data_dir=config.data_dir)
        sets.append(_QuerySet(t, "p_correct", qs))
    return sets


def _measure_set(
    model: SteerableModel, vector: SteeringVector, qs: _QuerySet, coeffs: list[float], batch: int
) -> tuple[list[tuple[float, str, float]], list[tuple[str, float]]]:
    """(r_e, id, value) rows and (id, forward-mode slope) rows of one query set."""
    rows: list[tuple[float, str, float]] = []
    jvp: list[tuple[str, float]] = []
    for chunk in _chunks(qs.queries, batch):
        p = measure.record_pass(model, vector, chunk, coeffs, slope=True)
        assert p.slope_logits is not None  # slope=True records it
        z0, dz = p.logits[p.zero], p.slope_logits
        if qs.plus is not None and qs.minus is not None:
            recs = measure.behavior_records(p, chunk, plus_ids=qs.plus, minus_ids=qs.minus)
            rows += [(r.r_e, r.id, r.b) for r in recs]
            jvp += [
                (str(q["id"]), behavior_slope(z0[i], dz[i], qs.plus, qs.minus)) for i, q in enumerate(chunk)
            ]
        else:
            hrecs = measure.helpfulness_records(p, chunk)
            rows += [(r.r_e, r.id, r.p_choices if r.p_choices is not None else r.p_correct) for r in hrecs]
            for i, q in enumerate(chunk):
                support = q.get("choice_ids") or range(z0.shape[-1])
                jvp.append((str(q["id"]), softmax_slope(z0[i], dz[i], support, q["answer_id"])))
    return rows, jvp


def measure_vector(
    model: SteerableModel,
    vector: SteeringVector,
    name: str,
    sets: Sequence[_QuerySet],
    coeffs: Sequence[float],
    r_max: float,
    config: MatrixConfig,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every measure under vector ``name`` at ``coeffs``: tidy rows and forward-mode rows."""
    tidy: list[dict[str, Any]] = []
    jvp: list[dict[str, Any]] = []
    grid = [float(c) for c in coeffs]
    for qs in sets:
        rows, slopes = _measure_set(model, vector, qs, grid, config.batch_size)
        tidy += [
            {
                "vector": name,
                "measure": qs.measure,
                "kind": qs.kind,
                "r_e": r,
                "r_max": r_max,
                "id": i,
                "value": v,
            }
            for r, i, v in rows
        ]
        jvp += [{"vector": name, "measure": qs.measure, "id": i, "slope": s} for i, s in slopes]
    if config.n_generate:
        for qs in sets:
            if qs.kind != "next_token":
                continue
            behavior = qs.measure.split(":", 1)[0]
            gens = measure.generation_records(
                model,
                vector,
                qs.queries[: config.n_generate],
                grid,
                judge=default_judge(behavior),
                max_new_tokens=config.max_new_tokens,
                seed=config.seed,
            )
            tidy += [
                {
                    "vector": name,
                    "measure": f"{behavior}:judged",
                    "kind": "judged",
                    "r_e": g.r_e,
                    "r_max": r_max,
                    "id": g.id,
                    "value": g.score,
                }
                for g in gens
            ]
    return tidy, jvp


def tradeoff_matrix(
    config: MatrixConfig,
    *,
    model: SteerableModel | None = None,
    vectors: dict[str, SteeringVector] | None = None,
) -> TradeoffMatrix:
    """Measure and reduce the matrix (module docstring). ``vectors``: behaviour → a
    vector to use instead of extracting it from the recipe."""
    start = time.monotonic()
    config = validate(config)
    if model is None:
        model = load_configured(config)
    given = dict(vectors or {})
    sets = _query_sets(model, config)
    tidy: list[dict[str, Any]] = []
    jvp: list[dict[str, Any]] = []
    scales: dict[str, dict[str, Any]] = {}
    for b, own in zip(config.behaviors, sets, strict=False):
        vector = given.get(b) or extract_behavior_vector(
            model, b, n_pairs=config.n_pairs, seed=config.seed, data_dir=config.data_dir
        )
        scale = residual_scale(model, [q["prompt"] for q in own.queries[:SCALE_PROMPTS]], vector.layers)
        factor = scale.r_max if config.relative else 1.0
        coeffs = [round(c * factor, 10) for c in config.coefficients]
        scales[b] = {"r_max": scale.r_max, "layers": list(vector.layers), "coefficients": coeffs}
        t, j = measure_vector(model, vector, b, sets, coeffs, scale.r_max, config)
        tidy += t
        jvp += j
    result = TradeoffMatrix(
        tidy=pd.DataFrame(tidy, columns=list(ce.TIDY_COLUMNS)),
        jvp=pd.DataFrame(jvp, columns=list(ce.JVP_COLUMNS)),
        scales=scales,
        config=asdict(config),
        model=model.name,
    )
    result.reduce()
    result.wall_s = time.monotonic() - start
    return result
