"""The front of the CLI: help without heavy imports, and plans read from a finished run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from steerbounds.cli import main


def test_help_imports_no_jax_torch_or_numpy():
    code = (
        "import sys, contextlib, io\n"
        "from steerbounds.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "heavy = ('jax', 'torch', 'numpy', 'transformers', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bound_flags_match_the_registry():
    from steerbounds.bounds.cli import PARAM_HELP
    from steerbounds.bounds.registry import RESULTS

    seen: dict[str, None] = {}
    for result in RESULTS.values():
        for p in result.params:
            seen.setdefault(p, None)
    assert list(seen) == list(PARAM_HELP)


@pytest.fixture
def run_dir(tmp_path):
    summary = {
        "fits": {
            "theorem1_next_token": {"delta_lambda": 0.6, "b0": -0.5, "stderr": {"delta_lambda": 0.01}},
            "theorem2_full_vocab": {"lam_sigma_beta": 0.4, "alpha_eff": 0.8, "p0": 0.7, "stderr": {}},
        }
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    return tmp_path


def test_coefficient_and_tradeoff_from_a_run(run_dir, capsys):
    assert main(["coefficient", "--target", "0.5", "--from", str(run_dir), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    from math import atanh

    assert got["coefficient"] == pytest.approx(2 * (atanh(0.5) - atanh(-0.5)) / 0.6)
    assert got["p0"] == 0.7 and got["alpha"] == 0.8 and got["lam_sigma_beta"] == 0.4
    # the stated form is the same curve with half the Δλ: the same coefficient
    assert main(["coefficient", "--target", "0.5", "--from", str(run_dir), "--form", "stated", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["coefficient"] == pytest.approx(got["coefficient"])
    # a flag given overrides the run
    assert main(["coefficient", "--target", "0.5", "--from", str(run_dir), "--b0", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["b0"] == 0.0
    assert main(["tradeoff", "--target", "0.5", "--from", str(run_dir), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["coefficient"] == pytest.approx(got["coefficient"]) and plan["efficient_end"] > 0


def test_from_a_run_without_fits_is_one_line(tmp_path, capsys):
    (tmp_path / "summary.json").write_text(json.dumps({"fits": {"theorem1_next_token": {"error": "flat"}}}))
    assert main(["coefficient", "--target", "0.5", "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Theorem 1 fit (flat)" in err[0]


def _subparsers(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    from steerbounds.cli import build_parser

    missing, seen = [], 0
    for path, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                seen += 1
                if not (action.help or "").strip():
                    missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert seen > 100  # every command's options were walked
    assert missing == []


def test_every_command_documents_itself_and_prints_its_percent_signs_once():
    from steerbounds.cli import build_parser

    texts = []
    for path, parser in _subparsers(build_parser()):
        text = parser.format_help()
        if path:
            assert parser.description, f"{' '.join(path)} has no description"
        texts.append(text)
    every = "\n".join(texts)
    assert "95% bootstrap" in every  # tradeoff-matrix's description
    assert "%%" not in every


def test_config_from_refuses_a_field_without_an_option():
    import argparse
    import dataclasses

    from steerbounds import options

    @dataclasses.dataclass
    class Config:
        n: int = 1
        seed: int = 0

    args = argparse.Namespace(n=5, unrelated="x")
    assert options.config_from(Config, args, seed=3) == Config(n=5, seed=3)
    assert options.config_from(Config, args, defaulted=("seed",)) == Config(n=5, seed=0)
    with pytest.raises(TypeError, match="seed"):
        options.config_from(Config, args)


def test_placement_choices_are_the_loaders():
    pytest.importorskip("torch")
    from steerbounds import options
    from steerbounds.empirical.steering.models import DEVICE_MAPS

    assert options.DEVICE_MAP_CHOICES == DEVICE_MAPS


@pytest.mark.parametrize("command", ["sweep", "extract", "calibrate", "paper", "vector"])
def test_model_commands_take_placement_and_progress_options(command):
    from steerbounds.cli import build_parser

    parsers = dict(_subparsers(build_parser()))
    path = (command, "export") if command == "vector" else (command,)
    flags = {s for a in parsers[path]._actions for s in a.option_strings}
    assert {"--device", "--device-map", "--max-memory", "--no-progress", "--quiet"} <= flags
