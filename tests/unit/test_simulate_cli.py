"""``steerbounds simulate``: bad input (``--out`` included) exits 2 with one line before any work;
a killed run resumes to the uninterrupted report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steerbounds.bounds import RESULTS
from steerbounds.cli import main
from steerbounds.simulate.checkpoint import CHECKPOINT


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--instances", "0"], ["--seed", str(2**32)]])
def test_bad_settings_exit_2_with_one_line(argv, capsys):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and argv[0] in err


def test_non_integer_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--seed", "nan"])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def _bad_out(tmp_path, case):
    f = tmp_path / "file"
    f.write_text("x")
    if case == "file":
        return f
    if case == "under a file":
        return f / "sub" / "dir"
    if case == "not creatable":
        return Path("/proc/steerbounds-test/out")  # mkdir fails, even for root
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    return ro / "out"


@pytest.mark.parametrize("case", ["file", "under a file", "not creatable", "read-only parent"])
def test_bad_out_exits_2_with_one_line_before_any_work(case, tmp_path, capsys, monkeypatch):
    if case == "not creatable" and not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    if case == "read-only parent" and os.geteuid() == 0:
        pytest.skip("root may write into a read-only folder")
    import steerbounds.simulate.verdicts as verdicts

    def no_work(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(verdicts, "run_verdicts", no_work)
    out = _bad_out(tmp_path, case)
    assert main(["simulate", "--out", str(out), "--instances", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--out" in err and "Traceback" not in err
    assert not out.exists() or case == "file"


def test_bad_out_from_the_command_line_has_no_traceback(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "steerbounds.cli", "simulate", "--out", str(f / "x")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "--out" in proc.stderr


def _wait_for_record(path, proc, timeout=600.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.exists() and path.read_bytes().count(b"\n") >= 1:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before its first checkpoint: {proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("no checkpoint record within the timeout")


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_report(tmp_path, capsys):
    """SIGKILL after the first checkpointed result; the rerun reuses it and its report
    equals an uninterrupted run's (every result listed, figures, no checkpoint left)."""
    out = tmp_path / "sim"
    argv = ["simulate", "--seed", "3", "--instances", "40", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "steerbounds.cli", *argv, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_record(out / CHECKPOINT, proc)
    finally:
        proc.kill()
        proc.wait()
    done = [json.loads(line)["result"] for line in (out / CHECKPOINT).read_text().splitlines()]
    assert 1 <= len(done) < len(RESULTS)

    code = main([*argv, "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert main(argv) == code == report["exit_status"] == 0
    uninterrupted = json.loads(capsys.readouterr().out)
    assert report["verdicts"] == uninterrupted["verdicts"]
    assert all(v["instances"] > 0 for v in report["verdicts"])  # not vacuous
    listed = {(v["result"], v["form"]) for v in report["verdicts"]}
    for name, res in RESULTS.items():
        forms = res.forms or (None,)
        if name == "theorem2_components":
            forms = ("eq33", "eq34", "eq36")
        assert {(name, f) for f in forms} <= listed, name
    assert report["claims"] and report["probes"] and any("theorem4_trinary" in f for f in report["findings"])
    saved = json.loads((out / "verdicts.json").read_text())
    assert saved["verdicts"] == report["verdicts"]
    assert not (out / CHECKPOINT).exists()
    for name in ("theorem1.png", "theorem2.png", "theorem4.png"):
        assert os.path.getsize(out / name) > 1000
