"""The paper's figures declared as data: which panels, from which run, with which title.

Figures 4-14 and 16 are entries of :data:`DECLARED`: a :class:`FigureSpec` lists its
panels (a panel kind of :mod:`steerbounds.paper_figs.panels`, the model, the
behaviour vector and the kind's options), the layout and the title;
:func:`render` draws any entry. Figures with a layout of their own (1, 2b, 3b,
17) keep their modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steerbounds.paper_figs.common import BASE, CHAT, MMLU_SUBJECTS, new_figure, save_figure
from steerbounds.paper_figs.data import PaperData
from steerbounds.paper_figs.panels import PANEL_KINDS


@dataclass(frozen=True)
class Panel:
    kind: str
    model: str
    behavior: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    panels: tuple[Panel, ...]
    ncols: int
    width: float = 4.2
    height: float = 3.3


FOUR = ((BASE, "harmless"), (BASE, "not_racist"), (CHAT, "harmful"), (CHAT, "racist"))
MMLU = tuple(("mmlu", s) for s in MMLU_SUBJECTS)
FIT_MMLU = ("mmlu", MMLU_SUBJECTS[0])
TASKS = (("arithmetic", "arithmetic"), ("facts", "facts"))


def _helpfulness(model: str, behavior: str, metric: str, **kw: Any) -> Panel:
    return Panel("helpfulness", model, behavior, {"metric": metric, **kw})


def _single(name: str, title: str, panel: Panel, *, width: float = 5.3, height: float = 4.8) -> FigureSpec:
    return FigureSpec(name, title, (panel,), ncols=1, width=width, height=height)


def _noise(name: str, number: str, model: str, behaviors: tuple[str, str]) -> FigureSpec:
    """Figs. 9-10: logit-noise histograms (top row) and std vs r_e (bottom row)."""
    which = "chat" if model == CHAT else "base"
    return FigureSpec(
        name,
        f"{number} — change of token logits minus the correct answer's, top-10 tokens of MMLU questions "
        f"({which} model). (a, b) histograms with normal fits; (c, d) std vs $r_e$, slope = λσ",
        tuple(Panel(kind, model, b) for kind in ("noise_hist", "noise_std") for b in behaviors),
        ncols=2,
        height=4.2,
    )


DECLARED: tuple[FigureSpec, ...] = (
    FigureSpec(
        "fig04_behavior",
        "Fig. 4 — behaviour expectation vs steering coefficient, with the Theorem 1 fit (eq. 27) "
        "on $r_e$ ≥ 0 (error bars: SEM)",
        tuple(Panel("behavior", m, b) for m, b in FOUR),
        ncols=2,
        height=4.6,
    ),
    FigureSpec(
        "fig05_helpfulness",
        "Fig. 5 — helpfulness vs steering coefficient. Top: MMLU, P(correct) renormalised over A-D "
        "(Thm 2 + 1/N floor fitted on international law). Bottom: arithmetic and facts, P(correct first "
        "token) over the full vocabulary (Thm 2 fitted on facts). Error bars: SEM",
        tuple(_helpfulness(m, b, "choices", tasks=MMLU, fit_on=FIT_MMLU, chance=0.25) for m, b in FOUR)
        + tuple(_helpfulness(m, b, "full_vocab", tasks=TASKS, fit_on=TASKS[1]) for m, b in FOUR),
        ncols=4,
        height=4.8,
    ),
    _single(
        "fig06_lambda",
        "Fig. 6 — |U δr| grows linearly with $r_e$ (chat model, racist vector; mean over MMLU questions)",
        Panel("lambda", CHAT, "racist", {"average": True}),
    ),
    _single(
        "fig07_lambda",
        "Fig. 7 — |U δr| vs $r_e$ per MMLU subject with the fitted slope (chat model, racist vector)",
        Panel("lambda", CHAT, "racist", {"average": False}),
    ),
    _single(
        "fig08_lambda",
        "Fig. 8 — |U δr| vs $r_e$ per MMLU subject with the fitted slope (base model, not-racist vector)",
        Panel("lambda", BASE, "not_racist", {"average": False}),
    ),
    _noise("fig09_logit_noise", "Fig. 9", CHAT, ("racist", "harmful")),
    _noise("fig10_logit_noise", "Fig. 10", BASE, ("not_racist", "harmless")),
    _single(
        "fig11_clusters",
        "Fig. 11 — separation of good and bad answer tokens along δr (chat model, harmful vector)",
        Panel("clusters", CHAT, "harmful"),
    ),
    _single(
        "fig12_clusters",
        "Fig. 12 — separation of good and bad answer tokens along δr (base model, harmless vector)",
        Panel("clusters", BASE, "harmless"),
    ),
    FigureSpec(
        "fig13_full_vocab",
        "Fig. 13 — MMLU P(correct) over the full vocabulary vs steering coefficient "
        "(Thm 2 fitted on international law; error bars: SEM)",
        tuple(_helpfulness(m, b, "full_vocab", tasks=MMLU, fit_on=FIT_MMLU) for m, b in FOUR),
        ncols=4,
        height=4.6,
    ),
    FigureSpec(
        "fig14_accuracy",
        "Fig. 14 — MMLU accuracy (greedy next token over the full vocabulary) vs steering coefficient "
        "(error bars: SEM)",
        tuple(_helpfulness(m, b, "accuracy", tasks=MMLU) for m, b in FOUR),
        ncols=4,
        height=4.6,
    ),
    FigureSpec(
        "fig16_second_model",
        "Fig. 16 (with Fig. 15) — second model, Gemma-3-270M base: behaviour (top) and MMLU P(correct) "
        "over the full vocabulary (bottom); error bars: SEM",
        (
            Panel("behavior", BASE, "harmless"),
            Panel("behavior", BASE, "not_racist"),
            _helpfulness(BASE, "harmless", "full_vocab", tasks=MMLU, fit_on=FIT_MMLU),
            _helpfulness(BASE, "not_racist", "full_vocab", tasks=MMLU, fit_on=FIT_MMLU),
        ),
        ncols=2,
        height=4.6,
    ),
)


def render(spec: FigureSpec, data: PaperData) -> Any:
    """The matplotlib figure of one declared entry (not saved)."""
    fig, axes = new_figure(len(spec.panels), ncols=spec.ncols, width=spec.width, height=spec.height)
    for ax, panel in zip(axes, spec.panels, strict=True):
        PANEL_KINDS[panel.kind](ax, data, panel.model, panel.behavior, **panel.options)
    fig.suptitle(spec.title, fontsize=9)
    fig.tight_layout()
    return fig


def draw(spec: FigureSpec, data: PaperData, out_dir: str | Path) -> list[Path]:
    """Render and save one declared figure (PNG + PDF)."""
    return save_figure(render(spec, data), out_dir, spec.name)


def draw_all(data: PaperData, out_dir: str | Path) -> list[Path]:
    """Every figure of the paper run, in the paper's order (PNG + PDF each)."""
    from steerbounds.paper_figs import fig01, fig02b, fig02b_real, fig03b, fig17

    paths = fig01.make(data, out_dir) + fig02b.make(data, out_dir) + fig02b_real.make(data, out_dir)
    paths += fig03b.make(data, out_dir)
    for spec in DECLARED:
        paths += draw(spec, data, out_dir)
    return paths + fig17.make(data, out_dir)
