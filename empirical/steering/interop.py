"""In-memory conversion to and from repeng's ``ControlVector`` and steering-vectors' ``SteeringVector``.

* repeng 0.4 (``repeng/extract.py``): ``ControlVector(model_type, directions)`` with
  ``directions[l]`` a float32 numpy array for block l; ``ControlModel.set_control(cv,
  coeff)`` adds ``coeff · directions[l]`` to the output of ``layers[l]``
  (``repeng/control.py``, ``ControlModule.forward``; padding positions masked).
* steering-vectors 0.12 (``steering_vectors/steering_vector.py``):
  ``SteeringVector(layer_activations, layer_type)``; with ``layer_type="decoder_block"``
  ``apply(model, multiplier=m)`` adds ``m · layer_activations[l]`` to the output of the
  l-th matching block (``model.layers.{num}``, ``transformer.h.{num}``, …), at every
  position by default (``min_token_index=0``).

Both number blocks as we do, so ``to_*`` writes the unit ``v_l`` and the tool's
``coeff``/``multiplier`` is r_e (eq. 2); ``from_*`` stores ``v_l = w_l/|w_l|`` and records
``k_l = |w_l|``: the tool at scale ``s`` is eq. 2 with ``r_e^(l) = s · k_l``
(:func:`~.formats.source_coefficients`). Reading needs neither package (the objects are
read by their attributes); writing imports it, and a missing one is an
:class:`InputError` that says what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from steerbounds.empirical.steering.formats import imported_vector, written_directions
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

# The versions the conversions are written against and tested with.
PACKAGES = {"repeng": ("repeng", "0.4.0"), "steering_vectors": ("steering-vectors", "0.12.2")}
DECODER_BLOCK = "decoder_block"


def _import(module: str) -> ModuleType:
    package, version = PACKAGES[module]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{package} is not installed; install it with: pip install {package}=={version}"
        ) from None
    except Exception as exc:  # e.g. repeng 0.4.0 under NumPy 2: it evaluates np.float_ at import
        raise InputError(
            f"{package} is installed but cannot be imported ({type(exc).__name__}: {exc})"
        ) from None


def _block_keys(directions: Mapping[Any, Any], what: str, model: SteerableModel | None) -> dict[int, Any]:
    """The per-layer entries with non-negative block keys; a negative key counts from the
    top, so it needs ``model``'s depth."""
    out: dict[int, Any] = {}
    for key, value in directions.items():
        if isinstance(key, bool) or not hasattr(key, "__index__"):
            raise InputError(f"{what}: layer key {key!r} is not an int")
        layer = int(key)
        if layer < 0:
            if model is None:
                raise InputError(f"{what}: layer {layer} counts from the top; pass the model to resolve it")
            layer += model.n_layers
        out[layer] = value
    return out


def to_repeng(
    vector: SteeringVector,
    *,
    layers: Sequence[int] | None = None,
    norms: str = "unit",
    model_type: str | None = None,
) -> Any:
    """A repeng ``ControlVector`` of the unit ``v_l`` (``norms="unit"``), so
    ``ControlModel.set_control(cv, r_e)`` is eq. 2; ``model_type`` defaults to the
    recorded ``model_type`` (else the model name)."""
    repeng = _import("repeng")
    chosen = written_directions(vector, layers, norms)
    hint = model_type or vector.metadata.get("model_type") or vector.model_name
    return repeng.ControlVector(
        model_type=str(hint), directions={layer: v.numpy().copy() for layer, v in chosen.items()}
    )


def from_repeng(control: Any, *, model: SteerableModel | None = None) -> SteeringVector:
    """Our vector from a repeng ``ControlVector``: ``v_l = w_l/|w_l|``, ``k_l = |w_l|``
    recorded (``set_control(cv, s)`` is eq. 2 with ``r_e^(l) = s · k_l``). ``model``:
    check and record it (and resolve negative layer keys)."""
    what = "control vector"
    directions = getattr(control, "directions", None)
    if not isinstance(directions, Mapping):
        raise InputError(f"{what}: expected a repeng ControlVector (with a directions dict)")
    model_type = str(getattr(control, "model_type", "") or "")
    return imported_vector(
        _block_keys(directions, what, model),
        fmt="repeng",
        what=what,
        model=model,
        model_name=model_type,
        source={"model_type": model_type},
    )


def to_steering_vectors(
    vector: SteeringVector, *, layers: Sequence[int] | None = None, norms: str = "unit"
) -> Any:
    """A steering-vectors ``SteeringVector`` (``layer_type="decoder_block"``) of the unit
    ``v_l``, so ``apply(model, multiplier=r_e)`` is eq. 2 at every position."""
    steering_vectors = _import("steering_vectors")
    chosen = written_directions(vector, layers, norms)
    return steering_vectors.SteeringVector(layer_activations=chosen, layer_type=DECODER_BLOCK)


def from_steering_vectors(steering: Any, *, model: SteerableModel | None = None) -> SteeringVector:
    """Our vector from a steering-vectors ``SteeringVector`` of decoder-block activations:
    ``v_l = a_l/|a_l|``, ``k_l = |a_l|`` recorded (``apply(model, multiplier=m)`` is eq. 2
    with ``r_e^(l) = m · k_l``). Other layer types (attention, MLP) are not eq. 2's
    block outputs and are refused."""
    what = "steering-vectors vector"
    activations = getattr(steering, "layer_activations", None)
    if not isinstance(activations, Mapping):
        raise InputError(f"{what}: expected a steering_vectors.SteeringVector (with layer_activations)")
    layer_type = getattr(steering, "layer_type", DECODER_BLOCK)
    if layer_type != DECODER_BLOCK:
        raise InputError(
            f"{what}: layer_type {layer_type!r} is not allowed; only {DECODER_BLOCK!r} "
            f"(the block outputs eq. 2 steers)"
        )
    return imported_vector(
        _block_keys(activations, what, model),
        fmt="steering-vectors",
        what=what,
        model=model,
        source={"layer_type": layer_type},
    )
