"""Steering vectors in other tools' formats: llama.cpp GGUF (as repeng writes it), lm-eval
``steered`` files, repeng ``ControlVector`` and steering-vectors ``SteeringVector``.

Each round trip is checked where it matters: the steered logits. The foreign tools' own code
(repeng's ``import_gguf``/``ControlModel``, lm-eval's ``SteeredModel``, steering-vectors'
``apply``) is run on the same tiny random-weight models and must change the logits exactly
as :func:`steer` does (eq. 2)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
gguf = pytest.importorskip("gguf")

from conftest import build_tiny_tokenizer, make_random_vector, make_tiny_model  # noqa: E402

from steerbounds.empirical.steering.formats import source_coefficients, source_scales  # noqa: E402
from steerbounds.empirical.steering.gguf_format import export_gguf, import_gguf  # noqa: E402
from steerbounds.empirical.steering.injection import steer  # noqa: E402
from steerbounds.empirical.steering.interop import (  # noqa: E402
    from_repeng,
    from_steering_vectors,
    to_repeng,
    to_steering_vectors,
)
from steerbounds.empirical.steering.lm_eval_format import export_lm_eval, import_lm_eval  # noqa: E402
from steerbounds.empirical.steering.vectors import SteeringVector  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

TEXT = "Request: Can you bake a cake?"
REPENG = "repeng==0.4.0 is not installed (pip install --no-deps repeng==0.4.0 scikit-learn)"
LM_EVAL = "lm-eval==0.4.13 is not installed (pip install lm-eval==0.4.13)"
STEERING_VECTORS = (
    "steering-vectors==0.12.2 is not installed (pip install --no-deps steering-vectors==0.12.2)"
)


def _repeng():
    """repeng 0.4.0 evaluates ``np.float_`` in its annotations at import time, and NumPy 2
    removed that alias; define it for the import only (nothing repeng runs here uses it)."""
    added = not hasattr(np, "float_")
    if added:
        np.float_ = np.float64
    try:
        return pytest.importorskip("repeng", reason=REPENG)
    finally:
        if added:
            del np.float_


def _ids(model):
    return model.encode([TEXT])["input_ids"]


@torch.no_grad()
def _logits(model, ids, vector=None, coefficients=None):
    """Logits with ``vector`` steered at ``coefficients`` (one r_e, or r_e^(l) per layer)."""
    with ExitStack() as stack:
        if vector is not None:
            if isinstance(coefficients, dict):
                for layer, c in coefficients.items():
                    stack.enter_context(steer(model, vector, c, layers=[layer]))
            else:
                stack.enter_context(steer(model, vector, coefficients))
        return model.model(input_ids=ids).logits


def _scaled(model, layers, seed=1):
    """Per-layer vectors w_l of different norms (2, 3.5, …): what other tools may store."""
    g = torch.Generator().manual_seed(seed)
    return {k: (2.0 + 1.5 * i) * torch.randn(model.hidden_size, generator=g) for i, k in enumerate(layers)}


def _assert_steers_like(model, ids, got, want):
    plain = _logits(model, ids)
    assert not torch.allclose(want, plain, atol=1e-3)  # the steering does something
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- GGUF


def test_gguf_round_trip_steers_the_same(tiny_model, tmp_path):
    vec = make_random_vector(tiny_model, layers=[1, 2, 3])
    path = export_gguf(vec, tmp_path / "v.gguf")
    back = import_gguf(path)
    assert back.layers == [1, 2, 3] and back.metadata["source"]["format"] == "gguf"
    for layer in vec.layers:
        torch.testing.assert_close(back.directions[layer], vec.directions[layer], rtol=0, atol=1e-7)
        assert source_scales(back)[layer] == pytest.approx(1.0, abs=1e-6)
    ids = _ids(tiny_model)
    _assert_steers_like(
        tiny_model, ids, _logits(tiny_model, ids, back, 3.0), _logits(tiny_model, ids, vec, 3.0)
    )


def test_gguf_file_holds_what_llama_cpp_reads(tiny_llama, tmp_path):
    vec = make_random_vector(tiny_llama, layers=[1, 3])
    reader = gguf.GGUFReader(str(export_gguf(vec, tmp_path / "v.gguf", model_hint="llama")))

    def string(key):
        return bytes(reader.get_field(key).parts[-1]).decode()

    assert string("general.architecture") == "controlvector"
    assert string("controlvector.model_hint") == "llama"
    assert int(reader.get_field("controlvector.layer_count").parts[-1][0]) == 2
    assert [t.name for t in reader.tensors] == ["direction.1", "direction.3"]  # block l = direction.l
    for t in reader.tensors:
        assert t.tensor_type == gguf.GGMLQuantizationType.F32 and list(t.shape) == [32]
        layer = int(t.name.split(".")[1])
        assert np.array_equal(np.asarray(t.data), vec.directions[layer].numpy())  # unit: scale = r_e


def test_gguf_refuses_block_0_and_foreign_files(tiny_llama, tmp_path):
    vec = make_random_vector(tiny_llama, layers=[0, 1])
    with pytest.raises(InputError, match=r"direction\.0"):
        export_gguf(vec, tmp_path / "v.gguf")
    assert not (tmp_path / "v.gguf").exists()
    export_gguf(vec, tmp_path / "v.gguf", layers=[1])  # the steerable layers only
    assert import_gguf(tmp_path / "v.gguf").layers == [1]

    (tmp_path / "text.gguf").write_text("not gguf")
    with pytest.raises(InputError, match="not a GGUF file"):
        import_gguf(tmp_path / "text.gguf")
    writer = gguf.GGUFWriter(str(tmp_path / "model.gguf"), "llama")
    writer.add_tensor("direction.1", np.ones(4, dtype=np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(InputError, match="architecture 'llama'"):
        import_gguf(tmp_path / "model.gguf")
    for name, data, word in [
        ("token_embd", np.ones(4, dtype=np.float32), "direction.<int>"),
        ("direction.1", np.ones(4, dtype=np.float16), "F32"),
    ]:
        writer = gguf.GGUFWriter(str(tmp_path / "bad.gguf"), "controlvector")
        writer.add_tensor(name, data)
        writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file()
        writer.close()
        with pytest.raises(InputError, match=word):
            import_gguf(tmp_path / "bad.gguf")


def test_gguf_bytes_and_reading_match_repeng(tiny_llama, tmp_path):
    repeng = _repeng()
    vec = make_random_vector(tiny_llama, layers=[1, 2, 3])
    ours = export_gguf(vec, tmp_path / "ours.gguf", model_hint="llama")
    theirs = tmp_path / "theirs.gguf"
    repeng.ControlVector("llama", {k: v.numpy() for k, v in vec.directions.items()}).export_gguf(theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    read = repeng.ControlVector.import_gguf(ours)
    assert read.model_type == "llama" and sorted(read.directions) == [1, 2, 3]
    for layer in vec.layers:
        assert np.array_equal(read.directions[layer], vec.directions[layer].numpy())


def test_scaled_gguf_import_steers_as_repeng_at_every_scale(tmp_path):
    """A repeng file with norms 2 and 3.5: imported, eq. 2 with r_e^(l) = s·|w_l| is
    repeng's ``set_control(cv, s)``; exporting with norms="source" restores the file."""
    repeng = _repeng()
    ours_model, their_model = make_tiny_model("llama"), make_tiny_model("llama")
    raw = _scaled(ours_model, [1, 3])
    cv = repeng.ControlVector("llama", {k: w.numpy() for k, w in raw.items()})
    cv.export_gguf(tmp_path / "cv.gguf")
    vec = import_gguf(tmp_path / "cv.gguf", model=ours_model)
    assert source_scales(vec) == pytest.approx({1: float(raw[1].norm()), 3: float(raw[3].norm())})
    control = repeng.ControlModel(their_model.model, [1, 3])
    ids = _ids(ours_model)
    for s in (-1.5, 2.0):
        control.set_control(cv, s)
        with torch.no_grad():
            theirs = control(input_ids=ids).logits
        _assert_steers_like(
            ours_model, ids, _logits(ours_model, ids, vec, source_coefficients(vec, s)), theirs
        )
    restored = repeng.ControlVector.import_gguf(export_gguf(vec, tmp_path / "back.gguf", norms="source"))
    for layer, w in raw.items():
        np.testing.assert_allclose(restored.directions[layer], w.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- lm-eval


def _folder(model, path):
    model.model.save_pretrained(str(path))
    build_tiny_tokenizer().save_pretrained(str(path))
    return str(path)


@pytest.mark.parametrize("arch, hook", [("llama", "layers.{l}"), ("gpt2", "h.{l}")])
def test_lm_eval_steered_model_changes_logits_as_steer(arch, hook, tmp_path):
    hf_steered = pytest.importorskip("lm_eval.models.hf_steered", reason=LM_EVAL)
    tiny = make_tiny_model(arch)
    vec = make_random_vector(tiny, layers=[1, 3])
    path = export_lm_eval(vec, tmp_path / "steer.pt", 2.5, model=tiny)
    assert sorted(torch.load(path, weights_only=True)) == sorted(hook.replace("{l}", str(k)) for k in (1, 3))
    lm = hf_steered.SteeredModel(
        pretrained=_folder(tiny, tmp_path / "hf"), steer_path=str(path), device="cpu"
    )
    ids = _ids(tiny)
    with torch.no_grad():
        theirs = lm._model_call(ids)
    _assert_steers_like(tiny, ids, theirs, _logits(tiny, ids, vec, 2.5))


def test_lm_eval_file_format_and_round_trip(tiny_model, tmp_path):
    vec = make_random_vector(tiny_model, layers=[0, 2])
    path = export_lm_eval(vec, tmp_path / "steer.pt", -4.0, model=tiny_model)
    config = torch.load(path, weights_only=True)
    for layer, info in zip((0, 2), config.values(), strict=True):
        assert info["action"] == "add" and info["steering_coefficient"] == -4.0
        assert info["bias"] is None and info["head_index"] is None
        assert torch.equal(info["steering_vector"], vec.directions[layer])  # unit: coefficient = r_e
    back = import_lm_eval(path, model=tiny_model)
    assert back.model_hash == tiny_model.model_hash() and source_scales(back) == pytest.approx(
        {0: -4.0, 2: -4.0}
    )
    ids = _ids(tiny_model)
    _assert_steers_like(
        tiny_model,
        ids,
        _logits(tiny_model, ids, back, source_coefficients(back)),
        _logits(tiny_model, ids, vec, -4.0),
    )


def test_lm_eval_hookpoints_from_the_recorded_module(tmp_path):
    vec = make_random_vector(make_tiny_model("llama"), layers=[1])
    with pytest.raises(InputError, match="does not record the module"):
        export_lm_eval(vec, tmp_path / "a.pt")
    for module, hook in [("model.layers.{l}", "layers.1"), ("transformer.h.{l}", "h.1")]:
        tagged = SteeringVector(vec.directions, "random", "m", "", metadata={"module": module})
        assert list(torch.load(export_lm_eval(tagged, tmp_path / "a.pt"), weights_only=True)) == [hook]
        assert import_lm_eval(tmp_path / "a.pt").layers == [1]
    assert list(torch.load(export_lm_eval(vec, tmp_path / "b.pt", hookpoint="x.{l}"), weights_only=True)) == [
        "x.1"
    ]


def test_lm_eval_import_keeps_file_coefficients_and_refuses_other_actions(tmp_path):
    tiny = make_tiny_model("llama")
    w = _scaled(tiny, [1, 2])
    base = {"action": "add", "bias": None, "head_index": None}
    torch.save(
        {
            "layers.1": {**base, "steering_vector": w[1], "steering_coefficient": 3.0},
            "layers.2": {**base, "steering_vector": w[2], "steering_coefficient": -0.5},
        },
        tmp_path / "s.pt",
    )
    vec = import_lm_eval(tmp_path / "s.pt")
    assert source_scales(vec) == pytest.approx({1: 3.0 * float(w[1].norm()), 2: -0.5 * float(w[2].norm())})
    hf_steered = pytest.importorskip("lm_eval.models.hf_steered", reason=LM_EVAL)
    lm = hf_steered.SteeredModel(
        pretrained=_folder(tiny, tmp_path / "hf"), steer_path=str(tmp_path / "s.pt"), device="cpu"
    )
    ids = _ids(tiny)
    with torch.no_grad():
        theirs = lm._model_call(ids)
    _assert_steers_like(tiny, ids, _logits(tiny, ids, vec, source_coefficients(vec)), theirs)

    v = torch.ones(32)
    for entry, word in [
        ({"layers.1": {**base, "steering_vector": v, "action": "clamp"}}, "action 'clamp'"),
        ({"layers.1": {**base, "steering_vector": v, "bias": v}}, "bias"),
        ({"layers.1.mlp": {**base, "steering_vector": v}}, "not a decoder block"),
        ({"layers.1": {**base, "steering_vector": torch.zeros(32)}}, "zero"),
        ([v], "dict of hookpoints"),
    ]:
        torch.save(entry, tmp_path / "bad.pt")
        with pytest.raises(InputError, match=word):
            import_lm_eval(tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("x")
    with pytest.raises(InputError, match="not a torch file"):
        import_lm_eval(tmp_path / "text.pt")


# --------------------------------------------------------------------------- in memory


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_steering_vectors_apply_is_steer(arch):
    steering_vectors = pytest.importorskip("steering_vectors", reason=STEERING_VECTORS)
    tiny = make_tiny_model(arch)
    vec = make_random_vector(tiny, layers=[1, 2])
    ids = _ids(tiny)
    with torch.no_grad(), to_steering_vectors(vec).apply(tiny.model, multiplier=1.5):
        theirs = tiny.model(input_ids=ids).logits
    _assert_steers_like(tiny, ids, theirs, _logits(tiny, ids, vec, 1.5))

    raw = _scaled(tiny, [0, 3])
    sv = steering_vectors.SteeringVector(layer_activations=raw, layer_type="decoder_block")
    back = from_steering_vectors(sv, model=tiny)
    assert back.model_name == tiny.name and source_scales(back) == pytest.approx(
        {k: float(w.norm()) for k, w in raw.items()}
    )
    with torch.no_grad(), sv.apply(tiny.model, multiplier=-2.0):
        theirs = tiny.model(input_ids=ids).logits
    _assert_steers_like(tiny, ids, _logits(tiny, ids, back, source_coefficients(back, -2.0)), theirs)
    with pytest.raises(InputError, match="layer_type 'mlp'"):
        from_steering_vectors(steering_vectors.SteeringVector(layer_activations=raw, layer_type="mlp"))
    with pytest.raises(InputError, match="counts from the top"):
        from_steering_vectors(steering_vectors.SteeringVector(layer_activations={-1: raw[0]}))
    assert from_steering_vectors(steering_vectors.SteeringVector({-1: raw[0]}), model=tiny).layers == [3]


def test_repeng_control_model_is_steer():
    repeng = _repeng()
    ours, theirs_model = make_tiny_model("llama"), make_tiny_model("llama")
    vec = make_random_vector(ours, layers=[1, 2])
    cv = to_repeng(vec)
    assert isinstance(cv, repeng.ControlVector) and cv.model_type == "tiny-llama"
    control = repeng.ControlModel(theirs_model.model, [1, 2])
    control.set_control(cv, -3.0)
    ids = _ids(ours)
    with torch.no_grad():
        theirs = control(input_ids=ids).logits
    _assert_steers_like(ours, ids, theirs, _logits(ours, ids, vec, -3.0))
    back = from_repeng(cv)
    assert back.model_name == "tiny-llama" and back.metadata["source"]["format"] == "repeng"
    for layer in vec.layers:
        torch.testing.assert_close(back.directions[layer], vec.directions[layer], rtol=0, atol=1e-7)


def test_imports_check_the_model_and_missing_packages_say_what_to_install(monkeypatch, tmp_path):
    tiny = make_tiny_model("llama", n_layers=2)
    vec = make_random_vector(make_tiny_model("llama"), layers=[3])
    export_gguf(vec, tmp_path / "v.gguf")
    with pytest.raises(InputError, match="layer 3 does not exist"):
        import_gguf(tmp_path / "v.gguf", model=tiny)
    with pytest.raises(InputError, match="is not installed; install it with: pip install steering-vectors=="):
        monkeypatch.setitem(__import__("sys").modules, "steering_vectors", None)
        to_steering_vectors(vec)
    with pytest.raises(InputError, match="pip install repeng=="):
        monkeypatch.setitem(__import__("sys").modules, "repeng", None)
        to_repeng(vec)
