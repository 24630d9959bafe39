"""benchmarks/gpu_bench.py at its smallest on a tiny model on the CPU: every path runs,
the engine and its levers agree with the hooked loop, the FLOP/s and memory fields exist."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tabulate")

from conftest import make_tiny_model  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_gpu_bench_smallest_configuration_on_cpu(capsys):
    gpu_bench = _load("gpu_bench")
    model = make_tiny_model("llama", seed=3)
    system = "Answer with one letter.\n"
    prompts = [
        model.chat_prompt(system + q + "\nA) x\nB) y\nC) z\nD) w", assistant_prefix="The answer is")
        for q in ("Is 2 > 1?", "Pick the second.", "Why?", "Which one is a letter of the alphabet?")
    ]
    gen = [model.chat_prompt(g) for g in ("Say hi.", "Count to three.")]
    r = gpu_bench.bench_model(model, [1, 2], prompts, gen, gpu_bench.SMALL)
    paths = r["mmlu"]["paths"]
    assert set(paths) == {"authors", "hooked", "engine", "prompt", "bucketed"}
    for key in ("engine", "prompt", "bucketed"):
        assert paths[key]["max_abs_dp_vs_hooked"] <= 1e-4
        assert paths[key]["executed_flops"] < paths["hooked"]["executed_flops"]
    assert paths["authors"]["executed_flops"] > paths["hooked"]["executed_flops"]  # all-position logits
    assert r["mmlu"]["shared_prefix_tokens_per_batch"] > len(system)
    assert r["matmul_rate"]["block_flops_per_s"] > 0 and r["matmul_rate"]["block_linears"] == 7
    assert r["peak_mib"]["engine"] is None  # CPU: no device memory counter
    assert r["generation"]["identical_texts"] == r["generation"]["total_texts"] == 4
    gpu_bench.print_dtype("float32", r)
    assert "matmul rate" in capsys.readouterr().out
