"""``steerbounds validate``: the per-query tests hold where they must, on a tiny model, and
catch a row that breaks them."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

from steerbounds.empirical.reduce.tables import load_results
from steerbounds.empirical.reduce.verdicts import validate_run
from steerbounds.empirical.sweep.config import SweepConfig
from steerbounds.empirical.sweep.run import run_sweep


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from conftest import make_tiny_model

    model = make_tiny_model("llama", seed=0)
    out = tmp_path_factory.mktemp("validate") / "run"
    config = SweepConfig(
        behavior="racist",
        task="arithmetic",
        coefficients=(-2.0, -1.0, 1.0, 2.0),
        n=6,
        n_pairs=8,
        generate="none",
        out=str(out),
        progress=False,
        batch_size=6,
        coef_chunk=5,
    )
    run_sweep(config, model=model)
    return out


def test_identities_hold_on_every_row(run_dir):
    v = validate_run(load_results(run_dir))
    ident = v.tests["identity"]
    assert ident.n == 4 * 6 and ident.k == ident.n  # every steered row of every query
    for eq in ("theorem2_eq33", "theorem2_eq34"):
        assert v.tests[eq].n > 0 and v.tests[eq].k == v.tests[eq].n
    assert {"hard_margin", "margin_linear", "anti_steerable", "theorem1_mean"} <= set(v.tests)
    assert all(0 <= f.k <= f.n for f in v.tests.values())
    lo, hi = v.tests["hard_margin"].interval()
    assert 0 <= lo <= v.tests["hard_margin"].value <= hi <= 1


def test_a_broken_row_is_caught(run_dir):
    tables = load_results(run_dir)
    b = tables.frames["behavior"]
    row = b.index[(b["r_e"] == 2.0)][0]
    b.loc[row, "log_odds"] = b.loc[row, "log_odds"] - b.loc[row, "margin"].__abs__() - 10.0  # below its bound
    v = validate_run(tables)
    assert v.tests["identity"].k == v.tests["identity"].n - 1


def test_cli(run_dir, tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "steerbounds", "validate", str(run_dir), "--plot", str(tmp_path / "m.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "realised-margin identity" in res.stdout and "24/24 = 1.00" in res.stdout
    assert (tmp_path / "m.png").stat().st_size > 1000
    bad = subprocess.run(
        [sys.executable, "-m", "steerbounds", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "manifest" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
