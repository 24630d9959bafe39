"""steerbounds.bounds.fitting recovers planted parameters with calibrated standard errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from steerbounds.bounds import behavior_lower_bound, expected_helpfulness_upper_bound, helpfulness_upper_bound
from steerbounds.bounds.fitting import fit_behavior_curve, fit_helpfulness_curve
from steerbounds.errors import InputError

SEEDS = range(10)
R = np.linspace(-4.0, 4.0, 33)


def noisy_behavior(seed, dl=1.2, b0=-0.4, form="proved", noise=0.02):
    rng = np.random.default_rng(seed)
    clean = np.asarray(behavior_lower_bound(R, b0, dl, form=form))
    return np.clip(clean + rng.normal(0.0, noise, R.size), -1.0, 1.0)


def noisy_helpfulness(seed, p0=0.6, a=0.45, lsb=0.5, floor=None, noise=0.01, r=R):
    rng = np.random.default_rng(seed)
    if floor is None:
        clean = np.asarray(helpfulness_upper_bound(r, p0, a, 0.0, lsb))
    else:
        clean = np.asarray(expected_helpfulness_upper_bound(r, p0, a, 0.0, lsb, 1.0 / floor))
    return np.clip(clean + rng.normal(0.0, noise, r.size), 0.0, 1.0)


@pytest.mark.parametrize("form", ["proved", "stated"])
def test_behavior_fit_recovers_planted_parameters_and_se_is_calibrated(form):
    dl = 1.2 if form == "proved" else 0.6
    covered = 0
    for seed in SEEDS:
        fit = fit_behavior_curve(R, noisy_behavior(seed, dl=dl, form=form), form=form)
        assert abs(fit.delta_lambda - dl) < 0.1 * dl
        assert abs(fit.b0 + 0.4) < 0.05
        assert 0 < fit.stderr["delta_lambda"] < 0.1 * dl
        covered += (
            abs(fit.delta_lambda - dl) < 3 * fit.stderr["delta_lambda"]
            and abs(fit.b0 + 0.4) < 3 * fit.stderr["b0"]
        )
    assert covered >= 8


def test_behavior_fit_with_fixed_b0_and_absolute_sigma():
    covered = 0
    for seed in SEEDS:
        fit = fit_behavior_curve(R, noisy_behavior(seed), fit_b0=False, b0=-0.4, sigma=0.02)
        assert fit.b0 == -0.4 and set(fit.stderr) == {"delta_lambda"}
        covered += abs(fit.delta_lambda - 1.2) < 3 * fit.stderr["delta_lambda"]
    assert covered >= 8


def test_behavior_fit_from_a_saturated_step():
    """A steep curve (Δλ large, as greedy decoding gives) still converges."""
    y = np.asarray(behavior_lower_bound(R, -0.9, 8.0))
    fit = fit_behavior_curve(R, y)
    assert math.isclose(fit.delta_lambda, 8.0, rel_tol=1e-3)
    assert fit.rmse < 1e-6 and fit.r_squared > 0.999999


def test_behavior_fit_extras():
    y = noisy_behavior(0)
    fit = fit_behavior_curve(R, y)
    np.testing.assert_allclose(fit.residuals, y - fit.predict(R), atol=1e-12)
    assert fit.n == R.size
    assert math.isclose(fit.rmse, float(np.sqrt(np.mean(fit.residuals**2))))
    assert 0.9 < fit.r_squared <= 1.0
    d = json.loads(json.dumps(fit.as_dict()))
    assert d["delta_lambda"] == fit.delta_lambda and d["form"] == "proved" and len(d["residuals"]) == R.size
    assert np.asarray(d["covariance"]).shape == (2, 2)


def test_helpfulness_fit_with_p0_recovers_and_is_calibrated():
    covered = 0
    for seed in SEEDS:
        fit = fit_helpfulness_curve(R, noisy_helpfulness(seed), p0=0.6)
        assert fit.fitted == ("lam_sigma_beta", "alpha_eff")
        assert abs(fit.lam_sigma_beta - 0.5) < 0.05
        assert abs(fit.alpha_eff - 0.45) < 0.05
        covered += (
            abs(fit.lam_sigma_beta - 0.5) < 3 * fit.stderr["lam_sigma_beta"]
            and abs(fit.alpha_eff - 0.45) < 3 * fit.stderr["alpha_eff"]
        )
    assert covered >= 8


def test_helpfulness_fit_without_p0_fits_the_identifiable_pair():
    """λσβ is identifiable; P0 and α_eff only via h0 = P0/(P0 + (1 − P0)α_eff)."""
    p0, a = 0.6, 0.45
    h0 = p0 / (p0 + (1 - p0) * a)
    for seed in SEEDS:
        fit = fit_helpfulness_curve(R, noisy_helpfulness(seed, p0=p0, a=a))
        assert fit.alpha_eff == 1.0 and fit.fitted == ("lam_sigma_beta", "p0")
        assert abs(fit.lam_sigma_beta - 0.5) < 0.05
        assert abs(fit.p0 - h0) < 0.02 and math.isclose(fit.h0, fit.p0)
        given_a = fit_helpfulness_curve(R, noisy_helpfulness(seed, p0=p0, a=a), alpha_eff=a)
        assert abs(given_a.p0 - p0) < 0.03


def test_helpfulness_fit_with_corollary2_floor():
    r = np.linspace(-12.0, 12.0, 49)  # far enough out to see the floor 1/T = 1/4
    covered = 0
    for seed in SEEDS:
        y = noisy_helpfulness(seed, floor=0.25, r=r)
        fit = fit_helpfulness_curve(r, y, p0=0.6, floor=0.25, sigma=0.01)
        assert abs(fit.lam_sigma_beta - 0.5) < 0.05 and abs(fit.alpha_eff - 0.45) < 0.06
        np.testing.assert_allclose(fit.predict(r), y - fit.residuals, atol=1e-12)
        assert fit.predict(1e6) == pytest.approx(0.25, abs=1e-6)
        covered += abs(fit.lam_sigma_beta - 0.5) < 3 * fit.stderr["lam_sigma_beta"]
        d = json.loads(json.dumps(fit.as_dict()))
        assert d["floor"] == 0.25 and d["h0"] == pytest.approx(fit.h0)
    assert covered >= 8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fit_behavior_curve([0.0, 1.0], [0.1, 0.2]), "at least 3 points"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, np.nan, 0.3]), "behavior must lie"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2]), "same length"),
        (lambda: fit_behavior_curve([[0.0, 1.0, 2.0]], [[0.1, 0.2, 0.3]]), "1-D"),
        (lambda: fit_behavior_curve([0.0, np.inf, 2.0], [0.1, 0.2, 0.3]), "r_e must be finite"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 1.2, 0.3]), r"\[-1, 1\]"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2, 0.3], fit_b0=False), "b0 is required"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2, 0.3], b0=1.0), r"b0 must be in \(-1, 1\)"),
        (lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2, 0.3], form="exact"), "form must be"),
        (
            lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2, 0.3], sigma=[1.0, 0.0, 1.0]),
            "sigma must be positive",
        ),
        (
            lambda: fit_behavior_curve([0.0, 1.0, 2.0], [0.1, 0.2, 0.3], sigma=[1.0, 1.0]),
            "sigma must be a scalar",
        ),
        (lambda: fit_behavior_curve([1.0, 1.0, 1.0], [0.1, 0.2, 0.3]), "distinct"),
        (lambda: fit_helpfulness_curve([0.0, 1.0], [0.5, 0.4]), "at least 3 points"),
        (
            lambda: fit_helpfulness_curve([0.0, 1.0, 2.0], [0.5, -0.1, 0.3]),
            r"helpfulness must lie in \[0, 1\]",
        ),
        (
            lambda: fit_helpfulness_curve([0.0, 1.0, 2.0], [0.5, 0.4, 0.3], p0=0.5, alpha_eff=0.5),
            "at most one",
        ),
        (lambda: fit_helpfulness_curve([0.0, 1.0, 2.0], [0.5, 0.4, 0.3], p0=1.0), r"p0 must be in \(0, 1\)"),
        (
            lambda: fit_helpfulness_curve([0.0, 1.0, 2.0], [0.5, 0.4, 0.3], floor=float("nan")),
            "floor must be in",
        ),
        (
            lambda: fit_helpfulness_curve([0.0, 1.0, 2.0], [0.5, 0.4, 0.3], alpha_eff=0.0),
            "alpha_eff must be in",
        ),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def _stats(fit):
    return {
        "stderr": dict(fit.stderr),
        "covariance": fit.covariance.tolist(),
        "residuals": fit.residuals.tolist(),
        "rmse": fit.rmse,
        "r_squared": fit.r_squared,
        "n": fit.n,
    }


def test_as_dict_keys_order_and_values():
    """The fits' dictionaries (summary.json, ``calibrate --json`` show them in this order)."""
    pairs = [
        (b, {"delta_lambda": b.delta_lambda, "b0": b.b0, "form": b.form, "fit_b0": b.fit_b0, **_stats(b)})
        for b in (
            fit_behavior_curve(R, noisy_behavior(0)),
            fit_behavior_curve(R, noisy_behavior(0), fit_b0=False, b0=-0.4),
        )
    ]
    h = fit_helpfulness_curve(R, noisy_helpfulness(0), p0=0.6, floor=0.25)
    expected_h = {
        "lam_sigma_beta": h.lam_sigma_beta,
        "alpha_eff": h.alpha_eff,
        "p0": h.p0,
        "h0": h.h0,
        "floor": h.floor,
        "fitted": list(h.fitted),
        **_stats(h),
    }
    for fit, expected in (*pairs, (h, expected_h)):
        got = fit.as_dict()
        assert list(got) == list(expected) and got == expected
        assert json.dumps(got) == json.dumps(expected)
