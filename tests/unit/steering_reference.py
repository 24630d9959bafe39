"""The reference that the batched steering engines are checked against: one plain
steered forward pass per coefficient."""

from __future__ import annotations

import torch

from steerbounds.empirical import run_last_position, steer


def naive_sweep(model, vector, ids, mask, coeffs, layers) -> torch.Tensor:
    """Last-token logits under ``steer(model, vector, r_e, layers)`` (eq. 2) for each
    r_e in ``coeffs``, one forward pass each; shape (len(coeffs), B, V)."""
    out = []
    for c in coeffs:
        with steer(model, vector, c, layers=layers):
            out.append(run_last_position(model, ids, mask)[0])
    return torch.stack(out)
