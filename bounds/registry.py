"""Every result of the paper that steerbounds implements, in one table.

The simulator and the CLI iterate over :data:`RESULTS`; each entry names the
function, its forms (the printed statement and the proof's conclusion where they
differ), the default form (the one the simulator found to hold), the equation
numbers, and the parameters in call order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from steerbounds.bounds import theorems as t


@dataclass(frozen=True)
class Result:
    """One theorem, corollary or variant of the paper."""

    name: str
    function: Callable
    forms: tuple[str, ...]
    default_form: str | None
    equations: str
    kind: Literal["lower", "upper", "coefficient"]
    params: tuple[str, ...]
    summary: str


RESULTS: dict[str, Result] = {
    r.name: r
    for r in (
        Result(
            "theorem1",
            t.behavior_lower_bound,
            ("stated", "proved"),
            "proved",
            "eq. 5 (stated); eqs. 12–27 (proof)",
            "lower",
            ("r_e", "b0", "delta_lambda"),
            "behaviour lower bound, hard margin",
        ),
        Result(
            "theorem3_soft_margin",
            t.soft_margin_behavior_lower_bound,
            ("stated", "proved"),
            "proved",
            "eq. 51 (stated); eqs. 52–62 (proof)",
            "lower",
            ("r_e", "b0", "delta_lambda", "lam", "delta", "M"),
            "behaviour lower bound, soft margin",
        ),
        Result(
            "theorem4_trinary",
            t.trinary_behavior_lower_bound,
            ("stated", "corrected"),
            "corrected",
            "eq. 66 (stated) = eq. 70 (proof)",
            "lower",
            ("r_e", "b0", "p_plus", "delta_lambda"),
            "behaviour lower bound, score in {−1, 0, +1}",
        ),
        Result(
            "theorem5_general",
            t.general_behavior_lower_bound,
            (),
            None,
            "eq. 67; eq. 71 (proof)",
            "lower",
            ("r_e", "p_plus", "p_minus", "b_plus", "delta_lambda"),
            "behaviour lower bound, score in [−1, 1]",
        ),
        Result(
            "corollary1",
            t.corollary1_coefficient,
            ("stated", "proved"),
            "proved",
            "App. D",
            "coefficient",
            ("eps", "gamma", "delta_lambda"),
            "coefficient guaranteeing B > 1 − ε from a floor γ on B0",
        ),
        Result(
            "required_coefficient",
            t.required_coefficient,
            ("stated", "proved"),
            "proved",
            "inversion of eq. 5 / eq. 27",
            "coefficient",
            ("target", "b0", "delta_lambda"),
            "coefficient whose Theorem 1 bound reaches a target B*",
        ),
        Result(
            "theorem6_multitoken",
            t.multitoken_required_coefficient,
            (),
            None,
            "eq. 72; eqs. 73–78 (proof)",
            "coefficient",
            ("eps", "n_tokens", "b0", "delta_lambda"),
            "coefficient guaranteeing B > 1 − 2ε for an N-token answer",
        ),
        Result(
            "theorem2",
            t.helpfulness_upper_bound,
            (),
            None,
            "eq. 6; eqs. 28–38 (proof)",
            "upper",
            ("r_e", "p0", "alpha", "eps", "lam_sigma_beta"),
            "helpfulness upper bound",
        ),
        Result(
            "theorem2_components",
            t.helpfulness_upper_bound_components,
            (),
            None,
            "eqs. 33, 34, 36",
            "upper",
            ("r_e", "p0", "p_plus", "p_minus", "c_plus", "c_minus", "lam"),
            "helpfulness bound from the realised P±, c±",
        ),
        Result(
            "corollary2_expectation",
            t.expected_helpfulness_upper_bound,
            ("stated", "proved"),
            "proved",
            "eq. 45 (stated); eqs. 39–44 (proof)",
            "upper",
            ("r_e", "p0", "alpha", "eps", "lam_sigma_beta", "n_top"),
            "expected helpfulness bound with the 1/T terms; → 1/N",
        ),
        Result(
            "corollary3_multitoken",
            t.multitoken_helpfulness_upper_bound,
            (),
            None,
            "eq. 79; eq. 80",
            "upper",
            ("r_e", "p0_steps", "alpha", "eps", "lam_sigma_beta"),
            "helpfulness bound for an N-token answer",
        ),
    )
}
"""Name → :class:`Result`. Proposition 1 (App. I: one preference-learning gradient step
with learning rate η equals steering with r_e = η) is a statement about training,
not a bound, and is documented in the README only."""
