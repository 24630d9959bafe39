"""A behaviour and a task given as files: readers with line-numbered errors, and a sweep
from the CLI end to end on a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from steerbounds.empirical.reduce.tables import load_results
from steerbounds.empirical.workloads import files
from steerbounds.errors import InputError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pairs_jsonl_and_csv(tmp_path):
    j = _write(
        tmp_path / "p.jsonl", '{"positive": "a+", "negative": "a-"}\n\n{"positive": "b+", "negative": "b-"}\n'
    )
    c = _write(tmp_path / "p.csv", "positive,negative\na+,a-\nb+,b-\n")
    assert files.read_pairs(j) == files.read_pairs(c) == (["a+", "b+"], ["a-", "b-"])
    bad = _write(tmp_path / "bad.jsonl", '{"positive": "a", "negative": "b"}\n{"positive": "c"\n')
    with pytest.raises(InputError, match=r"line 2 is not JSON"):
        files.read_pairs(bad)
    empty = _write(tmp_path / "empty.csv", "positive,negative\na,\n")
    with pytest.raises(InputError, match=r"line 2: field 'negative' is missing or empty"):
        files.read_pairs(empty)
    with pytest.raises(InputError, match="no such file"):
        files.read_pairs(tmp_path / "missing.jsonl")


def test_task_file_in_the_mmlu_layout(tmp_path):
    plain = _write(tmp_path / "t.csv", "2+2?,3,4,5,6,B\nCapital of France?,Rome,Paris,B\n")
    rows = files.read_task_file(plain)
    assert rows == [
        {"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1},
        {"question": "Capital of France?", "choices": ["Rome", "Paris"], "answer": 1},
    ]
    header = _write(tmp_path / "h.csv", "question,A,B,answer\nq,x,y,0\n")
    assert files.read_task_file(header)[0]["answer"] == 0
    bad = _write(tmp_path / "bad.csv", "q,x,y,0\nq2,x,y,E\n")
    with pytest.raises(InputError, match=r"line 2: field 'answer' is 'E'; expected a letter A–B"):
        files.read_task_file(bad)


def test_answers_and_prompts(tmp_path, tiny_llama):
    a = _write(tmp_path / "a.json", '{"positive": ["Yes"], "negative": ["No"]}')
    assert files.read_answers(a) == (["Yes"], ["No"])
    with pytest.raises(InputError, match="'negative' must be a non-empty list"):
        files.read_answers(_write(tmp_path / "b.json", '{"positive": ["Yes"], "negative": []}'))
    lines = files.read_prompts(_write(tmp_path / "p.txt", "Is it true?\n\nReally?\n"), tiny_llama)
    assert [p["text"] for p in lines] == ["Is it true?", "Really?"] and lines[1]["prompt"].endswith(
        "<|assistant|>"
    )
    verbatim = files.read_prompts(_write(tmp_path / "p.jsonl", '{"prompt": "raw text"}\n'), tiny_llama)
    assert verbatim[0]["prompt"] == "raw text"


def test_sweep_from_files_end_to_end(tmp_path):
    from conftest import make_tiny_model

    model = make_tiny_model("llama", seed=0)
    folder = tmp_path / "tiny"
    model.model.save_pretrained(str(folder))
    model.tokenizer.save_pretrained(str(folder))
    pairs = "\n".join(
        json.dumps({"positive": f"I am honest about {t}.", "negative": f"I lie about {t}."})
        for t in ("cats", "dogs", "rain", "maths", "tea", "time")
    )
    _write(tmp_path / "pairs.jsonl", pairs + "\n")
    _write(tmp_path / "prompts.txt", "Is the sky blue?\nIs water wet?\nDo fish swim?\n")
    _write(tmp_path / "answers.json", '{"positive": ["Yes", "True"], "negative": ["No", "False"]}')
    _write(tmp_path / "task.csv", "2+2?,3,4,5,6,B\n1+1?,2,3,4,5,A\n3+3?,6,7,8,9,A\n")
    out = tmp_path / "run"
    args = [
        "sweep",
        "--model",
        str(folder),
        "--behavior",
        "sycophancy",
        "--pairs",
        str(tmp_path / "pairs.jsonl"),
        "--prompts",
        str(tmp_path / "prompts.txt"),
        "--answers",
        str(tmp_path / "answers.json"),
        "--judge",
        "agreement",
        "--task-file",
        str(tmp_path / "task.csv"),
        "--coefficients",
        "-1:1:1",
        "--n",
        "3",
        "--max-new-tokens",
        "2",
        "--layers",
        "1:3",
        "--out",
        str(out),
        "--no-progress",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "steerbounds", *args], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    tables = load_results(out)
    assert set(tables["behavior"]["id"]) == {"0", "1", "2"}
    assert set(tables["helpfulness"]["group"]) == {"task"} and tables["helpfulness"]["n_choices"].max() == 4
    assert set(tables["generation"]["r_e"]) == {-1.0, 0.0, 1.0}
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["vector"]["metadata"]["recipe"] == "pairs file"
        and manifest["config"]["behavior"] == "sycophancy"
    )
    # a custom behaviour without the files its measures need is refused, naming them
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "steerbounds",
            "sweep",
            "--behavior",
            "sycophancy",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "prompts_file (--prompts)" in res.stderr and "pairs_file" in res.stderr
