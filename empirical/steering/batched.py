"""Batched coefficient sweeps: K coefficients r_e as rows of one pass (eq. 2).

* :func:`forward_sweep` — last-position logits (and optionally ``r^(L)``) for K
  coefficients × B prompts in batched passes that compute the blocks below the
  first steered block once per prompt and reuse them for all K coefficients;
  optionally the prompts' shared opening tokens once per coefficient (KV cache
  reuse) and the prompts in length-sorted batches (:func:`length_buckets`).
* :func:`generate_sweep` — K × B generations in one batched ``generate`` call.

Both equal one :func:`~steerbounds.empirical.steering.injection.steer`-ed pass per
coefficient up to float rounding (tests on five tiny architectures).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from steerbounds.empirical.steering.forward import add_token_forwards, check_inputs, forward_last, left_align
from steerbounds.empirical.steering.injection import (
    POSITIONS,
    AddVector,
    ExpandInputs,
    coefficient_tensor,
    steer,
    steered_layers,
)
from steerbounds.empirical.steering.models import SteerableModel, module_device
from steerbounds.empirical.steering.prompt_cache import common_prefix_length, run_cached, split_prompt
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError, check_int


def _coefficient_list(coefficients: Sequence[float] | torch.Tensor) -> list[float]:
    c = coefficient_tensor(coefficients)
    if c.dim() != 1 or c.shape[0] == 0:
        raise InputError("coefficients: expected a non-empty 1-D sequence of coefficients r_e")
    return [float(x) for x in c.tolist()]


def _chunks(values: list[float], chunk_size: int | None) -> Iterator[list[float]]:
    if chunk_size is None:
        yield values
        return
    check_int("chunk_size", chunk_size)
    for i in range(0, len(values), chunk_size):
        yield values[i : i + chunk_size]


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None:
        check_int("batch_size", batch_size)


def length_buckets(attention_mask: torch.Tensor, batch_size: int | None) -> list[torch.Tensor]:
    """Row indices of the batches a sweep runs: all rows in order (``batch_size``
    None), else the rows sorted by real length (stable) cut into batches of
    ``batch_size``, so each batch pads only to its own longest row."""
    _check_batch_size(batch_size)
    n = attention_mask.shape[0]
    if batch_size is None:
        return [torch.arange(n, device=attention_mask.device)]
    order = torch.sort(attention_mask.sum(dim=1), stable=True).indices
    return list(order.split(batch_size))


@torch.no_grad()
def forward_sweep(
    model: SteerableModel,
    vector: SteeringVector,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    coefficients: Sequence[float] | torch.Tensor,
    *,
    layers: object = None,
    share_prefix: bool = True,
    share_prompt: bool = False,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    return_final: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Last-position logits for every coefficient r_e and prompt: shape (K, B, V).

    Each chunk of K coefficients runs as K·B rows of one forward pass (row
    ``k·B + b`` is prompt b steered with coefficient k, eq. 2 at all positions).
    With ``share_prefix`` the blocks below the lowest steered block l0 run once
    on the B prompts; the output of l0 is repeated K times and every later
    block's batch-shaped inputs (masks, positions, rotary tables) are repeated to
    match. With ``share_prompt`` the tokens every prompt opens with (chat
    template, system prompt, instructions; :func:`common_prefix_length`) run once
    per coefficient, steered, and their KV cache is repeated for the B prompts.
    ``batch_size`` runs the prompts in length-sorted batches of that many
    (:func:`length_buckets`, less padding); results come back in input order.
    ``chunk_size`` bounds K per pass (memory ∝ chunk·B·T·d); the prefix is
    recomputed per chunk. ``return_final`` also returns r^(L) (K, B, d).
    Equals one :func:`steer`-ed forward per coefficient up to float rounding.
    """
    coeffs = _coefficient_list(coefficients)
    ids, mask = check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    idx = steered_layers(model, vector, layers)
    buckets = length_buckets(mask, batch_size)
    logits_out: list[torch.Tensor] = []
    final_out: list[torch.Tensor] = []
    for chunk in _chunks(coeffs, chunk_size):
        k = len(chunk)
        logits_k: torch.Tensor | None = None
        final_k: torch.Tensor | None = None
        for rows in buckets:
            width = int(mask[rows].sum(dim=1).max())
            sub_ids, sub_mask = ids[rows, -width:], mask[rows, -width:]
            logits, rep = _chunk_pass(
                model, vector, idx, sub_ids, sub_mask, chunk, share_prefix, share_prompt, return_final
            )
            b = rows.shape[0]
            if logits_k is None:
                logits_k = logits.new_empty(k, ids.shape[0], logits.shape[-1])
            logits_k[:, rows] = logits.reshape(k, b, -1)
            if rep is not None:
                if final_k is None:
                    final_k = rep.new_empty(k, ids.shape[0], rep.shape[-1])
                final_k[:, rows] = rep.reshape(k, b, -1)
        add_token_forwards(int(mask.sum()) * k)
        assert logits_k is not None  # there is at least one bucket
        logits_out.append(logits_k)
        if return_final:
            assert final_k is not None  # return_final=True always captures r^(L)
            final_out.append(final_k)
    logits_all = torch.cat(logits_out, dim=0)
    if return_final:
        return logits_all, torch.cat(final_out, dim=0)
    return logits_all


def _chunk_pass(
    model: SteerableModel,
    vector: SteeringVector,
    idx: list[int],
    ids: torch.Tensor,
    mask: torch.Tensor,
    chunk: list[float],
    share_prefix: bool,
    share_prompt: bool,
    return_final: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Last-position logits (K·B, V) and r^(L) of one chunk of K coefficients."""
    b, k = ids.shape[0], len(chunk)
    coeff = torch.tensor(chunk, dtype=torch.float64)
    copies = 1 if share_prefix else k  # input rows per prompt: the shared blocks expand them
    past = None
    p = common_prefix_length(ids, mask) if share_prompt else 0
    if p > 0:
        head, ids, mask = split_prompt(ids, mask, p)
        with _steering(model, vector, idx, coeff, 1, k, share_prefix):
            past = run_cached(model.model.base_model, head.repeat(copies, 1))
        past.batch_repeat_interleave(b)  # row k·B + b of every block's cache: coefficient k's prefix
    with _steering(model, vector, idx, coeff.repeat_interleave(b), b, k, share_prefix):
        return forward_last(model, ids.repeat(copies, 1), mask.repeat(copies, 1), return_final, past)


@contextmanager
def _steering(
    model: SteerableModel,
    vector: SteeringVector,
    idx: list[int],
    row_coeff: torch.Tensor,
    b: int,
    k: int,
    share_prefix: bool,
) -> Iterator[None]:
    """Steer K·b rows with ``row_coeff`` (row ``k·b + j``: coefficient k). With
    ``share_prefix`` the input has b rows: blocks below the first steered one run on
    them, its output is repeated K times and later blocks' batch-shaped inputs too;
    without it the input already has K·b rows."""
    if not share_prefix:
        with steer(model, vector, row_coeff, layers=idx):
            yield
        return
    first = idx[0]
    handles = []
    try:
        for i in range(first, model.n_layers):
            block = model.layers[i]
            if i > first and k > 1:
                handles.append(block.register_forward_pre_hook(ExpandInputs(b, k), with_kwargs=True))
            if i in idx:
                direction = vector.directions[i].to(module_device(block, model.device), torch.float32)
                hook = AddVector(direction, row_coeff, expand=k if i == first else 1)
                handles.append(block.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def generate_sweep(
    model: SteerableModel,
    vector: SteeringVector,
    prompts: Sequence[str],
    coefficients: Sequence[float] | torch.Tensor,
    *,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    positions: str = "all",
    layers: object = None,
    chunk_size: int | None = None,
) -> list[list[str]]:
    """Generated continuations ``texts[k][b]`` of prompt b under coefficient k.

    The K·B (prompt, coefficient) pairs run as rows of one ``generate`` call per
    chunk of coefficients, with a per-row coefficient tensor (eq. 2). Greedy
    decoding by default (the paper's harmfulness protocol, App. F.3); sampling
    uses ``temperature`` over the full vocabulary (no top-k/top-p) seeded by
    ``seed``. Prompts are used as given (apply :meth:`SteerableModel.chat_prompt`
    first for chat models).
    """
    coeffs = _coefficient_list(coefficients)
    if isinstance(prompts, str) or not prompts:
        raise InputError("prompts: expected a non-empty list of strings")
    check_int("max_new_tokens", max_new_tokens)
    if do_sample and not (
        isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0
    ):
        raise InputError(f"temperature: expected a finite number > 0, got {temperature!r}")
    if positions not in POSITIONS:
        raise InputError(f"positions: {positions!r} is not allowed; use one of {', '.join(POSITIONS)}")
    idx = steered_layers(model, vector, layers)
    enc = model.encode(list(prompts))
    ids, mask = enc["input_ids"], enc["attention_mask"]
    b, t = ids.shape
    tok = model.tokenizer
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": bool(do_sample),
        "pad_token_id": tok.pad_token_id,
    }
    if do_sample:
        gen_kwargs.update(temperature=float(temperature), top_k=0, top_p=1.0)
    else:
        gen_kwargs.update(temperature=None, top_k=None, top_p=None)
    texts: list[list[str]] = []
    for chunk in _chunks(coeffs, chunk_size):
        k = len(chunk)
        row_coeff = torch.tensor(chunk, dtype=torch.float64).repeat_interleave(b)
        if do_sample:
            torch.manual_seed(seed)
        with steer(model, vector, row_coeff, layers=idx, positions=positions):
            out = model.model.generate(
                input_ids=ids.repeat(k, 1), attention_mask=mask.repeat(k, 1), **gen_kwargs
            )
        add_token_forwards(int(mask.sum()) * k + k * b * (out.shape[1] - t))
        decoded = tok.batch_decode(out[:, t:], skip_special_tokens=True)
        texts.extend(decoded[j * b : (j + 1) * b] for j in range(k))
    return texts
