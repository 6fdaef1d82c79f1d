"""Array shapes of compiled models, and zero-padding to a common shape.

The jitted forward pass and decoder take the weights as arguments, so one XLA compilation
serves every model with the same shapes, and `jax.vmap` runs a batch of them side by side.
Models compiled from one program with different bound tables (the Turing Program for machines
of one size) differ a little in shape: a value set a table leaves smaller costs a residual
dimension or a hidden unit less.  Padding with zeros removes the difference without changing
what a model computes: a zero residual dimension is never read, a hidden unit with zero weights
outputs relu(0) = 0, a head with zero weights writes nothing, a layer of zeros is the identity,
and an output column beyond the model's output values is never decoded.  A layer with head modes
(`compiled_model.arithmetic.moded_weights`) in any model of a batch gets them in every model:
added heads, and the heads of a model without modes, average (AVERAGE) and score in floats
(integer factor 0), which is what hard attention without modes computes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiled_model.arithmetic import AVERAGE, embed_positions
from compiled_model.errors import ModelError
from compiled_model.spec import HeadDescriptor, ResidualDim
from compiled_model.transformer import Params, Transformer

PADDING = "pad"
"""Residual labels of padding dimensions are `pad`, `pad#2`, ..."""


@dataclass(frozen=True)
class LayerShape:
    """A layer's sizes, and whether its attention has head modes (`mode` and `integer`)."""

    heads: int
    key_depth: int
    value_depth: int
    hidden: int
    moded: bool = False


@dataclass(frozen=True)
class ModelShape:
    """Everything that sizes a model's arrays (`positions` is max_seq_len + 1, the BOS row;
    `table` whether positions are embedded by a table of that many rows, else by the
    polynomial of `transformer.embed_positions`)."""

    vocab: int
    positions: int
    width: int
    outputs: int
    layers: tuple[LayerShape, ...]
    table: bool = True

    def union(self, other: ModelShape) -> ModelShape:
        """The smallest shape both fit in."""
        if self.positions != other.positions:
            raise ModelError(
                f"models for {self.positions - 1} and {other.positions - 1} positions cannot share a shape"
            )
        empty = LayerShape(0, 0, 0, 0)
        count = max(len(self.layers), len(other.layers))
        mine = self.layers + (empty,) * (count - len(self.layers))
        theirs = other.layers + (empty,) * (count - len(other.layers))
        return ModelShape(
            vocab=max(self.vocab, other.vocab),
            positions=self.positions,
            width=max(self.width, other.width),
            outputs=max(self.outputs, other.outputs),
            table=self.table or other.table,
            layers=tuple(
                LayerShape(*(max(a, b) for a, b in zip(vars(x).values(), vars(y).values())))
                for x, y in zip(mine, theirs)
            ),
        )


def shape_of(model: Transformer) -> ModelShape:
    params = model.params
    vocab, width = params["token_embed"].shape
    layers = tuple(
        LayerShape(
            heads=layer["attn"]["w_q"].shape[0],
            key_depth=layer["attn"]["w_q"].shape[2],
            value_depth=layer["attn"]["w_v"].shape[2],
            hidden=layer["mlp"]["w_in"].shape[1],
            moded="mode" in layer["attn"],
        )
        for layer in params["layers"]
    )
    positions = model.max_seq_len + 1
    return ModelShape(vocab, positions, width, params["unembed"].shape[1], layers, "pos_poly" not in params)


def common_shape(models: Iterable[Transformer]) -> ModelShape:
    shapes = [shape_of(model) for model in models]
    if not shapes:
        raise ModelError("no models to take a common shape of")
    result = shapes[0]
    for shape in shapes[1:]:
        result = result.union(shape)
    return result


def _padded(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if any(have > want for have, want in zip(array.shape, shape)):
        raise ModelError(f"an array of shape {array.shape} does not fit in {shape}")
    return np.pad(array, [(0, want - have) for have, want in zip(array.shape, shape)])


def _layer(layer: dict[str, Any] | None, shape: LayerShape, width: int) -> dict[str, Any]:
    """A layer's arrays padded to `shape`; a missing layer (None) is all zeros, the identity.
    In a moded shape, heads without a mode average and score in floats (AVERAGE is 0)."""
    h, dk, dv, m = shape.heads, shape.key_depth, shape.value_depth, shape.hidden
    if layer is not None and "mode" in layer["attn"] and not shape.moded:
        # dropping the arrays would turn its sum and latest heads into averages, silently
        raise ModelError("a layer with head modes (sum or latest heads) does not fit in a shape without them")
    targets = {
        "attn": {"w_q": (h, width, dk), "w_k": (h, width, dk), "w_v": (h, width, dv), "w_o": (h, dv, width)},
        "mlp": {"w_in": (width, m), "b_in": (m,), "w_out": (m, width), "b_out": (width,)},
    }
    if shape.moded:
        targets["attn"] |= {"mode": (h,), "integer": (h,)}
    return {
        part: {name: _padded(_array(layer, part, name, target), target) for name, target in arrays.items()}
        for part, arrays in targets.items()
    }


def _array(layer: dict[str, Any] | None, part: str, name: str, target: tuple[int, ...]) -> np.ndarray:
    """A layer's array, or what stands for it where the layer or its head modes are missing:
    zeros of `target` for a missing layer, one AVERAGE mode (0) or integer factor 0 per head
    for a layer without modes."""
    if layer is None:
        return np.zeros(target)
    if name in layer[part]:
        return np.asarray(layer[part][name])
    return np.full(np.shape(layer["attn"]["w_q"])[0], float(AVERAGE) if name == "mode" else 0.0)


def pad(model: Transformer, shape: ModelShape) -> Transformer:
    """The same model with its arrays zero-padded to `shape` (which it must fit in)."""
    params: Params = model.params
    if len(params["layers"]) > len(shape.layers):
        raise ModelError(f"a model of {len(params['layers'])} layers does not fit in {len(shape.layers)}")
    layers = [*params["layers"], *[None] * (len(shape.layers) - len(params["layers"]))]
    if shape.table:  # a model of polynomial positions among table ones gets its table
        table = embed_positions(params, np.arange(model.max_seq_len + 1), np)
        positions = {"pos_embed": _padded(table, (shape.positions, shape.width))}
    else:
        positions = {"pos_poly": _padded(params["pos_poly"], (3, shape.width))}
    padded = {
        "token_embed": _padded(params["token_embed"], (shape.vocab, shape.width)),
        **positions,
        "layers": [_layer(layer, ls, shape.width) for layer, ls in zip(layers, shape.layers)],
        "unembed": _padded(params["unembed"], (shape.width, shape.outputs)),
    }
    extra = shape.width - len(model.labels)
    padding = [ResidualDim(PADDING if k == 0 else f"{PADDING}#{k + 1}", "padding") for k in range(extra)]
    spec = dataclasses.replace(model.spec, residual=(*model.spec.residual, *padding), heads=_descriptors(model, shape))
    return Transformer(padded, spec)


def _descriptors(model: Transformer, shape: ModelShape) -> tuple[tuple[HeadDescriptor, ...], ...]:
    """The model's head descriptors for its padded layers: a head of zeros scores every key
    alike and writes nothing, so each padding head is a running one.  A model without
    descriptors stays without (the fast passes then refuse it): describing its own heads as
    running would make them compute what they do not."""
    if not model.spec.heads:
        return ()
    heads = [*model.spec.heads, *[()] * (len(shape.layers) - len(model.spec.heads))]
    running = HeadDescriptor("running")
    return tuple((*layer, *[running] * (ls.heads - len(layer))) for layer, ls in zip(heads, shape.layers))
