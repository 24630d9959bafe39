"""Tidy tables of a run: one flat pandas table per measurement kind.

``load_results(run_dir)`` reads a sweep's log (``results.jsonl``) and manifest and
returns :class:`Tables`: one row per coefficient × query (× token for the logit
noise), columns = the fields of the typed records of
:mod:`steerbounds.empirical.sweep.records`. Every consumer reads these tables.

Tables: ``helpfulness``, ``lambda``, ``noise`` (one row per r_e × query × token
rank: ``proj`` = ⟨δr, Uᵀ(e_i − e_correct)⟩ and ``p0_token`` = P_i⁰), ``realised``
(the realised Theorem 2 parameters per r_e × query), ``delta``, ``behavior``,
``generation``; HumanEval runs give ``humaneval``. At the end of a run they are
written beside the log as ``tables/<name>.parquet`` (pyarrow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from steerbounds import io
from steerbounds.empirical.sweep.records import (
    REALISED_FIELDS,
    RECORD_TYPES,
    NoiseRecord,
    Record,
    record_from_dict,
)
from steerbounds.errors import InputError

TABLES_DIR = "tables"
_NOISE_COLUMNS = ("r_e", "id", "group", "rank", "proj", "p0_token", "p0", "dr_norm")
_REALISED_COLUMNS = ("r_e", "id", "group", "p0", "dr_norm", *REALISED_FIELDS)


def _columns(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(RECORD_TYPES[kind]))


TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "helpfulness": _columns("helpfulness"),
    "lambda": _columns("lambda"),
    "noise": _NOISE_COLUMNS,
    "realised": _REALISED_COLUMNS,
    "delta": _columns("delta"),
    "behavior": _columns("behavior"),
    "generation": _columns("generation"),
    "humaneval": _columns("humaneval"),
}


@dataclass
class Tables:
    """The tables of one run and its manifest; ``tables[name]`` is always a
    DataFrame (empty, with the right columns, where the run has no such rows)."""

    frames: dict[str, pd.DataFrame]
    manifest: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in TABLE_COLUMNS:
            raise KeyError(f"no table {name!r}; tables: {', '.join(TABLE_COLUMNS)}")
        return self.frames.get(name, pd.DataFrame(columns=list(TABLE_COLUMNS[name])))

    def has(self, name: str) -> bool:
        return name in self.frames and not self.frames[name].empty

    @property
    def names(self) -> list[str]:
        return [n for n in TABLE_COLUMNS if self.has(n)]


def _frame(name: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(TABLE_COLUMNS[name]))
    return df.sort_values(["r_e", "id"], kind="stable").reset_index(drop=True) if not df.empty else df


def _noise_rows(records: Sequence[NoiseRecord]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    long, realised = [], []
    for r in records:
        for rank, (proj, p0i) in enumerate(zip(r.proj, r.p0_top, strict=True)):
            long.append(
                {
                    "r_e": r.r_e,
                    "id": r.id,
                    "group": r.group,
                    "rank": rank,
                    "proj": proj,
                    "p0_token": p0i,
                    "p0": r.p0,
                    "dr_norm": r.dr_norm,
                }
            )
        if r.sigma_beta is not None:
            d = r.to_dict()
            realised.append({c: d[c] for c in _REALISED_COLUMNS})
    return long, realised


def tables_from_typed(records: Mapping[str, Sequence[Record]], manifest: Mapping[str, Any]) -> Tables:
    """Tables from typed records per kind."""
    frames: dict[str, pd.DataFrame] = {}
    for kind, recs in records.items():
        if not recs:
            continue
        if kind == "sigma":
            long, realised = _noise_rows([r for r in recs if isinstance(r, NoiseRecord)])
            frames["noise"] = _frame("noise", long)
            frames["realised"] = _frame("realised", realised)
        else:
            frames[kind] = _frame(kind, (r.to_dict() for r in recs))
    return Tables(frames=frames, manifest=dict(manifest))


def tables_from_records(log: Sequence[Mapping[str, Any]], *, manifest: Mapping[str, Any]) -> Tables:
    """Tables from a sweep's log lines (``{"unit", "rows": {kind: [record dicts]}}``),
    each unit counted once."""
    seen: set[str] = set()
    typed: dict[str, list[Record]] = {}
    for number, line in enumerate(log, start=1):
        unit = str(line.get("unit"))
        if unit in seen:
            continue
        seen.add(unit)
        rows = line.get("rows")
        if not isinstance(rows, Mapping):
            raise InputError(f"results: log line {number} (unit {unit!r}) has no rows")
        for kind, rs in rows.items():
            typed.setdefault(kind, []).extend(record_from_dict(kind, r) for r in rs)
    return tables_from_typed(typed, manifest)


def load_results(run_dir: str | Path) -> Tables:
    """The tables of the sweep in ``run_dir`` (its ``manifest.json`` and the
    complete lines of ``results.jsonl``; a run still in progress gives what it has)."""
    from steerbounds.empirical.sweep.run import open_run

    store, manifest = open_run(Path(run_dir), "run")
    return tables_from_records(store.records(), manifest=manifest)


def write_tables(tables: Tables, folder: str | Path) -> list[Path]:
    """Write every non-empty table as ``folder/tables/<name>.parquet`` (atomically)."""
    out = Path(folder) / TABLES_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in tables.names:
        path = out / f"{name}.parquet"
        with io.atomic_path(path) as tmp:
            tables[name].to_parquet(tmp, index=False)
        paths.append(path)
    return paths
