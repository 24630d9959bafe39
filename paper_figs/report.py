"""``report.md`` of a paper run: measured and fitted parameters beside the paper's
ranges, the efficient regime, and the theory's predictions marked held / not held
with the evidence computed from the run (no typed-in results; the paper's ranges
are quoted from App. A.3 and §4 as the reference they are)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from steerbounds.paper_figs.common import fits as read_fits
from steerbounds.paper_figs.common import read_json, tables
from steerbounds.paper_figs.tradeoff import regime

# The paper's reported ranges (Llama-2-13B / chat; App. A.3 and §4), for comparison only.
PAPER = {
    "lambda": "40–60",
    "lam_sigma": "0.5 (chat), 0.1–0.2 (base)",
    "lam_sigma_beta": "0.1–0.4 measured (≈0.8·λσ), 0.33–0.66 fitted",
    "delta_lambda": "0.1–0.3 (0.1–0.4 in §4) measured, 0.5–3 fitted",
    "alpha": "≤ 0.5 (fitted)",
}
PAIRS = (("chat", "harmful"), ("chat", "racist"), ("base", "harmless"), ("base", "not_racist"))


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _mean(values: list) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else None


def _headline(run_dir: Path, model: str, behavior: str) -> dict:
    p = run_dir / "sweeps" / f"{model}__{behavior}__mmlu" / "summary.json"
    return read_json(p).get("headline", {}) if p.is_file() else {}


def parameter_rows(run_dir: Path, f: dict) -> list[list[str]]:
    rows = []
    for model, behavior in PAIRS:
        key = f"{model}/{behavior}"
        if key not in f.get("behavior", {}) and key not in f.get("lambda", {}):
            continue
        h = _headline(run_dir, model, behavior)
        lam = f.get("lambda", {}).get(key, {})
        lam_mmlu = _mean([v["lam_logits"] for k, v in lam.items() if k.startswith("mmlu")])
        sig = f.get("sigma", {}).get(key, {})
        beh = f.get("behavior", {}).get(key, {})
        hel = (
            f.get("helpfulness", {}).get(f"{key}/mmlu-international_law", {}).get("abcd", {}).get("fit") or {}
        )
        facts = f.get("helpfulness", {}).get(f"{key}/facts", {}).get("full_vocab", {}).get("fit") or {}
        dl_meas = f.get("delta_lambda", {}).get(key, [])
        rows.append(
            [
                key,
                f"{_f(lam_mmlu)} (sweep summary: ‖δr‖ JVP slope {_f(h.get('lambda_jvp'))}, "
                f"‖Uδr‖ fit {_f(h.get('lambda_logits_fit'))})",
                f"{_f(sig.get('lam_sigma'))} / pooled {_f(sig.get('lam_sigma_pooled'))}",
                f"{_f(sig.get('lam_sigma_beta_half_normal'))} (half-normal), {_f(sig.get('lam_sigma_beta_proof'))} (proof)",
                f"{_f(hel.get('lam_sigma_beta'))} / {_f(facts.get('lam_sigma_beta'))}",
                _f(min((d["mean_sep_lower"] for d in dl_meas), default=None)),
                f"{_f((beh.get('stated') or {}).get('delta_lambda'))} (eq. 5) / "
                f"{_f((beh.get('nexttoken') or {}).get('stated', {}).get('delta_lambda'))} (next-token)",
                f"{_f(hel.get('alpha_eff'))} / {_f(facts.get('alpha_eff'))} (fits), "
                f"{_f(h.get('alpha_one_minus_eps_measured'))} (measured)",
            ]
        )
    return rows


def predictions(run_dir: Path, f: dict) -> list[list[str]]:
    """Each prediction of the theory with a verdict and the evidence from this run."""
    out = []
    # 1. linear alignment near 0: B ≈ a + b r (+ c r²) with b significantly ≠ 0
    ev, held = [], []
    for key, entry in f.get("behavior", {}).items():
        for label, nz in (
            ("judged", entry.get("near_zero")),
            ("next-token", (entry.get("nexttoken") or {}).get("near_zero")),
        ):
            if nz and math.isfinite(nz["se_b"]):
                sig = abs(nz["b"]) > 2 * nz["se_b"]
                held.append(sig)
                ev.append(f"{key} ({label}): slope {_f(nz['b'])} ± {_f(nz['se_b'])}, curvature {_f(nz['c'])}")
    out.append(
        [
            "alignment changes linearly near r_e = 0 (Thm 1; slope ≠ 0 at 2 SE, judged and next-token)",
            _verdict(held),
            "; ".join(ev) or "no data",
        ]
    )
    # 2. quadratic helpfulness near 0: curvature c < 0 (2 SE); MMLU over A-D, arithmetic/facts over the vocabulary
    ev, held = [], []
    for key, entry in f.get("helpfulness", {}).items():
        nz = (entry.get("abcd") or entry.get("full_vocab") or {}).get("near_zero")
        if nz and math.isfinite(nz["se_c"]):
            ok = nz["c"] < -2 * nz["se_c"]
            held.append(ok)
            ev.append(
                f"{key.split('/', 2)[-1]}@{'/'.join(key.split('/')[:2])}: c={_f(nz['c'])}±{_f(nz['se_c'])}, "
                f"b={_f(nz['b'])}±{_f(nz['se_b'])}"
            )
    out.append(
        [
            "helpfulness falls quadratically near 0 (Thm 2: c < 0 at 2 SE; MMLU over A-D, arithmetic and "
            "facts over the vocabulary)",
            _verdict(held),
            "; ".join(ev) or "no data",
        ]
    )
    # 3. 1/N limit (Cor. 2): at both ends of the grid helpfulness has covered at least half the way from
    #    H(0) to 1/N (N = 4 over A-D; N = |V|, i.e. ≈ 0, over the full vocabulary)
    ev, held = [], []
    for t in tables(run_dir, "helpfulness"):
        metric = "abcd" if "abcd" in t else "full_vocab"
        target = 0.25 if metric == "abcd" else 0.0
        h = np.asarray(t[metric]["mean"], dtype=float)
        r = np.asarray(t["r_e"])
        h0 = float(h[int(np.argmin(np.abs(r)))])
        ends = [float(h[0]), float(h[-1])]
        ok = abs(h0 - target) > 0.05 and all(abs(e - target) <= 0.5 * abs(h0 - target) for e in ends)
        held.append(ok)
        ev.append(
            f"{t['model']}/{t['behavior']}/{t['task']}: H(0)={_f(h0)}, H(−max)={_f(ends[0])}, "
            f"H(+max)={_f(ends[1])}, 1/N={_f(target)}"
        )
    out.append(
        [
            "helpfulness tends to 1/N for large abs(r_e) (Cor. 2; half-way at both grid ends)",
            _verdict(held),
            "; ".join(ev) or "no data",
        ]
    )
    # 4. normal logit noise (Assumption 3)
    ev, held = [], []
    for key, s in f.get("sigma", {}).items():
        p = s.get("normaltest_pvalue")
        ok = p is not None and math.isfinite(p) and p > 0.01
        held.append(ok)
        ev.append(
            f"{key}: skew {_f(s['skewness'])}, excess kurtosis {_f(s['excess_kurtosis'])}, "
            f"D'Agostino p={_f(p)}, KS p={_f(s.get('ks_pvalue'))} (n={s['n_values']})"
        )
    out.append(
        [
            "logit noise is normal (Assumption 3; D'Agostino p > 0.01)",
            _verdict(held),
            "; ".join(ev) or "no data",
        ]
    )
    # 5. ‖U δr‖ linear in r_e (Assumption 1): R² ≥ 0.95 over the small range
    ev, held = [], []
    for key, per in f.get("lambda", {}).items():
        for task, v in per.items():
            held.append(v["r2_small"] >= 0.95)
            ev.append(f"{key}/{task}: R²={_f(v['r2_small'])} (all r_e: {_f(v['r2_all'])})")
    out.append(
        [
            "‖U δr‖ grows linearly with abs(r_e) (Assumption 1; R² ≥ 0.95 for small abs(r_e))",
            _verdict(held),
            "; ".join(ev) or "no data",
        ]
    )
    return out


def _verdict(held: list[bool]) -> str:
    if not held:
        return "not measured"
    n = sum(held)
    if n == len(held):
        return f"held ({n}/{len(held)})"
    if n == 0:
        return f"not held (0/{len(held)})"
    return f"partly ({n}/{len(held)})"


def write(
    run_dir: str | Path,
    *,
    elapsed_s: float | None = None,
    timings: dict | None = None,
    figures: list[str] | None = None,
) -> Path:
    """Write ``report.md`` into the run folder."""
    run_dir = Path(run_dir)
    f = read_fits(run_dir)
    cfg = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    lines = ["# steerbounds paper run", ""]
    if elapsed_s is not None:
        lines.append(
            f"Wall time of the invocation that wrote this report: {elapsed_s / 60:.1f} min "
            f"(stage timings below cover that invocation only). Configuration: `{cfg}`."
        )
    lines += [
        "",
        "Models: chat = SmolLM2-135M-Instruct (misaligned with harmful/racist vectors); base = "
        "Gemma-3-270M pretrained (aligned with harmless/not-racist vectors). r_e is the norm of the "
        "vector added at each injected block; grids per model in `grids.json`.",
        "",
        "## Parameters (this run) beside the paper's ranges (Llama-2-13B)",
        "",
    ]
    headers = [
        "model/vector",
        "λ = slope ‖Uδr‖ (MMLU)",
        "λσ (within / pooled)",
        "λσβ measured",
        "λσβ fitted (Thm 2: int. law A-D / facts)",
        "Δλ measured (lower line)",
        "Δλ fitted (Thm 1)",
        "α(1−ε)",
    ]
    rows = parameter_rows(run_dir, f)
    rows.append(
        [
            "paper",
            PAPER["lambda"],
            PAPER["lam_sigma"],
            "0.1–0.4",
            "0.33–0.66",
            "0.1–0.4",
            "0.5–3",
            PAPER["alpha"],
        ]
    )
    lines.append(tabulate(rows, headers=headers, tablefmt="github"))
    lines += [
        "",
        "Fitted Δλ is for the stated form eq. 5, as the paper's; the proved form eq. 27 gives twice "
        "that. Measured λσβ: half-normal estimate sqrt(2/π)·(pooled λσ) as App. A.3, and the proof's "
        "min(abs c−, c+) slope. Units: logits per unit r_e.",
        "",
        "## Efficient regime (Fig. 1)",
        "",
    ]
    reg_rows = []
    for model, behavior in PAIRS:
        reg = regime(str(run_dir), model, behavior)
        if reg:
            sign = "+" if reg["direction"] > 0 else "−"
            reg_rows.append(
                [
                    f"{model}/{behavior}",
                    f"{sign}r_e",
                    _f(reg["efficient_end"]),
                    _f(reg["linear_gain"]),
                    _f(reg["quadratic_loss"]),
                    _f(reg["r_max"]),
                ]
            )
    lines.append(
        tabulate(
            reg_rows,
            headers=[
                "model/vector",
                "direction raising B",
                "efficient for abs(r_e) ≤",
                "linear gain dB/dr at 0",
                "quadratic loss coefficient",
                "grid max abs(r_e)",
            ],
            tablefmt="github",
        )
        if reg_rows
        else "not computed (fits missing)"
    )
    lines += [
        "",
        "(bounds.planner.plan_tradeoff with the Theorem 1 fit (stated form) of the next-token behaviour "
        "curve and the Theorem 2 fit of the facts task.)",
    ]
    lines += ["", "## Predictions of the theory", ""]
    lines.append(
        tabulate(predictions(run_dir, f), headers=["prediction", "verdict", "evidence"], tablefmt="github")
    )
    if timings:
        lines += [
            "",
            "## Stage timings (s)",
            "",
            tabulate(
                sorted((k, f"{v:.0f}") for k, v in timings.items()), headers=["stage", "s"], tablefmt="github"
            ),
        ]
    if figures:
        lines += ["", "## Figures", ""] + [f"- `{p}`" for p in figures]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
