"""HumanEval helpfulness sweep (steerbounds.empirical.humaneval.sweep) on a tiny random model."""

from __future__ import annotations

import json

import pytest

from steerbounds.empirical.humaneval import sweep as he
from steerbounds.empirical.humaneval.sandbox import load_humaneval
from steerbounds.empirical.reduce.summary import summarize
from steerbounds.empirical.reduce.tables import load_results
from steerbounds.errors import InputError


@pytest.fixture(scope="module")
def problems():
    return load_humaneval()[:2]


def test_extract_completion_stops_at_top_level_code_and_fences():
    assert he.extract_completion("    return 1\n\ndef other():\n    pass\n") == "    return 1\n"
    assert he.extract_completion("    x = 1\n    return x\n```\nExplanation") == "    x = 1\n    return x\n"
    assert he.extract_completion("    return 2\nprint(f(1))") == "    return 2\n"
    assert he.extract_completion("Sure! here it is") == "\n"
    whole = "def f(x):\n    return x\n```\nThis function returns x."
    assert he.extract_completion(whole, "chat") == "\ndef f(x):\n    return x\n"


def test_build_prompt_styles(tiny_llama, problems):
    assert he.build_prompt(tiny_llama, problems[0], "completion") == problems[0]["prompt"]
    chat = he.build_prompt(tiny_llama, problems[0], "chat")
    assert chat.endswith("```python\n") and problems[0]["prompt"] in chat
    with pytest.raises(InputError, match="prompt_style"):
        he.build_prompt(tiny_llama, problems[0], "raw")


def test_sweep_records_every_pair_and_resumes(tiny_llama, random_vector, problems, tmp_path, monkeypatch):
    vector = random_vector(tiny_llama)
    out = tmp_path / "he"
    records = he.humaneval_sweep(
        tiny_llama, vector, problems, [-1.0, 0.0, 2.0], out, max_new_tokens=8, timeout_s=5
    )
    assert len(records) == 6
    assert {(r.r_e, r.id) for r in records} == {(c, p["task_id"]) for c in (-1.0, 0.0, 2.0) for p in problems}
    assert all(r.status in ("passed", "failed", "timeout", "error") for r in records)
    table = load_results(out)["humaneval"]
    assert len(table) == 6 and set(table["status"]) <= {"passed", "failed", "timeout", "error"}
    pass_at_1 = summarize(load_results(out)).curves["pass_at_1"]
    assert list(pass_at_1["r_e"]) == [-1.0, 0.0, 2.0] and list(pass_at_1["n"]) == [2, 2, 2]

    # a torn last line (kill mid-write) is dropped and its pair redone; nothing else is
    log = out / "results.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]) + lines[-1][:10])
    calls = []
    original = he.evaluate_humaneval

    def counting(problems_, completions, **kw):
        calls.append(len(problems_))
        return original(problems_, completions, **kw)

    monkeypatch.setattr(he, "evaluate_humaneval", counting)
    again = he.humaneval_sweep(
        tiny_llama, vector, problems, [-1.0, 0.0, 2.0], out, max_new_tokens=8, timeout_s=5
    )
    assert calls == [1]
    assert len(again) == 6
    assert all(json.loads(line) for line in log.read_text().splitlines())
    # another generation length is another run: refused, not mixed in
    with pytest.raises(InputError, match="max_new_tokens"):
        he.humaneval_sweep(tiny_llama, vector, problems, [0.0], out, max_new_tokens=9, timeout_s=5)


def test_chat_style_whole_function_passes_in_the_sandbox(problems):
    from steerbounds.empirical.humaneval.sandbox import run_humaneval_problem

    p = problems[0]
    generated = p["prompt"] + p["canonical_solution"] + "```\nExplanation: …"
    assert run_humaneval_problem(p, he.extract_completion(generated, "chat")).passed


def test_bad_coefficients(tiny_llama, random_vector, problems, tmp_path):
    with pytest.raises(InputError, match="coefficients"):
        he.humaneval_sweep(tiny_llama, random_vector(tiny_llama), problems, [float("nan")], tmp_path / "x")


def test_bad_sandbox_limits_are_refused_before_any_generation(
    tiny_llama, random_vector, problems, tmp_path, monkeypatch
):
    def no_generation(*args, **kwargs):
        raise AssertionError("generated before the limits were checked")

    monkeypatch.setattr(he, "generate_sweep", no_generation)
    for bad in ({"timeout_s": 0}, {"memory_mb": 8}, {"fsize_mb": 0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            he.humaneval_sweep(tiny_llama, random_vector(tiny_llama), problems, [0.0], tmp_path / "x", **bad)
    assert not (tmp_path / "x").exists()
