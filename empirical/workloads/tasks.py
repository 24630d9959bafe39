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

from typing import Any

from steerbounds.empirical.workloads.datasets import MMLU_SUBJECTS, load_dataset
from steerbounds.errors import InputError

TASKS = ("mmlu", "arithmetic", "facts")
# open-answer tasks: (user turn, start of the assistant turn, answer text), formatted with a data row
OPEN_TASKS: dict[str, tuple[str, str, str]] = {
    "arithmetic": ("Solve: {question}", "{question} = ", "{answer}"),
    "facts": ("What is the capital of {country}?", "The capital of {country} is", " {answer}"),
}
LETTERS = ("A", "B", "C", "D")


def first_token(tokenizer: Any, text: str) -> int:
    """Id of the first token of ``text`` (no special tokens)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if not ids:
        raise InputError(f"text: {text!r} encodes to no token")
    return int(ids[0])


def mmlu_user_text(item: dict[str, Any]) -> str:
    """The question block of App. F.4: question, then "A) …" … "D) …" lines."""
    choices = zip(LETTERS, item["choices"], strict=True)
    lines = [item["question"], *(f"{letter}) {c}" for letter, c in choices)]
    return "\n".join(lines)


def task_queries(
    model: Any,
    task: str,
    *,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Queries of ``task`` (one of :data:`TASKS`): dicts with ``id``, ``prompt``,
    ``answer_id`` (token of the correct answer), ``group`` (MMLU subject or the
    task name) and, for MMLU, ``choice_ids`` (the four letter tokens) and
    ``answer_index``. ``n``: number of queries (MMLU: per subject)."""
    tok = model.tokenizer
    out: list[dict[str, Any]] = []
    if task == "mmlu":
        choice_ids = [first_token(tok, f" {letter}") for letter in LETTERS]
        if len(set(choice_ids)) != 4:
            raise InputError("model: the tokenizer does not give four distinct tokens for ' A' … ' D'")
        mmlu_path = None if data_dir is None else _mmlu_dir(data_dir)
        for subject in MMLU_SUBJECTS:
            rows = load_dataset("mmlu", path=mmlu_path, subjects=subject)
            if n is not None and n < len(rows):
                rows = load_dataset("mmlu", path=mmlu_path, subjects=subject, n=n, seed=seed)
            for i, r in enumerate(rows):
                out.append(
                    {
                        "id": f"{subject}/{i}",
                        "group": subject,
                        "prompt": model.chat_prompt(mmlu_user_text(r), assistant_prefix="The answer is"),
                        "choice_ids": choice_ids,
                        "answer_index": r["answer"],
                        "answer_id": choice_ids[r["answer"]],
                    }
                )
        return out
    if task in OPEN_TASKS:
        user, prefix, answer = OPEN_TASKS[task]
        for i, r in enumerate(load_dataset(task, n=n, seed=seed)):
            prompt = model.chat_prompt(user.format(**r), assistant_prefix=prefix.format(**r))
            out.append(
                {
                    "id": f"{task}/{i}",
                    "group": task,
                    "prompt": prompt,
                    "answer_id": first_token(tok, answer.format(**r)),
                }
            )
        return out
    raise InputError(f"task: unknown task {task!r}; allowed: {', '.join(TASKS)}")


def _mmlu_dir(data_dir: str) -> str:
    """A data folder in the offline-copy layout holds MMLU under ``mmlu/``."""
    from pathlib import Path

    p = Path(data_dir).expanduser()
    return str(p / "mmlu") if (p / "mmlu").is_dir() else str(p)
