"""steerbounds.bounds.estimators: planted λ, σ, β, Δλ, α recovered; bad input rejected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from steerbounds.bounds import estimators as est
from steerbounds.errors import InputError

SQRT2 = math.sqrt(2.0)


def planted_noise(seed=0, sigma=0.7, lam=3.0, V=3000, d=64, T=10, queries=300, grid=9):
    """Rows (query, r_e) with δr = λ r_e u_q and U entries N(0, σ²): X_i = ⟨u, Uᵀe_i⟩ ~ N(0, σ²)."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, sigma, (V, d))
    r_grid = np.linspace(0.0, 2.0, grid)
    r, dr, top, correct = [], [], [], []
    for _ in range(queries):
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)
        ids = rng.choice(V, T, replace=False)
        for c in r_grid:
            r.append(c)
            dr.append(lam * c * u)
            top.append(ids)
            correct.append(ids[0])
    return np.array(r), np.array(dr), U, np.array(top), np.array(correct)


def test_fit_slope_exact_line_and_intercept():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    fit = est.fit_slope(x, 2.5 * x)
    assert fit.slope == pytest.approx(2.5) and fit.stderr == pytest.approx(0.0, abs=1e-12) and fit.n == 4
    fit = est.fit_slope(x, 2.5 * x + 1.0, through_origin=False)
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((2.5, 1.0, 1.0))
    fit = est.fit_slope(np.array([1.0, 2.0, 10.0]), np.array([1.0, 2.0, 0.0]), max_abs_x=5)
    assert fit.slope == pytest.approx(1.0) and fit.n == 2


def test_fit_slope_stderr_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, 200)
    y = 1.7 * x + 0.4 + rng.normal(0, 0.3, 200)
    fit = est.fit_slope(x, y, through_origin=False)
    ref = stats.linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope) and fit.stderr == pytest.approx(ref.stderr)
    assert fit.r2 == pytest.approx(ref.rvalue**2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(x=[1.0], y=[1.0]),
        dict(x=[0.0, 0.0], y=[1.0, 2.0]),
        dict(x=[1.0, np.nan], y=[1.0, 2.0]),
        dict(x=[1.0, 2.0], y=[1.0]),
        dict(x=[1.0, 2.0], y=[1.0, 2.0], max_abs_x=-1.0),
    ],
)
def test_fit_slope_rejects_bad_input(kwargs):
    with pytest.raises(InputError):
        est.fit_slope(**kwargs)


def test_planted_lambda_sigma_beta_recovered():
    sigma, lam = 0.7, 3.0
    r, dr, U, top, correct = planted_noise(sigma=sigma, lam=lam)
    L = est.estimate_lambda(r, dr, U)
    assert L.lam.slope == pytest.approx(lam, rel=1e-12)
    # |U u| ≈ σ sqrt(V) for Gaussian U
    assert L.lam_logits.slope == pytest.approx(lam * sigma * math.sqrt(U.shape[0]), rel=0.05)
    proj = est.logit_noise_projections(dr, U, top, correct)
    assert proj.shape == (r.size, top.shape[1] - 1)  # the correct token's own 0 dropped
    S = est.estimate_sigma(r, proj, lam=L.lam.slope)
    assert S.sigma == pytest.approx(sigma, rel=0.03)
    assert S.lam_sigma.slope == pytest.approx(lam * sigma, rel=0.03)
    # pooled over queries the difference X_i − X_c has std sqrt(2)·σ
    assert S.lam_sigma_pooled.slope == pytest.approx(SQRT2 * lam * sigma, rel=0.05)
    assert S.lam_sigma_beta_half_normal == pytest.approx(est.HALF_NORMAL_MEAN * SQRT2 * lam * sigma, rel=0.05)
    assert S.lam_sigma_beta_mean_abs.slope == pytest.approx(S.lam_sigma_beta_half_normal, rel=0.05)
    # the proof's β is a min of two means of T/2-ish half-normals: below the half-normal mean
    assert 0.2 < S.beta_proof < est.HALF_NORMAL_MEAN * SQRT2
    assert abs(S.skewness) < 0.1 and abs(S.excess_kurtosis) < 0.2
    assert S.normaltest_pvalue > 1e-3


def test_sigma_flags_non_normal_noise():
    rng = np.random.default_rng(2)
    r = np.repeat(np.linspace(0.5, 2.0, 4), 400)
    proj = r[:, None] * rng.laplace(0.0, 1.0, (r.size, 12))
    S = est.estimate_sigma(r, proj)
    assert S.excess_kurtosis > 1.0 and S.normaltest_pvalue < 1e-6
    assert S.lam_sigma.slope == pytest.approx(SQRT2, rel=0.05)  # std of Laplace(1)


def test_beta_proof_matches_realised_theorem2_parameters():
    rng = np.random.default_rng(3)
    T, lam = 8, 2.0
    p = rng.dirichlet(np.ones(T), size=50)
    X = rng.normal(size=(50, T))
    params = est.realised_theorem2_parameters(p, 0, X, np.arange(T))
    r = np.repeat([0.5, 1.0], 50)
    proj = lam * r[:, None] * np.tile(X[:, 1:] - X[:, :1], (2, 1))
    S = est.estimate_sigma(r, proj, weights=np.tile(p[:, 1:], (2, 1)))
    keep = params.both_nonempty
    expected = est.fit_slope(r[np.tile(keep, 2)], (lam * r * np.tile(params.sigma_beta, 2))[np.tile(keep, 2)])
    assert S.lam_sigma_beta_proof.slope == pytest.approx(expected.slope, rel=1e-12)


def test_realised_theorem2_parameters_by_hand():
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.1])
    X = np.array([0.0, 1.0, 3.0, -2.0, 5.0])
    got = est.realised_theorem2_parameters(p, 0, X, np.array([0, 1, 2, 3]))  # token 4 outside the top-T
    assert got.p0 == pytest.approx(0.5)
    assert (got.p_plus, got.p_minus) == pytest.approx((0.3, 0.1))
    assert got.c_plus == pytest.approx((0.2 * 1 + 0.1 * 3) / 0.3) and got.c_minus == pytest.approx(-2.0)
    assert got.eps == pytest.approx(1 - 0.4 / 0.5)
    assert got.alpha_one_minus_eps == pytest.approx(0.1 / 0.5)
    assert got.alpha == pytest.approx(0.25)
    assert got.sigma_beta == pytest.approx(min(2.0, 0.5 / 0.3))
    assert bool(got.both_nonempty)
    one_sided = est.realised_theorem2_parameters(p, 0, -np.abs(X), np.arange(4))
    assert not bool(one_sided.both_nonempty) and one_sided.alpha == 0 and one_sided.sigma_beta == 0


def test_alpha_estimate_is_scale_free():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(6), size=20)
    X = rng.normal(size=(20, 6))
    a1 = est.estimate_alpha(p, np.zeros(20, int), np.arange(6), X)
    a2 = est.estimate_alpha(p, np.zeros(20, int), np.arange(6), 37.0 * X)
    np.testing.assert_allclose(a1.alpha, a2.alpha)
    assert np.all(a1.alpha <= 0.5)  # min(P+, P−)/(P+ + P−)
    assert 0 < a1.fraction_both_nonempty <= 1


def test_planted_delta_lambda_recovered():
    rng = np.random.default_rng(5)
    d, lam, delta = 16, 2.5, 0.4
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    # 5 bad tokens with projections ≤ 0 on u, 5 good ones ≥ Δ above the best bad one
    bad_x = -rng.uniform(0, 1, 5)
    good_x = bad_x.max() + delta + np.r_[0.0, rng.uniform(0, 1, 4)]
    xs = np.r_[good_x, bad_x]
    # U with ⟨u, Uᵀe_i⟩ = xs_i exactly, plus components orthogonal to u
    noise = rng.normal(size=(10, d))
    noise -= np.outer(noise @ u, u)
    U = noise + np.outer(xs, u)
    r = np.linspace(0.1, 3.0, 12)
    dr = lam * r[:, None] * u[None, :]
    got = est.estimate_delta_lambda(r, dr, U, np.arange(5), np.arange(5, 10))
    assert got.hard_margin.slope == pytest.approx(delta * lam, rel=1e-9)
    assert got.hard_margin_lower == pytest.approx(delta * lam, rel=1e-9)
    assert got.mean_separation.slope == pytest.approx(lam * (good_x.mean() - bad_x.mean()), rel=1e-9)
    assert got.separates
    # the logit-change path (U None) gives the same numbers
    same = est.estimate_delta_lambda(r, dr @ U.T, None, np.arange(5), np.arange(5, 10))
    assert same.hard_margin.slope == pytest.approx(got.hard_margin.slope)


def test_logit_noise_projections_rules():
    lc = np.arange(12.0).reshape(2, 6)
    out = est.logit_noise_projections(lc, None, np.array([1, 2, 3]), 0)
    np.testing.assert_allclose(out, [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(InputError, match="every row or in none"):
        est.logit_noise_projections(lc, None, np.array([[0, 1], [2, 3]]), np.array([0, 0]))
    with pytest.raises(InputError, match="top_ids"):
        est.logit_noise_projections(lc, None, np.array([1, 9]), 0)
    with pytest.raises(InputError, match="U must be"):
        est.logit_noise_projections(lc, np.ones((6, 3)), np.array([1, 2]), 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: est.estimate_lambda([1.0, 2.0], np.ones((3, 4))),
        lambda: est.estimate_sigma([1.0, 1.0], np.ones((2, 3))),
        lambda: est.estimate_sigma([1.0, 2.0], np.ones((2, 1))),
        lambda: est.estimate_sigma([1.0, 2.0], np.ones((2, 3)), lam=-1.0),
        lambda: est.realised_theorem2_parameters([1.0, 0.0], 0, [0.0, 1.0], [0, 1]),
        lambda: est.realised_theorem2_parameters([0.5, 0.5], 0, [0.0, np.nan], [0, 1]),
        lambda: est.estimate_delta_lambda([1.0, 2.0], np.ones((2, 4)), None, [0, 1], [1, 2]),
        lambda: est.estimate_delta_lambda([-1.0, 2.0], np.ones((2, 4)), None, [0], [1]),
    ],
)
def test_invalid_settings_rejected(call):
    with pytest.raises(InputError):
        call()
