"""The time ledger of a paper run: wall and CPU seconds per stage, summed over sittings.

A full-size run takes hours and is resumed across sittings (``--resume``), so the time
of one invocation says little. ``timings.json`` in the run folder accumulates, per
stage, the wall seconds and the CPU seconds (this process and its children: the
HumanEval sandbox) of every sitting, and lists the sittings themselves. It is written
atomically after each stage, so a killed sitting keeps the stages it finished; the
stage it was in when killed is lost from the ledger, not from the run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from steerbounds import io

TIMINGS_JSON = "timings.json"
T = TypeVar("T")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Ledger:
    """Accumulates stage times into ``run_dir/timings.json`` (created on first use)."""

    run_dir: Path
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    sittings: list[dict[str, Any]] = field(default_factory=list)
    _sitting: dict[str, Any] = field(default_factory=dict)
    _start_wall: float = 0.0
    _start_cpu: float = 0.0

    @classmethod
    def open(cls, run_dir: Path) -> Ledger:
        """Read the ledger of earlier sittings (if any) and start a new sitting."""
        path = run_dir / TIMINGS_JSON
        saved = io.read_json(path, what="timings") if path.is_file() else {}
        ledger = cls(run_dir, stages=dict(saved.get("stages", {})), sittings=list(saved.get("sittings", [])))
        ledger._start_wall, ledger._start_cpu = time.monotonic(), cpu_seconds()
        ledger._sitting = {
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "cpus": os.cpu_count(),
            "wall_s": 0.0,
            "cpu_s": 0.0,
        }
        ledger.sittings.append(ledger._sitting)
        return ledger

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` and add its wall and CPU seconds to stage ``name``."""
        wall, cpu = time.monotonic(), cpu_seconds()
        out = fn()
        entry = self.stages.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
        entry["wall_s"] += time.monotonic() - wall
        entry["cpu_s"] += cpu_seconds() - cpu
        self.save()
        return out

    def save(self) -> None:
        """Write the ledger atomically, with the current sitting's totals so far."""
        self._sitting["wall_s"] = time.monotonic() - self._start_wall
        self._sitting["cpu_s"] = cpu_seconds() - self._start_cpu
        self.run_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(self.run_dir / TIMINGS_JSON, {"stages": self.stages, "sittings": self.sittings})


def read(run_dir: Path) -> dict[str, Any]:
    """The saved ledger of ``run_dir`` ({} when the run has none)."""
    path = Path(run_dir) / TIMINGS_JSON
    return io.read_json(path, what="timings") if path.is_file() else {}


def totals(ledger: dict[str, Any]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, number of sittings) over every sitting."""
    sittings = ledger.get("sittings", [])
    return (
        sum(float(s.get("wall_s", 0.0)) for s in sittings),
        sum(float(s.get("cpu_s", 0.0)) for s in sittings),
        len(sittings),
    )
