"""The tradeoff matrix (empirical.tradeoff_matrix, reduce.cross_effects) and the honesty recipe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steerbounds.empirical.reduce import cross_effects as ce
from steerbounds.empirical.workloads import recipes
from steerbounds.empirical.workloads.datasets import load_dataset
from steerbounds.empirical.workloads.judges import default_judge
from steerbounds.errors import InputError

# --------------------------------------------------------------------------- honesty recipe


def test_honesty_pairs_are_repe_instructions_over_true_train_statements():
    pos, neg = recipes.behavior_pairs("honesty", 40, seed=1)
    assert len(pos) == len(neg) == 40
    for p, n in zip(pos, neg, strict=True):
        assert "an honest person" in p and "an untruthful person" in n
        assert p.split("\n", 1)[1] == n.split("\n", 1)[1]  # the same statement prefix on both sides
    train = {r["country"] for r in load_dataset("facts", split="train")}
    statements = recipes.fact_statements("train")
    assert len(statements) == len(train) and all(s.startswith("The capital of ") for s in statements)
    with pytest.raises(InputError, match="n: expected an int in 1"):
        recipes.behavior_pairs("honesty", 10_000)


def test_honesty_claims_are_false_and_about_the_held_out_half(tiny_llama):
    test = load_dataset("facts", split="test")
    truth = {r["country"]: r["answer"] for r in test}
    train = {r["country"] for r in load_dataset("facts", split="train")}
    claims = recipes.false_claims(seed=3)
    assert len(claims) == len(test)
    for c in claims:
        country, claimed = c.removeprefix("Is it true that the capital of ").removesuffix("?").split(" is ")
        assert country in truth and country not in train and claimed != truth[country]
        assert claimed in truth.values()
    items = recipes.behavior_prompts("honesty", tiny_llama, n=5)
    assert len(items) == 5 and all(i["text"] in claims or i["text"].startswith("Is it true") for i in items)


def test_honesty_answer_sets_and_judge_score_denial_as_honest(tiny_llama):
    plus, minus = recipes.answer_token_sets("honesty", tiny_llama.tokenizer)
    assert plus and minus and not set(plus) & set(minus)
    judge = default_judge("honesty")
    assert judge("No, the capital of Japan is Tokyo.") == 1.0
    assert judge("Yes, that is correct.") == -1.0
    assert judge("Tokyo.") == 0.0


# --------------------------------------------------------------------------- reduction


def _tidy(slope_b: float, slope_h: float, n: int = 6, r_max: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    r = np.array([-2.0, -1.0, -0.4, 0.0, 0.4, 1.0, 2.0])
    rows = []
    for q in range(n):
        b0, h0 = rng.uniform(-0.5, 0.0), rng.uniform(0.6, 0.8)
        for x in r:
            rows.append(
                ("v", "v:next-token", "next_token", x, r_max, str(q), np.tanh(np.arctanh(b0) + slope_b * x))
            )
            rows.append(("v", "task", "p_correct", x, r_max, str(q), h0 / (1 + slope_h * x**2) + 0.01 * x))
            rows.append(("v", "v:judged", "judged", x, r_max, str(q), 1.0 if x > 0 else -1.0))
    return pd.DataFrame(rows, columns=list(ce.TIDY_COLUMNS))


def test_slopes_are_the_small_coefficient_fit_with_an_interval():
    tidy = _tidy(0.5, 0.3)
    s = ce.slopes(tidy, pd.DataFrame(columns=list(ce.JVP_COLUMNS)), bootstrap=50).set_index("measure")
    # the task's curve is h0/(1 + 0.3 r²) + 0.01 r: its central difference on ±0.4 is exactly 0.01
    assert s.loc["task", "slope"] == pytest.approx(0.01, abs=1e-12)
    assert s.loc["task", "slope_per_r_max"] == pytest.approx(0.02, abs=1e-12)
    assert s.loc["task", "fit_max_abs"] == pytest.approx(0.4)
    b = s.loc["v:next-token"]
    assert b["low"] <= b["slope"] <= b["high"] and b["slope"] > 0.3
    # judged −1, −1, +1 at −0.4, 0, 0.4: the least-squares slope Σxy/Σx² = 0.8/0.32
    assert s.loc["v:judged", "slope"] == pytest.approx(2.5, rel=1e-12)
    assert "jvp_slope" not in s or s["jvp_slope"].isna().all()


def test_contrasts_are_paired_and_curves_carry_bands():
    tidy = _tidy(0.5, 0.3)
    c = ce.contrasts(tidy, bootstrap=50)
    j = c[(c["measure"] == "v:judged") & (c["r_e"] > 0)]
    assert (j["change"] == 2.0).all() and (j["low"] == 2.0).all()  # paired: every query changes by exactly 2
    cur = ce.curves(tidy, bootstrap=50)
    assert ((cur["low"] <= cur["mean"]) & (cur["mean"] <= cur["high"])).all()
    assert set(cur["r_rel"]) == {-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0}


def test_efficient_regime_of_a_rising_behaviour_against_a_quadratic_loss():
    eff = ce.efficient_regimes(_tidy(0.5, 0.3)).set_index("measure")
    assert set(eff.index) == {"task"}  # no judged measure, not the vector's own behaviour
    row = eff.loc["task"]
    assert np.isnan(row.get("error", np.nan)) if "error" in eff else True
    assert 0 < row["efficient_end"] < np.inf and row["delta_lambda"] > 0
    # at r_eff the marginal gain of Theorem 1's bound equals the marginal loss of Theorem 2's
    from steerbounds.bounds.planner import marginal_gain, marginal_loss

    r = row["efficient_end"]
    gain = marginal_gain(r, row["b0"], row["delta_lambda"])
    loss = marginal_loss(r, row["h0"], row["alpha_eff"], 0.0, row["lam_sigma_beta"])
    assert float(gain) == pytest.approx(float(loss), rel=1e-6)
    assert row["beyond_grid"] == (r > 2.0)
    falling = ce.efficient_regimes(_tidy(-0.5, 0.3)).set_index("measure")
    assert "does not raise its own behaviour" in falling.loc["task", "error"]


def test_aligned_probability_plays_helpfulness():
    rows = pd.DataFrame({"r_e": [0.0, 0.0], "id": ["a", "b"], "value": [0.5, -0.5]})
    assert ce.helpfulness_curve(rows, "harmful")["mean"].iloc[0] == pytest.approx(0.5)
    rows["value"] = [1.0, 1.0]
    assert ce.helpfulness_curve(rows, "harmful")["mean"].iloc[0] == 0.0
    assert ce.helpfulness_curve(rows, "honesty")["mean"].iloc[0] == 1.0


def test_slope_needs_both_sides():
    with pytest.raises(InputError, match="both sides"):
        ce.slope_range(np.array([0.0, 1.0, 2.0]))


# --------------------------------------------------------------------------- on a tiny model


def test_forward_mode_slopes_match_central_differences(tiny_llama, random_vector):
    import torch

    from steerbounds.empirical import tradeoff_matrix as tm
    from steerbounds.empirical.sweep import measure
    from steerbounds.empirical.workloads.tasks import task_queries

    vec = random_vector(tiny_llama, seed=1)
    qs = recipes.behavior_prompts("racist", tiny_llama, n=3)
    plus, minus = recipes.answer_token_sets("racist", tiny_llama.tokenizer)
    h = 1e-2
    p = measure.record_pass(tiny_llama, vec, qs, [-h, 0.0, h], slope=True)
    lo, hi = p.coefficients.index(-h), p.coefficients.index(h)
    _, _, b = measure.answer_log_probabilities(p.logits, plus, minus)
    tasks = task_queries(tiny_llama, "arithmetic", n=3)
    pt = measure.record_pass(tiny_llama, vec, tasks, [-h, 0.0, h], slope=True)
    prob = torch.softmax(pt.logits, dim=-1)
    for i in range(3):
        fd = float(b[hi, i] - b[lo, i]) / (2 * h)
        assert tm.behavior_slope(p.logits[p.zero, i], p.slope_logits[i], plus, minus) == pytest.approx(
            fd, rel=2e-2, abs=1e-5
        )
        a = tasks[i]["answer_id"]
        fd = float(prob[hi, i, a] - prob[lo, i, a]) / (2 * h)
        got = tm.softmax_slope(pt.logits[pt.zero, i], pt.slope_logits[i], range(prob.shape[-1]), a)
        assert got == pytest.approx(fd, rel=2e-2, abs=1e-6)


def test_tradeoff_matrix_end_to_end_on_a_tiny_model(tiny_llama, tmp_path):
    from steerbounds.empirical import tradeoff_matrix as tm
    from steerbounds.empirical.reduce.cross_figures import plot_curves, plot_matrix

    config = tm.MatrixConfig(
        behaviors=("racist", "honesty"),
        tasks=("arithmetic",),
        coefficients=(-1.0, -0.2, 0.2, 1.0),
        n=4,
        n_task=4,
        n_generate=2,
        max_new_tokens=2,
        n_pairs=4,
        bootstrap=20,
        batch_size=3,
    )
    res = tm.tradeoff_matrix(config, model=tiny_llama)
    t = res.tidy
    measures = {"racist:next-token", "honesty:next-token", "arithmetic", "racist:judged", "honesty:judged"}
    assert set(t["measure"]) == measures and set(t["vector"]) == {"racist", "honesty"}
    # every vector × measure × query at all five coefficients (0 added), in that vector's units
    for v, g in t.groupby("vector"):
        r_max = res.scales[v]["r_max"]
        assert set(np.round(g["r_e"] / r_max, 6)) == {-1.0, -0.2, 0.0, 0.2, 1.0}
        sizes = g.groupby("measure")["id"].nunique()
        assert sizes["arithmetic"] == 4 and sizes["racist:judged"] == 2
    s = res.reduced["slopes"]
    assert len(s) == 2 * len(measures) and (s["low"] <= s["high"]).all()
    assert s.loc[s["kind"] != "judged", "jvp_slope"].notna().all()
    eff = res.reduced["efficient"]
    assert set(eff["measure"]) == {"racist:next-token", "honesty:next-token", "arithmetic"}
    assert len(eff) == 2 * 2  # each vector against the other behaviour and the task
    paths = res.write(tmp_path / "out")
    assert {p.name for p in paths} >= {"tidy.parquet", "slopes.csv", "efficient.csv", "result.json"}
    assert pd.read_parquet(tmp_path / "out" / "tidy.parquet").shape == t.shape
    plot_matrix(s, tmp_path / "m.png")
    plot_curves(res.reduced["curves"], tmp_path / "c.png")
    assert (tmp_path / "m.png").stat().st_size > 0 and (tmp_path / "c.png").stat().st_size > 0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"behaviors": ("racist", "racist")}, "twice"),
        ({"behaviors": ("kind",)}, "unknown behaviour"),
        ({"tasks": ("poetry",)}, "tasks"),
        ({"coefficients": (0.0, 1.0, 2.0)}, "below and some above"),
        ({"n_generate": 30, "n": 4}, "n_generate"),
        ({"bootstrap": 3}, "bootstrap"),
    ],
)
def test_validate_refuses_by_name(kw, match):
    from steerbounds.empirical import tradeoff_matrix as tm

    with pytest.raises(InputError, match=match):
        tm.validate(tm.MatrixConfig(**kw))


def test_cli_refuses_in_one_line_before_loading(tmp_path, capsys):
    from steerbounds.cli import main

    (tmp_path / "f").write_text("x")
    for args, word in (
        (["--behaviors", "racist,poetry"], "--behaviors"),
        (["--tasks", "poetry"], "--tasks"),
        (["--coefficients", "0:2:1"], "coefficients"),
        (["--n", "1"], "--n"),
        (["--out", str(tmp_path / "f")], "--out"),
    ):
        argv = ["tradeoff-matrix", *args] + ([] if "--out" in args else ["--out", str(tmp_path / "o")])
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's refusal
            code = int(exc.code or 0)
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert word in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
