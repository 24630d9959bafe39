"""Resumable sweeps (kill -9 + resume) and the extract/sweep CLI, on a tiny model
saved as a Hugging Face folder."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from cli_process import ROOT, cli_env, run_steerbounds, steerbounds_argv
from tiny_sweeps import save_tiny_llama, tiny_sweep_config

from steerbounds import io
from steerbounds.empirical.reduce.tables import load_results
from steerbounds.empirical.sweep.config import parse_coefficients
from steerbounds.empirical.sweep.run import RESULTS, run_sweep
from steerbounds.errors import InputError


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-hf") / "tiny-llama")


SWEEP_ARGS = [
    "--behavior",
    "harmful",
    "--task",
    "arithmetic",
    "--n",
    "4",
    "--n-pairs",
    "8",
    "--coefficients",
    "-3:3:1",
    "--batch-size",
    "2",
    "--coef-chunk",
    "1",
    "--generate",
    "greedy",
    "--max-new-tokens",
    "3",
    "--no-progress",
]


# the sweep SWEEP_ARGS give, as a config
_config = functools.partial(
    tiny_sweep_config,
    n=4,
    n_pairs=8,
    coefficients=parse_coefficients("-3:3:1"),
    batch_size=2,
    coef_chunk=1,
    max_new_tokens=3,
)


def read_results(path: Path) -> list[dict]:
    return io.RunStore(path.parent).records()


def _unit_rows(out: Path) -> dict[str, dict]:
    recs = read_results(out / RESULTS)
    keys = [r["unit"] for r in recs]
    assert len(keys) == len(set(keys)), "a unit was written twice"
    return {r["unit"]: r["rows"] for r in recs}


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_table(tiny_folder, tmp_path):
    ref = run_sweep(_config(tiny_folder, tmp_path / "ref"))
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        steerbounds_argv("sweep", "--model", str(tiny_folder), "--out", str(out), *SWEEP_ARGS),
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / RESULTS
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if results.is_file() and results.read_bytes().count(b"\n") >= 3:
                break
            if proc.poll() is not None:
                pytest.fail("the sweep finished before it could be killed")
            time.sleep(0.05)
        else:
            pytest.fail("the sweep wrote no unit in time")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial = len(read_results(results))
    total = len(read_results(ref / RESULTS))
    assert 3 <= partial < total
    # a torn line, as a kill during a write leaves it, is cut off on resume
    with results.open("a") as f:
        f.write('{"unit": "task|c0|b0", "rows": {"helpf')
    # a second writer is refused while the folder is in use (here: by this test holding its lock)
    with io.RunStore(out):
        busy = run_steerbounds(
            "sweep", "--model", str(tiny_folder), "--out", str(out), "--resume", *SWEEP_ARGS
        )
    assert busy.returncode == 2 and "being written by process" in busy.stderr
    # resuming without --resume is refused; with it, the run completes
    bad = run_steerbounds("sweep", "--model", str(tiny_folder), "--out", str(out), *SWEEP_ARGS)
    assert bad.returncode == 2 and "--resume" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    done = run_steerbounds("sweep", "--model", str(tiny_folder), "--out", str(out), "--resume", *SWEEP_ARGS)
    assert done.returncode == 0, done.stderr[-2000:]
    got, want = _unit_rows(out), _unit_rows(ref)
    assert set(got) == set(want)
    assert got == want
    assert (out / "summary.csv").read_text() == (ref / "summary.csv").read_text()
    assert load_results(out)["helpfulness"].equals(load_results(ref)["helpfulness"])
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(
        p.name for p in (ref / "tables").iterdir()
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["units_done"] == manifest["units_total"] == total
    assert manifest["model"]["hash"] and manifest["vector"]["hash"] and manifest["versions"]["torch"]
    # a finished run resumed again does no work and changes nothing
    again = run_sweep(_config(tiny_folder, out, resume=True))
    assert _unit_rows(again) == want


def test_resume_refuses_a_different_config(tiny_folder, tmp_path):
    out = tmp_path / "run"

    def config(**kw):
        base = dict(measures=("helpfulness",), coefficients=(-1.0, 1.0), generate="none")
        return _config(tiny_folder, out, **{**base, **kw})

    run_sweep(config())
    summary = json.loads((out / "summary.json").read_text())
    assert "theorem2_full_vocab" in summary["fits"] and "lambda" not in summary["parameters"]
    with pytest.raises(InputError, match=r"resume.*coefficients"):
        run_sweep(config(coefficients=(-2.0, 2.0), resume=True))
    with pytest.raises(InputError, match="already holds"):
        run_sweep(config())
    # the fit range only changes the summary: a finished run can be re-summarised
    lines = (out / RESULTS).read_text()
    run_sweep(config(resume=True, fit_max_abs=0.5))
    assert (out / RESULTS).read_text() == lines
    assert json.loads((out / "summary.json").read_text())["fit_max_abs"] == 0.5


def _extract(folder, out, *extra):
    return run_steerbounds(
        "extract", "--behavior", "racist", "--model", str(folder), "--n-pairs", "6", "--layers", "1:3",
        "--out", str(out), *extra,
    )  # fmt: skip


def test_extract_cli_and_vector_reuse(tiny_folder, tmp_path):
    vec = tmp_path / "v.safetensors"
    res = _extract(tiny_folder, vec, "--device", "auto", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    from steerbounds.empirical.steering.vectors import SteeringVector

    v = SteeringVector.load(vec)
    assert v.layers == [1, 2] and v.metadata["behavior"] == "racist"
    said = json.loads(res.stdout)
    assert said["path"] == str(vec) and said["layers"] == [1, 2] and said["n_pairs"] == 6
    assert said["content_hash"] == v.content_hash()
    assert "%|" in res.stderr  # the weight-loading bar is drawn by default ...
    quiet = _extract(tiny_folder, tmp_path / "v2.safetensors", "--device-map", "auto", "--no-progress")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "%|" not in quiet.stderr  # ... and no bar at all with --no-progress
    # accelerate's placement gives the same vector as the plain load
    import torch

    v2 = SteeringVector.load(tmp_path / "v2.safetensors")
    for layer in v.layers:
        assert torch.allclose(v.directions[layer], v2.directions[layer], atol=1e-5)
    out = run_sweep(
        _config(
            tiny_folder,
            tmp_path / "s",
            vector=str(vec),
            layers="1:3",
            behavior="racist",
            measures=("behavior", "delta"),
            coefficients=(-1.0, 1.0),
        )
    )
    # the run folder keeps the vector it used, byte-identical to the given file
    assert (out / "vector.safetensors").read_bytes() == vec.read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert {"delta_lambda_mean", "b0_next_token"} <= set(summary["parameters"])
    assert {"theorem1_next_token", "theorem1_judged_greedy"} <= set(summary["fits"])
    tables = load_results(out)
    assert {"delta", "behavior", "generation"} <= set(tables.names)
    assert len(tables["behavior"]) == 3 * 4  # r_e ∈ {−1, 0, 1} × 4 prompts
