"""steerbounds.bounds.planner: coefficient, efficient regime, Pareto curve."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbounds.bounds import behavior_lower_bound, helpfulness_upper_bound, required_coefficient, theorems
from steerbounds.bounds.planner import marginal_gain, marginal_loss, plan_tradeoff
from steerbounds.errors import InputError

HELP = dict(p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4)


def fl(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    r=fl(0.0, 30.0),
    b0=fl(-0.95, 0.95),
    dl=fl(0.01, 3.0),
    p0=fl(0.05, 0.99),
    a=fl(0.01, 1.0),
    eps=fl(0.0, 0.9),
    lsb=fl(0.01, 2.0),
    form=st.sampled_from(["proved", "stated"]),
)
def test_marginals_match_jax_grad_of_the_numeric_bounds(r, b0, dl, p0, a, eps, lsb, form):
    with jax.enable_x64(True):
        gain = float(jax.grad(lambda x: theorems.behavior_lower_bound_kernel(x, b0, dl, form=form))(r))
        loss = -float(jax.grad(lambda x: theorems.helpfulness_kernel(x, p0, a, eps, lsb))(r))
    # JAX differentiates tanh as 1 − tanh², which cancels to ~1e-16·kΔλ where tanh ≈ ±1;
    # marginal_gain uses sech², accurate there.
    assert math.isclose(float(marginal_gain(r, b0, dl, form)), gain, rel_tol=1e-9, abs_tol=1e-14 * dl)
    assert math.isclose(float(marginal_loss(r, p0, a, eps, lsb)), loss, rel_tol=1e-9, abs_tol=1e-15)


def test_plan_with_target_matches_the_bounds():
    plan = plan_tradeoff(b0=-0.5, delta_lambda=0.3, target=0.9, **HELP)
    assert plan.coefficient == pytest.approx(float(required_coefficient(0.9, -0.5, 0.3)))
    assert plan.behavior_at_coefficient == pytest.approx(0.9)
    h = float(helpfulness_upper_bound(plan.coefficient, **HELP))
    h0 = float(helpfulness_upper_bound(0.0, **HELP))
    assert plan.helpfulness_at_coefficient == pytest.approx(h)
    assert plan.relative_helpfulness_cost == pytest.approx(1 - h / h0)
    assert plan.linear_gain == pytest.approx(0.5 * 0.3 * (1 - 0.25))


@pytest.mark.parametrize("form", ["proved", "stated"])
def test_efficient_end_is_where_the_marginals_cross(form):
    plan = plan_tradeoff(b0=-0.5, delta_lambda=0.3, form=form, **HELP)
    r = plan.efficient_end
    assert 0 < r < math.inf
    gain, loss = marginal_gain(r, -0.5, 0.3, form), marginal_loss(r, **HELP)
    assert gain == pytest.approx(loss, rel=1e-8)
    # gain wins strictly before r_eff, loses just after
    before = np.linspace(1e-6, r * (1 - 1e-6), 500)
    assert np.all(marginal_gain(before, -0.5, 0.3, form) > marginal_loss(before, **HELP))
    assert marginal_gain(r * 1.01, -0.5, 0.3, form) < marginal_loss(r * 1.01, **HELP)
    assert plan.behavior_at_efficient_end == pytest.approx(
        float(behavior_lower_bound(r, -0.5, 0.3, form=form))
    )
    assert plan.helpfulness_at_efficient_end == pytest.approx(float(helpfulness_upper_bound(r, **HELP)))


@settings(max_examples=30, deadline=None)
@given(b0=fl(-0.9, 0.9), dl=fl(0.05, 3.0), p0=fl(0.05, 0.95), a=fl(0.05, 1.0), lsb=fl(0.05, 2.0))
def test_efficient_regime_starts_at_zero_and_ends_at_a_crossing(b0, dl, p0, a, lsb):
    plan = plan_tradeoff(b0=b0, delta_lambda=dl, p0=p0, alpha=a, eps=0.0, lam_sigma_beta=lsb)
    r = plan.efficient_end
    assert math.isfinite(r) and r > 0 and plan.crossings[0] == r
    assert float(marginal_gain(r, b0, dl)) == pytest.approx(
        float(marginal_loss(r, p0, a, 0.0, lsb)), rel=1e-6, abs=1e-14
    )
    tiny = r * 1e-3
    assert marginal_gain(tiny, b0, dl) > marginal_loss(tiny, p0, a, 0.0, lsb)


def test_unbounded_and_empty_regimes():
    no_help = plan_tradeoff(b0=0.0, delta_lambda=1.0)
    assert no_help.efficient_end == math.inf and no_help.helpfulness is None
    flat = plan_tradeoff(b0=0.0, delta_lambda=1.0, p0=0.5, alpha=0.5, lam_sigma_beta=0.0)
    assert flat.efficient_end == math.inf and flat.quadratic_loss == 0.0
    no_gain = plan_tradeoff(b0=0.0, delta_lambda=0.0, **HELP)
    assert no_gain.efficient_end == 0.0
    d = json.loads(json.dumps(no_help.as_dict()))
    assert d["efficient_end"] is None and d["efficient_regime_unbounded"] is True


def test_pareto_curve_is_monotone_and_as_dict_round_trips():
    plan = plan_tradeoff(b0=-0.5, delta_lambda=0.3, target=0.9, n_grid=51, **HELP)
    assert plan.r_e.shape == (51,) and plan.r_e[0] == 0.0
    assert plan.r_e[-1] >= plan.coefficient and plan.r_e[-1] >= plan.efficient_end
    assert np.all(np.diff(plan.pareto_behavior) > 0) and np.all(np.diff(plan.pareto_helpfulness) < 0)
    d = json.loads(json.dumps(plan.as_dict()))
    assert d["coefficient"] == pytest.approx(plan.coefficient) and len(d["pareto"]["r_e"]) == 51
    assert d["coefficient_is_efficient"] == plan.coefficient_is_efficient
    assert d["quadratic_loss"] == pytest.approx(-0.6 * 0.4 * 0.45 * 0.16 / (2 * (0.6 + 0.4 * 0.45) ** 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(b0=1.0, delta_lambda=0.3), r"b0 must be in \(-1, 1\)"),
        (dict(b0=float("nan"), delta_lambda=0.3), "b0 must be in"),
        (dict(b0=0.0, delta_lambda=-1.0), "delta_lambda must be in"),
        (dict(b0=0.0, delta_lambda=0.3, p0=0.5), "also give alpha, lam_sigma_beta"),
        (dict(b0=0.0, delta_lambda=0.3, eps=0.1), "also give"),
        (dict(b0=0.0, delta_lambda=0.3, p0=1.5, alpha=0.5, lam_sigma_beta=0.1), "p0 must be in"),
        (dict(b0=0.0, delta_lambda=0.3, target=1.0), "target must be in"),
        (dict(b0=0.0, delta_lambda=0.0, target=0.5), "delta_lambda must be in"),
        (dict(b0=0.0, delta_lambda=0.3, r_max=0.0), "r_max must be in"),
        (dict(b0=0.0, delta_lambda=0.3, n_grid=1), "n_grid must be"),
        (dict(b0=0.0, delta_lambda=0.3, form="exact"), "form must be"),
        (dict(b0=[0.0, 0.1], delta_lambda=0.3), "single number"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        plan_tradeoff(**kwargs)


@pytest.mark.parametrize(
    "param", ["b0", "delta_lambda", "p0", "alpha", "eps", "lam_sigma_beta", "target", "r_max"]
)
@pytest.mark.parametrize("bad", [True, "0.5", 0.5 + 0j, [], np.datetime64("2020-01-01"), 10**400], ids=repr)
def test_bad_types_are_refused_by_name(param, bad):
    kwargs = dict(b0=0.0, delta_lambda=0.3, target=0.5, r_max=10.0, **HELP)
    with pytest.raises(InputError, match=rf"^{param} must"):
        plan_tradeoff(**{**kwargs, param: bad})


@pytest.mark.parametrize("n_grid", [0, 1, 1_000_001, 10**7, True, 2.0, "201"], ids=repr)
def test_n_grid_is_capped(n_grid):
    with pytest.raises(InputError, match=r"^n_grid must be an integer in \[2, 1000000\]"):
        plan_tradeoff(b0=0.0, delta_lambda=0.3, n_grid=n_grid)


def test_r_max_whose_grid_step_would_be_subnormal_is_refused():
    with pytest.raises(InputError, match=r"^r_max must be at least"):
        plan_tradeoff(b0=0.0, delta_lambda=0.3, r_max=1e-306, n_grid=1000)


EXTREMES = dict(
    b0=[-(1 - 1e-16), 0.0, 1 - 1e-16],
    delta_lambda=[1e-300, 1e300],
    p0=[1e-300, 1.0],
    alpha=[1e-300, 1.0],
    eps=[0.0, 1 - 1e-16],
    lam_sigma_beta=[0.0, 1e-300, 1e300],
    target=[None, 1 - 1e-16],
)


@pytest.mark.parametrize("b0", EXTREMES["b0"])
@pytest.mark.parametrize("dl", EXTREMES["delta_lambda"])
@pytest.mark.parametrize("p0", EXTREMES["p0"])
@pytest.mark.parametrize("lsb", EXTREMES["lam_sigma_beta"])
def test_extreme_valid_parameters_give_a_finite_plan(b0, dl, p0, lsb):
    # Was ZeroDivisionError / OverflowError / brentq's "different signs" for some of these.
    for alpha, eps, target in zip(EXTREMES["alpha"], EXTREMES["eps"], EXTREMES["target"], strict=True):
        plan = plan_tradeoff(
            b0=b0, delta_lambda=dl, p0=p0, alpha=alpha, eps=eps, lam_sigma_beta=lsb, target=target, n_grid=11
        )
        for values in (plan.r_e, plan.behavior, plan.helpfulness):
            assert values is not None and np.all(np.isfinite(values))
        assert math.isfinite(plan.linear_gain) and plan.quadratic_loss is not None
        assert math.isfinite(plan.quadratic_loss) and plan.efficient_end >= 0
        json.dumps(plan.as_dict(), allow_nan=False)
