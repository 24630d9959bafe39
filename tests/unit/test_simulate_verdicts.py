"""steerbounds.simulate verdicts: default forms never fail; known counterexamples; seeding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import steerbounds.bounds as bounds
from steerbounds.errors import InputError
from steerbounds.simulate import instances as inst
from steerbounds.simulate.checks import CHECKS, TOLERANCE, Evaluation
from steerbounds.simulate.claims import clopper_pearson
from steerbounds.simulate.figures import trinary_counterexample, two_token
from steerbounds.simulate.verdicts import exit_status, replay, run_verdicts

WIDTH = 8  # hypothesis instances are padded to one width: one JAX compilation
finite = dict(allow_nan=False, allow_infinity=False)


def _pad(values, fill):
    out = np.full((1, WIDTH), fill, dtype=float)
    out[0, : len(values)] = values
    return out


@st.composite
def alignment_instances(draw, kind="binary"):
    """Tokens satisfying Assumption 2 (and 4 for soft), with their scores."""
    n_pos = draw(st.integers(1, 3))
    n_neg = draw(st.integers(1, 3))
    n_neu = draw(st.integers(1, 2)) if kind == "trinary" else 0
    n_mis = draw(st.integers(0, 1)) if kind == "soft" else 0
    n = n_pos + n_neg + n_neu + n_mis
    logits = draw(st.lists(st.floats(-12, 12, **finite), min_size=n, max_size=n))
    others = draw(st.lists(st.floats(-40, 3, **finite), min_size=n_neg + n_neu, max_size=n_neg + n_neu))
    margin = draw(st.floats(0.01, 3.0, **finite))
    extra = draw(st.lists(st.floats(0, 3, **finite), min_size=n_pos, max_size=n_pos))
    top = max(others)
    xs = [top + margin + e for e in extra] + others
    mis = draw(st.lists(st.floats(-2, 2, **finite), min_size=n_mis, max_size=n_mis))
    xs += [min(xs[:n_pos]) + m for m in mis]
    if kind == "general":
        b_plus = draw(st.floats(-1, 0.9, **finite))
        pos = draw(st.lists(st.floats(b_plus + 1e-6, 1, **finite), min_size=n_pos, max_size=n_pos))
        neg = draw(st.lists(st.floats(-1, b_plus, **finite), min_size=n_neg, max_size=n_neg))
        scores = pos + neg
    else:
        b_plus = 0.0
        scores = [1.0] * n_pos + [-1.0] * n_neg + [0.0] * n_neu + [-1.0] * n_mis
    mis_flags = [False] * (n - n_mis) + [True] * n_mis
    lam = draw(st.floats(0.1, 10, **finite))
    r = draw(st.lists(st.floats(0, 30, **finite), min_size=3, max_size=3))
    batch = inst.AlignmentBatch(
        logits=_pad(logits, -np.inf),
        X=_pad(xs, 0.0),
        score=_pad(scores, 0.0),
        misclassified=_pad(mis_flags, 0.0).astype(bool),
        lam=np.array([lam]),
        b_plus=np.array([b_plus]),
    )
    return batch, {"r_e": np.array([r])}


@st.composite
def helpfulness_instances(draw):
    T = draw(st.integers(2, 6))
    n_rest = draw(st.integers(0, WIDTH - T))
    logits = draw(st.lists(st.floats(-10, 10, **finite), min_size=T + n_rest, max_size=T + n_rest))
    xs = draw(st.lists(st.floats(-5, 5, **finite), min_size=T + n_rest, max_size=T + n_rest))
    lam = draw(st.floats(0.1, 10, **finite))
    r = draw(st.lists(st.floats(-30, 30, **finite), min_size=3, max_size=3))
    top = np.zeros((1, WIDTH), bool)
    top[0, :T] = True
    batch = inst.HelpfulnessBatch(
        logits=_pad(logits, -np.inf), X=_pad(xs, 0.0), top=top, lam=np.array([lam]), sigma=np.array([1.0])
    )
    return batch, {"r_e": np.array([r])}


def _holds(
    name: str, form: str | None, case: tuple[inst.AlignmentBatch | inst.HelpfulnessBatch, dict]
) -> Evaluation:
    """Assert the result holds on a drawn instance that meets its assumptions.

    An instance outside the assumptions (``ok`` false) is rejected with ``assume``, not
    passed: if no drawn instance is valid, hypothesis fails (Unsatisfiable, or its
    filter_too_much health check) instead of the test passing vacuously.
    """
    batch, extras = case
    ev = CHECKS[name].evaluate(batch, extras, form)
    assume(bool(ev.ok[0]))
    event(f"{name} [{form}]: instance within the assumptions")
    assert ev.slack.min() >= -TOLERANCE, (name, form, ev.true, ev.bound)
    return ev


@pytest.mark.parametrize(
    ("name", "form", "kind", "max_examples"),
    [
        ("theorem1", "proved", "binary", 60),
        ("theorem3_soft_margin", "proved", "soft", 40),
        ("theorem4_trinary", "corrected", "trinary", 60),
        ("theorem5_general", None, "general", 40),
    ],
)
def test_alignment_result_never_fails(name, form, kind, max_examples):
    @settings(max_examples=max_examples, deadline=None)
    @given(alignment_instances(kind))
    def check(case):
        _holds(name, form, case)

    check()


def test_theorem2_family_never_fails():
    """Every instance is within Theorem 2's assumptions; eq. 6 is informative (< 1) only
    when I+ and I− are both non-empty, so at least one drawn instance must be."""
    two_sided: list[bool] = []

    @settings(max_examples=60, deadline=None)
    @given(helpfulness_instances())
    def check(case):
        ev = _holds("theorem2", None, case)
        for eq in ("eq33", "eq34", "eq36"):
            _holds("theorem2_components", eq, case)
        _holds("corollary2_expectation", "proved", case)
        both = bool(ev.params["both_nonempty"][0])
        event("I+ and I- both non-empty" if both else "I+ or I- empty")
        two_sided.append(both)

    check()
    assert any(two_sided), f"none of {len(two_sided)} drawn instances had I+ and I- both non-empty"


def test_two_token_instance_is_exactly_the_proved_bound():
    b = two_token(-0.5)
    r = np.linspace(0.0, 6.0, 13)
    true = inst.behaviour_curve(b, r)[0]
    np.testing.assert_allclose(true, np.tanh(r / 2 + math.atanh(-0.5)), atol=1e-14)
    stated = np.asarray(bounds.behavior_lower_bound(r, -0.5, 1.0, form="stated"))
    assert np.all(true[1:] < stated[1:])  # eq. 5 violated for every r_e > 0


def test_trinary_counterexample_numbers():
    b = trinary_counterexample()  # P+ = 0.1, P- = 0.5, P0 = 0.4, neutral far below, Δλ r_e = 0.1
    true = inst.behaviour_curve(b, np.array([0.1]))[0, 0]
    expected = (0.1 * math.exp(0.1) - 0.5) / (0.1 * math.exp(0.1) + 0.5 + 0.4 * math.exp(-100.0))
    assert true == pytest.approx(expected, rel=1e-12) and true == pytest.approx(-0.638, abs=1e-3)
    stated = float(bounds.trinary_behavior_lower_bound(0.1, -0.4, 0.1, 1.0, form="stated"))
    assert stated == pytest.approx(-0.3854, abs=1e-3) and true < stated
    assert true >= float(bounds.trinary_behavior_lower_bound(0.1, -0.4, 0.1, 1.0)) - TOLERANCE


def test_run_verdicts_pattern_determinism_and_replay():
    names = ("theorem1", "theorem4_trinary", "corollary2_expectation")
    a = run_verdicts(seed=7, n_instances=200, results=names)
    b = run_verdicts(seed=7, n_instances=200, results=names)
    assert [v.to_dict() for v in a] == [v.to_dict() for v in b]
    by = {(v.result, v.form): v for v in a}
    assert all(v.instances >= 200 for v in a)  # "0 violations" below is over real instances
    assert by[("theorem1", "proved")].violations == 0 and by[("theorem1", "stated")].violations > 0
    assert by[("theorem4_trinary", "corrected")].violations == 0
    assert by[("corollary2_expectation", "proved")].violations == 0
    assert exit_status(a) == 0
    ex = by[("theorem1", "stated")].counterexample
    assert len(ex["instance"]["logits"]) == 2  # shrunk to two tokens
    again = replay(json.loads(json.dumps(ex)))
    assert again.slack.min() == pytest.approx(ex["slack"], abs=1e-12) and ex["slack"] < -TOLERANCE
    c = run_verdicts(seed=8, n_instances=200, results=("theorem1",))
    assert c[0].counterexample != a[0].counterexample


def test_exit_status_flags_only_default_forms():
    v = run_verdicts(seed=1, n_instances=50, results=("required_coefficient",))
    assert all(x.instances > 0 for x in v) and exit_status(v) == 0
    v[1].violations = 1  # pretend the default (proved) form failed
    assert v[1].default and exit_status(v) == 1


def test_clopper_pearson_covers():
    lo, hi = clopper_pearson(50, 100, 0.95)  # textbook exact interval: (0.3983, 0.6017)
    assert (lo, hi) == pytest.approx((0.3983, 0.6017), abs=1e-4)
    lo99, hi99 = clopper_pearson(50, 100)
    assert lo99 < lo and hi99 > hi


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(seed=-1), "seed"),
        (dict(n_instances=0), "n_instances"),
        (dict(results=("theorem9",)), "results"),
        (dict(thorough="yes"), "thorough"),
    ],
)
def test_invalid_settings_rejected(kwargs, match):
    with pytest.raises(InputError, match=match):
        run_verdicts(**kwargs)


def test_replay_rejects_unknown_result():
    with pytest.raises(InputError, match="result"):
        replay({"result": "nope"})
