"""What a steering vector says about itself: the answers ``steerbounds vector info`` prints.

A vector is the unit directions ``v_l`` that eq. 2 adds as ``r_e · v_l`` to the output
``r^(l)`` of decoder block l. :func:`describe_vector` gathers, from the vector and its
metadata, where it was read and where it is added (the module path, e.g.
``model.layers.{l}`` output), how it was read (last token or mean), at which positions it
is meant to be added (all or new), the prompt templates of its contrast pairs, the model
(name, hash, type, depth, hidden size), its layers, norms and method, and — for an
imported vector — the file format it came from and its per-layer scales ``k_l``
(:mod:`steerbounds.empirical.steering.formats`). A field the vector does not record (a
vector saved before the field existed, or imported from a format that has no room for
it) is ``None``, printed as ``unknown``.
"""

from __future__ import annotations

from typing import Any

from steerbounds.empirical.steering.vectors import (
    HOOK_KEY,
    MODULE_KEY,
    POSITIONS_KEY,
    SOURCE_KEY,
    TEMPLATE_KEY,
    SteeringVector,
)

UNKNOWN = "unknown"


def describe_vector(vector: SteeringVector) -> dict[str, Any]:
    """The vector's provenance as a JSON-ready dict (missing fields ``None``):
    ``model``, ``model_hash``, ``model_type``, ``n_layers``, ``hidden_size``, ``method``,
    ``layers``, ``norms`` (``|v_l|`` per layer, 1 up to float rounding), ``module``,
    ``hook``, ``read``, ``positions``, ``template``, ``n_pairs``, ``behavior`` and
    ``source`` (an imported vector's format, file and scales ``k_l``)."""
    meta = vector.metadata
    return {
        "model": vector.model_name or None,
        "model_hash": vector.model_hash or None,
        "model_type": meta.get("model_type"),
        "n_layers": meta.get("n_layers"),
        "hidden_size": vector.hidden_size,
        "method": vector.method or None,
        "layers": vector.layers,
        "norms": {str(layer): float(v.norm()) for layer, v in vector.directions.items()},
        "module": meta.get(MODULE_KEY),
        "hook": meta.get(HOOK_KEY),
        "read": meta.get("read"),
        "positions": meta.get(POSITIONS_KEY),
        "template": meta.get(TEMPLATE_KEY),
        "n_pairs": meta.get("n_pairs"),
        "behavior": meta.get("behavior"),
        "source": meta.get(SOURCE_KEY),
    }


def info_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, text)`` rows of :func:`describe_vector`'s dict for a two-column table;
    a ``None`` field reads ``unknown``."""
    rows: list[tuple[str, str]] = []
    for key in ("model", "model_hash", "model_type", "n_layers", "hidden_size", "method", "behavior"):
        rows.append((key, _text(info[key])))
    rows.append(("layers", _layer_list(info["layers"])))
    rows.append(("norms", _norms(info["norms"])))
    module = info["module"]
    rows.append(("module", UNKNOWN if module is None else f"{module} ({info['hook'] or UNKNOWN})"))
    for key in ("read", "positions", "n_pairs"):
        rows.append((key, _text(info[key])))
    template = info["template"]
    if isinstance(template, dict):
        rows.extend((f"template ({side})", repr(text)) for side, text in sorted(template.items()))
    else:
        rows.append(("template", UNKNOWN if template is None else repr(template)))
    source = info["source"]
    if isinstance(source, dict):
        rows.append(("source", ", ".join(f"{k} {v}" for k, v in source.items() if k != "scales")))
        rows.append(("source scales k_l", _norms(source.get("scales", {}))))
    return rows


def _text(value: object) -> str:
    return UNKNOWN if value is None else str(value)


def _layer_list(layers: list[int]) -> str:
    if layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]} … {layers[-1]} ({len(layers)})"
    return f"{', '.join(map(str, layers))} ({len(layers)})"


def _norms(norms: dict[str, float]) -> str:
    values = list(norms.values())
    if not values:
        return UNKNOWN
    if max(values) - min(values) <= 1e-6 * max(1.0, abs(max(values))):
        return f"{values[0]:.6g} at every layer"
    return ", ".join(f"{layer}: {value:.6g}" for layer, value in norms.items())
