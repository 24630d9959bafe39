"""The exact slope of the final representation in r_e (Assumption 1, eq. 7).

:func:`jvp_final_representation` gives ``d r^(L)/d r_e`` at ``r_e = 0`` by forward-mode
AD (``torch.func.jvp``): its norm is the slope λ of Assumption 1,
``|δr^(L)(q)| ≈ λ |r_e|`` near 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from steerbounds.empirical.steering.forward import add_token_forwards, check_inputs, forward_last, left_align
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


@contextmanager
def _ad_friendly_attention() -> Iterator[None]:
    """Route ``scaled_dot_product_attention`` to its math kernel, the one that
    implements forward-mode AD (the fused CPU/CUDA kernels do not). Models
    using eager attention are unaffected."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        yield
