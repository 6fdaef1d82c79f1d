"""The compiled Transformer as an object: tokens in, output values out, whole or one token at
a time, saved and loaded.

The arithmetic is `compiled_model.arithmetic`'s, the file formats `compiled_model.serialization`'s; this
module turns tokens into ids and residual streams into output values.  The model prepends the
beginning-of-sequence token (id 0) to every input; in a batch, shorter inputs are padded and
their padding masked out of attention.  By default a model runs in float32 when its precision
record says float32 is enough, else in float64 (JAX's 64-bit mode scoped to the call).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import jax
import numpy as np

from compiled_model import serialization
from compiled_model.arithmetic import (
    Params,
    forward,
    precision,
    sliced_mlps,
    to_device,
    whole,
)
from compiled_model.errors import ModelError
from compiled_model.spec import MixtureCheck, ModelSpec
from rasp.errors import RaspEvaluationError

#: A categorical aggregate's output counts as one value when its largest indicator reaches
#: this (below, it averaged several values: the model reports a mixture).  The compiler's
#: margins aim at it (`compiler.margins`).
MIXTURE_THRESHOLD = 0.99

# ------------------------------------------------------------------------------ the model


class Transformer:
    """A compiled RASP program: `params`, the weights as plain numpy arrays, and `spec`, what
    they compute (`compiled_model.spec.ModelSpec`: vocabulary, length, residual layout, output
    decoding, attention mode, precision record)."""

    def __init__(self, params: Params, spec: ModelSpec):
        self.params = params
        self.spec = spec
        self._ids = {_token_key(token): i for i, token in enumerate(spec.vocab, start=1)}
        self._device: dict[str, Params] = {}

    @property
    def vocab(self) -> tuple[Any, ...]:
        return self.spec.vocab

    @property
    def max_seq_len(self) -> int:
        return self.spec.max_seq_len

    @property
    def causal(self) -> bool:
        return self.spec.causal

    @property
    def labels(self) -> list[str]:
        """The residual dimensions' labels, in order (`spec.residual` says what each holds)."""
        return list(self.spec.labels)

    @property
    def window(self) -> float | None:
        """None for softmax attention, else hard attention's tie window (what the arithmetic takes)."""
        return self.spec.attention.window

    # ------------------------------------------------------------------------- reporting

    def summary(self) -> dict[str, Any]:
        arrays = list(self.arrays().values())
        layers = self.params["layers"]
        hidden = [layer["mlp"]["w_in"].shape[1] for layer in layers]
        return {
            "layers": len(layers),
            "heads": sum(layer["attn"]["w_q"].shape[0] for layer in layers),
            "residual_width": len(self.labels),
            "mlp_hidden": max(hidden, default=0),
            "mlp_hidden_total": sum(hidden),
            "params": int(sum(a.size for a in arrays)),
            "nonzero_params": int(sum(np.count_nonzero(a) for a in arrays)),
            "float32_ok": self.spec.precision.float32_ok,
            "attention": self.spec.attention.mode,
        }

    # --------------------------------------------------------------------------- running

    @property
    def has_modes(self) -> bool:
        """Whether some head sums or takes the latest key (`compiled_model.arithmetic.moded_weights`)."""
        return any("mode" in layer["attn"] for layer in self.params["layers"])

    def dtype(self, dtype: str | None = None) -> str:
        """The number format runs use: `dtype`, or float32 where the precision record allows it.
        A model with head modes runs in float64 only: its integer heads score in int64, which
        JAX gives only in its 64-bit mode."""
        if dtype is None:
            return "float32" if self.spec.precision.float32_ok else "float64"
        if dtype != "float64" and self.has_modes:
            raise ModelError(f"this model has sum or latest heads, which run in float64 only, not {dtype}")
        return dtype

    def device_params(self, dtype: str | None = None) -> Params:
        """The weights as JAX arrays of `dtype` (cached); run them under
        `compiled_model.arithmetic.precision(dtype)`."""
        dtype = self.dtype(dtype)
        if dtype not in self._device:
            self._device[dtype] = to_device(self.params, dtype)
        return self._device[dtype]

    def token_ids(self, tokens: Sequence[Any]) -> list[int]:
        if len(tokens) > self.max_seq_len:
            raise RaspEvaluationError(
                f"the input has {len(tokens)} tokens; this model takes at most {self.max_seq_len}"
            )
        ids = []
        for token in tokens:
            key = _token_key(token)
            if key not in self._ids:
                raise RaspEvaluationError(
                    f"the token {token!r} is not in the model's vocabulary {self.vocab}"
                )
            ids.append(self._ids[key])
        return ids

    def encode(self, batch: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (BOS first) and key masks for a batch of inputs, padded to one length."""
        rows = [[0, *self.token_ids(list(tokens))] for tokens in batch]
        t = max(len(row) for row in rows)
        ids = np.zeros((len(rows), t), np.int32)
        mask = np.zeros((len(rows), t), bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = True
        return ids, mask

    def host_params(self, dtype: str | None = None) -> Params:
        """The weights as numpy arrays of `dtype` (cached), for `whole` with xp=numpy."""
        dtype = self.dtype(dtype)
        key = f"host-{dtype}"
        if key not in self._device:
            self._device[key] = sliced_mlps(jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=dtype), self.params))
        return self._device[key]

    def residual(self, batch: Sequence[Sequence[Any]], dtype: str | None = None, host: bool = False) -> np.ndarray:
        """The final residual stream (batch, 1 + longest input, width): by the jitted forward
        pass, or with `host` by the same arithmetic in numpy (no XLA compilation: cheaper for
        one look at a new model, slower for many batches)."""
        ids, mask = self.encode(batch)
        dtype = self.dtype(dtype)
        if host:
            streams = whole(self.host_params(dtype), ids, mask, self.causal, window=self.window, xp=np)
            return np.asarray(streams, np.float64)
        with precision(dtype):
            streams = forward(self.device_params(dtype), ids, mask, self.causal, window=self.window)
            return np.asarray(streams, np.float64)

    def inspect(self, tokens: Sequence[Any], dtype: str | None = None) -> dict[str, Any]:
        """Residual streams after the embedding and every sublayer (index 0 is the BOS
        position), the attention pattern of every layer (heads, query, key), and the labels."""
        ids, mask = self.encode([list(tokens)])
        dtype = self.dtype(dtype)
        with precision(dtype):
            _, streams, patterns = forward(
                self.device_params(dtype), ids, mask, self.causal, inspect=True, window=self.window
            )
        return {
            "labels": list(self.labels),
            "residuals": [np.asarray(s[0], np.float64) for s in streams],
            "attention": [np.asarray(p[0], np.float64) for p in patterns],
            "layout": self.spec.layout,
        }

    def decode(self, residual: np.ndarray) -> list[Any]:
        """Output values at the given positions of a residual stream (positions, width)."""
        return self.decode_scores(residual @ self.params["unembed"])

    def decode_scores(self, scores: np.ndarray) -> list[Any]:
        """Output values from the unembedding's scores (positions, outputs), which exported
        models (compiled_model.export) return."""
        kind, values = self.spec.output.kind, self.spec.output.values
        if kind == "categorical":  # columns past the values are padding (compiled_model.shapes)
            chosen = np.argmax(scores[:, : len(values)], axis=1)
            return [values[int(i)] for i in chosen]
        column = scores[:, 0]
        if kind == "fraction":
            return [_fraction(value, self.max_seq_len) for value in column.tolist()]
        if kind == "integer":
            low, high = values
            return [int(value) for value in np.clip(np.round(column), low, high).tolist()]
        points = np.array([float(v) for v in values])
        right = np.clip(np.searchsorted(points, column), 1, len(points) - 1) if len(points) > 1 else 0
        if len(points) == 1:
            return [values[0]] * len(column)
        nearest = np.where(
            np.abs(points[right - 1] - column) <= np.abs(points[right] - column), right - 1, right
        )
        return [values[int(i)] for i in nearest]

    def predict(self, batch: Sequence[Sequence[Any]], dtype: str | None = None) -> list[list[Any]]:
        """Outputs for a batch of inputs (each a string or a list of tokens)."""
        return self.run(batch, dtype)[0]

    def __call__(self, tokens: Sequence[Any], dtype: str | None = None) -> list[Any]:
        return self.predict([tokens], dtype)[0]

    def mixtures(
        self, batch: Sequence[Sequence[Any]], dtype: str | None = None
    ) -> list[list[tuple[int, MixtureCheck]]]:
        """Per input, the (position, check) pairs where the model has no value: a categorical
        aggregate averaged several values, or a map failed (`MixtureCheck.explain`)."""
        return self.run(batch, dtype)[1]

    def run(
        self, batch: Sequence[Sequence[Any]], dtype: str | None = None, host: bool = False
    ) -> tuple[list[list[Any]], list[list[tuple[int, MixtureCheck]]]]:
        """The outputs and the mixtures of a batch from one forward pass (`host`: see `residual`)."""
        batch = [list(tokens) for tokens in batch]
        if not batch:
            return [], []
        residual = self.residual(batch, dtype, host)
        rows = [residual[i, 1 : 1 + len(tokens)] for i, tokens in enumerate(batch)]
        outputs = [self.decode(row) for row in rows]
        return outputs, [self._mixed(row) + self._mixed_kinds(output) for row, output in zip(rows, outputs)]

    def _mixed(self, rows: np.ndarray) -> list[tuple[int, MixtureCheck]]:
        return [
            (position, check)
            for check in self.spec.mixtures
            for position in np.flatnonzero(rows[:, list(check.dims)].max(axis=1) < MIXTURE_THRESHOLD).tolist()
        ]

    def _mixed_kinds(self, output: list[Any]) -> list[tuple[int, MixtureCheck]]:
        """The positions of an output whose values mix strings with numbers, which the
        interpreter refuses: from the first of a kind other than position 0's on (its prefix
        mixes them, the causal reading), or all of them for a model that reads the whole input.
        The output needs no head for this (`compiler.kind_checks` checks the s-ops inside)."""
        kinds = [isinstance(value, str) for value in output]
        clash = next((position for position, kind in enumerate(kinds) if kind != kinds[0]), None)
        if clash is None:
            return []
        check = MixtureCheck(self.spec.program, (), "kinds")
        return [(position, check) for position in range(clash if self.causal else 0, len(output))]

    def require_causal(self) -> None:
        """A ModelError unless the model is causal: only then does a position depend on the
        positions before it alone, which every incremental decoder needs."""
        if not self.causal:
            raise ModelError("incremental decoding needs a model compiled with causal=True")

    # ------------------------------------------------------------------------- save/load

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights keyed by their path (`layers/0/attn/w_q`), as model files store them."""
        return serialization.flatten(self.params)

    def save(self, path: str | Path, file_format: str | None = None) -> None:
        """Weights and spec in one file, no pickle: .npz, or safetensors for a path ending
        in .safetensors or file_format="safetensors" (compiled_model.serialization)."""
        serialization.save(self.params, self.spec, path, file_format)


def load(path: str | Path) -> Transformer:
    """A model saved by `Transformer.save` (.npz or .safetensors, told apart by content)."""
    return Transformer(*serialization.load(path))


def _fraction(value: float, max_denominator: int) -> int | float:
    """The mean of integers nearest to `value`: a fraction with denominator <= max_denominator."""
    fraction = Fraction(value).limit_denominator(max_denominator)
    return int(fraction) if fraction.denominator == 1 else float(fraction)


def _token_key(token: Any) -> tuple[str, Any]:
    """Inputs match vocabulary tokens by value and kind (1 and "1" differ; True is not 1)."""
    return (type(token).__name__, token)
