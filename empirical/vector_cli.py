"""``steerbounds vector info | import | export``: steering vectors in other tools' formats.

Registration imports no torch; each command loads what it needs when it runs.
Conventions (block numbering, how norms fold into r_e): :mod:`steerbounds.empirical.steering.formats`.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from steerbounds import options
from steerbounds.errors import InputError

READ_FORMATS = ("auto", "steerbounds", "gguf", "lm-eval")
WRITE_FORMATS = ("gguf", "lm-eval")
NORMS = ("unit", "source")
_NEGATIVE_INDEX = re.compile(r"(^|[,:\s])-\d")


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", metavar="FILE", help="the vector file (.safetensors, .gguf, or .pt/.pth of lm-eval)"
    )
    p.add_argument(
        "--from",
        dest="from_format",
        default="auto",
        choices=READ_FORMATS,
        help="format of FILE: steerbounds (our .safetensors), gguf (llama.cpp/repeng control vector), "
        "lm-eval (lm-evaluation-harness steered .pt), or auto from the suffix (default auto)",
    )


def _model_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--model",
        default=None,
        help=f"HF folder, .gguf model file or hub id to {what} (default: none, no model is loaded)",
    )
    options.add_placement(p, prefix="with --model: ")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=options.DTYPE_CHOICES,
        help="with --model: weights' precision (default float32)",
    )
    options.add_progress(p)


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def register(subparsers: Any) -> None:
    """Add ``vector`` with its subcommands ``info``, ``import`` and ``export``."""
    vec = subparsers.add_parser(
        "vector",
        help="inspect steering vectors and convert them to and from llama.cpp GGUF and lm-eval files",
        description="Inspect a steering vector, or convert it between steerbounds' .safetensors, "
        "llama.cpp/repeng GGUF control vectors and lm-evaluation-harness 'steered' files. Layer l is "
        "decoder block l (0-based) in every format; exported directions are unit norm, so the other "
        "tool's scale equals r_e (eq. 2).",
    )
    vec.set_defaults(func=lambda _args: _usage(vec))
    sub = vec.add_subparsers(dest="vector_command", metavar="COMMAND", parser_class=type(vec))

    info = options.add_command(sub, "info", _info)
    _input_options(info)
    _json_option(info)

    imp = options.add_command(sub, "import", _import)
    _input_options(imp)
    imp.add_argument("--out", required=True, help="output .safetensors file")
    _model_options(imp, "check the layers and hidden size against and record (name, hash, module)")
    _json_option(imp)

    exp = options.add_command(sub, "export", _export)
    _input_options(exp)
    exp.add_argument("--out", required=True, help="output file (.gguf or .pt)")
    exp.add_argument(
        "--format",
        default=None,
        choices=WRITE_FORMATS,
        help="gguf or lm-eval (default: from the suffix of --out, .gguf = gguf, .pt/.pth = lm-eval)",
    )
    options.add_checked(
        exp,
        "--coefficient",
        options.FINITE,
        default=None,
        help="lm-eval only: r_e, written as steering_coefficient (default 1); llama.cpp takes its scale "
        "at run time instead",
    )
    exp.add_argument(
        "--layers",
        default=None,
        help="blocks to write, e.g. 1:4 or 2,3 or -3:-1 (negative counts from the top; default: all of the "
        "vector's layers)",
    )
    exp.add_argument(
        "--norms",
        default="unit",
        choices=NORMS,
        help="unit: write the unit directions v_l, so the tool's scale is r_e (default); source: write "
        "k_l·v_l, the vectors of the file it was imported from",
    )
    exp.add_argument(
        "--model-hint",
        default=None,
        help="gguf only: controlvector.model_hint (default: the recorded model type, else the model name)",
    )
    exp.add_argument(
        "--hookpoint",
        default=None,
        help="lm-eval only: hookpoint template under model.base_model with {l} for the block, e.g. "
        "'layers.{l}' (default: from --model, else from the vector's recorded module)",
    )
    _model_options(exp, "check the layers and hidden size against and resolve lm-eval hookpoints on")
    _json_option(exp)


# --------------------------------------------------------------------------- commands


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _print(obj: dict[str, Any], rows: list[tuple[str, str]], as_json: bool) -> None:
    from tabulate import tabulate

    from steerbounds import io

    if as_json:
        print(io.dumps(obj, sort_keys=False))
    else:
        print(tabulate(rows, headers=["field", "value"], disable_numparse=True))


def _load(args: argparse.Namespace) -> Any:
    if args.model is None:
        return None
    from steerbounds.empirical.steering.models import load_model

    return load_model(args.model, dtype=args.dtype, **options.placement(args))


def _checked_input(args: argparse.Namespace) -> str:
    """The format of FILE, after checking it is a file (before any model is loaded)."""
    from pathlib import Path

    from steerbounds.empirical.steering.vector_files import file_format

    if not Path(args.file).is_file():
        raise InputError(f"FILE: no such file {args.file!r}")
    return file_format(args.file, args.from_format, option="--from")


def _info(args: argparse.Namespace) -> int:
    """print a vector's model, layers, norms, method, module, reading, positions and template

    Print what a vector records: model name and hash, hidden size, layers, norms, method, the module
    it was read from and is added to, the read position (last/mean), the steered positions
    (all/new), the contrast-pair templates and, for an imported vector, its source format and
    per-layer scales k_l. Fields a vector does not record read 'unknown' (null in --json).
    """
    from steerbounds.empirical.steering.provenance import describe_vector, info_rows
    from steerbounds.empirical.steering.vector_files import read_vector

    fmt = _checked_input(args)
    info = {"file": args.file, "format": fmt, **describe_vector(read_vector(args.file, fmt))}
    _print(info, [("file", args.file), ("format", fmt), *info_rows(info)], args.json)
    return 0


def _import(args: argparse.Namespace) -> int:
    """convert a GGUF or lm-eval vector into a steerbounds .safetensors vector

    Read FILE and save it as a steerbounds vector: directions v_l = w_l/|w_l| and the per-layer
    scales k_l (GGUF: |w_l|; lm-eval: steering_coefficient·|w_l|) in its metadata; the source at
    scale s is eq. 2 with r_e^(l) = s·k_l.
    """
    from steerbounds import io
    from steerbounds.empirical.steering.formats import source_scales
    from steerbounds.empirical.steering.vector_files import read_vector

    if not args.out.endswith(".safetensors"):
        raise InputError(f"--out: expected a .safetensors file name, got {args.out!r}")
    io.check_output_file(args.out, option="--out")
    fmt = _checked_input(args)
    vector = read_vector(args.file, fmt, model=_load(args))
    path = vector.save(args.out)
    scales = {str(layer): k for layer, k in source_scales(vector).items()}
    result = {"written": str(path), "from": fmt, "layers": vector.layers, "scales": scales}
    rows = [
        ("written", str(path)),
        ("from", fmt),
        ("layers", ", ".join(map(str, vector.layers))),
        ("scales k_l", ", ".join(f"{layer}: {k:.6g}" for layer, k in scales.items())),
        ("steer as", "r_e^(l) = s·k_l reproduces the source at its scale s (eq. 2)"),
    ]
    _print(result, rows, args.json)
    return 0


def _export_layers(spec: str | None, vector: Any, model: Any) -> list[int] | None:
    """``--layers`` as block indices: resolved on the model's depth (``--model``, else
    the depth the vector records); negative indices need one of them."""
    from steerbounds.empirical.steering.layers import resolve_layers

    if spec is None:
        return None
    depth = model.n_layers if model is not None else vector.metadata.get("n_layers")
    if depth is None:
        if _NEGATIVE_INDEX.search(spec):
            raise InputError(
                "--layers: negative indices count from the top, and the vector does not record its "
                "model's depth; pass --model"
            )
        depth = max(vector.layers) + 1
    layers: list[int] = resolve_layers(spec, int(depth))
    return layers


def _export(args: argparse.Namespace) -> int:
    """write a vector as a llama.cpp GGUF control vector or an lm-eval steered file

    Write FILE's vector for another tool. gguf: tensors direction.l (block l, l ≥ 1; llama.cpp
    refuses direction.0), run with llama-cli --control-vector-scaled OUT r_e. lm-eval: hookpoints
    like layers.l with steering_coefficient r_e (--coefficient), run with lm_eval --model steered
    --model_args pretrained=MODEL,steer_path=OUT.
    """
    from steerbounds import io
    from steerbounds.empirical.steering.vector_files import file_format, read_vector

    kind = args.format or file_format(args.out, option="--format")
    if kind not in WRITE_FORMATS:
        raise InputError(
            f"--format: {kind!r} cannot be exported to; use {' or '.join(WRITE_FORMATS)} "
            f"(steerbounds vector import writes .safetensors)"
        )
    if kind == "gguf" and (args.coefficient is not None or args.hookpoint is not None):
        raise InputError(
            "--coefficient/--hookpoint: lm-eval only; llama.cpp takes the scale at run time "
            "(--control-vector-scaled FILE r_e)"
        )
    if kind == "lm-eval" and args.model_hint is not None:
        raise InputError("--model-hint: gguf only")
    io.check_output_file(args.out, option="--out")
    fmt = _checked_input(args)
    model = _load(args)
    vector = read_vector(args.file, fmt, model=model)
    if vector.metadata.get("positions") == "new":
        print("note: this vector was made for the new positions; the other tool adds at all", file=sys.stderr)
    if model is not None and vector.model_hash and vector.model_hash != model.model_hash():
        print(f"note: the vector was made on another model ({vector.model_name!r})", file=sys.stderr)
    layers = _export_layers(args.layers, vector, model)
    if kind == "gguf":
        from steerbounds.empirical.steering.gguf_format import export_gguf

        path = export_gguf(vector, args.out, layers=layers, norms=args.norms, model_hint=args.model_hint)
        usage = f"llama-cli -m MODEL.gguf --control-vector-scaled {path} R_E"
        coefficient = None
    else:
        from steerbounds.empirical.steering.lm_eval_format import export_lm_eval

        coefficient = 1.0 if args.coefficient is None else args.coefficient
        path = export_lm_eval(
            vector,
            args.out,
            coefficient,
            layers=layers,
            norms=args.norms,
            hookpoint=args.hookpoint,
            model=model,
        )
        usage = f"lm_eval --model steered --model_args pretrained=MODEL,steer_path={path} --tasks TASK"
    written = layers if layers is not None else vector.layers
    result = {
        "written": str(path),
        "format": kind,
        "layers": written,
        "norms": args.norms,
        "coefficient": coefficient,
        "usage": usage,
    }
    rows = [
        ("written", str(path)),
        ("format", kind),
        ("layers", ", ".join(map(str, written))),
        ("norms", args.norms),
        ("coefficient r_e", "set at run time (R_E below)" if coefficient is None else f"{coefficient:g}"),
        ("run with", usage),
    ]
    _print(result, rows, args.json)
    return 0
