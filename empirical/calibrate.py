"""From a target alignment to a coefficient, verified on the model (``steerbounds calibrate``).

The question a user brings: *which r_e makes the behaviour expectation reach B*, and
what does it cost in helpfulness?* :func:`calibrate` answers it with Theorem 1 and
Theorem 2 fitted on a few probes, then checks the answer on prompts it has not seen:

1. **Split** the behaviour prompts (seeded) into calibration and held-out halves, and
   the task queries likewise.
2. **Slope at 0**: one forward-mode pass (``torch.func.jvp``) gives each calibration
   query's d log(P+/P−)/d r_e at 0, the linear gain of eq. 27 (artanh B = ½ log(P+/P−)),
   so the probes land where the target is, in the small-r_e regime: the linear
   prediction r_lin of the coefficient, probes at ``PROBES × r_lin``.
3. **Probe and fit**: one batched pass measures the exact next-token B (eq. 3) of every
   calibration query at 0 and the probes; Theorem 1's proved form (eq. 27) is fitted to
   the mean curve (B0 at its measured value, Δλ free) and to every query, with a
   bootstrap over queries for the pooled coefficient's interval.
4. **Invert** (the inversion of eq. 27, :func:`~steerbounds.bounds.required_coefficient`):
   the *pooled* coefficient (the mean B reaches B*), the *confidence* coefficient (B ≥ B*
   on the ``confidence`` fraction of queries) and, where every probed query has a hard
   margin (realised margin m > 0 at every probe, Assumption 2), the *guaranteed* one from
   the bound with the measured margin slope Δλ_q = min_r m_q(r)/r. For
   ``level="generated"`` the N-token form of Theorem 6 (eq. 77, N = the answer length)
   is used and verified with judged generations.
5. **Helpfulness** (when a task is given): the task probed at the same coefficients,
   Theorem 2 (eq. 6; Corollary 2's floor 1/N for N-choice tasks) fitted, its bound
   predicted at the coefficient; with ``min_helpfulness`` the largest r_e whose bound
   stays above it and the B reached there, and the planner's efficient regime.
6. **Verify**: one pass on the held-out prompts (and task queries) at the returned
   coefficients: achieved B and helpfulness with 95 % bootstrap intervals, and the
   fraction of held-out queries at or above B* with its Clopper–Pearson interval.

The work is counted in token-forwards (:func:`count_token_forwards`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import optimize, stats

from steerbounds.bounds import helpfulness_upper_bound, multitoken_required_coefficient, required_coefficient
from steerbounds.bounds.fitting import fit_behavior_curve
from steerbounds.empirical.reduce.summary import per_coefficient, theorem2_fit
from steerbounds.empirical.steering.batched import forward_sweep
from steerbounds.empirical.steering.derivative import jvp_final_representation
from steerbounds.empirical.steering.forward import count_token_forwards
from steerbounds.empirical.steering.models import SteerableModel, load_configured
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.empirical.sweep import measure
from steerbounds.empirical.sweep.records import BehaviorRecord, HelpfulnessRecord
from steerbounds.empirical.sweep.scale import SMALL_CHANGE
from steerbounds.empirical.workloads import behavior
from steerbounds.empirical.workloads.sources import Sources
from steerbounds.errors import InputError, check_int

LEVELS = ("next-token", "generated")
SLOPE_PROMPTS = 8  # calibration prompts the forward-mode slope at 0 is taken on
TOLERANCE = 0.02  # the search stops when a probe's mean B is this close to B*
MAX_REFINE = 5  # at most this many probes after the first
CAP_SMALL = 10.0  # probes stay below this many times the small-r_e limit
B_EDGE = 1 - 1e-6  # B0 and B* are kept inside (−1, 1) for artanh


@dataclass
class CalibrateConfig(Sources):
    """What to calibrate (see ``steerbounds calibrate --help`` and the module docstring).

    ``n`` behaviour prompts and ``n_task`` task queries are each split in half
    (calibration / held-out); ``task=None`` skips the helpfulness cost. The model, the
    vector and the behaviour's files: :class:`~steerbounds.empirical.workloads.sources.Sources`."""

    target: float
    behavior: str = "racist"
    level: str = "next-token"
    task: str | None = "facts"
    min_helpfulness: float | None = None
    confidence: float = 0.9
    n: int = 64
    n_task: int = 24
    bootstrap: int = 300
    max_new_tokens: int = 24
    batch_size: int = 16


def validate(config: CalibrateConfig) -> CalibrateConfig:
    """Check every field before any model is loaded."""
    if not (isinstance(config.target, (int, float)) and -1 < config.target < 1):
        raise InputError(f"target: B* must be in (-1, 1); got {config.target!r}")
    if config.level not in LEVELS:
        raise InputError(f"level: {config.level!r} is not allowed; use one of {', '.join(LEVELS)}")
    if not 0 < config.confidence < 1:
        raise InputError(f"confidence: must be in (0, 1); got {config.confidence!r}")
    if config.min_helpfulness is not None and not 0 < config.min_helpfulness < 1:
        raise InputError(f"min_helpfulness: must be in (0, 1); got {config.min_helpfulness!r}")
    if config.min_helpfulness is not None and config.task is None and config.task_file is None:
        raise InputError("min_helpfulness: needs a helpfulness task (--task or --task-file)")
    for name, low in (("n", 4), ("n_task", 4), ("bootstrap", 10), ("max_new_tokens", 1), ("n_pairs", 1)):
        check_int(name, getattr(config, name), low)
    if config.task_file is not None:
        config.task = "file"
    behavior.check(config, needs_prompts=True, needs_judge=config.level == "generated")
    return config


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Interval:
    """A value and its 95 % interval."""

    value: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


@dataclass
class Candidate:
    """One returned coefficient with its prediction and its check on held-out data."""

    name: str
    r_e: float
    predicted_b: float | None
    achieved_b: Interval | None = None
    fraction_at_target: Interval | None = None
    predicted_h: float | None = None
    achieved_h: Interval | None = None


@dataclass
class Calibration:
    """The result of :func:`calibrate` (module docstring)."""

    target: float
    level: str
    b0: float
    slope: float
    r_lin: float
    probes: list[float]
    probe_b: list[float]
    probe_sem: list[float]
    fit: dict[str, Any]
    coefficient_interval: Interval | None
    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)
    helpfulness_fit: dict[str, Any] | None = None
    budget: dict[str, float] | None = None
    per_query: list[dict[str, Any]] = field(default_factory=list)
    token_forwards: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    n_calibration: int = 0
    n_held_out: int = 0

    @property
    def coefficient(self) -> float:
        """The returned coefficient (the first candidate)."""
        return self.candidates[0].r_e

    def rows(self) -> list[list[str]]:
        def f(x: float | None) -> str:
            return "–" if x is None or not math.isfinite(x) else f"{x:.4g}"

        return [
            [
                c.name,
                f(c.r_e),
                f(c.predicted_b),
                c.achieved_b.text() if c.achieved_b else "–",
                c.fraction_at_target.text(2) if c.fraction_at_target else "–",
                f(c.predicted_h),
                c.achieved_h.text() if c.achieved_h else "–",
            ]
            for c in self.candidates
        ]

    def to_dict(self) -> dict[str, Any]:
        """The returned ``coefficient``, then every field (``slope`` reported as
        ``slope_log_odds_at_0``, ``fit`` as ``theorem1_fit``), intervals as dicts."""
        from steerbounds import io

        fields = {_REPORTED_AS.get(k, k): v for k, v in asdict(self).items()}
        return io.jsonable({"coefficient": self.coefficient, **fields})


#: the JSON names of the fields of :class:`Calibration` whose attribute names are short
_REPORTED_AS = {"slope": "slope_log_odds_at_0", "fit": "theorem1_fit"}


ROW_HEADERS = [
    "coefficient",
    "r_e",
    "predicted B",
    "achieved B [95%]",
    "held-out ≥ B*",
    "predicted H",
    "achieved H",
]


# --------------------------------------------------------------------------- pieces


def split(items: Sequence[Any], seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded half/half split (calibration, held-out)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return [items[i] for i in sorted(order[:half])], [items[i] for i in sorted(order[half:])]


def bootstrap_mean(values: np.ndarray, n: int, seed: int) -> Interval:
    """The mean and its 95 % percentile-bootstrap interval over the rows of ``values``."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n, len(values)))].mean(axis=1)
    return Interval(float(values.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))


def clopper_pearson(k: int, n: int) -> Interval:
    """The fraction k/n with its exact (Clopper–Pearson) 95 % interval."""
    ci = stats.binomtest(k, n).proportion_ci(method="exact")
    return Interval(k / n, float(ci.low), float(ci.high))


def _artanh(b: np.ndarray | float) -> Any:
    return np.arctanh(np.clip(b, -B_EDGE, B_EDGE))


def linear_coefficient(b0: np.ndarray, slope: np.ndarray, target: float, cap: float) -> float:
    """r_lin: where the linear log-odds prediction of the mean B, mean_q tanh((log-odds_q
    + slope_q r)/2), reaches the target (capped at ``cap``)."""
    lo0 = 2 * _artanh(b0)

    def gap(r: float) -> float:
        return float(np.tanh((lo0 + slope * r) / 2).mean()) - target

    if gap(0.0) >= 0:
        return 0.0
    if gap(cap) < 0:
        return cap
    return float(optimize.brentq(gap, 0.0, cap, xtol=1e-6 * cap))


def crossing(r: np.ndarray, b: np.ndarray, target: float) -> float:
    """Where a measured curve B(r) (``r`` sorted, ``r[0] = 0``) reaches ``target``, by
    Theorem 1's form fitted between the two probes that bracket it: artanh B linear in
    r there (eq. 27 with B0 := B(r_a), Δλ/2 := the slope); past the last probe the last
    segment is extended (∞ when it does not rise); 0 when B(0) already reaches it."""
    a = _artanh(b)
    t = float(_artanh(target))
    if a[0] >= t:
        return 0.0
    above = np.flatnonzero(a >= t)
    k = int(above[0]) if above.size else len(a) - 1
    slope = (a[k] - a[k - 1]) / (r[k] - r[k - 1])
    if not slope > 0:
        return math.inf
    return float(r[k - 1] + (t - a[k - 1]) / slope)


def interpolate(r: np.ndarray, b: np.ndarray, x: float) -> float:
    """The same piecewise Theorem 1 form at ``x``: B = tanh of the artanh-linear
    interpolation between the probes (extended past the last one)."""
    a = _artanh(b)
    k = int(np.clip(np.searchsorted(r, x), 1, len(r) - 1))
    slope = (a[k] - a[k - 1]) / (r[k] - r[k - 1])
    return float(np.tanh(a[k - 1] + slope * (x - r[k - 1])))


class Prober:
    """Batched passes over one query set: the forward-mode slope at 0
    (:meth:`log_odds_slope`), and passes at chosen coefficients (K = the new ones only),
    kept for the end: the mean B per coefficient as the search goes, then every query's
    records with realised margins once r_e = 0 is among them."""

    def __init__(
        self,
        model: SteerableModel,
        vector: SteeringVector,
        queries: Sequence[dict[str, Any]],
        plus: list[int],
        minus: list[int],
        layers: list[int],
    ) -> None:
        self.model, self.vector, self.queries, self.plus, self.minus, self.layers = (
            model,
            vector,
            list(queries),
            plus,
            minus,
            layers,
        )
        self.enc = model.encode([q["prompt"] for q in self.queries])
        self.logits: dict[float, torch.Tensor] = {}
        self.reps: dict[float, torch.Tensor] = {}

    def log_odds_slope(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Per query B0 (eq. 3) and d log(P+/P−)/d r_e at 0, from one forward-mode pass, and
        the end of the small-r_e regime on these queries, SMALL_CHANGE·‖r^(L)‖/λ
        (:mod:`steerbounds.empirical.sweep.scale`)."""
        primal, tangent = jvp_final_representation(
            self.model,
            self.vector,
            self.enc["input_ids"],
            self.enc["attention_mask"],
            layers=self.layers,
            return_primal=True,
        )
        plus, minus = self.plus, self.minus
        with torch.no_grad():
            U = self.model.unembedding().detach().double()
            bias = self.model.unembedding_bias()
            logits = primal.double() @ U.T + (0.0 if bias is None else bias.detach().double())
            dlogits = tangent.double() @ U.T
            p = torch.softmax(logits, dim=-1)
            pp, pm = p[:, plus].sum(-1), p[:, minus].sum(-1)
            rise_plus = (p[:, plus] * dlogits[:, plus]).sum(-1) / pp
            slope = rise_plus - (p[:, minus] * dlogits[:, minus]).sum(-1) / pm
            b0 = (pp - pm) / (pp + pm)
        lam = float(tangent.double().norm(dim=-1).mean())
        r_small = SMALL_CHANGE * float(primal.double().norm(dim=-1).mean()) / lam if lam > 0 else math.inf
        return b0.numpy(), slope.numpy(), r_small

    def measure(self, coefficients: Sequence[float]) -> None:
        new = [float(c) for c in coefficients if float(c) not in self.logits]
        if not new:
            return
        logits, reps = forward_sweep(
            self.model,
            self.vector,
            self.enc["input_ids"],
            self.enc["attention_mask"],
            new,
            layers=self.layers,
            return_final=True,
        )
        for k, c in enumerate(new):
            self.logits[c], self.reps[c] = logits[k].double(), reps[k].double()

    def means(self) -> dict[float, float]:
        """The mean next-token B (eq. 3) over the queries at each measured coefficient."""
        return {
            c: float(measure.answer_log_probabilities(x, self.plus, self.minus)[2].mean())
            for c, x in self.logits.items()
        }

    def records(self) -> list[BehaviorRecord]:
        """Every query's behaviour records at every measured coefficient (needs r_e = 0)."""
        coefficients = tuple(sorted(self.logits))
        p = measure.Pass(
            coefficients=coefficients,
            requested=coefficients,
            zero=coefficients.index(0.0),
            logits=torch.stack([self.logits[c] for c in coefficients]),
            reps=torch.stack([self.reps[c] for c in coefficients]),
        )
        return measure.behavior_records(p, self.queries, plus_ids=self.plus, minus_ids=self.minus)


def _by_query(records: Sequence[BehaviorRecord]) -> dict[str, dict[float, BehaviorRecord]]:
    out: dict[str, dict[float, BehaviorRecord]] = {}
    for rec in records:
        out.setdefault(rec.id, {})[rec.r_e] = rec
    return out


def _matrix(table: dict[str, dict[float, BehaviorRecord]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probes (sorted), and per query (rows) × probe: B and the realised margin."""
    r = sorted(next(iter(table.values())))
    b = np.array([[row[c].b for c in r] for row in table.values()])
    m = np.array([[row[c].margin for c in r] for row in table.values()])
    return np.array(r), b, m


def _fit(r: np.ndarray, b: np.ndarray, b0: float) -> dict[str, Any] | None:
    """Theorem 1's proved form on (r, b), B0 held at its measured value; None when the
    curve does not rise (Δλ = 0 or the fit fails)."""
    try:
        f = fit_behavior_curve(
            r, np.clip(b, -B_EDGE, B_EDGE), fit_b0=False, b0=float(np.clip(b0, -B_EDGE, B_EDGE))
        )
    except (InputError, RuntimeError, ValueError):
        return None
    if not f.delta_lambda > 0:
        return None
    return {
        "delta_lambda": f.delta_lambda,
        "b0": f.b0,
        "stderr": f.stderr.get("delta_lambda"),
        "rmse": f.rmse,
    }


def _needed(target: float, b0: float, delta_lambda: float | None) -> float:
    """The inversion of eq. 27 (∞ where the curve does not rise)."""
    if b0 >= target:
        return 0.0
    if delta_lambda is None or not delta_lambda > 0:
        return math.inf
    return float(required_coefficient(target, float(np.clip(b0, -B_EDGE, B_EDGE)), delta_lambda))


# --------------------------------------------------------------------------- calibrate


def calibrate(
    config: CalibrateConfig, *, model: SteerableModel | None = None, vector: SteeringVector | None = None
) -> Calibration:
    """Calibrate the coefficient for ``config.target`` (module docstring)."""
    start = time.monotonic()
    config = validate(config)
    if vector is None and config.vector is not None:
        vector = SteeringVector.load(config.vector)
    if model is None:
        model = load_configured(config)
    if vector is None:
        vector = behavior.vector(config, model)
    layers = model.resolve_layers(config.layers) if config.layers is not None else vector.layers
    plus, minus = behavior.answer_sets(config, model.tokenizer)
    calib, held = split(behavior.prompts(config, model), config.seed)
    if len(calib) < 2 or len(held) < 2:
        raise InputError(f"n: {len(calib) + len(held)} behaviour prompts; need at least 4 to split")
    tasks: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    if config.task is not None:
        tasks = split(config.task_queries(model, config.task, config.n_task), config.seed + 1)
    target = float(config.target)
    notes: list[str] = []
    used: dict[str, int] = {}

    # search: the slope at 0 places the first probe; then Theorem 1's form fitted between
    # the probes that bracket the target places the next, until one lies within TOLERANCE
    with count_token_forwards() as search_cost:
        slope_set = Prober(model, vector, calib[:SLOPE_PROMPTS], plus, minus, layers)
        b0_s, slope_s, r_small = slope_set.log_odds_slope()
        cap = CAP_SMALL * r_small
        if float(slope_s.mean()) <= 0:
            notes.append(
                f"the vector lowers B at r_e = 0 (mean slope of log(P+/P−) {slope_s.mean():.3g}); "
                f"calibrating r_e > 0 anyway"
            )
        r_lin = linear_coefficient(b0_s, np.maximum(slope_s, 1e-12), target, cap)
        prober = Prober(model, vector, calib, plus, minus, layers)
        estimate = {0.0: float(b0_s.mean())}  # B(0) from the slope's prompts until measured on all
        if r_lin == 0:
            notes.append("B already reaches the target at r_e = 0 on the calibration prompts")
        else:
            prober.measure([r_lin])
        for _ in range(MAX_REFINE):
            curve_now = {**estimate, **prober.means()}
            r_now = np.array(sorted(curve_now))
            b_now = np.array([curve_now[c] for c in r_now])
            if np.min(np.abs(b_now[1:] - target), initial=math.inf) <= TOLERANCE or r_lin == 0:
                break
            r_next = crossing(r_now, b_now, target)
            if (
                not math.isfinite(r_next)
                or r_next > cap
                or np.isclose(r_next, r_now, rtol=1e-9, atol=0).any()
            ):
                break
            prober.measure([r_next])
    used["search"] = search_cost.count

    # analysis: B0 of every calibration query (the reference of the realised margins), the
    # task at the same coefficients, the judged B0 for the generated level
    with count_token_forwards() as analysis_cost:
        prober.measure([0.0])
        table = _by_query(prober.records())
        probes = sorted(prober.means())
        help_probe = None
        if tasks is not None:
            help_probe = measure.helpfulness_records(
                measure.record_pass(model, vector, tasks[0], probes, layers=layers), tasks[0]
            )
        b0_gen = None
        if config.level == "generated":
            gen0 = measure.generation_records(
                model,
                vector,
                calib,
                [0.0],
                judge=behavior.judge(config),
                max_new_tokens=config.max_new_tokens,
                layers=layers,
            )
            b0_gen = float(np.mean([g.score for g in gen0]))
    used["analysis"] = analysis_cost.count
    r, B, margins = _matrix(table)
    curve = B.mean(axis=0)
    b0 = float(curve[0])
    fit = _fit(r, curve, b0)
    if fit is None:
        raise InputError(
            "the mean behaviour does not rise with r_e on the calibration prompts; nothing to invert"
        )
    r_pool = crossing(r, curve, target)
    if not math.isfinite(r_pool):
        best = int(np.argmax(curve))
        notes.append(
            f"the mean B of the calibration prompts does not reach B* = {target:g} on the probes: its "
            f"largest value is {curve[best]:.3g} at r_e = {r[best]:.3g}, and it falls after"
        )
    rng = np.random.default_rng(config.seed)
    boot = [
        crossing(r, B[rng.integers(0, len(B), len(B))].mean(axis=0), target) for _ in range(config.bootstrap)
    ]
    finite = [x for x in boot if math.isfinite(x)]
    interval = None
    if len(finite) == len(boot) and math.isfinite(r_pool):
        interval = Interval(r_pool, float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975)))
    else:
        notes.append(
            f"{len(boot) - len(finite)} of {len(boot)} bootstrap resamples never reach B*: no interval"
        )

    per_query: list[dict[str, Any]] = []
    steered = r > 0
    for qi, i in enumerate(table):
        fq = _fit(r, B[qi], float(B[qi, 0]))
        hard = float(np.min(margins[qi, steered] / r[steered]))
        per_query.append(
            {
                "id": i,
                "b0": float(B[qi, 0]),
                "delta_lambda": fq["delta_lambda"] if fq else None,
                "r_needed": crossing(r, B[qi], target),
                "hard_margin_slope": hard,
                "r_guaranteed": _needed(target, float(B[qi, 0]), hard if hard > 0 else None),
            }
        )
    r_conf = float(np.quantile([q["r_needed"] for q in per_query], config.confidence, method="higher"))
    r_guar = float(np.quantile([q["r_guaranteed"] for q in per_query], config.confidence, method="higher"))
    with_margin = sum(q["hard_margin_slope"] > 0 for q in per_query)
    if not math.isfinite(r_guar):
        notes.append(
            f"no guarantee: {len(per_query) - with_margin} of {len(per_query)} calibration queries have "
            f"no hard margin (realised margin ≤ 0 at some probe); at most {1 - config.confidence:.0%} "
            f"may lack one"
        )
    elif r_guar > r[-1]:
        notes.append(
            f"the guaranteed coefficient {r_guar:.3g} extrapolates the margins past the last probe "
            f"{r[-1]:.3g}"
        )

    def predicted_b(x: float) -> float | None:
        return interpolate(r, curve, x) if math.isfinite(x) else None

    candidates: list[Candidate] = []
    if config.level == "generated" and b0_gen is not None:
        b0_g = float(np.clip(b0_gen, -B_EDGE, B_EDGE))
        r_gen = float(
            multitoken_required_coefficient(
                (1 - target) / 2, config.max_new_tokens, b0_g, fit["delta_lambda"]
            )
        )
        candidates.append(Candidate(f"generated (Thm 6, N={config.max_new_tokens})", r_gen, None))
    candidates.append(Candidate("pooled (mean B = B*)", r_pool, predicted_b(r_pool)))
    candidates.append(
        Candidate(f"confidence ({config.confidence:.0%} of queries)", r_conf, predicted_b(r_conf))
    )
    if math.isfinite(r_guar):
        candidates.append(
            Candidate(f"guaranteed (hard margin, {config.confidence:.0%})", r_guar, predicted_b(r_guar))
        )

    # Theorem 2: the helpfulness cost
    h_fit = None
    budget = None
    if help_probe is not None:
        h_fit, budget = _helpfulness(help_probe, fit, b0, config, cap, notes)
        if h_fit is not None:
            for c in candidates:
                c.predicted_h = _h_bound(h_fit, c.r_e) if math.isfinite(c.r_e) else None
            if budget is not None and budget["r_e"] < candidates[0].r_e:
                candidates.insert(
                    0,
                    Candidate(
                        "within the helpfulness budget",
                        budget["r_e"],
                        budget["b"],
                        predicted_h=_h_bound(h_fit, budget["r_e"]),
                    ),
                )

    # verification on held-out prompts and task queries
    checked = [c for c in candidates if math.isfinite(c.r_e) and c.r_e <= cap]
    grid = sorted({0.0, *(c.r_e for c in checked)})
    with count_token_forwards() as verify_cost:
        vp = measure.record_pass(model, vector, held, grid, layers=layers)
        held_b = {
            (rec.id, rec.r_e): rec.b
            for rec in measure.behavior_records(vp, held, plus_ids=plus, minus_ids=minus)
        }
        held_h = None
        if tasks is not None:
            vh = measure.record_pass(model, vector, tasks[1], grid, layers=layers)
            held_h = {
                (rec.id, rec.r_e): _help_value(rec) for rec in measure.helpfulness_records(vh, tasks[1])
            }
        gens = None
        if config.level == "generated":
            gens = measure.generation_records(
                model,
                vector,
                held,
                [c.r_e for c in checked[:1]],
                judge=behavior.judge(config),
                max_new_tokens=config.max_new_tokens,
                layers=layers,
            )
    used["verify"] = verify_cost.count
    held_ids = [q["id"] for q in held]
    for k, c in enumerate(checked):
        values = np.array([held_b[(i, c.r_e)] for i in held_ids])
        if gens is not None and k == 0:
            values = np.array([g.score for g in gens])
        c.achieved_b = bootstrap_mean(values, config.bootstrap, config.seed)
        c.fraction_at_target = clopper_pearson(int((values >= target).sum()), len(values))
        if held_h is not None:
            h = np.array([held_h[(str(q["id"]), c.r_e)] for q in tasks[1]])  # type: ignore[index]
            c.achieved_h = bootstrap_mean(h, config.bootstrap, config.seed)
    return Calibration(
        target=target,
        level=config.level,
        b0=b0,
        slope=float(slope_s.mean()),
        r_lin=r_lin,
        probes=r.tolist(),
        probe_b=curve.tolist(),
        probe_sem=(B.std(axis=0, ddof=1) / math.sqrt(len(B))).tolist(),
        fit=fit,
        coefficient_interval=interval,
        candidates=candidates,
        notes=notes,
        helpfulness_fit=h_fit,
        budget=budget,
        per_query=per_query,
        token_forwards=used,
        wall_s=time.monotonic() - start,
        n_calibration=len(calib),
        n_held_out=len(held),
    )


def _help_value(rec: HelpfulnessRecord) -> float:
    """P(correct) over the choices for multiple choice (App. F.4), else over the vocabulary."""
    return rec.p_choices if rec.p_choices is not None else rec.p_correct


def _h_bound(fit: dict[str, Any], r_e: float) -> float:
    """The fitted Theorem 2 bound (eq. 6, with its Corollary 2 floor) at r_e."""
    core = float(helpfulness_upper_bound(r_e, fit["p0"], fit["alpha_eff"], 0.0, fit["lam_sigma_beta"]))
    floor = fit.get("floor") or 0.0
    return (1 - floor) * core + floor


def _helpfulness(
    records: list[HelpfulnessRecord],
    fit_b: dict[str, Any],
    b0: float,
    config: CalibrateConfig,
    cap: float,
    notes: list[str],
) -> tuple[dict[str, Any] | None, dict[str, float] | None]:
    """Theorem 2 fitted to the probed task, the helpfulness budget's coefficient (searched
    up to 10·``cap``) with the B the Theorem 1 fit reaches there, and the planner's
    efficient regime (on 0 … ``cap``)."""
    import pandas as pd

    from steerbounds.bounds.planner import plan_tradeoff

    table = pd.DataFrame([{"r_e": x.r_e, "id": x.id, "value": _help_value(x)} for x in records])
    n_choices = records[0].n_choices
    try:
        h_fit = theorem2_fit(per_coefficient(table, "value"), 1.0 / n_choices if n_choices else None)
    except InputError as exc:
        notes.append(f"no helpfulness prediction: {exc}")
        return None, None
    budget = None
    if config.min_helpfulness is not None:
        H = config.min_helpfulness
        if _h_bound(h_fit, 0.0) < H:
            notes.append(f"the helpfulness bound is below {H:g} already at r_e = 0: no coefficient keeps it")
        else:
            top = 10 * cap
            r_h = (
                top
                if _h_bound(h_fit, top) >= H
                else float(optimize.brentq(lambda x: _h_bound(h_fit, x) - H, 0, top))
            )
            budget = {
                "r_e": r_h,
                "b": float(np.tanh(fit_b["delta_lambda"] * r_h / 2 + _artanh(b0))),
                "h_min": H,
            }
    plan = plan_tradeoff(
        b0=float(np.clip(b0, -B_EDGE, B_EDGE)),
        delta_lambda=fit_b["delta_lambda"],
        p0=h_fit["p0"],
        alpha=h_fit["alpha_eff"],
        eps=0.0,
        lam_sigma_beta=h_fit["lam_sigma_beta"],
        r_max=cap,
    )
    h_fit = {**h_fit, "efficient_end": float(plan.efficient_end)}
    return h_fit, budget


def plot(result: Calibration, path: str) -> None:
    """Probes (mean B ± SEM), the fitted Theorem 1 curve, the target and the held-out
    checks; the helpfulness bound on a second axis when fitted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steerbounds import io

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    top = max([*result.probes, *(c.r_e for c in result.candidates if math.isfinite(c.r_e))]) * 1.15
    x = np.linspace(0, top, 200)
    ax.errorbar(
        result.probes,
        result.probe_b,
        yerr=result.probe_sem,
        fmt="o",
        color="C0",
        label="probes (calibration)",
    )
    ax.plot(
        x,
        np.tanh(result.fit["delta_lambda"] * x / 2 + _artanh(result.b0)),
        color="C0",
        label=f"Thm 1 fit (eq. 27): Δλ={result.fit['delta_lambda']:.3g}",
    )
    probes = np.array(result.probes)
    ax.plot(
        x,
        [interpolate(probes, np.array(result.probe_b), v) for v in x],
        color="C0",
        ls="--",
        lw=1,
        label="Thm 1 form between probes (the inversion)",
    )
    ax.axhline(result.target, color="0.5", ls="--", lw=1, label=f"target B* = {result.target:g}")
    for k, c in enumerate(result.candidates):
        if c.achieved_b is not None:
            a = c.achieved_b
            ax.errorbar(
                [c.r_e],
                [a.value],
                yerr=[[a.value - a.low], [a.high - a.value]],
                fmt="s",
                color=f"C{k + 1}",
                label=f"held-out at {c.name}: {a.value:.2f}",
            )
    ax.set_xlabel("steering coefficient $r_e$")
    ax.set_ylabel("behaviour expectation B (next-token, eq. 3)")
    ax.set_ylim(-1.05, 1.05)
    if result.helpfulness_fit is not None:
        ax2 = ax.twinx()
        ax2.plot(
            x,
            [_h_bound(result.helpfulness_fit, v) for v in x],
            color="C3",
            ls=":",
            label="helpfulness bound (Thm 2 fit)",
        )
        ax2.set_ylabel("helpfulness bound", color="C3")
        ax2.set_ylim(0, 1.02)
        handles, labels = ax2.get_legend_handles_labels()
    else:
        handles, labels = [], []
    h1, l1 = ax.get_legend_handles_labels()
    ax.legend(
        h1 + handles,
        l1 + labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        fontsize=7,
        frameon=False,
        ncol=2,
    )
    ax.set_title(f"calibration: {result.coefficient:.3g} for B* = {result.target:g}", fontsize=9)
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
