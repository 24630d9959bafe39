"""Injecting steering vectors (paper eq. 2) with removable forward hooks.

Steering adds ``r_e · v_l`` to the output of each chosen decoder block l
(eq. 2, ``r^(l) <- r^(l) + r_e^(l)`` with ``|r_e^(l)| = |r_e|``; ``v_l`` unit norm),
at every position by default, as in the paper's experiments (App. F.2).
:func:`steer` is a context manager whose coefficient may differ per batch row;
hooks are always removed, even when the wrapped code raises. The hook classes are
shared with the batched sweeps of :mod:`steerbounds.empirical.steering.batched`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from steerbounds.empirical.steering.models import SteerableModel, module_device
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError

POSITIONS = ("all", "new")


# --------------------------------------------------------------------------- checks


def coefficient_tensor(coefficients: object, name: str = "coefficients") -> torch.Tensor:
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


class AddVector:
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
            if self.prompt_lengths is None:  # the first call after installation: the (padded) prompt
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


class ExpandInputs:
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
    scales: Mapping[int, float] | None = None,
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
    ``scales``: a factor s_l ≥ 0 for every steered block, which then gets ``r_e · s_l · v_l``
    (a per-layer coefficient, e.g. eq. 64's step ``η |∂L/∂r^(l)|`` along unit directions);
    default 1 at every block.
    Yields the resolved block indices. Hooks are removed on exit, even on error.
    """
    if positions not in POSITIONS:
        raise InputError(f"positions: {positions!r} is not allowed; use one of {', '.join(POSITIONS)}")
    idx = steered_layers(model, vector, layers)
    coeff = coefficient_tensor(coefficients)
    lengths = None
    if prompt_lengths is not None:
        if positions != "new":
            raise InputError("prompt_lengths: only meaningful with positions='new'")
        lengths = torch.as_tensor(prompt_lengths)
        if lengths.dim() > 1 or lengths.is_floating_point() or bool((lengths < 0).any()):
            raise InputError(
                "prompt_lengths: expected a non-negative int or a 1-D sequence of them (one per row)"
            )
    factor = _layer_scales(scales, idx)
    handles = []
    try:
        for i in idx:
            block = model.layers[i]
            direction = vector.directions[i].to(module_device(block, model.device), torch.float32)
            hook = AddVector(direction, coeff if factor is None else coeff * factor[i], positions, lengths)
            handles.append(block.register_forward_hook(hook))
        yield idx
    finally:
        for h in handles:
            h.remove()


def _layer_scales(scales: Mapping[int, float] | None, idx: Sequence[int]) -> dict[int, float] | None:
    """``scales`` checked: a finite s_l ≥ 0 for every steered block, no other block."""
    if scales is None:
        return None
    if not isinstance(scales, Mapping):
        raise InputError(f"scales: expected a mapping block → factor, got {type(scales).__name__}")
    if set(scales) != set(idx):
        raise InputError(
            f"scales: need a factor for exactly the steered blocks {_compact(list(idx))}, "
            f"got blocks {_compact(sorted(scales))}"
        )
    out = {}
    for i in idx:
        value = scales[i]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise InputError(f"scales: block {i} has factor {value!r}; expected a finite number ≥ 0")
        out[i] = float(value)
    return out
