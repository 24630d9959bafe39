"""Empirical adapter: steering Hugging Face causal LMs as in Wolf et al. (arXiv 2401.16332).

Core API (imported lazily, so ``import steerbounds.empirical`` does not load torch):

* :func:`load_model` → :class:`SteerableModel` (``None`` = the embedded default
  SmolLM2-135M-Instruct); :func:`default_layers`, :func:`resolve_layers`.
* :func:`extract_vector` → :class:`SteeringVector` (RepE reading vectors, App. F.2),
  saved/loaded as safetensors.
* :func:`steer` (eq. 2 as a context manager), :func:`forward_sweep`,
  :func:`generate_sweep`, :func:`jvp_final_representation`, :func:`run_last_position`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_model": "models",
    "wrap_model": "models",
    "SteerableModel": "models",
    "cache_dir": "models",
    "DEFAULT_MODEL_NAME": "models",
    "find_layers": "layers",
    "resolve_layers": "layers",
    "default_layers": "layers",
    "SteeringVector": "vectors",
    "extract_vector": "vectors",
    "read_representations": "vectors",
    "pca_aggregator": "vectors",
    "mean_diff_aggregator": "vectors",
    "AGGREGATORS": "vectors",
    "steer": "injection",
    "forward_sweep": "injection",
    "generate_sweep": "injection",
    "jvp_final_representation": "injection",
    "run_last_position": "injection",
    "steered_layers": "injection",
    "left_align": "injection",
    "position_ids": "injection",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
