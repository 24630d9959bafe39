"""HumanEval helpfulness as a function of the steering coefficient r_e (paper App. G, Fig. 17).

For every coefficient r_e in the sweep and every problem, one greedy completion
is generated with the steering vector injected (:func:`generate_sweep`, eq. 2),
the code is cut out (:func:`extract_completion`), and the problem's
tests run in the sandbox (:mod:`steerbounds.empirical.humaneval.sandbox`). pass@1 per
coefficient is the fraction of problems passed (one greedy sample each); its
error bar is the standard error of the mean over problems (App. F.5).

Runs are resumable: every (coefficient, problem, prompt style) record is
appended to a JSONL file as soon as it is scored, and a rerun skips the keys
already there.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steerbounds.errors import InputError

PROMPT_STYLES = ("chat", "completion")


def build_prompt(model: Any, problem: Mapping[str, str], style: str) -> str:
    """The text the model continues.

    ``completion``: the HumanEval prompt itself (signature + docstring); the model
    continues with the body. ``chat``: a user turn "Complete the following Python
    function:" with the prompt in a code block, and the assistant's answer started
    as a python code block; an instruction-tuned model then writes the whole
    function (small chat models close the block at once when asked to continue
    the body instead).
    """
    if style not in PROMPT_STYLES:
        raise InputError(f"prompt_style: {style!r} is not allowed; use one of {', '.join(PROMPT_STYLES)}")
    if style == "completion":
        return problem["prompt"]
    request = "Complete the following Python function:\n```python\n" + problem["prompt"] + "```"
    return model.chat_prompt(request, assistant_prefix="```python\n")


def extract_completion(generated: str, style: str = "completion") -> str:
    """The code to append to the HumanEval prompt.

    ``completion`` style: the function body — lines up to the first top-level
    (unindented, non-empty) line or code fence; this is the human-eval truncation
    rule (stop at ``\\ndef``, ``\\nclass``, ``\\nif``, ``\\nprint``, ``\\n#``) extended to
    any unindented statement, so trailing chat text or test code is not executed.
    ``chat`` style: the whole code block up to its closing fence, a complete
    function that redefines the prompt's (whose docstring alone is a valid body).
    """
    if style == "chat":
        return "\n" + generated.split("```", 1)[0].rstrip() + "\n"
    kept: list[str] = []
    for line in generated.split("\n"):
        if line.strip().startswith("```") or (line.strip() and not line[0].isspace()):
            break
        kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def _key(coefficient: float, task_id: str, style: str) -> str:
    return f"{float(coefficient)!r}|{task_id}|{style}"


def read_records(path: str | os.PathLike) -> list[dict]:
    """Complete records of a results file (a torn last line from a kill is ignored)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def _repair_tail(path: Path) -> None:
    """Drop a torn last line (no newline) left by a killed writer, so appends stay valid JSONL."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def humaneval_sweep(
    model: Any,
    vector: Any,
    problems: Sequence[Mapping[str, str]],
    coefficients: Sequence[float],
    out_path: str | os.PathLike,
    *,
    max_new_tokens: int = 256,
    prompt_style: str | None = None,
    layers: object = None,
    batch_size: int = 4,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    sandbox_workers: int = 1,
    progress: bool = False,
) -> list[dict]:
    """Generate, extract and test every (coefficient, problem) pair; append each
    record to ``out_path`` (JSONL) and skip pairs already recorded there.

    Records: ``coefficient, task_id, completion, status, reason, stderr_tail,
    vector`` (the vector's method/model). ``prompt_style`` defaults to ``chat``
    when the tokenizer has a chat template, else ``completion``. Greedy decoding
    (as the paper's generations, App. F.3). Returns the file's records of this prompt style.
    """
    from steerbounds.empirical.humaneval.sandbox import evaluate_humaneval
    from steerbounds.empirical.steering.batched import generate_sweep

    coeffs = [float(c) for c in coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise InputError("coefficients: expected a non-empty list of finite numbers")
    if not problems:
        raise InputError("problems: expected at least one HumanEval problem")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: expected an int ≥ 1, got {batch_size!r}")
    style = prompt_style or ("chat" if getattr(model.tokenizer, "chat_template", None) else "completion")
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _repair_tail(path)
    done = {_key(r["coefficient"], r["task_id"], r.get("prompt_style", "")) for r in read_records(path)}
    todo = [p for p in problems if any(_key(c, p["task_id"], style) not in done for c in coeffs)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="humaneval", unit="problem")
    vector_info = {"method": getattr(vector, "method", None), "model": getattr(vector, "model_name", None)}
    for batch in _batches(todo, batch_size):
        needed = [c for c in coeffs if any(_key(c, p["task_id"], style) not in done for p in batch)]
        prompts = [build_prompt(model, p, style) for p in batch]
        texts = generate_sweep(model, vector, prompts, needed, max_new_tokens=max_new_tokens, layers=layers)
        pairs = [
            (c, p, extract_completion(texts[k][b], style))
            for k, c in enumerate(needed)
            for b, p in enumerate(batch)
            if _key(c, p["task_id"], style) not in done
        ]
        results = evaluate_humaneval(
            [p for _, p, _ in pairs],
            [comp for _, _, comp in pairs],
            workers=sandbox_workers,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
        )
        for (c, p, comp), res in zip(pairs, results):
            record = {
                "coefficient": c,
                "task_id": p["task_id"],
                "completion": comp,
                "status": res.status,
                "reason": res.reason,
                "stderr_tail": res.stderr_tail[-500:],
                "prompt_style": style,
                "max_new_tokens": max_new_tokens,
                "vector": vector_info,
            }
            _append(path, record)
            done.add(_key(c, p["task_id"], style))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return [r for r in read_records(path) if r.get("prompt_style") == style]


@dataclass(frozen=True)
class PassRate:
    """pass@1 at one coefficient: mean over problems, its standard error, count."""

    coefficient: float
    pass_at_1: float
    stderr: float
    n: int


def pass_at_1_by_coefficient(
    records: Sequence[Mapping[str, Any]], style: str | None = None
) -> list[PassRate]:
    """pass@1 per coefficient (one greedy sample per problem), sorted by r_e; the
    error bar is the standard error of the mean over problems, sqrt(p(1-p)/(n-1)).
    ``style``: only records of that prompt style (None: all)."""
    groups: dict[float, list[int]] = defaultdict(list)
    for r in records:
        if style is not None and r.get("prompt_style") != style:
            continue
        groups[float(r["coefficient"])].append(1 if r["status"] == "passed" else 0)
    out = []
    for c in sorted(groups):
        xs = groups[c]
        n = len(xs)
        p = sum(xs) / n
        se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else float("nan")
        out.append(PassRate(c, p, se, n))
    return out
