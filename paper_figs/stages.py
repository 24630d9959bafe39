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

Coefficient grids: a unit vector added at n layers moves the residual stream
by r_e per layer, so the same r_e means very different things on models whose
hidden states differ in norm by 30× (SmolLM2 ~10², Gemma-3 ~10³ at the
injected blocks). The grid is ``r_max × fractions`` with
``r_max = coef_scale · median‖h_l‖ / n_layers`` measured on the model (the
median block-output norm over the injected blocks, last token, on the
measurement prompts); the actual r_e values are recorded in every table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steerbounds.paper_figs.common import BASE, CHAT, mean_sem, read_json, table_name, write_json

MODEL_BEHAVIORS: dict[str, tuple[str, ...]] = {CHAT: ("harmful", "racist"), BASE: ("harmless", "not_racist")}
TOP_T = 10  # App. A.3: the top-10 tokens carry most of the mass


@dataclass(frozen=True)
class Config:
    """Sizes of one run (``quick`` for the 20-minute CPU budget)."""

    n_pairs: int = 128  # contrast pairs per vector (App. F.2)
    gen_tokens: int = 48  # tokens generated per behaviour answer
    fractions: tuple[float, ...] = (-1.0, -0.6, -0.3, -0.15, 0.0, 0.15, 0.3, 0.6, 1.0)
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


@dataclass
class Run:
    """A run folder plus what is loaded in memory while stages execute."""

    run_dir: Path
    config: Config
    resume: bool = True
    log: Log = print
    _models: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def table_path(self, kind: str, model: str, behavior: str, task: str | None = None) -> Path:
        return self.run_dir / "tables" / table_name(kind, model, behavior, task)

    def done(self, *paths: Path) -> bool:
        return self.resume and all(p.is_file() for p in paths)

    def model(self, key: str) -> Any:
        if key not in self._models:
            start = time.monotonic()
            if key == CHAT:
                from steerbounds.empirical.steering.models import load_model

                self._models[key] = load_model()
            else:
                from steerbounds.empirical.steering.base_model import load_base_model

                self._models[key] = load_base_model()
            self.log(f"loaded {key} model {self._models[key].name} in {time.monotonic() - start:.1f} s")
        return self._models[key]

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.monotonic()
        out = fn()
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - start
        return out


# --------------------------------------------------------------------------- grids


def coefficient_grid(run: Run, key: str, behavior: str, fractions: Sequence[float]) -> list[float]:
    """r_e grid ``r_max × fractions`` (module docstring); r_max cached in ``grids.json``."""
    path = run.run_dir / "grids.json"
    grids = read_json(path) if path.is_file() else {}
    name = f"{key}__{behavior}"
    if name not in grids:
        import torch

        from steerbounds.empirical.steering.layers import default_layers
        from steerbounds.empirical.workloads.recipes import behavior_prompts

        model = run.model(key)
        prompts = [p["prompt"] for p in behavior_prompts(behavior, model, n=8, seed=run.config.seed)]
        enc = model.encode(prompts)
        with torch.no_grad():
            out = model.model(**enc, output_hidden_states=True, logits_to_keep=1)
        layers = default_layers(model.n_layers, behavior)
        norms = [float(out.hidden_states[l + 1][:, -1].norm(dim=-1).median()) for l in layers]
        median = float(np.median(norms))
        r_max = run.config.coef_scale * median / len(layers)
        grids[name] = {"r_max": r_max, "median_block_norm": median, "layers": layers}
        write_json(path, grids)
    r_max = grids[name]["r_max"]
    return [round(r_max * f, 4) for f in fractions]


def model_spec(key: str) -> str | None:
    """``SweepConfig.model`` for a model key: None = the default chat model; the
    base model's assembled GGUF path (converted once into the cache by load_model)."""
    if key == CHAT:
        return None
    from steerbounds.empirical.steering.base_model import base_gguf_path

    return str(base_gguf_path())


# --------------------------------------------------------------------------- sweeps (E2's run_sweep)


def sweep_dir(run: Run, key: str, behavior: str, task: str) -> Path:
    return run.run_dir / "sweeps" / f"{key}__{behavior}__{task}"


def sweep_stage(run: Run, key: str, behavior: str) -> None:
    """All measurements of one (model, behaviour) with :func:`steerbounds.empirical.sweep.run_sweep`:
    MMLU with every measure (helpfulness, λ, σ, Δλ, next-token and greedy judged
    behaviour), arithmetic and facts with helpfulness; the vector is extracted once
    (App. F.2) and reused. Resumable (E2's JSONL units)."""
    from steerbounds.empirical.sweep.run import SweepConfig, run_sweep

    cfg = run.config
    grid = coefficient_grid(run, key, behavior, cfg.fractions)
    vector_path = sweep_dir(run, key, behavior, "mmlu") / "vector.safetensors"
    for task, measures in (("mmlu", ("all",)), ("arithmetic", ("helpfulness",)), ("facts", ("helpfulness",))):
        out = sweep_dir(run, key, behavior, task)
        if run.resume and (out / "summary.json").is_file():
            continue
        sc = SweepConfig(
            behavior=behavior,
            measures=measures,
            task=task,
            coefficients=tuple(grid),
            n=cfg.mmlu_n if task == "mmlu" else cfg.task_n,
            seed=cfg.seed,
            model=model_spec(key),
            vector=str(vector_path) if task != "mmlu" else None,
            n_pairs=cfg.n_pairs,
            generate="greedy",
            max_new_tokens=cfg.gen_tokens,
            batch_size=cfg.batch_size,
            coef_chunk=cfg.coef_chunk,
            lambda_max_abs=SMALL_FRACTION * max(abs(g) for g in grid),
            out=str(out),
            resume=run.resume,
            progress=False,
        )
        run.timed(f"sweep:{key}:{behavior}:{task}", lambda: run_sweep(sc))
    tables_from_sweeps(run, key, behavior)


SMALL_FRACTION = 0.5  # the linear fits use |r_e| ≤ SMALL_FRACTION · max|r_e|


def _by_coef(rows: list[dict], field: str, grid: list[float]) -> tuple[list, list, list]:
    vals = {c: [] for c in grid}
    for r in rows:
        if field in r and r[field] is not None and float(r["r_e"]) in vals:
            vals[float(r["r_e"])].append(float(r[field]))
    stats = [mean_sem(vals[c]) for c in grid]
    return [s[0] for s in stats], [s[1] for s in stats], [vals[c] for c in grid]


def tables_from_sweeps(run: Run, key: str, behavior: str) -> None:
    """Turn the sweeps' unit records into the per-figure tables (``tables/``)."""
    from steerbounds.empirical.sweep.run import RESULTS, collect_rows, read_results

    main = sweep_dir(run, key, behavior, "mmlu")
    manifest = read_json(main / "manifest.json")
    grid = sorted(float(c) for c in manifest["config"]["coefficients"])
    rows = collect_rows(read_results(main / RESULTS))
    prompts = manifest["prompts"]["behavior"]
    base = {
        "model": key,
        "model_name": manifest["model"]["name"],
        "behavior": behavior,
        "r_e": grid,
        "sweep": str(main.relative_to(run.run_dir)),
    }

    gen = [r for r in rows.get("generation", []) if r["mode"] == "greedy"]
    m, se, vals = _by_coef(gen, "score", grid)
    examples = [[r["text"] for r in gen if float(r["r_e"]) == c][:3] for c in grid]
    write_json(
        run.table_path("behavior", key, behavior),
        {
            **base,
            "mean": m,
            "sem": se,
            "n": len(vals[0]),
            "scores": vals,
            "examples": examples,
            "method": "greedy generation + judge (App. F.3)",
            "gen_tokens": manifest["config"]["max_new_tokens"],
        },
    )
    m, se, vals = _by_coef(rows.get("behavior", []), "b", grid)
    write_json(
        run.table_path("behavior_nexttoken", key, behavior),
        {
            **base,
            "mean": m,
            "sem": se,
            "n": len(vals[0]),
            "answer_tokens": manifest["answer_tokens"],
            "method": "next-token behaviour expectation over answer tokens (eq. 3)",
        },
    )

    ids = sorted(
        {r["id"] for r in rows.get("delta", [])}, key=lambda i: int(i) if str(i).isdigit() else str(i)
    )
    queries = []
    for qid in ids:
        qrows = {float(r["r_e"]): r for r in rows["delta"] if r["id"] == qid}
        if not all(c in qrows and "mean_sep" in qrows[c] for c in grid):
            continue  # no good/bad clusters for this prompt (identical top-40 sets)
        index = int(qid) if str(qid).isdigit() else 0
        queries.append(
            {
                "id": qid,
                "text": _user_text(prompts[index]) if index < len(prompts) else str(qid),
                "mean_sep": [qrows[c]["mean_sep"] for c in grid],
                "hard_margin": [qrows[c]["min_sep"] for c in grid],
                "n_good": qrows[grid[0]]["n_good"],
                "n_bad": qrows[grid[0]]["n_bad"],
            }
        )
        if len(queries) == run.config.cluster_queries:
            break
    write_json(
        run.table_path("clusters", key, behavior),
        {**base, "queries": queries, "top_k": 40, "steered_at": manifest["delta_ref"]},
    )

    lam_tasks: dict[str, dict] = {}
    noise_rows: list[dict] = []
    for task in ("mmlu", "arithmetic", "facts"):
        folder = sweep_dir(run, key, behavior, task)
        trows = collect_rows(read_results(folder / RESULTS))
        groups = sorted({r.get("group", task) or task for r in trows.get("helpfulness", [])})
        for group in groups:
            name = f"mmlu-{group}" if task == "mmlu" else task
            hrows = [r for r in trows["helpfulness"] if (r.get("group", task) or task) == group]
            record = {
                **base,
                "task": name,
                "n_answers": 4 if task == "mmlu" else None,
                "sweep": str(folder.relative_to(run.run_dir)),
            }
            fields = {"full_vocab": "p_correct", "accuracy": "top1"}
            if task == "mmlu":
                fields["abcd"] = "p_choices"
            for metric, field in fields.items():
                m, se, vals = _by_coef(hrows, field, grid)
                record[metric] = {"mean": m, "sem": se, "values": vals}
            record["n"] = len(record["full_vocab"]["values"][0])
            write_json(run.table_path("helpfulness", key, behavior, name), record)
            lrows = [r for r in trows.get("lambda", []) if (r.get("group", task) or task) == group]
            if lrows:
                _, _, udr = _by_coef(lrows, "Udr_norm", grid)
                _, _, dr = _by_coef(lrows, "dr_norm", grid)
                lam_tasks[name] = {
                    "udr_norm": udr,
                    "dr_norm": dr,
                    "jvp_U_norm": [r["jvp_U_norm"] for r in lrows if "jvp_U_norm" in r],
                }
        for qid in sorted({r["id"] for r in trows.get("sigma", [])}):
            qrows = {float(r["r_e"]): r for r in trows["sigma"] if r["id"] == qid}
            if all(c in qrows for c in grid):
                noise_rows.append(
                    {
                        "task": task,
                        "id": qid,
                        "projections": [qrows[c]["proj"] for c in grid],
                        "weights": qrows[grid[0]]["p0_top"],
                        "mass_top": qrows[grid[0]]["p0"] + sum(qrows[grid[0]]["p0_top"]),
                    }
                )
    write_json(run.table_path("lambda", key, behavior), {**base, "tasks": lam_tasks})
    write_json(run.table_path("logit_noise", key, behavior), {**base, "rows": noise_rows, "top_t": TOP_T})


def _user_text(prompt: str) -> str:
    """The instruction inside a chat-formatted prompt (for legends)."""
    for marker in ("<|im_start|>user\n", "user\n"):
        if marker in prompt:
            prompt = prompt.split(marker, 1)[1]
    return prompt.split("<|im_end|>", 1)[0].strip()


# --------------------------------------------------------------------------- HumanEval (Fig. 17)


def humaneval_stage(run: Run, key: str, behavior: str) -> None:
    """pass@1 vs r_e on HumanEval with the sandbox (App. G); JSONL, resumable per record."""
    from steerbounds.empirical.humaneval.sandbox import load_humaneval
    from steerbounds.empirical.humaneval.sweep import humaneval_sweep
    from steerbounds.empirical.steering.vectors import SteeringVector

    cfg = run.config
    model = run.model(key)
    vec = SteeringVector.load(sweep_dir(run, key, behavior, "mmlu") / "vector.safetensors")
    grid = coefficient_grid(run, key, behavior, cfg.he_fractions)
    problems = load_humaneval()[: cfg.he_n]
    path = run.run_dir / "humaneval" / f"{key}__{behavior}.jsonl"
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
    write_json(
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
    write_json(run.run_dir / "config.json", cfg.to_dict())
    run.timed("simulate", lambda: simulate_stage(run))
    for key in cfg.models:
        for behavior in MODEL_BEHAVIORS[key]:
            run.log(f"[{key} / {behavior}] sweeps: MMLU (all measures), arithmetic, facts")
            sweep_stage(run, key, behavior)
            if key in cfg.humaneval_models:
                run.log(f"[{key} / {behavior}] HumanEval")
                humaneval_stage(run, key, behavior)
        run._models.pop(key, None)  # free memory before the next model
