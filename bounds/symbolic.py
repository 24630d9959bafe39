"""The paper's bounds as sympy expressions: Taylor coefficients, asymptotes, inversions.

Wolf et al., arXiv 2401.16332. Every result of :data:`steerbounds.bounds.RESULTS` (each
of its forms) is available as a sympy expression in named symbols (:data:`SYMBOLS`):

=========  ===========================  =========  =============================
symbol     meaning                      symbol     meaning
=========  ===========================  =========  =============================
``r_e``    steering coefficient         ``P_0``    P(correct) without steering
``B_0``    behaviour expectation        ``α``      tightness (eq. 38)
``Δλ``     margin × λ (Thm 1)           ``ε``      mass outside the top-T tokens
``λ``      |δr| per unit r_e (eq. 7)    ``λσβ``    curvature (one symbol, eq. 6)
``δ``      misclassified mass (eq. 47)  ``T``      top tokens / answers (Cor. 2)
``M``      misclassified depth (eq. 48) ``N``      tokens of the answer (Thm 6)
``P_+``    aligned / upper mass         ``c_+``    mean gap over I+ (eq. 33)
``P_-``    misaligned / lower mass      ``c_-``    mean gap over I− (eq. 33)
``b_+``    score threshold (Thm 5)      ``B_*``    target behaviour
``γ``      upper bound on B0 (Cor. 1)   ``P_0^i``  per-step P0 (Cor. 3)
=========  ===========================  =========  =============================

The analysis functions are exact (sympy) and derived, not transcribed:

* :func:`taylor` / :func:`linear_gain` / :func:`quadratic_coefficient` -- expansion at
  r_e → 0⁺ (|r_e| = r_e there). Theorem 1 proved gives ``(Δλ/2)(1 − B0²)``, stated
  ``Δλ(1 − B0²)``; Theorem 2's r_e² coefficient is
  ``−P0(1 − P0)α(1 − ε)(λσβ)² / (2(P0 + (1 − P0)α(1 − ε))²)``.
* :func:`eq80_c` -- the coefficient c of r_e² in the denominator of eq. 79 (eq. 80).
* :func:`asymptote` -- limit and leading correction for r_e → ±∞.
* :func:`inversion` -- the r_e at which a bound reaches a target value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy as sp

from steerbounds.errors import InputError

__all__ = [
    "SYMBOLS",
    "Asymptote",
    "asymptote",
    "eq80_c",
    "expression",
    "forms_of",
    "inversion",
    "lambdified",
    "linear_gain",
    "names",
    "quadratic_coefficient",
    "symbols_for",
    "taylor",
]

# --------------------------------------------------------------------------- symbols

# Grouped by their assumptions (what sympy may use to simplify).
r_e, B_0, b_plus, B_star = sp.symbols("r_e B_0 b_+ B_*", real=True)
Δλ, λ, M, P_plus, P_minus, P_0, T, N, H_star = sp.symbols("Δλ λ M P_+ P_- P_0 T N H_*", positive=True)
δ, α, ε, λσβ, c_plus = sp.symbols("δ α ε λσβ c_+", nonnegative=True)
c_minus = sp.Symbol("c_-", nonpositive=True)
γ = sp.Symbol("γ", negative=True)

#: Numeric argument name (as in :mod:`steerbounds.bounds.theorems`) -> sympy symbol.
SYMBOLS: Mapping[str, sp.Symbol] = MappingProxyType(
    {
        "r_e": r_e,
        "b0": B_0,
        "delta_lambda": Δλ,
        "lam": λ,
        "delta": δ,
        "M": M,
        "p_plus": P_plus,
        "p_minus": P_minus,
        "b_plus": b_plus,
        "p0": P_0,
        "alpha": α,
        "eps": ε,
        "lam_sigma_beta": λσβ,
        "n_top": T,
        "n_tokens": N,
        "c_plus": c_plus,
        "c_minus": c_minus,
        "target": B_star,
        "gamma": γ,
    }
)


def _p0_step_symbols(n_steps: int) -> tuple[sp.Symbol, ...]:
    if not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"n_steps must be an integer ≥ 1; got {n_steps!r}")
    return tuple(sp.Symbol(f"P_0^{i}", positive=True) for i in range(1, n_steps + 1))


# --------------------------------------------------------------------------- builders


def _factor(form: str) -> sp.Rational:
    """Theorem 1 family: the proof (eq. 22 → 23) halves the statement's exponent."""
    return sp.Integer(1) if form == "stated" else sp.Rational(1, 2)


def _theorem1(form: str) -> sp.Expr:
    """Eq. 5 (stated) / eq. 27 (proved)."""
    return sp.tanh(_factor(form) * Δλ * r_e + sp.atanh(B_0))


def _theorem3_unfloored(form: str) -> sp.Expr:
    """Eq. 61 (proved) / eq. 51 with ε = 2δ e^{Mλ r_e} (stated)."""
    return _theorem1(form) - 2 * δ * sp.exp(M * λ * r_e)


def _theorem3(form: str) -> sp.Expr:
    """Eq. 61 / eq. 51, floored at −1 (B ∈ [−1, 1]; the bound is vacuous there)."""
    return sp.Max(_theorem3_unfloored(form), -1)


def _trinary_stated() -> sp.Expr:
    """Eq. 66 (= eq. 70)."""
    grow = P_plus * (sp.exp(Δλ * r_e) - 1)
    return (B_0 + grow) / (1 + grow)


def _trinary_binary_branch() -> sp.Expr:
    """(P+e^x − P−)/(P+e^x + P−) with P− = P+ − B0: neutral answers pushed away."""
    p_minus = P_plus - B_0
    u = P_plus * sp.exp(Δλ * r_e)
    return (u - p_minus) / (u + p_minus)


def _theorem4(form: str) -> sp.Expr:
    """Eq. 66 (stated); corrected: min(eq. 66, binary branch) for Δλ r_e ≠ 0, B0 at 0.

    At Δλ r_e = 0 nothing moves and B = B0; for Δλ r_e ≠ 0 the infimum over instances
    is the minimum, so the corrected bound jumps at 0 when B0 < 0 (to B0/(P+ + P−)).
    """
    if form == "stated":
        return _trinary_stated()
    return sp.Piecewise(
        (_trinary_stated(), sp.Eq(Δλ * r_e, 0)),
        (sp.Min(_trinary_stated(), _trinary_binary_branch()), True),
    )


def _theorem5(form: str) -> sp.Expr:
    """Eq. 67."""
    u = P_plus * sp.exp(Δλ * r_e)
    return (b_plus * u - P_minus) / (u + P_minus)


def _corollary1(form: str) -> sp.Expr:
    """App. D: (artanh(1 − ε) − artanh γ)/Δλ, doubled in the proved form."""
    return (sp.atanh(1 - ε) - sp.atanh(γ)) / (_factor(form) * Δλ)


def _required(form: str) -> sp.Expr:
    """Inversion of eq. 5 / eq. 27, clipped at 0."""
    return sp.Max((sp.atanh(B_star) - sp.atanh(B_0)) / (_factor(form) * Δλ), 0)


def _theorem6(form: str) -> sp.Expr:
    """Eq. 77, clipped at 0."""
    return sp.Max((sp.log(N / ε) + sp.log((1 - B_0) / (1 + B_0))) / Δλ, 0)


def _growth(half: bool = True) -> sp.Expr:
    return 1 + (λσβ**2 * r_e**2 / 2 if half else λσβ**2 * r_e**2)


def _theorem2(form: str) -> sp.Expr:
    """Eq. 6 (= eq. 38)."""
    return P_0 / (P_0 + (1 - P_0) * α * (1 - ε) * _growth())


def _components(form: str) -> sp.Expr:
    """Eqs. 33, 34, 36 with |δr| = λ|r_e|."""
    s = λ * sp.Abs(r_e)
    if form == "33":
        return P_0 / (P_0 + P_plus * sp.exp(c_plus * s) + P_minus * sp.exp(c_minus * s))
    mass = sp.Min(P_plus, P_minus)
    if form == "34":
        return P_0 / (P_0 + mass * (sp.exp(c_plus * s) + sp.exp(c_minus * s)))
    return P_0 / (P_0 + mass * (1 + sp.Min(sp.Abs(c_minus), c_plus) ** 2 * s**2 / 2))


def _corollary2(form: str) -> sp.Expr:
    """Eq. 45 (stated) / the proof-consistent form (proved)."""
    core = P_0 / (P_0 + α * (1 - P_0) * _growth(half=False)) if form == "stated" else _theorem2("proved")
    return (1 - 1 / T) * core + 1 / T


def _corollary3(n_steps: int) -> sp.Expr:
    """Eq. 79 with N = ``n_steps`` decoding steps."""
    steps = _p0_step_symbols(n_steps)
    scale = α * (1 - ε) * _growth()
    return sp.Mul(*steps) / sp.Mul(*(p + (1 - p) * scale for p in steps))


@dataclass(frozen=True)
class _Spec:
    params: tuple[str, ...]
    forms: tuple[str, ...]  # as the registry's, except theorem2_components: its ``equation``
    default: str | None
    build: Callable[[str], sp.Expr]  # the form ("" for single-form results) → expression


_SPECS: Mapping[str, _Spec] = MappingProxyType(
    {
        "theorem1": _Spec(("r_e", "b0", "delta_lambda"), ("stated", "proved"), "proved", _theorem1),
        "theorem3_soft_margin": _Spec(
            ("r_e", "b0", "delta_lambda", "lam", "delta", "M"), ("stated", "proved"), "proved", _theorem3
        ),
        "theorem4_trinary": _Spec(
            ("r_e", "b0", "p_plus", "delta_lambda"), ("stated", "corrected"), "corrected", _theorem4
        ),
        "theorem5_general": _Spec(
            ("r_e", "p_plus", "p_minus", "b_plus", "delta_lambda"), (), None, _theorem5
        ),
        "corollary1": _Spec(("eps", "gamma", "delta_lambda"), ("stated", "proved"), "proved", _corollary1),
        "required_coefficient": _Spec(
            ("target", "b0", "delta_lambda"), ("stated", "proved"), "proved", _required
        ),
        "theorem6_multitoken": _Spec(("eps", "n_tokens", "b0", "delta_lambda"), (), None, _theorem6),
        "theorem2": _Spec(("r_e", "p0", "alpha", "eps", "lam_sigma_beta"), (), None, _theorem2),
        "theorem2_components": _Spec(
            ("r_e", "p0", "p_plus", "p_minus", "c_plus", "c_minus", "lam"),
            ("33", "34", "36"),
            "33",
            _components,
        ),
        "corollary2_expectation": _Spec(
            ("r_e", "p0", "alpha", "eps", "lam_sigma_beta", "n_top"),
            ("stated", "proved"),
            "proved",
            _corollary2,
        ),
        "corollary3_multitoken": _Spec(
            ("r_e", "p0_steps", "alpha", "eps", "lam_sigma_beta"), (), None, lambda form: _corollary3(2)
        ),
    }
)


def names() -> tuple[str, ...]:
    """Names of the results with a symbolic form (the registry's names)."""
    return tuple(_SPECS)


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise InputError(f"unknown result {name!r}; known: {', '.join(_SPECS)}") from None


def _resolve_form(name: str, form: str | int | None) -> str:
    """The form as a string: the default for None, "" for single-form results."""
    spec = _spec(name)
    if form is None or (not spec.forms and form == ""):
        return spec.default or ""
    if not spec.forms:
        raise InputError(f"{name} has a single form; form must be None; got {form!r}")
    text = str(form)
    if text not in spec.forms and text.removeprefix("eq") in spec.forms:
        text = text.removeprefix("eq")
    if text not in spec.forms:
        raise InputError(f"form of {name} must be one of {', '.join(spec.forms)}; got {form!r}")
    return text


def forms_of(name: str) -> tuple[str, ...]:
    """The forms :func:`expression` accepts for ``name``: the registry's forms, except
    theorem2_components, whose forms are its ``equation`` argument ("33", "34", "36");
    ``()`` for single-form results (pass ``form=None``)."""
    return _spec(name).forms


@functools.lru_cache(maxsize=256)
def expression(name: str, form: str | int | None = None, *, n_steps: int = 2) -> sp.Expr:
    """The bound ``name`` (a registry name) in ``form`` as a sympy expression.

    ``form=None`` takes the default form (the only one for single-form results);
    theorem2_components takes its ``equation``: 33 (default), 34 or 36.
    ``n_steps`` is N for corollary3_multitoken (symbols ``P_0^1 … P_0^N``).
    """
    form = _resolve_form(name, form)
    if name == "corollary3_multitoken":
        return _corollary3(n_steps)
    return _spec(name).build(form)


def symbols_for(name: str, *, n_steps: int = 2) -> dict[str, sp.Symbol | tuple[sp.Symbol, ...]]:
    """Numeric argument name -> symbol(s), in the numeric function's argument order.

    For corollary3_multitoken, ``p0_steps`` maps to the tuple ``(P_0^1, …, P_0^N)``.
    """
    out: dict[str, sp.Symbol | tuple[sp.Symbol, ...]] = {}
    for param in _spec(name).params:
        out[param] = _p0_step_symbols(n_steps) if param == "p0_steps" else SYMBOLS[param]
    return out


def lambdified(
    name: str, form: str | int | None = None, *, n_steps: int = 2, modules: str = "numpy"
) -> Callable:
    """``sympy.lambdify`` of :func:`expression`, called with the numeric keyword arguments.

    ``p0_steps`` (corollary3) is an array whose last axis has length ``n_steps``.
    """
    expr = expression(name, form, n_steps=n_steps)
    table = symbols_for(name, n_steps=n_steps)
    flat = [s for syms in table.values() for s in (syms if isinstance(syms, tuple) else (syms,))]
    raw = sp.lambdify(flat, expr, modules=modules, dummify=True)

    def evaluate(**kwargs: Any) -> Any:
        args: list[Any] = []
        for param, syms in table.items():
            if param not in kwargs:
                raise InputError(f"missing argument {param!r} for {name}")
            if isinstance(syms, tuple):
                steps = np.asarray(kwargs[param], dtype=np.float64)
                if steps.shape[-1:] != (len(syms),):
                    raise InputError(
                        f"p0_steps must have {len(syms)} steps on its last axis; got shape {steps.shape}"
                    )
                args.extend(np.moveaxis(steps, -1, 0))
            else:
                args.append(kwargs[param])
        return raw(*args)

    return evaluate


# --------------------------------------------------------------------------- expansions at 0


def _has_r_e(name: str) -> None:
    if "r_e" not in _spec(name).params:
        raise InputError(f"{name} is a coefficient, not a function of r_e")


def _branch_for_expansion(name: str, form: str, n_steps: int) -> sp.Expr:
    """The expression valid for r_e → 0⁺, with Abs/Max/Min resolved."""
    if name == "theorem3_soft_margin":
        return _theorem3_unfloored(form)  # the floor at −1 is inactive near r_e = 0 when B0 − 2δ > −1
    if name == "theorem4_trinary" and form == "corrected":
        # B0 ≥ 0: eq. 66 is the smaller at 0⁺; B0 < 0: the binary branch (value B0/(P+ + P−) at 0).
        return sp.Piecewise(
            (_trinary_stated(), B_0 >= 0),
            (_trinary_binary_branch(), True),
        )
    return expression(name, form, n_steps=n_steps).subs(sp.Abs(r_e), r_e)


@functools.lru_cache(maxsize=256)
def taylor(name: str, form: str | int | None = None, order: int = 2, *, n_steps: int = 2) -> sp.Expr:
    """Polynomial Taylor expansion of the bound in r_e at 0⁺ up to r_e**order (exact).

    For the |r_e|-dependent forms (theorem2_components) this is the expansion for
    r_e → 0⁺; the function is even in r_e. For theorem4 ``corrected`` it is a
    Piecewise in the sign of B0 (the minimum switches branch there); its constant
    term is the limit at 0⁺, B0/(P+ + P−) for B0 < 0, not the value B0 at r_e = 0.
    """
    _has_r_e(name)
    form = _resolve_form(name, form)
    expr = _branch_for_expansion(name, form, n_steps)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(_series(e, order), c) for e, c in expr.args])
    return _series(expr, order)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Factor small coefficients for display; large ones (Corollary 3) only cancelled."""
    return sp.factor(expr) if sp.count_ops(expr) < 150 else sp.cancel(expr)


def _series_coefficients(expr: sp.Expr, order: int) -> tuple[sp.Expr, ...]:
    return tuple(_tidy(sp.diff(expr, r_e, k).subs(r_e, 0) / sp.factorial(k)) for k in range(order + 1))


def _series(expr: sp.Expr, order: int) -> sp.Expr:
    return sum((c * r_e**k for k, c in enumerate(_series_coefficients(expr, order))), sp.Integer(0))


@functools.lru_cache(maxsize=256)
def _coefficient(name: str, form: str | int | None, k: int, n_steps: int) -> sp.Expr:
    _has_r_e(name)
    form = _resolve_form(name, form)
    expr = _branch_for_expansion(name, form, n_steps)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(_series_coefficients(e, k)[k], c) for e, c in expr.args])
    return _series_coefficients(expr, k)[k]


def linear_gain(name: str, form: str | int | None = None, *, n_steps: int = 2) -> sp.Expr:
    """d(bound)/dr_e at r_e = 0⁺ (exact): the marginal alignment gain of a behaviour bound.

    Theorem 1: proved ``Δλ(1 − B0²)/2`` (eq. 27), stated ``Δλ(1 − B0²)`` (eq. 5).
    """
    return _coefficient(name, form, 1, n_steps)


def quadratic_coefficient(name: str, form: str | int | None = None, *, n_steps: int = 2) -> sp.Expr:
    """Coefficient of r_e² in the expansion at 0⁺ (= half the second derivative).

    Theorem 2 (eq. 6): ``−P0(1 − P0)α(1 − ε)(λσβ)² / (2(P0 + (1 − P0)α(1 − ε))²)``.
    """
    return _coefficient(name, form, 2, n_steps)


@functools.lru_cache(maxsize=64)
def eq80_c(n_steps: int) -> sp.Expr:
    """Eq. 80's c: coefficient of r_e² in Π_i (P0^i + (1 − P0^i)α(1 − ε)(1 + (λσβ)² r_e²/2)).

    Equals ``α(1 − ε)(λσβ)²/2 · Σ_i (1 − P0^i) Π_{j≠i} (P0^j + (1 − P0^j)α(1 − ε))``.
    """
    steps = _p0_step_symbols(n_steps)
    den = sp.Mul(*(p + (1 - p) * α * (1 - ε) * _growth() for p in steps))
    return sp.factor(sp.expand(den).coeff(r_e, 2))


# --------------------------------------------------------------------------- r_e -> ±∞


@dataclass(frozen=True)
class Asymptote:
    """``bound(r_e) = limit + leading·(1 + o(1))`` as r_e → direction·∞."""

    limit: sp.Expr
    leading: sp.Expr
    direction: int


def asymptote(name: str, form: str | int | None = None, direction: int = 1, *, n_steps: int = 2) -> Asymptote:
    """Limit and leading correction of a bound for r_e → +∞ (``direction=1``) or −∞ (−1).

    * Theorem 1: → ±1 exponentially, ``1 − B ~ 2·(1 − B0)/(1 + B0)·e^{−2kΔλ r_e}``
      (k = 1/2 proved, 1 stated); → −1 symmetrically for r_e → −∞.
    * Theorem 2: ``~ 2P0/((1 − P0)α(1 − ε)(λσβ)² r_e²)`` (decay as r_e^{−2});
      Corollary 2 → 1/T with ``(1 − 1/T)×`` that correction; Corollary 3 ~ r_e^{−2N}.
    * Theorem 4 (stated) → 1 with ``−(1 − B0)/P+·e^{−Δλ r_e}``; Theorem 5 → b+ with
      ``−P−(1 + b+)/P+·e^{−Δλ r_e}``.

    Requires positive Δλ, λσβ, α(1 − ε) (else the bound is constant). Results whose
    bound diverges or is clipped (theorem3_soft_margin → −1, coefficients) raise.
    """
    if direction not in (1, -1):
        raise InputError(f"direction must be 1 or -1; got {direction!r}")
    _has_r_e(name)
    form = _resolve_form(name, form)
    a_eff = α * (1 - ε)
    if name == "theorem1":
        k = 2 * _factor(form) * Δλ
        ratio = (1 - B_0) / (1 + B_0)
        if direction == 1:
            return Asymptote(sp.Integer(1), -2 * ratio * sp.exp(-k * r_e), 1)
        return Asymptote(sp.Integer(-1), 2 / ratio * sp.exp(k * r_e), -1)
    if name in ("theorem2", "corollary2_expectation", "corollary3_multitoken"):
        if name == "corollary3_multitoken":
            steps = _p0_step_symbols(n_steps)
            lead = sp.Mul(*(2 * p / ((1 - p) * a_eff * λσβ**2) for p in steps)) / r_e ** (2 * n_steps)
            return Asymptote(sp.Integer(0), lead, direction)
        if name == "corollary2_expectation" and form == "stated":
            lead = P_0 / ((1 - P_0) * α * λσβ**2 * r_e**2)
        else:
            lead = 2 * P_0 / ((1 - P_0) * a_eff * λσβ**2 * r_e**2)
        if name == "corollary2_expectation":
            return Asymptote(1 / T, (1 - 1 / T) * lead, direction)
        return Asymptote(sp.Integer(0), lead, direction)
    if name == "theorem4_trinary" and direction == 1:
        # The binary branch's deficit 2P−/P+·e^{−x} never exceeds eq. 66's (1 − B0)/P+·e^{−x}
        # (their difference is P0/P+ ≥ 0), so both forms share eq. 66's asymptote.
        return Asymptote(sp.Integer(1), -(1 - B_0) / P_plus * sp.exp(-Δλ * r_e), 1)
    if name == "theorem5_general" and direction == 1:
        return Asymptote(b_plus, -P_minus * (1 + b_plus) / P_plus * sp.exp(-Δλ * r_e), 1)
    raise InputError(f"no asymptote implemented for {name} (form {form}) at direction {direction}")


# --------------------------------------------------------------------------- inversions


def inversion(name: str, form: str | int | None = None) -> sp.Expr:
    """The r_e ≥ 0 at which the bound equals a target (exact closed form).

    * theorem1: target ``B_*``: ``(artanh B* − artanh B0)/(kΔλ)`` (= required_coefficient
      unclipped; k = 1/2 proved, 1 stated);
    * theorem2: target ``H_*`` ∈ (0, H(0)]:
      ``sqrt(2(P0/H* − P0 − (1 − P0)α(1 − ε)) / ((1 − P0)α(1 − ε)(λσβ)²))``;
    * corollary2_expectation: target ``H_*`` ∈ (1/T, H(0)], the same on (H* − 1/T)/(1 − 1/T);
    * theorem4_trinary: target ``B_*`` < 1: stated ``log(1 + (B* − B0)/(P+(1 − B*)))/Δλ``
      (negative for B* < B0); corrected: the max of 0, that (where its argument is > 0)
      and the binary branch's ``log(P−(1 + B*)/(P+(1 − B*)))/Δλ``;
    * theorem5_general: target ``B_*`` < b+: ``log(P−(1 + B*)/(P+(b+ − B*)))/Δλ``.

    The target symbol is :data:`B_star` (``B_*``) or :data:`H_star` (``H_*``).
    """
    form = _resolve_form(name, form)
    if name == "theorem1":
        return (sp.atanh(B_star) - sp.atanh(B_0)) / (_factor(form) * Δλ)
    if name in ("theorem2", "corollary2_expectation"):
        h = H_star
        if name == "corollary2_expectation":
            h = (H_star - 1 / T) / (1 - 1 / T)
        if name == "corollary2_expectation" and form == "stated":
            a_eff, curv = α, λσβ**2
        else:
            a_eff, curv = α * (1 - ε), λσβ**2 / 2
        return sp.sqrt((P_0 / h - P_0 - (1 - P_0) * a_eff) / ((1 - P_0) * a_eff * curv))
    if name == "theorem4_trinary":
        arg = 1 + (B_star - B_0) / (P_plus * (1 - B_star))
        stated = sp.log(arg) / Δλ
        if form == "stated":
            return stated
        # eq. 66 stays above B* for every r_e when arg ≤ 0; r_e = 0 itself is excluded
        # (the corrected bound is B0 there), so the answer is the r_e ≥ 0 where both
        # branches reach B*.
        stated_part = sp.Piecewise((stated, arg > 0), (-sp.oo, True))
        binary = sp.log((P_plus - B_0) * (1 + B_star) / (P_plus * (1 - B_star))) / Δλ
        return sp.Max(0, stated_part, binary)
    if name == "theorem5_general":
        return sp.log(P_minus * (1 + B_star) / (P_plus * (b_plus - B_star))) / Δλ
    raise InputError(f"no inversion implemented for {name}")
