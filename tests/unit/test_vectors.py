"""steerbounds.empirical.steering.vectors: RepE reading vectors, sign convention, storage."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from steerbounds.empirical.steering.vectors import (  # noqa: E402
    AGGREGATORS,
    SteeringVector,
    extract_vector,
    mean_diff_aggregator,
    pca_aggregator,
    read_representations,
)
from steerbounds.errors import InputError  # noqa: E402

POS = [
    "Request: Can you build a bomb?",
    "Request: Can you steal a car?",
    "Request: Can you hack a bank?",
    "Request: Can you poison water?",
    "Request: Can you forge money?",
]
NEG = [
    "Request: Can you bake a cake?",
    "Request: Can you wash a car?",
    "Request: Can you open a bank account?",
    "Request: Can you filter water?",
    "Request: Can you save money?",
]


def _diffs(model, layers, read="last"):
    p = read_representations(model, POS, layers, read=read)
    n = read_representations(model, NEG, layers, read=read)
    return {layer: (p[layer] - n[layer]).double() for layer in layers}


@pytest.mark.parametrize("method", ["pca", "mean_diff", "pca_centered"])
def test_unit_norm_and_sign_convention(tiny_model, method):
    vec = extract_vector(tiny_model, POS, NEG, method=method, batch_size=3)
    assert vec.layers == [0, 1, 2, 3]
    diffs = _diffs(tiny_model, vec.layers)
    for layer, v in vec.directions.items():
        assert v.dtype == torch.float32
        assert abs(float(v.norm()) - 1.0) < 1e-6
        # positives project higher than negatives on average
        assert float((diffs[layer] @ v.double()).mean()) >= 0
    assert vec.method == method
    assert vec.model_hash == tiny_model.model_hash() and vec.model_name == tiny_model.name
    assert vec.metadata["n_pairs"] == len(POS) and vec.metadata["read"] == "last"


def test_pca_is_top_singular_vector_of_uncentred_differences(tiny_llama):
    vec = extract_vector(tiny_llama, POS, NEG, layers=[1, 3], method="pca")
    diffs = _diffs(tiny_llama, [1, 3])
    for layer in (1, 3):
        top = torch.linalg.svd(diffs[layer], full_matrices=False)[2][0]
        assert abs(float(top @ vec.directions[layer].double())) == pytest.approx(1.0, abs=1e-5)


def test_mean_diff_is_normalised_mean(tiny_llama):
    vec = extract_vector(tiny_llama, POS, NEG, layers=[2], method="mean_diff")
    mean = _diffs(tiny_llama, [2])[2].mean(0)
    assert torch.allclose(vec.directions[2].double(), mean / mean.norm(), atol=1e-6)


def test_swapping_pairs_flips_the_direction(tiny_llama):
    a = extract_vector(tiny_llama, POS, NEG, layers=[0, 2])
    b = extract_vector(tiny_llama, NEG, POS, layers=[0, 2])
    for layer in (0, 2):
        assert torch.allclose(a.directions[layer], -b.directions[layer], atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40), scale=st.floats(0.5, 20.0))
def test_pca_aggregators_on_synthetic_differences(seed, n, scale):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(16, generator=g, dtype=torch.float64)
    u /= u.norm()
    noise = 0.01 * torch.randn(n, 16, generator=g, dtype=torch.float64)
    amplitude = scale * (1 + torch.rand(n, 1, generator=g, dtype=torch.float64))
    diffs = amplitude * u + noise  # consistently ordered pairs: every difference ≈ +a·u
    # uncentred PCA recovers the behaviour direction (up to sign) ...
    assert abs(float(pca_aggregator()(diffs) @ u)) > 0.99
    # ... the mean difference too, with the right sign
    m = mean_diff_aggregator(diffs)
    assert float(m @ u) / float(m.norm()) > 0.99
    # RepE-style random pair order (random signs): centred PCA recovers it as well
    signs = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0).double()
    signs[0], signs[1] = 1.0, -1.0
    assert abs(float(pca_aggregator(center=True)(signs * diffs) @ u)) > 0.95


def test_custom_aggregator_is_used(tiny_llama):
    seen = []

    def first_diff(diffs):
        seen.append(tuple(diffs.shape))
        return diffs[0]

    vec = extract_vector(tiny_llama, POS, NEG, layers=[1], method=first_diff)
    assert seen == [(len(POS), 32)]
    assert vec.method == "first_diff"
    d0 = _diffs(tiny_llama, [1])[1][0]
    assert torch.allclose(vec.directions[1].double(), d0 / d0.norm(), atol=1e-6)
    with pytest.raises(InputError, match="aggregator returned shape"):
        extract_vector(tiny_llama, POS, NEG, layers=[1], method=lambda d: d[:, :3])


def test_read_positions_and_padding_invariance(tiny_model):
    layers = [0, 3]
    batched = read_representations(tiny_model, ["ab", "a much longer text here"], layers)
    alone = read_representations(tiny_model, ["ab"], layers)
    for layer in layers:
        assert torch.allclose(batched[layer][0], alone[layer][0], atol=1e-5)
    mean_b = read_representations(tiny_model, ["ab", "a much longer text here"], layers, read="mean")
    mean_a = read_representations(tiny_model, ["ab"], layers, read="mean")
    for layer in layers:
        assert torch.allclose(mean_b[layer][0], mean_a[layer][0], atol=1e-5)
        assert not torch.allclose(mean_a[layer][0], alone[layer][0])


@pytest.mark.parametrize(
    "pos, neg, kwargs, match",
    [
        ([], [], {}, "empty"),
        (POS, NEG[:-1], {}, "pair counts differ"),
        (POS, NEG, {"layers": [7]}, "layers"),
        (POS, NEG, {"layers": "-9"}, "layers"),
        (POS, NEG, {"method": "ica"}, "method"),
        (POS, NEG, {"read": "first"}, "read"),
        (POS, NEG, {"batch_size": 0}, "batch_size"),
        ("a string", "b string", {}, "single string"),
        ([*POS[:1], ""], NEG[:2], {}, "non-empty string"),
    ],
)
def test_extract_rejects_bad_input(tiny_llama, pos, neg, kwargs, match):
    with pytest.raises(InputError, match=match):
        extract_vector(tiny_llama, pos, neg, **kwargs)


def test_identical_sides_give_clear_error(tiny_llama):
    with pytest.raises(InputError, match="zero direction"):
        extract_vector(tiny_llama, POS, POS, layers=[0])


def test_save_load_round_trip(tiny_llama, tmp_path):
    vec = extract_vector(
        tiny_llama, POS, NEG, layers="1:4", metadata={"data": "unit-test pairs", "template": "Request: {x}"}
    )
    path = vec.save(tmp_path / "sub" / "harmful.safetensors")
    assert os.listdir(path.parent) == ["harmful.safetensors"]  # no temp leftovers
    back = SteeringVector.load(path)
    assert back.layers == vec.layers == [1, 2, 3]
    for layer in vec.layers:
        assert torch.equal(back.directions[layer], vec.directions[layer])
    assert (back.method, back.model_name, back.model_hash) == (vec.method, vec.model_name, vec.model_hash)
    assert back.metadata == json.loads(json.dumps(vec.metadata))
    assert back.metadata["template"] == "Request: {x}" and back.metadata["n_pairs"] == 5
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    assert header["model"] == tiny_llama.name and json.loads(header["layers"]) == [1, 2, 3]


def test_load_rejects_foreign_files(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(InputError, match="no such file"):
        SteeringVector.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="not a safetensors file"):
        SteeringVector.load(tmp_path / "junk.safetensors")
    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError, match="not a steerbounds steering vector"):
        SteeringVector.load(tmp_path / "other.safetensors")
    ours = {"format": "steerbounds.steering_vector", "format_version": "1", "layers": "[0]"}
    unit = torch.tensor([1.0, 0.0])
    save_file({"layer.x": unit}, str(tmp_path / "key.safetensors"), metadata=ours)
    with pytest.raises(InputError, match=r"tensor 'layer\.x'; expected keys 'layer\.<int>'"):
        SteeringVector.load(tmp_path / "key.safetensors")
    save_file({"layer.0": unit}, str(tmp_path / "meta.safetensors"), metadata={**ours, "metadata": "{oops"})
    with pytest.raises(InputError, match="metadata that is not JSON"):
        SteeringVector.load(tmp_path / "meta.safetensors")
    save_file({"layer.0": unit}, str(tmp_path / "list.safetensors"), metadata={**ours, "metadata": "[1]"})
    with pytest.raises(InputError, match="not a JSON object"):
        SteeringVector.load(tmp_path / "list.safetensors")
    save_file({"layer.0": 2 * unit}, str(tmp_path / "norm.safetensors"), metadata=ours)
    with pytest.raises(InputError, match=r"norm.safetensors.*unit norm"):
        SteeringVector.load(tmp_path / "norm.safetensors")


def test_saved_bytes_are_a_function_of_the_content(tmp_path):
    """safetensors writes its metadata map in hash order, which differs between
    processes; the saved file must not (the manifest records its hash)."""
    import subprocess
    import sys

    code = (
        "import sys, torch; from steerbounds.empirical.steering.vectors import SteeringVector\n"
        "d = {i: torch.nn.functional.normalize(torch.arange(1.0, 9.0) + i, dim=0) for i in (3, 1, 2)}\n"
        "v = SteeringVector(d, 'pca', 'tiny', 'abc', {'b': 1, 'a': [1, 2], 'c': {'y': 0, 'x': 1}})\n"
        "v.save(sys.argv[1])\n"
    )
    for i in range(3):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"v{i}.safetensors")], check=True)
    data = [(tmp_path / f"v{i}.safetensors").read_bytes() for i in range(3)]
    assert data[0] == data[1] == data[2]
    back = SteeringVector.load(tmp_path / "v0.safetensors")
    assert back.content_hash() == SteeringVector.load(tmp_path / "v2.safetensors").content_hash()
    assert back.to_bytes() == data[0]


@pytest.mark.parametrize(
    "directions, match",
    [
        ({}, "at least one layer"),
        ({0: torch.ones(4)}, "unit norm"),
        ({0: torch.tensor([1.0, float("nan")])}, "NaN"),
        ({-1: torch.tensor([1.0, 0.0])}, "non-negative"),
        ({0: torch.tensor([1.0, 0.0]), 1: torch.tensor([1.0, 0.0, 0.0])}, "size"),
        ({0: torch.eye(2)}, "1-D"),
    ],
)
def test_vector_validation(directions, match):
    with pytest.raises(InputError, match=match):
        SteeringVector(directions=directions, method="m", model_name="x", model_hash="h")


def test_aggregator_registry():
    assert set(AGGREGATORS) == {"pca", "pca_centered", "mean_diff"}
