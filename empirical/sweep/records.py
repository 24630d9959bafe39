"""Typed records of a sweep: one dataclass per measurement kind, its fields named once.

A work unit of a sweep appends one line to the run's log holding, per kind, the
records of every (coefficient r_e, query) it measured (nothing is averaged at this
stage). :mod:`steerbounds.empirical.reduce.tables` loads them into flat tables whose
columns are these fields; every consumer (the reduction, ``paper``, ``validate``)
reads those tables, never the raw log.

Symbols (paper): r_e the coefficient; δr = r^(L)(q, r_e) − r^(L)(q, 0) the change of
the final representation (Assumption 1); U the unembedding, so U δr is the change
of the logits; P0 the unsteered probability of the correct answer (eq. 4).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from steerbounds.errors import InputError

R = TypeVar("R", bound="Record")


@dataclass(frozen=True)
class Record:
    """Fields common to every kind: the coefficient r_e and the query id."""

    KIND: ClassVar[str] = ""
    r_e: float
    id: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """A record from its logged dictionary; a missing required field or an
        unknown one is an :class:`InputError` naming it (a log from another
        steerbounds version)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{cls.KIND} record: unknown field {unknown[0]!r} (log of another version?)")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in required if n not in data]
        if missing:
            raise InputError(f"{cls.KIND} record: missing field {missing[0]!r}")
        values = dict(data)
        for f in dataclasses.fields(cls):
            if f.name in values and isinstance(values[f.name], list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


@dataclass(frozen=True)
class HelpfulnessRecord(Record):
    """P(correct) of one query at one r_e (eq. 4; App. F.4)."""

    KIND: ClassVar[str] = "helpfulness"
    #: the task group (MMLU subject, or the task's name)
    group: str
    #: the answer token's probability over the full vocabulary
    p_correct: float
    #: the answer token is the argmax over the vocabulary
    top1: bool
    #: multiple choice: the probability renormalised over the N choices (the paper's Fig. 5)
    p_choices: float | None = None
    #: multiple choice: the argmax over the choices is the answer
    correct_choice: bool | None = None
    #: multiple choice: the total probability of the choice tokens
    p_mass_choices: float | None = None
    #: multiple choice: N, whose 1/N is the chance floor of Corollary 2
    n_choices: int | None = None


@dataclass(frozen=True)
class LambdaRecord(Record):
    """|δr| and |U δr| of one query at one r_e (Assumption 1, eq. 7; App. A.3)."""

    KIND: ClassVar[str] = "lambda"
    group: str
    #: |δr^(L)|, the change of the final representation
    dr_norm: float
    #: |U δr^(L)|, the change of the logits
    udr_norm: float
    #: at r_e = 0: |d r^(L)/d r_e| by forward-mode AD, the query's λ
    jvp_norm: float | None = None
    #: at r_e = 0: |U d r^(L)/d r_e|
    jvp_udr_norm: float | None = None


@dataclass(frozen=True)
class NoiseRecord(Record):
    """Logit noise of one query at one r_e (Assumption 3; App. A.3 figs. 9-10), with
    the realised parameters of the proof of Theorem 2 on X = U δr/|δr| at r_e ≠ 0
    (App. C, eqs. 32-38)."""

    KIND: ClassVar[str] = "sigma"
    group: str
    #: the correct answer's unsteered probability P0
    p0: float
    dr_norm: float
    #: ⟨δr, Uᵀ(e_i − e_correct)⟩ for the T most probable incorrect tokens i (unsteered order)
    proj: tuple[float, ...]
    #: their unsteered probabilities P_i⁰
    p0_top: tuple[float, ...]
    #: P+ and P−: the unsteered mass of the incorrect tokens above / below the correct one
    p_plus: float | None = None
    p_minus: float | None = None
    #: c+ and c−: the P-weighted mean differences over I+ and I− (eq. 32)
    c_plus: float | None = None
    c_minus: float | None = None
    #: ε: the mass outside the top-T tokens
    eps: float | None = None
    #: α = min(P+, P−)/(P+ + P−) and α(1 − ε) (eq. 38)
    alpha: float | None = None
    alpha_one_minus_eps: float | None = None
    #: σβ = min(|c−|, c+) (eq. 37)
    sigma_beta: float | None = None


REALISED_FIELDS = (
    "p_plus",
    "p_minus",
    "c_plus",
    "c_minus",
    "eps",
    "alpha",
    "alpha_one_minus_eps",
    "sigma_beta",
)


@dataclass(frozen=True)
class DeltaRecord(Record):
    """Separation of the good and bad answer-token clusters along δr of one query
    at one r_e (App. A.3, eqs. 10-11; figs. 11-12): good = the top-k tokens steered
    at the reference coefficient that are not in the unsteered top-k; bad = the
    unsteered top-k not in the steered one."""

    KIND: ClassVar[str] = "delta"
    #: the sizes of the good and bad clusters
    n_good: int
    n_bad: int
    dr_norm: float
    #: mean_good (U δr)_i − mean_bad (U δr)_j (None when a cluster is empty)
    mean_sep: float | None = None
    #: min_good − max_bad: eq. 8's margin times |δr| (None when a cluster is empty)
    min_sep: float | None = None


@dataclass(frozen=True)
class BehaviorRecord(Record):
    """Next-token behaviour expectation of one query at one r_e (Definition 1, eq. 3)."""

    KIND: ClassVar[str] = "behavior"
    #: P(+), P(−): the next-token probability of the answer starts scored +1 / −1
    p_plus: float
    p_minus: float
    #: P(+) − P(−)
    b_unnorm: float
    #: (P(+) − P(−))/(P(+) + P(−)), eq. 12's normalisation
    b: float
    #: the realised margin m = min over the + tokens of u − max over the − tokens, u = the
    #: change of the logits (0 change at r_e = 0)
    margin: float
    #: log(P(+)/P(−)) (None where either is 0)
    log_odds: float | None = None


@dataclass(frozen=True)
class GenerationRecord(Record):
    """A generated response of one query at one r_e and its judge's score (App. F.3)."""

    KIND: ClassVar[str] = "generation"
    #: greedy or sampled decoding
    mode: str
    text: str
    #: the judge's score in [−1, 1]: +1 the behaviour, −1 its opposite
    score: float


@dataclass(frozen=True)
class HumanEvalRecord(Record):
    """One HumanEval problem (``id`` = its task id) completed at one r_e and run in
    the sandbox (App. G)."""

    KIND: ClassVar[str] = "humaneval"
    #: the code appended to the problem's prompt
    completion: str
    #: passed, failed, timeout or error, and why
    status: str
    reason: str
    #: the last 500 characters of the program's stderr
    stderr_tail: str
    #: chat or completion prompts, and the generation length
    prompt_style: str
    max_new_tokens: int
    #: how the vector was made (method, model)
    vector_method: str | None = None
    vector_model: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


RECORD_TYPES: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        HelpfulnessRecord,
        LambdaRecord,
        NoiseRecord,
        DeltaRecord,
        BehaviorRecord,
        GenerationRecord,
        HumanEvalRecord,
    )
}


def record_from_dict(kind: str, data: Mapping[str, Any]) -> Record:
    """The typed record of ``kind`` from its logged dictionary."""
    cls = RECORD_TYPES.get(kind)
    if cls is None:
        raise InputError(f"record: unknown kind {kind!r}; known: {', '.join(RECORD_TYPES)}")
    return cls.from_dict(data)


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or None where it is NaN/±inf (records hold standard JSON)."""
    v = float(x)
    return v if math.isfinite(v) else None
