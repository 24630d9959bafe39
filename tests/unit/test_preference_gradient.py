"""Preference-gradient vectors (Proposition 1, App. I, eqs. 63–65) on tiny random models.

What is tested (steerbounds.empirical.steering.preference, module docstring): with the
unit directions v_l = −g_l/|g_l| of the per-layer gradients g_l = ∂L/∂r^(l) (eq. 65,
backward pass) and LO = −L the mean preference log-odds (eq. 63),

    dLO/dr_e|_0 = −Σ_l g_l·v_l = Σ_l |g_l|    and    dLO/dη|_0 = Σ_l |g_l|² (eq. 64's step),

the left sides by forward-mode AD (a separate computation), and LO(η) − LO(0) − η·dLO/dr_e
= O(η²) by finite differences.

Tolerances. Forward- and reverse-mode AD give the exact derivative of the same floating-point
program up to rounding. In a float64 GPT-2/NeoX (LayerNorm, no float32 cast anywhere) they
agree to 1e-12 (observed ≤ 2e-16; 1e-12 is ~5000 eps64). Llama/Gemma/Qwen2 RMSNorm casts
to float32 inside, and a float32 model is float32 throughout, so there the two AD modes differ
by float32 rounding (observed ≤ 5e-7 relative on these models, ~8 eps32): tolerance 1e-5.
Σ_l g_l·v_l against Σ_l |g_l| (and the step against |g|²) differs by the float32 storage of
v_l (relative ≤ ~eps32 per layer): tolerance 1e-6. A wrong sign, a missing layer, a
gradient read at one position instead of summed over all, or a wrong normalisation all give
gaps of order 1, far outside these tolerances.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from conftest import make_tiny_model  # noqa: E402

from steerbounds.empirical.steering.derivative import jvp_log_odds  # noqa: E402
from steerbounds.empirical.steering.injection import steer  # noqa: E402
from steerbounds.empirical.steering.preference import (  # noqa: E402
    first_order_check,
    gradient_vector,
    mean_log_odds,
    preference_gradients,
)
from steerbounds.empirical.steering.vectors import SteeringVector  # noqa: E402
from steerbounds.empirical.workloads.behavior_vector import extract_behavior_vector  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

TEXTS = ("hello there", "what is two plus two", "tell me a story about cats", "no", "why is the sky blue")


def _prompts(model):
    return [model.chat_prompt(t) for t in TEXTS]


def _answers(model):
    vocab = model.tokenizer.get_vocab()
    return [vocab["Y"], vocab["S"]], [vocab["N"]]


def _float64(arch):
    model = make_tiny_model(arch, seed=1)
    model.model.to(torch.float64)
    model.dtype = torch.float64
    return model


@pytest.mark.parametrize("arch", ["gpt2", "neox"])
def test_first_order_identities_to_float64_rounding(arch):
    model = _float64(arch)
    plus, minus = _answers(model)
    check = first_order_check(model, _prompts(model), plus, minus, batch_size=2, steps=(1e-3, 2e-3, 4e-3))
    gaps = check.relative_gaps()
    assert gaps["jvp_vs_inner"] <= 1e-12
    assert gaps["inner_vs_norm_sum"] <= 1e-6
    assert gaps["jvp_step_vs_grad_sq"] <= 1e-6
    assert check.jvp > 0  # r_e > 0 along v_l = −g_l/|g_l| raises the preference log-odds
    # finite difference: the residual after the linear term is O(η²): residual/η² constant
    curvature = [r / e**2 for e, _, r in check.steps]
    assert all(abs(c) > 0 for c in curvature)
    assert max(curvature) - min(curvature) <= 0.05 * max(abs(c) for c in curvature)
    for eta, change, _ in check.steps:
        assert change == pytest.approx(eta * check.jvp, rel=10 * eta)


def test_first_order_identities_in_float32_on_every_architecture(tiny_model):
    plus, minus = _answers(tiny_model)
    check = first_order_check(tiny_model, _prompts(tiny_model), plus, minus, batch_size=3, steps=(0.01,))
    gaps = check.relative_gaps()
    assert gaps["jvp_vs_inner"] <= 1e-5
    assert gaps["inner_vs_norm_sum"] <= 1e-6
    assert gaps["jvp_step_vs_grad_sq"] <= 1e-5
    (eta, _, residual) = check.steps[0]
    assert abs(residual) <= 0.05 * abs(eta * check.jvp)  # first order dominates at small η


def test_each_layer_alone_has_slope_its_gradient_norm(tiny_llama):
    """Per block l: dLO/dr_e with only block l steered = −g_l·v_l = |g_l|."""
    plus, minus = _answers(tiny_llama)
    prompts = _prompts(tiny_llama)
    grads = preference_gradients(tiny_llama, prompts, plus, minus, batch_size=5)
    vec = gradient_vector(tiny_llama, prompts, plus, minus, batch_size=5)
    enc = tiny_llama.encode(prompts)
    for layer, norm in grads.norms.items():
        _, slope = jvp_log_odds(
            tiny_llama, vec, enc["input_ids"], enc["attention_mask"], plus, minus, layers=[layer]
        )
        assert float(slope.mean()) == pytest.approx(norm, rel=1e-5)


def test_gradients_do_not_depend_on_batching_or_padding(tiny_llama):
    plus, minus = _answers(tiny_llama)
    prompts = _prompts(tiny_llama)
    one = preference_gradients(tiny_llama, prompts, plus, minus, batch_size=1)
    all_ = preference_gradients(tiny_llama, prompts, plus, minus, batch_size=5)
    assert one.log_odds == pytest.approx(all_.log_odds, abs=1e-5)
    for layer in one.gradients:
        torch.testing.assert_close(one.gradients[layer], all_.gradients[layer], rtol=1e-4, atol=1e-7)


def test_gradient_vector_is_unit_signed_and_records_its_norms(tiny_llama, tmp_path):
    plus, minus = _answers(tiny_llama)
    prompts = _prompts(tiny_llama)
    vec = gradient_vector(tiny_llama, prompts, plus, minus, layers=[1, 2], metadata={"behavior": "demo"})
    grads = preference_gradients(tiny_llama, prompts, plus, minus, layers=[1, 2])
    assert vec.method == "gradient" and vec.layers == [1, 2]
    for layer, v in vec.directions.items():
        assert float(v.norm()) == pytest.approx(1.0, abs=1e-6)
        cos = float(v.double() @ grads.gradients[layer]) / grads.norms[layer]
        assert cos == pytest.approx(-1.0, abs=1e-6)  # the descent direction of eq. 64
    assert vec.metadata["gradient_norms"] == pytest.approx([grads.norms[1], grads.norms[2]])
    assert vec.metadata["answers"] == {"positive": plus, "negative": minus}
    assert vec.metadata["behavior"] == "demo" and vec.metadata["n_pairs"] == len(prompts)
    again = SteeringVector.load(vec.save(tmp_path / "g.safetensors"))
    assert again.content_hash() == vec.content_hash()
    base = mean_log_odds(tiny_llama, vec, prompts, plus, minus, 0.0)
    assert base == pytest.approx(grads.log_odds, abs=1e-5)
    assert mean_log_odds(tiny_llama, vec, prompts, plus, minus, 0.05) > base


def test_steer_scales_multiply_each_block(tiny_llama, random_vector):
    vec = random_vector(tiny_llama, layers=[1, 2])
    enc = tiny_llama.encode(["abc"])
    with steer(tiny_llama, vec, 0.3, scales={1: 2.0, 2: 0.5}):
        scaled = tiny_llama.final_representation(enc["input_ids"])
    with steer(tiny_llama, vec, 0.6, layers=[1]), steer(tiny_llama, vec, 0.15, layers=[2]):
        nested = tiny_llama.final_representation(enc["input_ids"])
    torch.testing.assert_close(scaled, nested)
    with (
        pytest.raises(InputError, match="scales: need a factor for exactly"),
        steer(tiny_llama, vec, 0.3, scales={1: 1.0}),
    ):
        pass
    with (
        pytest.raises(InputError, match="scales: block 2"),
        steer(tiny_llama, vec, 0.3, scales={1: 1.0, 2: -1.0}),
    ):
        pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompts": []}, "prompts: need at least one"),
        ({"prompts": "one string"}, "prompts: expected a list"),
        ({"plus_ids": []}, "plus_ids: expected a non-empty"),
        ({"minus_ids": [10**9]}, "minus_ids: every token id"),
        ({"plus_ids": [40], "minus_ids": [40]}, "disjoint"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_gradient_vector_rejects_bad_input(tiny_llama, kwargs, match):
    plus, minus = _answers(tiny_llama)
    args = {"prompts": _prompts(tiny_llama), "plus_ids": plus, "minus_ids": minus, **kwargs}
    batch = args.pop("batch_size", 16)
    with pytest.raises(InputError, match=match):
        gradient_vector(tiny_llama, args["prompts"], args["plus_ids"], args["minus_ids"], batch_size=batch)


def test_first_order_check_rejects_bad_steps(tiny_llama):
    plus, minus = _answers(tiny_llama)
    with pytest.raises(InputError, match="steps"):
        first_order_check(tiny_llama, _prompts(tiny_llama), plus, minus, steps=(0.0,))
    with pytest.raises(InputError, match="steps"):
        first_order_check(tiny_llama, _prompts(tiny_llama), plus, minus, steps=(math.nan,))


def test_behavior_vector_gradient_method_uses_the_recipe(tiny_llama):
    vec = extract_behavior_vector(tiny_llama, "racist", method="gradient", n_pairs=4, layers=[1, 2])
    assert vec.method == "gradient" and vec.layers == [1, 2]
    assert vec.metadata["behavior"] == "racist" and vec.metadata["n_pairs"] == 4
    assert "Do you agree" in vec.metadata["template"]["prompt"]
    harm = extract_behavior_vector(tiny_llama, "harmful", method="gradient", n_pairs=3, layers=[2])
    assert harm.metadata["template"]["prompt"].count("{instruction}") == 1
    with pytest.raises(InputError, match="pairs: the gradient method"):
        extract_behavior_vector(tiny_llama, "racist", method="gradient", pairs=(["a"], ["b"]))
    with pytest.raises(InputError, match="needs prompts and answers"):
        extract_behavior_vector(tiny_llama, "mine", method="gradient", prompts=["x"])
    with pytest.raises(InputError, match="only the gradient method"):
        extract_behavior_vector(tiny_llama, "racist", method="pca", prompts=["x"])
    plus, minus = _answers(tiny_llama)
    custom = extract_behavior_vector(
        tiny_llama, "mine", method="gradient", prompts=_prompts(tiny_llama), answers=(plus, minus), layers=[1]
    )
    assert custom.metadata["recipe"] == "prompts file" and custom.metadata["answers"]["negative"] == minus


def test_extract_cli_gradient_from_the_recipe_and_from_files(tmp_path):
    import json
    import subprocess
    import sys

    tiny = make_tiny_model("llama", seed=0)
    folder = tmp_path / "tiny"
    tiny.model.save_pretrained(str(folder))
    tiny.tokenizer.save_pretrained(str(folder))
    (tmp_path / "prompts.txt").write_text("\n".join(TEXTS))
    (tmp_path / "answers.json").write_text(json.dumps({"positive": ["Yes", "Sure"], "negative": ["No"]}))

    def extract(*extra):
        out = tmp_path / f"v{len(list(tmp_path.glob('*.safetensors')))}.safetensors"
        argv = [
            "extract",
            "--method",
            "gradient",
            "--model",
            str(folder),
            "--layers",
            "1:3",
            "--out",
            str(out),
        ]
        res = subprocess.run(
            [sys.executable, "-m", "steerbounds", *argv, *extra, "--json", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert json.loads(res.stdout)["method"] == "gradient"
        return SteeringVector.load(out)

    recipe = extract("--behavior", "racist", "--n-pairs", "3")
    assert recipe.layers == [1, 2] and recipe.metadata["n_pairs"] == 3
    custom = extract(
        "--behavior",
        "mine",
        "--prompts",
        str(tmp_path / "prompts.txt"),
        "--answers",
        str(tmp_path / "answers.json"),
    )
    assert custom.metadata["recipe"] == "prompts file" and custom.metadata["n_pairs"] == len(TEXTS)
    plus, minus = _answers(tiny)
    direct = gradient_vector(tiny, _prompts(tiny), plus, minus, layers=[1, 2])
    for layer in (1, 2):
        torch.testing.assert_close(custom.directions[layer], direct.directions[layer], rtol=1e-4, atol=1e-5)
