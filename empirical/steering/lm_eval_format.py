"""lm-evaluation-harness ``steered`` files: the ``.pt`` that its ``hf_steered.SteeredModel`` loads.

The file (lm-eval 0.4.13 ``lm_eval/models/hf_steered.py``, ``SteeredModel.__init__``) is
a ``torch.save``d dict ``{hookpoint: {"steering_vector": Tensor, "steering_coefficient":
float, "action": "add" | "clamp", "bias": Tensor | None, "head_index": int | None}}``.
A hookpoint is a module name in ``model.base_model.named_modules()`` (the ``steer``
context manager there), so block l of a Llama-style model is ``layers.l`` and of GPT-2
``h.l`` — our block index, no shift. For ``action="add"`` (``bias`` must be ``None``) a
forward hook adds ``steering_vector · steering_coefficient`` to the module's output
(its first item when it returns a tuple) at every position (``SteeredModel.add``).
``clamp`` sets the projection instead, which is not eq. 2 and is refused on import.

Coefficients (:mod:`~.formats`): export writes the unit ``v_l`` with
``steering_coefficient = r_e``, so lm-eval adds ``r_e · v_l``, eq. 2. Import stores
``v_l = w_l/|w_l|`` and ``k_l = c_l · |w_l|`` (``c_l`` the file's coefficient): the file
is eq. 2 with ``r_e^(l) = k_l``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from steerbounds import io
from steerbounds.empirical.steering.formats import check_fits, imported_vector, written_directions
from steerbounds.empirical.steering.layers import KNOWN_LAYER_PATHS
from steerbounds.empirical.steering.vectors import MODULE_KEY, SteeringVector
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

ACTION = "add"
# The block lists of KNOWN_LAYER_PATHS as named under model.base_model: the first
# attribute of each path is the base model itself (model.base_model_prefix).
BASE_RELATIVE_PATHS = tuple(path.split(".", 1)[1] for path in KNOWN_LAYER_PATHS)
_HOOKPOINT = re.compile(r"^(?P<path>.+)\.(?P<layer>\d+)$")


def _block_names(model: SteerableModel) -> dict[int, str]:
    """Block index → its name under ``model.base_model`` (lm-eval's hookpoints)."""
    names = {id(module): name for name, module in model.model.base_model.named_modules()}
    out = {}
    for layer, block in enumerate(model.layers):
        if id(block) not in names:
            raise InputError(
                f"model: {model.name}'s decoder blocks ({model.layers_attr}) are not inside its "
                f"base_model, so lm-eval cannot hook them"
            )
        out[layer] = names[id(block)]
    return out


def hookpoint_template(vector: SteeringVector, model: SteerableModel | None = None) -> str:
    """The hookpoint of block ``{l}`` for lm-eval: from ``model`` when given (exact),
    else from the vector's recorded module path without its first attribute (the base
    model: ``model.layers.{l}`` → ``layers.{l}``)."""
    if model is not None:
        return _block_names(model)[0].rsplit(".", 1)[0] + ".{l}"
    module = vector.metadata.get(MODULE_KEY)
    if not isinstance(module, str) or module.count(".") < 2 or not module.endswith(".{l}"):
        raise InputError(
            "hookpoint: the vector does not record the module it steers (saved by an older "
            "steerbounds or imported without a model); pass the model or a hookpoint such as 'layers.{l}'"
        )
    return module.split(".", 1)[1]


def export_lm_eval(
    vector: SteeringVector,
    path: str | os.PathLike[str],
    coefficient: float = 1.0,
    *,
    layers: Sequence[int] | None = None,
    norms: str = "unit",
    hookpoint: str | None = None,
    model: SteerableModel | None = None,
) -> Path:
    """Write ``vector`` as an lm-eval ``steered`` file (atomically): per layer the unit
    ``v_l`` with ``steering_coefficient = coefficient`` (r_e) and ``action="add"``, so
    ``lm_eval --model steered --model_args pretrained=…,steer_path=FILE`` steers with
    eq. 2 at every position.

    ``hookpoint``: the module name template with ``{l}`` for the block (default
    :func:`hookpoint_template`); ``model``: resolve the hookpoints on it exactly and check
    the layers and hidden size. ``norms="source"`` writes ``k_l · v_l`` (:mod:`~.formats`)."""
    if (
        isinstance(coefficient, bool)
        or not isinstance(coefficient, int | float)
        or not math.isfinite(coefficient)
    ):
        raise InputError(f"coefficient: expected a finite number, got {coefficient!r}")
    chosen = written_directions(vector, layers, norms)
    if model is not None:
        check_fits(vector, model)
    if hookpoint is None:
        template = hookpoint_template(vector, model)
    elif "{l}" not in hookpoint:
        raise InputError(f"hookpoint: {hookpoint!r} has no '{{l}}' for the block index, e.g. 'layers.{{l}}'")
    else:
        template = hookpoint
    config = {
        template.replace("{l}", str(layer)): {
            "steering_vector": direction,
            "steering_coefficient": float(coefficient),
            "action": ACTION,
            "bias": None,
            "head_index": None,
        }
        for layer, direction in chosen.items()
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(target) as tmp:
        torch.save(config, tmp)
    return target


def _layer_of(hookpoints: list[str], model: SteerableModel | None, what: str) -> dict[str, int]:
    if model is not None:
        names = _block_names(model)
        by_name = {name: layer for layer, name in names.items()}
        for hook in hookpoints:
            if hook not in by_name:
                raise InputError(
                    f"{what}: hookpoint {hook!r} is not a decoder block of {model.name!r} "
                    f"(its blocks are {names[0].rsplit('.', 1)[0]}.<l>, l = 0 … {len(names) - 1})"
                )
        return {hook: by_name[hook] for hook in hookpoints}
    out: dict[str, int] = {}
    paths = set()
    for hook in hookpoints:
        m = _HOOKPOINT.match(hook)
        if m is None or m.group("path") not in BASE_RELATIVE_PATHS:
            raise InputError(
                f"{what}: hookpoint {hook!r} is not a decoder block output "
                f"({', '.join(p + '.<l>' for p in BASE_RELATIVE_PATHS)}); pass the model to resolve it"
            )
        paths.add(m.group("path"))
        out[hook] = int(m.group("layer"))
    if len(paths) > 1:
        raise InputError(f"{what}: hookpoints of several block lists ({', '.join(sorted(paths))})")
    return out


def import_lm_eval(path: str | os.PathLike[str], *, model: SteerableModel | None = None) -> SteeringVector:
    """Read an lm-eval ``steered`` file of ``add`` actions on decoder blocks: hookpoint
    ``…layers.l`` becomes block l with ``v_l = w_l/|w_l|`` and scale
    ``k_l = c_l · |w_l|`` (the file is eq. 2 with ``r_e^(l) = k_l``). ``clamp``, a bias, a
    head index, or a hookpoint that is not a block output is refused. ``model``: resolve
    the hookpoints on it, check layers and hidden size, record its name and hash. The
    file is read with ``torch.load(weights_only=True)``: no code in it runs."""
    p = Path(path)
    what = f"vector: {str(p)!r}"
    if not p.is_file():
        raise InputError(f"vector: no such file {str(p)!r}")
    try:
        config: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors of every kind
        raise InputError(f"{what} is not a torch file of tensors: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict) or not config:
        raise InputError(f"{what} is not an lm-eval steer file (a dict of hookpoints)")
    layer_of = _layer_of([str(k) for k in config], model, what)
    raw: dict[int, torch.Tensor] = {}
    coefficients: dict[int, float] = {}
    for hook, info in config.items():
        if not isinstance(info, dict) or not isinstance(info.get("steering_vector"), torch.Tensor):
            raise InputError(f"{what}: hookpoint {hook!r} has no 'steering_vector' tensor")
        if info.get("action") != ACTION:
            raise InputError(
                f"{what}: hookpoint {hook!r} has action {info.get('action')!r}; only 'add' is eq. 2"
            )
        if info.get("bias") is not None or info.get("head_index") is not None:
            raise InputError(f"{what}: hookpoint {hook!r} has a bias or head_index; only whole-block 'add'")
        coefficient = info.get("steering_coefficient", 1.0)
        if isinstance(coefficient, bool) or not isinstance(coefficient, int | float):
            raise InputError(f"{what}: hookpoint {hook!r} has steering_coefficient {coefficient!r}")
        layer = layer_of[str(hook)]
        if layer in raw:
            raise InputError(f"{what}: two hookpoints for block {layer}")
        raw[layer] = info["steering_vector"]
        coefficients[layer] = float(coefficient)
    template = next(iter(config)).rsplit(".", 1)[0] + ".{l}"
    return imported_vector(
        raw,
        fmt="lm-eval",
        what=what,
        coefficients=coefficients,
        model=model,
        source={"file": p.name, "hookpoint": template},
    )
