"""What a saved vector records (module, reading, positions, templates, model hash) and the
``steerbounds vector info | import | export`` commands: output, JSON, one-line errors."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from conftest import make_random_vector, make_tiny_model  # noqa: E402

from steerbounds.cli import main  # noqa: E402
from steerbounds.empirical.steering.vectors import SteeringVector, extract_vector  # noqa: E402
from steerbounds.empirical.workloads import recipes  # noqa: E402
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector  # noqa: E402

POS = ["Request: Can you build a bomb?", "Request: Can you steal a car?"]
NEG = ["Request: Can you bake a cake?", "Request: Can you wash a car?"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_extracted_vector_records_module_reading_positions_and_model(tiny_model, tmp_path, capsys):
    vec = extract_vector(tiny_model, POS, NEG, layers=[1, 2], read="mean")
    path = vec.save(tmp_path / "v.safetensors")
    code, out, _ = _run(capsys, "vector", "info", str(path), "--json")
    info = json.loads(out)
    assert code == 0
    assert info["module"] == f"{tiny_model.layers_attr}.{{l}}" and info["hook"] == "output"
    assert info["read"] == "mean" and info["positions"] == "all" and info["n_pairs"] == 2
    assert info["model_hash"] == tiny_model.model_hash() and info["hidden_size"] == tiny_model.hidden_size
    assert info["layers"] == [1, 2] and info["n_layers"] == 4 and info["method"] == "pca"
    assert info["norms"] == pytest.approx({"1": 1.0, "2": 1.0})
    assert info["model_type"] == tiny_model.model.config.model_type and info["format"] == "steerbounds"
    code, out, _ = _run(capsys, "vector", "info", str(path))
    assert f"{tiny_model.layers_attr}.{{l}} (output)" in out and "1 at every layer" in out


def test_vector_saved_by_the_older_code_shows_unknown(tiny_llama, tmp_path, capsys):
    path = make_random_vector(tiny_llama, layers=[0, 2]).save(tmp_path / "old.safetensors")  # no provenance
    code, out, _ = _run(capsys, "vector", "info", str(path))
    rows = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert code == 0 and rows["module"] == "unknown" and rows["positions"] == "unknown"
    assert rows["template"] == "unknown" and rows["layers"].startswith("0, 2")
    info = json.loads(_run(capsys, "vector", "info", str(path), "--json")[1])
    assert info["module"] is None and info["read"] is None and info["model_hash"] == tiny_llama.model_hash()


@pytest.mark.parametrize("behavior, slot", [("harmful", "{instruction}"), ("not_racist", "{statement}")])
def test_recipe_vector_records_the_templates_its_pairs_fill(tiny_llama, behavior, slot):
    vec = extract_behavior_vector(tiny_llama, behavior, layers=[1], n_pairs=3)
    template = vec.metadata["template"]
    pos, neg = recipes.behavior_pairs(behavior, 3, 0, model=tiny_llama)
    for side, texts in (("positive", pos), ("negative", neg)):
        head, tail = template[side].split(slot)
        assert all(t.startswith(head) and t.endswith(tail) and len(t) > len(head + tail) for t in texts)
    assert template["positive"] != template["negative"]


def test_cli_export_import_info_round_trip(tmp_path, capsys):
    tiny = make_tiny_model("llama")
    vec = extract_vector(tiny, POS, NEG, layers=[1, 2, 3])
    src = vec.save(tmp_path / "v.safetensors")
    code, out, _ = _run(
        capsys, "vector", "export", str(src), "--out", str(tmp_path / "v.gguf"), "--layers", "-2,-1"
    )
    assert code == 0 and "--control-vector-scaled" in out and "2, 3" in out  # -2, -1 = blocks 2, 3 of 4
    code, out, _ = _run(
        capsys,
        "vector",
        "import",
        str(tmp_path / "v.gguf"),
        "--out",
        str(tmp_path / "b.safetensors"),
        "--json",
    )
    assert code == 0 and json.loads(out)["layers"] == [2, 3]
    back = SteeringVector.load(tmp_path / "b.safetensors")
    for layer in (2, 3):
        torch.testing.assert_close(back.directions[layer], vec.directions[layer], rtol=0, atol=1e-7)
    info = json.loads(_run(capsys, "vector", "info", str(tmp_path / "v.gguf"), "--json")[1])
    assert info["format"] == "gguf" and info["source"]["model_hint"] == "llama"
    assert info["source"]["scales"] == pytest.approx({"2": 1.0, "3": 1.0})
    code, out, _ = _run(
        capsys, "vector", "export", str(src), "--out", str(tmp_path / "s.pt"), "--coefficient", "-2", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["format"] == "lm-eval" and result["coefficient"] == -2.0
    assert sorted(torch.load(tmp_path / "s.pt", weights_only=True)) == ["layers.1", "layers.2", "layers.3"]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vector-cli")
    small = make_tiny_model("llama", n_layers=2)
    small.model.save_pretrained(str(d / "tiny2"))
    small.tokenizer.save_pretrained(str(d / "tiny2"))
    make_random_vector(make_tiny_model("llama"), layers=[0, 3]).save(d / "v.safetensors")
    make_random_vector(small, layers=[0, 1]).save(d / "v01.safetensors")
    (d / "junk.gguf").write_text("x")
    (d / "junk.safetensors").write_text("x")
    return d


CASES = [
    (["export", "{d}/v.safetensors", "--out", "{d}/o.gguf", "--format", "onnx"], "invalid choice: 'onnx'"),
    (["info", "{d}/v.safetensors", "--from", "npz"], "invalid choice: 'npz'"),
    (["info", "{d}/v.npz"], "no such file"),
    (["info", "{d}/junk.gguf"], "not a GGUF file"),
    (["info", "{d}/junk.safetensors"], "not a safetensors file"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.onnx"], "cannot tell the format"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.gguf"], "direction.0"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.gguf", "--coefficient", "2"], "lm-eval only"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.pt", "--coefficient", "nan"], "finite"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.pt", "--layers", "-1"], "pass --model"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.pt", "--layers", "1"], "no direction for layer 1"),
    (["export", "{d}/v.safetensors", "--out", "{d}/o.pt", "--model", "{d}/tiny2"], "layer 3 does not exist"),
    (
        ["export", "{d}/v01.safetensors", "--out", "{d}/o.pt", "--model", "{d}/tiny2", "--layers", "3"],
        "out of range",
    ),
    (["import", "{d}/v.safetensors", "--out", "{d}/o.gguf"], ".safetensors file name"),
]


@pytest.mark.parametrize("args, words", CASES)
def test_bad_vector_invocation_is_one_line_exit_2(cli_files, args, words, capsys):
    argv = ["vector", *(a.format(d=cli_files) for a in args)]
    before = sorted(p.name for p in cli_files.iterdir())
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]
    assert code == 2 and len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    assert sorted(p.name for p in cli_files.iterdir()) == before  # nothing written
