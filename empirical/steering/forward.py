"""Running a model and reading the last position: the unsteered plumbing of steering.

* :func:`check_inputs` / :func:`left_align` / :func:`position_ids` — batches of token ids
  with padding moved to the left and positions counted over real tokens only (as
  ``generate`` counts them), so position −1 is every row's last real token.
* :func:`forward_last` / :func:`run_last_position` — last-position logits ``U r^(L)``
  (eq. 1) and, optionally, the final representation r^(L) itself.

Any active :func:`~steerbounds.empirical.steering.injection.steer` context applies.

* :func:`answer_log_odds` — the log-odds ``log P(Y+|x)/P(Y−|x)`` of two answer-token sets
  at the last position (eq. 63's preference log-odds; B = tanh(½·log-odds), eq. 3).
* :func:`count_token_forwards` — the work a block of code costs in *token-forwards*:
  one per (real token, coefficient) a pass computes (a batched sweep over K
  coefficients of B prompts of T tokens costs K·B·T, whatever rows the blocks below
  the first steered one share; a generated token costs one per row; a forward-mode
  derivative costs two, its primal and its tangent).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from steerbounds.empirical.steering.prompt_cache import cache_keyword
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel


@dataclass
class TokenForwards:
    """A running count of token-forwards (module docstring)."""

    count: int = 0


_COUNTERS: list[TokenForwards] = []


@contextmanager
def count_token_forwards() -> Iterator[TokenForwards]:
    """Count the token-forwards of the engine's passes inside the ``with`` block
    (nested counters each see every pass)."""
    counter = TokenForwards()
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def add_token_forwards(n: int) -> None:
    """Charge ``n`` token-forwards to every active counter."""
    for counter in _COUNTERS:
        counter.count += int(n)


def check_inputs(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise InputError("input_ids: expected a (B, T) tensor of token ids with B, T ≥ 1")
    if input_ids.shape[0] == 0:
        raise InputError("input_ids: the batch is empty (B = 0)")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise InputError(
            f"attention_mask: shape {tuple(attention_mask.shape)} differs from input_ids "
            f"{tuple(input_ids.shape)}"
        )
    mask = attention_mask.to(torch.long)
    if bool((mask.sum(dim=1) == 0).any()):
        raise InputError("attention_mask: a row has no real token")
    return input_ids, mask


def left_align(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move padding to the left (rows rotated), so position -1 is each row's last
    real token. Left-padded input is returned unchanged."""
    if bool(attention_mask[:, -1].all()):
        return input_ids, attention_mask
    t = input_ids.shape[1]
    ar = torch.arange(t, device=input_ids.device)
    last = torch.where(attention_mask.bool(), ar, torch.full_like(ar, -1)).max(dim=1).values
    shift = (t - 1 - last).view(-1, 1)
    gather = (ar.view(1, -1) - shift) % t
    return input_ids.gather(1, gather), attention_mask.gather(1, gather)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (0 at each row's first real token),
    as ``generate`` does, so left padding does not shift absolute positions."""
    return (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)


def forward_last(
    model: SteerableModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    return_final: bool,
    past: Any = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward of left-aligned input; last-position logits (N, V) and r^(L) (N, d).

    With ``past`` (a Hugging Face KV cache of P tokens) ``input_ids`` (N, S) continue
    it and ``attention_mask`` (N, P + S) covers the cached tokens too; positions are
    counted over the real tokens of the whole mask."""
    captured: dict[str, torch.Tensor] = {}

    def grab(module: torch.nn.Module, args: tuple) -> None:
        captured["r"] = args[0][:, -1, :]

    handle = model.lm_head().register_forward_pre_hook(grab) if return_final else None
    try:
        cached = {} if past is None else {cache_keyword(model.model): past}
        out = model.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask)[:, -input_ids.shape[1] :],
            use_cache=past is not None,
            logits_to_keep=1,
            **cached,
        )
    finally:
        if handle is not None:
            handle.remove()
    return out.logits[:, -1, :], captured.get("r")


def run_last_position(
    model: SteerableModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    return_final: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits ``U r^(L) (+bias)`` at each row's last real token, shape (B, V), and
    with ``return_final`` the final representation r^(L) (B, d) (eq. 1).
    Honours any active :func:`steer` context. Padding may be left or right."""
    ids, mask = check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    return forward_last(model, ids, mask, return_final)


def answer_log_odds(logits: torch.Tensor, plus_ids: Sequence[int], minus_ids: Sequence[int]) -> torch.Tensor:
    """``log P(Y+|x)/P(Y−|x) = logsumexp_{y∈Y+} u_y − logsumexp_{y∈Y−} u_y`` per row of the
    last-position logits ``u`` (…, V), in float64: the preference log-odds of eq. 63 with the
    answers ``Y±`` given as first-token sets (the softmax normaliser cancels; for single
    tokens it is ``<r^(L), U^T(e_{y+} − e_{y−})>`` plus the LM-head bias difference).
    Differentiable; the next-token behaviour expectation is ``B = tanh(½·log-odds)`` (eq. 3)."""
    plus, minus = check_answer_sets(plus_ids, minus_ids, int(logits.shape[-1]))
    u = logits.to(torch.float64)
    return torch.logsumexp(u[..., plus], dim=-1) - torch.logsumexp(u[..., minus], dim=-1)


def check_answer_sets(
    plus_ids: Sequence[int], minus_ids: Sequence[int], vocab_size: int
) -> tuple[list[int], list[int]]:
    """The answer-token sets as lists, refused unless both are non-empty, disjoint and
    inside the vocabulary 0 … ``vocab_size`` − 1."""
    sets = []
    for name, ids in (("plus_ids", plus_ids), ("minus_ids", minus_ids)):
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
            raise InputError(f"{name}: expected a non-empty sequence of token ids")
        if not all(not isinstance(i, bool) and isinstance(i, int) and 0 <= i < vocab_size for i in ids):
            raise InputError(f"{name}: every token id must be an int in 0 … {vocab_size - 1}")
        sets.append([int(i) for i in ids])
    if set(sets[0]) & set(sets[1]):
        raise InputError("plus_ids/minus_ids: the two answer-token sets must be disjoint")
    return sets[0], sets[1]
