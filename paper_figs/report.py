"""``report.md`` of a paper run: every quantity once, from the one reduction.

The parameters of each model/vector beside the paper's ranges, the efficient
regime, and the theory's predictions marked held / not held. Each cell holds one
readable value; the per-case evidence behind every prediction goes to
``predictions_evidence.csv`` (linked). The paper's ranges are quoted from App. A.3
and §4 as the reference they are; nothing else is typed in.
"""

from __future__ import annotations

import csv
import io as text_io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from steerbounds import io
from steerbounds.empirical.reduce.summary import Estimate, Summary
from steerbounds.empirical.reduce.verdicts import Fraction
from steerbounds.paper_figs import timings
from steerbounds.paper_figs.data import PaperData
from steerbounds.paper_figs.tradeoff import regime

# The paper's reported ranges (Llama-2-13B / chat; App. A.3 and §4), for comparison only.
PAPER_ROW = (
    "paper (Llama-2-13B)",
    "–",
    "40–60",
    "0.5 chat, 0.1–0.2 base",
    "0.1–0.4",
    "0.33–0.66",
    "0.1–0.4",
    "0.5–3",
    "≤ 0.5 (fit)",
)
PAIRS = (("chat", "harmful"), ("chat", "racist"), ("base", "harmless"), ("base", "not_racist"))
EVIDENCE_CSV = "predictions_evidence.csv"


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _est(e: Estimate) -> str:
    return e.text(3) if e.ok else "–"


def _fit_value(fit: dict[str, Any] | None, name: str) -> str:
    if fit is None:
        return "–"
    se = fit.get("stderr", {}).get(name)
    return f"{fit[name]:.3g}" + (f" ± {se:.2g}" if se is not None and math.isfinite(se) else "")


def parameter_rows(data: PaperData) -> list[list[str]]:
    """One row per model/vector: each quantity once (see the column headers)."""
    rows = []
    for model, behavior in PAIRS:
        s = data.summary(model, behavior)
        if s is None:
            continue
        facts = data.summary(model, behavior, "facts")
        rows.append(
            [
                f"{model}/{behavior}",
                _est(s.parameter("lambda")),
                _est(s.parameter("udr_slope")),
                _est(s.parameter("lam_sigma")),
                _est(s.parameter("lam_sigma_beta_half_normal")),
                _fit_value(facts.fit("theorem2_full_vocab") if facts else None, "lam_sigma_beta"),
                _est(s.parameter("delta_lambda_mean_lower")),
                _fit_value(s.fit("theorem1_next_token"), "delta_lambda"),
                _est(s.parameter("alpha_one_minus_eps")),
            ]
        )
    return rows


PARAMETER_HEADERS = [
    "model/vector",
    "λ (exact slope at 0)",
    "slope of ‖Uδr‖ (MMLU)",
    "λσ",
    "λσβ measured",
    "λσβ fitted (Thm 2, facts)",
    "Δλ measured (lower line)",
    "Δλ fitted (Thm 1, eq. 27)",
    "α(1−ε) realised",
]


# --------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class Evidence:
    """One tested case of a prediction (a row of the evidence CSV)."""

    prediction: str
    case: str
    statistic: str
    value: float | None
    stderr: float | None
    held: bool


def _summaries(data: PaperData) -> Iterator[tuple[str, str, str, Summary]]:
    for model, behavior in PAIRS:
        for task in ("mmlu", "arithmetic", "facts"):
            s = data.summary(model, behavior, task)
            if s is not None:
                yield model, behavior, task, s


def evidence(data: PaperData) -> list[Evidence]:
    """Every tested case of the five predictions below, from the summaries."""
    out: list[Evidence] = []
    for model, behavior, task, s in _summaries(data):
        case = f"{model}/{behavior}"
        if task == "mmlu":
            # 1. alignment is linear near 0: slope b of a + b r + c r² differs from 0 at 2 SE
            for curve in ("judged_greedy", "next_token"):
                nz = s.near_zero.get(curve, {})
                if "b" in nz and math.isfinite(nz["se_b"]):
                    out.append(
                        Evidence(
                            "linear alignment",
                            f"{case} {curve}",
                            "slope b",
                            nz["b"],
                            nz["se_b"],
                            abs(nz["b"]) > 2 * nz["se_b"],
                        )
                    )
            # 4. the logit noise is normal (D'Agostino-Pearson p > 0.01)
            p = s.parameter("noise_normaltest_p")
            if p.ok and p.value is not None:
                out.append(Evidence("normal noise", case, "D'Agostino p", p.value, None, p.value > 0.01))
            # 5. |U δr| is linear in |r_e| for small |r_e| (R² ≥ 0.95) per MMLU subject
            for g, e in s.group_parameters.get("udr_slope", {}).items():
                if e.ok and e.r2 is not None:
                    out.append(Evidence("linear |U δr|", f"{case} {g}", "R²", e.r2, None, e.r2 >= 0.95))
        # 2. helpfulness falls quadratically near 0 (c < 0 at 2 SE), 3. tends to 1/N at the ends
        curve = "choices" if task == "mmlu" else "full_vocab"
        target = 0.25 if task == "mmlu" else 0.0
        for g, nz in s.group_near_zero.get(curve, {}).items():
            if "c" in nz and math.isfinite(nz["se_c"]):
                out.append(
                    Evidence(
                        "quadratic helpfulness",
                        f"{case} {g}",
                        "curvature c",
                        nz["c"],
                        nz["se_c"],
                        nz["c"] < -2 * nz["se_c"],
                    )
                )
        curves = s.group_curves.get(curve)
        if curves is not None:
            for group, c in curves.groupby("group", sort=True):
                r, h = c["r_e"].to_numpy(float), c["mean"].to_numpy(float)
                h0 = float(h[int(np.argmin(np.abs(r)))])
                ends = (float(h[0]), float(h[-1]))
                ok = abs(h0 - target) > 0.05 and all(abs(e - target) <= 0.5 * abs(h0 - target) for e in ends)
                out.append(Evidence("1/N limit", f"{case} {group}", "H(0), H(ends)", h0, None, ok))
    return out


PREDICTIONS = (
    ("linear alignment", "alignment changes linearly near r_e = 0 (Thm 1; slope ≠ 0 at 2 SE)"),
    ("quadratic helpfulness", "helpfulness falls quadratically near 0 (Thm 2; curvature < 0 at 2 SE)"),
    ("1/N limit", "helpfulness tends to 1/N for large |r_e| (Cor. 2; half-way at both grid ends)"),
    ("normal noise", "the logit noise is normal (Assumption 3; D'Agostino p > 0.01)"),
    ("linear |U δr|", "‖U δr‖ grows linearly with |r_e| (Assumption 1; R² ≥ 0.95 at small |r_e|)"),
)


def _verdict(held: list[bool]) -> str:
    if not held:
        return "not measured"
    n = sum(held)
    if n == len(held):
        return f"held ({n}/{len(held)})"
    if n == 0:
        return f"not held (0/{len(held)})"
    return f"partly ({n}/{len(held)})"


def verdicts(ev: list[Evidence]) -> list[dict[str, Any]]:
    """Each prediction's key, text, verdict ("held (n/n)", "partly (k/n)", …), the cases
    tested and the fraction that held with its exact 95 % interval."""
    out = []
    for key, text in PREDICTIONS:
        cases = [e for e in ev if e.prediction == key]
        held = Fraction(sum(e.held for e in cases), len(cases))
        out.append(
            {
                "prediction": key,
                "text": text,
                "verdict": _verdict([e.held for e in cases]),
                "cases": [e.case for e in cases],
                "held": held.to_dict(),
            }
        )
    return out


def prediction_rows(ev: list[Evidence]) -> list[list[str]]:
    rows = []
    for v in verdicts(ev):
        h = v["held"]
        frac = Fraction(h["k"], h["n"]).text() if h["n"] else "–"
        pairs = {c.split(" ", 1)[0] for c in v["cases"]}
        rows.append([v["text"], f"{h['n']} cases over {len(pairs)} model/vectors", frac, v["verdict"]])
    return rows


PER_QUERY_NOTE = (
    "Per (query, r_e) row of each chat/base MMLU sweep (`steerbounds validate`): k/n rows or queries that "
    "hold, = fraction [exact 95 % Clopper-Pearson interval]. The identity is Theorem 1's step "
    "artanh B − artanh B0 ≥ m/2 with the realised margin m (must hold on every row); a hard margin is "
    "m > 0 at every r_e > 0 (Assumption 2); anti-steerable queries move the wrong way near 0 (Tan et al. "
    "2024). Fig. 2b from these rows: `figures/fig02b_real_queries.png`."
)


def per_query_sections(data: PaperData) -> list[str]:
    """One table of per-query tests per model/vector (empty when no sweep has behaviour records)."""
    lines: list[str] = []
    for model, behavior in PAIRS:
        v = data.verdict(model, behavior)
        if v is not None and v.tests:
            lines += ["", f"### {model}/{behavior}", ""]
            lines.append(tabulate(v.rows(), headers=["test", "holds (95% interval)"], tablefmt="github"))
    return ["", PER_QUERY_NOTE, *lines] if lines else []


def evidence_csv(ev: list[Evidence]) -> str:
    buf = text_io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prediction", "case", "statistic", "value", "stderr", "held"])
    for e in ev:
        w.writerow([e.prediction, e.case, e.statistic, e.value, e.stderr, e.held])
    return buf.getvalue()


# --------------------------------------------------------------------------- the report


def regime_rows(data: PaperData) -> list[list[str]]:
    rows = []
    for model, behavior in PAIRS:
        reg = regime(data, model, behavior)
        if reg:
            rows.append(
                [
                    f"{model}/{behavior}",
                    _f(reg["efficient_end"]),
                    _f(reg["linear_gain"]),
                    _f(reg["quadratic_loss"]),
                    _f(reg["r_max"]),
                ]
            )
    return rows


def write(
    run_dir: str | Path,
    *,
    figures: list[str] | None = None,
) -> Path:
    """Write ``report.md`` (and the evidence CSV) into the run folder."""
    run_dir = Path(run_dir)
    data = PaperData(run_dir)
    cfg = data.config()
    lines = ["# steerbounds paper run", ""]
    ledger = timings.read(run_dir)
    if ledger:
        wall, cpu, n = timings.totals(ledger)
        lines.append(
            f"Measured time: {wall / 3600:.2f} h wall, {cpu / 3600:.2f} h CPU over {n} sitting(s) "
            f"(stage table at the end; `{timings.TIMINGS_JSON}`)."
        )
    if cfg:
        sizes = ", ".join(
            f"{k} = {cfg[k]}" for k in ("n_pairs", "mmlu_n", "task_n", "he_n", "gen_tokens") if k in cfg
        )
        lines.append(
            f"Sizes: {sizes}; coefficient fractions {cfg.get('fractions')}; full configuration in "
            f"`config.json`."
        )
    lines += [
        "",
        "Models: chat = SmolLM2-135M-Instruct (misaligned with harmful/racist vectors); base = Gemma-3-270M "
        "pretrained (aligned with harmless/not-racist vectors). r_e is the norm of the vector added at each "
        "injected block; grids per model in `grids.json`. Every value below comes from the one reduction "
        "(`steerbounds.empirical.reduce.summary`) of the sweep folders under `sweeps/`.",
        "",
        "## Parameters (this run) beside the paper's ranges",
        "",
        tabulate([*parameter_rows(data), list(PAPER_ROW)], headers=PARAMETER_HEADERS, tablefmt="github"),
        "",
        "λ: Assumption 1's slope |d r^(L)/d r_e| at 0 (forward-mode AD), hidden-state units; the paper's "
        "'λ = 40–60' is the slope of ‖U δr‖ (logit units). λσβ measured: sqrt(2/π)·pooled λσ (App. A.3). Δλ "
        "fitted: Theorem 1's proved form eq. 27 on r_e ≥ 0 (the printed eq. 5 gives half). ± is one "
        "standard error.",
        "",
        "## Efficient regime (Fig. 1)",
        "",
    ]
    reg = regime_rows(data)
    lines.append(
        tabulate(
            reg,
            headers=[
                "model/vector",
                "efficient for 0 ≤ r_e ≤",
                "linear gain dB/dr at 0",
                "quadratic loss coefficient",
                "grid max |r_e|",
            ],
            tablefmt="github",
        )
        if reg
        else "not computed (fits missing)"
    )
    lines += [
        "",
        "(The Theorem 1 fit of the next-token behaviour and the Theorem 2 fit of the facts task, fed to the "
        "planner.)",
        "",
        "## Predictions of the theory",
        "",
    ]
    ev = evidence(data)
    io.write_text(run_dir / EVIDENCE_CSV, evidence_csv(ev))
    lines.append(
        tabulate(
            prediction_rows(ev),
            headers=["prediction", "cases tested", "held (95% interval)", "verdict"],
            tablefmt="github",
        )
    )
    lines += [
        "",
        "A case is one model/vector and curve or task; the interval is exact (Clopper-Pearson) over the "
        f"cases. Every tested case with its statistic: [{EVIDENCE_CSV}]({EVIDENCE_CSV}).",
        "",
        "## The theory per query",
    ]
    lines += per_query_sections(data) or ["", "not tested (no behaviour records)"]
    if ledger.get("stages"):
        lines += ["", "## Stage timings, summed over sittings", ""]
        rows = [(k, f"{v['wall_s']:.0f}", f"{v['cpu_s']:.0f}") for k, v in sorted(ledger["stages"].items())]
        lines.append(tabulate(rows, headers=["stage", "wall s", "CPU s"], tablefmt="github"))
        sittings = [
            (s.get("started"), s.get("host"), s.get("cpus"), f"{s['wall_s']:.0f}", f"{s['cpu_s']:.0f}")
            for s in ledger.get("sittings", [])
        ]
        lines += [
            "",
            tabulate(
                sittings, headers=["sitting started", "host", "CPUs", "wall s", "CPU s"], tablefmt="github"
            ),
        ]
    if figures:
        lines += ["", "## Figures", "", *(f"- `{p}`" for p in figures)]
    return io.write_text(run_dir / "report.md", "\n".join(lines) + "\n")
