"""GPU benchmark: the sweep engine vs the authors' loop vs the hooked loop, per dtype.

One prepared script for a CUDA device (run it as it is when a GPU is lent). For each
dtype (bfloat16, float16, float32) on the default model (SmolLM2-135M-Instruct) at the
paper's layer band (harmful, blocks 6-11 of 30):

* the MMLU-style sweep (App. F.4) through the paths of ``sweep_bench.run_mmlu``:
  authors' loop (plain HF forward per coefficient, all-position logits, batch 16, left
  padding), hooked loop (last-position logits), engine (``forward_sweep``) and the
  engine's levers (``share_prompt``, ``batch_size``), with max |ΔP| vs the hooked loop;
* each path's achieved FLOP/s against the dense matmul rate of the device measured on
  the model's own layer weights in the same dtype;
* the peak device memory of one batch of each path (``torch.cuda.max_memory_allocated``);
* the greedy generation sweep: one batched ``generate_sweep`` vs one ``generate`` per
  coefficient.

Sizes: MMLU 21 coefficients × 100 questions (batch 16), generation 21 × 32 × 64 (the
issue's full sizes). Estimate on an H200 (not measured: no GPU has been lent yet): the
135M model runs a 16 × 200-token forward in ≈ 10 ms, so the authors' and hooked loops
(147 forwards each) take ≈ 2-3 s, the engine less, and the generation loop (21 calls ×
64 steps of ≈ 30 launch-bound block calls) ≈ 20-40 s per dtype: ≈ 1-1.5 min per dtype,
≈ 3-4 min for the three with the model loads — under 5 min.

Usage (from the repository root):
    python benchmarks/gpu_bench.py --json gpu_bench.json            # on a GPU
    python benchmarks/gpu_bench.py --device cpu --small              # smoke test here
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep_bench import (  # the benchmarks folder is not a package: found through sys.path
    DEFAULT_ADVBENCH,
    DEFAULT_MMLU,
    authors_loop,
    engine,
    hooked_loop,
    letter_ids,
    linspace,
    matmul_rate,
    mmlu_prompts,
    random_vector,
    read_advbench,
    resolve_bench_layers,
    run_generation,
    run_mmlu,
)

from steerbounds.empirical.steering.models import load_model

FULL = dict(questions=100, coefficients=21, batch_size=16, gen_prompts=32, gen_coefficients=21, gen_tokens=64)
SMALL = dict(questions=4, coefficients=3, batch_size=2, gen_prompts=2, gen_coefficients=2, gen_tokens=4)


def peak_memory(model, vec, layers, coeffs, batch) -> dict[str, float | None]:
    """Peak device memory (MiB) of one batch of each path; None off CUDA."""
    if model.device.type != "cuda":
        return {"authors": None, "hooked": None, "engine": None, "engine_share_prompt": None}
    choice = letter_ids(model)
    runs = {
        "authors": lambda: authors_loop(model, vec, layers, coeffs, choice, batch),
        "hooked": lambda: hooked_loop(model, vec, layers, coeffs, choice, batch),
        "engine": lambda: engine(model, vec, layers, coeffs, choice, batch),
        "engine_share_prompt": lambda: engine(model, vec, layers, coeffs, choice, batch, share_prompt=True),
    }
    out: dict[str, float | None] = {}
    for name, fn in runs.items():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        out[name] = torch.cuda.max_memory_allocated() / 2**20
    return out


def bench_model(
    model, layers: list[int], prompts: list[str], gen_prompts: list[str], sizes: dict[str, int], seed: int = 0
) -> dict[str, Any]:
    """Every measurement of one loaded model (one dtype): MMLU paths, matmul rate,
    peak memory, generation."""
    vec = random_vector(model, layers, seed)
    coeffs = linspace(-10.0, 10.0, sizes["coefficients"])
    mmlu = run_mmlu(
        model, vec, layers, prompts, coeffs, batch_size=sizes["batch_size"], chunk_size=None, levers=True
    )
    rows = min(mmlu["padded_tokens"], 8192)
    rate = matmul_rate(model, rows)
    memory = peak_memory(model, vec, layers, coeffs, model.encode(prompts[: sizes["batch_size"]]))
    gen = run_generation(
        model,
        vec,
        layers,
        gen_prompts,
        linspace(-5.0, 5.0, sizes["gen_coefficients"]),
        new_tokens=sizes["gen_tokens"],
    )
    return {"mmlu": mmlu, "matmul_rate": rate, "peak_mib": memory, "generation": gen}


def print_dtype(dtype: str, r: dict[str, Any]) -> None:
    m, rate, mem = r["mmlu"], r["matmul_rate"], r["peak_mib"]
    e = m["paths"]["engine"]
    keys = {"prompt": "engine_share_prompt"}
    table = []
    for key, p in m["paths"].items():
        achieved = p["executed_flops"] / p["wall_s"]
        peak = mem.get(keys.get(key, key))
        table.append(
            [
                p["label"],
                f"{p['wall_s']:.3f}",
                f"{p['wall_s'] / e['wall_s']:.2f}",
                f"{achieved / 1e12:.3f}",
                f"{achieved / rate['block_flops_per_s']:.2f}",
                "" if peak is None else f"{peak:.0f}",
                f"{p['max_abs_dp_vs_hooked']:.1e}",
            ]
        )
    print(f"\n== {dtype}: MMLU {m['coefficients']} × {m['questions']} (batch {m['batch_size']})")
    print(
        tabulate(
            table,
            headers=["path", "wall s", "time/engine", "TFLOP/s", "/ matmul rate", "peak MiB", "max|ΔP|"],
        )
    )
    print(
        f"matmul rate on the model's layers ({rate['rows']} rows): "
        f"block {rate['block_flops_per_s'] / 1e12:.3f} "
        f"TFLOP/s, unembedding {rate['head_flops_per_s'] / 1e12:.3f} TFLOP/s"
    )
    g = r["generation"]
    print(
        f"generation {g['coefficients']} × {g['prompts']} × {g['new_tokens']}: "
        f"batched {g['batched_s']:.2f} s, "
        f"loop {g['naive_s']:.2f} s (×{g['naive_s'] / g['batched_s']:.2f}); identical texts "
        f"{g['identical_texts']} / {g['total_texts']}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (smoke test)")
    ap.add_argument(
        "--small", action="store_true", help="tiny sizes (smoke test): MMLU 3 × 4, generation 2 × 2 × 4"
    )
    ap.add_argument("--dtypes", default="bfloat16,float16,float32", help="comma-separated")
    ap.add_argument("--layers", default="harmful", help="'harmful', 'bias' or a layer spec")
    ap.add_argument("--mmlu", default=str(DEFAULT_MMLU))
    ap.add_argument("--advbench", default=str(DEFAULT_ADVBENCH))
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    sizes = SMALL if args.small else FULL
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "env": {
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpu": platform.processor() or platform.machine(),
            "loadavg_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        },
        "sizes": sizes,
    }
    for dtype in args.dtypes.split(","):
        model = load_model(device=args.device, dtype=dtype)
        layers = resolve_bench_layers(model, args.layers)
        prompts, _ = mmlu_prompts(model, sizes["questions"], Path(args.mmlu))
        goals = read_advbench(Path(args.advbench), sizes["gen_prompts"])
        r = bench_model(model, layers, prompts, [model.chat_prompt(g) for g in goals], sizes)
        results[dtype] = r
        print_dtype(dtype, r)
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    results["total_s"] = time.perf_counter() - t0
    print(f"\ntotal {results['total_s']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
