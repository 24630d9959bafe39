"""Reading a steering vector from any supported file: ours, llama.cpp GGUF, lm-eval ``steered``.

The format is named or, with ``"auto"``, told by the file name's suffix
(:data:`SUFFIXES`). Conventions of each format: :mod:`~.formats`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

FILE_FORMATS = ("steerbounds", "gguf", "lm-eval")
SUFFIXES = {".safetensors": "steerbounds", ".gguf": "gguf", ".pt": "lm-eval", ".pth": "lm-eval"}


def file_format(path: str | os.PathLike[str], fmt: str = "auto", *, option: str = "format") -> str:
    """``fmt`` checked, or for ``"auto"`` the format of ``path``'s suffix; ``option``
    names the choice in errors."""
    if fmt != "auto":
        if fmt not in FILE_FORMATS:
            raise InputError(
                f"{option}: {fmt!r} is not allowed; use auto or one of {', '.join(FILE_FORMATS)}"
            )
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{option}: cannot tell the format of {str(path)!r} from its suffix "
            f"({', '.join(f'{s} = {f}' for s, f in SUFFIXES.items())}); name it with {option}"
        )
    return SUFFIXES[suffix]


def read_vector(
    path: str | os.PathLike[str], fmt: str = "auto", *, model: SteerableModel | None = None
) -> SteeringVector:
    """The vector in ``path`` (format ``fmt``: ``auto``, ``steerbounds``, ``gguf`` or
    ``lm-eval``). ``model``: check the vector fits it (and, for the foreign formats,
    resolve and record it)."""
    kind = file_format(path, fmt)
    if kind == "gguf":
        from steerbounds.empirical.steering.gguf_format import import_gguf

        return import_gguf(path, model=model)
    if kind == "lm-eval":
        from steerbounds.empirical.steering.lm_eval_format import import_lm_eval

        return import_lm_eval(path, model=model)
    vector = SteeringVector.load(path)
    if model is not None:
        from steerbounds.empirical.steering.formats import check_fits

        check_fits(vector, model)
    return vector
