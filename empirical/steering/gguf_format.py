"""llama.cpp GGUF control vectors, byte for byte as repeng's ``ControlVector.export_gguf`` writes them.

The file (repeng 0.4 ``extract.py``, ``export_gguf``): architecture ``controlvector``,
the string ``controlvector.model_hint`` (repeng writes the model's ``config.model_type``),
the uint32 ``controlvector.layer_count`` (the number of direction tensors) and one 1-D
float32 tensor ``direction.{l}`` per layer. llama.cpp (``common_control_vector_load_one``
in ``common/common.cpp``) reads only the tensors: it refuses a name that is not
``direction.<int>``, a non-F32 or non-1-D tensor, and ``direction.0`` ("invalid (zero)
direction tensor layer index"); it adds ``strength · direction.l`` — ``strength`` being
the ``SCALE`` of ``--control-vector-scaled FILE SCALE``, 1 for ``--control-vector FILE``
— to ``l_out`` of block l (``llama_adapter_cvec::apply_to`` via ``build_cvec(cur, il)``
after the block's residual add, ``il`` 0-based), at every position. So ``direction.l``
is our block l (no shift), and block 0, whose output llama.cpp never steers, cannot be
exported; repeng's ``read_representations`` default ``range(-1, -n_layers, -1)`` never
makes it either.

Coefficients (:mod:`~.formats`): export writes the unit ``v_l``, so
``--control-vector-scaled FILE r_e`` adds ``r_e · v_l``, eq. 2. Import stores
``v_l = w_l/|w_l|`` and ``k_l = |w_l|``; llama.cpp at scale ``s`` is eq. 2 with
``r_e^(l) = s · k_l``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from steerbounds import io
from steerbounds.empirical.steering.formats import imported_vector, written_directions
from steerbounds.empirical.steering.vectors import SteeringVector
from steerbounds.errors import InputError

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

ARCH = "controlvector"
_DIRECTION = re.compile(r"^direction\.(\d+)$")


def export_gguf(
    vector: SteeringVector,
    path: str | os.PathLike[str],
    *,
    layers: Sequence[int] | None = None,
    norms: str = "unit",
    model_hint: str | None = None,
) -> Path:
    """Write ``vector`` as a llama.cpp control vector (atomically); with the default
    ``norms="unit"`` the tensors are the unit ``v_l``, so
    ``llama-cli --control-vector-scaled FILE r_e`` steers with r_e (eq. 2).

    ``layers``: the blocks to write (default all of the vector's); block 0 is refused,
    since llama.cpp rejects ``direction.0``. ``model_hint`` (default the recorded
    ``model_type``, else the model name) fills ``controlvector.model_hint``.
    ``norms="source"`` writes ``k_l · v_l`` (see :mod:`~.formats`)."""
    import gguf

    chosen = written_directions(vector, layers, norms)
    if 0 in chosen:
        raise InputError(
            "layers: llama.cpp cannot steer block 0 (it refuses the tensor direction.0); "
            f"export the layers from 1 (the vector has {', '.join(map(str, vector.layers))})"
        )
    hint = model_hint or vector.metadata.get("model_type") or vector.model_name
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(target) as tmp:
        writer = gguf.GGUFWriter(tmp, ARCH)
        writer.add_string(f"{ARCH}.model_hint", str(hint))
        writer.add_uint32(f"{ARCH}.layer_count", len(chosen))
        for layer, direction in chosen.items():
            writer.add_tensor(f"direction.{layer}", direction.numpy().astype(np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return target


def _string_field(reader: Any, key: str) -> str | None:
    field = reader.get_field(key)
    if field is None or not len(field.parts):
        return None
    return str(bytes(field.parts[-1]), encoding="utf-8", errors="replace")


def import_gguf(path: str | os.PathLike[str], *, model: SteerableModel | None = None) -> SteeringVector:
    """Read a llama.cpp / repeng control vector: ``direction.l`` becomes block l with
    ``v_l = w_l/|w_l|`` and scale ``k_l = |w_l|`` recorded (llama.cpp at scale ``s`` is
    eq. 2 with ``r_e^(l) = s · k_l``). Tensors that llama.cpp refuses are refused here
    too, except ``direction.0``, which repeng writes and reads as block 0; two names
    for one layer (``direction.5``, ``direction.05``) are summed, as llama.cpp does.
    ``model``: check the layers and hidden size against it and record its name and hash
    (otherwise the name is the file's ``model_hint`` and the hash unknown)."""
    import gguf

    p = Path(path)
    what = f"vector: {str(p)!r}"
    if not p.is_file():
        raise InputError(f"vector: no such file {str(p)!r}")
    try:
        reader = gguf.GGUFReader(str(p))
    except Exception as exc:  # the reader raises ValueError, struct.error, …
        raise InputError(f"{what} is not a GGUF file: {exc}") from None
    arch = _string_field(reader, "general.architecture")
    if arch != ARCH:
        raise InputError(f"{what} is a GGUF file of architecture {arch!r}, not a control vector ({ARCH!r})")
    raw: dict[int, np.ndarray] = {}
    for tensor in reader.tensors:
        m = _DIRECTION.match(tensor.name)
        if m is None:
            raise InputError(f"{what} has tensor {tensor.name!r}; llama.cpp accepts only 'direction.<int>'")
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32 or len(tensor.shape) != 1:
            raise InputError(
                f"{what}: tensor {tensor.name!r} is {tensor.tensor_type.name} of shape "
                f"{tuple(int(n) for n in tensor.shape)}; llama.cpp accepts only 1-D F32 directions"
            )
        layer = int(m.group(1))
        data = np.array(tensor.data, dtype=np.float32)
        raw[layer] = raw[layer] + data if layer in raw else data
    hint = _string_field(reader, f"{ARCH}.model_hint")
    return imported_vector(
        raw,
        fmt="gguf",
        what=what,
        model=model,
        model_name=hint or "",
        source={"file": p.name, "model_hint": hint},
    )
