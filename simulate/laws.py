"""Continuous laws D for the projections X_i = ⟨u, Uᵀe_i⟩ (Assumption 3, eq. 9).

Every law is standardised to mean 0 and variance 1, so ``σ·sample`` has variance σ²
as eq. 9 requires. Call inside ``jax.enable_x64(True)`` for float64 draws.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from steerbounds.errors import InputError

LAWS = ("normal", "uniform", "laplace", "student-t")
"""Selectable laws; ``normal`` is the paper's (App. A.3 observes normal noise)."""

STUDENT_DF = 5.0
"""Degrees of freedom of the Student-t law (variance df/(df − 2) before scaling)."""


def check_law(law: str) -> str:
    """Return ``law`` or raise InputError listing the allowed laws."""
    if law not in LAWS:
        raise InputError(f"law must be one of {', '.join(LAWS)}; got {law!r}")
    return law


def standard_draws(key: jax.Array, law: str, shape: tuple[int, ...]) -> jax.Array:
    """Draws of the standardised law (mean 0, variance 1) with the given shape."""
    check_law(law)
    if law == "normal":
        return jax.random.normal(key, shape)
    if law == "uniform":
        return jax.random.uniform(key, shape, minval=-math.sqrt(3.0), maxval=math.sqrt(3.0))
    if law == "laplace":
        return jax.random.laplace(key, shape) / math.sqrt(2.0)
    return jax.random.t(key, STUDENT_DF, shape) * jnp.sqrt((STUDENT_DF - 2.0) / STUDENT_DF)
