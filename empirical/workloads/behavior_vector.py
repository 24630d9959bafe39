"""The steering vector of a named behaviour, made from its recipe (App. F.2)."""

from __future__ import annotations

from typing import Any

from steerbounds.empirical.steering.layers import default_layers
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector, extract_vector
from steerbounds.empirical.workloads import recipes


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
) -> SteeringVector:
    """The steering vector of ``behavior`` from its recipe (App. F.2), or from
    ``pairs`` (positive, negative texts) when given: ``n_pairs`` contrast pairs,
    last-token reading, ``method`` ("pca" or "mean_diff"), at ``layers`` (default:
    :func:`default_layers` for the behaviour; the broad middle band for a behaviour
    that is not a recipe)."""
    if pairs is None:
        pos, neg = recipes.behavior_pairs(behavior, n_pairs, seed, model=model, data_dir=data_dir)
    else:
        pos, neg = pairs
    known = behavior in recipes.BEHAVIORS
    idx = (
        model.resolve_layers(layers)
        if layers is not None
        else default_layers(model.n_layers, behavior if known else "custom")
    )
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
        },
    )


RECIPE_FIELDS = ("layers", "method", "n_pairs", "seed", "data_dir")


def recipe_of(source: Any) -> dict[str, Any]:
    """The recipe keywords of :func:`extract_behavior_vector` (layers, method, n_pairs,
    seed, data_dir) read off any object that has them (a sweep configuration, the
    CLI's parsed arguments)."""
    return {name: getattr(source, name) for name in RECIPE_FIELDS}
