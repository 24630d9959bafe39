"""steerbounds.empirical.steering.injection: eq. 2 hooks, batched sweeps, generation, derivative."""

from __future__ import annotations

import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from conftest import build_tiny_tokenizer, make_random_vector, make_tiny_model  # noqa: E402
from steering_reference import naive_sweep  # noqa: E402

from steerbounds.empirical import (  # noqa: E402
    forward_sweep,
    generate_sweep,
    jvp_final_representation,
    left_align,
    run_last_position,
    steer,
)
from steerbounds.empirical.steering.models import wrap_model  # noqa: E402
from steerbounds.empirical.steering.vectors import SteeringVector  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

PROMPTS = ["Request: Can you help?", "Hi", "What is the capital of France? The answer is"]
COEFFS = [-4.0, -1.0, 0.0, 0.5, 3.0]


def _enc(model, prompts=PROMPTS):
    enc = model.encode(prompts)
    return enc["input_ids"], enc["attention_mask"]


def _ours(hook) -> bool:
    """A hook steerbounds registered (transformers 5 installs output-capturing hooks of its
    own on every block the first time hidden states are requested, and keeps them)."""
    return (getattr(hook, "__module__", None) or type(hook).__module__).startswith("steerbounds")


def _hooks(model):
    """steerbounds' hooks on the blocks and the unembedding's input."""
    hooks = [h for b in model.layers for h in (*b._forward_hooks.values(), *b._forward_pre_hooks.values())]
    return sum(map(_ours, [*hooks, *model.lm_head()._forward_pre_hooks.values()]))


# --------------------------------------------------------------------------- steer


def test_zero_coefficient_is_bit_identical(tiny_model):
    ids, mask = _enc(tiny_model)
    vec = make_random_vector(tiny_model)
    base = run_last_position(tiny_model, ids, mask)[0]
    with steer(tiny_model, vec, 0.0):
        assert torch.equal(run_last_position(tiny_model, ids, mask)[0], base)
    assert torch.equal(forward_sweep(tiny_model, vec, ids, mask, [0.0])[0], base)
    assert torch.equal(forward_sweep(tiny_model, vec, ids, mask, [0.0, 2.0], layers=[1, 3])[0], base)


def test_steering_changes_logits_and_hooks_go_away(tiny_model):
    ids, mask = _enc(tiny_model)
    vec = make_random_vector(tiny_model)
    base = run_last_position(tiny_model, ids, mask)[0]
    with steer(tiny_model, vec, 5.0, layers=[1]) as idx:
        assert idx == [1]
        assert _hooks(tiny_model) == 1
        steered = run_last_position(tiny_model, ids, mask)[0]
    assert _hooks(tiny_model) == 0
    assert (steered - base).abs().max() > 1e-3
    assert torch.equal(run_last_position(tiny_model, ids, mask)[0], base)


def test_eq2_adds_coefficient_times_direction_to_block_output(tiny_llama):
    ids, mask = _enc(tiny_llama)
    vec = make_random_vector(tiny_llama)
    seen = {}

    def grab(name):
        def hook(module, args, output):
            seen[name] = output.detach().clone()

        return hook

    h = tiny_llama.layers[2].register_forward_hook(grab("plain"))
    try:
        run_last_position(tiny_llama, ids, mask)
    finally:
        h.remove()
    with steer(tiny_llama, vec, 2.5, layers=[2]):
        # hooks registered later run later: this one sees the steered output
        h = tiny_llama.layers[2].register_forward_hook(grab("steered"))
        try:
            run_last_position(tiny_llama, ids, mask)
        finally:
            h.remove()
    assert torch.allclose(
        seen["steered"] - seen["plain"], (2.5 * vec.directions[2]).expand_as(seen["plain"]), atol=1e-6
    )


def test_hooks_removed_after_exception(tiny_model):
    ids, mask = _enc(tiny_model)
    vec = make_random_vector(tiny_model)
    base = run_last_position(tiny_model, ids, mask)[0]
    with pytest.raises(RuntimeError, match="boom"), steer(tiny_model, vec, 3.0):
        assert _hooks(tiny_model) == tiny_model.n_layers
        raise RuntimeError("boom")
    assert _hooks(tiny_model) == 0
    assert torch.equal(run_last_position(tiny_model, ids, mask)[0], base)


def test_hooks_removed_when_a_forward_fails_inside_a_sweep(tiny_llama):
    ids, mask = _enc(tiny_llama)
    vec = make_random_vector(tiny_llama)

    def explode(module, args):
        raise RuntimeError("block failed")

    h = tiny_llama.layers[3].register_forward_pre_hook(explode)
    try:
        for share in (True, False):
            with pytest.raises(RuntimeError, match="block failed"):
                forward_sweep(tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2], share_prefix=share)
        with pytest.raises(RuntimeError, match="block failed"):
            jvp_final_representation(tiny_llama, vec, ids, mask)
    finally:
        h.remove()
    assert _hooks(tiny_llama) == 0


def test_per_row_coefficients_equal_separate_runs(tiny_model):
    ids, mask = _enc(tiny_model)
    vec = make_random_vector(tiny_model)
    coeffs = torch.tensor([-2.0, 0.0, 4.0])
    with steer(tiny_model, vec, coeffs, layers=[0, 2]):
        batched = run_last_position(tiny_model, ids, mask)[0]
    for i, c in enumerate(coeffs.tolist()):
        with steer(tiny_model, vec, c, layers=[0, 2]):
            alone = run_last_position(tiny_model, ids[i : i + 1], mask[i : i + 1])[0]
        assert torch.allclose(batched[i], alone[0], atol=1e-5)


def test_wrong_number_of_row_coefficients(tiny_llama):
    ids, mask = _enc(tiny_llama)
    vec = make_random_vector(tiny_llama)
    with pytest.raises(InputError, match="per-row coefficients"), steer(tiny_llama, vec, [1.0, 2.0]):
        run_last_position(tiny_llama, ids, mask)
    assert _hooks(tiny_llama) == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(coefficients=float("nan")), "finite"),
        (dict(coefficients=[1.0, float("inf")]), "finite"),
        (dict(coefficients=[[1.0]]), "scalar or a 1-D"),
        (dict(coefficients="x"), "coefficients"),
        (dict(coefficients=1.0, positions="prompt"), "positions"),
        (dict(coefficients=1.0, layers=[9]), "layers"),
        (dict(coefficients=1.0, prompt_lengths=3), "prompt_lengths"),
        (dict(coefficients=1.0, positions="new", prompt_lengths=-1), "prompt_lengths"),
    ],
)
def test_steer_rejects_bad_input(tiny_llama, kwargs, match):
    vec = make_random_vector(tiny_llama)
    coefficients = kwargs.pop("coefficients")
    with pytest.raises(InputError, match=match), steer(tiny_llama, vec, coefficients, **kwargs):
        pass
    assert _hooks(tiny_llama) == 0


def test_vector_layer_and_size_checks(tiny_llama):
    vec = make_random_vector(tiny_llama, layers=[1, 2])
    with (
        pytest.raises(InputError, match="no direction for layer 3"),
        steer(tiny_llama, vec, 1.0, layers=[2, 3]),
    ):
        pass
    wide = SteeringVector({0: torch.ones(64) / 8.0}, "m", "other", "h")
    with pytest.raises(InputError, match="hidden size 64"), steer(tiny_llama, wide, 1.0):
        pass
    deep = SteeringVector({7: torch.ones(32) / 32**0.5}, "m", "other", "h")
    with pytest.raises(InputError, match="layer 7 does not exist"), steer(tiny_llama, deep, 1.0):
        pass


# --------------------------------------------------------------------------- padding


def test_left_padding_does_not_change_results(tiny_model):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    batched = forward_sweep(tiny_model, vec, ids, mask, [-2.0, 3.0], layers=[1, 2])
    for i, p in enumerate(PROMPTS):
        a_ids, a_mask = _enc(tiny_model, [p])
        alone = forward_sweep(tiny_model, vec, a_ids, a_mask, [-2.0, 3.0], layers=[1, 2])
        assert torch.allclose(batched[:, i], alone[:, 0], atol=1e-4)


def test_right_padding_is_realigned(tiny_model):
    vec = make_random_vector(tiny_model)
    tok = tiny_model.tokenizer
    tok.padding_side = "right"
    try:
        enc = tok(PROMPTS, return_tensors="pt", padding=True)
    finally:
        tok.padding_side = "left"
    r_ids, r_mask = enc["input_ids"], enc["attention_mask"]
    l_ids, l_mask = _enc(tiny_model)
    a, b = left_align(r_ids, r_mask)
    assert torch.equal(a, l_ids) and torch.equal(b, l_mask)
    right = forward_sweep(tiny_model, vec, r_ids, r_mask, [1.0])
    left = forward_sweep(tiny_model, vec, l_ids, l_mask, [1.0])
    assert torch.equal(right, left)


def test_input_validation(tiny_llama):
    vec = make_random_vector(tiny_llama)
    ids, mask = _enc(tiny_llama)
    with pytest.raises(InputError, match="input_ids"):
        forward_sweep(tiny_llama, vec, ids[0], mask[0], [1.0])
    with pytest.raises(InputError, match="attention_mask"):
        forward_sweep(tiny_llama, vec, ids, mask[:, 1:], [1.0])
    zero = mask.clone()
    zero[1] = 0
    with pytest.raises(InputError, match="no real token"):
        forward_sweep(tiny_llama, vec, ids, zero, [1.0])
    with pytest.raises(InputError, match="non-empty 1-D"):
        forward_sweep(tiny_llama, vec, ids, mask, [])
    with pytest.raises(InputError, match="non-empty 1-D"):
        forward_sweep(tiny_llama, vec, ids, mask, 2.0)
    with pytest.raises(InputError, match="chunk_size"):
        forward_sweep(tiny_llama, vec, ids, mask, [1.0], chunk_size=0)
    assert forward_sweep(tiny_llama, vec, ids, None, [1.0]).shape == (1, 3, len(build_tiny_tokenizer()))


# --------------------------------------------------------------------------- sweeps


@pytest.mark.parametrize("layers", [[0, 1, 2, 3], [1, 2], [3], [0, 2]])
def test_prefix_shared_sweep_equals_naive(tiny_model, layers):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    naive = naive_sweep(tiny_model, vec, ids, mask, COEFFS, layers)
    for kwargs in (
        dict(),
        dict(chunk_size=2),
        dict(share_prefix=False),
        dict(share_prefix=False, chunk_size=3),
    ):
        fast = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=layers, **kwargs)
        assert fast.shape == (len(COEFFS), len(PROMPTS), naive.shape[-1])
        assert (fast.softmax(-1) - naive.softmax(-1)).abs().max() <= 1e-5
        assert (fast - naive).abs().max() <= 1e-4
    assert _hooks(tiny_model) == 0


def test_sweep_returns_final_representation(tiny_model):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    logits, rep = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=[1, 2], return_final=True)
    assert rep.shape == (len(COEFFS), len(PROMPTS), tiny_model.hidden_size)
    bias = tiny_model.unembedding_bias()
    assert torch.allclose(logits, rep @ tiny_model.unembedding().T + (0 if bias is None else bias), atol=1e-5)
    with steer(tiny_model, vec, COEFFS[0], layers=[1, 2]):
        r0 = tiny_model.final_representation(ids, mask)
    assert torch.allclose(rep[0], r0, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(
    coeffs=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=6),
    first=st.integers(0, 3),
    chunk=st.one_of(st.none(), st.integers(1, 4)),
)
def test_sweep_matches_naive_property(coeffs, first, chunk):
    model = _PROPERTY_MODEL
    vec = make_random_vector(model, seed=7)
    ids, mask = _enc(model, PROMPTS[:2])
    layers = list(range(first, 4))
    naive = naive_sweep(model, vec, ids, mask, coeffs, layers)
    fast = forward_sweep(model, vec, ids, mask, coeffs, layers=layers, chunk_size=chunk)
    assert torch.isfinite(fast).all()
    assert (fast.softmax(-1) - naive.softmax(-1)).abs().max() <= 1e-4


_PROPERTY_MODEL = make_tiny_model("gemma", seed=11)


# --------------------------------------------------------------------------- tuple outputs


class _ToyBlock(torch.nn.Module):
    """A decoder block whose output is a tuple (older transformers) or a Tensor;
    its mask arrives positionally, like GPT-2's."""

    def __init__(self, d: int, tuple_out: bool):
        super().__init__()
        self.lin = torch.nn.Linear(d, d)
        self.tuple_out = tuple_out

    def forward(self, hidden, mask4d, position_bias=None):
        mixed = torch.einsum("bqk,bkd->bqd", mask4d[:, 0], hidden) / mask4d[:, 0].sum(-1, keepdim=True)
        out = hidden + torch.tanh(self.lin(mixed) + position_bias)
        return (out, None) if self.tuple_out else out


class _ToyLM(torch.nn.Module):
    def __init__(self, vocab: int, d: int, n: int, tuple_out: bool):
        super().__init__()
        self.config = types.SimpleNamespace(to_dict=lambda: {"toy": n}, pad_token_id=0)
        self.embed = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Embedding(64, d)
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList(_ToyBlock(d, tuple_out) for _ in range(n))
        self.head = torch.nn.Linear(d, vocab, bias=True)

    def get_input_embeddings(self):
        return self.embed

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, attention_mask, position_ids, use_cache=False, logits_to_keep=0):
        h = self.embed(input_ids)
        t = input_ids.shape[1]
        causal = torch.tril(torch.ones(t, t))
        keep = causal[None] * attention_mask[:, None, :].float()
        keep = torch.maximum(keep, torch.eye(t)[None])  # pad queries attend to themselves
        mask4d = keep[:, None]  # (B, 1, T, T)
        bias = self.pos(position_ids)  # (B, T, d)
        for block in self.model.layers:
            out = block(h, mask4d, position_bias=bias)
            h = out[0] if isinstance(out, tuple) else out
        logits = self.head(h[:, -logits_to_keep:] if logits_to_keep else h)
        return types.SimpleNamespace(logits=logits)


def test_tuple_and_tensor_block_outputs_agree():
    tok = build_tiny_tokenizer()
    results = {}
    for tuple_out in (False, True):
        torch.manual_seed(0)
        toy = wrap_model(_ToyLM(len(tok), 32, 3, tuple_out), tok, name="toy")
        vec = make_random_vector(toy, seed=1)
        ids, mask = _enc(toy)
        naive = naive_sweep(toy, vec, ids, mask, COEFFS, [1, 2])
        fast = forward_sweep(toy, vec, ids, mask, COEFFS, layers=[1, 2])
        assert (fast - naive).abs().max() <= 1e-5
        assert (naive[0] - naive[2]).abs().max() > 1e-3
        results[tuple_out] = fast
    assert torch.allclose(results[True], results[False], atol=1e-6)


# --------------------------------------------------------------------------- positions="new"


def test_new_positions_leave_the_prompt_alone(tiny_model):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    base = run_last_position(tiny_model, ids, mask)[0]
    with steer(tiny_model, vec, 5.0, positions="new"):
        # the first forward defines the prompt width: nothing in it is steered
        assert torch.equal(run_last_position(tiny_model, ids, mask)[0], base)
    with steer(tiny_model, vec, 5.0, positions="new", prompt_lengths=0):
        every = run_last_position(tiny_model, ids, mask)[0]
    with steer(tiny_model, vec, 5.0):
        assert torch.allclose(every, run_last_position(tiny_model, ids, mask)[0])
    t = ids.shape[1]
    # per row: only row 1's last position is "new"
    with steer(tiny_model, vec, 5.0, positions="new", prompt_lengths=[t, t - 1, t]):
        mixed = run_last_position(tiny_model, ids, mask)[0]
    assert torch.equal(mixed[0], base[0]) and torch.equal(mixed[2], base[2])
    assert not torch.allclose(mixed[1], base[1])


# --------------------------------------------------------------------------- generation


def _naive_generate(model, vec, prompts, coeffs, layers, max_new_tokens, positions="all"):
    enc = model.encode(prompts)
    t = enc["input_ids"].shape[1]
    out = []
    for c in coeffs:
        with steer(model, vec, c, layers=layers, positions=positions):
            ids = model.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=model.tokenizer.pad_token_id,
            )
        out.append(model.tokenizer.batch_decode(ids[:, t:], skip_special_tokens=True))
    return out


@pytest.mark.parametrize("positions", ["all", "new"])
def test_generate_sweep_equals_naive_greedy(tiny_model, positions):
    vec = make_random_vector(tiny_model)
    prompts = PROMPTS[:2]
    coeffs = [-20.0, 0.0, 20.0]
    batched = generate_sweep(
        tiny_model, vec, prompts, coeffs, max_new_tokens=6, layers=[1, 2], positions=positions
    )
    naive = _naive_generate(tiny_model, vec, prompts, coeffs, [1, 2], 6, positions)
    assert batched == naive
    assert batched[0] != batched[2]  # the coefficients do change the generations
    assert len(batched) == 3 and all(len(row) == 2 for row in batched)
    chunked = generate_sweep(
        tiny_model, vec, prompts, coeffs, max_new_tokens=6, layers=[1, 2], positions=positions, chunk_size=2
    )
    assert chunked == batched
    assert _hooks(tiny_model) == 0


def test_generate_new_positions_keep_first_token(tiny_llama):
    vec = make_random_vector(tiny_llama)
    plain = generate_sweep(tiny_llama, vec, PROMPTS, [0.0], max_new_tokens=1)
    new = generate_sweep(tiny_llama, vec, PROMPTS, [30.0, -30.0], max_new_tokens=1, positions="new")
    assert new[0] == new[1] == plain[0]
    steered_all = generate_sweep(tiny_llama, vec, PROMPTS, [30.0, -30.0], max_new_tokens=1)
    assert steered_all != [plain[0], plain[0]]


def test_generate_sampling_is_seeded(tiny_llama):
    vec = make_random_vector(tiny_llama)
    a = generate_sweep(tiny_llama, vec, PROMPTS[:2], [0.0, 2.0], max_new_tokens=5, do_sample=True, seed=3)
    b = generate_sweep(tiny_llama, vec, PROMPTS[:2], [0.0, 2.0], max_new_tokens=5, do_sample=True, seed=3)
    assert a == b


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(prompts=[]), "prompts"),
        (dict(prompts="one string"), "prompts"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(do_sample=True, temperature=0.0), "temperature"),
        (dict(do_sample=True, temperature=float("nan")), "temperature"),
        (dict(positions="old"), "positions"),
        (dict(coefficients=[float("nan")]), "finite"),
    ],
)
def test_generate_rejects_bad_input(tiny_llama, kwargs, match):
    vec = make_random_vector(tiny_llama)
    args = dict(prompts=PROMPTS, coefficients=[1.0], max_new_tokens=2)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        generate_sweep(tiny_llama, vec, args.pop("prompts"), args.pop("coefficients"), **args)


# --------------------------------------------------------------------------- derivative


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox", "gemma", "qwen2"])
def test_jvp_matches_reverse_mode_and_finite_differences(arch):
    model = make_tiny_model(arch, seed=2)
    vec = make_random_vector(model, seed=4)
    ids, mask = _enc(model)
    layers = [1, 2]
    r0, tangent = jvp_final_representation(model, vec, ids, mask, layers=layers, return_primal=True)
    assert tangent.shape == (len(PROMPTS), model.hidden_size)
    assert torch.isfinite(tangent).all() and float(tangent.norm()) > 0
    assert torch.allclose(r0, model.final_representation(ids, mask), atol=1e-5)
    # exact check: <w, d r/d r_e> by reverse mode through the same steered pass
    c = torch.zeros((), requires_grad=True)
    with steer(model, vec, c, layers=layers):
        rep = run_last_position(model, ids, mask, return_final=True)[1]
    w = torch.randn(rep.shape, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad((rep * w).sum(), c)
    assert float((tangent * w).sum()) == pytest.approx(float(grad), rel=1e-4, abs=1e-5)
    # central finite differences (float32: rounding ~1e-7/eps, truncation ~eps^2)
    eps = 1e-2
    _, reps = forward_sweep(model, vec, ids, mask, [eps, -eps], layers=layers, return_final=True)
    fd = (reps[0] - reps[1]) / (2 * eps)
    assert (fd - tangent).abs().max() <= 2e-3 * tangent.abs().max()
    assert _hooks(model) == 0


@pytest.mark.parametrize("arch", ["gpt2", "neox"])
def test_jvp_matches_finite_differences_float64(arch):
    # LayerNorm models run fully in float64 (RMSNorm models upcast to float32 inside)
    model = make_tiny_model(arch, seed=2)
    model.model.double()
    vec = make_random_vector(model, seed=4)
    ids, mask = _enc(model)
    tangent = jvp_final_representation(model, vec, ids, mask, layers=[0, 3])
    eps = 1e-5
    _, reps = forward_sweep(model, vec, ids, mask, [eps, -eps], layers=[0, 3], return_final=True)
    fd = (reps[0] - reps[1]) / (2 * eps)
    assert tangent.dtype == torch.float64
    assert torch.allclose(tangent, fd, atol=1e-8, rtol=1e-6)
