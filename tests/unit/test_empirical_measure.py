"""Measurements and summaries on tiny random-weight models (fixtures in conftest)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from steerbounds.empirical.reduce import summary as S  # noqa: E402
from steerbounds.empirical.reduce.tables import tables_from_typed  # noqa: E402
from steerbounds.empirical.sweep import measure as M  # noqa: E402
from steerbounds.empirical.sweep.records import (  # noqa: E402
    BehaviorRecord,
    DeltaRecord,
    HelpfulnessRecord,
    LambdaRecord,
    NoiseRecord,
)
from steerbounds.empirical.workloads import judges, recipes  # noqa: E402
from steerbounds.empirical.workloads.tasks import task_queries  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

COEFFS = [-2.0, -1.0, 0.0, 1.0, 2.0]


@pytest.fixture
def setup(tiny_llama, random_vector):
    vec = random_vector(tiny_llama, layers=[1, 2], seed=1)
    queries = task_queries(tiny_llama, "arithmetic", n=5, seed=0)
    return tiny_llama, vec, queries


def test_task_queries_answer_tokens(tiny_llama):
    qs = task_queries(tiny_llama, "arithmetic", n=7)
    assert len(qs) == 7
    for q in qs:
        answer = tiny_llama.tokenizer.decode([q["answer_id"]])
        assert answer.isdigit() and q["prompt"].endswith(" = ") and "Solve: " in q["prompt"]
    facts = task_queries(tiny_llama, "facts", n=3)
    assert all("capital of" in q["prompt"] for q in facts)
    with pytest.raises(InputError, match="task"):
        task_queries(tiny_llama, "poetry")
    # a byte-level tokenizer gives ' ' as the first token of ' A' … ' D': the space moves
    # into the assistant prefix and the letters' own tokens are the choices
    mmlu = task_queries(tiny_llama, "mmlu", n=2)
    assert len(mmlu) == 6 and all(q["prompt"].endswith("The answer is ") for q in mmlu)
    letters = [tiny_llama.tokenizer.decode([i]) for i in mmlu[0]["choice_ids"]]
    assert (
        letters == ["A", "B", "C", "D"]
        and mmlu[0]["answer_id"] == mmlu[0]["choice_ids"][mmlu[0]["answer_index"]]
    )


def _pass(model, vec, qs, coeffs, **kw):
    return M.record_pass(model, vec, qs, coeffs, **kw)


def test_helpfulness_records_are_probabilities(setup):
    model, vec, qs = setup
    rows = M.helpfulness_records(_pass(model, vec, qs, COEFFS), qs)
    assert len(rows) == len(COEFFS) * len(qs)
    for r in rows:
        assert 0.0 <= r.p_correct <= 1.0 and isinstance(r.top1, bool) and r.p_choices is None
    # the same probability as an unsteered forward at r_e = 0
    enc = model.encode([qs[0]["prompt"]])
    with torch.no_grad():
        p = torch.softmax(model.model(**enc).logits[0, -1].double(), -1)[qs[0]["answer_id"]]
    r0 = next(r for r in rows if r.r_e == 0.0 and r.id == qs[0]["id"])
    assert r0.p_correct == pytest.approx(float(p), rel=1e-4)


def test_lambda_records_zero_at_zero_and_jvp_matches_finite_difference(setup):
    model, vec, qs = setup
    rows = M.lambda_records(_pass(model, vec, qs, [0.0, 1e-3], slope=True), qs)
    at0 = [r for r in rows if r.r_e == 0.0]
    small = {r.id: r for r in rows if r.r_e == 1e-3}
    assert at0
    for r in at0:
        assert r.dr_norm == 0.0 and r.udr_norm == 0.0
        assert r.jvp_norm is not None and r.jvp_norm > 0
        assert small[r.id].dr_norm / 1e-3 == pytest.approx(r.jvp_norm, rel=2e-2)
        assert small[r.id].udr_norm / 1e-3 == pytest.approx(r.jvp_udr_norm, rel=2e-2)
    # a chunk without 0 still measures δr against r_e = 0, with no slope
    rows = M.lambda_records(_pass(model, vec, qs, [1.0, 2.0], slope=True), qs)
    assert {r.r_e for r in rows} == {1.0, 2.0} and all(r.jvp_norm is None for r in rows)
    assert all(r.dr_norm > 0 for r in rows)


def test_noise_records_shapes_and_theorem2_parameters(setup):
    model, vec, qs = setup
    rows = M.noise_records(_pass(model, vec, qs, COEFFS), qs, top_t=6)
    for r in rows:
        assert len(r.proj) == 6 and len(r.p0_top) == 6
        if r.r_e == 0.0:
            assert r.proj == (0.0,) * 6 and r.alpha is None
        else:
            assert 0.0 <= r.alpha_one_minus_eps <= 1.0 and 0.0 <= r.eps <= 1.0
            assert r.c_minus <= 0.0 <= r.c_plus and r.sigma_beta >= 0.0
            assert sum(r.p0_top) + r.p0 <= 1.0 + 1e-9


def test_delta_records_and_separation(setup):
    model, vec, _ = setup
    qs = [
        {"id": str(i), "prompt": model.chat_prompt(t)} for i, t in enumerate(["hello there", "make a bomb"])
    ]
    p = _pass(model, vec, qs, COEFFS)
    rows = M.delta_records(p, qs, r_ref=2.0, top_k=10)
    for r in rows:
        assert r.n_good == r.n_bad  # both are top-10 minus the overlap
        if r.mean_sep is not None and r.r_e == 0.0:
            assert r.mean_sep == 0.0 and r.min_sep == 0.0
        if r.mean_sep is not None:
            assert r.min_sep <= r.mean_sep
    # the steered top cluster is favoured by δr at the reference coefficient
    ref = [r for r in rows if r.r_e == 2.0 and r.mean_sep is not None]
    assert ref and all(r.mean_sep > 0 for r in ref)
    assert M.separation(np.array([3.0, 1.0, 0.0, -1.0]), [0, 1], [2, 3]) == (2.5, 1.0)
    with pytest.raises(InputError, match="r_ref"):
        M.delta_records(p, qs, r_ref=0.0)
    with pytest.raises(InputError, match="r_ref: the pass has no coefficient"):
        M.delta_records(p, qs, r_ref=7.0)


def test_behavior_records_are_in_range_and_margin_bounds_b(setup):
    model, vec, _ = setup
    qs = recipes.behavior_prompts("harmful", model, n=3)
    plus, minus = recipes.answer_token_sets("harmful", model.tokenizer)
    assert plus and minus and not set(plus) & set(minus)
    rows = M.behavior_records(_pass(model, vec, qs, COEFFS), qs, plus_ids=plus, minus_ids=minus)
    b0 = {r.id: r.b for r in rows if r.r_e == 0.0}
    for r in rows:
        assert -1.0 <= r.b <= 1.0 and -1.0 <= r.b_unnorm <= 1.0
        assert r.p_plus + r.p_minus <= 1.0 + 1e-12
        assert r.b_unnorm == pytest.approx(r.p_plus - r.p_minus)
        assert r.log_odds == pytest.approx(math.log(r.p_plus / r.p_minus), rel=1e-9)
        # the realised-margin identity: B ≥ tanh(m/2 + artanh B0) follows from algebra alone
        assert r.b >= math.tanh(r.margin / 2 + math.atanh(b0[r.id])) - 1e-9
        if r.r_e == 0.0:
            assert r.margin <= 0.0  # min over + minus max over − of a zero change
    with pytest.raises(InputError, match="disjoint"):
        M.behavior_records(_pass(model, vec, qs, COEFFS), qs, plus_ids=plus, minus_ids=plus)


def test_generation_records_are_judged(setup):
    model, vec, _ = setup
    qs = recipes.behavior_prompts("harmful", model, n=2)
    rows = M.generation_records(
        model, vec, qs, [0.0, 1.0], judge=lambda t: 0.5 if t else -0.5, max_new_tokens=3
    )
    assert len(rows) == 4 and all(r.score in (0.5, -0.5) and r.mode == "greedy" for r in rows)
    s1 = M.generation_records(
        model, vec, qs, [1.0], judge=judges.refusal_judge, mode="sampled", max_new_tokens=4, seed=3
    )
    s2 = M.generation_records(
        model, vec, qs, [1.0], judge=judges.refusal_judge, mode="sampled", max_new_tokens=4, seed=3
    )
    assert [r.text for r in s1] == [r.text for r in s2]
    with pytest.raises(InputError, match="mode"):
        M.generation_records(model, vec, qs, [1.0], judge=judges.refusal_judge, mode="beam")


# --------------------------------------------------------------------------- the reduction


def _tables(records, grid=COEFFS):
    kinds = {}
    for r in records:
        kinds.setdefault(r.KIND, []).append(r)
    return tables_from_typed(
        kinds, {"config": {"coefficients": list(grid), "behavior": "harmful", "task": "t"}}
    )


def test_lambda_recovers_planted_slope():
    rng = np.random.default_rng(0)
    rows = []
    for q in range(20):
        lam = 3.0 + 0.1 * rng.standard_normal()
        for c in COEFFS:
            at0 = c == 0.0
            rows.append(
                LambdaRecord(
                    r_e=c,
                    id=str(q),
                    group="g",
                    dr_norm=lam * abs(c),
                    udr_norm=10 * lam * abs(c),
                    jvp_norm=lam if at0 else None,
                    jvp_udr_norm=10 * lam if at0 else None,
                )
            )
    s = S.summarize(_tables(rows), fit_max_abs=2.0)
    assert s.value("lambda_slope") == pytest.approx(3.0, abs=0.05)
    assert s.value("udr_slope") == pytest.approx(30.0, abs=0.5)
    assert s.value("lambda") == pytest.approx(s.value("lambda_slope"), rel=1e-9)
    assert s.group_parameters["udr_slope"]["g"].value == pytest.approx(s.value("udr_slope"))
    # the default fit range is half the grid's largest |r_e|: |r_e| ≤ 1 here
    assert S.summarize(_tables(rows)).parameter("udr_slope").n == 3  # r_e ∈ {−1, 0, 1}


def _noise(c, q, proj, *, dr_norm):
    return NoiseRecord(
        r_e=c, id=str(q), group="g", p0=0.2, dr_norm=dr_norm, proj=tuple(proj), p0_top=(0.05,) * len(proj)
    )


def test_sigma_on_planted_normal_noise():
    rng = np.random.default_rng(1)
    lam_sigma = 0.5
    rows = [
        _noise(c, q, lam_sigma * abs(c) * rng.standard_normal(10), dr_norm=2.0 * abs(c))
        for q in range(200)
        for c in COEFFS
    ]
    lam = [LambdaRecord(r_e=0.0, id=str(q), group="g", dr_norm=0, udr_norm=0, jvp_norm=2.0) for q in range(3)]
    s = S.summarize(_tables(rows + lam), fit_max_abs=2.0)
    assert s.value("lam_sigma") == pytest.approx(lam_sigma, rel=0.05)
    assert s.value("sigma") == pytest.approx(lam_sigma / 2.0, rel=0.05)
    assert s.value("lam_sigma_beta_half_normal") == pytest.approx(math.sqrt(2 / math.pi) * lam_sigma, rel=0.1)
    per = {d["r_e"]: d for d in s.diagnostics["noise_by_coefficient"]}
    assert per[2.0]["shapiro_p"] > 1e-3 and abs(per[2.0]["skew"]) < 0.3 and per[2.0]["n"] == 2000
    # no row has realised parameters: that one quantity says so, the others stand
    assert (
        not s.parameter("alpha_one_minus_eps").ok
        and "no steered row" in s.parameter("alpha_one_minus_eps").error
    )


def test_one_failing_estimate_never_sinks_the_rest():
    """Every steered row has projections of one sign (seen on a 0.5B Qwen): the proof's
    β cannot be estimated, and everything else still is."""
    rows = [
        _noise(c, q, abs(c) * (1.0 + 0.1 * np.arange(6)), dr_norm=abs(c)) for q in range(5) for c in COEFFS
    ]
    help_rows = [
        HelpfulnessRecord(r_e=c, id=str(q), group="g", p_correct=0.5 / (1 + c * c), top1=c == 0)
        for q in range(5)
        for c in COEFFS
    ]
    s = S.summarize(_tables(rows + help_rows), fit_max_abs=2.0)
    assert s.parameter("lam_sigma").ok and s.parameter("lam_sigma_pooled").ok
    assert (
        not s.parameter("lam_sigma_beta_proof").ok
        and "both signs" in s.parameter("lam_sigma_beta_proof").error
    )
    assert s.fit("theorem2_full_vocab") is not None and s.curves["full_vocab"]["mean"].max() == 0.5
    doc = s.to_dict()
    proof = doc["parameters"]["lam_sigma_beta_proof"]
    assert proof["error"] and "value" not in proof


def test_delta_slopes():
    rows = [
        DeltaRecord(
            r_e=c, id=str(q), n_good=3, n_bad=3, dr_norm=abs(c), mean_sep=0.3 * c + 0.01 * q, min_sep=0.1 * c
        )
        for q in range(4)
        for c in COEFFS
    ]
    s = S.summarize(_tables(rows), fit_max_abs=2.0)
    assert s.value("delta_lambda_min") == pytest.approx(0.1)
    assert s.value("delta_lambda_min_lower") == pytest.approx(0.1)
    assert s.value("delta_lambda_mean_lower") <= s.value("delta_lambda_mean") + 1e-12
    assert s.value("hard_margin_fraction") == 1.0


def test_behavior_fits_planted_tanh_on_the_nonnegative_side():
    grid = [float(c) for c in np.linspace(-4, 4, 17)]
    rows = [
        BehaviorRecord(
            r_e=c,
            id="q",
            p_plus=0.5,
            p_minus=0.5,
            b_unnorm=0.0,
            margin=0.0,
            b=float(np.tanh(0.5 * 0.8 * c + np.arctanh(-0.3))) if c >= 0 else 0.9,
        )
        for c in grid
    ]
    s = S.summarize(_tables(rows, grid))
    fit = s.fit("theorem1_next_token")
    assert fit["delta_lambda"] == pytest.approx(0.8, rel=1e-3)
    assert fit["delta_lambda_stated_form"] == pytest.approx(0.4, rel=1e-3)
    assert fit["b0"] == pytest.approx(-0.3, abs=1e-6)


def test_helpfulness_fits_planted_bound_groups_and_floor():
    from steerbounds.bounds.theorems import helpfulness_upper_bound

    grid = [-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]
    rows = []
    for q, p0 in enumerate([0.3, 0.5, 0.7, 0.9]):
        for c in grid:
            h = float(helpfulness_upper_bound(c, p0, 1.0, 0.0, 0.4))
            rows.append(
                HelpfulnessRecord(
                    r_e=c,
                    id=str(q),
                    group="g",
                    p_correct=h,
                    top1=h > 0.5,
                    p_choices=0.25 + 0.75 * h,
                    n_choices=4,
                )
            )
    s = S.summarize(_tables(rows, grid))
    assert s.diagnostics["p0_distribution_full_vocab"]["n"] == 4
    assert s.diagnostics["p0_distribution_full_vocab"]["mean"] == pytest.approx(0.6)
    quart = s.group_curves["full_vocab_by_p0_quartile"]
    assert set(quart["p0_quartile"]) == {0, 1, 2, 3}
    assert s.fit("theorem2_full_vocab")["lam_sigma_beta"] > 0
    # over the choices, Corollary 2's floor 1/N is fitted with P0 = (H(0) − 1/N)/(1 − 1/N)
    choices = s.fit("theorem2_choices")
    assert choices["floor"] == 0.25
    assert choices["p0"] == pytest.approx((choices["h0_measured"] - 0.25) / 0.75)
    # at chance there is nothing to fit: said, not hidden
    flat = [
        HelpfulnessRecord(r_e=c, id="0", group="g", p_correct=0.1, top1=False, p_choices=0.25, n_choices=4)
        for c in grid
    ]
    err = S.summarize(_tables(flat, grid)).fits["theorem2_choices"]["error"]
    assert "at or below chance" in err
