"""Every theorem, corollary and variant of Wolf et al. (arXiv 2401.16332).

Numerics are float64 JAX (x64 enabled locally per call, never globally); see
:mod:`steerbounds.bounds.theorems` for the formulas with their equation numbers and
:data:`RESULTS` for the registry the simulator and CLI iterate over.

The public names (the functions of ``theorems.__all__``, ``RESULTS`` and ``Result``)
load on first use, so importing a submodule such as the CLI's does not load JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steerbounds.bounds.registry import RESULTS as RESULTS
    from steerbounds.bounds.registry import Result as Result
    from steerbounds.bounds.theorems import *  # noqa: F403

_REGISTRY = ("RESULTS", "Result")


def __getattr__(name: str) -> Any:
    if name in _REGISTRY:
        module = importlib.import_module("steerbounds.bounds.registry")
    else:
        module = importlib.import_module("steerbounds.bounds.theorems")
        if name not in module.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    theorems = importlib.import_module("steerbounds.bounds.theorems")
    return sorted(set(globals()) | set(_REGISTRY) | set(theorems.__all__))
