"""The steering vector of a named behaviour, made from its recipe (App. F.2)."""

from __future__ import annotations

from typing import Any

from steerbounds.empirical.steering.layers import default_layers
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.preference import METHOD as GRADIENT
from steerbounds.empirical.steering.preference import gradient_vector
from steerbounds.empirical.steering.vectors import TEMPLATE_KEY, SteeringVector, extract_vector
from steerbounds.empirical.workloads import recipes
from steerbounds.errors import InputError


def extract_behavior_vector(
    model: SteerableModel,
    behavior: str,
    *,
    layers: object = None,
    method: str = "pca",
    n_pairs: int = 128,
    seed: int = 0,
    data_dir: str | None = None,
    pairs: tuple[list[str], list[str]] | None = None,
    prompts: list[str] | None = None,
    answers: tuple[list[int], list[int]] | None = None,
) -> SteeringVector:
    """The steering vector of ``behavior`` from its recipe (App. F.2), or from
    ``pairs`` (positive, negative texts) when given: ``n_pairs`` contrast pairs,
    last-token reading, ``method`` ("pca", "pca_centered" or "mean_diff"), at ``layers``
    (default: :func:`default_layers` for the behaviour; the broad middle band for a
    behaviour that is not a recipe). The pairs' templates (:func:`recipe_templates`) are
    recorded in the metadata for recipe vectors.

    ``method="gradient"`` is the preference-gradient vector of Proposition 1 (App. I,
    eqs. 63–65; :func:`~steerbounds.empirical.steering.preference.gradient_vector`): its
    preference data are ``n_pairs`` prompts x (``prompts``, texts used verbatim, or the
    recipe's measurement queries on the extraction half, :func:`recipes.behavior_prompts`
    with ``split="train"``) with the answer-token sets preferred / dispreferred
    (``answers`` = (plus ids, minus ids), or the recipe's :func:`recipes.answer_token_sets`).
    It takes no contrast ``pairs``; the other methods take no ``prompts``/``answers``."""
    known = behavior in recipes.BEHAVIORS
    idx = (
        model.resolve_layers(layers)
        if layers is not None
        else default_layers(model.n_layers, behavior if known else "custom")
    )
    if method == GRADIENT:
        return _gradient_vector(model, behavior, idx, n_pairs, seed, data_dir, pairs, prompts, answers)
    if prompts is not None or answers is not None:
        raise InputError(f"prompts/answers: only the gradient method reads them, not {method!r}")
    if pairs is None:
        pos, neg = recipes.behavior_pairs(behavior, n_pairs, seed, model=model, data_dir=data_dir)
    else:
        pos, neg = pairs
    return extract_vector(
        model,
        pos,
        neg,
        layers=idx,
        method=method,
        metadata={
            "behavior": behavior,
            "recipe": "steerbounds.empirical.workloads.recipes" if pairs is None else "pairs file",
            "n_pairs": n_pairs,
            "seed": seed,
            TEMPLATE_KEY: recipe_templates(behavior, model) if pairs is None else None,
        },
    )


def _gradient_vector(
    model: SteerableModel,
    behavior: str,
    idx: list[int],
    n_pairs: int,
    seed: int,
    data_dir: str | None,
    pairs: tuple[list[str], list[str]] | None,
    prompts: list[str] | None,
    answers: tuple[list[int], list[int]] | None,
) -> SteeringVector:
    """:func:`extract_behavior_vector` for ``method="gradient"``."""
    if pairs is not None:
        raise InputError(
            "pairs: the gradient method takes prompts and answer starts (preference data, eq. 63), "
            "not contrast pairs; give prompts and answers (--prompts, --answers) or a recipe behaviour"
        )
    known = behavior in recipes.BEHAVIORS
    if not known and (prompts is None or answers is None):
        raise InputError(
            f"behavior: {behavior!r} is not a recipe ({', '.join(recipes.BEHAVIORS)}); the gradient "
            f"method needs prompts and answers (--prompts, --answers)"
        )
    if prompts is None:
        rows = recipes.behavior_prompts(
            behavior, model, n=n_pairs, seed=seed, data_dir=data_dir, split="train"
        )
        texts = [r["prompt"] for r in rows]
    else:
        texts = list(prompts)[:n_pairs]
    plus, minus = answers if answers is not None else recipes.answer_token_sets(behavior, model.tokenizer)
    template = None
    if prompts is None:  # the measurement query: the AdvBench goal itself, or the agreement question
        harm = recipes.family(recipes.canonical_behavior(behavior)) == "harm"
        template = {"prompt": model.chat_prompt("{instruction}" if harm else recipes.AGREE_TEMPLATE)}
    return gradient_vector(
        model,
        texts,
        plus,
        minus,
        layers=idx,
        metadata={
            "behavior": behavior,
            "recipe": "steerbounds.empirical.workloads.recipes" if prompts is None else "prompts file",
            "n_pairs": len(texts),
            "seed": seed,
            TEMPLATE_KEY: template,
        },
    )


def recipe_templates(behavior: str, model: SteerableModel) -> dict[str, str]:
    """The templates of the positive and negative texts of ``behavior``'s contrast pairs
    (App. F.2), as :func:`recipes.behavior_pairs` fills them: harm — the request
    ``HARM_TEMPLATE`` put through the model's chat format with the answer start as the
    assistant prefix, ``{instruction}`` standing for the AdvBench goal (positive of
    ``harmful``) or the harmless instruction (negative), first letter lower-cased and
    trailing ``?.!`` removed; bias — ``BIAS_TEMPLATE`` with ``{statement}`` a StereoSet
    statement and the misaligned (``harmful``-like side) or aligned answer. ``harmless``
    and ``not_racist`` swap the two; honesty — RepE's instruction (honest / untruthful
    persona) with ``{statement}`` a true capital statement or a word prefix of it."""
    key = recipes.canonical_behavior(behavior)
    if key == "honesty":
        return {
            "positive": model.chat_prompt(
                recipes.HONEST_TEMPLATE.format(persona=recipes.HONEST_PERSONA), assistant_prefix="{statement}"
            ),
            "negative": model.chat_prompt(
                recipes.HONEST_TEMPLATE.format(persona=recipes.UNTRUTHFUL_PERSONA),
                assistant_prefix="{statement}",
            ),
        }
    if recipes.family(key) == "harm":
        user = recipes.HARM_TEMPLATE
        pos = model.chat_prompt(user, assistant_prefix=recipes.COMPLY_START)
        neg = model.chat_prompt(user, assistant_prefix=recipes.REFUSE_START)
    else:
        pos = recipes.BIAS_TEMPLATE.replace("{answer}", recipes.BIAS_MISALIGNED)
        neg = recipes.BIAS_TEMPLATE.replace("{answer}", recipes.BIAS_ALIGNED)
    if key in ("harmless", "not_racist"):
        pos, neg = neg, pos
    return {"positive": pos, "negative": neg}


RECIPE_FIELDS = ("layers", "method", "n_pairs", "seed", "data_dir")


def recipe_of(source: Any) -> dict[str, Any]:
    """The recipe keywords of :func:`extract_behavior_vector` (layers, method, n_pairs,
    seed, data_dir) read off any object that has them (a sweep configuration, the
    CLI's parsed arguments)."""
    return {name: getattr(source, name) for name in RECIPE_FIELDS}
