"""Helpfulness queries (eq. 4, App. F.4): prompts with the token id of the
correct answer.

* ``mmlu``       — "[Question][A) ..][B) ..][C) ..][D) ..] The answer is" (App. F.4):
  the question and the lettered choices as the user turn, "The answer is" as
  the start of the assistant turn; the answer tokens are the first tokens of
  " A", " B", " C", " D".
* ``arithmetic`` — "Solve: 7 + 5" with the assistant turn started as
  "7 + 5 = "; the answer is the first token of the sum (p(correct) ≈ 0.9 on
  SmolLM2-135M-Instruct at r_e = 0).
* ``facts``      — "What is the capital of France?" with the assistant turn
  started as "The capital of France is"; the answer is the first token of
  " Paris".

Prompts go through :meth:`SteerableModel.chat_prompt` (plain text for a model
without a chat template).
"""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

from steerbounds.empirical.workloads import files
from steerbounds.empirical.workloads.datasets import MMLU_SUBJECTS, load_dataset
from steerbounds.errors import InputError

TASKS = ("mmlu", "arithmetic", "facts", "file")
# open-answer tasks: (user turn, start of the assistant turn, answer text), formatted with a data row
OPEN_TASKS: dict[str, tuple[str, str, str]] = {
    "arithmetic": ("Solve: {question}", "{question} = ", "{answer}"),
    "facts": ("What is the capital of {country}?", "The capital of {country} is", " {answer}"),
}


def first_token(tokenizer: Any, text: str) -> int:
    """Id of the first token of ``text`` (no special tokens)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if not ids:
        raise InputError(f"text: {text!r} encodes to no token")
    return int(ids[0])


def choice_user_text(item: dict[str, Any]) -> str:
    """The question block of App. F.4: question, then "A) …" … lines, one per choice."""
    choices = zip(string.ascii_uppercase, item["choices"], strict=False)
    return "\n".join([item["question"], *(f"{letter}) {c}" for letter, c in choices)])


def _choice_queries(model: Any, rows: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Multiple-choice queries (App. F.4): the lettered question as the user turn, "The
    answer is" as the start of the assistant turn; the choice tokens are the first
    tokens of " A", " B", … (a tokenizer that splits off the space, such as a plain
    byte-level one, gets "The answer is " and the tokens of "A", "B", …)."""
    letters = string.ascii_uppercase[: max(len(r["choices"]) for r in rows)]
    prefix = "The answer is"
    choice_ids = [first_token(model.tokenizer, f" {letter}") for letter in letters]
    if len(set(choice_ids)) != len(letters):
        prefix += " "
        choice_ids = [first_token(model.tokenizer, letter) for letter in letters]
    if len(set(choice_ids)) != len(letters):
        raise InputError(f"model: the tokenizer does not give distinct tokens for A … {letters[-1]}")
    return [
        {
            "id": f"{group}/{i}",
            "group": group,
            "prompt": model.chat_prompt(choice_user_text(r), assistant_prefix=prefix),
            "choice_ids": choice_ids[: len(r["choices"])],
            "answer_index": r["answer"],
            "answer_id": choice_ids[r["answer"]],
        }
        for i, r in enumerate(rows)
    ]


def task_queries(
    model: Any,
    task: str,
    *,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    task_file: str | None = None,
) -> list[dict[str, Any]]:
    """Queries of ``task`` (one of :data:`TASKS`): dicts with ``id``, ``prompt``,
    ``answer_id`` (token of the correct answer), ``group`` (MMLU subject, the task
    file's name, or the task name) and, for multiple choice, ``choice_ids`` (the
    letter tokens) and ``answer_index``. ``n``: number of queries (MMLU: per subject).
    ``task="file"`` reads ``task_file`` (MMLU CSV layout, :func:`files.read_task_file`)."""
    if task == "mmlu":
        mmlu_path = None if data_dir is None else _mmlu_dir(data_dir)
        out: list[dict[str, Any]] = []
        for subject in MMLU_SUBJECTS:
            rows = load_dataset("mmlu", path=mmlu_path, subjects=subject)
            if n is not None and n < len(rows):
                rows = load_dataset("mmlu", path=mmlu_path, subjects=subject, n=n, seed=seed)
            out += _choice_queries(model, rows, subject)
        return out
    if task == "file":
        if task_file is None:
            raise InputError("task_file: task 'file' needs a task file (--task-file)")
        rows = files.read_task_file(task_file)
        if n is not None and n < len(rows):
            rows = [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), n))]
        return _choice_queries(model, rows, Path(task_file).stem)
    if task in OPEN_TASKS:
        user, prefix, answer = OPEN_TASKS[task]
        out = []
        for i, r in enumerate(load_dataset(task, n=n, seed=seed)):
            prompt = model.chat_prompt(user.format(**r), assistant_prefix=prefix.format(**r))
            answer_id = first_token(model.tokenizer, answer.format(**r))
            out.append({"id": f"{task}/{i}", "group": task, "prompt": prompt, "answer_id": answer_id})
        return out
    raise InputError(f"task: unknown task {task!r}; allowed: {', '.join(TASKS)}")


def _mmlu_dir(data_dir: str) -> str:
    """A data folder in the offline-copy layout holds MMLU under ``mmlu/``."""
    p = Path(data_dir).expanduser()
    return str(p / "mmlu") if (p / "mmlu").is_dir() else str(p)
