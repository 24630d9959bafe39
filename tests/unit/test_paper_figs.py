"""Figure scripts, fits and report of ``steerbounds paper`` on synthetic run folders (no model)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from steerbounds.paper_figs import FIGURES, fits, report
from steerbounds.paper_figs.common import mean_sem, table_name, write_json
from steerbounds.paper_figs.stages import MODEL_BEHAVIORS

R = [-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0]
DL, B0, LSB, P0 = 0.3, -0.4, 0.35, 0.8


def _planted_run(tmp_path):
    """Tables whose curves follow the theorems with known parameters."""
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    r = np.asarray(R)
    b = np.tanh(DL * r + math.atanh(B0))
    h = P0 / (P0 + (1 - P0) * (1 + 0.5 * (LSB * r) ** 2))
    for model, behaviors in MODEL_BEHAVIORS.items():
        for beh in behaviors:
            base = {"model": model, "behavior": beh, "r_e": R, "model_name": model}
            for kind in ("behavior", "behavior_nexttoken"):
                write_json(
                    run / "tables" / table_name(kind, model, beh),
                    {**base, "mean": b.tolist(), "sem": [0.02] * len(R), "n": 10},
                )
            for task in (
                "mmlu-international_law",
                "mmlu-medical_genetics",
                "mmlu-high_school_computer_science",
                "arithmetic",
                "facts",
            ):
                rec = {**base, "task": task, "n": 10, "n_answers": 4 if task.startswith("mmlu") else None}
                metrics = (
                    ("abcd", "full_vocab", "accuracy")
                    if task.startswith("mmlu")
                    else ("full_vocab", "accuracy")
                )
                for metric in metrics:
                    hh = 0.25 + 0.75 * h if metric == "abcd" else h
                    rec[metric] = {
                        "mean": hh.tolist(),
                        "sem": [0.01] * len(R),
                        "values": [[v] * 3 for v in hh],
                    }
                write_json(run / "tables" / table_name("helpfulness", model, beh, task), rec)
            lam = 50.0
            udr = [[lam * abs(x) * (1 + 0.01 * rng.standard_normal()) for _ in range(6)] for x in R]
            write_json(
                run / "tables" / table_name("lambda", model, beh),
                {
                    **base,
                    "tasks": {
                        t: {"udr_norm": udr, "dr_norm": udr}
                        for t in (
                            "mmlu-international_law",
                            "mmlu-medical_genetics",
                            "mmlu-high_school_computer_science",
                        )
                    },
                },
            )
            noise = [
                {
                    "task": "mmlu",
                    "id": str(q),
                    "projections": (np.outer(r, rng.standard_normal(9)) * 0.5).tolist(),
                    "weights": [0.05] * 9,
                    "mass_top": 0.9,
                }
                for q in range(30)
            ]
            write_json(
                run / "tables" / table_name("logit_noise", model, beh), {**base, "rows": noise, "top_t": 10}
            )
            write_json(
                run / "tables" / table_name("clusters", model, beh),
                {
                    **base,
                    "top_k": 40,
                    "steered_at": 8.0,
                    "queries": [
                        {
                            "id": "0",
                            "text": "a prompt",
                            "mean_sep": (0.2 * r + 0.05 * r**2).tolist(),
                            "hard_margin": (0.1 * r).tolist(),
                            "n_good": 5,
                            "n_bad": 5,
                        }
                    ],
                },
            )
    write_json(
        run / "grids.json", {f"{m}__{b}": {"r_max": 8.0} for m, bs in MODEL_BEHAVIORS.items() for b in bs}
    )
    return run


def test_fits_recover_planted_parameters(tmp_path):
    run = _planted_run(tmp_path)
    out = fits.compute(run)
    beh = out["behavior"]["chat/harmful"]["stated"]
    assert beh["delta_lambda"] == pytest.approx(DL, rel=1e-3)
    assert beh["b0"] == pytest.approx(B0, abs=1e-3)
    assert out["behavior"]["chat/harmful"]["proved"]["delta_lambda"] == pytest.approx(2 * DL, rel=1e-3)
    hel = out["helpfulness"]["chat/harmful/arithmetic"]["full_vocab"]["fit"]
    assert hel["lam_sigma_beta"] == pytest.approx(LSB, rel=1e-2)
    lam = out["lambda"]["chat/harmful"]["mmlu-medical_genetics"]["lam_logits"]
    assert lam == pytest.approx(50.0, rel=0.02)
    assert out["sigma"]["chat/harmful"]["lam_sigma"] == pytest.approx(0.5, rel=0.2)
    assert out["delta_lambda"]["chat/harmful"][0]["mean_sep_lower"] == pytest.approx(0.2 + 0.05 * 2, rel=1e-6)


def test_decreasing_behaviour_is_fitted_on_the_mirrored_axis(tmp_path):
    r = np.asarray(R)
    fit = fits.fit_theorem1(r, np.tanh(-DL * r + 0.1), form="stated")
    assert fit["direction"] == -1.0
    assert fit["delta_lambda"] == pytest.approx(DL, rel=1e-3)


@pytest.mark.slow
def test_every_figure_and_the_report_from_a_planted_run(tmp_path):
    run = _planted_run(tmp_path)
    fits.compute(run)
    out = tmp_path / "figs"
    made = []
    for name in FIGURES:
        made += importlib.import_module(f"steerbounds.paper_figs.{name}").make(str(run), str(out))
    assert {p.suffix for p in made} == {".png", ".pdf"}
    assert all(p.stat().st_size > 1000 for p in made)
    text = report.write(run, elapsed_s=1.0).read_text()
    assert "held" in text and "40–60" in text
    # planted curves: linear alignment and quadratic helpfulness near 0 hold; the |Uδr| law holds
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in text.splitlines()
        if line.startswith("| ") and line.count("|") >= 4
    }
    assert (
        rows["alignment changes linearly near r_e = 0 (Thm 1; slope ≠ 0 at 2 SE, judged and next-token)"]
        == "held (8/8)"
    )
    assert (
        rows[
            "helpfulness falls quadratically near 0 (Thm 2: c < 0 at 2 SE; MMLU over A-D, arithmetic and "
            "facts over the vocabulary)"
        ]
        == "held (20/20)"
    )
    assert (
        rows["‖U δr‖ grows linearly with abs(r_e) (Assumption 1; R² ≥ 0.95 for small abs(r_e))"]
        == "held (12/12)"
    )


def test_figures_mark_missing_data_instead_of_failing(tmp_path):
    made = []
    for name in ("fig04", "fig05", "fig17", "fig02b", "fig01"):
        made += importlib.import_module(f"steerbounds.paper_figs.{name}").make(
            str(tmp_path / "empty"), str(tmp_path / "f")
        )
    assert len(made) == 10


def test_mean_sem():
    m, se, n = mean_sem([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3) and se == pytest.approx(1 / math.sqrt(3))
    assert math.isnan(mean_sem([1.0])[1])


def test_cli_refuses_a_non_empty_folder_without_resume(tmp_path):
    from steerbounds.cli import main

    (tmp_path / "x").write_text("1")
    assert main(["paper", "--out", str(tmp_path), "--quick"]) == 2
    assert main(["paper", "--out", str(tmp_path / "new"), "--models", "gpt"]) == 2
