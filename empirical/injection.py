"""Injecting steering vectors (paper eq. 2) and batched coefficient sweeps.

Steering adds ``r_e · v_l`` to the output of each chosen decoder block l
(eq. 2, ``r^(l) <- r^(l) + r_e^(l)`` with ``|r_e^(l)| = |r_e|``; ``v_l`` unit norm),
at every position by default, as in the paper's experiments (App. F.2).

* :func:`steer` — a context manager; the coefficient may differ per batch row.
* :func:`forward_sweep` — last-position logits (and optionally ``r^(L)``) for K
  coefficients × B prompts in batched passes that compute the blocks below the
  first steered block once per prompt and reuse them for all K coefficients.
* :func:`generate_sweep` — K × B generations in one batched ``generate`` call.
* :func:`jvp_final_representation` — ``d r^(L)/d r_e`` at ``r_e = 0`` by
  forward-mode AD (the slope λ of assumption 1, ``|δr^(L)| ≈ λ r_e``).

Hooks are always removed, even when the wrapped code raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from steerbounds.empirical.models import SteerableModel
from steerbounds.empirical.vectors import SteeringVector
from steerbounds.errors import InputError

POSITIONS = ("all", "new")


# --------------------------------------------------------------------------- checks


def _coefficient_tensor(coefficients: object, name: str = "coefficients") -> torch.Tensor:
    """A 0-d or 1-d float tensor of finite coefficients r_e."""
    if isinstance(coefficients, torch.Tensor):
        c = coefficients
    else:
        try:
            c = torch.as_tensor(coefficients, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise InputError(
                f"{name}: expected a number or a 1-D sequence of numbers, got {coefficients!r}"
            ) from None
    if c.dim() > 1:
        raise InputError(
            f"{name}: expected a scalar or a 1-D tensor over the batch, got shape {tuple(c.shape)}"
        )
    if not c.is_floating_point():
        c = c.to(torch.float64)
    plain = c.detach()
    if hasattr(
        torch._C._functorch, "is_functorch_wrapped_tensor"
    ) and torch._C._functorch.is_functorch_wrapped_tensor(plain):
        return c  # inside torch.func.jvp: the primal is checked by the caller
    if not bool(torch.isfinite(plain).all()):
        raise InputError(f"{name}: every coefficient must be finite (no NaN/inf), got {plain.tolist()}")
    return c


def steered_layers(model: SteerableModel, vector: SteeringVector, layers: object = None) -> list[int]:
    """Block indices to steer: ``layers`` resolved on the model (default: every
    layer the vector has a direction for); each must be present in the vector."""
    if vector.hidden_size != model.hidden_size:
        raise InputError(
            f"vector: hidden size {vector.hidden_size} does not match the model's {model.hidden_size} "
            f"(vector made for {vector.model_name!r}, model is {model.name!r})"
        )
    if layers is None:
        idx = sorted(vector.directions)
        bad = [i for i in idx if not 0 <= i < model.n_layers]
        if bad:
            raise InputError(
                f"vector: layer {bad[0]} does not exist in {model.name!r} (valid 0 … {model.n_layers - 1})"
            )
        return idx
    idx = model.resolve_layers(layers)
    missing = [i for i in idx if i not in vector.directions]
    if missing:
        raise InputError(
            f"layers: the vector has no direction for layer {missing[0]}; it has layers "
            f"{_compact(sorted(vector.directions))}"
        )
    return idx


def _compact(idx: Sequence[int]) -> str:
    if not idx:
        return "none"
    if list(idx) == list(range(idx[0], idx[-1] + 1)):
        return f"{idx[0]} … {idx[-1]}"
    return ", ".join(map(str, idx))


def _block_device(block: torch.nn.Module, fallback: torch.device) -> torch.device:
    for p in block.parameters():
        return p.device
    return fallback


# --------------------------------------------------------------------------- hooks


def _split_output(output: Any) -> tuple[torch.Tensor, tuple | None]:
    """A decoder block returns a Tensor (transformers 5.x) or a tuple whose first
    item is the hidden state; return ``(hidden, rest_or_None)``."""
    if isinstance(output, torch.Tensor):
        return output, None
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0], tuple(output[1:])
    raise TypeError(f"decoder block returned {type(output).__name__}; expected a Tensor or a tuple")


def _join_output(hidden: torch.Tensor, rest: tuple | None) -> Any:
    return hidden if rest is None else (hidden, *rest)


class _AddVector:
    """Forward hook adding ``c_row · v`` to a block's output hidden state (eq. 2).

    ``coefficient`` is a 0-d tensor (all rows) or a 1-d tensor (one per row).
    With ``positions="new"`` only positions at or past the prompt are changed;
    positions are counted from the first call after the hook was installed
    (the prompt length defaults to the width of that first call, i.e. the padded
    prompt in ``generate``), or per row from ``prompt_lengths``.
    """

    def __init__(
        self,
        direction: torch.Tensor,
        coefficient: torch.Tensor,
        positions: str = "all",
        prompt_lengths: torch.Tensor | None = None,
        expand: int = 1,
    ) -> None:
        self.direction = direction
        self.coefficient = coefficient
        self.positions = positions
        self.prompt_lengths = prompt_lengths
        self.expand = expand  # >1: repeat the (B, T, d) output K times first (prefix sharing)
        self.seen = 0

    def _delta(self, hidden: torch.Tensor) -> torch.Tensor:
        n, t, _ = hidden.shape
        c = self.coefficient.to(device=hidden.device)
        if c.dim() == 1:
            if c.shape[0] != n:
                raise InputError(
                    f"coefficients: {c.shape[0]} per-row coefficients for a batch of {n} rows; "
                    f"give a scalar or one coefficient per row"
                )
            c = c.view(n, 1, 1)
        v = self.direction.to(device=hidden.device)
        delta = (c * v).to(hidden.dtype)  # (n|1, 1|, d)
        if delta.dim() == 1:
            delta = delta.view(1, 1, -1)
        if self.positions == "new":
            start = self.seen
            pos = torch.arange(start, start + t, device=hidden.device)
            if self.prompt_lengths is None:
                if self.seen == 0:
                    self.prompt_lengths = torch.tensor(t, device=hidden.device)
            lengths = self.prompt_lengths.to(hidden.device)
            keep = pos.view(1, t) >= lengths.view(-1, 1)  # (n|1, t)
            delta = delta * keep.unsqueeze(-1).to(hidden.dtype)
            self.seen += t
        return delta

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        hidden, rest = _split_output(output)
        if self.expand > 1:
            hidden = hidden.repeat(self.expand, *([1] * (hidden.dim() - 1)))
        return _join_output(hidden + self._delta(hidden), rest)


def _expand_batch(obj: Any, batch: int, times: int) -> Any:
    """Repeat every batch-shaped tensor (ndim ≥ 2 and leading size ``batch``)
    ``times`` along dim 0 (row ``k·batch + b`` is copy k of row b); recurse into
    tuples, lists and dicts; leave everything else alone."""
    if isinstance(obj, torch.Tensor):
        if obj.dim() >= 2 and obj.shape[0] == batch:
            return obj.repeat(times, *([1] * (obj.dim() - 1)))
        return obj
    if isinstance(obj, tuple):
        return tuple(_expand_batch(o, batch, times) for o in obj)
    if isinstance(obj, list):
        return [_expand_batch(o, batch, times) for o in obj]
    if isinstance(obj, dict):
        return {k: _expand_batch(v, batch, times) for k, v in obj.items()}
    return obj


class _ExpandInputs:
    """Forward pre-hook (with kwargs) for the blocks above the first steered one:
    their hidden state already has K·B rows; every other batch-shaped input
    (attention mask, position ids, rotary cos/sin, …) still has B rows and is
    repeated K times to match."""

    def __init__(self, batch: int, times: int) -> None:
        self.batch = batch
        self.times = times

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            new_args = (args[0], *_expand_batch(tuple(args[1:]), self.batch, self.times))
            new_kwargs = _expand_batch(kwargs, self.batch, self.times)
        else:
            new_args = args
            new_kwargs = {
                k: (v if k == "hidden_states" else _expand_batch(v, self.batch, self.times))
                for k, v in kwargs.items()
            }
        return new_args, new_kwargs


@contextmanager
def steer(
    model: SteerableModel,
    vector: SteeringVector,
    coefficients: float | Sequence[float] | torch.Tensor,
    *,
    layers: object = None,
    positions: str = "all",
    prompt_lengths: int | Sequence[int] | torch.Tensor | None = None,
) -> Iterator[list[int]]:
    """Steer ``model`` inside the ``with`` block: add ``r_e · v_l`` to the output
    of every chosen block l (eq. 2).

    ``coefficients``: a scalar r_e for every row, or a 1-D tensor/sequence with
    one coefficient per batch row (row i gets ``coefficients[i]``).
    ``layers``: block spec (default: all layers of the vector).
    ``positions``: ``"all"`` (the paper: every position, prompt included) or
    ``"new"`` (only positions past the prompt, e.g. generated tokens; positions
    are counted from the first forward inside the context, in left-padded
    coordinates; the prompt length is ``prompt_lengths`` (an int, or one per row)
    or, when ``None``, the width of the first forward — the padded prompt of a
    ``generate`` call; use one ``generate`` per context).
    Yields the resolved block indices. Hooks are removed on exit, even on error.
    """
    if positions not in POSITIONS:
        raise InputError(f"positions: {positions!r} is not allowed; use one of {', '.join(POSITIONS)}")
    idx = steered_layers(model, vector, layers)
    coeff = _coefficient_tensor(coefficients)
    lengths = None
    if prompt_lengths is not None:
        if positions != "new":
            raise InputError("prompt_lengths: only meaningful with positions='new'")
        lengths = torch.as_tensor(prompt_lengths)
        if lengths.dim() > 1 or lengths.is_floating_point() or bool((lengths < 0).any()):
            raise InputError(
                "prompt_lengths: expected a non-negative int or a 1-D sequence of them (one per row)"
            )
    handles = []
    try:
        for i in idx:
            block = model.layers[i]
            direction = vector.directions[i].to(_block_device(block, model.device), torch.float32)
            hook = _AddVector(direction, coeff, positions, lengths)
            handles.append(block.register_forward_hook(hook))
        yield idx
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------- inputs


def _check_inputs(
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
            f"attention_mask: shape {tuple(attention_mask.shape)} differs from input_ids {tuple(input_ids.shape)}"
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


def _forward_last(
    model: SteerableModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, return_final: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward of left-aligned input; last-position logits (N, V) and r^(L) (N, d)."""
    captured: dict[str, torch.Tensor] = {}

    def grab(module: torch.nn.Module, args: tuple) -> None:
        captured["r"] = args[0][:, -1, :]

    handle = model.lm_head().register_forward_pre_hook(grab) if return_final else None
    try:
        out = model.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            use_cache=False,
            logits_to_keep=1,
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
    ids, mask = _check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    return _forward_last(model, ids, mask, return_final)


# --------------------------------------------------------------------------- sweeps


def _coefficient_list(coefficients: Sequence[float] | torch.Tensor) -> list[float]:
    c = _coefficient_tensor(coefficients)
    if c.dim() != 1 or c.shape[0] == 0:
        raise InputError("coefficients: expected a non-empty 1-D sequence of coefficients r_e")
    return [float(x) for x in c.tolist()]


def _chunks(values: list[float], chunk_size: int | None) -> Iterator[list[float]]:
    if chunk_size is None:
        yield values
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size: expected a positive int or None, got {chunk_size!r}")
    for i in range(0, len(values), chunk_size):
        yield values[i : i + chunk_size]


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
    chunk_size: int | None = None,
    return_final: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Last-position logits for every coefficient r_e and prompt: shape (K, B, V).

    Each chunk of K coefficients runs as K·B rows of one forward pass (row
    ``k·B + b`` is prompt b steered with coefficient k, eq. 2 at all positions).
    With ``share_prefix`` the blocks below the lowest steered block l0 run once
    on the B prompts; the output of l0 is repeated K times and every later
    block's batch-shaped inputs (masks, positions, rotary tables) are repeated to
    match. ``chunk_size`` bounds K per pass (memory ∝ chunk·B·T·d); the prefix is
    recomputed per chunk. ``return_final`` also returns r^(L) (K, B, d).
    Equals one :func:`steer`-ed forward per coefficient up to float rounding.
    """
    coeffs = _coefficient_list(coefficients)
    ids, mask = _check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    idx = steered_layers(model, vector, layers)
    b = ids.shape[0]
    logits_out: list[torch.Tensor] = []
    final_out: list[torch.Tensor] = []
    for chunk in _chunks(coeffs, chunk_size):
        k = len(chunk)
        row_coeff = torch.tensor(chunk, dtype=torch.float64).repeat_interleave(b)
        if share_prefix:
            logits, rep = _shared_prefix_pass(model, vector, idx, ids, mask, row_coeff, k, return_final)
        else:
            with steer(model, vector, row_coeff, layers=idx):
                logits, rep = _forward_last(model, ids.repeat(k, 1), mask.repeat(k, 1), return_final)
        logits_out.append(logits.reshape(k, b, -1))
        if return_final:
            final_out.append(rep.reshape(k, b, -1))
    logits_all = torch.cat(logits_out, dim=0)
    if return_final:
        return logits_all, torch.cat(final_out, dim=0)
    return logits_all


def _shared_prefix_pass(
    model: SteerableModel,
    vector: SteeringVector,
    idx: list[int],
    ids: torch.Tensor,
    mask: torch.Tensor,
    row_coeff: torch.Tensor,
    k: int,
    return_final: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    b = ids.shape[0]
    first = idx[0]
    handles = []
    try:
        for i in range(first, model.n_layers):
            block = model.layers[i]
            if i > first and k > 1:
                handles.append(block.register_forward_pre_hook(_ExpandInputs(b, k), with_kwargs=True))
            if i in idx:
                direction = vector.directions[i].to(_block_device(block, model.device), torch.float32)
                hook = _AddVector(direction, row_coeff, expand=k if i == first else 1)
                handles.append(block.register_forward_hook(hook))
        return _forward_last(model, ids, mask, return_final)
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
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InputError(f"max_new_tokens: expected an int ≥ 1, got {max_new_tokens!r}")
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
        decoded = tok.batch_decode(out[:, t:], skip_special_tokens=True)
        texts.extend(decoded[j * b : (j + 1) * b] for j in range(k))
    return texts


# --------------------------------------------------------------------------- derivative


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
    ids, mask = _check_inputs(input_ids, attention_mask)
    ids, mask = left_align(ids, mask)
    idx = steered_layers(model, vector, layers)

    def final(c: torch.Tensor) -> torch.Tensor:
        with steer(model, vector, c, layers=idx):
            _, rep = _forward_last(model, ids, mask, True)
        return rep

    zero = torch.zeros((), dtype=torch.float32)
    one = torch.ones((), dtype=torch.float32)
    with _ad_friendly_attention():
        primal, tangent = torch.func.jvp(final, (zero,), (one,))
    return (primal, tangent) if return_primal else tangent


@contextmanager
def _ad_friendly_attention() -> Iterator[None]:
    """Route ``scaled_dot_product_attention`` to its math kernel, the one that
    implements forward-mode AD (the fused CPU/CUDA kernels do not). Models
    using eager attention are unaffected."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        yield
