"""``steerbounds coefficient | bound | tradeoff``: output and error paths."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from bound_options import HELPFULNESS, bound_options

from steerbounds.bounds import RESULTS, behavior_lower_bound, helpfulness_upper_bound, required_coefficient
from steerbounds.bounds.cli import parse_values
from steerbounds.cli import main
from steerbounds.errors import InputError


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_coefficient_json(capsys):
    code, out, err = run(
        capsys,
        "coefficient",
        "--target",
        "0.9",
        "--b0",
        "-0.5",
        "--delta-lambda",
        "0.3",
        *HELPFULNESS,
        "--json",
    )
    assert code == 0 and err == ""
    d = json.loads(out)
    r = float(required_coefficient(0.9, -0.5, 0.3))
    assert d["coefficient"] == pytest.approx(r)
    h = float(helpfulness_upper_bound(r, 0.6, 0.5, 0.1, 0.4))
    assert d["helpfulness_bound"] == pytest.approx(h)
    assert d["relative_cost"] == pytest.approx(
        1 - h / float(helpfulness_upper_bound(0.0, 0.6, 0.5, 0.1, 0.4))
    )


def test_coefficient_table_stated_form(capsys):
    code, out, _ = run(
        capsys, "coefficient", "--target", "0.9", "--b0", "-0.5", "--delta-lambda", "0.3", "--form", "stated"
    )
    assert code == 0
    assert f"{float(required_coefficient(0.9, -0.5, 0.3, form='stated')):.6g}" in out
    assert "helpfulness" not in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--target", "1.5", "--b0", "0", "--delta-lambda", "1"], r"target must be in \(-1, 1\)"),
        (["--target", "nan", "--b0", "0", "--delta-lambda", "1"], "not NaN"),
        (["--target", "0.5", "--b0", "0", "--delta-lambda", "0"], "delta_lambda must be in"),
        (
            ["--target", "0.5", "--b0", "0", "--delta-lambda", "1", "--p0", "0.5"],
            "also give --alpha, --lam-sigma-beta",
        ),
        (["--target", "0.5", "--b0", "abc", "--delta-lambda", "1"], "--b0 must be a number"),
    ],
)
def test_coefficient_errors(capsys, argv, match):
    code, out, err = run(capsys, "coefficient", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(match, err), err


def test_bound_grid_csv_matches_numeric(capsys):
    code, out, _ = run(
        capsys,
        "bound",
        "theorem1",
        "--r-e",
        "-5:5:0.5",
        "--b0",
        "-0.5",
        "--delta-lambda",
        "0.3",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    r = np.array([float(row[0]) for row in rows[1:]])
    b = np.array([float(row[1]) for row in rows[1:]])
    np.testing.assert_allclose(r, np.arange(-5, 5.01, 0.5))
    np.testing.assert_allclose(b, np.asarray(behavior_lower_bound(r, -0.5, 0.3)), rtol=1e-15)


def test_bound_equals_sign_and_table(capsys):
    code, out, _ = run(capsys, "bound", "theorem2", "--r-e=-1,0,1", *HELPFULNESS)
    assert code == 0 and "theorem2 (upper)" in out and len(out.strip().splitlines()) == 5


@pytest.mark.parametrize("name", list(RESULTS))
def test_bound_runs_every_registry_result_as_json(capsys, name):
    code, out, err = run(capsys, "bound", *bound_options(name, r_e="0,1,2"), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["name"] == name and len(d["bound"]) == (3 if "r_e" in RESULTS[name].params else 1)
    assert all(np.isfinite(d["bound"]))


def test_bound_component_equations_and_coefficient_sweep(capsys):
    args = ["bound", *bound_options("theorem2_components", r_e="2"), "--json"]
    values = [json.loads(run(capsys, *args, "--form", f)[1])["bound"][0] for f in ("33", "34", "36")]
    assert values[0] <= values[1] <= values[2]
    code, out, _ = run(
        capsys,
        "bound",
        "required_coefficient",
        "--target",
        "0:0.9:0.3",
        "--b0",
        "0",
        "--delta-lambda",
        "1",
        "--json",
    )
    d = json.loads(out)
    assert code == 0 and d["sweep"] == "target" and len(d["bound"]) == 4


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["theorem9", "--r-e", "1"], "unknown bound 'theorem9'"),
        (["theorem1", "--r-e", "1:0:1", "--b0", "0", "--delta-lambda", "1"], "grid needs finite start"),
        (["theorem1", "--r-e", "0:1", "--b0", "0", "--delta-lambda", "1"], "start:stop:step"),
        (["theorem1", "--r-e", "0:1e9:1e-3", "--b0", "0", "--delta-lambda", "1"], "at most"),
        (["theorem1", "--r-e", "1,,2", "--b0", "0", "--delta-lambda", "1"], "must be a number, a list"),
        (["theorem1", "--r-e", "0,1", "--b0", "2", "--delta-lambda", "1"], r"b0 must be in \(-1, 1\)"),
        (["theorem1", "--r-e", "0,1", "--b0", "nan", "--delta-lambda", "1"], "not NaN"),
        (["theorem1", "--r-e", "0,1", "--b0", "0"], "needs --delta-lambda"),
        (["theorem1", "--r-e", "0,1", "--b0", "0,0.1", "--delta-lambda", "1"], "only one parameter"),
        (["theorem1", "--r-e", "0", "--b0", "0", "--delta-lambda", "1", "--p0", "0.5"], "takes no --p0"),
        (
            ["theorem1", "--r-e", "0", "--b0", "0", "--delta-lambda", "1", "--form", "corrected"],
            "--form of theorem1",
        ),
        ([*bound_options("theorem2_components", r_e="0", lam="1"), "--form", "35"], "33, 34, 36"),
    ],
)
def test_bound_errors(capsys, argv, match):
    code, out, err = run(capsys, "bound", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(match, err), err


def test_tradeoff_json_and_plot(capsys, tmp_path):
    png = tmp_path / "tradeoff.png"
    code, out, _ = run(
        capsys,
        "tradeoff",
        "--b0",
        "-0.5",
        "--delta-lambda",
        "0.3",
        *HELPFULNESS,
        "--target",
        "0.9",
        "--plot",
        str(png),
        "--json",
    )
    assert code == 0
    d = json.loads(out)
    assert d["coefficient"] == pytest.approx(float(required_coefficient(0.9, -0.5, 0.3)))
    assert d["efficient_end"] > 0 and len(d["pareto"]["r_e"]) == 201
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))


def test_tradeoff_table_without_helpfulness(capsys):
    code, out, _ = run(capsys, "tradeoff", "--b0", "0.1", "--delta-lambda", "1")
    assert code == 0 and "efficient_end" in out and "∞" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--b0", "-1", "--delta-lambda", "0.3"], "b0 must be in"),
        (["--b0", "0", "--delta-lambda", "0.3", "--alpha", "0.5"], "also give --p0, --lam-sigma-beta"),
        (["--b0", "0", "--delta-lambda", "0.3", "--n-grid", "1"], "n_grid must be"),
        (["--b0", "0", "--delta-lambda", "0.3", "--r-max", "-2"], "r_max must be in"),
        (["--b0", "0", "--delta-lambda", "0.3", *HELPFULNESS[:-1], "nan"], "not NaN"),
    ],
)
def test_tradeoff_errors(capsys, argv, match):
    code, out, err = run(capsys, "tradeoff", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(match, err), err


def test_registration_does_not_import_torch_or_matplotlib():
    code = (
        "import sys, argparse; from steerbounds.bounds import cli; "
        "p = argparse.ArgumentParser(); cli.register(p.add_subparsers()); "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout
    assert out.split() == ["False", "False"]


def test_parse_values():
    np.testing.assert_allclose(parse_values("r_e", "-1:1:0.5"), [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(parse_values("r_e", "0:1:0.3"), [0, 0.3, 0.6, 0.9])
    np.testing.assert_allclose(parse_values("r_e", "2.5"), [2.5])
    with pytest.raises(InputError, match="--r-e"):
        parse_values("r_e", "a,b")


def test_subprocess_error_is_one_line_exit_2():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "steerbounds",
            "bound",
            "theorem1",
            "--r-e",
            "-5:5:0.5",
            "--b0",
            "1.5",
            "--delta-lambda",
            "0.3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "steerbounds bound: error: b0 must be in (-1, 1); got 1.5"
