"""A model file read from disk is untrusted: its weights must fit its spec before it runs.

Every gather in the forward pass clamps an index that is out of range instead of failing, so a
file whose spec promises more than its weights hold runs and prints wrong outputs: two tokens
added to the vocabulary read another token's embedding, a `max_seq_len` of 1,000 on weights of
8 positions reads the last position's, NaN weights decode as the first output value.
`consistency_problem` names the first such disagreement, or None: every weight finite and of
the shape the spec and the residual width say, every residual index the spec names inside the
width.  Shapes may be larger than the spec needs where `compiled_model.shapes.pad` pads (more
token rows, positions or output columns).  A layer's head modes (`mode` and `integer`, one per
head) come together, and every mode is a known code (`compiled_model.arithmetic.AVERAGE`, SUM,
LATEST): the arithmetic would take any other code for an average.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiled_model.arithmetic import AVERAGE, LATEST, SUM
from compiled_model.spec import ModelSpec

Params = dict[str, Any]


def consistency_problem(params: Params, spec: ModelSpec) -> str | None:
    """The first way the weights and the spec disagree, in words; None when they agree."""
    if spec.max_seq_len < 1:
        return f"its max_seq_len is {spec.max_seq_len!r}, not a positive integer"
    problem = _nonfinite(params)
    if problem is not None:
        return problem
    width = spec.width
    outputs = len(spec.output.values) if spec.output.kind == "categorical" else 1
    expected: list[tuple[str, Any, tuple[int | None, ...], tuple[int, ...]]] = [
        ("token_embed", params.get("token_embed"), (None, width), (len(spec.vocab) + 1, width)),
        # one column per value of a categorical output, one read-out column for a number
        ("unembed", params.get("unembed"), (width, None), (width, outputs)),
    ]
    if "pos_poly" in params:
        expected.append(("pos_poly", params["pos_poly"], (3, width), (3, width)))
    else:
        expected.append(("pos_embed", params.get("pos_embed"), (None, width), (spec.max_seq_len + 1, width)))
    for name, array, shape, least in expected:
        problem = _shape_problem(name, array, shape, least)
        if problem is not None:
            return problem
    layers = params.get("layers", [])
    for number, layer in enumerate(layers):
        problem = _layer_problem(number, layer, width)
        if problem is not None:
            return problem
    return _index_problem(spec, [np.shape(layer["attn"]["w_q"])[0] for layer in layers])


def _index_problem(spec: ModelSpec, heads: list[int]) -> str | None:
    """Where the spec names a residual index past the width, or describes other heads than the
    weights hold."""
    width = spec.width
    for mixture in spec.mixtures:
        if any(not 0 <= dim < width for dim in mixture.dims):
            return f"a mixture check of {mixture.node} reads a dimension past the residual width {width}"
    if spec.heads and [len(layer) for layer in spec.heads] != heads:
        return f"its head descriptors do not match the heads per layer of its weights {heads}"
    for layer in spec.heads:
        for head in layer:
            for name in ("target", "key", "writer"):
                if any(not 0 <= dim < width for dim, _ in getattr(head, name)):
                    return f"a {head.kind} head's {name} reads a dimension past the residual width {width}"
    return None


def _nonfinite(tree: Any, path: str = "") -> str | None:
    """The first weight (by its path in the file) with a value that is not finite."""
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else None
    if children is None:
        array = np.asarray(tree)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            return f"its weight {path} holds {int(np.sum(~np.isfinite(array)))} values that are not finite"
        return None
    for key, child in children:
        problem = _nonfinite(child, f"{path}/{key}" if path else str(key))
        if problem is not None:
            return problem
    return None


def _shape_problem(
    name: str, array: Any, shape: tuple[int | None, ...], least: tuple[int, ...]
) -> str | None:
    """None when `array` has `shape` (None: any size) and is at least `least` in every axis."""
    if array is None:
        return f"its weights lack {name}"
    actual = np.shape(array)
    fits = len(actual) == len(shape) and all(
        (want is None or got == want) and got >= low for got, want, low in zip(actual, shape, least)
    )
    if fits:
        return None
    wanted = " x ".join(f"at least {low}" if want is None else str(want) for want, low in zip(shape, least))
    return f"its weight {name} is {' x '.join(map(str, actual))}, where the metadata needs {wanted}"


def _layer_problem(number: int, layer: Params, width: int) -> str | None:
    try:
        attn, mlp = layer["attn"], layer["mlp"]
        heads, _, depth = np.shape(attn["w_q"])
        value_depth = np.shape(attn["w_v"])[2]
        hidden = np.shape(mlp["w_in"])[1]
        shapes = {
            "attn/w_q": (np.shape(attn["w_q"]), (heads, width, depth)),
            "attn/w_k": (np.shape(attn["w_k"]), (heads, width, depth)),
            "attn/w_v": (np.shape(attn["w_v"]), (heads, width, value_depth)),
            "attn/w_o": (np.shape(attn["w_o"]), (heads, value_depth, width)),
            "mlp/w_in": (np.shape(mlp["w_in"]), (width, hidden)),
            "mlp/b_in": (np.shape(mlp["b_in"]), (hidden,)),
            "mlp/w_out": (np.shape(mlp["w_out"]), (hidden, width)),
            "mlp/b_out": (np.shape(mlp["b_out"]), (width,)),
        }
        if "mode" in attn or "integer" in attn:
            shapes |= {f"attn/{name}": (np.shape(attn[name]), (heads,)) for name in ("mode", "integer")}
    except (KeyError, TypeError, ValueError, IndexError) as error:
        return f"its layer {number} is incomplete ({type(error).__name__}: {error})"
    for name, (actual, wanted) in shapes.items():
        if tuple(actual) != wanted:
            return (
                f"its weight layers/{number}/{name} is {' x '.join(map(str, actual))}, "
                f"where the residual width {width} needs {' x '.join(map(str, wanted))}"
            )
    if "mode" in attn:
        codes = set(np.unique(np.asarray(attn["mode"])).tolist()) - {AVERAGE, SUM, LATEST}
        if codes:
            return f"its layer {number} has head modes {sorted(codes)}, not one of {AVERAGE}, {SUM}, {LATEST}"
    return None
