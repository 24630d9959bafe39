"""Tiny random-weight causal LMs and a byte-level tokenizer, built offline.

Fixtures (reused by all empirical unit tests):

* ``tiny_tokenizer`` — byte-level BPE (256 byte tokens + specials, no merges)
  wrapped in ``PreTrainedTokenizerFast`` with a chat template; no download.
* ``tiny_model`` — parametrised over ``TINY_ARCHES`` (Llama, GPT-2, GPT-NeoX,
  Gemma, Qwen2): a 4-layer :class:`SteerableModel` with random weights.
* ``tiny_llama`` — the Llama one, for tests that need one architecture only.
* ``make_tiny`` — factory ``make_tiny(arch, seed=0, n_layers=4)``.
* ``random_vector`` — factory ``random_vector(model, layers=None, seed=0)``:
  a :class:`SteeringVector` of random unit directions.
"""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

TINY_ARCHES = ("llama", "gpt2", "neox", "gemma", "qwen2")
HIDDEN = 32
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@functools.lru_cache(maxsize=1)
def build_tiny_tokenizer():
    """Byte-level tokenizer: every text is encodable, decode inverts encode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|user|>", "<|assistant|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def tiny_config(arch: str, n_layers: int = 4, vocab_size: int | None = None):
    tok = build_tiny_tokenizer()
    v = vocab_size or len(tok)
    shared = dict(
        vocab_size=v,
        initializer_range=0.2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    T = transformers
    sizes = dict(hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=n_layers, num_attention_heads=4)
    llama = dict(num_key_value_heads=2, max_position_embeddings=256, **sizes, **shared)
    if arch == "llama":
        return T.LlamaConfig(**llama)
    if arch == "qwen2":
        return T.Qwen2Config(**llama)
    if arch == "gemma":
        return T.GemmaConfig(head_dim=8, **llama)
    if arch == "gpt2":
        return T.GPT2Config(n_embd=HIDDEN, n_layer=n_layers, n_head=4, n_positions=256, **shared)
    if arch == "neox":
        return T.GPTNeoXConfig(max_position_embeddings=256, **sizes, **shared)
    raise ValueError(arch)


def make_tiny_model(arch: str = "llama", seed: int = 0, n_layers: int = 4):
    from steerbounds.empirical.steering.models import wrap_model

    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(tiny_config(arch, n_layers))
    return wrap_model(model, build_tiny_tokenizer(), name=f"tiny-{arch}")


def make_random_vector(model, layers=None, seed: int = 0):
    from steerbounds.empirical.steering.vectors import SteeringVector

    g = torch.Generator().manual_seed(seed)
    idx = model.resolve_layers(layers)
    dirs = {}
    for layer in idx:
        v = torch.randn(model.hidden_size, generator=g)
        dirs[layer] = v / v.norm()
    return SteeringVector(
        directions=dirs,
        method="random",
        model_name=model.name,
        model_hash=model.model_hash(),
        metadata={"seed": seed},
    )


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@functools.cache
def _cached_model(arch: str):
    return make_tiny_model(arch)


@pytest.fixture(params=TINY_ARCHES)
def tiny_model(request):
    return _cached_model(request.param)


@pytest.fixture
def tiny_llama():
    return _cached_model("llama")


@pytest.fixture
def make_tiny():
    return make_tiny_model


@pytest.fixture
def random_vector():
    return make_random_vector
