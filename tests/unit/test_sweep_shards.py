"""Sharded sweeps (``--shard I/N``) and ``steerbounds merge``, on a tiny model saved
as a Hugging Face folder: the shards partition the plan, and their merge is the
single-process run."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
from cli_process import run_steerbounds
from hypothesis import given
from hypothesis import strategies as st
from tiny_sweeps import save_tiny_llama, tiny_sweep_config

from steerbounds import io
from steerbounds.empirical.sweep.config import SweepConfig
from steerbounds.empirical.sweep.shard import check_shard, parse_shard, shard_units
from steerbounds.empirical.sweep.units import plan_units
from steerbounds.errors import InputError


def _plan(n_task: int, n_beh: int, chunk: int, batch: int, generate: str) -> list:
    config = SweepConfig(
        coefficients=(-2.0, -1.0, 0.0, 1.0, 2.0), coef_chunk=chunk, batch_size=batch, generate=generate
    )
    return plan_units(config, n_task, n_beh)


@given(
    n_task=st.integers(0, 9),
    n_beh=st.integers(0, 9),
    chunk=st.integers(1, 6),
    batch=st.integers(1, 5),
    generate=st.sampled_from(["none", "greedy", "both"]),
    count=st.integers(1, 12),
)
def test_shards_partition_the_plan(n_task, n_beh, chunk, batch, generate, count):
    plan = _plan(n_task, n_beh, chunk, batch, generate)
    shards = [shard_units(plan, (i, count)) for i in range(count)]
    keys = [u.key for s in shards for u in s]
    assert sorted(keys) == sorted(u.key for u in plan)  # every unit in exactly one shard
    assert len(keys) == len(set(keys))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # equal shares, ±1
    # a pure function of the plan: the same again, from a newly planned list
    again = _plan(n_task, n_beh, chunk, batch, generate)
    assert [[u.key for u in shard_units(again, (i, count))] for i in range(count)] == [
        [u.key for u in s] for s in shards
    ]
    assert shard_units(plan, None) == plan


@pytest.mark.parametrize("text", ["3/2", "2/2", "-1/4", "1/0", "a/b", "1", "1/2/3", "", "0.5/2"])
def test_parse_shard_refuses(text):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_parse_and_check_shard():
    assert parse_shard(" 3/4 ") == (3, 4)
    assert check_shard([0, 1]) == (0, 1)
    for bad in [(True, 2), (1, 1), (0,), "0/2", (0.0, 2)]:
        with pytest.raises(InputError, match="shard"):
            check_shard(bad)


# ----------------------------------------------------------------- shards + merge on a tiny model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A single-process run and its two shards (the shards reuse its vector, as a job
    array reuses one ``steerbounds extract``)."""
    pytest.importorskip("torch")
    from steerbounds.empirical.sweep.run import run_sweep

    tmp = tmp_path_factory.mktemp("shards")
    config = functools.partial(tiny_sweep_config, save_tiny_llama(tmp / "tiny-llama"))
    ref = run_sweep(config(tmp / "ref"))
    vector = str(ref / "vector.safetensors")
    shards = [run_sweep(config(tmp / f"shard{i}", vector=vector, shard=(i, 2))) for i in range(2)]
    return {"ref": ref, "shards": shards, "config": config, "tmp": tmp}


def _lines(folder: Path) -> list[dict]:
    return io.RunStore(folder).records()


def test_shard_folders_hold_their_units_only(runs):
    ref_keys = [line["unit"] for line in _lines(runs["ref"])]
    shard_keys = [[line["unit"] for line in _lines(s)] for s in runs["shards"]]
    assert sorted(shard_keys[0] + shard_keys[1]) == sorted(ref_keys)
    assert not set(shard_keys[0]) & set(shard_keys[1]) and all(shard_keys)
    for i, s in enumerate(runs["shards"]):
        manifest = json.loads((s / "manifest.json").read_text())
        assert manifest["shard"] == [i, 2] and manifest["status"] == "shard complete"
        assert manifest["units_done"] == manifest["units_total"] == len(shard_keys[i])
        assert not (s / "summary.json").exists()  # a part of the grid gets no summary


def test_merged_shards_equal_the_single_process_run(runs, tmp_path):
    from steerbounds.empirical.reduce.tables import load_results

    res = run_steerbounds("merge", "--out", str(tmp_path / "m"), *map(str, reversed(runs["shards"])))
    assert res.returncode == 0, res.stderr[-2000:]
    merged, ref = tmp_path / "m", runs["ref"]
    assert res.stdout.startswith(f"merged {len(_lines(ref))} of {len(_lines(ref))} units from 2 folders")
    assert [line["unit"] for line in _lines(merged)] == [line["unit"] for line in _lines(ref)]
    assert _lines(merged) == _lines(ref)
    got, want = load_results(merged), load_results(ref)
    assert sorted(got.names) == sorted(want.names)
    for name in want.names:
        assert got[name].equals(want[name]), name
    assert (merged / "summary.csv").read_text() == (ref / "summary.csv").read_text()
    assert (merged / "vector.safetensors").read_bytes() == (ref / "vector.safetensors").read_bytes()
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "shard" not in manifest
    assert manifest["merged_from"] == [str(s) for s in reversed(runs["shards"])]


def test_merge_keeps_a_unit_logged_twice_once(runs, tmp_path):
    from steerbounds.empirical.sweep.merge import merge_runs

    # the full run and a shard overlap on the shard's units: each is kept once
    result = merge_runs([runs["ref"], runs["shards"][1]], tmp_path / "m")
    assert result.units == result.total == len(_lines(runs["ref"])) and not result.missing
    assert _lines(tmp_path / "m") == _lines(runs["ref"])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / ".lock").unlink(missing_ok=True)
    return dst


def test_merge_refusals(runs, tmp_path):
    from steerbounds.empirical.sweep.merge import merge_runs

    s0, s1 = runs["shards"]
    with pytest.raises(InputError, match=r"2 units missing|units missing.*shards not given: 1/2"):
        merge_runs([s0], tmp_path / "a")
    partial = merge_runs([s0], tmp_path / "b", allow_partial=True)
    assert partial.missing and partial.units + len(partial.missing) == partial.total
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["status"] == "partial"
    # another sweep (here: another seed in the manifest) is refused
    other = _copy(s1, tmp_path / "other")
    doc = json.loads((other / "manifest.json").read_text())
    doc["config"]["seed"] += 1
    (other / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"not a run of the same sweep.*config\.seed"):
        merge_runs([s0, other], tmp_path / "c")
    # a unit with different records in two folders is refused
    tampered = _copy(s0, tmp_path / "tampered")
    lines = (tampered / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    kind = next(iter(first["rows"]))
    first["rows"][kind][0]["coefficient"] = 99.0
    (tampered / "results.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(InputError, match=r"unit .* has different records"):
        merge_runs([s0, s1, tampered], tmp_path / "d")
    # the output may not be one of the inputs, nor a folder that exists already
    with pytest.raises(InputError, match="--out"):
        merge_runs([s0, s1], s0)
    res = run_steerbounds("merge", "--out", str(tmp_path / "e"), str(s0), str(other))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "not a run of the same sweep" in res.stderr
    for name in "acde":
        assert not (tmp_path / name).exists()


def test_a_shard_resumes_only_as_itself(runs):
    from steerbounds.empirical.sweep.run import run_sweep

    s0 = runs["shards"][0]
    vector = str(runs["ref"] / "vector.safetensors")
    with pytest.raises(InputError, match=r"shard: .*holds shard 0/2.*--shard 0/2"):
        run_sweep(runs["config"](s0, vector=vector, shard=(1, 2), resume=True))
    with pytest.raises(InputError, match=r"shard: .*--shard 0/2"):
        run_sweep(runs["config"](s0, vector=vector, resume=True))
