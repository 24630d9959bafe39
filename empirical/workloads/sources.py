"""Where a run's model, steering vector, behaviour data and task data come from:
:class:`ModelSource` (the model and its placement, shared by every run configuration)
and :class:`Sources` (with the vector and the data files: sweep and calibrate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from steerbounds.empirical.workloads.tasks import task_queries


@dataclass(kw_only=True)
class ModelSource:
    """The model (``model``: None = the default chat model), placed by ``device``,
    ``dtype``, ``device_map`` and ``max_memory``
    (:func:`~steerbounds.empirical.steering.models.load_configured`); ``data_dir``:
    offline copies of the data sets; ``seed``: every draw. The fields every run
    configuration shares (sweep, calibrate, tradeoff matrix).

    ``device_map`` and ``max_memory`` are marked ``run``: they say where the model is
    placed, not what is measured. Keyword-only, so that a configuration built on these
    fields may still declare fields without a default.
    """

    model: str | None = None
    seed: int = 0
    data_dir: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    device_map: str | None = field(default=None, metadata={"run": True})
    max_memory: str | None = field(default=None, metadata={"run": True})


@dataclass(kw_only=True)
class Sources(ModelSource):
    """A :class:`ModelSource` with the steering vector (``vector``: a saved one, else
    extracted by ``method`` from the first ``n_pairs`` contrast pairs, App. F.2)
    injected at ``layers`` (None = every layer it has); a behaviour given as files
    (``pairs_file``, ``prompts_file``, ``answers_file``, ``judge``:
    :mod:`~steerbounds.empirical.workloads.behavior`) and a task as a file
    (``task_file``). The fields the sweep and calibrate configurations share.
    """

    vector: str | None = None
    layers: str | None = None
    method: str = "pca"
    n_pairs: int = 128
    pairs_file: str | None = None
    prompts_file: str | None = None
    answers_file: str | None = None
    judge: str | None = None
    task_file: str | None = None

    def task_queries(self, model: Any, task: str, n: int) -> list[dict[str, Any]]:
        """``n`` queries of ``task`` (:func:`~steerbounds.empirical.workloads.tasks.task_queries`)
        drawn with this configuration's seed, data folder and task file."""
        return task_queries(
            model, task, n=n, seed=self.seed, data_dir=self.data_dir, task_file=self.task_file
        )
