"""Measurement stages of ``steerbounds paper``: from the models to the tables the figures read.

Every measurement is a resumable sweep of :func:`steerbounds.empirical.sweep.run_sweep`
(vector extraction, helpfulness, λ, σ, Δλ, next-token and judged behaviour);
:func:`tables_from_sweeps` turns its unit records into the per-figure tables.
HumanEval uses :mod:`steerbounds.empirical.humaneval.sweep` (JSONL, resumable), the
simulated curves :mod:`steerbounds.simulate`. Tables are written atomically and
a stage whose outputs exist is skipped (``resume``), so a killed run continues
where it stopped.

Models (paper §4): ``chat`` = the default SmolLM2-135M-Instruct, misaligned
with the *harmful* and *racist* vectors; ``base`` = Gemma-3-270M pretrained
(:mod:`steerbounds.empirical.steering.base_model`), aligned with *harmless* and
*not_racist*.

Coefficient grids are in the model's units: ``r_max × fractions`` with
``r_max = coef_scale · median‖h_l‖ / n_layers`` measured on the model
(:mod:`steerbounds.empirical.sweep.scale`); the actual r_e values are recorded in
every sweep's manifest.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from steerbounds import io
from steerbounds.empirical.sweep.config import SweepConfig
from steerbounds.paper_figs.common import BASE, CHAT
from steerbounds.paper_figs.timings import Ledger

MODEL_BEHAVIORS: dict[str, tuple[str, ...]] = {CHAT: ("harmful", "racist"), BASE: ("harmless", "not_racist")}


@dataclass(frozen=True)
class Config:
    """Sizes of one run (``quick`` for the 20-minute CPU budget)."""

    n_pairs: int = 128  # contrast pairs per vector (App. F.2)
    gen_tokens: int = 48  # tokens generated per behaviour answer
    # r_e / r_max: 21 points, step 0.1 (the authors' grids: step 0.25-0.5 over about ±5 to ±10, 41
    # points, in Llama-2-13B's units; we keep their span in units of the model and halve the count)
    fractions: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(-10, 11))
    coef_scale: float = 1.0
    mmlu_n: int = 100  # questions per MMLU subject (App. F.4) = behaviour prompts (F.3)
    task_n: int = 50  # arithmetic / facts items
    he_n: int = 164  # HumanEval problems
    he_fractions: tuple[float, ...] = (-0.6, -0.3, 0.0, 0.3, 0.6)
    he_tokens: int = 256
    cluster_queries: int = 3  # Figs. 11-12: three harmful instructions
    sim_instances: int = 400
    batch_size: int = 8
    coef_chunk: int = 3  # coefficients per forward pass (memory ∝ chunk × batch)
    seed: int = 0
    models: tuple[str, ...] = (CHAT, BASE)
    humaneval_models: tuple[str, ...] = (CHAT,)

    @classmethod
    def quick(cls) -> Config:
        return cls(
            n_pairs=32,
            gen_tokens=16,
            fractions=(-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0),
            mmlu_n=5,
            task_n=6,
            he_n=5,
            he_fractions=(-0.5, 0.0, 0.5),
            he_tokens=64,
            sim_instances=200,
            batch_size=16,
            coef_chunk=7,
        )

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


Log = Callable[[str], None]
T = TypeVar("T")


@dataclass
class Run:
    """A run folder plus what is loaded in memory while stages execute."""

    run_dir: Path
    config: Config
    resume: bool = True
    log: Log = print
    ledger: Ledger | None = None
    #: where models are placed: ``load_model``'s device, device_map, max_memory
    placement: dict[str, Any] = field(default_factory=dict)
    _models: dict[str, Any] = field(default_factory=dict)

    def done(self, *paths: Path) -> bool:
        return self.resume and all(p.is_file() for p in paths)

    def model(self, key: str) -> Any:
        if key not in self._models:
            start = time.monotonic()
            self._models[key] = self.timed(f"load:{key}", functools.partial(_load, key, self.placement))
            self.log(f"loaded {key} model {self._models[key].name} in {time.monotonic() - start:.1f} s")
        return self._models[key]

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, adding its wall and CPU time to the run's ledger (when it has one)."""
        return self.ledger.timed(name, fn) if self.ledger is not None else fn()


def _load(key: str, placement: dict[str, Any]) -> Any:
    if key == CHAT:
        from steerbounds.empirical.steering.models import load_model

        return load_model(**placement)
    from steerbounds.empirical.steering.base_model import load_base_model

    return load_base_model(**placement)


# --------------------------------------------------------------------------- grids


def coefficient_grid(run: Run, key: str, behavior: str, fractions: Sequence[float]) -> list[float]:
    """r_e grid ``coef_scale · r_max × fractions`` with r_max from
    :func:`steerbounds.empirical.sweep.scale.residual_scale` on 8 behaviour prompts at
    the behaviour's default blocks; cached in ``grids.json``."""
    path = run.run_dir / "grids.json"
    grids = io.read_json(path, what="grids") if path.is_file() else {}
    name = f"{key}__{behavior}"
    if name not in grids:
        from steerbounds.empirical.steering.layers import default_layers
        from steerbounds.empirical.sweep.scale import residual_scale
        from steerbounds.empirical.workloads.recipes import behavior_prompts

        model = run.model(key)
        prompts = [p["prompt"] for p in behavior_prompts(behavior, model, n=8, seed=run.config.seed)]
        scale = residual_scale(model, prompts, default_layers(model.n_layers, behavior))
        grids[name] = {
            "r_max": run.config.coef_scale * scale.r_max,
            "median_block_norm": scale.median_block_norm,
            "layers": list(scale.layers),
        }
        io.write_json(path, grids)
    r_max = grids[name]["r_max"]
    return [round(r_max * f, 4) for f in fractions]


def model_spec(key: str) -> str | None:
    """``SweepConfig.model`` for a model key: None = the default chat model; the
    base model's assembled GGUF path (converted once into the cache by load_model)."""
    if key == CHAT:
        return None
    from steerbounds.empirical.steering.base_model import base_gguf_path

    return str(base_gguf_path())


# --------------------------------------------------------------------------- sweeps


SWEEP_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mmlu", ("all",)),
    ("arithmetic", ("helpfulness",)),
    ("facts", ("helpfulness",)),
)


def sweep_dir(run_dir: Path, key: str, behavior: str, task: str) -> Path:
    return run_dir / "sweeps" / f"{key}__{behavior}__{task}"


def sweep_stage(run: Run, key: str, behavior: str) -> None:
    """All measurements of one (model, behaviour) with
    :func:`steerbounds.empirical.sweep.run.run_sweep` on the loaded model: MMLU with
    every measure (helpfulness, λ, σ, Δλ, next-token and greedy judged behaviour),
    arithmetic and facts with helpfulness; the vector is extracted once (App. F.2,
    by the MMLU sweep) and reused. Resumable (each sweep's run store)."""
    from steerbounds.empirical.steering.vectors import SteeringVector
    from steerbounds.empirical.sweep.run import SUMMARY_JSON, VECTOR, run_sweep

    cfg = run.config
    grid = coefficient_grid(run, key, behavior, cfg.fractions)
    vector: SteeringVector | None = None
    for task, measures in SWEEP_TASKS:
        out = sweep_dir(run.run_dir, key, behavior, task)
        if run.resume and (out / SUMMARY_JSON).is_file():
            vector = vector or SteeringVector.load(out / VECTOR)
            continue
        sc = SweepConfig(
            behavior=behavior,
            measures=measures,
            task=task,
            coefficients=tuple(grid),
            n=cfg.mmlu_n if task == "mmlu" else cfg.task_n,
            seed=cfg.seed,
            model=model_spec(key),
            n_pairs=cfg.n_pairs,
            generate="greedy",
            max_new_tokens=cfg.gen_tokens,
            batch_size=cfg.batch_size,
            coef_chunk=cfg.coef_chunk,
            out=str(out),
            resume=run.resume,
            progress=False,
        )
        folder = run.timed(
            f"sweep:{key}:{behavior}:{task}",
            functools.partial(run_sweep, sc, model=run.model(key), vector=vector),
        )
        vector = vector or SteeringVector.load(folder / VECTOR)


# --------------------------------------------------------------------------- HumanEval (Fig. 17)


def humaneval_dir(run_dir: Path, key: str, behavior: str) -> Path:
    return run_dir / "humaneval" / f"{key}__{behavior}"


def humaneval_stage(run: Run, key: str, behavior: str) -> None:
    """pass@1 vs r_e on HumanEval with the sandbox (App. G); resumable per record."""
    from steerbounds.empirical.humaneval.sandbox import load_humaneval
    from steerbounds.empirical.humaneval.sweep import humaneval_sweep
    from steerbounds.empirical.steering.vectors import SteeringVector
    from steerbounds.empirical.sweep.run import VECTOR

    cfg = run.config
    model = run.model(key)
    vec = SteeringVector.load(sweep_dir(run.run_dir, key, behavior, "mmlu") / VECTOR)
    grid = coefficient_grid(run, key, behavior, cfg.he_fractions)
    problems = load_humaneval()[: cfg.he_n]
    path = humaneval_dir(run.run_dir, key, behavior)
    run.timed(
        "humaneval",
        lambda: humaneval_sweep(
            model, vec, problems, grid, path, max_new_tokens=cfg.he_tokens, batch_size=cfg.batch_size
        ),
    )


# --------------------------------------------------------------------------- simulator (Figs. 2b, 3b)


def simulate_stage(run: Run) -> None:
    """Simulated behaviour and helpfulness curves with their realised bound
    parameters (the simulator's instances satisfy the theorems' assumptions)."""
    path = run.run_dir / "simulate" / "curves.json"
    if run.done(path):
        return
    import jax

    from steerbounds.simulate import instances, realised

    n = run.config.sim_instances
    r_e = np.linspace(-6.0, 6.0, 49)
    key = jax.random.PRNGKey(run.config.seed)
    k1, k2 = jax.random.split(key)
    ab = instances.alignment_batch(k1, n, 32, kind="binary")
    b = np.asarray(instances.behaviour_curve(ab, r_e))
    ap = realised.alignment_parameters(ab)
    hb = instances.helpfulness_batch(k2, n, 32)
    h = np.asarray(instances.helpfulness_curve(hb, r_e))
    hp = realised.helpfulness_parameters(hb)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(
        path,
        {
            "r_e": r_e.tolist(),
            "behaviour": b.tolist(),
            "alignment_params": {k: np.asarray(v).tolist() for k, v in ap._asdict().items()},
            "helpfulness": h.tolist(),
            "helpfulness_params": {k: np.asarray(v).tolist() for k, v in hp._asdict().items()},
            "alignment_lam": np.asarray(ab.lam).tolist(),
            "helpfulness_lam": np.asarray(hb.lam).tolist(),
            "n_instances": n,
        },
    )


# --------------------------------------------------------------------------- driver


def run_all(run: Run) -> None:
    """Every stage for every model and behaviour, then the simulator."""
    cfg = run.config
    io.write_json(run.run_dir / "config.json", cfg.to_dict())
    run.timed("simulate", lambda: simulate_stage(run))
    for key in cfg.models:
        for behavior in MODEL_BEHAVIORS[key]:
            run.log(f"[{key} / {behavior}] sweeps: MMLU (all measures), arithmetic, facts")
            sweep_stage(run, key, behavior)
            if key in cfg.humaneval_models:
                run.log(f"[{key} / {behavior}] HumanEval")
                humaneval_stage(run, key, behavior)
        run._models.pop(key, None)  # free memory before the next model
