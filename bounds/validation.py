"""Input validation for the bounds: one coercion rule per parameter, errors that name it.

Every array parameter of a public bound goes through :func:`real` (``n_tokens``
through :func:`integer`), and the parameters of one call through :func:`broadcast`.
The rule (the same for every parameter):

* accepted: real numbers -- Python ``int`` and ``float``, numpy integer and floating
  scalars and arrays, concrete JAX arrays of those dtypes, and (nested, rectangular)
  lists of them -- read as float64 and checked against the parameter's interval;
* rejected with an :class:`~steerbounds.errors.InputError` whose message starts with
  the parameter's name and gives its allowed range: bools, complex numbers, strings and
  bytes (numeric ones such as ``"0.5"`` too), datetimes and timedeltas, ``None`` and
  any other object (``Fraction`` and ``Decimal`` included), ragged lists, empty inputs,
  integers too large for float64 (``|x| > 1.8e308``), NaN, ±inf and values outside the
  interval;
* **subnormal** numbers (``0 < |x| <`` :data:`TINY` ``= 2.2e-308``): XLA on CPU flushes
  them to zero, so the kernels compute with 0. Where the parameter's range contains 0
  they are accepted and *read as 0* (the result is the one at 0; it differs from the
  exact value by at most ``|∂f/∂x|·2.2e-308``); where it does not (P0 ∈ (0, 1],
  Δλ > 0, γ ∈ (−1, 0), ...) they are rejected, since 0 would give NaN or inf
  (``P0 = 5e-324``, ``Δλ = 1e-310``);
* shapes that do not broadcast together (numpy rules), with every name and shape.

Checks run on concrete values only. Inside ``jax.jit``/``grad``/``vmap`` the
arguments are tracers whose values are unknown at trace time; there the value checks
are skipped (shapes are still checked), so validate once before jitting (or call the
public function eagerly).

Cost: two read-only reductions (min and max) per array, no temporaries; the subnormal
test needs only the value nearest to 0, which is one of the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from steerbounds.errors import InputError

Interval = tuple[float, float, bool, bool]  # (low, high, low_closed, high_closed)
Checked = float | np.ndarray | jax.Array  # a validated parameter, ready for the kernels

TINY = float(np.finfo(np.float64).tiny)  # 2.2250738585072014e-308, smallest normal float64
MAX = float(np.finfo(np.float64).max)  # 1.7976931348623157e308

_REAL_KINDS = frozenset("fiu")  # float, signed and unsigned integer dtypes


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def describe(interval: Interval) -> str:
    """``[0, 1)``-style text for an interval."""
    lo, hi, lo_closed, hi_closed = interval
    return f"{'[' if lo_closed else '('}{_fmt(lo)}, {_fmt(hi)}{']' if hi_closed else ')'}"


def is_traced(*values: object) -> bool:
    """True if any value is a JAX tracer (inside jit/grad/vmap): skip value checks."""
    return any(isinstance(v, jax.core.Tracer) for v in values)


# --------------------------------------------------------------------------- coercion


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _not_real(name: str, what: str, allowed: str) -> InputError:
    return InputError(f"{name} must be a real number or an array of real numbers in {allowed}; got {what}")


def _too_large(name: str, value: int, allowed: str) -> InputError:
    digits = len(str(abs(value)))
    return InputError(
        f"{name} must be in {allowed}; got an integer too large for float64 ({digits} digits, |x| > 1.8e308)"
    )


def _from_objects(name: str, arr: np.ndarray, allowed: str) -> np.ndarray:
    """An object array (numpy's result for huge ints or mixed int/float lists) as float64."""
    out = np.empty(arr.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for i, item in enumerate(arr.flat):
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, float, np.integer, np.floating)):
            raise _not_real(name, f"an element of type {type(item).__name__}: {_short(item)}", allowed)
        try:
            flat[i] = float(item)
        except OverflowError:
            raise _too_large(name, int(item), allowed) from None
    return out


def as_float_array(
    name: str, value: object, interval: Interval = (-math.inf, math.inf, False, False)
) -> np.ndarray:
    """``value`` as a float64 numpy array by the module's rule, or an InputError naming ``name``.

    Only the type is checked here (not emptiness, range or subnormals: see :func:`real`).
    """
    allowed = describe(interval)
    if isinstance(value, (bool, np.bool_)):
        raise _not_real(name, f"the bool {value!r}", allowed)
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        raise _not_real(name, f"the string {_short(value)}", allowed)
    if isinstance(value, int):
        try:
            return np.asarray(float(value))
        except OverflowError:
            raise _too_large(name, value, allowed) from None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise _not_real(
            name, f"a ragged or unreadable {type(value).__name__}: {_short(value)}", allowed
        ) from None
    kind = arr.dtype.kind
    if kind == "O":
        return _from_objects(name, arr, allowed)
    if kind not in _REAL_KINDS and not jnp.issubdtype(arr.dtype, jnp.floating):  # bfloat16 & co.
        what = {"b": "bools", "c": "complex numbers", "U": "strings", "S": "bytes", "M": "datetimes"}
        what["m"] = "timedeltas"
        raise _not_real(name, f"{what.get(kind, 'values')} (dtype {arr.dtype})", allowed)
    try:
        with np.errstate(over="raise"):
            return arr.astype(np.float64, copy=False)
    except FloatingPointError:  # long double beyond the float64 range
        raise InputError(f"{name} must be in {allowed}; got a value too large for float64") from None


# --------------------------------------------------------------------------- values


def _inside(smallest: float, largest: float, interval: Interval) -> bool:
    lo, hi, lo_closed, hi_closed = interval
    if math.isnan(smallest) or math.isnan(largest):
        return False
    above = smallest >= lo if lo_closed else smallest > lo
    below = largest <= hi if hi_closed else largest < hi
    return above and below


def _range_error(name: str, arr: np.ndarray, interval: Interval) -> InputError:
    lo, hi, lo_closed, hi_closed = interval
    ok = ~np.isnan(arr)
    ok &= (arr >= lo) if lo_closed else (arr > lo)
    ok &= (arr <= hi) if hi_closed else (arr < hi)
    bad = float(arr[~ok].flat[0])
    got = "NaN" if math.isnan(bad) else repr(bad)
    return InputError(f"{name} must be in {describe(interval)}; got {got}")


def _check_subnormal(name: str, smallest: float, largest: float, interval: Interval) -> None:
    """Reject a subnormal where the range excludes 0 (values already in range, so of one sign)."""
    if _inside(0.0, 0.0, interval):
        return  # read as 0, as XLA on CPU does
    nearest = smallest if smallest > 0 else largest
    if abs(nearest) < TINY:
        raise InputError(
            f"{name} must be in {describe(interval)} and not subnormal (0 < |x| < {TINY!r}: XLA on CPU "
            f"flushes such values to 0); got {nearest!r}"
        )


def _check_scalar(name: str, x: float, interval: Interval) -> None:
    if not _inside(x, x, interval):
        raise InputError(f"{name} must be in {describe(interval)}; got {'NaN' if math.isnan(x) else repr(x)}")
    _check_subnormal(name, x, x, interval)


def _check_array(name: str, arr: np.ndarray, interval: Interval) -> None:
    if arr.size == 0:
        raise InputError(
            f"{name} must not be empty; got an array of shape {arr.shape} (values in {describe(interval)})"
        )
    # Two read-only reductions (NaN propagates through min/max); only a failing array
    # pays for locating the offending element.
    smallest, largest = float(arr.min()), float(arr.max())
    if not _inside(smallest, largest, interval):
        raise _range_error(name, arr, interval)
    _check_subnormal(name, smallest, largest, interval)


def real(name: str, value: object, interval: Interval) -> Checked:
    """``value`` checked by the module's rule: a float64 array (a float for a Python
    float, the array itself for a JAX array, a tracer unchanged), or an InputError
    naming ``name`` and ``interval``."""
    if isinstance(value, jax.core.Tracer):
        return value
    if type(value) is float:  # the commonest argument: no array round trip
        _check_scalar(name, value, interval)
        return value
    arr = as_float_array(name, value, interval)
    _check_array(name, arr, interval)
    return value if isinstance(value, jax.Array) else arr


def integer(name: str, value: object, minimum: int) -> Checked:
    """``value`` checked by the module's rule as integers ≥ ``minimum`` (``3.0`` counts as 3)."""
    if isinstance(value, jax.core.Tracer):
        return value
    allowed: Interval = (float(minimum), math.inf, True, False)
    arr = as_float_array(name, value, allowed)
    if arr.size == 0:
        raise InputError(
            f"{name} must not be empty; got an array of shape {arr.shape} (integers ≥ {minimum})"
        )
    if not (np.all(np.isfinite(arr)) and np.all(arr >= minimum) and np.all(arr == np.floor(arr))):
        raise InputError(f"{name} must be an integer ≥ {minimum}; got {_short(value)}")
    return value if isinstance(value, jax.Array) else arr


def broadcast(shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Raise InputError, naming every parameter and its shape, unless the shapes broadcast."""
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise InputError(
            f"{', '.join(shapes)}: shapes do not broadcast together (numpy rules); got {listed}"
        ) from None


def parameters(*specs: tuple[str, Any, Interval]) -> list[Checked]:
    """Each ``(name, value, interval)`` through :func:`real`, then :func:`broadcast` over all."""
    values = [real(name, value, interval) for name, value, interval in specs]
    broadcast({name: np.shape(x) for (name, _, _), x in zip(specs, values, strict=True)})
    return values


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
NEGATIVE_OPEN_UNIT: Interval = (-1.0, 0.0, False, False)  # (-1, 0)
AT_LEAST_ONE: Interval = (1.0, math.inf, True, False)  # [1, ∞)
