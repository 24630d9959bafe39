"""Benchmark: batched, prefix-shared coefficient sweeps vs the naive loop.

Two workloads on the default model (SmolLM2-135M-Instruct), both timed against
a naive baseline measured in the same run:

1. MMLU-style helpfulness sweep (App. F.4): K coefficients × N questions;
   read P(A/B/C/D) renormalised over the four letters at the last position.
   * engine: ``forward_sweep`` — K coefficients as batched rows, blocks below
     the lowest steered layer computed once per question batch;
   * naive: one ``steer``-ed forward per coefficient and question batch
     (last-position logits only, the same batching and positions);
   * optional ``--hf-baseline``: the naive loop as a plain HF call computing
     logits at every position (what ``model(**batch).logits[:, -1]`` costs).
   Prints both times, the ratio, and max |ΔP| over the four letters.
2. Generation sweep (App. F.3): K coefficients × P prompts × T new tokens,
   greedy; ``generate_sweep`` (one batched ``generate`` over K·P rows) vs one
   ``generate`` per coefficient; prints times, ratio and how many texts agree.

Usage (from the repository root):
    python benchmarks/sweep_bench.py                       # full sizes
    python benchmarks/sweep_bench.py --quick               # small sizes
    python benchmarks/sweep_bench.py --layers bias --skip-generation
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from tabulate import tabulate

from steerbounds.empirical import forward_sweep, generate_sweep, position_ids, steer
from steerbounds.empirical.steering.layers import default_layers
from steerbounds.empirical.steering.models import load_model
from steerbounds.empirical.steering.vectors import SteeringVector

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MMLU = REPO / ".." / "shared" / "data" / "mmlu" / "test" / "international_law_test.csv"
DEFAULT_ADVBENCH = REPO / ".." / "shared" / "data" / "advbench" / "harmful_behaviors.csv"
LETTERS = "ABCD"


def read_mmlu(path: Path, n: int) -> list[tuple[str, int]]:
    """(question block, answer index) from an MMLU CSV (header: question, choice0-3, answer;
    headerless rows in the original layout are accepted too)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if row and row[0] == "question":
                continue
            q, choices, ans = row[0], row[1:5], row[5]
            answer = int(ans) if ans.isdigit() else LETTERS.index(ans.strip())
            block = q + "".join(f"\n{letter}) {c}" for letter, c in zip(LETTERS, choices, strict=True))
            rows.append((block, answer))
            if len(rows) == n:
                break
    return rows


def read_advbench(path: Path, n: int) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [r["goal"] for r in itertools.islice(csv.DictReader(fh), n)]


def linspace(lo: float, hi: float, k: int) -> list[float]:
    return [lo + (hi - lo) * i / (k - 1) for i in range(k)] if k > 1 else [lo]


def random_vector(model, layers: list[int], seed: int) -> SteeringVector:
    g = torch.Generator().manual_seed(seed)
    dirs = {}
    for layer in layers:
        v = torch.randn(model.hidden_size, generator=g)
        dirs[layer] = v / v.norm()
    return SteeringVector(dirs, "random", model.name, model.model_hash(), {"seed": seed})


def letter_ids(model) -> list[int]:
    out = []
    for letter in LETTERS:
        ids = model.tokenizer.encode(" " + letter, add_special_tokens=False)
        out.append(ids[-1])
    return out


class Clock:
    """Accumulates wall time and process CPU time (all threads) over calls; CPU
    time is the steadier measure of work on a machine shared with other jobs."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def run(self, fn, *args):
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn(*args)
        self.wall += time.perf_counter() - w0
        self.cpu += time.process_time() - c0
        return value


def compute_model_ratio(n_layers: int, layers: list[int], k: int) -> float:
    """Expected naive/engine ratio if time were proportional to decoder blocks
    run: naive runs all L blocks K times, the engine runs l0 blocks once and
    L - l0 blocks K times (l0 = lowest steered block). A model, not a measurement."""
    l0 = min(layers)
    return n_layers * k / (l0 + k * (n_layers - l0))


def mmlu_sweep(model, vec, layers, args) -> dict:
    rows = read_mmlu(Path(args.mmlu), args.questions)
    prompts = [model.chat_prompt(block, assistant_prefix="The answer is") for block, _ in rows]
    answers = torch.tensor([a for _, a in rows])
    coeffs = linspace(-args.cmax, args.cmax, args.coefficients)
    choice = letter_ids(model)
    batches = [
        model.encode(prompts[i : i + args.batch_size]) for i in range(0, len(prompts), args.batch_size)
    ]
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["input_ids"].numel() for b in batches)

    # warm-up (allocator, kernels) on one small batch, untimed
    forward_sweep(
        model, vec, batches[0]["input_ids"][:2], batches[0]["attention_mask"][:2], coeffs[:2], layers=layers
    )

    def engine(b):
        logits = forward_sweep(
            model, vec, b["input_ids"], b["attention_mask"], coeffs, layers=layers, chunk_size=args.chunk_size
        )
        return logits[..., choice].float().softmax(-1)  # (K, B, 4)

    def naive(b, all_positions=False):
        per_c = []
        for c in coeffs:
            with steer(model, vec, c, layers=layers), torch.no_grad():
                if all_positions:  # what a plain HF call costs: logits at every position
                    o = model.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
                else:
                    o = model.model(
                        input_ids=b["input_ids"],
                        attention_mask=b["attention_mask"],
                        position_ids=position_ids(b["attention_mask"]),
                        use_cache=False,
                        logits_to_keep=1,
                    )
            per_c.append(o.logits[:, -1, choice].float().softmax(-1))
        return torch.stack(per_c)

    # Interleaved per question batch, so drifting machine load hits both paths alike.
    clocks = {k: Clock() for k in ("engine", "naive", "hf")}
    p_engine, p_naive, p_hf = [], [], []
    for b in batches:
        p_engine.append(clocks["engine"].run(engine, b))
        p_naive.append(clocks["naive"].run(naive, b))
        if args.hf_baseline:
            p_hf.append(clocks["hf"].run(naive, b, True))
    p_engine, p_naive = torch.cat(p_engine, dim=1), torch.cat(p_naive, dim=1)
    t_engine, t_naive = clocks["engine"], clocks["naive"]
    result = {
        "questions": len(rows),
        "coefficients": len(coeffs),
        "coefficient_range": [coeffs[0], coeffs[-1]],
        "batch_size": args.batch_size,
        "chunk_size": args.chunk_size,
        "real_tokens": n_tokens,
        "padded_tokens": padded,
        "engine_s": t_engine.wall,
        "naive_s": t_naive.wall,
        "ratio": t_naive.wall / t_engine.wall,
        "engine_cpu_s": t_engine.cpu,
        "naive_cpu_s": t_naive.cpu,
        "cpu_ratio": t_naive.cpu / t_engine.cpu,
        "compute_model_ratio": compute_model_ratio(model.n_layers, layers, len(coeffs)),
        "max_abs_dp": float((p_engine - p_naive).abs().max()),
        "p_correct_at_0": float(p_engine[len(coeffs) // 2].gather(1, answers[:, None]).mean())
        if len(coeffs) % 2
        else None,
    }
    if args.hf_baseline:
        p_hf, t_hf = torch.cat(p_hf, dim=1), clocks["hf"]
        result.update(
            hf_naive_s=t_hf.wall,
            hf_ratio=t_hf.wall / t_engine.wall,
            hf_cpu_ratio=t_hf.cpu / t_engine.cpu,
            hf_max_abs_dp=float((p_engine - p_hf).abs().max()),
        )
    return result


def generation_sweep(model, vec, layers, args) -> dict:
    goals = read_advbench(Path(args.advbench), args.gen_prompts)
    prompts = [model.chat_prompt(g) for g in goals]
    coeffs = linspace(-args.cmax_gen, args.cmax_gen, args.gen_coefficients)
    kw = dict(max_new_tokens=args.gen_tokens, layers=layers)
    generate_sweep(model, vec, prompts[:2], coeffs[:2], max_new_tokens=2, layers=layers)  # warm-up
    cb, cn = Clock(), Clock()
    batched = cb.run(lambda: generate_sweep(model, vec, prompts, coeffs, chunk_size=args.gen_chunk, **kw))
    naive = cn.run(lambda: [generate_sweep(model, vec, prompts, [c], **kw)[0] for c in coeffs])
    same = sum(a == b for ra, rb in zip(batched, naive, strict=True) for a, b in zip(ra, rb, strict=True))
    return {
        "prompts": len(prompts),
        "coefficients": len(coeffs),
        "coefficient_range": [coeffs[0], coeffs[-1]],
        "new_tokens": args.gen_tokens,
        "gen_chunk": args.gen_chunk,
        "batched_s": cb.wall,
        "naive_s": cn.wall,
        "ratio": cn.wall / cb.wall,
        "batched_cpu_s": cb.cpu,
        "naive_cpu_s": cn.cpu,
        "cpu_ratio": cn.cpu / cb.cpu,
        "identical_texts": same,
        "total_texts": len(prompts) * len(coeffs),
        "example": {"coefficient": coeffs[0], "text": batched[0][0][:160]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mmlu", default=str(DEFAULT_MMLU), help="MMLU test CSV (default: international_law)")
    ap.add_argument("--advbench", default=str(DEFAULT_ADVBENCH), help="AdvBench harmful_behaviors.csv")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--coefficients", type=int, default=21)
    ap.add_argument("--cmax", type=float, default=10.0, help="MMLU sweep over [-cmax, cmax] (App. F: ±10)")
    ap.add_argument("--batch-size", type=int, default=16, help="questions per forward (authors: 16)")
    ap.add_argument("--chunk-size", type=int, default=None, help="coefficients per engine pass (default all)")
    ap.add_argument(
        "--hf-baseline", action="store_true", help="also time the plain HF all-position-logits loop"
    )
    ap.add_argument("--gen-prompts", type=int, default=32)
    ap.add_argument("--gen-coefficients", type=int, default=21)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument(
        "--gen-chunk", type=int, default=None, help="coefficients per generate call (default all)"
    )
    ap.add_argument("--cmax-gen", type=float, default=5.0, help="generation sweep over [-c, c] (App. F: ±5)")
    ap.add_argument("--layers", default="harmful", help="'harmful', 'bias' (default_layers) or a layer spec")
    ap.add_argument("--vector", default=None, help="a saved SteeringVector (default: random unit directions)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: 8 questions, 7 coeffs; generation 5 coeffs × 8 prompts × 16 tokens",
    )
    ap.add_argument("--skip-forward", action="store_true")
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    if args.quick:
        args.questions, args.coefficients, args.batch_size = (
            min(args.questions, 8),
            min(args.coefficients, 7),
            8,
        )
        args.gen_prompts, args.gen_coefficients, args.gen_tokens = 8, 5, 16
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model()
    if args.layers in ("harmful", "harmless", "racist", "bias"):
        layers = default_layers(model.n_layers, args.layers)
    else:
        layers = model.resolve_layers(args.layers)
    vec = SteeringVector.load(args.vector) if args.vector else random_vector(model, layers, args.seed)
    env = {
        "model": model.name,
        "layers": layers,
        "vector": args.vector or f"random unit directions (seed {args.seed})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "loadavg_start": os.getloadavg(),
    }
    print(f"model {model.name}: {model.n_layers} layers, d={model.hidden_size}; steering layers {layers}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}")
    results: dict = {"env": env}
    if not args.skip_forward:
        r = mmlu_sweep(model, vec, layers, args)
        results["mmlu"] = r
        table = [
            [
                "engine (forward_sweep, shared prefix)",
                f"{r['engine_s']:.1f}",
                f"{r['engine_cpu_s']:.1f}",
                "1.00",
                "1.00",
            ],
            [
                "naive (steer per coefficient)",
                f"{r['naive_s']:.1f}",
                f"{r['naive_cpu_s']:.1f}",
                f"{r['ratio']:.2f}",
                f"{r['cpu_ratio']:.2f}",
            ],
        ]
        if args.hf_baseline:
            table.append(
                [
                    "naive HF (all-position logits)",
                    f"{r['hf_naive_s']:.1f}",
                    "",
                    f"{r['hf_ratio']:.2f}",
                    f"{r['hf_cpu_ratio']:.2f}",
                ]
            )
        print(
            f"\nMMLU sweep: {r['coefficients']} coefficients × {r['questions']} questions "
            f"(batch {r['batch_size']}, {r['real_tokens']} real / {r['padded_tokens']} padded tokens)"
        )
        print(tabulate(table, headers=["path", "wall s", "cpu s", "ratio (wall)", "ratio (cpu)"]))
        print(f"block-count model of the ratio (not measured): {r['compute_model_ratio']:.2f}")
        print(f"max |ΔP(A/B/C/D)| engine vs naive: {r['max_abs_dp']:.2e}  (must be ≤ 1e-4)")
        if r["p_correct_at_0"] is not None:
            print(f"mean P(correct) at r_e = 0: {r['p_correct_at_0']:.3f}")
    if not args.skip_generation:
        g = generation_sweep(model, vec, layers, args)
        results["generation"] = g
        print(
            f"\nGeneration sweep: {g['coefficients']} coefficients × {g['prompts']} prompts × "
            f"{g['new_tokens']} new tokens (greedy)"
        )
        print(
            tabulate(
                [
                    [
                        "batched (generate_sweep)",
                        f"{g['batched_s']:.1f}",
                        f"{g['batched_cpu_s']:.1f}",
                        "1.00",
                        "1.00",
                    ],
                    [
                        "naive (generate per coefficient)",
                        f"{g['naive_s']:.1f}",
                        f"{g['naive_cpu_s']:.1f}",
                        f"{g['ratio']:.2f}",
                        f"{g['cpu_ratio']:.2f}",
                    ],
                ],
                headers=["path", "wall s", "cpu s", "ratio (wall)", "ratio (cpu)"],
            )
        )
        print(f"identical texts: {g['identical_texts']} / {g['total_texts']}")
    results["env"]["loadavg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    ok = "mmlu" not in results or results["mmlu"]["max_abs_dp"] <= 1e-4
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
