"""The token prefix every prompt of a batch opens with (chat template, system prompt,
instructions), split off so a sweep can run it once per coefficient r_e and reuse its
KV cache for every prompt.

Steering (eq. 2) adds ``r_e · v_l`` at every position, the shared prefix included, so
its keys and values depend on r_e: the cache is built per coefficient, with the
steering on, and only shared across the prompts of that coefficient.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def cache_keyword(model: torch.nn.Module) -> str:
    """The name a Hugging Face model's ``forward`` takes its KV cache under (and
    returns it as): ``cache`` from transformers 5.x, ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def run_cached(model: torch.nn.Module, input_ids: torch.Tensor) -> Any:
    """A forward of unpadded ``input_ids`` (N, P) that returns its KV cache."""
    out = model(input_ids=input_ids, use_cache=True)
    return out[cache_keyword(model)]


def common_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Number P of leading real tokens shared by every row of a left-aligned batch,
    at most the shortest row's length − 1 (every row keeps a token of its own, so its
    last position is computed after the prefix); 0 when the rows open differently."""
    lengths = attention_mask.sum(dim=1)
    t = input_ids.shape[1]
    shortest = int(lengths.min())
    ar = torch.arange(shortest, device=input_ids.device)
    heads = input_ids.gather(1, (t - lengths).view(-1, 1) + ar.view(1, -1))  # (B, shortest)
    same = (heads == heads[:1]).all(dim=0).long()
    return min(int(same.cumprod(dim=0).sum()), shortest - 1)


def split_prompt(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, p: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(head, rest, mask)`` of a left-aligned batch whose rows share their first
    ``p`` real tokens: ``head`` (1, p) those tokens; ``rest`` (B, T − p) the remaining
    tokens of each row, left-padded; ``mask`` (B, T) the attention mask of head + rest
    (ones over the head, then the rest's padding and tokens)."""
    t = input_ids.shape[1]
    start = int(t - attention_mask[0].sum())
    head = input_ids[:1, start : start + p]
    # in a left-aligned row of length n the rest occupies columns t-n+p … t-1; taking
    # columns p … t-1 leaves t-n columns in front, exactly what mask[:, :t-p] zeroes
    rest_mask = attention_mask[:, : t - p]
    mask = torch.cat([torch.ones_like(attention_mask[:, :p]), rest_mask], dim=1)
    return head, input_ids[:, p:], mask
