"""Numeric core of steerbounds.bounds: values, extremes, broadcasting, validation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import steerbounds.bounds as b
from steerbounds.errors import InputError

EDGE = 1.0 - 1e-15
BIG = np.array([-1e6, -1.0, 0.0, 1.0, 1e6])


def test_theorem1_forms_at_known_points():
    # eq. 27: tanh(Δλ r/2 + artanh B0); eq. 5: tanh(Δλ r + artanh B0)
    assert float(b.behavior_lower_bound(2.0, -0.5, 0.3)) == pytest.approx(
        math.tanh(0.3 + math.atanh(-0.5)), abs=1e-15
    )
    assert float(b.behavior_lower_bound(2.0, -0.5, 0.3, form="stated")) == pytest.approx(
        math.tanh(0.6 + math.atanh(-0.5)), abs=1e-15
    )
    assert float(b.behavior_lower_bound(0.0, -0.5, 0.3)) == pytest.approx(-0.5, abs=1e-15)


def test_results_are_float64_and_global_flag_untouched():
    before = jax.config.jax_enable_x64
    out = b.behavior_lower_bound(1.0, 0.1, 0.2)
    assert out.dtype == jnp.float64
    assert jax.config.jax_enable_x64 == before


@pytest.mark.parametrize("b0", [EDGE, -EDGE])
def test_extreme_b0_is_finite_and_exact_at_zero(b0):
    for form in ("stated", "proved"):
        out = np.asarray(b.behavior_lower_bound(BIG, b0, 0.5, form=form))
        assert np.all(np.isfinite(out))
        assert out[2] == pytest.approx(b0, abs=1e-15)
    assert np.isfinite(float(b.required_coefficient(0.9, -EDGE, 0.3)))
    assert np.isfinite(float(b.multitoken_required_coefficient(1e-3, 100, -EDGE, 0.3)))


def test_every_function_is_finite_at_huge_coefficients():
    outs = [
        b.behavior_lower_bound(BIG, -0.5, 0.3),
        b.soft_margin_behavior_lower_bound(BIG, -0.5, 0.3, 50.0, 1e-3, 0.1),
        b.soft_margin_behavior_lower_bound(BIG, -0.5, 0.3, 50.0, 0.0, 0.1),
        b.trinary_behavior_lower_bound(BIG, -0.4, 0.1, 1.0),
        b.trinary_behavior_lower_bound(BIG, -0.4, 0.1, 1.0, form="stated"),
        b.general_behavior_lower_bound(BIG, 0.3, 0.7, 0.5, 1.0),
        b.general_behavior_lower_bound(BIG, 1.0, 0.0, 0.5, 1.0),
        b.helpfulness_upper_bound(BIG, 0.6, 0.5, 0.1, 0.4),
        b.helpfulness_upper_bound(BIG, 1.0, 0.5, 0.1, 0.4),
        b.expected_helpfulness_upper_bound(BIG, 0.6, 0.5, 0.1, 0.4, 4),
        b.expected_helpfulness_upper_bound(BIG, 0.6, 0.5, 0.1, 0.4, 4, form="stated"),
        b.multitoken_helpfulness_upper_bound(BIG, [0.9, 0.8], 0.5, 0.1, 0.4),
    ] + [
        b.helpfulness_upper_bound_components(BIG, 0.5, pp, pm, 0.5, -0.5, 10.0, equation=eq)
        for eq in (33, 34, 36)
        for pp, pm in ((0.2, 0.2), (0.0, 0.3), (0.3, 0.0))
    ]
    for out in outs:
        assert np.all(np.isfinite(np.asarray(out)))


def test_limits():
    # Theorem 1 -> ±1, Theorem 2 -> 0, Corollary 2 -> 1/T, Theorem 5 -> b+.
    assert float(b.behavior_lower_bound(1e6, -0.9, 0.1)) == 1.0
    assert float(b.helpfulness_upper_bound(1e6, 0.9, 0.5, 0.1, 0.4)) < 1e-9
    assert float(b.expected_helpfulness_upper_bound(1e6, 0.9, 0.5, 0.1, 0.4, 4)) == pytest.approx(0.25)
    assert float(b.general_behavior_lower_bound(1e6, 0.3, 0.7, 0.5, 1.0)) == pytest.approx(0.5)


def test_soft_margin_reduces_to_theorem1_when_delta_is_zero():
    r = np.linspace(0, 5, 11)
    np.testing.assert_allclose(
        b.soft_margin_behavior_lower_bound(r, -0.5, 0.3, 40.0, 0.0, 0.2),
        b.behavior_lower_bound(r, -0.5, 0.3),
        atol=0,
    )
    # eq. 62's validity range: for r_e below it the penalty 2δe^{Mλr_e} is below ε.
    r_max = float(b.soft_margin_max_coefficient(0.1, 1e-3, 0.05, 40.0))
    assert 2e-3 * math.exp(0.05 * 40.0 * r_max) == pytest.approx(0.1)


def test_trinary_forms():
    # Binary case (no neutral mass: P+ + P- = 1) equals Theorem 1's proved form.
    p_plus, b0 = 0.3, -0.4
    r = np.linspace(0, 4, 9)
    np.testing.assert_allclose(
        b.trinary_behavior_lower_bound(r, b0, p_plus, 0.7, form="stated"),
        b.behavior_lower_bound(r, b0, 0.7),
        atol=1e-14,
    )
    # The corrected form never exceeds the stated one and coincides where eq. 66 >= 0.
    stated = np.asarray(b.trinary_behavior_lower_bound(r, -0.4, 0.1, 1.0, form="stated"))
    corrected = np.asarray(b.trinary_behavior_lower_bound(r, -0.4, 0.1, 1.0))
    assert np.all(corrected <= stated + 1e-15)
    np.testing.assert_allclose(corrected[stated >= 0], stated[stated >= 0])
    assert corrected[0] == pytest.approx(-0.4)


def test_helpfulness_components_are_ordered():
    r = np.linspace(-3, 3, 13)
    args = (0.4, 0.25, 0.2, 0.6, -0.3, 5.0)
    e33, e34, e36 = (
        np.asarray(b.helpfulness_upper_bound_components(r, *args, equation=q)) for q in (33, 34, 36)
    )
    assert np.all(e33 <= e34 + 1e-15) and np.all(e34 <= e36 + 1e-15)


def test_theorem2_matches_eq36_with_realised_parameters():
    p0, pp, pm, cp, cm, lam = 0.4, 0.25, 0.2, 0.6, -0.3, 5.0
    alpha_eff = min(pp, pm) / (1 - p0)
    r = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(
        b.helpfulness_upper_bound(r, p0, alpha_eff, 0.0, lam * min(abs(cm), cp)),
        b.helpfulness_upper_bound_components(r, p0, pp, pm, cp, cm, lam, equation=36),
        rtol=1e-14,
    )


def test_broadcasting_shapes():
    r = jnp.linspace(0, 1, 5)[:, None]
    assert b.behavior_lower_bound(r, jnp.array([-0.5, 0.0, 0.5]), 0.3).shape == (5, 3)
    assert b.multitoken_helpfulness_upper_bound(r, np.full((3, 4), 0.9), 0.5, 0.1, 0.4).shape == (5, 3)


def test_jit_and_grad():
    g = jax.grad(lambda r: b.behavior_lower_bound(r, -0.5, 0.3))(0.0)
    assert float(g) == pytest.approx(0.15 * (1 - 0.25))  # (Δλ/2)(1 − B0²)
    h = jax.grad(jax.grad(lambda r: b.helpfulness_upper_bound(r, 0.6, 0.5, 0.1, 0.4)))(0.0)
    assert float(h) < 0
    # Under the caller's own jit, results keep float64 only if the caller enables x64.
    with jax.enable_x64(True):
        jitted = jax.jit(lambda r: b.required_coefficient(0.9, r, 0.3))(-0.5)
    assert jitted.dtype == jnp.float64
    assert float(jitted) == pytest.approx(float(b.required_coefficient(0.9, -0.5, 0.3)), rel=1e-15)


def test_trinary_gradient_at_zero_is_the_exact_slope():
    # d/dr_e of eq. 66 at 0 is P+(1 − B0)Δλ.
    with jax.enable_x64(True):
        g = jax.grad(lambda r: b.trinary_behavior_lower_bound(r, 0.3, 0.5, 2.0, form="stated"))(0.0)
    assert float(g) == pytest.approx(0.5 * 0.7 * 2.0, rel=1e-12)


def test_required_coefficient_inverts_theorem1():
    for form in ("stated", "proved"):
        r = b.required_coefficient(0.9, -0.5, 0.3, form=form)
        assert float(b.behavior_lower_bound(r, -0.5, 0.3, form=form)) == pytest.approx(0.9, abs=1e-12)
    assert float(b.required_coefficient(0.1, 0.5, 0.3)) == 0.0
    assert float(b.corollary1_coefficient(0.1, -0.5, 0.3)) == pytest.approx(
        float(b.required_coefficient(0.9, -0.5, 0.3))
    )


def test_multitoken_coefficient_matches_eq77():
    eps, n, b0, dl = 0.05, 10, -0.5, 0.3
    expected = (math.log(n / eps) + math.log((1 - b0) / (1 + b0))) / dl
    assert float(b.multitoken_required_coefficient(eps, n, b0, dl)) == pytest.approx(expected, rel=1e-14)


BAD_CALLS = [
    (b.behavior_lower_bound, (1.0, 1.0, 0.3), "b0", "(-1, 1)"),
    (b.behavior_lower_bound, (1.0, float("nan"), 0.3), "b0", "NaN"),
    (b.behavior_lower_bound, (float("nan"), 0.0, 0.3), "r_e", "NaN"),
    (b.behavior_lower_bound, (1.0, 0.0, -0.1), "delta_lambda", "[0, inf)"),
    (b.soft_margin_behavior_lower_bound, (1.0, 0.0, 0.3, -1.0, 0.1, 0.1), "lam", "[0, inf)"),
    (b.soft_margin_behavior_lower_bound, (1.0, 0.0, 0.3, 1.0, -0.1, 0.1), "delta", "[0, inf)"),
    (b.soft_margin_behavior_lower_bound, (1.0, 0.0, 0.3, 1.0, 0.1, float("nan")), "M", "NaN"),
    (b.soft_margin_max_coefficient, (0.0, 0.1, 0.1, 1.0), "eps", "(0, inf)"),
    (b.trinary_behavior_lower_bound, (1.0, 0.5, 0.2, 0.3), "b0", "≤ p_plus"),
    (b.trinary_behavior_lower_bound, (1.0, -0.9, 0.2, 0.3), "b0", "2·p_plus − 1"),
    (b.trinary_behavior_lower_bound, (1.0, 0.0, 0.0, 0.3), "p_plus", "(0, 1]"),
    (b.general_behavior_lower_bound, (1.0, 0.6, 0.6, 0.5, 0.3), "p_minus", "≤ 1"),
    (b.general_behavior_lower_bound, (1.0, 0.6, 0.4, 1.5, 0.3), "b_plus", "[-1, 1]"),
    (b.required_coefficient, (1.0, 0.0, 0.3), "target", "(-1, 1)"),
    (b.required_coefficient, (0.9, 0.0, 0.0), "delta_lambda", "(0, inf)"),
    (b.corollary1_coefficient, (0.1, 0.2, 0.3), "gamma", "(-1, 0)"),
    (b.multitoken_required_coefficient, (0.1, 2.5, 0.0, 0.3), "n_tokens", "integer"),
    (b.multitoken_required_coefficient, (0.1, 0, 0.0, 0.3), "n_tokens", "integer"),
    (b.helpfulness_upper_bound, (1.0, 0.0, 0.5, 0.1, 0.4), "p0", "(0, 1]"),
    (b.helpfulness_upper_bound, (1.0, 0.5, 1.5, 0.1, 0.4), "alpha", "[0, 1]"),
    (b.helpfulness_upper_bound, (1.0, 0.5, 0.5, 1.0, 0.4), "eps", "[0, 1)"),
    (b.helpfulness_upper_bound, (1.0, 0.5, 0.5, 0.1, float("nan")), "lam_sigma_beta", "NaN"),
    (b.helpfulness_upper_bound_components, (1.0, 0.5, 0.3, 0.3, 0.1, -0.1, 1.0), "p_plus", "≤ 1"),
    (b.helpfulness_upper_bound_components, (1.0, 0.5, 0.2, 0.2, -0.1, -0.1, 1.0), "c_plus", "[0, inf)"),
    (b.helpfulness_upper_bound_components, (1.0, 0.5, 0.2, 0.2, 0.1, 0.1, 1.0), "c_minus", "(-inf, 0]"),
    (b.expected_helpfulness_upper_bound, (1.0, 0.5, 0.5, 0.1, 0.4, 0.5), "n_top", "[1, inf)"),
    (b.multitoken_helpfulness_upper_bound, (1.0, [0.5, 0.0], 0.5, 0.1, 0.4), "p0_steps", "(0, 1]"),
    (b.multitoken_helpfulness_upper_bound, (1.0, 0.5, 0.5, 0.1, 0.4), "p0_steps", "last axis"),
]


@pytest.mark.parametrize(
    "func,args,param,fragment", BAD_CALLS, ids=[f"{c[0].__name__}-{c[2]}" for c in BAD_CALLS]
)
def test_invalid_input_names_parameter_and_range(func, args, param, fragment):
    with pytest.raises(InputError) as info:
        func(*args)
    message = str(info.value)
    assert message.startswith(param)
    assert fragment in message


def test_invalid_form_and_equation():
    with pytest.raises(InputError, match="form"):
        b.behavior_lower_bound(1.0, 0.0, 0.3, form="printed")
    with pytest.raises(InputError, match="equation"):
        b.helpfulness_upper_bound_components(1.0, 0.5, 0.2, 0.2, 0.1, -0.1, 1.0, equation=35)


def test_registry_lists_every_result_with_callable_and_forms():
    assert set(b.RESULTS) == {
        "theorem1",
        "theorem3_soft_margin",
        "theorem4_trinary",
        "theorem5_general",
        "corollary1",
        "required_coefficient",
        "theorem6_multitoken",
        "theorem2",
        "theorem2_components",
        "corollary2_expectation",
        "corollary3_multitoken",
    }
    for result in b.RESULTS.values():
        assert callable(result.function)
        assert (result.default_form is None) == (not result.forms)
        assert result.default_form is None or result.default_form in result.forms
