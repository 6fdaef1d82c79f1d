"""A `ModelSpec` as JSON text, and back, for model files.

Reading is strict, because a model file is untrusted: every field must be there with its type,
or the file is refused with the field's name (a `ValueError` that `compiled_model.serialization`
reports as a damaged file).  Vocabulary tokens, output values and indicated values keep their
Python type through tagging (`encode_value`: 1, 1.0, True and "1" stay apart).  A text without
a `format` field is the first format, converted by `compiled_model.legacy`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, get_args

from compiled_model import legacy
from compiled_model.errors import ModelError
from compiled_model.spec import (
    FORMAT,
    HEAD_KINDS,
    Attention,
    BlockDescription,
    BlockPrecision,
    DimKind,
    HeadDescriptor,
    LayerDescription,
    MixtureCheck,
    ModelSpec,
    OutputDecoding,
    Precision,
    ResidualDim,
)


class UnknownFormat(ModelError):
    """A model file of a format this code does not read (a later release wrote it)."""


def encode_value(value: Any) -> Any:
    """A JSON form of an atom that keeps its type (1, 1.0, True and "1" stay apart)."""
    if value is None:
        return {"none": None}
    for tag, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return {tag: value}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v) for v in value]}
    raise ModelError(f"the value {value!r} cannot be saved in a model file")


_ATOMS = {"none": type(None), "bool": bool, "int": int, "float": float, "str": str}


def decode_value(data: Any) -> Any:
    """The atom `encode_value` wrote; a ValueError for anything else (the file is untrusted)."""
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"{data!r} is not a tagged value")
    ((kind, value),) = data.items()
    if kind == "tuple" and isinstance(value, list):
        return tuple(decode_value(v) for v in value)
    atom = _ATOMS.get(kind)
    if atom is None or type(value) is not atom and not (atom is float and type(value) is int):
        raise ValueError(f"{data!r} is not a tagged value")
    return float(value) if atom is float else value


def spec_to_json(spec: ModelSpec) -> str:
    """The spec as JSON text of the current FORMAT."""
    return json.dumps(spec_to_data(spec))


def spec_from_json(text: str) -> ModelSpec:
    """The spec of JSON text `spec_to_json` wrote (or a first-format file's)."""
    return spec_from_data(json.loads(text))


def spec_to_data(spec: ModelSpec) -> dict[str, Any]:
    """The spec as JSON data of the current FORMAT (atoms tagged with their types)."""
    data = asdict(spec)
    data["vocab"] = [encode_value(token) for token in spec.vocab]
    data["output"]["values"] = [encode_value(value) for value in spec.output.values]
    data["residual"] = [{**dim, "value": encode_value(dim["value"])} for dim in data["residual"]]
    return {"format": FORMAT, **data}


def spec_from_data(data: Any) -> ModelSpec:
    """The spec of a model file's JSON data: the current format, or the first one converted;
    an UnknownFormat (a ModelError) for a later format, a ValueError for data that is no spec."""
    if not isinstance(data, dict):
        raise ValueError("the metadata is not a JSON object")
    version = data.get("format", 1)
    if version == 1:
        data = legacy.converted(data)
    elif version != FORMAT:
        raise UnknownFormat(
            f"the model file is of format {version!r}; this rasp-toolkit reads formats 1 and {FORMAT} "
            "(a newer release wrote it: upgrade rasp-toolkit, or compile the program again)"
        )
    try:
        return _spec(data)
    except KeyError as error:
        raise ValueError(f"its spec lacks the field {error}") from None
    except (TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"its spec is malformed ({error})") from None


def _typed(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"its field {name!r} is {value!r}")
    return value


def _spec(data: dict[str, Any]) -> ModelSpec:
    attention = _typed(data, "attention", dict)
    output = _typed(data, "output", dict)
    precision = _typed(data, "precision", dict)
    return ModelSpec(
        program=_typed(data, "program", str),
        vocab=tuple(decode_value(token) for token in _typed(data, "vocab", list)),
        max_seq_len=_typed(data, "max_seq_len", int),
        causal=_typed(data, "causal", bool),
        attention=Attention(_typed(attention, "mode", str), float(_typed(attention, "tie_window", (int, float)))),
        residual=tuple(_residual_dim(dim) for dim in _typed(data, "residual", list)),
        output=_output(output),
        layout=tuple(_layer(layer) for layer in _typed(data, "layout", list)),
        precision=Precision(
            _typed(precision, "float32_ok", bool),
            tuple(_block_precision(record) for record in _typed(precision, "heads", list)),
            tuple(_block_precision(record) for record in _typed(precision, "mlps", list)),
        ),
        mixtures=tuple(
            MixtureCheck(
                _typed(m, "node", str),
                tuple(int(d) for d in _typed(m, "dims", list)),
                _typed(m, "reason", str) if "reason" in m else "mixture",  # files before the reasons had none
            )
            for m in _typed(data, "mixtures", list)
        ),
        heads=tuple(tuple(_head(head) for head in layer) for layer in _typed(data, "heads", list)),
        cache_key=data.get("cache_key") if isinstance(data.get("cache_key"), str) else None,
    )


def _residual_dim(data: dict[str, Any]) -> ResidualDim:
    kind, sop = _typed(data, "kind", str), data.get("sop")
    if kind not in get_args(DimKind):
        raise TypeError(f"a residual dimension's kind is {kind!r}")
    label, value = _typed(data, "label", str), decode_value(data["value"])
    return ResidualDim(label, kind, sop if isinstance(sop, str) else None, value)


def _output(data: dict[str, Any]) -> OutputDecoding:
    kind = _typed(data, "kind", str)
    if kind not in ("categorical", "numerical", "fraction", "integer"):
        raise TypeError(f"the output's kind is {kind!r}")
    return OutputDecoding(kind, tuple(decode_value(v) for v in _typed(data, "values", list)))


def _block(data: dict[str, Any]) -> BlockDescription:
    return BlockDescription(
        _typed(data, "node", str),
        tuple(str(read) for read in _typed(data, "reads", list)),
        tuple(str(write) for write in _typed(data, "writes", list)),
        _typed(data, "sop", str) if "sop" in data else "",  # recorded since issue 26
        _typed(data, "units", int) if "units" in data else 0,
    )


def _layer(data: dict[str, Any]) -> LayerDescription:
    return LayerDescription(
        tuple(_block(head) for head in _typed(data, "heads", list)),
        tuple(_block(mlp) for mlp in _typed(data, "mlps", list)),
    )


def _block_precision(data: dict[str, Any]) -> BlockPrecision:
    figures = _typed(data, "figures", dict)
    return BlockPrecision(
        _typed(data, "node", str), _typed(data, "float32_ok", bool), _typed(data, "float64_ok", bool),
        _typed(data, "units", int), {str(k): v for k, v in figures.items() if isinstance(v, (int, float))},
    )


def _head(data: dict[str, Any]) -> HeadDescriptor:
    kind = _typed(data, "kind", str)
    if kind not in HEAD_KINDS:
        raise TypeError(f"a head descriptor's kind is {kind!r}")
    target = _linear(data, "target")
    outside = _typed(data, "outside", str)
    if outside not in ("bos", "clamp"):
        raise TypeError(f"a lookup head's outside is {outside!r}")
    key, writer = (_linear(data, name) if name in data else () for name in ("key", "writer"))
    return HeadDescriptor(kind, target, outside, key, writer)  # type: ignore[arg-type]


def _linear(data: dict[str, Any], name: str) -> tuple[tuple[int, float], ...]:
    return tuple((int(dim), float(c)) for dim, c in _typed(data, name, list))
