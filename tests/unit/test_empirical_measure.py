"""Measurements and summaries on tiny random-weight models (fixtures in conftest)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from steerbounds.empirical.reduce import summary as S  # noqa: E402
from steerbounds.empirical.sweep import measure as M  # noqa: E402
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
    # a byte-level tokenizer gives ' ' as the first token of ' A' … ' D': refused
    with pytest.raises(InputError, match="four distinct"):
        task_queries(tiny_llama, "mmlu", n=2)


def test_helpfulness_rows_are_probabilities(setup):
    model, vec, qs = setup
    rows = M.helpfulness_rows(model, vec, qs, COEFFS)
    assert len(rows) == len(COEFFS) * len(qs)
    for r in rows:
        assert 0.0 <= r["p_correct"] <= 1.0 and isinstance(r["top1"], bool)
    # the same probability as an unsteered forward at r_e = 0
    enc = model.encode([qs[0]["prompt"]])
    with torch.no_grad():
        p = torch.softmax(model.model(**enc).logits[0, -1].double(), -1)[qs[0]["answer_id"]]
    r0 = next(r for r in rows if r["r_e"] == 0.0 and r["id"] == qs[0]["id"])
    assert r0["p_correct"] == pytest.approx(float(p), rel=1e-4)


def test_lambda_rows_zero_at_zero_and_jvp_matches_finite_difference(setup):
    model, vec, qs = setup
    rows = M.lambda_rows(model, vec, qs, [0.0, 1e-3])
    at0 = [r for r in rows if r["r_e"] == 0.0]
    small = {r["id"]: r for r in rows if r["r_e"] == 1e-3}
    for r in at0:
        assert r["dr_norm"] == 0.0 and r["Udr_norm"] == 0.0
        assert r["jvp_norm"] > 0
        assert small[r["id"]]["dr_norm"] / 1e-3 == pytest.approx(r["jvp_norm"], rel=2e-2)
        assert small[r["id"]]["Udr_norm"] / 1e-3 == pytest.approx(r["jvp_U_norm"], rel=2e-2)
    # a chunk without 0 still measures δr against r_e = 0, with no jvp
    rows = M.lambda_rows(model, vec, qs, [1.0, 2.0])
    assert {r["r_e"] for r in rows} == {1.0, 2.0} and all("jvp_norm" not in r for r in rows)
    assert all(r["dr_norm"] > 0 for r in rows)


def test_sigma_rows_shapes_and_theorem2_parameters(setup):
    model, vec, qs = setup
    rows = M.sigma_rows(model, vec, qs, COEFFS, top_t=6)
    for r in rows:
        assert len(r["proj"]) == 6 and len(r["p0_top"]) == 6
        if r["r_e"] == 0.0:
            assert r["proj"] == [0.0] * 6 and "alpha" not in r
        else:
            assert 0.0 <= r["alpha_one_minus_eps"] <= 1.0 and 0.0 <= r["eps"] <= 1.0
            assert r["c_minus"] <= 0.0 <= r["c_plus"] and r["sigma_beta"] >= 0.0
            assert sum(r["p0_top"]) + r["p0"] <= 1.0 + 1e-9


def test_delta_rows_and_separation(setup, random_vector):
    model, vec, _ = setup
    qs = [
        {"id": str(i), "prompt": model.chat_prompt(t)} for i, t in enumerate(["hello there", "make a bomb"])
    ]
    rows = M.delta_rows(model, vec, qs, COEFFS, r_ref=2.0, top_k=10)
    for r in rows:
        assert r["n_good"] == r["n_bad"]  # both are top-10 minus the overlap
        if "mean_sep" in r and r["r_e"] == 0.0:
            assert r["mean_sep"] == 0.0 and r["min_sep"] == 0.0
        if "mean_sep" in r:
            assert r["min_sep"] <= r["mean_sep"]
    # the steered top cluster is favoured by δr at the reference coefficient
    ref = [r for r in rows if r["r_e"] == 2.0 and "mean_sep" in r]
    assert ref and all(r["mean_sep"] > 0 for r in ref)
    assert M.separation(np.array([3.0, 1.0, 0.0, -1.0]), [0, 1], [2, 3]) == (2.5, 1.0)
    with pytest.raises(InputError, match="r_ref"):
        M.delta_rows(model, vec, qs, COEFFS, r_ref=0.0)


def test_behavior_rows_are_in_range(setup):
    model, vec, _ = setup
    qs = recipes.behavior_prompts("harmful", model, n=3)
    plus, minus = recipes.answer_token_sets("harmful", model.tokenizer)
    assert plus and minus and not set(plus) & set(minus)
    rows = M.behavior_rows(model, vec, qs, COEFFS, plus_ids=plus, minus_ids=minus)
    for r in rows:
        assert -1.0 <= r["b"] <= 1.0 and -1.0 <= r["b_unnorm"] <= 1.0
        assert r["p_plus"] + r["p_minus"] <= 1.0 + 1e-12
        assert r["b_unnorm"] == pytest.approx(r["p_plus"] - r["p_minus"])
    with pytest.raises(InputError, match="disjoint"):
        M.behavior_rows(model, vec, qs, COEFFS, plus_ids=plus, minus_ids=plus)


def test_generation_rows_are_judged(setup):
    model, vec, _ = setup
    qs = recipes.behavior_prompts("harmful", model, n=2)
    rows = M.generation_rows(model, vec, qs, [0.0, 1.0], judge=lambda t: 0.5 if t else -0.5, max_new_tokens=3)
    assert len(rows) == 4 and all(r["score"] in (0.5, -0.5) and r["mode"] == "greedy" for r in rows)
    s1 = M.generation_rows(
        model, vec, qs, [1.0], judge=judges.refusal_judge, mode="sampled", max_new_tokens=4, seed=3
    )
    s2 = M.generation_rows(
        model, vec, qs, [1.0], judge=judges.refusal_judge, mode="sampled", max_new_tokens=4, seed=3
    )
    assert [r["text"] for r in s1] == [r["text"] for r in s2]
    with pytest.raises(InputError, match="mode"):
        M.generation_rows(model, vec, qs, [1.0], judge=judges.refusal_judge, mode="beam")


# --------------------------------------------------------------------------- summaries


def test_summarize_lambda_recovers_planted_slope():
    rng = np.random.default_rng(0)
    rows = []
    for q in range(20):
        lam = 3.0 + 0.1 * rng.standard_normal()
        for c in COEFFS:
            row = {"r_e": c, "id": str(q), "dr_norm": lam * abs(c), "Udr_norm": 10 * lam * abs(c)}
            if c == 0.0:
                row.update(jvp_norm=lam, jvp_U_norm=10 * lam)
            rows.append(row)
    s = S.summarize_lambda(rows)
    assert s["lambda_fit"]["slope"] == pytest.approx(3.0, abs=0.05)
    assert s["lambda_logits_fit"]["slope"] == pytest.approx(30.0, abs=0.5)
    assert s["lambda_jvp_mean"] == pytest.approx(s["lambda_fit"]["slope"], rel=1e-9)


def test_summarize_sigma_on_planted_normal_noise():
    rng = np.random.default_rng(1)
    lam_sigma = 0.5
    rows = []
    for q in range(200):
        for c in COEFFS:
            rows.append(
                {
                    "r_e": c,
                    "id": str(q),
                    "proj": (lam_sigma * abs(c) * rng.standard_normal(10)).tolist(),
                    "p0_top": [0.05] * 10,
                }
            )
    s = S.summarize_sigma(rows, lam=2.0)
    assert s["lam_sigma_fit"]["slope"] == pytest.approx(lam_sigma, rel=0.05)
    assert s["sigma"] == pytest.approx(lam_sigma / 2.0, rel=0.05)
    assert s["lam_sigma_beta_half_normal"] == pytest.approx(math.sqrt(2 / math.pi) * lam_sigma, rel=0.1)
    per = {d["r_e"]: d for d in s["per_coefficient"]}
    assert per[2.0]["shapiro_p"] > 1e-3 and abs(per[2.0]["skew"]) < 0.3
    assert sum(per[2.0]["hist_counts"]) == 2000


def test_summarize_delta_slopes():
    rows = [
        {"r_e": c, "id": str(q), "mean_sep": 0.3 * c + 0.01 * q, "min_sep": 0.1 * c, "dr_norm": abs(c)}
        for q in range(4)
        for c in COEFFS
    ]
    s = S.summarize_delta(rows)
    assert s["delta_lambda_min_sep_fit"]["slope"] == pytest.approx(0.1)
    assert s["delta_lambda_min_sep_lower"] == pytest.approx(0.1)
    assert s["delta_lambda_mean_sep_lower"] <= s["delta_lambda_mean_sep_fit"]["slope"] + 1e-12


def test_summarize_behavior_fits_planted_tanh():
    grid = np.linspace(-4, 4, 17)
    rows = [{"r_e": float(c), "id": "q", "b": float(np.tanh(0.5 * 0.8 * c + np.arctanh(-0.3)))} for c in grid]
    s = S.summarize_behavior(rows, "b")
    assert s["fit_proved"]["delta_lambda"] == pytest.approx(0.8, rel=1e-3)
    assert s["fit_stated"]["delta_lambda"] == pytest.approx(0.4, rel=1e-3)


def test_summarize_helpfulness_fits_planted_bound_and_groups():
    from steerbounds.bounds.theorems import helpfulness_upper_bound

    grid = [-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]
    rows = []
    for q, p0 in enumerate([0.3, 0.5, 0.7, 0.9]):
        for c in grid:
            h = float(helpfulness_upper_bound(c, p0, 1.0, 0.0, 0.4))
            rows.append({"r_e": c, "id": str(q), "group": "g", "p": h})
    s = S.summarize_helpfulness(rows, "p")
    assert s["p0_distribution"]["n"] == 4
    assert s["p0_distribution"]["mean"] == pytest.approx(0.6)
    for g in "0123":
        assert s["fit_by_p0_quartile"][g]["lam_sigma_beta"] == pytest.approx(0.4, rel=1e-3)
    assert s["fit"]["lam_sigma_beta"] > 0
    assert {t["group"] for t in s["table_by_p0_quartile"]} == {0, 1, 2, 3}
