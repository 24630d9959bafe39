"""Benchmark: the sweep engine vs the authors' loop, the best hooked loop and the hardware floor.

Two workloads on the default model (SmolLM2-135M-Instruct), every baseline measured in
the same run, interleaved per question batch so drifting machine load hits all alike:

1. MMLU-style helpfulness sweep (App. F.4): K coefficients × N questions; P(A/B/C/D)
   renormalised over the four letters at the last position. Paths:
   * authors — their loop: one plain Hugging Face forward per coefficient and batch of
     16 (left padding to the batch's longest, HF's default positions), logits at every
     position, the last one read;
   * hooked — the best per-coefficient loop: the same batches, ``steer``-ed, positions
     counted over real tokens, last-position logits only;
   * engine — ``forward_sweep`` (K coefficients as rows; blocks up to the first steered
     one run once per batch);
   * levers, each against the engine without it: ``share_prompt`` (the tokens every
     prompt opens with — chat template, system prompt — run once per coefficient, their
     KV cache reused for the batch) and ``batch_size`` (length-sorted batches, less
     padding; run once over all questions after the interleaved loop).
   The floor: each path's executed FLOPs (2 · block parameters · block-token passes,
   padding included, + 2·d·V per logit row; attention scores not counted) against the
   dense matmul rate of this machine measured on the model's own layer weights.
2. Generation sweep (App. F.3): K coefficients × P prompts × T new tokens, greedy;
   ``generate_sweep`` (one batched ``generate`` over K·P rows) vs one ``generate`` per
   coefficient; times, ratio and how many texts agree.

Usage (from the repository root):
    python benchmarks/sweep_bench.py --threads 1          # small: MMLU 7 × 24, generation 5 × 8 × 16
    python benchmarks/sweep_bench.py --threads 1 --full   # MMLU 21 × 100, generation 21 × 32 × 64
    python benchmarks/sweep_bench.py --profile --skip-generation   # + the engine's top operators
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from steerbounds.empirical import forward_sweep, generate_sweep, position_ids, steer
from steerbounds.empirical.steering.layers import default_layers
from steerbounds.empirical.steering.models import load_model
from steerbounds.empirical.steering.prompt_cache import common_prefix_length
from steerbounds.empirical.steering.vectors import SteeringVector

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MMLU = REPO / ".." / "shared" / "data" / "mmlu" / "test" / "international_law_test.csv"
DEFAULT_ADVBENCH = REPO / ".." / "shared" / "data" / "advbench" / "harmful_behaviors.csv"
LETTERS = "ABCD"
SMALL = dict(questions=24, coefficients=7, gen_prompts=8, gen_coefficients=5, gen_tokens=16)
FULL = dict(questions=100, coefficients=21, gen_prompts=32, gen_coefficients=21, gen_tokens=64)


# --------------------------------------------------------------------------- data


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
    return [model.tokenizer.encode(" " + letter, add_special_tokens=False)[-1] for letter in LETTERS]


def resolve_bench_layers(model, spec: str) -> list[int]:
    if spec in ("harmful", "harmless", "racist", "bias"):
        return default_layers(model.n_layers, spec)
    return model.resolve_layers(spec)


# --------------------------------------------------------------------------- timing


class Clock:
    """Accumulates wall time and process CPU time (all threads) over calls; CPU
    time is the steadier measure of work on a machine shared with other jobs. On a
    CUDA device the wall time is taken after a synchronize."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.sync = device is not None and device.type == "cuda"

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.sync:
            torch.cuda.synchronize()
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn(*args, **kwargs)
        if self.sync:
            torch.cuda.synchronize()
        self.wall += time.perf_counter() - w0
        self.cpu += time.process_time() - c0
        return value


# --------------------------------------------------------------------------- FLOPs and the floor


@dataclass(frozen=True)
class Shapes:
    """What the FLOP count needs: L blocks of ``block_params`` weights, the first
    steered block l0, d and V (the unembedding U is V × d)."""

    n_layers: int
    block_params: int
    first: int
    d: int
    vocab: int

    @classmethod
    def of(cls, model, layers: list[int]) -> Shapes:
        blocks = sum(p.numel() for b in model.layers for p in b.parameters())
        v, d = model.unembedding().shape
        return cls(model.n_layers, blocks // model.n_layers, min(layers), int(d), int(v))

    def block_flops(self, block_tokens: float) -> float:
        """2 · parameters of a block · token passes through blocks."""
        return 2.0 * self.block_params * block_tokens

    def head_flops(self, rows: float) -> float:
        return 2.0 * self.d * self.vocab * rows

    def engine_block_tokens(self, k: int, tokens: float, prefix_tokens: float = 0.0) -> float:
        """Blocks 0 … l0 run once per prompt, blocks l0+1 … L−1 once per coefficient;
        ``prefix_tokens`` (the shared prompt prefix) run once per batch instead."""
        once, per_k = self.first + 1, self.n_layers - self.first - 1
        return (once + k * per_k) * (tokens + prefix_tokens)

    def block_model_ratio(self, k: int) -> float:
        """hooked / engine if time were proportional to block-token passes (a model,
        not a measurement)."""
        return self.n_layers * k / self.engine_block_tokens(k, 1.0)


def matmul_rate(model, rows: int, repeats: int = 5) -> dict[str, float]:
    """Dense matmul FLOP/s of this machine on the model's own weights: every linear
    layer of block 0 on a (rows × in) input, and the unembedding on (rows × d); best of
    ``repeats``. Returns the rate over the block and over the head."""
    device = next(model.model.parameters()).device
    dtype = next(model.model.parameters()).dtype
    linears = [m for m in model.layers[0].modules() if isinstance(m, torch.nn.Linear)]

    def best(fn: Callable[[], Any]) -> float:
        clock = Clock(device)
        times = []
        for _ in range(repeats + 1):
            before = clock.wall
            clock.run(fn)
            times.append(clock.wall - before)
        return min(times[1:])

    block_flops = block_time = 0.0
    with torch.no_grad():
        for lin in linears:
            x = torch.randn(rows, lin.in_features, device=device, dtype=dtype)
            block_time += best(lambda lin=lin, x=x: torch.nn.functional.linear(x, lin.weight, lin.bias))
            block_flops += 2.0 * rows * lin.in_features * lin.out_features
        u = model.unembedding()
        x = torch.randn(rows, u.shape[1], device=device, dtype=dtype)
        head_time = best(lambda: torch.nn.functional.linear(x, u))
    return {
        "rows": rows,
        "block_flops_per_s": block_flops / block_time if linears else float("nan"),
        "head_flops_per_s": 2.0 * rows * u.shape[0] * u.shape[1] / head_time,
        "block_linears": len(linears),
    }


# --------------------------------------------------------------------------- MMLU paths


@dataclass
class Measured:
    """One measured path: its clock, its probabilities per batch and its executed FLOPs."""

    name: str
    clock: Clock
    probs: list[torch.Tensor] = field(default_factory=list)
    flops: float = 0.0


def authors_loop(model, vec, layers, coeffs, choice, b) -> torch.Tensor:
    """One plain HF forward per coefficient: default positions, logits at every position."""
    out = []
    for c in coeffs:
        with steer(model, vec, c, layers=layers), torch.no_grad():
            o = model.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        out.append(o.logits[:, -1, choice].float().softmax(-1))
    return torch.stack(out)


def hooked_loop(model, vec, layers, coeffs, choice, b) -> torch.Tensor:
    """One steered forward per coefficient, real-token positions, last-position logits."""
    out = []
    for c in coeffs:
        with steer(model, vec, c, layers=layers), torch.no_grad():
            o = model.model(
                input_ids=b["input_ids"],
                attention_mask=b["attention_mask"],
                position_ids=position_ids(b["attention_mask"]),
                use_cache=False,
                logits_to_keep=1,
            )
        out.append(o.logits[:, -1, choice].float().softmax(-1))
    return torch.stack(out)


def engine(model, vec, layers, coeffs, choice, b, **kw) -> torch.Tensor:
    logits = forward_sweep(model, vec, b["input_ids"], b["attention_mask"], coeffs, layers=layers, **kw)
    return logits[..., choice].float().softmax(-1)  # (K, B, 4)


def mmlu_prompts(model, n: int, path: Path) -> tuple[list[str], torch.Tensor]:
    rows = read_mmlu(path, n)
    prompts = [model.chat_prompt(block, assistant_prefix="The answer is") for block, _ in rows]
    return prompts, torch.tensor([a for _, a in rows])


def run_mmlu(
    model,
    vec,
    layers: list[int],
    prompts: list[str],
    coeffs: list[float],
    *,
    batch_size: int,
    chunk_size: int | None,
    levers: bool,
) -> dict[str, Any]:
    """All MMLU paths on ``prompts`` (batches of ``batch_size`` in order), interleaved
    per batch; returns per path wall/cpu seconds, executed FLOPs and max |ΔP| vs the
    hooked loop, plus token counts."""
    choice = letter_ids(model)
    device = model.device
    shapes = Shapes.of(model, layers)
    k = len(coeffs)
    batches = [model.encode(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
    b0 = batches[0]
    engine(model, vec, layers, coeffs[:2], choice, {n: t[:2] for n, t in b0.items()})  # warm-up, untimed
    paths = {
        "authors": Measured("authors loop (HF forward, all-position logits)", Clock(device)),
        "hooked": Measured("hooked loop (steer, last-position logits)", Clock(device)),
        "engine": Measured("engine (forward_sweep)", Clock(device)),
    }
    if levers:
        paths["prompt"] = Measured("engine + share_prompt (prefix KV once per coefficient)", Clock(device))
    real = padded = prefix_total = 0
    for b in batches:
        rows, width = b["input_ids"].shape
        tokens = rows * width
        real += int(b["attention_mask"].sum())
        padded += tokens
        p = paths["authors"]
        p.probs.append(p.clock.run(authors_loop, model, vec, layers, coeffs, choice, b))
        p.flops += k * (shapes.block_flops(shapes.n_layers * tokens) + shapes.head_flops(tokens))
        p = paths["hooked"]
        p.probs.append(p.clock.run(hooked_loop, model, vec, layers, coeffs, choice, b))
        p.flops += k * (shapes.block_flops(shapes.n_layers * tokens) + shapes.head_flops(rows))
        p = paths["engine"]
        p.probs.append(p.clock.run(engine, model, vec, layers, coeffs, choice, b, chunk_size=chunk_size))
        p.flops += shapes.block_flops(shapes.engine_block_tokens(k, tokens)) + shapes.head_flops(k * rows)
        if levers:
            prefix = common_prefix_length(b["input_ids"], b["attention_mask"])
            prefix_total += prefix
            p = paths["prompt"]
            p.probs.append(
                p.clock.run(
                    engine, model, vec, layers, coeffs, choice, b, chunk_size=chunk_size, share_prompt=True
                )
            )
            rest = rows * (width - prefix)
            p.flops += shapes.block_flops(shapes.engine_block_tokens(k, rest, prefix)) + shapes.head_flops(
                k * rows
            )
    result: dict[str, Any] = {
        "questions": len(prompts),
        "coefficients": k,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "real_tokens": real,
        "padded_tokens": padded,
        "block_model_ratio": shapes.block_model_ratio(k),
        "nominal_flops": k * (shapes.block_flops(shapes.n_layers * real) + shapes.head_flops(len(prompts))),
    }
    if levers:
        result["shared_prefix_tokens_per_batch"] = prefix_total / len(batches)
        whole = model.encode(prompts)
        p = paths["bucketed"] = Measured("engine + batch_size (length-sorted batches)", Clock(device))
        probs = p.clock.run(
            engine, model, vec, layers, coeffs, choice, whole, chunk_size=chunk_size, batch_size=batch_size
        )
        lengths = whole["attention_mask"].sum(dim=1).sort().values
        bucket_padded = sum(int(c.max()) * len(c) for c in lengths.split(batch_size))
        p.probs.append(probs)
        p.flops = shapes.block_flops(shapes.engine_block_tokens(k, bucket_padded)) + shapes.head_flops(
            k * len(prompts)
        )
        result["bucketed_padded_tokens"] = bucket_padded
    reference = torch.cat(paths["hooked"].probs, dim=1)
    result["paths"] = {}
    for key, p in paths.items():
        probs = torch.cat(p.probs, dim=1)
        result["paths"][key] = {
            "label": p.name,
            "wall_s": p.clock.wall,
            "cpu_s": p.clock.cpu,
            "executed_flops": p.flops,
            "max_abs_dp_vs_hooked": float((probs.cpu() - reference.cpu()).abs().max()),
        }
    return result


def print_mmlu(r: dict[str, Any], rate: dict[str, float]) -> None:
    e = r["paths"]["engine"]
    table = []
    for p in r["paths"].values():
        achieved = p["executed_flops"] / p["wall_s"]
        table.append(
            [
                p["label"],
                f"{p['wall_s']:.1f}",
                f"{p['cpu_s']:.1f}",
                f"{p['wall_s'] / e['wall_s']:.2f}",
                f"{p['cpu_s'] / e['cpu_s']:.2f}",
                f"{p['executed_flops'] / 1e9:.0f}",
                f"{achieved / 1e9:.2f}",
                f"{achieved / rate['block_flops_per_s']:.2f}",
                f"{p['max_abs_dp_vs_hooked']:.1e}",
            ]
        )
    print(
        f"\nMMLU sweep: {r['coefficients']} coefficients × {r['questions']} questions (batch "
        f"{r['batch_size']}; {r['real_tokens']} real / {r['padded_tokens']} padded tokens"
        + (
            f"; length-sorted batches {r['bucketed_padded_tokens']} padded"
            f"; shared prompt prefix {r['shared_prefix_tokens_per_batch']:.0f} tokens/batch)"
            if "bucketed_padded_tokens" in r
            else ")"
        )
    )
    print(
        tabulate(
            table,
            headers=[
                "path",
                "wall s",
                "cpu s",
                "time/engine (wall)",
                "(cpu)",
                "GFLOP run",
                "GFLOP/s",
                "/ matmul rate",
                "max|ΔP| vs hooked",
            ],
        )
    )
    floor = r["nominal_flops"] / rate["block_flops_per_s"]
    print(
        f"matmul rate on the model's layers: {rate['block_flops_per_s'] / 1e9:.2f} GFLOP/s (block, "
        f"{rate['rows']} rows), {rate['head_flops_per_s'] / 1e9:.2f} GFLOP/s (unembedding)"
    )
    print(
        f"the job at the matmul rate (2·N_blocks·K·real tokens + 2·d·V·K·B = "
        f"{r['nominal_flops'] / 1e9:.0f} GFLOP): "
        f"{floor:.1f} s; engine / that floor: {e['wall_s'] / floor:.2f}"
    )
    print(f"block-count model of hooked/engine (not measured): {r['block_model_ratio']:.2f}")


def profile_engine(model, vec, layers, prompts, coeffs, batch_size: int, rows: int = 10) -> str:
    """Top operators by self CPU time of one engine batch (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    b = model.encode(prompts[:batch_size])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        engine(model, vec, layers, coeffs, letter_ids(model), b)
    return str(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


# --------------------------------------------------------------------------- generation


def run_generation(
    model,
    vec,
    layers: list[int],
    prompts: list[str],
    coeffs: list[float],
    *,
    new_tokens: int,
    chunk_size: int | None = None,
) -> dict[str, Any]:
    """Greedy generation: one batched ``generate_sweep`` vs one ``generate`` per coefficient."""
    kw: dict[str, Any] = dict(max_new_tokens=new_tokens, layers=layers)
    generate_sweep(model, vec, prompts[:2], coeffs[:2], max_new_tokens=2, layers=layers)  # warm-up
    cb, cn = Clock(model.device), Clock(model.device)
    batched = cb.run(lambda: generate_sweep(model, vec, prompts, coeffs, chunk_size=chunk_size, **kw))
    naive = cn.run(lambda: [generate_sweep(model, vec, prompts, [c], **kw)[0] for c in coeffs])
    same = sum(a == b for ra, rb in zip(batched, naive, strict=True) for a, b in zip(ra, rb, strict=True))
    return {
        "prompts": len(prompts),
        "coefficients": len(coeffs),
        "new_tokens": new_tokens,
        "batched_s": cb.wall,
        "naive_s": cn.wall,
        "batched_cpu_s": cb.cpu,
        "naive_cpu_s": cn.cpu,
        "identical_texts": same,
        "total_texts": len(prompts) * len(coeffs),
    }


def print_generation(g: dict) -> None:
    print(
        f"\nGeneration sweep: {g['coefficients']} coefficients × {g['prompts']} prompts × "
        f"{g['new_tokens']} new tokens (greedy)"
    )
    rows = [
        ["batched (generate_sweep)", g["batched_s"], g["batched_cpu_s"], 1.0, 1.0],
        [
            "loop (generate per coefficient)",
            g["naive_s"],
            g["naive_cpu_s"],
            g["naive_s"] / g["batched_s"],
            g["naive_cpu_s"] / g["batched_cpu_s"],
        ],
    ]
    print(tabulate(rows, headers=["path", "wall s", "cpu s", "time/batched (wall)", "(cpu)"], floatfmt=".2f"))
    print(f"identical texts: {g['identical_texts']} / {g['total_texts']}")


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--full", action="store_true", help="the issue's sizes: MMLU 21 × 100; generation 21 × 32 × 64"
    )
    ap.add_argument("--mmlu", default=str(DEFAULT_MMLU), help="MMLU test CSV (default: international_law)")
    ap.add_argument("--advbench", default=str(DEFAULT_ADVBENCH), help="AdvBench harmful_behaviors.csv")
    ap.add_argument("--questions", type=int, default=None, help=f"default {SMALL['questions']} (--full 100)")
    ap.add_argument(
        "--coefficients", type=int, default=None, help=f"default {SMALL['coefficients']} (--full 21)"
    )
    ap.add_argument("--cmax", type=float, default=10.0, help="MMLU sweep over [-cmax, cmax] (App. F: ±10)")
    ap.add_argument("--batch-size", type=int, default=16, help="questions per forward (authors: 16)")
    ap.add_argument("--chunk-size", type=int, default=None, help="coefficients per engine pass (default all)")
    ap.add_argument("--no-levers", action="store_true", help="skip the share_prompt and batch_size runs")
    ap.add_argument("--gen-prompts", type=int, default=None)
    ap.add_argument("--gen-coefficients", type=int, default=None)
    ap.add_argument("--gen-tokens", type=int, default=None)
    ap.add_argument(
        "--gen-chunk", type=int, default=None, help="coefficients per generate call (default all)"
    )
    ap.add_argument("--cmax-gen", type=float, default=5.0, help="generation sweep over [-c, c] (App. F: ±5)")
    ap.add_argument("--layers", default="harmful", help="'harmful', 'bias' (default_layers) or a layer spec")
    ap.add_argument("--vector", default=None, help="a saved SteeringVector (default: random unit directions)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--matmul-rows", type=int, default=2048, help="rows of the matmul-rate measurement")
    ap.add_argument("--profile", action="store_true", help="print the engine's top operators on one batch")
    ap.add_argument("--skip-forward", action="store_true")
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in (FULL if args.full else SMALL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model()
    layers = resolve_bench_layers(model, args.layers)
    vec = SteeringVector.load(args.vector) if args.vector else random_vector(model, layers, args.seed)
    env = {
        "model": model.name,
        "layers": layers,
        "vector": args.vector or f"random unit directions (seed {args.seed})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    print(f"model {model.name}: {model.n_layers} layers, d={model.hidden_size}; steering layers {layers}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}")
    results: dict = {"env": env, "args": vars(args)}
    if not args.skip_forward:
        rate = matmul_rate(model, args.matmul_rows)
        results["matmul_rate"] = rate
        prompts, _ = mmlu_prompts(model, args.questions, Path(args.mmlu))
        coeffs = linspace(-args.cmax, args.cmax, args.coefficients)
        r = run_mmlu(
            model,
            vec,
            layers,
            prompts,
            coeffs,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            levers=not args.no_levers,
        )
        results["mmlu"] = r
        print_mmlu(r, rate)
        if args.profile:
            print("\nengine, one batch: top operators by self CPU time")
            print(profile_engine(model, vec, layers, prompts, coeffs, args.batch_size))
    if not args.skip_generation:
        goals = read_advbench(Path(args.advbench), args.gen_prompts)
        g = run_generation(
            model,
            vec,
            layers,
            [model.chat_prompt(goal) for goal in goals],
            linspace(-args.cmax_gen, args.cmax_gen, args.gen_coefficients),
            new_tokens=args.gen_tokens,
            chunk_size=args.gen_chunk,
        )
        results["generation"] = g
        print_generation(g)
    results["env"]["loadavg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    worst = max(
        (p["max_abs_dp_vs_hooked"] for p in results.get("mmlu", {}).get("paths", {}).values()), default=0
    )
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
