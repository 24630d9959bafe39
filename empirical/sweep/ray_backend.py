"""The Ray backend of a sweep (``--ray auto|local|ADDRESS``): units measured by Ray actors.

The driver (the ``steerbounds sweep`` process) does everything it does without Ray —
locks the run folder, loads the model and vector, resolves the grid, writes the
manifest — and stays the only writer of the run's store. Each worker is a Ray actor
(:class:`UnitWorker`) that loads the model once, on its first unit, with the driver's
vector and absolute grid, and then turns the units it is sent into log lines with the
same :meth:`~steerbounds.empirical.sweep.run.Prepared.line` as a single-process run.
A worker computes with the driver's torch thread count T (``torch.get_num_threads()``,
set by ``OMP_NUM_THREADS``): CPU kernels sum in an order that depends on T, so this is
what makes its floats the driver's (on the same kind of CPU); it reserves T CPUs, or
one GPU with ``--device cuda``. The driver keeps :data:`IN_FLIGHT` units queued per
worker and appends each line as it arrives; the final tables are built in plan order,
so they equal a single-process run's.

A worker whose process dies (killed, out of memory, its node lost) is restarted by
Ray — up to :data:`MAX_RESTARTS` times, loading the model again — and the units it had
in flight are retried on it (:data:`MAX_TASK_RETRIES`); past that the run stops with
every finished unit logged, and ``--resume`` continues it. A worker whose model,
vector, prompts or answer tokens differ from the driver's (another file at the same
path on another node) is refused.

``auto``: the cluster of ``RAY_ADDRESS`` or the one last started on this node, else a
new local one; ``local``: always a new local cluster; ``HOST:PORT`` or
``ray://HOST:PORT``: that cluster (see ``docs/scaling.md``). A process that has
already called ``ray.init`` (a test, a notebook) is used as it is.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import re
import socket
import tempfile
from collections import deque
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.vectors import SteeringVector
    from steerbounds.empirical.sweep.config import SweepConfig
    from steerbounds.empirical.sweep.run import Prepared
    from steerbounds.empirical.sweep.units import Unit

MAX_RESTARTS = 3  # restarts of a dead worker (each loads the model again)
MAX_TASK_RETRIES = 3  # retries of a unit whose worker died while measuring it
IN_FLIGHT = 2  # units queued per worker, so it never waits for the driver's write
INSTALL = "pip install 'steerbounds[ray]'"
log = logging.getLogger("steerbounds")
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.-]+:\d{1,5}$")
# the manifest entries a worker must reproduce (its config is the driver's with the
# grid made absolute and the device its own, so the config itself is not compared)
_WORKER_IDENTITY = ("model.hash", "vector.hash", "layers", "grid", "delta_ref", "answer_tokens", "prompts")


def check_address(address: object, *, option: str = "ray") -> str:
    """A valid ``--ray`` value (``auto``, ``local``, ``HOST:PORT``, ``ray://HOST:PORT``)
    when Ray is installed; anything else is an :class:`InputError` naming ``option``."""
    text = str(address).strip()
    if text not in ("auto", "local") and not _ADDRESS.match(text):
        raise InputError(
            f"{option}: {address!r} is not allowed; use auto, local, HOST:PORT or ray://HOST:PORT"
        )
    if importlib.util.find_spec("ray") is None:
        raise InputError(f"{option}: the Ray backend needs the ray package; install it with {INSTALL}")
    return text


class UnitWorker:
    """A Ray actor's state: the prepared sweep (model loaded once) it measures units on."""

    def __init__(
        self, config: SweepConfig, vector: SteeringVector, identity: dict[str, Any], threads: int
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self.config = config
        self.vector = vector
        self.identity = identity
        self.run: Prepared | None = None

    def _prepared(self) -> Prepared:
        # loaded on the first unit, not in __init__, so that a failure reaches the
        # driver as the task's own exception (an InputError stays one)
        from steerbounds.empirical.sweep.run import identity_difference, prepare

        if self.run is None:
            with tempfile.TemporaryDirectory() as tmp:
                run = prepare(self.config, Path(tmp), vector=self.vector)
            diff = identity_difference(self.identity, run.manifest("worker", 0, 0), fields=_WORKER_IDENTITY)
            if diff is not None:
                raise InputError(
                    f"ray: the worker on {socket.gethostname()} differs from the driver in {diff}"
                )
            self.run = run
        return self.run

    def line(self, unit: Unit) -> dict[str, Any]:
        """The log line of ``unit`` (:meth:`Prepared.line`)."""
        return self._prepared().line(unit)


def _worker_config(config: SweepConfig, gpu: bool) -> SweepConfig:
    """The driver's config with its resolved grid as an absolute one (a worker never
    re-resolves a relative grid) and, for CUDA (``gpu``), the GPU Ray gives the worker."""
    device = "cuda" if gpu else config.device
    return dataclasses.replace(
        config, relative=None, coefficients=tuple(config.coefficients), device=device, progress=False
    )


def _connect(address: str) -> bool:
    """Connect to (or start) the cluster; True when this call started the connection."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "auto" else address, log_to_driver=False)
    except (ConnectionError, ValueError) as exc:
        raise InputError(f"ray: cannot connect to the Ray cluster at {address!r}: {exc}") from None
    return True


def _worker_count(config: SweepConfig, resource: str, each: int) -> int:
    """``ray_workers``, or as many workers as the cluster has room for (``each`` of
    ``resource`` per worker), and never more than that: a worker Ray cannot place would
    hold its queued units forever."""
    import ray

    room = int(ray.cluster_resources().get(resource, 0)) // each
    if room < 1:
        hint = " (lower OMP_NUM_THREADS)" if resource == "CPU" else ""
        raise InputError(
            f"ray: the cluster has no room for a worker with {each} {resource}{hint}; it has "
            f"{ray.cluster_resources().get(resource, 0):g}"
        )
    if config.ray_workers is not None and config.ray_workers > room:
        log.warning(
            "ray: the cluster has room for %d workers of %d %s, not %d",
            room,
            each,
            resource,
            config.ray_workers,
        )
    return room if config.ray_workers is None else min(config.ray_workers, room)


def measure_units(run: Prepared, units: Sequence[Unit]) -> Generator[dict[str, Any], None, None]:
    """The log lines of ``units``, measured by Ray actors, in the order they finish.

    Connects to ``run.config.ray`` (and shuts a connection it started down at the end);
    a worker that failed on bad input raises that :class:`InputError`; a worker that
    died more than :data:`MAX_RESTARTS` times raises :class:`RuntimeError`."""
    import ray
    import torch

    config = run.config
    if config.ray is None or not units:
        return
    started = _connect(config.ray)
    threads = torch.get_num_threads()
    gpu = str(run.model.device).startswith("cuda")
    cpus = 1 if gpu else threads
    actor_class = ray.remote(
        num_cpus=cpus, num_gpus=1 if gpu else 0, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES
    )(UnitWorker)
    identity = run.manifest("driver", 0, 0)
    actors: list[Any] = []
    try:
        # the constructor's arguments stay referenced until the end, for the restarts
        config_ref, vector_ref = ray.put(_worker_config(config, gpu)), ray.put(run.vector)
        count = _worker_count(config, "GPU" if gpu else "CPU", 1 if gpu else cpus)
        actors = [
            actor_class.remote(config_ref, vector_ref, identity, threads)
            for _ in range(min(count, len(units)))
        ]
        queue = deque(units)
        pending: dict[Any, Any] = {}

        def submit(actor: Any) -> None:
            if queue:
                pending[actor.line.remote(queue.popleft())] = actor

        for actor in actors:
            for _ in range(IN_FLIGHT):
                submit(actor)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ref)
            try:
                line = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, InputError):
                    raise InputError(str(exc.cause)) from None
                raise
            except ray.exceptions.RayActorError as exc:
                raise RuntimeError(
                    f"ray: a worker died more than {MAX_RESTARTS} times; the finished units are logged, "
                    f"continue with --resume"
                ) from exc
            submit(actor)
            yield line
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
