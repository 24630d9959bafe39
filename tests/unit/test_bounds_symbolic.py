"""steerbounds.bounds.symbolic agrees with the numeric bounds; its expansions are exact."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbounds.bounds import RESULTS, theorems
from steerbounds.bounds import symbolic as S
from steerbounds.errors import InputError

REL, ABS = 1e-10, 1e-12  # relative tolerance, with an absolute floor for values that cancel to ~0


def fl(lo: float, hi: float) -> st.SearchStrategy[float]:
    # No subnormals: XLA flushes them to zero, which moves Theorem 4 (corrected) across its
    # jump at Δλ·r_e = 0 while sympy/numpy do not (reported to the lead).
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


b0s = fl(-0.999, 0.999)
dls = fl(0.0, 10.0)
pos_dls = fl(0.01, 10.0)
r_moderate = fl(-50.0, 50.0)  # Δλ·r_e ≤ 500: the naive sympy formulas stay finite


@st.composite
def trinary_points(draw):
    b0 = draw(b0s)
    lo, hi = max(b0, 0.0), (1.0 + b0) / 2.0
    p_plus = lo + draw(fl(0.001, 1.0)) * (hi - lo)
    # Keep Δλ·r_e either 0 or normal (see fl): 0 or |value| ≥ 1e-6 for both factors.
    r_e = draw(st.one_of(st.just(0.0), fl(1e-6, 50.0), fl(-50.0, -1e-6)))
    dl = draw(st.one_of(st.just(0.0), fl(1e-6, 10.0)))
    return dict(r_e=r_e, b0=b0, p_plus=p_plus, delta_lambda=dl)


@st.composite
def general_points(draw):
    p_plus = draw(fl(0.001, 1.0))
    p_minus = (1.0 - p_plus) * draw(st.one_of(st.just(1.0), fl(0.0, 1.0)))
    return dict(
        r_e=draw(r_moderate),
        p_plus=p_plus,
        p_minus=p_minus,
        b_plus=draw(fl(-1.0, 1.0)),
        delta_lambda=draw(dls),
    )


@st.composite
def component_points(draw):
    p0 = draw(fl(0.001, 1.0))
    p_plus = (1.0 - p0) * draw(fl(0.0, 1.0))
    p_minus = (1.0 - p0 - p_plus) * draw(fl(0.0, 1.0))
    return dict(
        r_e=draw(fl(-30.0, 30.0)),
        p0=p0,
        p_plus=p_plus,
        p_minus=p_minus,
        c_plus=draw(fl(0.0, 5.0)),
        c_minus=draw(fl(-5.0, 0.0)),
        lam=draw(fl(0.0, 3.0)),
    )


def helpfulness_base(draw) -> dict:
    return dict(
        r_e=draw(st.one_of(fl(-10.0, 10.0), fl(-1e4, 1e4))),
        alpha=draw(fl(0.0, 1.0)),
        eps=draw(fl(0.0, 0.999)),
        lam_sigma_beta=draw(fl(0.0, 5.0)),
    )


@st.composite
def theorem2_points(draw):
    return dict(helpfulness_base(draw), p0=draw(fl(0.001, 1.0)))


@st.composite
def corollary2_points(draw):
    return dict(helpfulness_base(draw), p0=draw(fl(0.001, 1.0)), n_top=draw(st.integers(1, 100)))


@st.composite
def corollary3_points(draw):
    n = draw(st.integers(1, 4))
    return dict(
        helpfulness_base(draw), p0_steps=np.array(draw(st.lists(fl(0.001, 1.0), min_size=n, max_size=n)))
    )


POINTS = {
    "theorem1": st.fixed_dictionaries(
        dict(r_e=st.one_of(r_moderate, fl(-1e6, 1e6)), b0=b0s, delta_lambda=dls)
    ),
    "theorem3_soft_margin": st.fixed_dictionaries(
        dict(r_e=r_moderate, b0=b0s, delta_lambda=dls, lam=fl(0.0, 3.0), delta=fl(0.0, 1.0), M=fl(0.0, 3.0))
    ),
    "theorem4_trinary": trinary_points(),
    "theorem5_general": general_points(),
    "corollary1": st.fixed_dictionaries(
        dict(eps=fl(0.001, 0.999), gamma=fl(-0.999, -0.001), delta_lambda=pos_dls)
    ),
    "required_coefficient": st.fixed_dictionaries(dict(target=b0s, b0=b0s, delta_lambda=pos_dls)),
    "theorem6_multitoken": st.fixed_dictionaries(
        dict(eps=fl(0.001, 0.999), n_tokens=st.integers(1, 1000), b0=b0s, delta_lambda=pos_dls)
    ),
    "theorem2": theorem2_points(),
    "theorem2_components": component_points(),
    "corollary2_expectation": corollary2_points(),
    "corollary3_multitoken": corollary3_points(),
}

CASES = [(name, form) for name in S.names() for form in (S.forms_of(name) or (None,))]


def numeric(name: str, form: str | None, params: dict) -> float:
    """Call the registry's function, passing the form (or theorem2_components' equation)."""
    result = RESULTS[name]
    extra = {}
    if name == "theorem2_components":
        extra = {"equation": int(form)}
    elif form is not None:
        extra = {"form": form}
    return float(result.function(**params, **extra))


@functools.cache
def symbolic_fn(name: str, form: str | None, n_steps: int):
    return S.lambdified(name, form, n_steps=n_steps)


def symbolic(name: str, form: str | None, params: dict) -> float:
    n_steps = len(params["p0_steps"]) if "p0_steps" in params else 2
    with np.errstate(all="ignore"):
        return float(symbolic_fn(name, form, n_steps)(**params))


def test_every_registry_result_has_a_symbolic_form():
    assert set(S.names()) == set(RESULTS)
    for name, result in RESULTS.items():
        assert tuple(S.symbols_for(name)) == result.params
        if name != "theorem2_components":
            assert S.forms_of(name) == result.forms


def test_points_cover_every_result():
    assert set(POINTS) == set(RESULTS)


@pytest.mark.parametrize(("name", "form"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_symbolic_matches_numeric(name, form):
    @settings(max_examples=200, deadline=None)
    @given(POINTS[name])
    def check(params):
        got, want = symbolic(name, form, params), numeric(name, form, params)
        assert math.isfinite(want)
        assert math.isclose(got, want, rel_tol=REL, abs_tol=ABS), (params, got, want)

    check()


# --------------------------------------------------------------------------- exact coefficients


def test_theorem1_linear_gain_closed_forms():
    assert sp.simplify(S.linear_gain("theorem1", "proved") - S.Δλ / 2 * (1 - S.B_0**2)) == 0
    assert sp.simplify(S.linear_gain("theorem1", "stated") - S.Δλ * (1 - S.B_0**2)) == 0


def test_theorem2_quadratic_coefficient_closed_form():
    a = S.α * (1 - S.ε)
    want = -S.P_0 * (1 - S.P_0) * a * S.λσβ**2 / (2 * (S.P_0 + (1 - S.P_0) * a) ** 2)
    assert sp.simplify(S.quadratic_coefficient("theorem2") - want) == 0
    assert S.taylor("theorem2", order=1).coeff(S.r_e, 1) == 0  # no linear term: parabolic at 0


def _random_rationals(symbols, seed):
    rng = np.random.default_rng(seed)
    return {sym: sp.Rational(int(rng.integers(1, 999)), 1000) for sym in symbols}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_eq80_c_closed_form(n):
    """Exact (rational arithmetic) at random points: c and the bound's r_e² coefficient."""
    steps = [sp.Symbol(f"P_0^{i}", positive=True) for i in range(1, n + 1)]
    a = S.α * (1 - S.ε)
    d = [p + (1 - p) * a for p in steps]
    want = a * S.λσβ**2 / 2 * sum((1 - steps[i]) * sp.Mul(*(d[:i] + d[i + 1 :])) for i in range(n))
    h0 = sp.Mul(*steps) / sp.Mul(*d)
    for seed in range(5):
        point = _random_rationals([*steps, S.α, S.ε, S.λσβ], seed)
        assert S.eq80_c(n).subs(point) == want.subs(point)
        # eq. 79 expanded with eq. 80: the bound's r_e² coefficient is −H(0)·c/Π d_i.
        quad = S.quadratic_coefficient("corollary3_multitoken", n_steps=n)
        assert quad.subs(point) == (-h0 * want / sp.Mul(*d)).subs(point)


def _eval(expr: sp.Expr, name: str, params: dict) -> float:
    subs = {}
    for param, syms in S.symbols_for(name, n_steps=len(params.get("p0_steps", (0, 0)))).items():
        if param == "r_e":
            continue
        if isinstance(syms, tuple):
            subs.update(zip(syms, params[param], strict=True))
        else:
            subs[syms] = params[param]
    return float(expr.subs(subs).evalf(30))


def _kernel(name: str, form: str | None):
    """d/dr_e-able kernel of the numeric bound as a function of r_e (params fixed)."""
    kernels = {
        "theorem1": theorems.behavior_lower_bound_kernel,
        "theorem3_soft_margin": theorems.soft_margin_kernel,
        "theorem4_trinary": theorems.trinary_kernel,
        "theorem5_general": theorems.general_kernel,
        "theorem2": theorems.helpfulness_kernel,
        "corollary2_expectation": theorems.expected_helpfulness_kernel,
        "corollary3_multitoken": theorems.multitoken_helpfulness_kernel,
        "theorem2_components": theorems.components_kernel,
    }
    fn = kernels[name]
    if name == "theorem2_components":
        return functools.partial(fn, equation=int(form))
    return functools.partial(fn, form=form) if form is not None else fn


def _at(name, form, params):
    kernel = _kernel(name, form)
    rest = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items() if k != "r_e"}
    return lambda r: kernel(r, **rest)


LINEAR = [
    ("theorem1", "proved"),
    ("theorem1", "stated"),
    ("theorem3_soft_margin", "proved"),
    ("theorem3_soft_margin", "stated"),
    ("theorem5_general", None),
]


@pytest.mark.parametrize(("name", "form"), LINEAR)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_linear_gain_matches_jax_grad(name, form, data):
    params = data.draw(POINTS[name])
    if name == "theorem3_soft_margin":
        params["delta"] = params["delta"] * (1 + params["b0"]) / 4  # floor at −1 inactive at 0
    want = _eval(S.linear_gain(name, form), name, params)
    with jax.enable_x64(True):
        got = float(jax.grad(_at(name, form, params))(0.0))
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(trinary_points(), st.sampled_from(["stated", "corrected"]))
def test_trinary_linear_gain_matches_one_sided_difference(params, form):
    """Theorem 4 at 0⁺: the exact slope (Piecewise in sign B0) vs a one-sided difference.

    (Not jax.grad: the kernel's min/max/where split the gradient at exactly r_e = 0.)
    """
    params = dict(params, delta_lambda=max(params["delta_lambda"], 0.1))
    if form == "corrected" and abs(params["b0"]) < 1e-3:
        params["b0"] = 0.2
        params["p_plus"] = 0.5
    slope = _eval(S.linear_gain("theorem4_trinary", form), "theorem4_trinary", params)
    const = _eval(S.taylor("theorem4_trinary", form, order=0), "theorem4_trinary", params)
    h = 1e-6
    value = float(
        theorems.trinary_behavior_lower_bound(
            h, params["b0"], params["p_plus"], params["delta_lambda"], form=form
        )
    )
    assert math.isclose((value - const) / h, slope, rel_tol=1e-4, abs_tol=1e-4 * params["delta_lambda"] ** 2)


QUADRATIC = [
    ("theorem2", None),
    ("corollary2_expectation", "proved"),
    ("corollary2_expectation", "stated"),
    ("corollary3_multitoken", None),
    ("theorem2_components", "36"),
]


@pytest.mark.parametrize(("name", "form"), QUADRATIC)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_quadratic_coefficient_matches_jax_hessian(name, form, data):
    params = data.draw(POINTS[name])
    n_steps = len(params["p0_steps"]) if "p0_steps" in params else 2
    want = _eval(S.quadratic_coefficient(name, form, n_steps=n_steps), name, params)
    with jax.enable_x64(True):
        f = _at(name, form, params)
        got = float(jax.hessian(f)(0.0)) / 2.0
        slope = float(jax.grad(f)(0.0))
    assert slope == 0.0
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("equation", ["33", "34"])
@settings(max_examples=30, deadline=None)
@given(component_points())
def test_components_taylor_at_zero_plus(equation, params):
    """Eqs. 33/34 depend on |r_e|: their expansion at 0⁺ has a linear term; check to O(h³)."""
    poly = S.taylor("theorem2_components", equation, order=2)
    h = 1e-3
    want = _eval(poly.subs(S.r_e, h), "theorem2_components", params)
    got = numeric("theorem2_components", equation, dict(params, r_e=h))
    assert abs(got - want) < 1e-6 * (1 + params["lam"] * 5) ** 3


# --------------------------------------------------------------------------- asymptotics


@pytest.mark.parametrize(
    ("name", "form", "direction", "params", "r"),
    [
        ("theorem1", "proved", 1, dict(b0=-0.5, delta_lambda=0.7), 25.0),
        ("theorem1", "stated", 1, dict(b0=0.3, delta_lambda=0.4), 18.0),
        ("theorem1", "proved", -1, dict(b0=0.2, delta_lambda=1.1), -15.0),
        ("theorem2", None, 1, dict(p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4), 1e5),
        ("theorem2", None, -1, dict(p0=0.9, alpha=0.2, eps=0.3, lam_sigma_beta=2.0), -1e5),
        (
            "corollary2_expectation",
            "proved",
            1,
            dict(p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4, n_top=4),
            1e5,
        ),
        (
            "corollary2_expectation",
            "stated",
            1,
            dict(p0=0.6, alpha=0.5, eps=0.1, lam_sigma_beta=0.4, n_top=4),
            1e5,
        ),
        (
            "corollary3_multitoken",
            None,
            1,
            dict(p0_steps=(0.7, 0.9), alpha=0.5, eps=0.1, lam_sigma_beta=0.4),
            1e4,
        ),
        ("theorem4_trinary", "stated", 1, dict(b0=-0.2, p_plus=0.3, delta_lambda=0.5), 50.0),
        ("theorem4_trinary", "corrected", 1, dict(b0=-0.2, p_plus=0.3, delta_lambda=0.5), 50.0),
        ("theorem5_general", None, 1, dict(p_plus=0.3, p_minus=0.7, b_plus=0.6, delta_lambda=0.5), 50.0),
    ],
)
def test_asymptote_matches_numeric_and_sympy_limit(name, form, direction, params, r):
    a = S.asymptote(name, form, direction, n_steps=len(params.get("p0_steps", (0, 0))))
    limit = _eval(a.limit, name, params)
    lead = _eval(a.leading.subs(S.r_e, r), name, params)
    value = numeric(name, form, dict(params, r_e=r))
    assert math.isclose(value - limit, lead, rel_tol=1e-3)
    # and exactly, via sympy's limit of the ratio at concrete parameters
    subs_expr = S.expression(name, form, n_steps=len(params.get("p0_steps", (0, 0))))
    concrete = {}
    for param, syms in S.symbols_for(name, n_steps=len(params.get("p0_steps", (0, 0)))).items():
        if param != "r_e":
            concrete.update(
                zip(syms, params[param], strict=True) if isinstance(syms, tuple) else {syms: params[param]}
            )
    concrete = {k: sp.nsimplify(v) for k, v in concrete.items()}
    if name == "theorem4_trinary" and form == "corrected":
        # sympy cannot take limits of Min; at large r_e the minimum is eq. 66 (the numeric
        # check above covers the corrected form itself).
        subs_expr = S.expression(name, "stated")
    ratio = ((subs_expr - a.limit) / a.leading).subs(concrete)
    assert sp.limit(ratio, S.r_e, sp.oo * direction) == 1


def test_corollary2_tends_to_one_over_t():
    assert S.asymptote("corollary2_expectation", "proved").limit == 1 / S.T
    assert sp.limit(S.expression("corollary2_expectation", "proved").subs(S.λσβ, 1), S.r_e, sp.oo) == 1 / S.T


# --------------------------------------------------------------------------- inversions


@settings(max_examples=100, deadline=None)
@given(b0s, b0s, pos_dls, st.sampled_from(["stated", "proved"]))
def test_theorem1_inversion_is_required_coefficient(target, b0, dl, form):
    inv = float(S.inversion("theorem1", form).subs({S.B_star: target, S.B_0: b0, S.Δλ: dl}))
    req = float(theorems.required_coefficient(target, b0, dl, form=form))
    assert math.isclose(max(inv, 0.0), req, rel_tol=1e-10, abs_tol=1e-12)
    if inv > 0:
        back = float(theorems.behavior_lower_bound(inv, b0, dl, form=form))
        assert math.isclose(back, target, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    theorem2_points(),
    fl(0.01, 0.99),
    st.sampled_from(
        [("theorem2", None), ("corollary2_expectation", "proved"), ("corollary2_expectation", "stated")]
    ),
)
def test_helpfulness_inversion_round_trips(params, frac, case):
    name, form = case
    params = dict(
        params,
        alpha=max(params["alpha"], 0.01),
        lam_sigma_beta=max(params["lam_sigma_beta"], 0.01),
        p0=min(params["p0"], 0.999),
        n_top=4,
    )
    params = {k: v for k, v in params.items() if k in RESULTS[name].params}
    top = numeric(name, form, dict(params, r_e=0.0))
    floor = 0.25 if name == "corollary2_expectation" else 0.0
    target = floor + frac * (top - floor)
    r = _eval(S.inversion(name, form).subs(S.H_star, target), name, params)
    assert r >= 0
    assert math.isclose(numeric(name, form, dict(params, r_e=r)), target, rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(trinary_points(), fl(0.0, 0.99), st.sampled_from(["stated", "corrected"]))
def test_trinary_inversion_round_trips(params, frac, form):
    params = dict(params, delta_lambda=max(params["delta_lambda"], 0.1))
    start = numeric("theorem4_trinary", form, dict(params, r_e=1e-9))
    target = start + frac * (0.999 - start) + 1e-6
    r = _eval(S.inversion("theorem4_trinary", form).subs(S.B_star, target), "theorem4_trinary", params)
    assert r > 0
    assert math.isclose(
        numeric("theorem4_trinary", form, dict(params, r_e=r)), target, rel_tol=1e-8, abs_tol=1e-10
    )


@settings(max_examples=100, deadline=None)
@given(general_points(), fl(0.01, 0.99))
def test_general_inversion_round_trips(params, frac):
    p_plus = min(params["p_plus"], 0.99)
    params = dict(
        params,
        delta_lambda=max(params["delta_lambda"], 0.1),
        p_plus=p_plus,
        p_minus=min(max(params["p_minus"], 1e-3), 1.0 - p_plus),
    )
    start = numeric("theorem5_general", None, dict(params, r_e=0.0))
    if params["b_plus"] - start < 1e-6:
        return
    target = start + frac * (params["b_plus"] - start)
    r = _eval(S.inversion("theorem5_general").subs(S.B_star, target), "theorem5_general", params)
    assert math.isclose(
        numeric("theorem5_general", None, dict(params, r_e=r)), target, rel_tol=1e-8, abs_tol=1e-10
    )


def test_bad_names_and_forms_raise_input_error():
    with pytest.raises(InputError, match="unknown result"):
        S.expression("theorem9")
    with pytest.raises(InputError, match="form of theorem1"):
        S.expression("theorem1", "exact")
    with pytest.raises(InputError, match="single form"):
        S.expression("theorem2", "stated")
    with pytest.raises(InputError, match="n_steps"):
        S.expression("corollary3_multitoken", n_steps=0)
    with pytest.raises(InputError, match="coefficient"):
        S.taylor("required_coefficient")
