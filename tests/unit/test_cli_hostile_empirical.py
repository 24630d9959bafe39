"""Bad invocations of ``extract``, ``sweep``, ``merge`` and ``paper``: exit 2, one line,
no traceback, before any model is loaded, and no folder left behind."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from cli_process import run_steerbounds
from tiny_sweeps import save_tiny_llama


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A plain file, a vector with corrupt metadata, one with a bad tensor key, one of
    another hidden size, and a corrupt results log."""
    import torch
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("hostile")
    (d / "file").write_text("x")
    ours = {"format": "steerbounds.steering_vector", "format_version": "1", "layers": "[0]"}
    unit = torch.nn.functional.normalize(torch.ones(7), dim=0)
    save_file({"layer.0": unit}, str(d / "meta.safetensors"), metadata={**ours, "metadata": "{oops"})
    save_file({"layer.x": unit}, str(d / "key.safetensors"), metadata={**ours, "metadata": "{}"})
    save_file({"layer.0": unit}, str(d / "size.safetensors"), metadata={**ours, "metadata": "{}"})
    save_tiny_llama(d / "tiny")  # hidden size 32, read from its config.json
    named = {k: d / f"{k}.safetensors" for k in ("meta", "key", "size")}
    return {"dir": d, "file": d / "file", "tiny": d / "tiny", **named}


#: One bad command line a row, as typed (``{name}``: a path of the ``files`` fixture), then
#: a word its one-line refusal must hold.
CASES = [
    tuple(part.strip() for part in row.split(" => "))
    for row in """
sweep --out {file}                                                   =>  --out
sweep --out {file}/sub                                               =>  --out
sweep --coefficients 0:1e9:1                                         =>  coefficients
sweep --coefficients 0:1e308:1e-308                                  =>  coefficients
sweep --coefficients -1e308,1e308                                    =>  coefficients
sweep --coefficients 1:2:3:4                                         =>  coefficients
sweep --vector {meta} --out {dir}/r1                                 =>  not JSON
sweep --vector {key} --out {dir}/r2                                  =>  layer.<int>
sweep --model {tiny} --vector {size} --out {dir}/r3                  =>  hidden size 7
sweep --vector {dir}/missing.safetensors --out {dir}/r4              =>  no such file
sweep --coefficients 3:1:1                                           =>  coefficients
sweep --coefficients nan                                             =>  coefficients
sweep --measure speed                                                =>  --measure
sweep --n -4                                                         =>  --n
sweep --task poetry                                                  =>  --task
sweep --fit-max-abs inf                                              =>  --fit-max-abs
sweep --shard 3/2                                                    =>  --shard
sweep --shard x                                                      =>  --shard
sweep --ray 'not an address'                                         =>  ray
sweep --ray-workers 2                                                =>  ray_workers
sweep --ray-workers 0 --ray local                                    =>  --ray-workers
merge --out merged-never-written /nonexistent/run                    =>  RUN_DIR
extract --out {file}/v.safetensors                                   =>  --out
extract --out {dir}                                                  =>  --out
extract --method gradient --pairs {file} --out {dir}/g.safetensors   =>  --pairs
extract --prompts {file} --out {dir}/g.safetensors                   =>  --prompts
extract --method gradient --behavior mine --out {dir}/g.safetensors  =>  --behavior
extract --out v.bin                                                  =>  --out
paper --out {file}                                                   =>  --out
paper --figures-only --out {dir}/missing                             =>  --figures-only
paper --models chat,tiny                                             =>  --models
""".strip().splitlines()
]


@pytest.mark.parametrize("command, word", CASES)
def test_bad_invocation_is_one_line_exit_2_and_leaves_nothing(files, command, word, tmp_path):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in shlex.split(command)]
    before = sorted(p.name for p in files["dir"].iterdir())
    start = time.monotonic()
    res = run_steerbounds(*argv, cwd=tmp_path, timeout=120)
    elapsed = time.monotonic() - start
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in res.stderr
    assert "Loading weights" not in res.stderr + res.stdout  # refused before any model was loaded
    assert sorted(p.name for p in files["dir"].iterdir()) == before  # no run folder left behind
    assert not list(tmp_path.iterdir())
    assert elapsed < 60  # "within seconds": a subprocess that imports torch, nothing more


def test_corrupt_middle_line_is_reported_with_its_number_then_repaired(tmp_path):
    """A sweep log with a garbled middle line: resume names the line; --repair drops it."""
    from steerbounds import io

    out = tmp_path / "run"
    with io.RunStore(out) as store:
        store.write_manifest({"format": "steerbounds.sweep/2", "config": {}})
        store.append({"unit": "a", "rows": {}})
        store.append({"unit": "b", "rows": {}})
    log = out / "results.jsonl"
    a, b = log.read_text().splitlines(keepends=True)
    log.write_text(a + '{"unit": "x", "ro\n' + b)
    with io.RunStore(out) as store, pytest.raises(io.CorruptRecordError, match="line 2"):
        store.records()
    with io.RunStore(out) as store:
        assert [r["unit"] for r in store.records(repair=True)] == ["a", "b"]
    assert json.loads(log.read_text().splitlines()[1])["unit"] == "b"
