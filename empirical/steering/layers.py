"""Decoder-block discovery, layer-index resolution and default injection layers.

The paper steers by adding a vector to the output of chosen decoder blocks
(eq. 2, ``r^(l) <- r^(l) + r_e^(l)``). This module finds the list of blocks in a
Hugging Face causal LM, turns user layer specifications (paper-style negative
indices such as ``-25 … -32``) into block indices, and scales the paper's layer
choice (App. F.2) to a model of another depth.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Sequence
from typing import cast

import torch

from steerbounds.errors import InputError, check_int

# Attribute paths of the decoder-block list, tried in order.
KNOWN_LAYER_PATHS: tuple[str, ...] = (
    "model.layers",  # Llama, Mistral, Qwen2, Gemma, Phi-3, ...
    "model.language_model.layers",  # multimodal wrappers (Gemma-3, Llava-style)
    "transformer.h",  # GPT-2, GPT-J, Falcon, Bloom
    "gpt_neox.layers",  # GPT-NeoX, Pythia
    "model.decoder.layers",  # OPT
    "transformer.blocks",  # MPT
)

# Fractions of the depth [start, stop) the paper injects into on Llama-2-13B
# (40 layers, App. F.2): harmful/harmless at -25 … -32 -> blocks 8 … 15,
# bias (racist/not-racist) at -11 … -30 -> blocks 10 … 29.
PAPER_DEPTH = 40
PAPER_LAYERS: dict[str, tuple[int, int]] = {
    "harm": (8, 16),
    "bias": (10, 30),
}
BEHAVIOR_FAMILY: dict[str, str] = {
    "custom": "bias",  # a behaviour given as files: the broad middle band
    "harmful": "harm",
    "harmless": "harm",
    "harmfulness": "harm",
    "harmlessness": "harm",
    "racist": "bias",
    "not-racist": "bias",
    "not_racist": "bias",
    "bias": "bias",
    "fairness": "bias",
    "honesty": "bias",  # RepE reads honesty in the middle layers: the broad middle band
}


def _get_attr_path(obj: object, path: str) -> object:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def find_layers(model: object, layers_attr: str | None = None) -> tuple[Sequence[torch.nn.Module], str]:
    """Return ``(blocks, attribute_path)`` for the decoder-block list of ``model``.

    ``layers_attr`` (a dotted attribute path such as ``"transformer.h"``) overrides
    discovery. Raises :class:`InputError` when nothing is found.
    """
    if layers_attr is not None:
        try:
            blocks = _get_attr_path(model, layers_attr)
        except AttributeError:
            raise InputError(
                f"layers_attr: model has no attribute path {layers_attr!r}; "
                f"known paths are {', '.join(KNOWN_LAYER_PATHS)}"
            ) from None
        if not isinstance(blocks, Sequence | torch.nn.ModuleList) or len(blocks) == 0:
            raise InputError(f"layers_attr: {layers_attr!r} is not a non-empty list of decoder blocks")
        return cast(Sequence[torch.nn.Module], blocks), layers_attr  # a ModuleList indexes like one
    for path in KNOWN_LAYER_PATHS:
        try:
            blocks = _get_attr_path(model, path)
        except AttributeError:
            continue
        if isinstance(blocks, Sequence | torch.nn.ModuleList) and len(blocks) > 0:
            return cast(Sequence[torch.nn.Module], blocks), path
    raise InputError(
        f"layers_attr: cannot find the decoder blocks of {type(model).__name__}; "
        f"tried {', '.join(KNOWN_LAYER_PATHS)}; pass layers_attr='dotted.path'"
    )


def _check_index(i: int, n_layers: int) -> int:
    if not -n_layers <= i < n_layers:
        raise InputError(
            f"layers: index {i} is out of range for a model with {n_layers} layers; "
            f"valid indices are {-n_layers} … {n_layers - 1} (negative counts from the top)"
        )
    return i % n_layers


_RANGE = re.compile(r"^\s*(-?\d+)\s*(?::|\.\.|\s+to\s+)\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")


def _expand_string(spec: str, n_layers: int) -> list[int]:
    text = spec.strip()
    if text.lower() == "all":
        return list(range(n_layers))
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise InputError(f"layers: empty item in {spec!r}")
        m = _RANGE.match(part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            step = int(m.group(3)) if m.group(3) else (1 if b >= a else -1)
            if step == 0:
                raise InputError(f"layers: step 0 in {part!r}; use a non-zero step")
            # "a:b" is Python's range(a, b, step) with the step sign taken from the
            # direction, so the paper's range(-25, -33, -1) is written "-25:-33".
            _check_index(a, n_layers)
            items = list(range(a, b, step))
            if not items:
                raise InputError(f"layers: range {part!r} is empty")
            out.extend(items)
        else:
            try:
                out.append(int(part))
            except ValueError:
                raise InputError(
                    f"layers: cannot parse {part!r}; use an int, 'a:b' (Python range, "
                    f"direction from the sign), 'a:b:step', comma lists or 'all'"
                ) from None
    return out


def resolve_layers(spec: object, n_layers: int) -> list[int]:
    """Turn a layer specification into sorted, unique, non-negative block indices.

    Accepted: ``None`` or ``"all"`` (every block), an ``int``, a ``range``, a
    sequence of ints, or a string: ``"5"``, ``"-25:-33"`` (``range(-25, -33, -1)``,
    the paper's App. F.2 notation), ``"2:6:2"``, ``"-3 to -1"`` and comma lists of
    these. Negative indices count from the top as in the paper (``-1`` is the last
    block). An index outside ``[-n_layers, n_layers-1]`` raises :class:`InputError`.
    """
    check_int("n_layers", n_layers)
    if spec is None:
        raw: Iterable[object] = range(n_layers)
    elif isinstance(spec, str):
        raw = _expand_string(spec, n_layers)
    elif isinstance(spec, bool):
        raise InputError(f"layers: expected an int, range, list of ints or string, got {spec!r}")
    elif isinstance(spec, int) or (hasattr(spec, "__index__") and getattr(spec, "ndim", 0) == 0):
        raw = [operator.index(spec)]
    elif isinstance(spec, Iterable):
        raw = list(spec)
    else:
        raise InputError(f"layers: expected an int, range, list of ints or string, got {spec!r}")
    out: set[int] = set()
    for item in raw:
        if isinstance(item, bool) or not hasattr(item, "__index__"):
            if isinstance(item, float) and math.isfinite(item) and item == int(item):
                item = int(item)
            else:
                raise InputError(f"layers: {item!r} is not an integer layer index")
        out.add(_check_index(int(item), n_layers))
    if not out:
        raise InputError("layers: the specification selects no layer")
    return sorted(out)


def default_layers(n_layers: int, behavior: str) -> list[int]:
    """Default injection blocks for ``behavior``, scaled from the paper (App. F.2).

    On Llama-2-13B (40 layers) the paper injects the harmful/harmless vectors at
    blocks ``-25 … -32`` (= 8 … 15) and the bias vectors at ``-11 … -30``
    (= 10 … 29). The same fractions of the depth are kept for a model with
    ``n_layers`` blocks: ``[round(a/40·n), round(b/40·n))`` with ``[a, b)`` the
    paper's block range. For 40 layers this reproduces the paper exactly; for the
    30-layer SmolLM2-135M it gives blocks 6 … 11 (harm, = -24 … -19) and 8 … 22
    (bias). It is a default only: every entry point takes explicit ``layers``.
    """
    check_int("n_layers", n_layers)
    key = str(behavior).strip().lower()
    if key not in BEHAVIOR_FAMILY:
        raise InputError(
            f"behavior: unknown behaviour {behavior!r}; allowed: {', '.join(sorted(BEHAVIOR_FAMILY))}"
        )
    a, b = PAPER_LAYERS[BEHAVIOR_FAMILY[key]]
    start = min(n_layers - 1, math.floor(a / PAPER_DEPTH * n_layers + 0.5))
    stop = max(start + 1, min(n_layers, math.floor(b / PAPER_DEPTH * n_layers + 0.5)))
    return list(range(start, stop))
