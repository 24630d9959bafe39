"""``steerbounds calibrate``: the inversion between probes, the split, the checks, and a
run end to end on a tiny model."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from steerbounds.empirical import calibrate as C
from steerbounds.errors import InputError


def test_crossing_inverts_theorem1_exactly_between_probes():
    """On a curve of Theorem 1's form (eq. 27) the piecewise inversion is exact."""
    dl, b0 = 0.6, -0.5
    r = np.array([0.0, 1.0, 2.5, 4.0, 6.0])
    b = np.tanh(dl * r / 2 + np.arctanh(b0))
    for target in (-0.2, 0.1, 0.5, 0.8):
        expected = 2 * (np.arctanh(target) - np.arctanh(b0)) / dl
        assert C.crossing(r, b, target) == pytest.approx(expected, rel=1e-9)
        assert C.interpolate(r, b, expected) == pytest.approx(target, abs=1e-9)
    assert C.crossing(r, b, -0.9) == 0.0  # B(0) already above
    falling = np.array([-0.5, -0.4, -0.45])
    assert C.crossing(np.array([0.0, 1.0, 2.0]), falling, 0.5) == math.inf


def test_split_is_disjoint_seeded_and_covers():
    items = list(range(11))
    a, b = C.split(items, 3)
    assert sorted(a + b) == items and not set(a) & set(b) and len(a) == 5
    assert C.split(items, 3) == (a, b) and C.split(items, 4) != (a, b)


def test_intervals():
    iv = C.clopper_pearson(8, 10)
    assert iv.value == 0.8 and 0.44 < iv.low < 0.45 and 0.97 < iv.high < 0.98
    boot = C.bootstrap_mean(np.arange(100.0), 200, 0)
    assert boot.value == 49.5 and boot.low < 49.5 < boot.high


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"target": 1.0}, "target"),
        ({"target": 0.5, "level": "essay"}, "level"),
        ({"target": 0.5, "confidence": 1.5}, "confidence"),
        ({"target": 0.5, "min_helpfulness": 0.5, "task": None}, "min_helpfulness"),
        ({"target": 0.5, "n": 2}, "n"),
        ({"target": 0.5, "behavior": "sycophancy"}, "prompts_file"),  # not a recipe: needs files
    ],
)
def test_validate_refuses_by_name(kw, match):
    with pytest.raises(InputError, match=match):
        C.validate(C.CalibrateConfig(**kw))


def _log_odds_vector(model):
    """A direction at the last block that raises the + answer tokens' logits over the −
    ones (U_plus − U_minus, unit norm): B rises with r_e on any prompt."""
    import torch

    from steerbounds.empirical import SteeringVector
    from steerbounds.empirical.workloads import recipes

    plus, minus = recipes.answer_token_sets("racist", model.tokenizer)
    U = model.unembedding().detach()
    d = U[plus].mean(0) - U[minus].mean(0)
    last = model.n_layers - 1
    return SteeringVector(
        {last: torch.nn.functional.normalize(d, dim=0)}, "planted", model.name, model.model_hash()
    )


def test_calibrate_end_to_end_on_a_tiny_model(tiny_llama):
    vec = _log_odds_vector(tiny_llama)
    config = C.CalibrateConfig(target=0.3, behavior="racist", n=12, n_task=8, bootstrap=20, task="arithmetic")
    res = C.calibrate(config, model=tiny_llama, vector=vec)
    assert res.n_calibration == 6 and res.n_held_out == 6
    assert res.probes[0] == 0.0 and len(res.probes) >= 2
    assert (
        res.token_forwards["search"] > 0
        and res.token_forwards["analysis"] > 0
        and res.token_forwards["verify"] > 0
    )
    pooled = res.candidates[0] if res.budget is None else res.candidates[1]
    assert math.isfinite(pooled.r_e) and pooled.r_e > 0  # B0 < 0.3 < the largest B for this seed
    # the prediction at the returned coefficient is the target (the inversion is exact on
    # the calibration curve), and the held-out check was made there
    assert pooled.predicted_b == pytest.approx(0.3, abs=1e-9)
    assert min(abs(b - 0.3) for b in res.probe_b) <= C.TOLERANCE  # refining converged on the model
    if pooled.achieved_b is not None:
        assert pooled.achieved_b is not None and pooled.achieved_b.low <= pooled.achieved_b.high
    assert all(q["hard_margin_slope"] is not None for q in res.per_query) and len(res.per_query) == 6
    doc = res.to_dict()
    assert doc["coefficient"] == res.coefficient and doc["theorem1_fit"]["delta_lambda"] > 0


def test_to_dict_names_every_field_once_with_intervals_as_dicts():
    """The JSON of a result: each field under its reported name (``slope`` as
    ``slope_log_odds_at_0``, ``fit`` as ``theorem1_fit``), the returned ``coefficient``,
    intervals as {value, low, high}; floats as plain numbers."""
    iv = C.Interval(0.5, 0.25, 0.75)
    res = C.Calibration(
        target=0.3,
        level="next-token",
        b0=-0.2,
        slope=1.5,
        r_lin=0.4,
        probes=[0.0, 1.0],
        probe_b=[-0.2, 0.3],
        probe_sem=[0.01, 0.02],
        fit={"delta_lambda": 0.7},
        coefficient_interval=iv,
        candidates=[C.Candidate("pooled", 1.0, 0.3, achieved_b=iv), C.Candidate("budget", 0.5, None)],
        notes=["a note"],
        helpfulness_fit={"alpha_eff": 0.9},
        budget={"h": 0.5},
        per_query=[{"id": "q"}],
        token_forwards={"probe": 10},
        wall_s=2.5,
        n_calibration=3,
        n_held_out=4,
    )
    interval = {"value": 0.5, "low": 0.25, "high": 0.75}
    assert res.to_dict() == {
        "target": 0.3,
        "level": "next-token",
        "coefficient": 1.0,
        "b0": -0.2,
        "slope_log_odds_at_0": 1.5,
        "r_lin": 0.4,
        "probes": [0.0, 1.0],
        "probe_b": [-0.2, 0.3],
        "probe_sem": [0.01, 0.02],
        "theorem1_fit": {"delta_lambda": 0.7},
        "coefficient_interval": interval,
        "candidates": [
            {
                "name": "pooled",
                "r_e": 1.0,
                "predicted_b": 0.3,
                "achieved_b": interval,
                "fraction_at_target": None,
                "predicted_h": None,
                "achieved_h": None,
            },
            {
                "name": "budget",
                "r_e": 0.5,
                "predicted_b": None,
                "achieved_b": None,
                "fraction_at_target": None,
                "predicted_h": None,
                "achieved_h": None,
            },
        ],
        "helpfulness_fit": {"alpha_eff": 0.9},
        "budget": {"h": 0.5},
        "notes": ["a note"],
        "per_query": [{"id": "q"}],
        "token_forwards": {"probe": 10},
        "wall_s": 2.5,
        "n_calibration": 3,
        "n_held_out": 4,
    }


def test_cli_refuses_before_loading(tmp_path):
    (tmp_path / "f").write_text("x")
    for args, word in (
        (["--target", "2"], "--target"),
        (["--target", "0.5", "--plot", str(tmp_path / "f" / "x.png")], "--plot"),
        (["--target", "0.5", "--plot", str(tmp_path / "x.gif")], "--plot"),
        (["--target", "0.5", "--task", "poetry"], "--task"),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "steerbounds", "calibrate", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and word in lines[0], res.stderr
