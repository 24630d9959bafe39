"""Extreme but valid inputs give finite values in range, for every result and form.

The property test draws every parameter from its whole valid range with the edges
weighted in (0, 2.2e-308, 1e-300, 1e-16, 1 − 1e-16, 1, 1e300, 1.8e308 and log-uniform
magnitudes over 600 decades); the regression tests pin the cases of issue 10 against
high-precision (mpmath) values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import steerbounds.bounds as b
from steerbounds.bounds import validation
from steerbounds.errors import InputError

TINY, MAX = validation.TINY, validation.MAX
ONE_MINUS = 1.0 - 1e-16  # rounds to 1 − 2^-53, the largest float64 below 1
EXAMPLES = 150  # draws per result and form; each draw evaluates an r_e vector of 8
N_R = 8


def _magnitude(lo: float, hi: float) -> st.SearchStrategy[float]:
    """10^u, u uniform in [lo, hi]: every decade equally likely."""
    return st.floats(lo, hi).map(lambda u: 10.0**u)


def _edges(*values: float) -> st.SearchStrategy[float]:
    return st.sampled_from(values)


def _signed(s: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.tuples(st.sampled_from((-1.0, 1.0)), s).map(lambda t: t[0] * t[1])


REAL = st.one_of(
    _edges(0.0, 1.0, -1.0, 1e300, -1e300, MAX, -MAX, 1e-300, -1e-300), _signed(_magnitude(-307, 308))
)
NON_NEGATIVE = st.one_of(_edges(0.0, TINY, 1e-300, 1e-16, 1.0, 1e300, MAX), _magnitude(-307, 308))
POSITIVE = st.one_of(_edges(TINY, 1e-300, 1e-16, 1.0, 1e300, MAX), _magnitude(-307, 308))
UNIT_OPEN = st.one_of(  # (−1, 1)
    _edges(-ONE_MINUS, -0.5, 0.0, 1e-300, 0.5, ONE_MINUS),
    _signed(_magnitude(-16, 0).map(lambda x: 1.0 - x)).filter(lambda x: abs(x) < 1.0),
    st.floats(-1.0, 1.0, exclude_min=True, exclude_max=True, allow_subnormal=False),
)
PROB_POSITIVE = st.one_of(  # (0, 1]
    _edges(TINY, 1e-300, 1e-16, 0.5, ONE_MINUS, 1.0),
    _magnitude(-307, 0),
    _magnitude(-16, 0).map(lambda x: 1.0 - x).filter(lambda x: x > 0),
)
PROB_OPEN = PROB_POSITIVE.filter(lambda x: x < 1.0)  # (0, 1)
PROB = st.one_of(st.just(0.0), PROB_POSITIVE)  # [0, 1]
PROB_HALF_OPEN = st.one_of(st.just(0.0), PROB_OPEN)  # [0, 1)
FRACTION = st.one_of(_edges(0.0, 1e-300, 0.5, 1.0), st.floats(0.0, 1.0))
AT_LEAST_ONE = st.one_of(_edges(1.0, 2.0, 1e300, MAX), _magnitude(0, 308))
GAMMA = st.one_of(  # (−1, 0)
    _edges(-ONE_MINUS, -0.5, -1e-300, -TINY),
    _magnitude(-307, 0).filter(lambda x: x < 1.0).map(lambda x: -x),
    _magnitude(-16, -1e-3).map(lambda x: x - 1.0),
)
R_VECTOR = st.lists(REAL, min_size=N_R, max_size=N_R).map(np.array)


def _is_extreme(x: float) -> bool:
    a = abs(x)
    return a >= 1e300 or 0.0 < a <= 1e-300 or 0.0 < 1.0 - a <= 1e-15


@st.composite
def trinary(draw: Any) -> dict[str, Any]:
    p_plus = draw(PROB_POSITIVE)
    p_minus = draw(FRACTION) * min(p_plus, 1.0 - p_plus)
    return dict(b0=p_plus - p_minus, p_plus=p_plus, delta_lambda=draw(NON_NEGATIVE))


@st.composite
def general(draw: Any) -> dict[str, Any]:
    p_plus = draw(PROB_POSITIVE)
    return dict(
        p_plus=p_plus,
        p_minus=draw(FRACTION) * (1.0 - p_plus),
        b_plus=draw(st.one_of(_edges(-1.0, 1.0), UNIT_OPEN)),
        delta_lambda=draw(NON_NEGATIVE),
    )


@st.composite
def components(draw: Any) -> dict[str, Any]:
    p0 = draw(PROB_POSITIVE)
    p_plus = draw(FRACTION) * (1.0 - p0)
    p_minus = draw(FRACTION) * (1.0 - p0 - p_plus)
    c_minus = -draw(NON_NEGATIVE)
    return dict(
        p0=p0,
        p_plus=p_plus,
        p_minus=p_minus,
        c_plus=draw(NON_NEGATIVE),
        c_minus=c_minus,
        lam=draw(NON_NEGATIVE),
    )


HELPFULNESS = dict(p0=PROB_POSITIVE, alpha=PROB, eps=PROB_HALF_OPEN, lam_sigma_beta=NON_NEGATIVE)
LOWER, UPPER, COEFFICIENT, REAL_VALUE = "lower", "upper", "coefficient", "real"

# name → (function, keyword strategy without r_e, takes r_e, kind, forms)
CASES: dict[str, tuple[Callable[..., Any], st.SearchStrategy[dict[str, Any]], bool, str, tuple[Any, ...]]] = {
    "theorem1": (
        b.behavior_lower_bound,
        st.fixed_dictionaries(dict(b0=UNIT_OPEN, delta_lambda=NON_NEGATIVE)),
        True,
        LOWER,
        ("stated", "proved"),
    ),
    "theorem3_soft_margin": (
        b.soft_margin_behavior_lower_bound,
        st.fixed_dictionaries(
            dict(
                b0=UNIT_OPEN, delta_lambda=NON_NEGATIVE, lam=NON_NEGATIVE, delta=NON_NEGATIVE, M=NON_NEGATIVE
            )
        ),
        True,
        LOWER,
        ("stated", "proved"),
    ),
    "theorem3_max_coefficient": (
        b.soft_margin_max_coefficient,
        st.fixed_dictionaries(dict(eps=POSITIVE, delta=POSITIVE, M=POSITIVE, lam=POSITIVE)),
        False,
        REAL_VALUE,
        (None,),
    ),
    "theorem4_trinary": (b.trinary_behavior_lower_bound, trinary(), True, LOWER, ("stated", "corrected")),
    "theorem5_general": (b.general_behavior_lower_bound, general(), True, LOWER, (None,)),
    "corollary1": (
        b.corollary1_coefficient,
        st.fixed_dictionaries(dict(eps=PROB_OPEN, gamma=GAMMA, delta_lambda=POSITIVE)),
        False,
        COEFFICIENT,
        ("stated", "proved"),
    ),
    "required_coefficient": (
        b.required_coefficient,
        st.fixed_dictionaries(dict(target=UNIT_OPEN, b0=UNIT_OPEN, delta_lambda=POSITIVE)),
        False,
        COEFFICIENT,
        ("stated", "proved"),
    ),
    "theorem6_multitoken": (
        b.multitoken_required_coefficient,
        st.fixed_dictionaries(
            dict(
                eps=PROB_OPEN,
                n_tokens=st.one_of(st.integers(1, 10**6), AT_LEAST_ONE.map(math.floor)).map(float),
                b0=UNIT_OPEN,
                delta_lambda=POSITIVE,
            )
        ),
        False,
        COEFFICIENT,
        (None,),
    ),
    "theorem2": (b.helpfulness_upper_bound, st.fixed_dictionaries(HELPFULNESS), True, UPPER, (None,)),
    "theorem2_components": (b.helpfulness_upper_bound_components, components(), True, UPPER, (33, 34, 36)),
    "corollary2_expectation": (
        b.expected_helpfulness_upper_bound,
        st.fixed_dictionaries(dict(HELPFULNESS, n_top=AT_LEAST_ONE)),
        True,
        UPPER,
        ("stated", "proved"),
    ),
    "corollary3_multitoken": (
        b.multitoken_helpfulness_upper_bound,
        st.fixed_dictionaries(
            dict(
                p0_steps=st.lists(PROB_POSITIVE, min_size=1, max_size=3).map(np.array),
                alpha=PROB,
                eps=PROB_HALF_OPEN,
                lam_sigma_beta=NON_NEGATIVE,
            )
        ),
        True,
        UPPER,
        (None,),
    ),
}


def _in_range(kind: str, values: np.ndarray, params: dict[str, Any]) -> bool:
    rounding = 4e-16  # a final a·w + c may round one ulp past its exact range
    if kind == LOWER:
        return bool(np.all((values >= -1.0) & (values <= 1.0 + rounding)))
    if kind == UPPER:
        floor = 1.0 / params["n_top"] if "n_top" in params else 0.0
        return bool(np.all((values >= floor - rounding) & (values <= 1.0 + rounding)))
    if kind == COEFFICIENT:
        return bool(np.all((values >= 0.0) & (values <= MAX)))
    return True  # the validity range of Theorem 3 is any finite real


PARAMS = [pytest.param(name, form, id=f"{name}-{form}") for name, case in CASES.items() for form in case[4]]


@pytest.mark.parametrize(("name", "form"), PARAMS)
def test_extreme_valid_inputs_give_finite_values_in_range(name, form):
    func, strategy, takes_r, kind, _ = CASES[name]
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(params=strategy, r_e=R_VECTOR)
    def check(params: dict[str, Any], r_e: np.ndarray) -> None:
        kwargs = dict(params, r_e=r_e) if takes_r else dict(params)
        if form is not None:
            kwargs["equation" if name == "theorem2_components" else "form"] = form
        values = np.asarray(func(**kwargs), dtype=np.float64)
        assert np.all(np.isfinite(values)), (kwargs, values)
        assert _in_range(kind, values, params), (kwargs, values)
        numbers = [float(x) for x in np.ravel(r_e)] if takes_r else []
        numbers += [float(x) for v in params.values() for x in np.ravel(v)]
        extreme = any(_is_extreme(x) for x in numbers)
        event("some parameter extreme" if extreme else "no parameter extreme")
        seen["draws"] += 1
        seen["extreme"] += extreme
        seen["evaluations"] += values.size

    check()
    print(f"{name} {form}: {dict(seen)}")  # shown with -s or on failure
    # Not vacuous: every draw was valid (no assume/filter rejections inside the test),
    # and most carried an extreme value.
    assert seen["draws"] >= EXAMPLES // 2, seen
    assert seen["extreme"] >= seen["draws"] // 4, seen


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(params=components(), r_e=R_VECTOR)
def test_theorem2_intermediate_forms_stay_ordered_at_extremes(params, r_e):
    # App. C: eq. 33 ≤ eq. 34 ≤ eq. 36 for every input; a guard that read an overflow
    # the wrong way would break the order.
    e33, e34, e36 = (
        np.asarray(b.helpfulness_upper_bound_components(r_e, **params, equation=q)) for q in (33, 34, 36)
    )
    assert np.all(e33 <= e34 * (1 + 1e-12) + 1e-300) and np.all(e34 <= e36 * (1 + 1e-12) + 1e-300)
    event("eq. 33 < eq. 36 somewhere" if np.any(e33 < e36) else "all equal")


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(
    params=st.fixed_dictionaries(
        dict(b0=UNIT_OPEN, delta_lambda=NON_NEGATIVE, lam=NON_NEGATIVE, delta=NON_NEGATIVE, M=NON_NEGATIVE)
    ),
    r_e=R_VECTOR,
)
def test_soft_margin_never_exceeds_theorem1_at_extremes(params, r_e):
    # Eq. 61 subtracts a penalty 2δe^{Mλr_e} ≥ 0 from eq. 27.
    for form in ("stated", "proved"):
        soft = np.asarray(b.soft_margin_behavior_lower_bound(r_e, **params, form=form))
        hard = np.asarray(b.behavior_lower_bound(r_e, params["b0"], params["delta_lambda"], form=form))
        assert np.all(soft <= hard + 1e-15)  # separate kernels may round differently


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(params=trinary(), r_e=R_VECTOR)
def test_corrected_trinary_never_exceeds_eq66_at_extremes(params, r_e):
    stated = np.asarray(b.trinary_behavior_lower_bound(r_e, **params, form="stated"))
    corrected = np.asarray(b.trinary_behavior_lower_bound(r_e, **params))
    assert np.all(corrected <= stated + 1e-15)  # separate kernels may round differently


# --------------------------------------------------------------------------- issue 10's cases

mpmath.mp.dps = 60


def _mp(x: float) -> mpmath.mpf:
    return mpmath.mpf(x)


@pytest.mark.parametrize("form", ["stated", "corrected"])
def test_trinary_is_one_for_b0_equal_p_plus_equal_one(form):
    # Was 0/0 = NaN for Δλ·r_e ≲ −37: all mass is aligned, so B = 1 at every r_e.
    r = np.array([-40.0, -1e3, -1e300, 0.0, 1e300])
    np.testing.assert_array_equal(b.trinary_behavior_lower_bound(r, 1.0, 1.0, 1.0, form=form), 1.0)


def test_trinary_is_accurate_when_p_plus_is_near_one():
    # P+ = 1 − 1e-10, P− = 5e-11: the printed form lost ~1e-6 to cancellation.
    p_plus, p_minus, x = 1.0 - 1e-10, 5e-11, -30.0
    b0 = p_plus - p_minus
    exact = (_mp(b0) + _mp(p_plus) * mpmath.expm1(x)) / (1 + _mp(p_plus) * mpmath.expm1(x))
    got = float(b.trinary_behavior_lower_bound(x, b0, p_plus, 1.0, form="stated"))
    assert got == pytest.approx(float(exact), abs=1e-12)


@pytest.mark.parametrize("eps", [1e-16, 1e-17, 1e-100, TINY])
def test_corollary1_for_eps_below_the_rounding_of_one_minus_eps(eps):
    got = float(b.corollary1_coefficient(eps, -0.5, 0.3, form="stated"))
    artanh = mpmath.log((2 - _mp(eps)) / _mp(eps)) / 2  # artanh(1 − ε), exact in mpmath too
    exact = (artanh - mpmath.atanh(_mp(-0.5))) / _mp(0.3)
    assert got == pytest.approx(float(exact), rel=1e-14)


def test_theorem6_when_n_over_eps_overflows():
    eps, n, b0, dl = 1e-300, 1e300, -0.5, 0.3
    exact = (mpmath.log(_mp(n) / _mp(eps)) + mpmath.log((1 - _mp(b0)) / (1 + _mp(b0)))) / _mp(dl)
    assert float(b.multitoken_required_coefficient(eps, n, b0, dl)) == pytest.approx(float(exact), rel=1e-14)


def test_soft_margin_max_coefficient_when_m_lambda_underflows():
    # M·λ = 1e-310 (flushed to 0 by XLA): the quotient in log space, finite.
    eps, delta, m, lam = 2e-3 * (1 + 1e-6), 1e-3, 1e-155, 1e-155
    exact = mpmath.log(_mp(eps) / (2 * _mp(delta))) / (_mp(m) * _mp(lam))
    assert float(b.soft_margin_max_coefficient(eps, delta, m, lam)) == pytest.approx(float(exact), rel=1e-8)
    assert float(b.soft_margin_max_coefficient(0.5, 1e-3, 1e-200, 1e-200)) == MAX  # beyond float64: saturated
    assert float(b.soft_margin_max_coefficient(1e-300, 1e300, 1e-200, 1e-200)) == -MAX


def test_zero_times_overflow_at_parameters_near_1e300():
    # α = 0 or P0 = 1 (the trivial bound 1) with (λσβ r_e)² overflowing: was 0·inf = NaN.
    assert float(b.helpfulness_upper_bound(1e300, 0.5, 0.0, 0.1, 1e300)) == 1.0
    assert float(b.helpfulness_upper_bound(1e300, 1.0, 0.5, 0.1, 1e300)) == 1.0
    assert float(b.helpfulness_upper_bound(1e300, 0.5, 0.5, 0.1, 1e300)) == 0.0
    assert float(b.expected_helpfulness_upper_bound(1e300, 0.5, 0.0, 0.1, 1e300, 4, form="stated")) == 1.0
    assert float(b.expected_helpfulness_upper_bound(1e300, 0.5, 0.5, 0.1, 1e300, 4)) == 0.25
    assert float(b.multitoken_helpfulness_upper_bound(1e300, [1.0, 0.5], 0.0, 0.1, 1e300)) == 1.0
    # Theorem 3: M·λ overflows while r_e = 0; δ = 0 while the exponent overflows.
    r = np.array([0.0, 1e300, -1e300])
    np.testing.assert_array_equal(
        b.soft_margin_behavior_lower_bound(r, 0.5, 1e300, 1e300, 0.0, 1e300), [0.5, 1.0, -1.0]
    )
    np.testing.assert_array_equal(
        b.soft_margin_behavior_lower_bound(r, 0.5, 1e300, 1e300, 1e-3, 1e300), [0.5 - 2e-3, -1.0, -1.0]
    )
    # Theorem 2's components with c± = 0 and λ|r_e| overflowing.
    for equation, expected in ((33, 0.5 / 0.7), (34, 1.0), (36, 1.0)):
        got = float(
            b.helpfulness_upper_bound_components(1e300, 0.5, 0.0, 0.2, 0.0, 0.0, 1e300, equation=equation)
        )
        assert got == pytest.approx(expected, rel=1e-15)
    # Theorem 5 with P− = 0 and Δλ·r_e = −inf: all mass above b+, the bound is b+.
    assert float(b.general_behavior_lower_bound(-1e300, 0.5, 0.0, 0.3, 1e300)) == pytest.approx(0.3)


def test_required_coefficient_saturates_beyond_float64():
    assert float(b.required_coefficient(ONE_MINUS, -ONE_MINUS, TINY)) == MAX


@pytest.mark.parametrize(
    ("func", "args", "param"),
    [
        (b.helpfulness_upper_bound, (1.0, 5e-324, 0.5, 0.1, 0.4), "p0"),
        (b.required_coefficient, (0.9, 0.0, 1e-310), "delta_lambda"),
        (b.corollary1_coefficient, (0.1, -1e-310, 0.3), "gamma"),
    ],
)
def test_subnormals_where_zero_is_out_of_range_are_rejected(func, args, param):
    with pytest.raises(InputError, match=rf"^{param} must be in .* and not subnormal"):
        func(*args)
