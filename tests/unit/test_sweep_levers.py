"""forward_sweep levers: the shared prompt prefix run once per coefficient (KV cache
reused across prompts) and length-bucketed batches, each equal to the plain engine."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import make_random_vector  # noqa: E402
from steering_reference import naive_sweep  # noqa: E402

from steerbounds.empirical import forward_sweep, run_last_position, steer  # noqa: E402
from steerbounds.empirical.steering.batched import length_buckets  # noqa: E402
from steerbounds.empirical.steering.prompt_cache import common_prefix_length, split_prompt  # noqa: E402
from steerbounds.errors import InputError  # noqa: E402

INSTRUCTION = "Answer the question with one letter.\n"
QUESTIONS = ["Is 2 > 1?", "Which city is the capital of France, A or B?", "Why?", "Name a colour."]
COEFFS = [-4.0, 0.0, 1.5, 6.0]


def _enc(model, questions=QUESTIONS):
    prompts = [model.chat_prompt(INSTRUCTION + q, assistant_prefix="The answer is") for q in questions]
    enc = model.encode(prompts)
    return enc["input_ids"], enc["attention_mask"]


def _max_dp(a, b):
    return float((a.softmax(-1) - b.softmax(-1)).abs().max())


# --------------------------------------------------------------------------- prefix helpers


def test_common_prefix_length_and_split():
    ids = torch.tensor([[0, 0, 5, 6, 7, 8], [5, 6, 7, 9, 9, 2], [0, 5, 6, 7, 3, 4]])
    mask = (ids != 0).long()
    mask[1] = 1
    assert common_prefix_length(ids, mask) == 3
    head, rest, full = split_prompt(ids, mask, 3)
    assert head.tolist() == [[5, 6, 7]]
    for row in range(3):
        real = ids[row][mask[row].bool()].tolist()
        kept = rest[row][full[row, 3:].bool()].tolist()
        assert head[0].tolist() + kept == real
        assert full[row].sum() == mask[row].sum()
    # capped at the shortest row − 1: every row keeps a token after the prefix
    same = torch.tensor([[5, 6, 7], [5, 6, 7]])
    assert common_prefix_length(same, torch.ones_like(same)) == 2
    differ = torch.tensor([[1, 6, 7], [5, 6, 7]])
    assert common_prefix_length(differ, torch.ones_like(differ)) == 0


# --------------------------------------------------------------------------- shared prompt prefix


@pytest.mark.parametrize("layers", [[0, 1, 2, 3], [1, 2], [3]])
def test_shared_prompt_equals_plain_engine(tiny_model, layers):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    assert common_prefix_length(*_enc(tiny_model)) > len(INSTRUCTION)  # the lever has work to skip
    plain = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=layers)
    naive = naive_sweep(tiny_model, vec, ids, mask, COEFFS, layers)
    for kwargs in (dict(), dict(chunk_size=3), dict(share_prefix=False)):
        fast = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=layers, share_prompt=True, **kwargs)
        assert fast.shape == plain.shape
        assert _max_dp(fast, plain) <= 1e-4
        assert _max_dp(fast, naive) <= 1e-4


def test_shared_prompt_runs_the_prefix_once_per_coefficient(tiny_llama):
    """Block 0 sees the prefix as one row, then the rest of every prompt."""
    vec = make_random_vector(tiny_llama)
    ids, mask = _enc(tiny_llama)
    p = common_prefix_length(ids, mask)
    seen = []
    handle = tiny_llama.layers[0].register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(tuple((args[0] if args else kwargs["hidden_states"]).shape[:2])),
        with_kwargs=True,
    )
    try:
        forward_sweep(tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2], share_prompt=True)
    finally:
        handle.remove()
    assert seen == [(1, p), (ids.shape[0], ids.shape[1] - p)]


def test_shared_prompt_steers_the_prefix(tiny_llama):
    """Steering only the prompts' own tokens (not the shared prefix) changes the
    logits: a prefix cache built without the coefficient would be wrong."""
    vec = make_random_vector(tiny_llama)
    ids, mask = _enc(tiny_llama)
    p = common_prefix_length(ids, mask)
    fast = forward_sweep(tiny_llama, vec, ids, mask, [6.0], layers=[0, 1], share_prompt=True)
    own_tokens_start = [ids.shape[1] - int(n) + p for n in mask.sum(dim=1)]
    with steer(tiny_llama, vec, 6.0, layers=[0, 1], positions="new", prompt_lengths=own_tokens_start):
        prefix_unsteered = run_last_position(tiny_llama, ids, mask)[0]
    assert _max_dp(fast[0], prefix_unsteered) > 1e-3


def test_shared_prompt_with_suffixes_of_equal_length(tiny_model):
    """No padding anywhere (the rest of every prompt equally long) and one prompt."""
    vec = make_random_vector(tiny_model)
    for questions in (["Is 2 > 1?", "Is 3 > 1?"], ["Why?"]):
        ids, mask = _enc(tiny_model, questions)
        assert bool(mask.all())
        plain = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=[1, 3])
        fast = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=[1, 3], share_prompt=True)
        assert _max_dp(fast, plain) <= 1e-4


def test_shared_prompt_returns_final_representation(tiny_llama):
    vec = make_random_vector(tiny_llama)
    ids, mask = _enc(tiny_llama)
    logits, rep = forward_sweep(tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2], return_final=True)
    logits2, rep2 = forward_sweep(
        tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2], return_final=True, share_prompt=True
    )
    assert torch.allclose(rep2, rep, atol=1e-4)
    assert _max_dp(logits2, logits) <= 1e-4


def test_prompts_without_a_shared_prefix_run_the_plain_path(tiny_llama):
    vec = make_random_vector(tiny_llama)
    enc = tiny_llama.encode(["Alpha beta", "Gamma"], add_special_tokens=False)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert common_prefix_length(ids, mask) == 0
    plain = forward_sweep(tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2])
    fast = forward_sweep(tiny_llama, vec, ids, mask, COEFFS, layers=[1, 2], share_prompt=True)
    assert torch.equal(plain, fast)


# --------------------------------------------------------------------------- length buckets


def test_length_buckets_partition_rows_by_length():
    mask = torch.tensor([[0, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    buckets = length_buckets(mask, 2)
    assert [b.tolist() for b in buckets] == [[0, 3], [2, 1], [4]]
    assert [b.tolist() for b in length_buckets(mask, None)] == [[0, 1, 2, 3, 4]]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="batch_size"):
            length_buckets(mask, bad)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_bucketed_sweep_equals_plain_in_input_order(tiny_model, batch_size):
    vec = make_random_vector(tiny_model)
    ids, mask = _enc(tiny_model)
    plain, rep = forward_sweep(tiny_model, vec, ids, mask, COEFFS, layers=[1, 2], return_final=True)
    for share_prompt in (False, True):
        out, rep2 = forward_sweep(
            tiny_model,
            vec,
            ids,
            mask,
            COEFFS,
            layers=[1, 2],
            batch_size=batch_size,
            share_prompt=share_prompt,
            return_final=True,
            chunk_size=3,
        )
        assert _max_dp(out, plain) <= 1e-4
        assert torch.allclose(rep2, rep, atol=1e-4)


def test_bucketed_sweep_rejects_bad_batch_size(tiny_llama):
    vec = make_random_vector(tiny_llama)
    ids, mask = _enc(tiny_llama)
    with pytest.raises(InputError, match="batch_size"):
        forward_sweep(tiny_llama, vec, ids, mask, COEFFS, batch_size=0)
