"""Coefficients in the model's own units.

A unit vector added at n blocks moves the residual stream by r_e per block, so the
same r_e means very different things on models whose hidden states differ in norm
(SmolLM2-135M ~10², Gemma-3-270M ~10³ at the injected blocks; a 0.5B Qwen ~18).

* :func:`residual_scale` measures the median norm of the block outputs at the
  injected blocks (last token, on the measurement prompts) and turns it into the
  scale ``r_max = median‖h_l‖ / n_blocks``: a coefficient of ``r_max`` adds, summed
  over the injected blocks, a vector as long as one block's hidden state. Relative
  grids (``rel:-1:1:0.25``) are fractions of ``r_max``.
* :func:`coefficient_scale` adds the forward-mode slope λ = |d r^(L)/d r_e| at 0
  (Assumption 1) and the norm of the unsteered final representation r^(L): the
  *small-r_e regime* is |r_e| ≤ ``r_small = SMALL_CHANGE·‖r^(L)‖/λ``, where the
  linear prediction changes r^(L) by at most ``SMALL_CHANGE`` of its norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from steerbounds.empirical.steering.derivative import jvp_final_representation
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError

SMALL_CHANGE = 0.25  # the small-r_e regime: |λ r_e| ≤ 25 % of ‖r^(L)‖


@dataclass(frozen=True)
class ResidualScale:
    """``median_block_norm``: median over the injected blocks of the per-block median
    ‖h_l‖ (last token); ``r_max`` = that / len(layers)."""

    median_block_norm: float
    r_max: float
    layers: tuple[int, ...]


@torch.no_grad()
def residual_scale(model: SteerableModel, prompts: Sequence[str], layers: Sequence[int]) -> ResidualScale:
    """The residual-stream scale at ``layers`` on ``prompts`` (module docstring)."""
    idx = list(layers)
    if not idx:
        raise InputError("layers: need at least one injected block to measure the scale")
    if not prompts:
        raise InputError("prompts: need at least one prompt to measure the scale")
    enc = model.encode(list(prompts))
    out = model.model(**enc, output_hidden_states=True, logits_to_keep=1)
    norms = [float(out.hidden_states[i + 1][:, -1].float().norm(dim=-1).median()) for i in idx]
    median = float(np.median(norms))
    return ResidualScale(median_block_norm=median, r_max=median / len(idx), layers=tuple(idx))


@dataclass(frozen=True)
class CoefficientScale:
    """The model's units for r_e on some prompts (module docstring): ``r_max`` (the
    residual scale), ``lam`` (mean |d r^(L)/d r_e| at 0), ``final_norm`` (mean
    ‖r^(L)‖ unsteered) and ``r_small`` (the end of the small-r_e regime)."""

    r_max: float
    median_block_norm: float
    lam: float
    final_norm: float
    r_small: float
    layers: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warning(self, coefficients: Sequence[float]) -> str | None:
        """A one-line warning when the grid's first step already leaves the small-r_e
        regime (None when it does not)."""
        steps = [abs(c) for c in coefficients if c != 0]
        if not steps or min(steps) <= self.r_small:
            return None
        return (
            f"the smallest |r_e| = {min(steps):.3g} is past the small-r_e regime of this model "
            f"(|r_e| ≤ {self.r_small:.3g}: λ = {self.lam:.3g}, ‖r^(L)‖ = {self.final_norm:.3g}); the linear "
            f"fits see no linear range — try a relative grid such as rel:-1:1:0.125"
        )


def coefficient_scale(
    model: SteerableModel, vector: SteeringVector, prompts: Sequence[str], layers: Sequence[int]
) -> CoefficientScale:
    """:func:`residual_scale` plus the forward-mode slope at 0 on ``prompts``."""
    res = residual_scale(model, prompts, layers)
    enc = model.encode(list(prompts))
    primal, tangent = jvp_final_representation(
        model, vector, enc["input_ids"], enc["attention_mask"], layers=list(layers), return_primal=True
    )
    lam = float(tangent.double().norm(dim=-1).mean())
    final = float(primal.double().norm(dim=-1).mean())
    r_small = SMALL_CHANGE * final / lam if lam > 0 else float("inf")
    return CoefficientScale(
        r_max=res.r_max,
        median_block_norm=res.median_block_norm,
        lam=lam,
        final_norm=final,
        r_small=r_small,
        layers=res.layers,
    )
