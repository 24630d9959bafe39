"""Measurements of the paper's quantities on a steered model (App. A.3, F.3, F.4).

Each ``*_rows`` function measures one batch of queries at a chunk of
coefficients r_e with one :func:`~steerbounds.empirical.injection.forward_sweep`
(K coefficients × B prompts batched) and returns tidy rows (plain dicts, one per
(coefficient, query)). The reference ``r_e = 0`` is always computed in the same
pass. Rows are later reduced by :mod:`steerbounds.empirical.summarize`.

Quantities (paper symbols):

* ``lambda_rows``      — |δr^(L)(q)| and |U δr^(L)(q)| (Assumption 1, eq. 7;
  App. A.3 figs. 6-8), and at r_e = 0 the exact slope |d r^(L)/d r_e| (and
  |U d r^(L)/d r_e|) by forward-mode AD.
* ``sigma_rows``       — ⟨δr, Uᵀ(e_i − e_correct)⟩ over the T most probable
  incorrect tokens of the unsteered model (Assumption 3; App. A.3 figs. 9-10),
  with their unsteered probabilities P_i⁰, and the realised parameters of the
  proof of Theorem 2 (P±, c±, α, ε, σβ; App. C eqs. 32-38) from
  ``steerbounds.simulate.estimators.realised_theorem2_parameters``.
* ``delta_rows``       — separation along δr of the good and bad answer-token
  clusters (App. A.3 eqs. 10-11, figs. 11-12): good = the top-40 tokens with
  steering at ``r_ref`` that are not in the unsteered top-40, bad = the
  unsteered top-40 not in the steered one; mean-based
  ``mean_good ⟨δr,Uᵀe⟩ − mean_bad ⟨δr,Uᵀe⟩`` and min-based (hard margin, eq. 8
  times |δr|) ``min_good − max_bad``.
* ``behavior_rows``    — next-token behaviour expectation (Definition 1, eq. 3)
  over answer-token sets: ``B_unnorm = P(+) − P(−)`` and
  ``B = (P(+) − P(−))/(P(+) + P(−))`` (eq. 12's normalisation).
* ``generation_rows``  — generated responses scored by a judge (text → [−1, 1]).
* ``helpfulness_rows`` — P(correct) (eq. 4) over the full vocabulary, over the
  MMLU letters renormalised (App. F.4), and accuracy (argmax).

``U δr`` is computed as the difference of logits (the LM-head bias cancels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from steerbounds.bounds.estimators import realised_theorem2_parameters
from steerbounds.empirical.injection import forward_sweep, generate_sweep, jvp_final_representation
from steerbounds.empirical.recipes import Judge, score_texts
from steerbounds.errors import InputError

TOP_T = 10  # App. A.3: top-10 tokens (≈ 90 % of the mass on knowledge queries)
TOP_CLUSTER = 40  # App. A.3: good/bad clusters = top-40 tokens with/without steering


def _with_zero(coefficients: Sequence[float]) -> tuple[list[float], int]:
    """The chunk with r_e = 0 prepended (index of 0 returned)."""
    coeffs = [float(c) for c in coefficients]
    if not coeffs:
        raise InputError("coefficients: need at least one coefficient")
    if 0.0 in coeffs:
        return coeffs, coeffs.index(0.0)
    return [0.0, *coeffs], 0


def _encode(model: Any, queries: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    if not queries:
        raise InputError("queries: need at least one query")
    return model.encode([q["prompt"] for q in queries])


@dataclass
class Sweep:
    """One batched forward over a chunk of coefficients (r_e = 0 included):
    last-position logits ``(K, B, V)`` and final representations r^(L) ``(K, B, d)``
    for ``coeffs``; ``zero`` is the index of r_e = 0. Shared by the measurements
    of one work unit so the model runs once."""

    coeffs: list[float]
    zero: int
    logits: torch.Tensor
    reps: torch.Tensor


def run_sweep_pass(
    model, vector, queries, coefficients, *, layers=None, extra: Sequence[float] = ()
) -> Sweep:
    """Forward ``queries`` at ``coefficients`` (plus 0 and ``extra``) in one
    :func:`forward_sweep` with the final representation returned."""
    coeffs, zero = _with_zero(coefficients)
    coeffs += [float(c) for c in extra if float(c) not in coeffs]
    enc = _encode(model, queries)
    logits, reps = forward_sweep(
        model, vector, enc["input_ids"], enc["attention_mask"], coeffs, layers=layers, return_final=True
    )
    return Sweep(coeffs, zero, logits.double(), reps.double())


def _sweep(model, vector, queries, coefficients, layers, sweep: Sweep | None, extra=()) -> Sweep:
    if sweep is not None:
        return sweep
    return run_sweep_pass(model, vector, queries, coefficients, layers=layers, extra=extra)


def _requested(coefficients: Sequence[float], coeffs: list[float]) -> list[int]:
    """Indices in the extended chunk of the coefficients actually asked for."""
    asked = {float(c) for c in coefficients}
    return [k for k, c in enumerate(coeffs) if c in asked]


# --------------------------------------------------------------------------- helpfulness


def helpfulness_rows(
    model, vector, queries, coefficients, *, layers=None, sweep: Sweep | None = None
) -> list[dict[str, Any]]:
    """P(correct) per (r_e, query) (eq. 4; App. F.4).

    ``p_correct``: probability of the answer token over the full vocabulary;
    ``top1``: the answer token is the argmax over the vocabulary. MMLU queries
    (with ``choice_ids``) add ``p_choices`` (renormalised over A-D, the paper's
    Fig. 5 measure) and ``correct_choice`` (argmax over A-D is right).
    """
    sw = _sweep(model, vector, queries, coefficients, layers, sweep)
    coeffs = sw.coeffs
    logp = torch.log_softmax(sw.logits, dim=-1)
    rows = []
    for k in _requested(coefficients, coeffs):
        for b, q in enumerate(queries):
            lp = logp[k, b]
            row = {
                "r_e": coeffs[k],
                "id": q["id"],
                "group": q.get("group", ""),
                "p_correct": float(lp[q["answer_id"]].exp()),
                "top1": bool(int(lp.argmax()) == q["answer_id"]),
            }
            if "choice_ids" in q:
                c = lp[q["choice_ids"]]
                pc = torch.softmax(c, dim=0)
                row["p_choices"] = float(pc[q["answer_index"]])
                row["correct_choice"] = bool(int(pc.argmax()) == q["answer_index"])
                row["p_mass_choices"] = float(c.exp().sum())
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- λ


def lambda_rows(
    model, vector, queries, coefficients, *, layers=None, sweep: Sweep | None = None
) -> list[dict[str, Any]]:
    """|δr^(L)(q)| and |U δr^(L)(q)| per (r_e, query) (eq. 7; App. A.3).

    Rows at r_e = 0 also carry ``jvp_norm`` = |d r^(L)/d r_e| at 0 (the exact
    λ of the query) and ``jvp_U_norm`` = |U d r^(L)/d r_e|.
    """
    sw = _sweep(model, vector, queries, coefficients, layers, sweep)
    coeffs = sw.coeffs
    dr = sw.reps - sw.reps[sw.zero]  # (K, B, d)
    dlogit = sw.logits - sw.logits[sw.zero]  # U δr
    dr_norm = dr.norm(dim=-1)
    du_norm = dlogit.norm(dim=-1)
    ks = _requested(coefficients, coeffs)
    jvp = None
    if 0.0 in [float(c) for c in coefficients]:
        enc = _encode(model, queries)
        tangent = jvp_final_representation(
            model, vector, enc["input_ids"], enc["attention_mask"], layers=layers
        )
        tangent = tangent.detach().double()
        U = model.unembedding().detach().double()
        jvp = (tangent.norm(dim=-1), (tangent @ U.T).norm(dim=-1))
    rows = []
    for k in ks:
        for b, q in enumerate(queries):
            row = {
                "r_e": coeffs[k],
                "id": q["id"],
                "group": q.get("group", ""),
                "dr_norm": float(dr_norm[k, b]),
                "Udr_norm": float(du_norm[k, b]),
            }
            if coeffs[k] == 0.0 and jvp is not None:
                row["jvp_norm"] = float(jvp[0][b])
                row["jvp_U_norm"] = float(jvp[1][b])
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- σ, β, α


def sigma_rows(
    model, vector, queries, coefficients, *, layers=None, top_t: int = TOP_T, sweep: Sweep | None = None
) -> list[dict[str, Any]]:
    """Logit-noise projections ⟨δr, Uᵀ(e_i − e_correct)⟩ per (r_e, query) over the
    ``top_t`` most probable incorrect tokens of the unsteered model (Assumption 3;
    App. A.3), with ``p0_top`` their unsteered probabilities and the realised
    Theorem-2 parameters of that query at that r_e (App. C eqs. 32-38) on the
    normalised direction X = U δr/|δr| (``sigma_beta`` = min(|c−|, c+), so λσβ =
    λ·σβ; ``alpha_one_minus_eps`` = min(P+, P−)/(1 − P0))."""
    sw = _sweep(model, vector, queries, coefficients, layers, sweep)
    coeffs, zero, logits = sw.coeffs, sw.zero, sw.logits
    p0 = torch.softmax(logits[zero], dim=-1)  # (B, V)
    dr_norm = (sw.reps - sw.reps[zero]).norm(dim=-1)
    rows = []
    for b, q in enumerate(queries):
        order = torch.argsort(p0[b], descending=True)[: top_t + 1].tolist()
        top = [i for i in order if i != q["answer_id"]][:top_t]
        top_with_correct = [q["answer_id"], *top]
        p0_np = p0[b].numpy()
        for k in _requested(coefficients, coeffs):
            du = (logits[k, b] - logits[zero, b]).numpy()
            proj = du[top] - du[q["answer_id"]]
            row = {
                "r_e": coeffs[k],
                "id": q["id"],
                "group": q.get("group", ""),
                "proj": [float(x) for x in proj],
                "p0_top": [float(p0_np[i]) for i in top],
                "p0": float(p0_np[q["answer_id"]]),
                "dr_norm": float(dr_norm[k, b]),
            }
            if coeffs[k] != 0.0 and dr_norm[k, b] > 0 and p0_np[q["answer_id"]] < 1.0:
                X = du / float(dr_norm[k, b])
                t2 = realised_theorem2_parameters(p0_np, q["answer_id"], X, np.array(top_with_correct))
                row.update(
                    {
                        name: float(getattr(t2, name))
                        for name in (
                            "p_plus",
                            "p_minus",
                            "c_plus",
                            "c_minus",
                            "eps",
                            "alpha",
                            "alpha_one_minus_eps",
                            "sigma_beta",
                        )
                    }
                )
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- Δλ


def separation(logit_change: np.ndarray, good: Sequence[int], bad: Sequence[int]) -> tuple[float, float]:
    """``(mean-based, min-based)`` separation of two token clusters along δr:
    mean_good − mean_bad and min_good − max_bad of ⟨δr, Uᵀe_i⟩ = (U δr)_i
    (App. A.3 eqs. 10-11; the min-based one is eq. 8's margin times |δr|)."""
    g, b = logit_change[list(good)], logit_change[list(bad)]
    return float(g.mean() - b.mean()), float(g.min() - b.max())


def delta_rows(
    model,
    vector,
    queries,
    coefficients,
    *,
    r_ref: float,
    layers=None,
    top_k: int = TOP_CLUSTER,
    sweep: Sweep | None = None,
) -> list[dict[str, Any]]:
    """Good/bad cluster separation along δr per (r_e, query) (App. A.3,
    eqs. 10-11). ``r_ref``: the coefficient whose top-``top_k`` tokens define the
    good cluster (the steered, behaviour-positive side); the bad cluster is the
    unsteered top-``top_k`` (overlap removed from both)."""
    if not np.isfinite(r_ref) or r_ref == 0:
        raise InputError(f"r_ref: the reference coefficient must be finite and non-zero, got {r_ref!r}")
    sw = _sweep(model, vector, queries, coefficients, layers, sweep, extra=(r_ref,))
    coeffs, zero, logits = sw.coeffs, sw.zero, sw.logits
    if float(r_ref) not in coeffs:
        raise InputError(f"r_ref: the sweep has no coefficient {r_ref!r}")
    ref = coeffs.index(float(r_ref))
    dr_norm = (sw.reps - sw.reps[zero]).norm(dim=-1)
    rows = []
    for b, q in enumerate(queries):
        top0 = set(torch.topk(logits[zero, b], top_k).indices.tolist())
        top1 = set(torch.topk(logits[ref, b], top_k).indices.tolist())
        good, bad = sorted(top1 - top0), sorted(top0 - top1)
        for k in _requested(coefficients, coeffs):
            row = {
                "r_e": coeffs[k],
                "id": q["id"],
                "n_good": len(good),
                "n_bad": len(bad),
                "dr_norm": float(dr_norm[k, b]),
            }
            if good and bad:
                du = (logits[k, b] - logits[zero, b]).numpy()
                row["mean_sep"], row["min_sep"] = separation(du, good, bad)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- behaviour


def behavior_rows(
    model,
    vector,
    queries,
    coefficients,
    *,
    plus_ids: Sequence[int],
    minus_ids: Sequence[int],
    layers=None,
    sweep: Sweep | None = None,
) -> list[dict[str, Any]]:
    """Next-token behaviour expectation per (r_e, query) (Definition 1, eq. 3):
    P(+) and P(−) = total next-token probability of the answer starts scored
    +1 / −1; ``b_unnorm`` = P(+) − P(−) ∈ [−1, 1] and ``b`` = (P(+) − P(−))/(P(+) + P(−))
    (eq. 12's normalisation to the two answer kinds)."""
    if not plus_ids or not minus_ids or set(plus_ids) & set(minus_ids):
        raise InputError("plus_ids/minus_ids: need two non-empty, disjoint token sets")
    sw = _sweep(model, vector, queries, coefficients, layers, sweep)
    coeffs = sw.coeffs
    p = torch.softmax(sw.logits, dim=-1)
    pp = p[..., list(plus_ids)].sum(-1)
    pm = p[..., list(minus_ids)].sum(-1)
    rows = []
    for k in _requested(coefficients, coeffs):
        for b, q in enumerate(queries):
            a, m = float(pp[k, b]), float(pm[k, b])
            s = a + m
            rows.append(
                {
                    "r_e": coeffs[k],
                    "id": q["id"],
                    "p_plus": a,
                    "p_minus": m,
                    "b_unnorm": a - m,
                    "b": (a - m) / s if s > 0 else 0.0,
                }
            )
    return rows


def generation_rows(
    model,
    vector,
    queries,
    coefficients,
    *,
    judge: Judge,
    mode: str = "greedy",
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    layers=None,
) -> list[dict[str, Any]]:
    """Generated responses per (r_e, query), scored by ``judge`` (App. F.3):
    ``mode`` "greedy" (the paper's harmfulness protocol) or "sampled"
    (temperature sampling over the full vocabulary, seeded)."""
    if mode not in ("greedy", "sampled"):
        raise InputError(f"mode: {mode!r} is not allowed; use greedy or sampled")
    coeffs = [float(c) for c in coefficients]
    texts = generate_sweep(
        model,
        vector,
        [q["prompt"] for q in queries],
        coeffs,
        max_new_tokens=max_new_tokens,
        do_sample=mode == "sampled",
        temperature=temperature,
        seed=seed,
        layers=layers,
    )
    rows = []
    for k, c in enumerate(coeffs):
        scores = score_texts(texts[k], judge).scores
        for b, q in enumerate(queries):
            rows.append({"r_e": c, "id": q["id"], "mode": mode, "text": texts[k][b], "score": scores[b]})
    return rows
