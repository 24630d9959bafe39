"""Compare a sweep summarised by steerbounds before the one reduction (issue 8; the
``summary.json`` of e2b9dbe and earlier) with the same sweep summarised now.

    python scripts/compare_summaries.py OLD_RUN NEW_RUN

Prints, per curve (means and SEMs per coefficient r_e), the largest difference, then
each headline number of the old summary beside the quantity of the new one that
stands for it. Used for the before/after table of ``docs/pipeline-before-after.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: (old section, old column or None = its only value column, new curve)
CURVES = (
    ("lambda", "dr_norm", "dr_norm"),
    ("lambda", "Udr_norm", "udr_norm"),
    ("delta", "mean_sep", "mean_sep"),
    ("delta", "min_sep", "min_sep"),
    ("behavior_next_token", "b", "next_token"),
    ("behavior_next_token_unnormalised", "b_unnorm", "next_token_unnormalised"),
    ("behavior_judged_greedy", None, "judged_greedy"),
    ("helpfulness_full_vocab", "p_correct", "full_vocab"),
    ("accuracy_full_vocab", None, "accuracy_full_vocab"),
    ("helpfulness_choices", None, "choices"),
    ("accuracy_choices", None, "accuracy_choices"),
)

#: old headline key -> path of the new summary's value (None: no longer reported)
HEADLINE = {
    "lambda_jvp": ("parameters", "lambda", "value"),
    "lambda_fit": ("parameters", "lambda_slope", "value"),
    "lambda_logits_fit": ("parameters", "udr_slope", "value"),
    "lam_sigma": ("parameters", "lam_sigma", "value"),
    "lam_sigma_pooled": ("parameters", "lam_sigma_pooled", "value"),
    "sigma": ("parameters", "sigma", "value"),
    "lam_sigma_beta_half_normal": ("parameters", "lam_sigma_beta_half_normal", "value"),
    "lam_sigma_beta_proof": ("parameters", "lam_sigma_beta_proof", "value"),
    "alpha_one_minus_eps_measured": ("parameters", "alpha_one_minus_eps", "value"),
    "delta_lambda_mean_based": ("parameters", "delta_lambda_mean", "value"),
    "delta_lambda_mean_based_lower": ("parameters", "delta_lambda_mean_lower", "value"),
    "delta_lambda_min_based": ("parameters", "delta_lambda_min", "value"),
    "delta_lambda_min_based_lower": ("parameters", "delta_lambda_min_lower", "value"),
    "delta_lambda_fitted_next_token": None,
    "delta_lambda_fitted_next_token_nonneg": ("fits", "theorem1_next_token", "delta_lambda"),
    "delta_lambda_fitted_judged_greedy": ("fits", "theorem1_judged_greedy", "delta_lambda"),
    "lam_sigma_beta_fitted_full_vocab": ("fits", "theorem2_full_vocab", "lam_sigma_beta"),
    "alpha_eff_fitted_full_vocab": ("fits", "theorem2_full_vocab", "alpha_eff"),
    "lam_sigma_beta_fitted_choices": ("fits", "theorem2_choices", "lam_sigma_beta"),
    "alpha_eff_fitted_choices": ("fits", "theorem2_choices", "alpha_eff"),
    "p0_mean_full_vocab": ("parameters", "p0_full_vocab", "value"),
    "p0_mean_choices": ("parameters", "p0_choices", "value"),
}


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def main(old_dir: str, new_dir: str) -> int:
    old = json.loads((Path(old_dir) / "summary.json").read_text())
    new = json.loads((Path(new_dir) / "summary.json").read_text())
    print("curve                     points  max |Δ mean|  max |Δ SEM|")
    for section, column, curve in CURVES:
        rows, points = old[section]["table"], new["curves"][curve]
        name = column or next(k for k in rows[0] if k not in ("r_e", "n") and not k.endswith("_sem"))
        if [r["r_e"] for r in rows] != [p["r_e"] for p in points]:
            print(f"{curve:26s} the coefficients differ")
            continue
        d_mean = max(abs(r[name] - p["mean"]) for r, p in zip(rows, points, strict=True))
        d_sem = max(abs(r[name + "_sem"] - p["sem"]) for r, p in zip(rows, points, strict=True))
        print(f"{curve:26s} {len(points):6d}  {d_mean:12.2e}  {d_sem:11.2e}")
    print("\nold headline                              old           new")
    for key, path in HEADLINE.items():
        value = _get(new, path) if path is not None else "(not reported)"
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:40s} {old['headline'].get(key, float('nan')):12.6g}  {shown}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/compare_summaries.py OLD_RUN NEW_RUN")
    sys.exit(main(sys.argv[1], sys.argv[2]))
