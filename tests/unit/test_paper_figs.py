"""Figures and report of ``steerbounds paper`` on a planted run folder (no model): the
figures show the planted curves and fits, the report states each quantity once."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from steerbounds import io
from steerbounds.empirical.sweep.records import (
    BehaviorRecord,
    DeltaRecord,
    GenerationRecord,
    HelpfulnessRecord,
    HumanEvalRecord,
    LambdaRecord,
    NoiseRecord,
    Record,
)
from steerbounds.paper_figs import catalog, report
from steerbounds.paper_figs.common import MMLU_SUBJECTS
from steerbounds.paper_figs.data import PaperData
from steerbounds.paper_figs.stages import MODEL_BEHAVIORS, humaneval_dir, sweep_dir

R = [-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0]
DL, B0, LSB, P0, LAM, UDR = 0.3, -0.4, 0.35, 0.8, 2.5, 50.0


def _behavior(r: float) -> float:
    return math.tanh(DL * r / 2 + math.atanh(B0))  # Theorem 1's proved form, eq. 27


def _helpfulness(r: float) -> float:
    return P0 / (P0 + (1 - P0) * (1 + 0.5 * (LSB * r) ** 2))  # eq. 6 with α(1−ε) = 1


def _write_sweep(folder: Path, task: str, behavior: str, records: list[Record]) -> None:
    manifest = {
        "format": "steerbounds.sweep/2",
        "config": {"coefficients": R, "behavior": behavior, "task": task},
        "prompts": {"behavior": [f"<|im_start|>user\nprompt {i}<|im_end|>" for i in range(4)]},
    }
    with io.RunStore(folder) as store:
        store.write_manifest(manifest)
        kinds: dict[str, list[dict]] = {}
        for r in records:
            kinds.setdefault(r.KIND, []).append(r.to_dict())
        store.append({"unit": "all", "rows": kinds})


def _mmlu_records(rng: np.random.Generator) -> list[Record]:
    out: list[Record] = []
    for q in range(6):
        for subject in MMLU_SUBJECTS:
            qid = f"{subject}/{q}"
            for r in R:
                h = _helpfulness(r)
                out.append(
                    HelpfulnessRecord(
                        r_e=r,
                        id=qid,
                        group=subject,
                        p_correct=h,
                        top1=h > 0.5,
                        p_choices=0.25 + 0.75 * h,
                        correct_choice=h > 0.5,
                        n_choices=4,
                    )
                )
                out.append(
                    LambdaRecord(
                        r_e=r,
                        id=qid,
                        group=subject,
                        dr_norm=LAM * abs(r),
                        udr_norm=UDR * abs(r) * (1 + 0.01 * rng.standard_normal()),
                        jvp_norm=LAM if r == 0 else None,
                        jvp_udr_norm=UDR if r == 0 else None,
                    )
                )
                out.append(
                    NoiseRecord(
                        r_e=r,
                        id=qid,
                        group=subject,
                        p0=0.3,
                        dr_norm=LAM * abs(r),
                        proj=tuple(0.5 * abs(r) * rng.standard_normal(9)),
                        p0_top=(0.05,) * 9,
                    )
                )
    for q in range(4):
        for r in R:
            b = _behavior(r)
            out.append(
                BehaviorRecord(
                    r_e=r, id=str(q), p_plus=(1 + b) / 2, p_minus=(1 - b) / 2, b_unnorm=b, b=b, margin=DL * r
                )
            )
            out.append(GenerationRecord(r_e=r, id=str(q), mode="greedy", text="t", score=b))
            out.append(
                DeltaRecord(
                    r_e=r,
                    id=str(q),
                    n_good=5,
                    n_bad=5,
                    dr_norm=abs(r),
                    mean_sep=0.2 * r + 0.01 * r**2,
                    min_sep=0.1 * r,
                )
            )
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    run = tmp_path_factory.mktemp("paper")
    for model, behaviors in MODEL_BEHAVIORS.items():
        for beh in behaviors:
            _write_sweep(sweep_dir(run, model, beh, "mmlu"), "mmlu", beh, _mmlu_records(rng))
            for task in ("arithmetic", "facts"):
                recs: list[Record] = [
                    HelpfulnessRecord(
                        r_e=r, id=f"{task}/{q}", group=task, p_correct=_helpfulness(r), top1=True
                    )
                    for q in range(5)
                    for r in R
                ]
                _write_sweep(sweep_dir(run, model, beh, task), task, beh, recs)
    he = [
        HumanEvalRecord(
            r_e=r,
            id=f"HumanEval/{p}",
            completion="",
            status="passed" if p < 2 and r == 0 else "failed",
            reason="",
            stderr_tail="",
            prompt_style="chat",
            max_new_tokens=8,
        )
        for p in range(4)
        for r in (-4.0, 0.0, 4.0)
    ]
    for beh in ("harmful", "racist"):
        _write_sweep(humaneval_dir(run, "chat", beh), "humaneval", beh, list(he))
    io.write_json(
        run / "grids.json", {f"{m}__{b}": {"r_max": 8.0} for m, bs in MODEL_BEHAVIORS.items() for b in bs}
    )
    io.write_json(run / "config.json", {"n_pairs": 32, "mmlu_n": 6, "task_n": 5, "fractions": [-1, 0, 1]})
    return run


def test_summaries_recover_the_planted_parameters(planted: Path) -> None:
    data = PaperData(planted)
    s = data.summary("chat", "harmful")
    assert s is not None
    assert s.value("lambda") == pytest.approx(LAM)
    assert s.value("udr_slope") == pytest.approx(UDR, rel=0.01)
    assert s.fit("theorem1_next_token")["delta_lambda"] == pytest.approx(DL, rel=1e-3)
    assert s.fit("theorem1_next_token")["b0"] == pytest.approx(B0, abs=1e-4)
    facts = data.summary("chat", "harmful", "facts")
    assert facts is not None and facts.fit("theorem2_full_vocab")["lam_sigma_beta"] == pytest.approx(
        LSB, rel=1e-2
    )
    choices = s.group_fits["theorem2_choices"]["international_law"]
    assert choices["lam_sigma_beta"] == pytest.approx(LSB, rel=1e-2) and choices["floor"] == 0.25


def test_declared_figures_show_the_planted_curves_and_fits(planted: Path) -> None:
    import matplotlib.pyplot as plt

    data = PaperData(planted)
    specs = {s.name: s for s in catalog.DECLARED}
    fig = catalog.render(specs["fig04_behavior"], data)
    ax = fig.axes[2]  # (chat, harmful)
    assert "SmolLM2" in ax.get_title() and ax.get_xlabel().startswith("steering coefficient")
    measured = next(c for c in ax.containers if c.get_label().startswith("next-token"))
    assert np.allclose(measured.lines[0].get_ydata(), [_behavior(r) for r in R])
    series = {ln.get_label(): ln for ln in ax.get_lines()}
    fit = next(label for label in series if label.startswith("Thm 1 fit (eq. 27) to next-token"))
    assert f"Δλ={DL:.3g}" in fit
    fitted = series[fit]
    assert fitted.get_xdata().min() == 0.0  # drawn on the range the fit covers, r_e ≥ 0
    assert np.allclose(fitted.get_ydata(), [_behavior(x) for x in fitted.get_xdata()], atol=1e-6)
    # legends sit under their axes, never over the data
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for a in fig.axes:
        if a.get_legend() is not None:
            assert a.get_legend().get_window_extent(renderer).y1 <= a.get_window_extent(renderer).y0 + 1
    plt.close(fig)

    fig = catalog.render(specs["fig05_helpfulness"], data)
    top = fig.axes[2]
    labels = [ln.get_label() for ln in top.get_lines()]
    assert "1/N = 0.25 (Cor. 2)" in labels and any(f"λσβ={LSB:.3g}" in x for x in labels)
    assert top.get_ylabel() == "P(correct) over A-D"
    plt.close(fig)

    fig = catalog.render(specs["fig07_lambda"], data)
    ax = fig.axes[0]
    assert {"international law", "medical genetics", "HS computer science"} <= {
        c.get_label() for c in ax.containers
    }
    assert max(max(c.lines[0].get_ydata()) for c in ax.containers) == pytest.approx(UDR * 8, rel=0.05)
    plt.close(fig)


def test_every_figure_is_drawn_with_no_internal_names_in_titles(planted: Path, tmp_path: Path) -> None:
    paths = catalog.draw_all(PaperData(planted), tmp_path / "figures")
    assert len(paths) == 2 * (5 + len(catalog.DECLARED))
    assert all(p.stat().st_size > 1000 for p in paths)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    for spec in catalog.DECLARED:
        plain = re.sub(r"\$[^$]*\$", "", spec.title)  # mathtext ($r_e$) is the paper's notation
        assert not re.search(r"\w+\.\w+\(|bounds\.|steerbounds\.|_", plain), spec.title


def test_missing_data_is_marked_not_invented(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = catalog.render(catalog.DECLARED[0], PaperData(tmp_path))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert all(t.startswith("no data:") for t in texts) and len(texts) == 4
    plt.close(fig)


def test_report_states_each_quantity_once_in_readable_cells(planted: Path) -> None:
    path = report.write(planted, figures=["figures/x.png"])
    text = path.read_text()
    section = text.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    table = [ln for ln in section.splitlines() if ln.startswith("| chat/harmful")]
    assert len(table) == 1
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    assert len(cells) == len(report.PARAMETER_HEADERS)
    assert all(len(c) <= 80 for ln in text.splitlines() if ln.startswith("|") for c in ln.split("|"))
    assert cells[1].startswith(f"{LAM:.3g}") and cells[7].startswith(f"{DL:.3g}")
    assert f"[{report.EVIDENCE_CSV}]" in text and (planted / report.EVIDENCE_CSV).is_file()
    # the planted curves make every prediction hold where it is tested
    verdicts = {row[0]: row[-1] for row in report.prediction_rows(report.evidence(PaperData(planted)))}
    assert verdicts["alignment changes linearly near r_e = 0 (Thm 1; slope ≠ 0 at 2 SE)"].startswith("held")
    assert verdicts["‖U δr‖ grows linearly with |r_e| (Assumption 1; R² ≥ 0.95 at small |r_e|)"].startswith(
        "held"
    )
    # each prediction says on how many cases it was tested and the fraction with its interval
    for row in report.prediction_rows(report.evidence(PaperData(planted))):
        if row[-1] != "not measured":
            assert re.fullmatch(r"\d+ cases over \d model/vectors", row[1])
            assert re.fullmatch(r"\d+/\d+ = [\d.]+ \[[\d.]+, [\d.]+\]", row[2])
    # and the theory per query, one table per model/vector with behaviour records
    per_query = text.split("## The theory per query", 1)[1].split("\n## ", 1)[0]
    for model, behavior in report.PAIRS:
        assert f"### {model}/{behavior}" in per_query
    assert "identity" in per_query.lower() and re.search(r"\d+/\d+ = [\d.]+ \[", per_query)


def test_time_ledger_sums_sittings_and_survives_a_kill(tmp_path: Path) -> None:
    from steerbounds.paper_figs import timings

    def burn() -> float:
        """CPU work until the process's CPU clock has moved 50 ms (os.times counts in ticks of
        10 ms: a fixed loop of a few ms can read 0 on a fast machine)."""
        start = timings.cpu_seconds()
        while timings.cpu_seconds() - start < 0.05:
            sum(i * i for i in range(10_000))
        return timings.cpu_seconds() - start

    first = timings.Ledger.open(tmp_path)
    assert first.timed("stage", burn) > 0
    with pytest.raises(RuntimeError):
        first.timed("dies", lambda: (_ for _ in ()).throw(RuntimeError("killed")))
    second = timings.Ledger.open(tmp_path)  # a resumed sitting reads the first one's ledger
    second.timed("stage", lambda: None)
    saved = timings.read(tmp_path)
    assert len(saved["sittings"]) == 2 and "dies" not in saved["stages"]
    assert saved["stages"]["stage"]["cpu_s"] > 0 and saved["stages"]["stage"]["wall_s"] > 0
    wall, cpu, n = timings.totals(saved)
    assert n == 2 and wall >= saved["stages"]["stage"]["wall_s"] and cpu > 0
    text = report.write(tmp_path).read_text()
    assert "over 2 sitting(s)" in text and "| stage " in text


def test_figures_only_json_names_report_figures_and_verdicts(
    planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    from steerbounds.cli import main

    run = tmp_path / "run"
    shutil.copytree(planted, run)
    assert main(["paper", "--figures-only", "--out", str(run), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert Path(said["report"]) == run / "report.md" and (run / "report.md").is_file()
    assert len(said["figures"]) == 2 * (5 + len(catalog.DECLARED))
    assert all((run / f).is_file() for f in said["figures"])
    assert [v["prediction"] for v in said["predictions"]] == [k for k, _ in report.PREDICTIONS]
    assert all(v["verdict"] for v in said["predictions"])
    assert said["measured"]["sittings"] == 0  # the planted run has no time ledger
