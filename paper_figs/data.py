"""What the figures and the report read: the run folder of ``steerbounds paper``
through the one reduction (:func:`steerbounds.empirical.reduce.summary.summarize`).

:class:`PaperData` loads each sweep's tables (:func:`load_results`) and summary once,
on first use, and gives them by (model, behaviour, task). Nothing here fits or
averages by itself; what spans runs (the efficient regime of Fig. 1) is in
:mod:`steerbounds.paper_figs.tradeoff`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steerbounds import io
from steerbounds.empirical.reduce.summary import Summary, summarize
from steerbounds.empirical.reduce.tables import Tables, load_results
from steerbounds.empirical.reduce.verdicts import Verdict, validate_run
from steerbounds.paper_figs.stages import humaneval_dir, sweep_dir


@dataclass
class PaperData:
    """Lazy, cached access to a paper run folder."""

    run_dir: Path
    _tables: dict[tuple[str, ...], Tables | None] = field(default_factory=dict, repr=False)
    _summaries: dict[tuple[str, ...], Summary | None] = field(default_factory=dict, repr=False)
    _verdicts: dict[tuple[str, ...], Verdict | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)

    def tables(self, model: str, behavior: str, task: str = "mmlu") -> Tables | None:
        """The tables of one sweep (None when the run has not made it)."""
        key = (model, behavior, task)
        if key not in self._tables:
            folder = sweep_dir(self.run_dir, model, behavior, task)
            self._tables[key] = load_results(folder) if (folder / "manifest.json").is_file() else None
        return self._tables[key]

    def summary(self, model: str, behavior: str, task: str = "mmlu") -> Summary | None:
        """The reduction of one sweep (None when the run has not made it)."""
        key = (model, behavior, task)
        if key not in self._summaries:
            t = self.tables(model, behavior, task)
            self._summaries[key] = summarize(t) if t is not None else None
        return self._summaries[key]

    def verdict(self, model: str, behavior: str) -> Verdict | None:
        """The per-query tests of the MMLU sweep (``steerbounds validate``: the realised-margin
        identity, hard margins, Theorem 1 with the measured Δλ, the anti-steerable fraction,
        eqs. 33-34); None when the sweep is missing or has no behaviour records."""
        key = (model, behavior)
        if key not in self._verdicts:
            t, s = self.tables(model, behavior), self.summary(model, behavior)
            ok = t is not None and s is not None and (t.has("behavior") or t.has("realised"))
            self._verdicts[key] = validate_run(t, s) if ok and t is not None else None
        return self._verdicts[key]

    def humaneval(self, model: str, behavior: str) -> Tables | None:
        """The HumanEval records of one model/vector (None when not run)."""
        key = ("humaneval", model, behavior)
        if key not in self._tables:
            folder = humaneval_dir(self.run_dir, model, behavior)
            self._tables[key] = load_results(folder) if (folder / "manifest.json").is_file() else None
        return self._tables[key]

    def humaneval_summary(self, model: str, behavior: str) -> Summary | None:
        key = ("humaneval", model, behavior)
        if key not in self._summaries:
            t = self.humaneval(model, behavior)
            self._summaries[key] = summarize(t) if t is not None else None
        return self._summaries[key]

    def simulated(self) -> dict[str, Any] | None:
        """The simulator's curves for Figs. 2b and 3b."""
        path = self.run_dir / "simulate" / "curves.json"
        return io.read_json(path, what="simulated curves") if path.is_file() else None

    def grids(self) -> dict[str, Any]:
        path = self.run_dir / "grids.json"
        return io.read_json(path, what="grids") if path.is_file() else {}

    def config(self) -> dict[str, Any]:
        path = self.run_dir / "config.json"
        return io.read_json(path, what="config") if path.is_file() else {}
