"""Preference-gradient steering vectors (App. I, Proposition 1, eqs. 63–65).

Preference data ``D = {(x_i, Y+, Y−)}``: prompts ``x_i`` with the answer starts preferred
(``Y+``, the behaviour steered toward) and dispreferred (``Y−``), given as first-token sets
(the next-token form of eq. 3). Eq. 63's loss with answer sets is

    L = −LO,   LO = (1/N) Σ_i log P(Y+|x_i)/P(Y−|x_i)                        (eq. 63)

(for single tokens each log-odds is ``<r_x^(L), U^T(e_{y+} − e_{y−})>`` plus a bias constant;
:func:`~steerbounds.empirical.steering.forward.answer_log_odds`). Steering adds one vector
``δ_l`` at every position of block l (eq. 2), so the gradient that steers is

    g_l = ∂L/∂δ_l |_{δ=0} = Σ_t ∂L/∂r_t^(l)                                 (eq. 65)

(one backward pass per batch, :func:`preference_gradients`). A gradient-descent step with
learning rate η moves r^(l) by ``−η g_l`` (eq. 64): steering along ``−g_l``, Proposition 1.
:func:`gradient_vector` keeps the unit directions ``v_l = −g_l/|g_l|`` (eq. 2's unit vectors;
``r_e > 0`` raises LO, the side steered toward) and records the norms ``|g_l|``.

First order, by the chain rule through eq. 2:

    dLO/dr_e |_0 = −Σ_l g_l·v_l = Σ_l |g_l|        one coefficient r_e, unit directions
    dLO/dη   |_0 = −Σ_l g_l·(−g_l) = Σ_l |g_l|²     eq. 64's step, block l gets η|g_l|·v_l

:func:`first_order_check` measures both left sides by forward-mode AD (independent of the
backward pass that gave g_l) and the step ``LO(η) − LO(0) = η·dLO/dr_e + O(η²)`` by finite
differences.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import torch

from steerbounds.empirical.steering.derivative import jvp_log_odds
from steerbounds.empirical.steering.forward import answer_log_odds, check_answer_sets, forward_last
from steerbounds.empirical.steering.injection import AddVector, steer
from steerbounds.empirical.steering.models import SteerableModel, module_device
from steerbounds.empirical.steering.vectors import SteeringVector, extracted_vector, provenance
from steerbounds.errors import InputError, check_int

if TYPE_CHECKING:  # typing_extensions' Unpack: typing has it from Python 3.11 only
    from typing_extensions import Unpack

METHOD = "gradient"
FD_STEPS = (0.05, 0.1, 0.2)  # default η of the finite-difference check (hidden-state units)


@dataclass(frozen=True)
class PreferenceGradients:
    """``gradients``: g_l = ∂L/∂δ_l (eq. 65), float64 (d,) per block; ``log_odds``: the
    unsteered mean log-odds LO = −L (eq. 63); ``n_prompts``: N."""

    gradients: dict[int, torch.Tensor]
    log_odds: float
    n_prompts: int

    @property
    def norms(self) -> dict[int, float]:
        """|g_l| per block."""
        return {layer: float(g.norm()) for layer, g in self.gradients.items()}


class GradientOptions(TypedDict, total=False):
    """How :func:`preference_gradients` reads the gradients: ``layers``, the blocks l of
    eq. 65 (default all), and ``batch_size``, the prompts per backward pass (default 16)."""

    layers: object
    batch_size: int


def _check_prompts(prompts: Sequence[str], batch_size: int) -> list[str]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise InputError("prompts: expected a list of prompt texts, not a single string")
    out = list(prompts)
    if not out or not all(isinstance(p, str) and p for p in out):
        raise InputError("prompts: need at least one prompt, every one a non-empty string")
    check_int("batch_size", batch_size)
    return out


def _batches(
    model: SteerableModel, prompts: list[str], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(prompts), batch_size):
        enc = model.encode(prompts[start : start + batch_size])
        yield enc["input_ids"], enc["attention_mask"]


def preference_gradients(
    model: SteerableModel,
    prompts: Sequence[str],
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    *,
    layers: object = None,
    batch_size: int = 16,
) -> PreferenceGradients:
    """g_l = ∂L/∂δ_l at δ = 0 (eq. 65) for every block in ``layers`` (default all), L of
    eq. 63 over ``prompts`` with the answer-token sets ``plus_ids`` (preferred) and
    ``minus_ids`` (dispreferred): a zero offset δ_l is added to block l's output at all
    positions, exactly as steering adds ``r_e v_l`` (eq. 2), and one backward pass per batch
    gives its gradient (the model's weights get none)."""
    texts = _check_prompts(prompts, batch_size)
    plus, minus = check_answer_sets(plus_ids, minus_ids, int(model.unembedding().shape[0]))
    idx = model.resolve_layers(layers)
    dtype = torch.promote_types(model.dtype, torch.float32)
    total = {layer: torch.zeros(model.hidden_size, dtype=torch.float64) for layer in idx}
    log_odds_sum = 0.0
    for ids, mask in _batches(model, texts, batch_size):
        offsets = {
            layer: torch.zeros(
                model.hidden_size, dtype=dtype, device=module_device(model.layers[layer], model.device)
            ).requires_grad_(True)
            for layer in idx
        }
        one = torch.ones((), dtype=dtype)
        handles = [model.layers[layer].register_forward_hook(AddVector(offsets[layer], one)) for layer in idx]
        try:
            with torch.enable_grad():
                logits, _ = forward_last(model, ids, mask, False)
                ell = answer_log_odds(logits, plus, minus)
                loss = -ell.sum() / len(texts)  # this batch's share of eq. 63's L
                grads = torch.autograd.grad(loss, [offsets[layer] for layer in idx])
        finally:
            for h in handles:
                h.remove()
        for layer, g in zip(idx, grads, strict=True):
            total[layer] += g.detach().to("cpu", torch.float64)
        log_odds_sum += float(ell.detach().sum())
    return PreferenceGradients(gradients=total, log_odds=log_odds_sum / len(texts), n_prompts=len(texts))


def vector_from_gradients(
    model: SteerableModel,
    grads: PreferenceGradients,
    *,
    metadata: dict[str, Any] | None = None,
) -> SteeringVector:
    """The steering vector ``v_l = −g_l/|g_l|`` of eq. 64's descent step (unit norm per block,
    as eq. 2 prepares vectors; ``r_e > 0`` raises the preference log-odds). The metadata
    records ``gradient_norms`` |g_l| (so ``|g_l|·v_l`` is Proposition 1's unnormalised
    vector), the unsteered ``log_odds`` LO and the provenance of every extraction."""
    directions = {}
    for layer, g in grads.gradients.items():
        norm = float(g.norm())
        if not math.isfinite(norm) or norm == 0.0:
            raise InputError(
                f"prompts: block {layer} gets a zero or non-finite gradient of the log-odds "
                f"(|∂L/∂r^(l)| = {norm}); no direction to steer along"
            )
        directions[layer] = (-g / norm).to(torch.float32)
    layers = sorted(grads.gradients)
    record = {
        "n_pairs": grads.n_prompts,
        "read": "gradient of the last-token log-odds (eq. 65), summed over positions",
        **provenance(model, layers),
        "gradient_norms": [grads.norms[layer] for layer in layers],
        "log_odds": grads.log_odds,
    }
    return extracted_vector(model, directions, METHOD, record, metadata)


def gradient_vector(
    model: SteerableModel,
    prompts: Sequence[str],
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    *,
    metadata: dict[str, Any] | None = None,
    **options: Unpack[GradientOptions],
) -> SteeringVector:
    """The preference-gradient steering vector (Proposition 1): :func:`preference_gradients`
    with ``options`` (``layers``, ``batch_size``: :class:`GradientOptions`), then
    :func:`vector_from_gradients`; ``metadata`` (behaviour, data, …) is stored with it."""
    grads = preference_gradients(model, prompts, plus_ids, minus_ids, **options)
    meta = {"answers": {"positive": list(plus_ids), "negative": list(minus_ids)}, **(metadata or {})}
    return vector_from_gradients(model, grads, metadata=meta)


@torch.no_grad()
def mean_log_odds(
    model: SteerableModel,
    vector: SteeringVector,
    prompts: Sequence[str],
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    coefficient: float,
    *,
    batch_size: int = 16,
) -> float:
    """LO(r_e): the mean log-odds (eq. 63) over ``prompts`` with ``vector`` injected at
    coefficient ``r_e`` at all its blocks (eq. 2)."""
    texts = _check_prompts(prompts, batch_size)
    total = 0.0
    for ids, mask in _batches(model, texts, batch_size):
        with steer(model, vector, float(coefficient)):
            logits, _ = forward_last(model, ids, mask, False)
        total += float(answer_log_odds(logits, plus_ids, minus_ids).sum())
    return total / len(texts)


@dataclass(frozen=True)
class FirstOrderCheck:
    """Proposition 1's first-order content on one data set (module docstring).

    ``jvp``: dLO/dr_e at 0 by forward-mode AD; ``inner``: −Σ_l g_l·v_l with the stored
    (float32) directions; ``norm_sum``: Σ_l |g_l|. ``jvp_step``: dLO/dη of eq. 64's step
    (block l at η|g_l|·v_l); ``grad_sq``: Σ_l |g_l|². ``steps``: per η of the finite
    difference, ``(η, LO(η) − LO(0), residual = LO(η) − LO(0) − η·jvp)``, the residual
    O(η²). ``vector``: the gradient vector the check steered with; ``gradients``: its g_l."""

    jvp: float
    inner: float
    norm_sum: float
    jvp_step: float
    grad_sq: float
    log_odds: float
    steps: list[tuple[float, float, float]]
    vector: SteeringVector = field(repr=False)
    gradients: PreferenceGradients = field(repr=False)

    def relative_gaps(self) -> dict[str, float]:
        """|a − b|/|b| of the three identities: jvp vs inner, inner vs norm_sum, jvp_step
        vs grad_sq."""
        return {
            "jvp_vs_inner": abs(self.jvp - self.inner) / abs(self.inner),
            "inner_vs_norm_sum": abs(self.inner - self.norm_sum) / abs(self.norm_sum),
            "jvp_step_vs_grad_sq": abs(self.jvp_step - self.grad_sq) / abs(self.grad_sq),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "jvp": self.jvp,
            "inner": self.inner,
            "norm_sum": self.norm_sum,
            "jvp_step": self.jvp_step,
            "grad_sq": self.grad_sq,
            "log_odds": self.log_odds,
            "steps": [{"eta": e, "change": d, "residual": r} for e, d, r in self.steps],
            "relative_gaps": self.relative_gaps(),
        }


def first_order_check(
    model: SteerableModel,
    prompts: Sequence[str],
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    *,
    layers: object = None,
    steps: Sequence[float] = FD_STEPS,
    batch_size: int = 16,
) -> FirstOrderCheck:
    """Extract the gradient vector of ``prompts`` (backward pass, eq. 65) and measure on the
    same prompts the derivatives of the module docstring by forward-mode AD, and the
    finite-difference change of LO for each η in ``steps`` (each > 0)."""
    if not steps or not all(isinstance(e, (int, float)) and math.isfinite(e) and e > 0 for e in steps):
        raise InputError(f"steps: expected finite step sizes η > 0, got {list(steps)!r}")
    texts = _check_prompts(prompts, batch_size)
    grads = preference_gradients(model, texts, plus_ids, minus_ids, layers=layers, batch_size=batch_size)
    vector = vector_from_gradients(model, grads)
    norms = grads.norms
    jvp = step = 0.0
    for ids, mask in _batches(model, texts, batch_size):
        jvp += float(jvp_log_odds(model, vector, ids, mask, plus_ids, minus_ids)[1].sum())
        step += float(jvp_log_odds(model, vector, ids, mask, plus_ids, minus_ids, scales=norms)[1].sum())
    jvp, step = jvp / len(texts), step / len(texts)
    inner = -sum(
        float(g @ vector.directions[layer].to(torch.float64)) for layer, g in grads.gradients.items()
    )
    base = mean_log_odds(model, vector, texts, plus_ids, minus_ids, 0.0, batch_size=batch_size)
    changes = []
    for eta in steps:
        change = mean_log_odds(model, vector, texts, plus_ids, minus_ids, eta, batch_size=batch_size) - base
        changes.append((float(eta), change, change - eta * jvp))
    return FirstOrderCheck(
        jvp=jvp,
        inner=inner,
        norm_sum=sum(norms.values()),
        jvp_step=step,
        grad_sq=sum(n * n for n in norms.values()),
        log_odds=grads.log_odds,
        steps=changes,
        vector=vector,
        gradients=grads,
    )
