"""Input validation for the bounds: every check names the parameter and its range.

Checks run on concrete values only. Inside ``jax.jit``/``grad``/``vmap`` the
arguments are tracers whose values are unknown at trace time; there the checks are
skipped, so validate once before jitting (or call the public function eagerly).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from steerbounds.errors import InputError

Interval = tuple[float, float, bool, bool]  # (low, high, low_closed, high_closed)


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def describe(interval: Interval) -> str:
    """``[0, 1)``-style text for an interval."""
    lo, hi, lo_closed, hi_closed = interval
    return f"{'[' if lo_closed else '('}{_fmt(lo)}, {_fmt(hi)}{']' if hi_closed else ')'}"


def is_traced(*values: Any) -> bool:
    """True if any value is a JAX tracer (inside jit/grad/vmap): skip value checks."""
    return any(isinstance(v, jax.core.Tracer) for v in values)


def as_float_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float64 numpy array, or an InputError naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a real number or an array of real numbers; got {value!r}") from exc
    return arr


def check_interval(name: str, value: Any, interval: Interval) -> None:
    """Raise InputError unless every element of ``value`` lies in ``interval`` (NaN never does)."""
    if is_traced(value):
        return
    arr = as_float_array(name, value)
    if arr.size == 0:
        return
    lo, hi, lo_closed, hi_closed = interval
    # Fast path: two read-only reductions (NaN propagates through min/max), no
    # temporaries; only a failing array pays for locating the offending element.
    smallest, largest = float(arr.min()), float(arr.max())
    if not (math.isnan(smallest) or math.isnan(largest)):
        above = smallest >= lo if lo_closed else smallest > lo
        below = largest <= hi if hi_closed else largest < hi
        if above and below:
            return
    ok = ~np.isnan(arr)
    ok &= (arr >= lo) if lo_closed else (arr > lo)
    ok &= (arr <= hi) if hi_closed else (arr < hi)
    if not np.all(ok):
        bad = arr[~ok].flat[0] if arr.ndim else float(arr)
        got = "NaN" if np.isnan(bad) else repr(float(bad))
        raise InputError(f"{name} must be in {describe(interval)}; got {got}")


def check_integer(name: str, value: Any, minimum: int) -> None:
    """Raise InputError unless every element is an integer ≥ ``minimum``."""
    if is_traced(value):
        return
    arr = as_float_array(name, value)
    if (
        np.any(np.isnan(arr))
        or np.any(arr < minimum)
        or np.any(arr != np.floor(arr))
        or np.any(np.isinf(arr))
    ):
        raise InputError(f"{name} must be an integer ≥ {minimum}; got {value!r}")


def check_condition(name: str, ok: Any, message: str) -> None:
    """Raise InputError(``name``: message) where a joint condition fails on concrete values."""
    if is_traced(ok):
        return
    if not np.all(np.asarray(ok)):
        raise InputError(f"{name} {message}")


REAL: Interval = (-math.inf, math.inf, False, False)
OPEN_UNIT_SYMMETRIC: Interval = (-1.0, 1.0, False, False)  # (-1, 1)
CLOSED_UNIT_SYMMETRIC: Interval = (-1.0, 1.0, True, True)  # [-1, 1]
NON_NEGATIVE: Interval = (0.0, math.inf, True, False)  # [0, ∞)
POSITIVE: Interval = (0.0, math.inf, False, False)  # (0, ∞)
NON_POSITIVE: Interval = (-math.inf, 0.0, False, True)  # (-∞, 0]
PROBABILITY: Interval = (0.0, 1.0, True, True)  # [0, 1]
POSITIVE_PROBABILITY: Interval = (0.0, 1.0, False, True)  # (0, 1]
OPEN_PROBABILITY: Interval = (0.0, 1.0, False, False)  # (0, 1)
HALF_OPEN_PROBABILITY: Interval = (0.0, 1.0, True, False)  # [0, 1)
