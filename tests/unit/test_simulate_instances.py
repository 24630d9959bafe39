"""steerbounds.simulate instances, laws and realised parameters: exactness, assumptions, seeding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from steerbounds.bounds import estimators as est
from steerbounds.errors import InputError
from steerbounds.simulate import instances as inst
from steerbounds.simulate import realised, wide
from steerbounds.simulate.laws import LAWS, standard_draws
from steerbounds.simulate.realised import alignment_parameters, helpfulness_parameters

KEY = inst.make_key(3)


def _softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("law", LAWS)
def test_laws_are_standardised(law):
    with jax.enable_x64(True):
        x = np.asarray(standard_draws(jax.random.key(0), law, (200_000,)))
    assert x.dtype == np.float64
    assert abs(x.mean()) < 0.02 and x.var() == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("kind", inst.ALIGNMENT_KINDS)
def test_alignment_instances_satisfy_their_assumptions(kind):
    b = inst.alignment_batch(KEY, 500, 8, kind=kind)
    assert b.logits.dtype == np.float64
    p = alignment_parameters(b)
    assert np.all(p.ok)
    assert np.all(p.margin >= inst.MARGIN_RANGE[0] - 1e-12)  # Assumption 2: margin Δ > 0
    assert np.all(np.abs(p.b0) < 1.0)
    valid = np.isfinite(b.logits)
    aligned = valid & (b.score > b.b_plus[:, None])
    if kind == "trinary":
        assert set(np.unique(b.score[valid])) <= {-1.0, 0.0, 1.0}
        assert np.any(valid & (b.score == 0))
    if kind == "soft":
        assert np.any(b.misclassified) and np.all(b.score[b.misclassified] == -1.0)
        assert np.all(p.depth >= 0) and np.all(p.delta >= 0)
    else:
        assert not np.any(b.misclassified)
    assert np.all(aligned.any(axis=1))


def test_behaviour_curve_matches_naive_softmax():
    b = inst.alignment_batch(KEY, 50, 6, kind="trinary")
    r = np.linspace(-2.0, 3.0, 7)
    got = inst.behaviour_curve(b, r)
    for i in range(3):
        valid = np.isfinite(b.logits[i])
        for k, rk in enumerate(r):
            p = _softmax(b.logits[i, valid] + b.lam[i] * rk * b.X[i, valid])
            assert got[i, k] == pytest.approx(float(p @ b.score[i, valid]), abs=1e-12)


def test_helpfulness_curve_matches_numpy():
    b = inst.helpfulness_batch(KEY, 200, 12)
    r = np.linspace(-3.0, 3.0, 5)
    h = inst.helpfulness_curve(b, r)
    for i in range(3):
        steered = _softmax(b.logits[i] + b.lam[i] * r[:, None] * b.X[i])
        np.testing.assert_allclose(h[i], steered[:, 0], atol=1e-13)


def _per_query(batch, sign):
    """The empirical side's per-query path on each instance of a simulator batch, given
    the simulator's own P_i^0 (ε = 1 − (P+ + P−)/(1 − P0) is ill-conditioned when P0 ≈ 1,
    so the softmax, which is not what is compared, must be the same on both paths)."""
    with jax.enable_x64(True):
        logits = jnp.asarray(batch.logits)
        p = np.asarray(jnp.exp(logits - jax.nn.logsumexp(logits, axis=-1)[..., None]))
    rows = []
    for i in range(batch.logits.shape[0]):
        rows.append(
            est.realised_theorem2_parameters(p[i], 0, sign * batch.X[i], np.flatnonzero(batch.top[i]))
        )
    return est.Theorem2Parameters(*(np.array(field) for field in zip(*rows, strict=True)))


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(
    "make",
    [
        lambda k: inst.helpfulness_batch(k, 300, 12),  # T ~ U{2..12}, ε > 0 or 0
        lambda k: inst.helpfulness_batch(k, 300, 6, n_top=5, law="laplace"),  # one remainder bucket
        lambda k: inst.helpfulness_batch(k, 100, 2, law="student-t"),  # T = 2: never two-sided
        lambda k: inst.explicit_helpfulness_batch(k, 3, vocab=3000, d=16)[0],  # explicit U
    ],
)
def test_simulator_batch_and_per_query_parameters_agree(make, sign):
    """One implementation (theorem2_parameters_kernel): JAX batch == numpy per query."""
    b = make(jax.random.fold_in(KEY, 11))
    got = helpfulness_parameters(b, sign)
    ref = _per_query(b, sign)
    assert type(got) is est.Theorem2Parameters and got._fields == ref._fields
    for name, a, e in zip(got._fields, got, ref, strict=True):
        if name == "both_nonempty":
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(got.alpha * (1.0 - got.eps), got.alpha_one_minus_eps, rtol=1e-12, atol=1e-15)
    assert np.all((got.eps >= 0) & (got.eps < 1)) and np.all(got.alpha <= 0.5)


def test_flipped_direction_swaps_the_sets():
    b = inst.helpfulness_batch(KEY, 200, 12)
    q = helpfulness_parameters(b)
    flipped = helpfulness_parameters(b, -1.0)
    np.testing.assert_allclose(flipped.p_plus, q.p_minus)
    np.testing.assert_allclose(flipped.c_plus, -q.c_minus)


def test_theorem2_parameters_guard_when_both_sets_are_empty():
    """Eq. 38 degenerate (P+ + P− = 0): ε = α = α(1 − ε) = 0 on both paths."""
    b = inst.HelpfulnessBatch(
        logits=np.log([[0.5, 0.3, 0.2]]), X=np.zeros((1, 3)), top=np.array([[True, True, False]]),
        lam=np.ones(1), sigma=np.ones(1),
    )  # fmt: skip
    for q in (helpfulness_parameters(b), _per_query(b, 1.0)):
        assert (q.p_plus[0], q.p_minus[0], q.eps[0], q.alpha[0], q.alpha_one_minus_eps[0]) == (0, 0, 0, 0, 0)
        assert not q.both_nonempty[0] and q.sigma_beta[0] == 0


def test_remainder_bucket_and_top_mass():
    b = inst.helpfulness_batch(KEY, 300, 6, n_top=5)
    assert np.all(b.top.sum(axis=1) == 5)
    p = _softmax(b.logits)
    rest = p[:, 5]
    q = helpfulness_parameters(b)
    # top-T mass 1 − ε_top equals 1 − (mass of the bucket)
    np.testing.assert_allclose(p[:, :5].sum(axis=1), 1.0 - rest, atol=1e-12)
    assert np.all(q.eps >= rest - 1e-12)


def test_explicit_unembedding_path_is_equivalent():
    b, U, r, u = inst.explicit_helpfulness_batch(KEY, 4, vocab=2000, d=16, n_top=10)
    assert b.logits.shape == (4, 2000) and U.shape == (2000, 16)
    re = 0.7
    literal = inst.steered_logits(U, r, u, b.lam, np.full(4, re))
    via_x = b.logits + b.lam[:, None] * re * b.X
    np.testing.assert_allclose(np.sort(literal, axis=1), np.sort(via_x, axis=1), atol=1e-10)
    # the top-10 tokens come first, the correct one among them
    assert np.all(b.logits[:, :10].min(axis=1) >= b.logits[:, 10:].max(axis=1))
    h = inst.helpfulness_curve(b, np.array([re]))[:, 0]
    assert np.all((h > 0) & (h < 1))


def test_seeded_and_deterministic():
    a = inst.alignment_batch(inst.make_key(5), 20, 5, kind="soft")
    b = inst.alignment_batch(inst.make_key(5), 20, 5, kind="soft")
    c = inst.alignment_batch(inst.make_key(6), 20, 5, kind="soft")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.X, c.X)


def test_extreme_coefficients_are_finite():
    b = inst.alignment_batch(KEY, 30, 5, kind="binary")
    r = np.array([-1e6, -1.0, 0.0, 1.0, 1e6])
    assert np.all(np.isfinite(inst.behaviour_curve(b, r)))
    hb = inst.helpfulness_batch(KEY, 30, 5)
    assert np.all(np.isfinite(inst.helpfulness_curve(hb, r)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: inst.alignment_batch(KEY, 4, 5, kind="quaternary"), "kind"),
        (lambda: inst.alignment_batch(KEY, 4, 5, law="cauchy"), "law"),
        (lambda: inst.alignment_batch(KEY, 0, 5), "n must"),
        (lambda: inst.alignment_batch(KEY, 4, 2, kind="trinary"), "width"),
        (lambda: inst.helpfulness_batch(KEY, 4, 5, n_top=6), "n_top"),
        (lambda: inst.explicit_helpfulness_batch(KEY, 2, vocab=100, d=1), "d must"),
        (lambda: inst.make_key(-1), "seed"),
    ],
)
def test_invalid_settings_rejected(call, match):
    with pytest.raises(InputError, match=match):
        call()


def _narrow(kernel, *arrays):
    with jax.enable_x64(True):
        out = kernel(*(jnp.asarray(a) for a in arrays))
        return tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out)


def test_full_vocabulary_path_equals_the_batched_kernels():
    """Rows of ≥ WIDE slots go one at a time, cut to their present slots: same numbers."""
    r = np.linspace(-2.0, 3.0, 7)
    a = inst.alignment_batch(jax.random.fold_in(KEY, 21), 12, wide.WIDE + 1000, kind="soft")
    ra = np.broadcast_to(r, (12, 7))
    assert wide.is_wide(a.logits.shape[1]) and np.any(~np.isfinite(a.logits[:, -1]))  # rows get cut
    np.testing.assert_allclose(
        inst.behaviour_curve(a, r),
        _narrow(inst._behaviour_curve, a.logits, a.X, a.score, a.lam, ra),
        rtol=1e-13,
        atol=1e-15,
    )
    got = alignment_parameters(a)
    want = _narrow(realised._alignment, a.logits, a.X, a.score, a.misclassified, a.b_plus)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)
    for h in (
        inst.helpfulness_batch(
            jax.random.fold_in(KEY, 22), 12, wide.WIDE + 1000, n_top=10
        ),  # ε = 0 rows: 10 slots
        inst.explicit_helpfulness_batch(jax.random.fold_in(KEY, 23), 4, vocab=wide.WIDE + 1000, d=16)[0],
    ):
        n = h.logits.shape[0]
        rh = np.broadcast_to(r, (n, 7))
        np.testing.assert_allclose(
            inst.helpfulness_curve(h, r),
            _narrow(inst._helpfulness_curve, h.logits, h.X, h.lam, rh),
            rtol=1e-13,
            atol=1e-15,
        )
        for sign in (1.0, -1.0):
            got = helpfulness_parameters(h, sign)
            want = _narrow(realised._helpfulness, h.logits, h.X, h.top, np.full(n, sign))
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("width", [40, wide.WIDE + 1000])
def test_parameters_with_curve_equal_the_two_calls(width):
    """One pass for the realised parameters and the true curve gives what the two calls give."""
    r = np.broadcast_to(np.linspace(-2.0, 3.0, 7), (12, 7))
    a = inst.alignment_batch(jax.random.fold_in(KEY, 24), 12, width, kind="soft")
    p, curve = realised.alignment_parameters_with_curve(a, r)
    np.testing.assert_allclose(curve, inst.behaviour_curve(a, r), rtol=1e-13, atol=1e-15)
    for g, w in zip(p, alignment_parameters(a), strict=True):
        np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), rtol=1e-13, atol=1e-15)
    h = inst.helpfulness_batch(jax.random.fold_in(KEY, 25), 12, width, n_top=10)
    for sign in (1.0, -1.0):
        q, hcurve = realised.helpfulness_parameters_with_curve(h, r, sign)
        np.testing.assert_allclose(hcurve, inst.helpfulness_curve(h, r), rtol=1e-13, atol=1e-15)
        for g, w in zip(q, helpfulness_parameters(h, sign), strict=True):
            np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), rtol=1e-13, atol=1e-15)


def test_size_classes_bound_padding_and_shapes():
    lengths = np.arange(1, 40_001)
    classes = np.array([wide.size_class(int(m), 40_000) for m in lengths])
    assert np.all(classes >= lengths) and np.all((classes % wide.MIN_CLASS == 0) | (classes == 40_000))
    assert np.all(
        classes[lengths > wide.MIN_CLASS] < 1.25 * lengths[lengths > wide.MIN_CLASS] + wide.MIN_CLASS
    )
    assert np.unique(classes).size <= 4 * 9 + 4  # at most 4 per doubling
    present = np.zeros((3, 10), bool)
    present[0, :4] = True
    present[1, [0, 7]] = True
    np.testing.assert_array_equal(wide.present_lengths(present), [4, 8, 1])
