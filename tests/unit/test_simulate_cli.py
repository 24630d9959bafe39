"""``steerbounds simulate``: bad input exits 2 with one line; a run lists every result, resumes."""

from __future__ import annotations

import json
import os

import pytest

from steerbounds.bounds import RESULTS
from steerbounds.cli import main


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--instances", "0"], ["--seed", str(2**32)]])
def test_bad_settings_exit_2_with_one_line(argv, capsys):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and argv[0] in err


def test_non_integer_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--seed", "nan"])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_out_must_be_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["simulate", "--out", str(f), "--instances", "1"]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_run_json_lists_every_result_and_resumes(tmp_path, capsys):
    out = tmp_path / "sim"
    out.mkdir()
    settings = {"seed": 3, "thorough": False, "n_instances": 60}
    marker = {
        "result": "theorem1",
        "form": "proved",
        "default": True,
        "equations": "x",
        "kind": "lower",
        "instances": 12345,
        "evaluations": 0,
        "violations": 0,
        "worst_slack": 0.0,
        "verdict": "holds",
        "counterexample": None,
    }
    # a checkpoint left by an interrupted run with the same settings: theorem1 is not recomputed
    (out / "verdicts.partial.json").write_text(
        json.dumps({"settings": settings, "results": {"theorem1": [marker]}})
    )
    code = main(["simulate", "--seed", "3", "--instances", "60", "--json", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 == report["exit_status"]
    listed = {(v["result"], v["form"]) for v in report["verdicts"]}
    for name, res in RESULTS.items():
        if name == "theorem1":
            continue
        forms = res.forms or (None,)
        if name == "theorem2_components":
            forms = ("eq33", "eq34", "eq36")
        assert {(name, f) for f in forms} <= listed, name
    assert [v for v in report["verdicts"] if v["result"] == "theorem1"] == [marker]
    assert report["claims"] and report["probes"] and any("theorem4_trinary" in f for f in report["findings"])
    saved = json.loads((out / "verdicts.json").read_text())
    assert saved["verdicts"] == report["verdicts"]
    assert not (out / "verdicts.partial.json").exists()
    for name in ("theorem1.png", "theorem2.png", "theorem4.png"):
        assert os.path.getsize(out / name) > 1000
