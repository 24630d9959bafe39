"""The Ray backend of a sweep (``--ray``) on a local two-CPU Ray cluster and a tiny
model saved as a Hugging Face folder: the workers' run is the single-process run,
also when a worker process is killed mid-run."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray", reason="the Ray backend needs the ray extra: pip install 'steerbounds[ray]'")

from tiny_sweeps import save_tiny_llama, tiny_sweep_config  # noqa: E402

from steerbounds import io  # noqa: E402
from steerbounds.empirical.reduce.tables import load_results  # noqa: E402
from steerbounds.empirical.sweep.run import RESULTS, run_sweep  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of two CPUs, the tiny model's folder and the single-process
    reference run, all with one torch thread (each worker then reserves one CPU)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    tmp = tmp_path_factory.mktemp("ray")
    folder = save_tiny_llama(tmp / "tiny-llama")
    ref = run_sweep(_config(folder, tmp / "ref"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield folder, ref
    ray.shutdown()
    torch.set_num_threads(threads)


# the tiny sweep with r_e ∈ {−2, −1, 0, 1, 2}, one prompt and one coefficient a unit
_config = functools.partial(
    tiny_sweep_config, coefficients=(-2.0, -1.0, 0.0, 1.0, 2.0), batch_size=1, coef_chunk=1
)


def _lines(folder: Path) -> list[dict]:
    return io.RunStore(folder).records()


def _assert_same_run(got: Path, want: Path) -> None:
    keys = [line["unit"] for line in _lines(got)]
    assert len(keys) == len(set(keys)), "a unit was logged twice"
    by_unit = {line["unit"]: line for line in _lines(want)}
    assert {line["unit"]: line for line in _lines(got)} == by_unit
    a, b = load_results(got), load_results(want)
    assert sorted(a.names) == sorted(b.names)
    for name in b.names:
        assert a[name].equals(b[name]), name
    assert (got / "summary.csv").read_text() == (want / "summary.csv").read_text()


def test_ray_run_equals_the_single_process_run(cluster, tmp_path):
    folder, ref = cluster
    out = run_sweep(_config(folder, tmp_path / "ray", ray="auto", ray_workers=2))
    _assert_same_run(out, ref)
    manifest = io.read_json(out / "manifest.json", what="manifest")
    assert manifest["status"] == "complete" and manifest["units_done"] == len(_lines(ref))


def _worker_pids() -> list[int]:
    """The processes of the sweep's Ray actors (Ray titles them ``ray::UnitWorker``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and title.startswith(b"ray::UnitWorker"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the worker's PID in /proc")
def test_a_killed_worker_is_retried_and_every_unit_is_logged_once(cluster, tmp_path):
    folder, ref = cluster
    out = tmp_path / "killed"
    failure: list[BaseException] = []

    def sweep() -> None:
        try:
            run_sweep(_config(folder, out, ray="auto", ray_workers=2))
        except BaseException as exc:  # re-raised in the test's thread below
            failure.append(exc)

    thread = threading.Thread(target=sweep)
    thread.start()
    total, results = len(_lines(ref)), out / RESULTS
    deadline, killed, logged = time.time() + 300, None, 0
    while time.time() < deadline and thread.is_alive() and killed is None:
        logged = results.read_bytes().count(b"\n") if results.is_file() else 0
        pids = _worker_pids()
        if logged >= 2 and pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    thread.join(timeout=300)
    assert not thread.is_alive()
    if failure:
        raise failure[0]
    assert killed is not None and logged < total, "the sweep finished before a worker could be killed"
    _assert_same_run(out, ref)
