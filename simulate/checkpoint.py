"""Resumable verdicts: each finished result is appended to a locked run store.

``steerbounds simulate --out DIR`` runs :func:`checkpointed_verdicts` inside a
:class:`steerbounds.io.RunStore` on DIR: one JSON line per finished result (its
verdicts and the run's settings) in :data:`CHECKPOINT`, fsynced before the next result
starts. A run killed and restarted with the same settings reuses the finished results
and computes the rest, so its verdicts equal those of an uninterrupted run (each
result draws from its own key, :func:`~steerbounds.simulate.verdicts.run_verdicts`).
A torn last line (a kill mid-write) is cut off by the store; a corrupt line is
dropped and its result recomputed (the log is only a cache); lines written with
other settings, or that do not hold verdicts, are ignored. A second process on the
same folder is refused at once.
"""

from __future__ import annotations

from typing import Any

from steerbounds.io import RunStore
from steerbounds.simulate.report import from_jsonable, jsonable
from steerbounds.simulate.verdicts import Verdict, run_verdicts

CHECKPOINT = "verdicts.partial.jsonl"
"""The store's record log in the output folder (removed when the run completes)."""


def settings_of(*, seed: int, thorough: bool, n_instances: int | None) -> dict[str, Any]:
    """The settings that decide a run's verdicts (a record is reused only under equal ones)."""
    return {"seed": seed, "thorough": thorough, "n_instances": n_instances}


def finished(store: RunStore, settings: dict[str, Any]) -> dict[str, list[Verdict]]:
    """Result name → verdicts already in the store under ``settings`` (the last record wins)."""
    done: dict[str, list[Verdict]] = {}
    for record in store.records(repair=True):
        if record.get("settings") != settings or not isinstance(record.get("result"), str):
            continue
        try:
            done[record["result"]] = [Verdict.from_dict(from_jsonable(d)) for d in record["verdicts"]]
        except (KeyError, TypeError):  # not a list of verdicts: recompute that result
            done.pop(record["result"], None)
    return done


def checkpointed_verdicts(
    store: RunStore,
    *,
    seed: int,
    thorough: bool,
    n_instances: int | None,
    results: tuple[str, ...] | None = None,
    progress: bool = False,
) -> list[Verdict]:
    """:func:`~steerbounds.simulate.verdicts.run_verdicts`, resuming from and appending to ``store``.

    ``store`` must be entered (``with RunStore(folder, records=CHECKPOINT) as store``).
    """
    settings = settings_of(seed=seed, thorough=thorough, n_instances=n_instances)

    def on_result(name: str, verdicts: list[Verdict]) -> None:
        store.append(
            {"settings": settings, "result": name, "verdicts": [jsonable(v.to_dict()) for v in verdicts]}
        )

    return run_verdicts(
        thorough=thorough,
        seed=seed,
        n_instances=n_instances,
        results=results,
        progress=progress,
        done=finished(store, settings),
        on_result=on_result,
    )
