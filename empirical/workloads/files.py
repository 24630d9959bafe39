"""A behaviour or a task given as files, with no Python to write.

* :func:`read_pairs` — contrast pairs for vector extraction (App. F.2): JSONL with
  ``{"positive": …, "negative": …}`` per line, or CSV with columns ``positive`` and
  ``negative``; pair i is (positive[i], negative[i]), positive = the side steered toward.
* :func:`read_prompts` — behaviour prompts to measure B on (App. F.3): JSONL with a
  ``prompt`` (used verbatim) or ``text`` (put through the model's chat template)
  field, CSV with such a column, or plain text (one user turn per line).
* :func:`read_answers` — the answer starts scored +1 and −1 in the next-token
  behaviour expectation (eq. 3): JSON ``{"positive": [words], "negative": [words]}``.
* :func:`read_task_file` — a multiple-choice helpfulness task (eq. 4, App. F.4): CSV in
  the MMLU layout, ``question, A, B, C, D, answer`` (answer a letter or a 0-based
  index; a header row is optional; 2 to 26 choices).

Every malformed file is an :class:`InputError` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path
from typing import Any

from steerbounds.errors import InputError


def _text(path: str | Path, option: str) -> tuple[Path, str]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{option}: no such file {str(p)!r}")
    try:
        return p, p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{option}: cannot read {str(p)!r}: {exc}") from None


def _json_object(text: str, where: str, not_object: str, *, say_line: bool) -> dict[str, Any]:
    """``text`` parsed as a JSON object; else an InputError ``{where} is not JSON: …`` (with the
    line of the error if ``say_line``) or ``{where} {not_object}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        line = f" (line {exc.lineno})" if say_line else ""
        raise InputError(f"{where} is not JSON: {exc.msg}{line}") from None
    if not isinstance(data, dict):
        raise InputError(f"{where} {not_object}")
    return data


def _jsonl(p: Path, text: str, option: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{option}: {str(p)!r} line {number}"
        rows.append((number, _json_object(line, where, "is not a JSON object", say_line=False)))
    return rows


def _csv(p: Path, text: str, option: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        reader = csv.DictReader(text.splitlines())
        return [(number, row) for number, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise InputError(f"{option}: {str(p)!r} is not CSV: {exc}") from None


def _rows(path: str | Path, option: str) -> tuple[Path, list[tuple[int, dict[str, Any]]]]:
    p, text = _text(path, option)
    rows = _jsonl(p, text, option) if p.suffix in (".jsonl", ".json") else _csv(p, text, option)
    if not rows:
        raise InputError(f"{option}: {str(p)!r} has no rows")
    return p, rows


def _field(p: Path, number: int, row: dict[str, Any], name: str, option: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{option}: {str(p)!r} line {number}: field {name!r} is missing or empty")
    return value


def read_pairs(path: str | Path, *, option: str = "--pairs") -> tuple[list[str], list[str]]:
    """``(positive, negative)`` texts of a pairs file (module docstring)."""
    p, rows = _rows(path, option)
    pos = [_field(p, n, r, "positive", option) for n, r in rows]
    neg = [_field(p, n, r, "negative", option) for n, r in rows]
    return pos, neg


def read_prompts(path: str | Path, model: Any, *, option: str = "--prompts") -> list[dict[str, str]]:
    """Behaviour prompts ``{"id", "text", "prompt"}`` of a prompts file (module
    docstring); ``text`` fields go through ``model.chat_prompt``."""
    p, text = _text(path, option)
    if p.suffix in (".jsonl", ".json", ".csv"):
        rows = _jsonl(p, text, option) if p.suffix != ".csv" else _csv(p, text, option)
        out: list[dict[str, str]] = []
        for number, r in rows:
            if isinstance(r.get("prompt"), str) and r["prompt"].strip():
                out.append({"id": str(len(out)), "text": r["prompt"], "prompt": r["prompt"]})
            else:
                t = _field(p, number, r, "text", option)
                out.append({"id": str(len(out)), "text": t, "prompt": model.chat_prompt(t)})
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        out = [{"id": str(i), "text": t, "prompt": model.chat_prompt(t)} for i, t in enumerate(lines)]
    if not out:
        raise InputError(f"{option}: {str(p)!r} has no prompts")
    return out


def read_answers(path: str | Path, *, option: str = "--answers") -> tuple[list[str], list[str]]:
    """``(positive words, negative words)`` of an answers file (module docstring)."""
    p, text = _text(path, option)
    data = _json_object(
        text,
        f"{option}: {str(p)!r}",
        "must be a JSON object with 'positive' and 'negative' lists",
        say_line=True,
    )
    out = []
    for name in ("positive", "negative"):
        words = data.get(name)
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise InputError(f"{option}: {str(p)!r}: field {name!r} must be a non-empty list of strings")
        out.append(words)
    return out[0], out[1]


def read_task_file(path: str | Path, *, option: str = "--task-file") -> list[dict[str, Any]]:
    """Multiple-choice rows ``{"question", "choices", "answer"}`` (answer = 0-based
    index) of a task file in the MMLU CSV layout (module docstring)."""
    p, text = _text(path, option)
    try:
        table = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise InputError(f"{option}: {str(p)!r} is not CSV: {exc}") from None
    start = 1 if table and table[0] and table[0][0].strip().lower() == "question" else 0
    rows = []
    for number, row in enumerate(table[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 4:
            raise InputError(f"{option}: {str(p)!r} line {number}: need question, ≥ 2 choices and answer")
        question, choices, answer = row[0], row[1:-1], row[-1].strip()
        if len(choices) > 26 or not question.strip() or not all(c.strip() for c in choices):
            raise InputError(f"{option}: {str(p)!r} line {number}: empty question or choice")
        letters = string.ascii_uppercase[: len(choices)]
        if answer.upper() in letters and len(answer) == 1:
            index = letters.index(answer.upper())
        elif answer.isdigit() and int(answer) < len(choices):
            index = int(answer)
        else:
            raise InputError(
                f"{option}: {str(p)!r} line {number}: field 'answer' is {answer!r}; "
                f"expected a letter {letters[0]}–{letters[-1]} or an index 0–{len(choices) - 1}"
            )
        rows.append({"question": question.strip(), "choices": [c.strip() for c in choices], "answer": index})
    if not rows:
        raise InputError(f"{option}: {str(p)!r} has no rows")
    return rows
