"""Coefficients in the model's own units.

A unit vector added at n blocks moves the residual stream by r_e per block, so the
same r_e means very different things on models whose hidden states differ in norm
(SmolLM2-135M ~10², Gemma-3-270M ~10³ at the injected blocks; a 0.5B Qwen ~18).
:func:`residual_scale` measures the median norm of the block outputs at the
injected blocks (last token, on the measurement prompts) and turns it into the
scale ``r_max = median‖h_l‖ / n_blocks``: a coefficient of ``r_max`` adds, summed
over the injected blocks, a vector as long as one block's hidden state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.errors import InputError


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
