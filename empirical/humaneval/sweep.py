"""HumanEval helpfulness as a function of the steering coefficient r_e (paper App. G, Fig. 17).

For every coefficient r_e in the sweep and every problem, one greedy completion
is generated with the steering vector injected (:func:`generate_sweep`, eq. 2),
the code is cut out (:func:`extract_completion`), and the problem's
tests run in the sandbox (:mod:`steerbounds.empirical.humaneval.sandbox`). pass@1 per
coefficient is the fraction of problems passed (one greedy sample each); its
error bar is the standard error of the mean over problems (App. F.5).

Runs are resumable: every (coefficient, problem, prompt style) record is
appended to the folder's locked run store (:class:`steerbounds.io.RunStore`) as
soon as it is scored, and a rerun skips the keys already there. The records load
as the ``humaneval`` table (:func:`steerbounds.empirical.reduce.tables.load_results`),
and pass@1 per coefficient is that table's mean of ``passed`` with its SEM.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from steerbounds import io
from steerbounds import progress as progress_bars
from steerbounds.empirical.humaneval.sandbox import LimitOptions, Limits, evaluate_humaneval
from steerbounds.empirical.steering.batched import generate_sweep
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep.records import HumanEvalRecord
from steerbounds.errors import InputError, check_int

if TYPE_CHECKING:  # typing_extensions' Unpack: typing has it from Python 3.11 only
    from typing_extensions import Unpack

PROMPT_STYLES = ("chat", "completion")
FORMAT = "steerbounds.humaneval/2"


def build_prompt(model: SteerableModel, problem: Mapping[str, str], style: str) -> str:
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


def unit_key(coefficient: float, task_id: str, style: str) -> str:
    """The run-store key of one (coefficient, problem, prompt style) record."""
    return f"{float(coefficient)!r}|{task_id}|{style}"


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def humaneval_sweep(
    model: SteerableModel,
    vector: SteeringVector,
    problems: Sequence[Mapping[str, str]],
    coefficients: Sequence[float],
    out_dir: str | os.PathLike[str],
    *,
    max_new_tokens: int = 256,
    prompt_style: str | None = None,
    layers: object = None,
    batch_size: int = 4,
    sandbox_workers: int = 1,
    progress: bool = False,
    **limits: Unpack[LimitOptions],
) -> list[HumanEvalRecord]:
    """Generate, extract and test every (coefficient, problem) pair into the run
    store ``out_dir`` (locked; ``results.jsonl`` + ``manifest.json``), skipping
    pairs already recorded there. A folder whose manifest names another model,
    vector, prompt style or generation length is refused.

    ``prompt_style`` defaults to ``chat`` when the tokenizer has a chat template,
    else ``completion``. Greedy decoding (as the paper's generations, App. F.3).
    ``limits``: the sandbox's :class:`~steerbounds.empirical.humaneval.sandbox.Limits`
    per program, checked before anything is generated. Returns every record of the
    folder, as :class:`HumanEvalRecord`."""
    coeffs = [float(c) for c in coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise InputError("coefficients: expected a non-empty list of finite numbers")
    if not problems:
        raise InputError("problems: expected at least one HumanEval problem")
    check_int("batch_size", batch_size)
    Limits(**limits)
    style = prompt_style or ("chat" if getattr(model.tokenizer, "chat_template", None) else "completion")
    if style not in PROMPT_STYLES:
        raise InputError(f"prompt_style: {style!r} is not allowed; use one of {', '.join(PROMPT_STYLES)}")
    identity = {
        "format": FORMAT,
        "model_hash": model.model_hash(),
        "vector_hash": vector.content_hash(),
        "prompt_style": style,
        "max_new_tokens": max_new_tokens,
    }
    with io.output_dir(out_dir, option="out") as folder, io.RunStore(folder) as store:
        old = store.read_manifest()
        if old is not None and {k: old.get(k) for k in identity} != identity:
            diff = [k for k in identity if old.get(k) != identity[k]]
            raise InputError(
                f"resume: {str(folder)!r} holds HumanEval records of another run ({', '.join(diff)} differ)"
            )
        done = store.done(lambda r: str(r["unit"]))
        store.write_manifest({**identity, "vector": {"method": vector.method, "model": vector.model_name}})
        todo = [p for p in problems if any(unit_key(c, p["task_id"], style) not in done for c in coeffs)]
        bar = progress_bars.bar(total=len(todo), desc="humaneval", unit="problem", show=progress)
        for batch in _batches(todo, batch_size):
            needed = [c for c in coeffs if any(unit_key(c, p["task_id"], style) not in done for p in batch)]
            prompts = [build_prompt(model, p, style) for p in batch]
            texts = generate_sweep(
                model, vector, prompts, needed, max_new_tokens=max_new_tokens, layers=layers
            )
            pairs = [
                (c, p, extract_completion(texts[k][b], style))
                for k, c in enumerate(needed)
                for b, p in enumerate(batch)
                if unit_key(c, p["task_id"], style) not in done
            ]
            results = evaluate_humaneval(
                [p for _, p, _ in pairs],
                [comp for _, _, comp in pairs],
                workers=sandbox_workers,
                **limits,
            )
            for (c, p, comp), res in zip(pairs, results, strict=True):
                record = HumanEvalRecord(
                    r_e=c,
                    id=str(p["task_id"]),
                    completion=comp,
                    status=res.status,
                    reason=res.reason,
                    stderr_tail=res.stderr_tail[-500:],
                    prompt_style=style,
                    max_new_tokens=max_new_tokens,
                    vector_method=vector.method,
                    vector_model=vector.model_name,
                )
                key = unit_key(c, p["task_id"], style)
                store.append({"unit": key, "rows": {HumanEvalRecord.KIND: [record.to_dict()]}})
                done.add(key)
            bar.update(len(batch))
        bar.close()
        return [
            HumanEvalRecord.from_dict(r)
            for line in store.records()
            for r in line["rows"][HumanEvalRecord.KIND]
        ]
