"""``steerbounds coefficient | bound | tradeoff`` under hostile input: every bad value of
every option exits 2 with one line on stderr and no traceback; paths and limits are
checked before any work; a closed stdout ends the command quietly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from bound_options import HELPFULNESS, bound_options
from cli_process import steerbounds_argv

import steerbounds.bounds.planner as planner
from steerbounds.bounds import RESULTS
from steerbounds.cli import EXIT_BROKEN_PIPE, main

# Bad for every value option: not numbers, non-finite, overflowing or oversized grids
# and lists, malformed specs.
BAD_VALUES = [
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "abc",
    "1j",
    "0x10",
    "",
    "true",
    "1,,2",
    "nan,1",
    "0:1",
    "0:1:0",
    "1:0:1",
    "0:1:-1",
    "0:nan:1",
    "0:1e308:1e-308",
    "-1e308:1e308:1",
    "0:2e6:1",
    "0:1:1e-320",
    ",".join(["0.5"] * 1_000_001),
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """main(argv) → (exit status, stdout, stderr); argparse's usage errors exit via SystemExit."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_exit_2(code: int, out: str, err: str) -> None:
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def _bound_cases() -> list:
    cases = []
    for name, result in RESULTS.items():
        for param in result.params:
            for k, bad in enumerate(BAD_VALUES):
                cases.append(pytest.param(name, param, bad, id=f"{name}-{param}-{k}"))
    return cases


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "param", "bad"), _bound_cases())
def test_bound_bad_value_exits_2_with_one_line(capsys, name, param, bad):
    assert_one_line_exit_2(*run(capsys, "bound", *bound_options(name, **{param: bad})))


# A valid command line of each command with scalar options; each option is given a bad value in turn.
SCALAR_COMMANDS = {
    "coefficient": ["--target", "0.9", "--b0", "-0.5", "--delta-lambda", "0.3", *HELPFULNESS],
    "tradeoff": ["--b0", "-0.5", "--delta-lambda", "0.3", *HELPFULNESS, "--target", "0.9", "--r-max", "20"],
}
SCALAR_BAD = ["nan", "inf", "-inf", "1e400", "abc", "1j", "", "0:1:0.5", "1,2", "0.5x"]


@pytest.mark.parametrize(
    ("command", "option"),
    [(command, option) for command, argv in SCALAR_COMMANDS.items() for option in argv[::2]],
)
@pytest.mark.parametrize("bad", SCALAR_BAD)
def test_scalar_bad_value_exits_2_with_one_line(capsys, command, option, bad):
    argv = list(SCALAR_COMMANDS[command])
    argv[argv.index(option) + 1] = bad
    assert_one_line_exit_2(*run(capsys, command, *argv))


def test_coefficient_subnormal_delta_lambda_exits_2(capsys):
    # Was "nan": Δλ = 1e-310 is flushed to 0 by XLA.
    code, out, err = run(capsys, "coefficient", "--target", "0.9", "--b0", "0", "--delta-lambda", "1e-310")
    assert_one_line_exit_2(code, out, err)
    assert "delta_lambda" in err and "subnormal" in err


@pytest.fixture
def no_planning(monkeypatch):
    """Fail the test if the planner starts: the checks must come before any work."""

    def refuse(**kwargs):
        raise AssertionError("planned before the options were checked")

    monkeypatch.setattr(planner, "plan_tradeoff", refuse)


@pytest.mark.parametrize("n_grid", ["1", "0", "-3", "1000001", "10000000", "1e7", "2.5", "abc", ""])
def test_tradeoff_n_grid_is_capped_like_bound(capsys, n_grid):
    code, out, err = run(capsys, "tradeoff", "--b0", "0", "--delta-lambda", "1", "--n-grid", n_grid)
    assert_one_line_exit_2(code, out, err)
    assert "n-grid" in err or "n_grid" in err


def _plot_cases(tmp: Path) -> dict[str, Path]:
    a_file = tmp / "a-file"
    a_file.write_text("x")
    (tmp / "folder.png").mkdir()
    return {
        "a folder": tmp,
        "a folder named like a figure": tmp / "folder.png",
        "under a file": a_file / "out.png",
        "deep under a file": a_file / "sub" / "dir" / "out.png",
        "unknown format": tmp / "out.xyz",
        "no suffix": tmp / "out",
        "an existing file with no format": a_file,
    }


@pytest.mark.parametrize(
    "case",
    [
        "a folder",
        "a folder named like a figure",
        "under a file",
        "deep under a file",
        "unknown format",
        "no suffix",
        "an existing file with no format",
    ],
)
def test_tradeoff_plot_path_is_checked_before_work(capsys, tmp_path, no_planning, case):
    path = _plot_cases(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run(capsys, "tradeoff", "--b0", "0", "--delta-lambda", "1", "--plot", str(path))
    assert_one_line_exit_2(code, out, err)
    assert "--plot" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing made or left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_tradeoff_plot_into_a_read_only_folder(capsys, tmp_path, no_planning):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, out, err = run(
        capsys, "tradeoff", "--b0", "0", "--delta-lambda", "1", "--plot", str(locked / "x.png")
    )
    assert_one_line_exit_2(code, out, err)
    assert "not writable" in err


def test_tradeoff_plot_makes_missing_folders_and_leaves_no_temporary(capsys, tmp_path):
    target = tmp_path / "new" / "deeper" / "figure.svg"
    code, _out, err = run(capsys, "tradeoff", "--b0", "0", "--delta-lambda", "1", "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes().lstrip().startswith(b"<?xml")
    assert [p.name for p in target.parent.iterdir()] == ["figure.svg"]


def test_tradeoff_plot_write_failure_after_work_is_one_line(capsys):
    # /proc passes the "parent can be made" check for root, but nothing can be made there.
    if not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    code, _out, err = run(
        capsys, "tradeoff", "--b0", "0", "--delta-lambda", "1", "--plot", "/proc/no/such/x.png"
    )
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("steerbounds tradeoff: error: --plot")


def test_corollary3_points_times_steps_are_capped(capsys):
    steps = ",".join(["0.5"] * 11)
    code, out, err = run(
        capsys,
        *["bound", "corollary3_multitoken", "--r-e", "0:1e5:1", "--p0-steps", steps],
        *["--alpha", "0.5", "--eps", "0", "--lam-sigma-beta", "1"],
    )
    assert_one_line_exit_2(code, out, err)
    assert "at most 1000000" in err


# --------------------------------------------------------------------------- real processes


@pytest.mark.parametrize(
    "grid",
    ["0:1e308:1e-308", "-1e308:1e308:1", "0:1e300:1e-300"],
)
def test_overflowing_grid_is_refused_at_once_in_a_real_process(grid):
    proc = subprocess.run(
        steerbounds_argv("bound", "theorem1", "--r-e", grid, "--b0", "0", "--delta-lambda", "1"),
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard, not a timing threshold
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--r-e grid has" in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["bound", "theorem2", "--r-e", "-1000:1000:0.01", *HELPFULNESS],
        ["bound", "theorem1", "--r-e", "0:100000:1", "--b0", "0", "--delta-lambda", "1", "--json"],
        ["bound", "theorem1", "--r-e", "0:10:1", "--b0", "0", "--delta-lambda", "1", "--format", "csv"],
    ],
    ids=["table-200001-rows", "json-100001-points", "csv-11-rows"],
)
def test_closed_stdout_ends_quietly_with_status_141(tmp_path, argv):
    # A real pipe: `steerbounds ... | head -1`; the small csv may fit the pipe buffer, so
    # the closed pipe shows up at the final flush, or not at all.
    command = " ".join(f"'{a}'" for a in steerbounds_argv(*argv))
    script = f'set -o pipefail; {command} 2>err.txt | head -1; echo "status=${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout
    status = int(lines[1].removeprefix("status="))
    stderr = (tmp_path / "err.txt").read_text()
    assert stderr == "", stderr
    assert status in (0, EXIT_BROKEN_PIPE)  # 0 when all output was written before head closed
    if "-1000:1000:0.01" in argv:  # 200,001 rows cannot fit a pipe buffer
        assert status == EXIT_BROKEN_PIPE
