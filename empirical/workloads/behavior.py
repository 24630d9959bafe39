"""A behaviour, from a built-in recipe or from files.

A sweep or a calibration needs four things of a behaviour: contrast pairs (to
extract the vector, App. F.2), measurement prompts (App. F.3), the answer starts
scored +1/−1 (the next-token form of Definition 1, eq. 3) and a judge of generated
text. Each comes from a file when the configuration names one (``pairs_file``,
``prompts_file``, ``answers_file``, ``judge``; :mod:`~steerbounds.empirical.workloads.files`)
and otherwise from the built-in recipe of ``behavior``
(:mod:`~steerbounds.empirical.workloads.recipes`). A behaviour that is not a recipe
(:data:`CUSTOM`) must name the files it needs.

The functions read these fields off any object that has them (a sweep or
calibration configuration): ``behavior, n, n_pairs, seed, data_dir, pairs_file,
prompts_file, answers_file, judge``.
"""

from __future__ import annotations

import random
from typing import Any

from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.workloads import files, recipes
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector, recipe_of
from steerbounds.empirical.workloads.judges import JUDGES, Judge, default_judge
from steerbounds.errors import InputError

CUSTOM = "custom"


def is_recipe(name: str) -> bool:
    return str(name).strip().lower().replace("-", "_") in recipes.BEHAVIORS


def check(source: Any, *, needs_prompts: bool, needs_judge: bool) -> None:
    """Refuse a configuration whose behaviour lacks what its measures need."""
    if is_recipe(source.behavior):
        return
    missing = []
    if needs_prompts and source.prompts_file is None:
        missing.append("prompts_file (--prompts)")
    if needs_prompts and source.answers_file is None:
        missing.append("answers_file (--answers)")
    if needs_judge and source.judge is None:
        missing.append(f"judge (--judge {'|'.join(JUDGES)})")
    if source.pairs_file is None and getattr(source, "vector", None) is None:
        missing.append("pairs_file (--pairs) or a vector")
    if missing:
        raise InputError(
            f"behavior: {source.behavior!r} is not a built-in recipe ({', '.join(recipes.BEHAVIORS)}); "
            f"it needs {', '.join(missing)}"
        )


def pairs(source: Any, model: Any) -> tuple[list[str], list[str]]:
    """``(positive, negative)`` contrast texts: the pairs file (its first ``n_pairs``)
    or the recipe's."""
    if source.pairs_file is not None:
        pos, neg = files.read_pairs(source.pairs_file)
        return pos[: source.n_pairs], neg[: source.n_pairs]
    return recipes.behavior_pairs(
        source.behavior, source.n_pairs, source.seed, model=model, data_dir=source.data_dir
    )


def vector(source: Any, model: SteerableModel) -> SteeringVector:
    """The behaviour's steering vector extracted on ``model``: from the pairs file when
    ``source`` names one, else from the recipe (App. F.2), with ``source``'s recipe fields."""
    given = pairs(source, model) if source.pairs_file is not None else None
    return extract_behavior_vector(model, source.behavior, **recipe_of(source), pairs=given)


def prompts(source: Any, model: Any, n: int | None = None) -> list[dict[str, str]]:
    """Measurement prompts: ``n`` (default ``source.n``) drawn (seeded) from the prompts
    file, or the recipe's test prompts."""
    n = source.n if n is None else n
    if source.prompts_file is not None:
        rows = files.read_prompts(source.prompts_file, model)
        if len(rows) > n:
            keep = sorted(random.Random(source.seed).sample(range(len(rows)), n))
            rows = [rows[i] for i in keep]
        return [{**r, "id": str(i)} for i, r in enumerate(rows)]
    return recipes.behavior_prompts(source.behavior, model, n=n, seed=source.seed, data_dir=source.data_dir)


def answer_sets(source: Any, tokenizer: Any) -> tuple[list[int], list[int]]:
    """``(plus_ids, minus_ids)`` of the next-token behaviour expectation (eq. 3)."""
    if source.answers_file is not None:
        plus, minus = files.read_answers(source.answers_file)
        return recipes.token_sets(tokenizer, plus, minus)
    return recipes.answer_token_sets(source.behavior, tokenizer)


def judge(source: Any) -> Judge:
    """The judge of generated responses: the named one, or the recipe's."""
    if source.judge is not None:
        return JUDGES[source.judge]
    return default_judge(source.behavior)
