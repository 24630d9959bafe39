"""Every theorem, corollary and variant of Wolf et al. (arXiv 2401.16332).

Numerics are float64 JAX (x64 enabled locally per call, never globally); see
:mod:`steerbounds.bounds.theorems` for the formulas with their equation numbers and
:data:`RESULTS` for the registry the simulator and CLI iterate over.
"""

from steerbounds.bounds.registry import RESULTS, Result
from steerbounds.bounds.theorems import (
    behavior_lower_bound,
    corollary1_coefficient,
    expected_helpfulness_upper_bound,
    general_behavior_lower_bound,
    helpfulness_upper_bound,
    helpfulness_upper_bound_components,
    multitoken_helpfulness_upper_bound,
    multitoken_required_coefficient,
    required_coefficient,
    soft_margin_behavior_lower_bound,
    soft_margin_max_coefficient,
    trinary_behavior_lower_bound,
)

__all__ = [
    "RESULTS",
    "Result",
    "behavior_lower_bound",
    "corollary1_coefficient",
    "expected_helpfulness_upper_bound",
    "general_behavior_lower_bound",
    "helpfulness_upper_bound",
    "helpfulness_upper_bound_components",
    "multitoken_helpfulness_upper_bound",
    "multitoken_required_coefficient",
    "required_coefficient",
    "soft_margin_behavior_lower_bound",
    "soft_margin_max_coefficient",
    "trinary_behavior_lower_bound",
]
