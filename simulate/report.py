"""The simulator's report: a JSON-able dict, printable tables and the findings.

The report lists every result of :data:`steerbounds.bounds.RESULTS` with all its forms
(verdicts), the statistical claims, the probes outside the assumptions, and the
*findings*: one line per printed statement that fails, with its counterexample.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tabulate import tabulate

from steerbounds import __version__
from steerbounds.simulate.claims import Claim, Probe
from steerbounds.simulate.verdicts import Verdict, exit_status


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isinf(x)):
        return "—"
    return f"{x:.4g}"


def findings(verdicts: list[Verdict]) -> list[str]:
    """One sentence per violated form, naming its counterexample's numbers."""
    lines = []
    for v in verdicts:
        if not v.violations:
            continue
        c = v.counterexample or {}
        real = c.get("realised", {})
        shown = ", ".join(
            f"{k}={_num(val)}"
            for k, val in real.items()
            if isinstance(val, (int, float)) and not isinstance(val, bool)
        )
        tokens = len(c.get("instance", {}).get("logits", []))
        status = "DEFAULT FORM VIOLATED" if v.default else "fails"
        lines.append(
            f"{v.result} [{v.form or 'only form'}] ({v.equations}) {status}: "
            f"{v.violations}/{v.instances} instances; "
            f"counterexample with {tokens} tokens: r_e={_num(c.get('r_e'))}, true={_num(c.get('true'))}, "
            f"bound={_num(c.get('bound'))} ({shown})"
        )
    return lines


def build_report(
    verdicts: list[Verdict],
    claims: list[Claim],
    probes: list[Probe],
    *,
    seed: int,
    thorough: bool,
    n_instances: int | None,
) -> dict[str, Any]:
    """The JSON-able report (``steerbounds simulate --json`` prints it; ``--out`` saves it)."""
    return {
        "steerbounds_version": __version__,
        "settings": {"seed": seed, "thorough": thorough, "n_instances": n_instances},
        "exit_status": exit_status(verdicts),
        "verdicts": [v.to_dict() for v in verdicts],
        "claims": [c.to_dict() for c in claims],
        "probes": [p.to_dict() for p in probes],
        "findings": findings(verdicts),
    }


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def jsonable(obj: Any) -> Any:
    """``obj`` with each non-finite float as the string ``"inf"``, ``"-inf"`` or ``"nan"``
    (strict JSON that keeps the value; :func:`from_jsonable` reverses it)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [jsonable(v) for v in obj]
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`jsonable`: the strings ``"inf"``, ``"-inf"``, ``"nan"`` back to
    floats (no other string of a report takes these values: names, forms, equations)."""
    if isinstance(obj, str):
        return _NON_FINITE.get(obj, obj)
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj


def to_json(report: dict[str, Any]) -> str:
    """JSON text (infinities as strings, so the output is strict JSON)."""
    return json.dumps(jsonable(report), indent=1, allow_nan=False)


def verdict_table(verdicts: list[Verdict]) -> str:
    """Result × form × instances × evaluations × violations × worst slack × verdict."""
    rows = [
        (
            v.result,
            v.form or "—",
            "yes" if v.default else "",
            v.instances,
            v.evaluations,
            v.violations,
            _num(v.worst_slack),
            v.verdict,
        )
        for v in verdicts
    ]
    return tabulate(
        rows,
        headers=(
            "result",
            "form",
            "default",
            "instances",
            "evaluations",
            "violations",
            "worst slack",
            "verdict",
        ),
    )


def claim_table(claims: list[Claim]) -> str:
    """Each statistical claim: expected, estimate, interval, n, consistent."""
    rows = [
        (
            c.name,
            _num(c.expected),
            _num(c.estimate),
            f"[{_num(c.ci_low)}, {_num(c.ci_high)}]",
            c.n,
            "yes" if c.consistent else "NO",
        )
        for c in claims
    ]
    return tabulate(rows, headers=("claim", "expected", "estimate", "interval", "n", "consistent"))


def probe_table(probes: list[Probe]) -> str:
    """Each probe outside the assumptions: instances, failures, rate, worst slack."""
    rows = [(p.name, p.instances, p.failures, f"{p.failure_rate:.1%}", _num(p.worst_slack)) for p in probes]
    return tabulate(
        rows, headers=("probe (outside the assumptions)", "instances", "failures", "rate", "worst slack")
    )
