"""The tiny Llama of ``conftest`` saved as a Hugging Face folder, and small sweeps of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steerbounds.empirical.sweep.config import SweepConfig


def save_tiny_llama(folder: Path) -> Path:
    """Save ``make_tiny_model("llama", seed=0)`` (weights and tokenizer) into ``folder``."""
    from conftest import make_tiny_model

    model = make_tiny_model("llama", seed=0)
    model.model.save_pretrained(str(folder))
    model.tokenizer.save_pretrained(str(folder))
    return folder


def tiny_sweep_config(folder: Path, out: Path, **kw: Any) -> SweepConfig:
    """A greedy arithmetic sweep of the model saved in ``folder``, written to ``out``:
    3 prompts, 6 contrast pairs, r_e ∈ {−2, 0, 2}, 2 new tokens; ``kw`` overrides."""
    base = dict(
        model=str(folder),
        task="arithmetic",
        n=3,
        n_pairs=6,
        coefficients=(-2.0, 0.0, 2.0),
        batch_size=2,
        coef_chunk=2,
        generate="greedy",
        max_new_tokens=2,
        progress=False,
        out=str(out),
    )
    return SweepConfig(**{**base, **kw})
