"""Empirical adapter: steering Hugging Face causal LMs as in Wolf et al. (arXiv 2401.16332).

Core API (imported lazily, so ``import steerbounds.empirical`` does not load torch):

* :func:`load_model` → :class:`SteerableModel` (``None`` = the embedded default
  SmolLM2-135M-Instruct); :func:`default_layers`, :func:`resolve_layers`.
* :func:`extract_vector` → :class:`SteeringVector` (RepE reading vectors, App. F.2),
  saved/loaded as safetensors; :func:`describe_vector` (its provenance).
* Other tools' formats (block l is block l everywhere; unit directions out, so their
  scale is r_e): :func:`export_gguf` / :func:`import_gguf` (llama.cpp, repeng),
  :func:`export_lm_eval` / :func:`import_lm_eval` (lm-evaluation-harness ``steered``),
  :func:`to_repeng` / :func:`from_repeng`, :func:`to_steering_vectors` /
  :func:`from_steering_vectors`, :func:`read_vector` (any file), and
  :func:`source_coefficients` (an imported vector's per-layer r_e).
* :func:`gradient_vector` (Proposition 1, App. I: unit directions of the gradient of the
  preference log-odds, eqs. 63–65), :func:`preference_gradients`, :func:`first_order_check`
  (its first-order content by forward-mode AD, :func:`jvp_log_odds`, and finite differences).
* :func:`steer` (eq. 2 as a context manager), :func:`forward_sweep`,
  :func:`generate_sweep`, :func:`jvp_final_representation`, :func:`run_last_position`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_model": "steering.models",
    "wrap_model": "steering.models",
    "SteerableModel": "steering.models",
    "cache_dir": "steering.models",
    "DEFAULT_MODEL_NAME": "steering.models",
    "find_layers": "steering.layers",
    "resolve_layers": "steering.layers",
    "default_layers": "steering.layers",
    "SteeringVector": "steering.vectors",
    "extract_vector": "steering.vectors",
    "read_representations": "steering.vectors",
    "pca_aggregator": "steering.vectors",
    "mean_diff_aggregator": "steering.vectors",
    "AGGREGATORS": "steering.vectors",
    "gradient_vector": "steering.preference",
    "preference_gradients": "steering.preference",
    "first_order_check": "steering.preference",
    "jvp_log_odds": "steering.derivative",
    "steer": "steering.injection",
    "steered_layers": "steering.injection",
    "forward_sweep": "steering.batched",
    "generate_sweep": "steering.batched",
    "jvp_final_representation": "steering.derivative",
    "run_last_position": "steering.forward",
    "left_align": "steering.forward",
    "position_ids": "steering.forward",
    "count_token_forwards": "steering.forward",
    "extract_behavior_vector": "workloads.behavior_vector",
    "recipe_templates": "workloads.behavior_vector",
    "describe_vector": "steering.provenance",
    "read_vector": "steering.vector_files",
    "source_coefficients": "steering.formats",
    "export_gguf": "steering.gguf_format",
    "import_gguf": "steering.gguf_format",
    "export_lm_eval": "steering.lm_eval_format",
    "import_lm_eval": "steering.lm_eval_format",
    "to_repeng": "steering.interop",
    "from_repeng": "steering.interop",
    "to_steering_vectors": "steering.interop",
    "from_steering_vectors": "steering.interop",
    "SweepConfig": "sweep.run",
    "run_sweep": "sweep.run",
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
