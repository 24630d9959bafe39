"""Recording the paper's quantities on a steered model (App. A.3, F.3, F.4).

Record once, then derive: :func:`record_pass` runs one batched
:func:`~steerbounds.empirical.steering.batched.forward_sweep` over a chunk of
coefficients r_e (K coefficients × B queries, r_e = 0 always included) and keeps
the last-position logits, the final representations r^(L) and, when asked, the
exact slope d r^(L)/d r_e at 0 (forward-mode AD). The ``*_records`` functions are
pure functions of that :class:`Pass` (no model, no second forward) returning the
typed per-(r_e, query) records of :mod:`steerbounds.empirical.sweep.records`:

* :func:`helpfulness_records` — P(correct) (eq. 4) over the full vocabulary and,
  for multiple-choice queries, renormalised over the choices (App. F.4);
* :func:`lambda_records` — |δr^(L)| and |U δr^(L)| (Assumption 1, eq. 7);
* :func:`noise_records` — ⟨δr, Uᵀ(e_i − e_correct)⟩ over the top-T incorrect tokens
  and the realised Theorem 2 parameters (Assumption 3; App. C eqs. 32-38);
* :func:`delta_records` — good/bad answer-cluster separation (App. A.3, eqs. 10-11);
* :func:`behavior_records` — next-token behaviour expectation (Definition 1, eq. 3)
  and the realised margin.

:func:`generation_records` generates and judges responses (App. F.3).
``U δr`` is computed as the difference of logits (the LM-head bias cancels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from steerbounds.bounds.estimators import realised_theorem2_parameters
from steerbounds.empirical.steering.batched import forward_sweep, generate_sweep
from steerbounds.empirical.steering.derivative import jvp_final_representation
from steerbounds.empirical.steering.forward import check_answer_sets
from steerbounds.empirical.steering.models import SteerableModel
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep.records import (
    REALISED_FIELDS,
    BehaviorRecord,
    DeltaRecord,
    GenerationRecord,
    HelpfulnessRecord,
    LambdaRecord,
    NoiseRecord,
    finite_or_none,
)
from steerbounds.empirical.workloads.judges import Judge, score_texts
from steerbounds.errors import InputError, check_int

TOP_T = 10  # App. A.3: top-10 tokens (≈ 90 % of the mass on knowledge queries)
TOP_CLUSTER = 40  # App. A.3: good/bad clusters = top-40 tokens with/without steering
GENERATE_MODES = ("greedy", "sampled")

Query = Mapping[str, Any]


@dataclass(frozen=True)
class Pass:
    """One recorded batched forward over a chunk of coefficients.

    ``coefficients``: every coefficient computed (r_e = 0 and any extra ones
    included), ``requested``: those the records are for; ``logits`` (K, B, V) and
    ``reps`` = r^(L) (K, B, d) in float64; ``zero`` the index of r_e = 0.
    ``slope``/``slope_logits``: d r^(L)/d r_e at 0 (B, d) and U times it (B, V),
    when recorded."""

    coefficients: tuple[float, ...]
    requested: tuple[float, ...]
    zero: int
    logits: torch.Tensor
    reps: torch.Tensor
    slope: torch.Tensor | None = None
    slope_logits: torch.Tensor | None = None

    def requested_indices(self) -> list[int]:
        asked = set(self.requested)
        return [k for k, c in enumerate(self.coefficients) if c in asked]

    @property
    def logit_change(self) -> torch.Tensor:
        """U δr = logits(r_e) − logits(0), (K, B, V)."""
        return self.logits - self.logits[self.zero]

    @property
    def dr_norm(self) -> torch.Tensor:
        """|δr^(L)|, (K, B)."""
        return (self.reps - self.reps[self.zero]).norm(dim=-1)


def _queries(queries: Sequence[Query]) -> list[Query]:
    qs = list(queries)
    if not qs:
        raise InputError("queries: need at least one query")
    return qs


def record_pass(
    model: SteerableModel,
    vector: SteeringVector,
    queries: Sequence[Query],
    coefficients: Sequence[float],
    *,
    layers: object = None,
    extra: Sequence[float] = (),
    slope: bool = False,
) -> Pass:
    """Run ``queries`` at ``coefficients`` (plus 0 and ``extra``) in one
    :func:`forward_sweep` and, with ``slope``, the exact slope at 0 by
    :func:`jvp_final_representation`."""
    requested = tuple(float(c) for c in coefficients)
    if not requested:
        raise InputError("coefficients: need at least one coefficient")
    coeffs = list(requested) if 0.0 in requested else [0.0, *requested]
    coeffs += [float(c) for c in extra if float(c) not in coeffs]
    qs = _queries(queries)
    enc = model.encode([q["prompt"] for q in qs])
    logits, reps = cast(
        tuple[torch.Tensor, torch.Tensor],
        forward_sweep(
            model, vector, enc["input_ids"], enc["attention_mask"], coeffs, layers=layers, return_final=True
        ),
    )
    tangent = tangent_logits = None
    if slope:
        t = jvp_final_representation(model, vector, enc["input_ids"], enc["attention_mask"], layers=layers)
        tangent = cast(torch.Tensor, t).detach().double()
        tangent_logits = tangent @ model.unembedding().detach().double().T
    return Pass(
        tuple(coeffs), requested, coeffs.index(0.0), logits.double(), reps.double(), tangent, tangent_logits
    )


# --------------------------------------------------------------------------- helpfulness


def helpfulness_records(p: Pass, queries: Sequence[Query]) -> list[HelpfulnessRecord]:
    """P(correct) per (r_e, query) (eq. 4; App. F.4); queries with ``choice_ids``
    (multiple choice) add the probability renormalised over the choices."""
    logp = torch.log_softmax(p.logits, dim=-1)
    out = []
    for k in p.requested_indices():
        for b, q in enumerate(queries):
            lp = logp[k, b]
            extra: dict[str, Any] = {}
            if "choice_ids" in q:
                c = lp[list(q["choice_ids"])]
                pc = torch.softmax(c, dim=0)
                extra = {
                    "p_choices": float(pc[q["answer_index"]]),
                    "correct_choice": bool(int(pc.argmax()) == q["answer_index"]),
                    "p_mass_choices": float(c.exp().sum()),
                    "n_choices": len(q["choice_ids"]),
                }
            out.append(
                HelpfulnessRecord(
                    r_e=p.coefficients[k],
                    id=str(q["id"]),
                    group=str(q.get("group", "")),
                    p_correct=float(lp[q["answer_id"]].exp()),
                    top1=bool(int(lp.argmax()) == q["answer_id"]),
                    **extra,
                )
            )
    return out


# --------------------------------------------------------------------------- λ


def lambda_records(p: Pass, queries: Sequence[Query]) -> list[LambdaRecord]:
    """|δr^(L)| and |U δr^(L)| per (r_e, query) (eq. 7); rows at r_e = 0 carry the
    exact slopes when the pass recorded them."""
    dr_norm = p.dr_norm
    du_norm = p.logit_change.norm(dim=-1)
    jvp = None
    if p.slope is not None and p.slope_logits is not None and 0.0 in p.requested:
        jvp = (p.slope.norm(dim=-1), p.slope_logits.norm(dim=-1))
    out = []
    for k in p.requested_indices():
        for b, q in enumerate(queries):
            at0 = p.coefficients[k] == 0.0 and jvp is not None
            out.append(
                LambdaRecord(
                    r_e=p.coefficients[k],
                    id=str(q["id"]),
                    group=str(q.get("group", "")),
                    dr_norm=float(dr_norm[k, b]),
                    udr_norm=float(du_norm[k, b]),
                    jvp_norm=float(jvp[0][b]) if at0 and jvp is not None else None,
                    jvp_udr_norm=float(jvp[1][b]) if at0 and jvp is not None else None,
                )
            )
    return out


# --------------------------------------------------------------------------- σ, β, α


def noise_records(p: Pass, queries: Sequence[Query], *, top_t: int = TOP_T) -> list[NoiseRecord]:
    """Logit-noise projections ⟨δr, Uᵀ(e_i − e_correct)⟩ per (r_e, query) over the
    ``top_t`` most probable incorrect tokens of the unsteered model (Assumption 3),
    with their unsteered probabilities and, at r_e ≠ 0, the realised Theorem 2
    parameters of the query on X = U δr/|δr| (App. C eqs. 32-38)."""
    check_int("top_t", top_t)
    p0 = torch.softmax(p.logits[p.zero], dim=-1)  # (B, V)
    du_all = p.logit_change
    dr_norm = p.dr_norm
    out = []
    for b, q in enumerate(queries):
        answer = int(q["answer_id"])
        order = torch.argsort(p0[b], descending=True)[: top_t + 1].tolist()
        top = [i for i in order if i != answer][:top_t]
        p0_np = p0[b].numpy()
        for k in p.requested_indices():
            du = du_all[k, b].numpy()
            realised: dict[str, float | None] = {}
            if p.coefficients[k] != 0.0 and dr_norm[k, b] > 0 and p0_np[answer] < 1.0:
                X = du / float(dr_norm[k, b])
                t2 = realised_theorem2_parameters(p0_np, answer, X, np.array([answer, *top]))
                realised = {name: finite_or_none(getattr(t2, name)) for name in REALISED_FIELDS}
            out.append(
                NoiseRecord(
                    r_e=p.coefficients[k],
                    id=str(q["id"]),
                    group=str(q.get("group", "")),
                    p0=float(p0_np[answer]),
                    dr_norm=float(dr_norm[k, b]),
                    proj=tuple(float(x) for x in du[top] - du[answer]),
                    p0_top=tuple(float(p0_np[i]) for i in top),
                    **realised,
                )
            )
    return out


# --------------------------------------------------------------------------- Δλ


def separation(logit_change: np.ndarray, good: Sequence[int], bad: Sequence[int]) -> tuple[float, float]:
    """``(mean-based, min-based)`` separation of two token clusters along δr:
    mean_good − mean_bad and min_good − max_bad of ⟨δr, Uᵀe_i⟩ = (U δr)_i
    (App. A.3 eqs. 10-11; the min-based one is eq. 8's margin times |δr|)."""
    g, b = logit_change[list(good)], logit_change[list(bad)]
    return float(g.mean() - b.mean()), float(g.min() - b.max())


def delta_records(
    p: Pass, queries: Sequence[Query], *, r_ref: float, top_k: int = TOP_CLUSTER
) -> list[DeltaRecord]:
    """Good/bad cluster separation along δr per (r_e, query) (eqs. 10-11):
    ``r_ref`` is the coefficient whose top-``top_k`` tokens define the good cluster
    (the steered side); the bad cluster is the unsteered top-``top_k`` (overlap
    removed from both). ``r_ref`` must be one of the pass's coefficients."""
    if not np.isfinite(r_ref) or r_ref == 0:
        raise InputError(f"r_ref: the reference coefficient must be finite and non-zero, got {r_ref!r}")
    if float(r_ref) not in p.coefficients:
        raise InputError(f"r_ref: the pass has no coefficient {r_ref!r}; record it with extra=(r_ref,)")
    ref = p.coefficients.index(float(r_ref))
    du_all = p.logit_change
    dr_norm = p.dr_norm
    out = []
    for b, q in enumerate(queries):
        top0 = set(torch.topk(p.logits[p.zero, b], top_k).indices.tolist())
        top1 = set(torch.topk(p.logits[ref, b], top_k).indices.tolist())
        good, bad = sorted(top1 - top0), sorted(top0 - top1)
        for k in p.requested_indices():
            sep: dict[str, float] = {}
            if good and bad:
                mean_sep, min_sep = separation(du_all[k, b].numpy(), good, bad)
                sep = {"mean_sep": mean_sep, "min_sep": min_sep}
            out.append(
                DeltaRecord(
                    r_e=p.coefficients[k],
                    id=str(q["id"]),
                    n_good=len(good),
                    n_bad=len(bad),
                    dr_norm=float(dr_norm[k, b]),
                    **sep,
                )
            )
    return out


# --------------------------------------------------------------------------- behaviour


def answer_log_probabilities(
    logits: torch.Tensor, plus_ids: Sequence[int], minus_ids: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(log P(+), log P(−), B)`` of last-position ``logits`` (…, V): the next-token
    probability of the answer starts scored +1 and −1, and B = (P(+) − P(−))/(P(+) + P(−))
    = tanh(½ log(P(+)/P(−))) (eq. 3 normalised as in eq. 12), computed in log space."""
    plus, minus = check_answer_sets(plus_ids, minus_ids, int(logits.shape[-1]))
    logp = torch.log_softmax(logits.double(), dim=-1)
    lp_plus = torch.logsumexp(logp[..., plus], dim=-1)
    lp_minus = torch.logsumexp(logp[..., minus], dim=-1)
    return lp_plus, lp_minus, torch.nan_to_num(torch.tanh((lp_plus - lp_minus) / 2), nan=0.0)


def behavior_records(
    p: Pass, queries: Sequence[Query], *, plus_ids: Sequence[int], minus_ids: Sequence[int]
) -> list[BehaviorRecord]:
    """Next-token behaviour expectation per (r_e, query) (Definition 1, eq. 3) over
    the answer-token sets scored +1 (``plus_ids``) and −1 (``minus_ids``), and the
    realised margin m = min_{i∈+} u_i − max_{j∈−} u_j of the logit change u."""
    lp_plus, lp_minus, b = answer_log_probabilities(p.logits, plus_ids, minus_ids)
    du = p.logit_change
    margin = du[..., list(plus_ids)].min(dim=-1).values - du[..., list(minus_ids)].max(dim=-1).values
    out = []
    for k in p.requested_indices():
        for i, q in enumerate(queries):
            a, m = float(lp_plus[k, i].exp()), float(lp_minus[k, i].exp())
            out.append(
                BehaviorRecord(
                    r_e=p.coefficients[k],
                    id=str(q["id"]),
                    p_plus=a,
                    p_minus=m,
                    b_unnorm=a - m,
                    b=float(b[k, i]),
                    margin=float(margin[k, i]),
                    log_odds=finite_or_none(float(lp_plus[k, i] - lp_minus[k, i])),
                )
            )
    return out


def generation_records(
    model: SteerableModel,
    vector: SteeringVector,
    queries: Sequence[Query],
    coefficients: Sequence[float],
    *,
    judge: Judge,
    mode: str = "greedy",
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    layers: object = None,
) -> list[GenerationRecord]:
    """Generated responses per (r_e, query), scored by ``judge`` (App. F.3):
    ``mode`` "greedy" (the paper's harmfulness protocol) or "sampled"
    (temperature sampling over the full vocabulary, seeded)."""
    if mode not in GENERATE_MODES:
        raise InputError(f"mode: {mode!r} is not allowed; use one of {', '.join(GENERATE_MODES)}")
    qs = _queries(queries)
    coeffs = [float(c) for c in coefficients]
    texts = generate_sweep(
        model,
        vector,
        [q["prompt"] for q in qs],
        coeffs,
        max_new_tokens=max_new_tokens,
        do_sample=mode == "sampled",
        temperature=temperature,
        seed=seed,
        layers=layers,
    )
    out = []
    for k, c in enumerate(coeffs):
        scores = score_texts(texts[k], judge).scores
        for b, q in enumerate(qs):
            out.append(GenerationRecord(r_e=c, id=str(q["id"]), mode=mode, text=texts[k][b], score=scores[b]))
    return out
