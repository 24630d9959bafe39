"""Exact derivatives in r_e at ``r_e = 0`` by forward-mode AD (``torch.func.jvp``).

* :func:`jvp_final_representation` — ``d r^(L)/d r_e``: its norm is the slope λ of
  Assumption 1 (eq. 7), ``|δr^(L)(q)| ≈ λ |r_e|`` near 0.
* :func:`jvp_log_odds` — ``dLO/dr_e`` of the preference log-odds LO (eq. 63), the
  first-order content of Proposition 1 (App. I) tested against the backward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch

from steerbounds.empirical.steering.forward import (
    add_token_forwards,
    answer_log_odds,
    check_inputs,
    forward_last,
    left_align,
)
from steerbounds.empirical.steering.injection import steer, steered_layers
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector


def jvp_final_representation(
    model: SteerableModel,
    vector: SteeringVector,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    layers: object = None,
    return_primal: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact ``d r^(L)/d r_e`` at ``r_e = 0`` (B, d), at each row's last token.

    Forward-mode AD (``torch.func.jvp``) through one steered forward pass with
    the coefficient as the differentiated input: the tangent is the linear
    response of the final representation, whose norm is the slope λ of
    assumption 1 (``|δr^(L)(q)| ≈ λ |r_e|`` near 0). ``return_primal`` also
    returns the unsteered r^(L) (B, d).
    """
    ids, mask = check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    idx = steered_layers(model, vector, layers)

    def final(c: torch.Tensor) -> torch.Tensor:
        with steer(model, vector, c, layers=idx):
            _, rep = forward_last(model, ids, mask, True)
        assert rep is not None  # return_final=True always captures r^(L)
        return rep

    zero = torch.zeros((), dtype=torch.float32)
    one = torch.ones((), dtype=torch.float32)
    with _ad_friendly_attention():
        primal, tangent = torch.func.jvp(final, (zero,), (one,))[:2]
    add_token_forwards(2 * int(mask.sum()))  # the primal and the tangent pass
    return (primal, tangent) if return_primal else tangent


def jvp_log_odds(
    model: SteerableModel,
    vector: SteeringVector,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    *,
    layers: object = None,
    scales: Mapping[int, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(LO, dLO/dc)`` per row (B,), float64, at ``c = 0``: LO the log-odds
    ``log P(Y+|x)/P(Y−|x)`` of the answer-token sets at the last token (eq. 63,
    :func:`~steerbounds.empirical.steering.forward.answer_log_odds`), block l steered by
    ``c · s_l · v_l`` (eq. 2; ``scales`` s_l, default 1, as in
    :func:`~steerbounds.empirical.steering.injection.steer`). One forward-mode pass, no
    backward: with ``s_l = 1`` it is ``dLO/dr_e``; with ``s_l = |∂L/∂r^(l)|`` and ``v_l`` the
    unit descent directions it is ``dLO/dη`` of eq. 64's gradient step."""
    ids, mask = check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    idx = steered_layers(model, vector, layers)

    def log_odds(c: torch.Tensor) -> torch.Tensor:
        with steer(model, vector, c, layers=idx, scales=scales):
            logits, _ = forward_last(model, ids, mask, False)
        return answer_log_odds(logits, plus_ids, minus_ids)

    zero = torch.zeros((), dtype=torch.float32)
    one = torch.ones((), dtype=torch.float32)
    with _ad_friendly_attention():
        primal, tangent = torch.func.jvp(log_odds, (zero,), (one,))[:2]
    add_token_forwards(2 * int(mask.sum()))  # the primal and the tangent pass
    return primal, tangent


@contextmanager
def _ad_friendly_attention() -> Iterator[None]:
    """Route ``scaled_dot_product_attention`` to its math kernel, the one that
    implements forward-mode AD (the fused CPU/CUDA kernels do not). Models
    using eager attention are unaffected."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        yield
