"""The bounds' one validation layer: every bad value of every class, for every parameter of
every public bound function, is an InputError whose message names the parameter."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import steerbounds.bounds as b
from steerbounds.bounds import theorems, validation
from steerbounds.errors import InputError

TINY = validation.TINY

# Each public function with valid keyword arguments (ordinary values) and, per parameter,
# the values outside its range (including subnormals where the range excludes 0).
VALID: dict[str, tuple[Callable[..., Any], dict[str, Any], dict[str, list[float]]]] = {
    "behavior_lower_bound": (
        b.behavior_lower_bound,
        dict(r_e=1.0, b0=-0.5, delta_lambda=0.3),
        dict(r_e=[], b0=[-1.0, 1.0, 1.5], delta_lambda=[-0.1, -TINY]),
    ),
    "soft_margin_behavior_lower_bound": (
        b.soft_margin_behavior_lower_bound,
        dict(r_e=1.0, b0=-0.5, delta_lambda=0.3, lam=2.0, delta=1e-3, M=0.1),
        dict(r_e=[], b0=[-1.0, 1.0], delta_lambda=[-1.0], lam=[-1.0], delta=[-1e-3], M=[-0.1]),
    ),
    "soft_margin_max_coefficient": (
        b.soft_margin_max_coefficient,
        dict(eps=0.1, delta=1e-3, M=0.1, lam=2.0),
        dict(eps=[0.0, -1.0, 5e-324], delta=[0.0, 1e-310], M=[0.0, -1.0, 1e-320], lam=[0.0, 2e-308]),
    ),
    "trinary_behavior_lower_bound": (
        b.trinary_behavior_lower_bound,
        dict(r_e=1.0, b0=-0.2, p_plus=0.3, delta_lambda=0.5),
        dict(r_e=[], b0=[-1.5, 0.5, -0.9], p_plus=[0.0, 1.5, 1e-310], delta_lambda=[-0.5]),
    ),
    "general_behavior_lower_bound": (
        b.general_behavior_lower_bound,
        dict(r_e=1.0, p_plus=0.3, p_minus=0.6, b_plus=0.5, delta_lambda=0.5),
        dict(r_e=[], p_plus=[0.0, 1.2, 5e-324], p_minus=[-0.1, 0.8], b_plus=[-1.5, 1.5], delta_lambda=[-1.0]),
    ),
    "required_coefficient": (
        b.required_coefficient,
        dict(target=0.9, b0=-0.5, delta_lambda=0.3),
        dict(target=[-1.0, 1.0], b0=[1.0, -2.0], delta_lambda=[0.0, -0.3, 1e-310]),
    ),
    "corollary1_coefficient": (
        b.corollary1_coefficient,
        dict(eps=0.1, gamma=-0.5, delta_lambda=0.3),
        dict(eps=[0.0, 1.0, 1e-320], gamma=[0.0, -1.0, 0.2, -1e-310], delta_lambda=[0.0, 5e-324]),
    ),
    "multitoken_required_coefficient": (
        b.multitoken_required_coefficient,
        dict(eps=0.1, n_tokens=5, b0=-0.5, delta_lambda=0.3),
        dict(eps=[0.0, 1.0, 1e-310], n_tokens=[0, 2.5, -3], b0=[1.0, -1.0], delta_lambda=[0.0, 1e-310]),
    ),
    "helpfulness_upper_bound": (
        b.helpfulness_upper_bound,
        dict(r_e=1.0, p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4),
        dict(r_e=[], p0=[0.0, 1.5, 5e-324], alpha=[-0.1, 1.1], eps=[1.0, -0.1], lam_sigma_beta=[-0.4]),
    ),
    "helpfulness_upper_bound_components": (
        b.helpfulness_upper_bound_components,
        dict(r_e=1.0, p0=0.4, p_plus=0.25, p_minus=0.2, c_plus=0.6, c_minus=-0.3, lam=5.0),
        dict(
            r_e=[],
            p0=[0.0, 1.5, 5e-324],
            p_plus=[-0.1, 0.7],
            p_minus=[-0.1, 1.1],
            c_plus=[-0.6],
            c_minus=[0.3],
            lam=[-5.0],
        ),
    ),
    "expected_helpfulness_upper_bound": (
        b.expected_helpfulness_upper_bound,
        dict(r_e=1.0, p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4, n_top=4.0),
        dict(
            r_e=[], p0=[0.0, 5e-324], alpha=[2.0], eps=[1.0], lam_sigma_beta=[-1.0], n_top=[0.5, 0.0, 1e-310]
        ),
    ),
    "multitoken_helpfulness_upper_bound": (
        b.multitoken_helpfulness_upper_bound,
        dict(r_e=1.0, p0_steps=[0.9, 0.8], alpha=0.5, eps=0.1, lam_sigma_beta=0.4),
        dict(r_e=[], p0_steps=[0.0, 1.5, 5e-324], alpha=[-0.5], eps=[1.0], lam_sigma_beta=[-0.4]),
    ),
}

# Bad for every parameter: (class, value); see also the "nan-in-array" class in _cases.
GENERIC: list[tuple[str, Any]] = [
    ("nan", float("nan")),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("empty-list", []),
    ("empty-array", np.array([])),
    ("empty-2d", np.zeros((2, 0))),
    ("bool", True),
    ("numpy-bool", np.bool_(False)),
    ("bool-array", np.array([True, False])),
    ("jax-bool-array", jnp.array([True])),
    ("complex", 0.5 + 0j),
    ("complex-array", np.array([0.5 + 0.1j])),
    ("jax-complex", jnp.array([0.5 + 0j])),
    ("numeric-string", "0.5"),
    ("string", "abc"),
    ("bytes", b"0.5"),
    ("numpy-string", np.str_("0.5")),
    ("string-array", np.array(["0.5"])),
    ("mixed-list", [0.5, "0.5"]),
    ("none", None),
    ("object", object()),
    ("dict", {"value": 0.5}),
    ("fraction", Fraction(1, 2)),
    ("decimal", Decimal("0.5")),
    ("list-of-none", [0.5, None]),
    ("datetime64", np.datetime64("2020-01-01")),
    ("timedelta64", np.timedelta64(1, "s")),
    ("datetime", datetime.datetime(2020, 1, 1)),
    ("huge-int", 10**400),
    ("huge-negative-int", -(10**400)),
    ("huge-int-list", [1, 10**400]),
    ("ragged", [[0.5], [0.5, 0.5]]),
]


def _cases() -> list[Any]:
    cases = []
    for fname, (_, kwargs, out_of_range) in VALID.items():
        for param in kwargs:
            nan_in_array = np.array([np.ravel(kwargs[param])[0], np.nan])
            cases.append(pytest.param(fname, param, nan_in_array, id=f"{fname}-{param}-nan-in-array"))
            for label, value in GENERIC:
                cases.append(pytest.param(fname, param, value, id=f"{fname}-{param}-{label}"))
            for k, value in enumerate(out_of_range[param]):
                cases.append(pytest.param(fname, param, value, id=f"{fname}-{param}-range{k}"))
    return cases


@pytest.mark.parametrize(("fname", "param", "bad"), _cases())
def test_bad_value_is_an_input_error_naming_the_parameter(fname, param, bad):
    func, kwargs, _ = VALID[fname]
    with pytest.raises(InputError) as info:
        func(**{**kwargs, param: bad})
    message = str(info.value)
    assert message.startswith(param), message
    assert "\n" not in message


def _shape_cases() -> list[Any]:
    return [
        pytest.param(fname, param, id=f"{fname}-{param}")
        for fname, (_, kwargs, _) in VALID.items()
        for param in kwargs
    ]


@pytest.mark.parametrize(("fname", "param"), _shape_cases())
def test_shapes_that_do_not_broadcast_name_the_parameters(fname, param):
    func, kwargs, _ = VALID[fname]
    others = [p for p in kwargs if p != param]
    other = others[0]
    bad = dict(kwargs)
    if param == "p0_steps":
        bad[param] = np.full((3, 2), 0.9)
    else:
        bad[param] = np.full(3, np.ravel(kwargs[param])[0])
    if other == "p0_steps":
        bad[other] = np.full((2, 2), 0.9)
    else:
        bad[other] = np.full(2, np.ravel(kwargs[other])[0])
    with pytest.raises(InputError, match="do not broadcast") as info:
        func(**bad)
    assert param in str(info.value) and other in str(info.value)


FORMS = [
    b.behavior_lower_bound,
    b.soft_margin_behavior_lower_bound,
    b.trinary_behavior_lower_bound,
    b.required_coefficient,
    b.corollary1_coefficient,
    b.expected_helpfulness_upper_bound,
]
BAD_FORMS = [None, True, 1, "printed", "", ["proved"], b"proved", "Proved"]


@pytest.mark.parametrize("func", FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("form", BAD_FORMS, ids=repr)
def test_bad_form_is_an_input_error(func, form):
    name = next(k for k, (f, _, _) in VALID.items() if f is func)
    with pytest.raises(InputError, match=r"^form must be one of"):
        func(**VALID[name][1], form=form)


@pytest.mark.parametrize("equation", [33.0, np.float64(34), True, "33", 35, None, [33]], ids=repr)
def test_bad_equation_is_an_input_error(equation):
    kwargs = VALID["helpfulness_upper_bound_components"][1]
    with pytest.raises(InputError, match=r"^equation must be one of 33, 34, 36"):
        b.helpfulness_upper_bound_components(**kwargs, equation=equation)


def test_every_public_function_is_covered():
    assert set(VALID) == set(theorems.__all__)


# --------------------------------------------------------------------------- accepted input


@pytest.mark.parametrize(
    "r_e",
    [
        1,
        np.int64(1),
        np.uint8(1),
        np.float32(1.0),
        np.float64(1.0),
        np.array(1.0),
        [1.0, 2.0],
        [[1], [2]],
        np.array([1, 2], dtype=np.int32),
        jnp.array([1.0, 2.0], dtype=jnp.float32),
        jnp.array([1.0, 2.0], dtype=jnp.bfloat16),
        [1, 2**70],
    ],
    ids=repr,
)
def test_real_numbers_of_every_dtype_are_accepted(r_e):
    out = np.asarray(b.behavior_lower_bound(r_e, -0.5, 0.3))
    expected = np.tanh(0.15 * np.asarray(r_e, dtype=np.float64) + np.arctanh(-0.5))
    np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_subnormals_are_read_as_zero_where_zero_is_allowed():
    # r_e, B0, Δλ, δ, α and P− may be 0: a subnormal is what XLA computes with, 0.
    assert float(b.behavior_lower_bound(1e-310, -0.5, 0.3)) == float(b.behavior_lower_bound(0.0, -0.5, 0.3))
    assert float(b.helpfulness_upper_bound(1.0, 0.6, 5e-324, 0.1, 0.4)) == 1.0
    assert float(b.general_behavior_lower_bound(1.0, 0.3, 1e-310, 0.5, 0.5)) == pytest.approx(0.5)
    assert float(b.soft_margin_behavior_lower_bound(1.0, 0.0, 0.3, 1.0, 1e-320, 1.0)) == pytest.approx(
        float(b.behavior_lower_bound(1.0, 0.0, 0.3))
    )


def test_joint_conditions_still_name_a_parameter():
    with pytest.raises(InputError, match=r"^b0 must be ≤ p_plus"):
        b.trinary_behavior_lower_bound([0.0, 1.0], [0.1, 0.5], 0.3, 1.0)
    with pytest.raises(InputError, match=r"^p_minus must satisfy"):
        b.general_behavior_lower_bound(1.0, np.array([0.5, 0.6]), 0.5, 0.0, 1.0)
    with pytest.raises(InputError, match=r"^p_plus must satisfy"):
        b.helpfulness_upper_bound_components(1.0, 0.5, 0.3, [0.1, 0.3], 1.0, -1.0, 1.0)
