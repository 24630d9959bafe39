"""Steering vectors: extraction from contrastive pairs (RepE reading vectors) and storage.

Following the paper (§3, App. A, App. F.2) and Zou et al. (2023a): positive and
negative prompts are run through the model, the hidden state of every decoder
block output is read at the last token (or averaged over the real tokens), the
paired differences ``d_i = r_good^(l) - r_bad^(l)`` are formed per layer, and the
direction per layer is

* ``"pca"``: the first principal direction of the differences,
  ``argmax_{|v|=1} E|<v, r_good - r_bad>|^2`` (paper, §3) — the top right
  singular vector of the *uncentred* difference matrix. RepE centres the
  differences, but its pairs come in random order (each difference has a random
  sign, mean ≈ 0), so its centred PCA estimates this same second-moment
  direction; with consistently ordered pairs, centring would instead remove the
  mean difference, i.e. the behaviour direction itself. ``pca_aggregator(center=True)``
  gives the centred variant.
* ``"mean_diff"``: the mean difference ``(1/N) Σ (r_good^i - r_bad^i)``
  (Jorgensen et al., 2023).

Each direction is scaled to unit norm (eq. 2: vectors are prepared with norm 1
and multiplied by the coefficient r_e) and signed so positives project higher
than negatives on average: ``mean_i <v, d_i> ≥ 0``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from steerbounds import progress
from steerbounds.empirical.steering.forward import position_ids
from steerbounds.errors import InputError, check_int
from steerbounds.io import write_bytes

if TYPE_CHECKING:
    from steerbounds.empirical.steering.models import SteerableModel

FORMAT = "steerbounds.steering_vector"
FORMAT_VERSION = "1"
READS = ("last", "mean")

# Provenance keys of ``SteeringVector.metadata`` (read by ``steerbounds vector info``; a vector
# saved before they existed lacks them and shows them as unknown):
MODULE_KEY = "module"  # dotted path of block l in the HF model, "{l}" for the index: "model.layers.{l}"
HOOK_KEY = "hook"  # which side of that module is read and steered: "output" (eq. 2 adds to r^(l))
POSITIONS_KEY = "positions"  # where the vector is meant to be added: "all" (the paper, App. F.2) or "new"
TEMPLATE_KEY = "template"  # the prompt template(s) the contrast pairs were made from
SOURCE_KEY = "source"  # an imported vector: the file format it came from and its per-layer scales

Aggregator = Callable[[torch.Tensor], torch.Tensor]
"""Maps the (n_pairs, d) matrix of paired differences ``r_pos - r_neg`` of one
layer to a direction (d,); norm and sign are fixed afterwards."""


def pca_aggregator(center: bool = False) -> Aggregator:
    """First principal direction of the differences (paper §3, Zou et al. 2023a).

    ``center=False`` (default): top right singular vector of D, maximising
    ``E|<v, d_i>|^2``. ``center=True``: of ``D - mean(D)`` (sklearn-style PCA).
    """

    def pca(diffs: torch.Tensor) -> torch.Tensor:
        d = diffs.to(torch.float64)
        if center:
            d = d - d.mean(dim=0, keepdim=True)
        _, _, vh = torch.linalg.svd(d, full_matrices=False)
        return vh[0]

    pca.__name__ = "pca_centered" if center else "pca"
    return pca


def mean_diff_aggregator(diffs: torch.Tensor) -> torch.Tensor:
    """Mean of the paired differences (Jorgensen et al., 2023)."""
    return diffs.to(torch.float64).mean(dim=0)


AGGREGATORS: dict[str, Aggregator] = {
    "pca": pca_aggregator(center=False),
    "pca_centered": pca_aggregator(center=True),
    "mean_diff": mean_diff_aggregator,
}


@dataclass
class SteeringVector:
    """Unit-norm directions ``v_l`` per decoder block l (eq. 2 injects ``r_e · v_l``).

    ``directions`` maps block index (0-based, from the bottom) to a float32 (d,)
    tensor of norm 1. ``metadata`` records how it was made (data, template,
    n_pairs, reading position, …); it must be JSON-serialisable.
    """

    directions: dict[int, torch.Tensor]
    method: str
    model_name: str
    model_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directions:
            raise InputError("directions: a steering vector needs at least one layer")
        clean: dict[int, torch.Tensor] = {}
        size = None
        for layer, v in self.directions.items():
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise InputError(f"directions: layer keys must be non-negative ints, got {layer!r}")
            v = torch.as_tensor(v).detach().to("cpu", torch.float32)
            if v.dim() != 1 or v.shape[0] == 0:
                raise InputError(
                    f"directions: layer {layer} must be a 1-D tensor, got shape {tuple(v.shape)}"
                )
            if size is not None and v.shape[0] != size:
                raise InputError(f"directions: layer {layer} has size {v.shape[0]}, others {size}")
            size = v.shape[0]
            if not bool(torch.isfinite(v).all()):
                raise InputError(f"directions: layer {layer} has NaN/inf entries")
            norm = float(v.norm())
            if not math.isclose(norm, 1.0, rel_tol=1e-3):
                raise InputError(
                    f"directions: layer {layer} has norm {norm:.6g}; directions must have unit norm"
                )
            clean[layer] = v
        self.directions = dict(sorted(clean.items()))
        json.dumps(self.metadata)  # fail early if not serialisable

    @property
    def layers(self) -> list[int]:
        return list(self.directions)

    @property
    def hidden_size(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])

    def header(self) -> dict[str, str]:
        """The safetensors header metadata: format, model, model hash, method,
        layers, and the metadata dict as canonical JSON."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model_name,
            "model_hash": self.model_hash,
            "method": self.method,
            "layers": json.dumps(self.layers),
            "metadata": json.dumps(self.metadata, sort_keys=True),
        }

    def to_bytes(self) -> bytes:
        """The safetensors file as bytes (tensors ``layer.<l>``), canonical: the
        same vector always gives the same bytes (see :func:`canonical_safetensors`)."""
        from safetensors.torch import save

        tensors = {f"layer.{layer}": v.contiguous() for layer, v in self.directions.items()}
        return canonical_safetensors(save(tensors, metadata=self.header()))

    def content_hash(self) -> str:
        """sha256 (16 hex digits) of :meth:`to_bytes`: equal for equal vectors."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the safetensors file atomically (:func:`steerbounds.io.write_bytes`);
        re-saving the same vector gives a byte-identical file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SteeringVector:
        """Read a file written by :meth:`save`. Every defect (not a file, not
        safetensors, another format, a tensor key that is not ``layer.<int>``,
        metadata that is not a JSON object, non-unit or non-finite directions) is an
        :class:`InputError` naming the file."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise InputError(f"vector: no such file {str(path)!r}")
        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"vector: {str(path)!r} is not a safetensors file: {exc}") from None
        if header.get("format") != FORMAT:
            raise InputError(f"vector: {str(path)!r} is not a steerbounds steering vector")
        directions: dict[int, torch.Tensor] = {}
        for key, value in tensors.items():
            prefix, _, index = key.partition(".")
            if prefix != "layer" or not index.isdigit():
                raise InputError(f"vector: {str(path)!r} has tensor {key!r}; expected keys 'layer.<int>'")
            directions[int(index)] = value
        try:
            metadata = json.loads(header.get("metadata", "{}"))
        except json.JSONDecodeError as exc:
            raise InputError(f"vector: {str(path)!r} has metadata that is not JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise InputError(f"vector: {str(path)!r} has metadata that is not a JSON object")
        try:
            return cls(
                directions=directions,
                method=header.get("method", ""),
                model_name=header.get("model", ""),
                model_hash=header.get("model_hash", ""),
                metadata=metadata,
            )
        except InputError as exc:
            raise InputError(f"vector: {str(path)!r}: {exc}") from None


def canonical_safetensors(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its JSON header re-written with sorted
    keys and no spaces, padded with spaces to 8 bytes as the format requires; the
    tensor bytes are unchanged. safetensors writes its metadata map in hash order,
    which differs between processes, so the same tensors gave different bytes (and
    hashes); this makes the bytes a function of the content."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


# --------------------------------------------------------------------------- reading


def _reader_hook(store: list[torch.Tensor], read: str, mask_ref: dict[str, torch.Tensor]) -> Callable:
    def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
        hidden = output if isinstance(output, torch.Tensor) else output[0]
        if read == "last":
            store.append(hidden[:, -1, :].detach().to("cpu", torch.float32))
        else:
            m = mask_ref["mask"].to(hidden.device, hidden.dtype).unsqueeze(-1)
            mean = (hidden * m).sum(dim=1) / m.sum(dim=1)
            store.append(mean.detach().to("cpu", torch.float32))

    return hook


@torch.no_grad()
def read_representations(
    model: SteerableModel,
    texts: Sequence[str],
    layers: list[int],
    *,
    read: str = "last",
    batch_size: int = 16,
) -> dict[int, torch.Tensor]:
    """Decoder-block outputs r^(l) for each text, (N, d) per layer, read at the
    last token (left padding puts it at position -1) or averaged over the real
    tokens."""
    stores: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    mask_ref: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for layer in layers:
            hook = _reader_hook(stores[layer], read, mask_ref)
            handles.append(model.layers[layer].register_forward_hook(hook))
        starts = range(0, len(texts), batch_size)
        for start in progress.bar(starts, desc="reading representations", unit="batch", leave=False):
            enc = model.encode(list(texts[start : start + batch_size]))
            mask_ref["mask"] = enc["attention_mask"]
            model.model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                position_ids=position_ids(enc["attention_mask"]),
                use_cache=False,
                logits_to_keep=1,
            )
    finally:
        for h in handles:
            h.remove()
    return {layer: torch.cat(v, dim=0) for layer, v in stores.items()}


def provenance(model: SteerableModel, layers: list[int]) -> dict[str, Any]:
    """The provenance every extraction records: the layers read, the module read from and
    steered (``model.layers.{l}`` output, :data:`MODULE_KEY`), the positions the vector is
    meant for (``"all"``, the paper's App. F.2), the model's type, depth and hidden size."""
    return {
        "layers_read": layers,
        "hidden_size": model.hidden_size,
        "n_layers": model.n_layers,
        "model_type": getattr(getattr(model.model, "config", None), "model_type", None),
        MODULE_KEY: f"{model.layers_attr}.{{l}}",
        HOOK_KEY: "output",
        POSITIONS_KEY: "all",
    }


def extracted_vector(
    model: SteerableModel,
    directions: dict[int, torch.Tensor],
    method: str,
    record: dict[str, Any],
    metadata: dict[str, Any] | None,
) -> SteeringVector:
    """The vector an extraction from ``model`` made: its unit ``directions`` per block, the
    ``method``'s name, and as metadata the extraction's ``record`` (its :func:`provenance`
    included) updated by the caller's ``metadata``, whose entries win."""
    return SteeringVector(
        directions=directions,
        method=method,
        model_name=model.name,
        model_hash=model.model_hash(),
        metadata={**record, **(metadata or {})},
    )


def extract_vector(
    model: SteerableModel,
    positive: Sequence[str],
    negative: Sequence[str],
    *,
    layers: object = None,
    method: str | Aggregator = "pca",
    read: str = "last",
    batch_size: int = 16,
    metadata: dict[str, Any] | None = None,
) -> SteeringVector:
    """Steering vector from paired positive/negative texts (App. F.2).

    Pair i is ``(positive[i], negative[i])``. For every layer in ``layers``
    (default all) the block outputs are read (``read="last"``: last token, as
    RepE's ``rep_token=-1``; ``"mean"``: mean over real tokens), the differences
    ``d_i = r_pos^i - r_neg^i`` are aggregated by ``method`` (``"pca"``,
    ``"pca_centered"``, ``"mean_diff"`` or a callable (n_pairs, d) → (d,)), and the
    result is normalised to unit norm and signed so that ``mean_i <v, d_i> ≥ 0``.
    ``metadata`` (data set, template, …) is stored with the vector, after the
    provenance this function records itself: the read position, the module read from and
    steered (``model.layers.{l}`` output, :data:`MODULE_KEY`), the positions it is meant
    for (``"all"``, the paper's App. F.2; a ``metadata`` entry overrides it), the model's
    type, depth and hidden size.
    """
    if isinstance(positive, str) or isinstance(negative, str):
        raise InputError("positive/negative: expected lists of texts, not a single string")
    positive, negative = list(positive), list(negative)
    if not positive or not negative:
        raise InputError("positive/negative: need at least one pair of texts (got an empty list)")
    if len(positive) != len(negative):
        raise InputError(
            f"positive/negative: pair counts differ ({len(positive)} positive, {len(negative)} negative); "
            f"they must be equal"
        )
    if not all(isinstance(t, str) and t for t in positive + negative):
        raise InputError("positive/negative: every item must be a non-empty string")
    if read not in READS:
        raise InputError(f"read: {read!r} is not allowed; use one of {', '.join(READS)}")
    check_int("batch_size", batch_size)
    if callable(method):
        aggregate, method_name = method, getattr(method, "__name__", "custom")
    elif method in AGGREGATORS:
        aggregate, method_name = AGGREGATORS[method], method
    else:
        raise InputError(
            f"method: {method!r} is not allowed; use one of {', '.join(AGGREGATORS)} or a callable"
        )
    idx = model.resolve_layers(layers)

    pos = read_representations(model, positive, idx, read=read, batch_size=batch_size)
    neg = read_representations(model, negative, idx, read=read, batch_size=batch_size)
    directions: dict[int, torch.Tensor] = {}
    for layer in idx:
        diffs = (pos[layer] - neg[layer]).to(torch.float64)
        if not bool(diffs.any()):
            raise InputError(
                f"positive/negative: layer {layer} gives a zero direction "
                f"(identical representations of the two sides)"
            )
        v = torch.as_tensor(aggregate(diffs)).to(torch.float64).reshape(-1)
        if v.shape[0] != diffs.shape[1]:
            raise InputError(
                f"method: the aggregator returned shape {tuple(v.shape)}, expected ({diffs.shape[1]},)"
            )
        norm = float(v.norm())
        if not math.isfinite(norm) or norm == 0.0:
            raise InputError(
                f"positive/negative: layer {layer} gives a zero or non-finite direction from the aggregator"
            )
        v = v / norm
        if float((diffs @ v).mean()) < 0:
            v = -v
        directions[layer] = v.to(torch.float32)
    record = {"n_pairs": len(positive), "read": read, **provenance(model, idx)}
    return extracted_vector(model, directions, method_name, record, metadata)
