"""The conventions every vector format shares: block numbering, and folding norms into r_e.

Steering adds ``r_e · v_l`` to the output ``r^(l)`` of decoder block l (eq. 2), with
unit-norm ``v_l`` and one coefficient r_e. The other tools store a vector ``w_l`` per
layer that need not be unit norm and add ``s · c_l · w_l`` to the output of the same
block, ``s`` their run-time scale (llama.cpp's ``--control-vector-scaled FILE s``,
repeng's ``coeff``, steering-vectors' ``multiplier``) and ``c_l`` a coefficient stored
in the file (lm-evaluation-harness' ``steering_coefficient``; 1 elsewhere).

* **Block numbering.** Every format here numbers layers as we do: key ``l`` is block l,
  0-based from the bottom, steered at its output — llama.cpp's ``direction.l`` is added
  to ``l_out`` of block l, repeng's ``directions[l]`` and steering-vectors'
  ``layer_activations[l]`` to the output of ``layers[l]``, lm-eval's hookpoint
  ``layers.l`` is that module's name under ``model.base_model``. No index is shifted.
* **Export** writes the unit directions ``v_l`` (``norms="unit"``), so the tool's scale
  is our coefficient: ``s = r_e`` (lm-eval, whose coefficient lives in the file, gets
  ``c_l = r_e``).
* **Import** stores ``v_l = w_l / |w_l|`` and records the per-layer scale
  ``k_l = c_l · |w_l|`` in the metadata (:data:`~.vectors.SOURCE_KEY` ``["scales"]``).
  The tool at scale ``s`` is then eq. 2 with the per-layer coefficient
  ``r_e^(l) = s · k_l`` (:func:`source_coefficients`); where every ``k_l`` is the same
  ``k`` (e.g. repeng's PCA directions, ``k = 1``) that is one ``r_e = s · k``.
  ``norms="source"`` on export writes ``k_l · v_l`` instead of ``v_l``, so importing a
  file and exporting it again gives back its vectors (lm-eval: the added vectors
  ``c_l · w_l``, with ``steering_coefficient`` the chosen r_e, 1 to reproduce the file).
* **Positions.** Every format adds at every position, prompt included — our
  ``positions="all"`` (the paper's App. F.2); an imported vector records that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from steerbounds.empirical.steering.vectors import (
    HOOK_KEY,
    MODULE_KEY,
    POSITIONS_KEY,
    SOURCE_KEY,
    SteeringVector,
)
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

NORMS = ("unit", "source")


def source_scales(vector: SteeringVector) -> dict[int, float]:
    """``k_l`` per layer of ``vector``: the scale its source format had at layer l
    (``c_l · |w_l|``, recorded at import); 1 at every layer of a vector made here."""
    source = vector.metadata.get(SOURCE_KEY)
    scales = source.get("scales", {}) if isinstance(source, Mapping) else {}
    return {layer: float(scales.get(str(layer), 1.0)) for layer in vector.layers}


def source_coefficients(vector: SteeringVector, scale: float = 1.0) -> dict[int, float]:
    """The per-layer coefficients ``r_e^(l) = s · k_l`` (eq. 2) that reproduce the source
    tool run at scale ``s`` = ``scale`` (llama.cpp's ``--control-vector-scaled FILE s``,
    repeng's ``coeff``, steering-vectors' ``multiplier``; lm-eval has none: ``s = 1``).
    For a vector made here ``k_l = 1``, so ``r_e^(l) = s``."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise InputError(f"scale: expected a finite number, got {scale!r}")
    return {layer: float(scale) * k for layer, k in source_scales(vector).items()}


def written_directions(
    vector: SteeringVector, layers: Sequence[int] | None = None, norms: str = "unit"
) -> dict[int, torch.Tensor]:
    """The float32 vectors to write per layer: ``v_l`` (``norms="unit"``: the tool's scale
    is r_e) or ``k_l · v_l`` (``"source"``: the vectors of the file it was imported from),
    for ``layers`` (default every layer of the vector; each must be one of them)."""
    if norms not in NORMS:
        raise InputError(f"norms: {norms!r} is not allowed; use one of {', '.join(NORMS)}")
    chosen = vector.layers if layers is None else sorted(set(layers))
    missing = [layer for layer in chosen if layer not in vector.directions]
    if missing or not chosen:
        raise InputError(
            f"layers: the vector has no direction for layer {missing[0] if missing else 'any'}; "
            f"it has layers {', '.join(map(str, vector.layers))}"
        )
    scales = source_scales(vector) if norms == "source" else dict.fromkeys(chosen, 1.0)
    return {layer: (scales[layer] * vector.directions[layer]).contiguous() for layer in chosen}


def check_fits(vector: SteeringVector, model: SteerableModel) -> None:
    """Refuse a vector whose hidden size or layers do not fit ``model`` (one line naming
    the layer and the valid range)."""
    from steerbounds.empirical.steering.injection import steered_layers

    steered_layers(model, vector)


def imported_vector(
    raw: Mapping[int, Any],
    *,
    fmt: str,
    what: str,
    coefficients: Mapping[int, float] | None = None,
    model: SteerableModel | None = None,
    model_name: str = "",
    source: Mapping[str, Any] | None = None,
) -> SteeringVector:
    """A :class:`SteeringVector` from a format's per-layer vectors ``w_l`` (``raw``, block
    index → 1-D array) and file coefficients ``c_l`` (``coefficients``, default 1):
    ``v_l = w_l/|w_l|`` and ``k_l = c_l · |w_l|`` recorded under
    ``metadata["source"]["scales"]`` with ``fmt`` and ``source``. With ``model`` the
    layers and hidden size are checked against it and its name, hash, module path, type
    and depth are recorded; without, ``model_name`` is used and the hash is unknown.
    ``what`` names the input in errors."""
    if not raw:
        raise InputError(f"{what}: has no direction tensors")
    directions: dict[int, torch.Tensor] = {}
    scales: dict[str, float] = {}
    size = None
    for layer, value in sorted(raw.items()):
        w = torch.as_tensor(value).detach().to("cpu", torch.float64)
        if w.dim() != 1 or w.shape[0] == 0:
            raise InputError(f"{what}: layer {layer} has shape {tuple(w.shape)}; expected a 1-D vector")
        if size is not None and w.shape[0] != size:
            raise InputError(f"{what}: layer {layer} has size {w.shape[0]}, other layers {size}")
        size = w.shape[0]
        norm = float(w.norm())
        if not math.isfinite(norm) or norm == 0.0:
            raise InputError(f"{what}: layer {layer} is zero or not finite; it has no direction")
        c = 1.0 if coefficients is None else float(coefficients[layer])
        if not math.isfinite(c):
            raise InputError(f"{what}: layer {layer} has a non-finite coefficient {c!r}")
        directions[layer] = (w / norm).to(torch.float32)
        scales[str(layer)] = c * norm
    metadata: dict[str, Any] = {
        SOURCE_KEY: {"format": fmt, **(source or {}), "scales": scales},
        HOOK_KEY: "output",
        POSITIONS_KEY: "all",
    }
    name, model_hash = model_name, ""
    if model is not None:
        name, model_hash = model.name, model.model_hash()
        metadata.update(
            {
                MODULE_KEY: f"{model.layers_attr}.{{l}}",
                "n_layers": model.n_layers,
                "model_type": getattr(getattr(model.model, "config", None), "model_type", None),
            }
        )
    vector = SteeringVector(
        directions=directions, method="", model_name=name, model_hash=model_hash, metadata=metadata
    )
    if model is not None:
        check_fits(vector, model)
    return vector
