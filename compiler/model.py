"""The compiled Transformer: weights, metadata, a jitted JAX forward pass, decoding, save/load.

The forward pass takes the weights as arguments, so one XLA compilation serves every model with
the same shapes.  The model prepends the beginning-of-sequence token (id 0) to every input; in
a batch, shorter inputs are padded and their padding masked out of attention.  There is no
layer norm.  By default a model runs in float32 when its precision record says float32 is
enough, else in float64 (which turns on JAX's x64 mode for the process).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiler.margins import MIXTURE_THRESHOLD
from rasp.errors import RaspError, RaspEvaluationError

Params = dict[str, Any]


# ----------------------------------------------------------------------------- forward pass


def _attention(x: jax.Array, weights: dict[str, jax.Array], mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    q = jnp.einsum("btd,hde->bhte", x, weights["w_q"])
    k = jnp.einsum("btd,hde->bhte", x, weights["w_k"])
    v = jnp.einsum("btd,hde->bhte", x, weights["w_v"])
    logits = jnp.einsum("bhqe,bhke->bhqk", q, k)
    logits = jnp.where(mask[:, None, :, :], logits, -jnp.inf)
    pattern = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bhqk,bhke->bhqe", pattern, v)
    return jnp.einsum("bhqe,hed->bqd", out, weights["w_o"]), pattern


def _mlp(x: jax.Array, weights: dict[str, jax.Array]) -> jax.Array:
    hidden = jax.nn.relu(x @ weights["w_in"] + weights["b_in"])
    return hidden @ weights["w_out"] + weights["b_out"]


@functools.partial(jax.jit, static_argnames=("causal", "inspect"))
def forward(
    params: Params, token_ids: jax.Array, key_mask: jax.Array, causal: bool, inspect: bool = False
) -> Any:
    """token_ids (batch, T) with the BOS id 0 first; key_mask (batch, T) false on padding.
    Returns the final residual stream (batch, T, width), and with `inspect` also the stream
    after the embedding and every sublayer and every layer's attention pattern."""
    t = token_ids.shape[1]
    x = params["token_embed"][token_ids] + params["pos_embed"][:t][None]
    mask = key_mask[:, None, :] & jnp.ones((t, t), bool)[None]
    if causal:
        mask = mask & jnp.tril(jnp.ones((t, t), bool))[None]
    streams, patterns = [x], []
    for layer in params["layers"]:
        if layer["attn"]["w_q"].shape[0]:
            update, pattern = _attention(x, layer["attn"], mask)
            x = x + update
            patterns.append(pattern)
        else:
            patterns.append(jnp.zeros((x.shape[0], 0, t, t), x.dtype))
        streams.append(x)
        if layer["mlp"]["w_in"].shape[1]:
            x = x + _mlp(x, layer["mlp"])
        streams.append(x)
    if inspect:
        return x, streams, patterns
    return x


# ------------------------------------------------------------------------- value encoding


def encode_value(value: Any) -> Any:
    """A JSON form of an atom that keeps its type (1, 1.0, True and "1" stay apart)."""
    if value is None:
        return {"none": None}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": value}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v) for v in value]}
    raise RaspError(f"the value {value!r} cannot be saved in a model file")


def decode_value(data: Any) -> Any:
    ((kind, value),) = data.items()
    if kind == "tuple":
        return tuple(decode_value(v) for v in value)
    return None if kind == "none" else value


def _flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flatten(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _flatten(sub, f"{prefix}{i}/").items()}
    return {prefix.rstrip("/"): np.asarray(tree)}


def _unflatten(flat: dict[str, np.ndarray]) -> Params:
    root: dict[str, Any] = {}
    for path, array in flat.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = array

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            if node and all(key.isdigit() for key in node):
                return [listify(node[str(i)]) for i in range(len(node))]
            return {key: listify(value) for key, value in node.items()}
        return node

    return listify(root)


# ------------------------------------------------------------------------------ the model


class Transformer:
    """A compiled RASP program.  `params` holds plain numpy arrays; `metadata` the vocabulary,
    the residual labels, the output decoding, the per-layer layout and the precision record."""

    def __init__(self, params: Params, metadata: dict[str, Any]):
        self.params = params
        self.metadata = metadata
        self.vocab: list[Any] = metadata["vocab"]
        self.max_seq_len: int = metadata["max_seq_len"]
        self.causal: bool = metadata["causal"]
        self.labels: list[str] = metadata["labels"]
        self.output_kind: str = metadata["output"]["kind"]
        self.output_values: list[Any] = metadata["output"]["values"]
        self._ids = {_token_key(token): i for i, token in enumerate(self.vocab, start=1)}
        self._device: dict[str, Params] = {}

    # ------------------------------------------------------------------------- reporting

    def summary(self) -> dict[str, Any]:
        arrays = list(_flatten(self.params).values())
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
            "float32_ok": self.metadata["precision"]["float32_ok"],
        }

    def _repr_html_(self) -> str:
        """Jupyter's display: summary, layer table and, with matplotlib, the read/write picture
        on the vocabulary repeated (rasp.notebook)."""
        from rasp.errors import RaspError
        from rasp.notebook import model_html, png_bytes

        try:
            from compiler.plot import default_input, plot_model

            picture = png_bytes(lambda path: plot_model(self, default_input(self), path))
        except RaspError:  # no matplotlib: the tables alone
            picture = None
        return model_html(self, picture)

    # --------------------------------------------------------------------------- running

    def dtype(self, dtype: str | None = None) -> str:
        if dtype is None:
            return "float32" if self.metadata["precision"]["float32_ok"] else "float64"
        return dtype

    def device_params(self, dtype: str | None = None) -> Params:
        """The weights as JAX arrays of `dtype` (cached)."""
        dtype = self.dtype(dtype)
        if dtype not in self._device:
            if dtype == "float64":
                jax.config.update("jax_enable_x64", True)
            # device_put moves the arrays; jnp.asarray would compile one XLA computation per shape
            self._device[dtype] = jax.tree_util.tree_map(
                lambda a: jax.device_put(np.asarray(a, dtype=dtype)), self.params
            )
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

    def residual(self, batch: Sequence[Sequence[Any]], dtype: str | None = None) -> np.ndarray:
        """The final residual stream (batch, 1 + longest input, width)."""
        ids, mask = self.encode(batch)
        return np.asarray(forward(self.device_params(dtype), ids, mask, self.causal), np.float64)

    def inspect(self, tokens: Sequence[Any], dtype: str | None = None) -> dict[str, Any]:
        """Residual streams after the embedding and every sublayer (index 0 is the BOS
        position), the attention pattern of every layer (heads, query, key), and the labels."""
        ids, mask = self.encode([list(tokens)])
        _, streams, patterns = forward(self.device_params(dtype), ids, mask, self.causal, inspect=True)
        return {
            "labels": self.labels,
            "residuals": [np.asarray(s[0], np.float64) for s in streams],
            "attention": [np.asarray(p[0], np.float64) for p in patterns],
            "layout": self.metadata["layout"],
        }

    def decode(self, residual: np.ndarray) -> list[Any]:
        """Output values at the given positions of a residual stream (positions, width)."""
        return self.decode_scores(residual @ self.params["unembed"])

    def decode_scores(self, scores: np.ndarray) -> list[Any]:
        """Output values from the unembedding's scores (positions, outputs), which exported
        models (compiler.export) return."""
        if self.output_kind == "categorical":  # columns past the values are padding (compiler.shapes)
            chosen = np.argmax(scores[:, : len(self.output_values)], axis=1)
            return [self.output_values[int(i)] for i in chosen]
        column = scores[:, 0]
        if self.output_kind == "fraction":
            return [_fraction(value, self.max_seq_len) for value in column.tolist()]
        points = np.array([float(v) for v in self.output_values])
        right = np.clip(np.searchsorted(points, column), 1, len(points) - 1) if len(points) > 1 else 0
        if len(points) == 1:
            return [self.output_values[0]] * len(column)
        nearest = np.where(
            np.abs(points[right - 1] - column) <= np.abs(points[right] - column), right - 1, right
        )
        return [self.output_values[int(i)] for i in nearest]

    def predict(self, batch: Sequence[Sequence[Any]], dtype: str | None = None) -> list[list[Any]]:
        """Outputs for a batch of inputs (each a string or a list of tokens)."""
        batch = [list(tokens) for tokens in batch]
        if not batch:
            return []
        residual = self.residual(batch, dtype)
        return [self.decode(residual[i, 1 : 1 + len(tokens)]) for i, tokens in enumerate(batch)]

    def __call__(self, tokens: Sequence[Any], dtype: str | None = None) -> list[Any]:
        return self.predict([tokens], dtype)[0]

    def mixtures(
        self, batch: Sequence[Sequence[Any]], dtype: str | None = None
    ) -> list[list[tuple[int, str]]]:
        """Per input, the (position, aggregate) pairs where a categorical aggregate averaged
        several different values (its one-hot output is a mixture, not a value)."""
        batch = [list(tokens) for tokens in batch]
        if not batch or not self.metadata["mixtures"]:
            return [[] for _ in batch]
        residual = self.residual(batch, dtype)
        found = []
        for i, tokens in enumerate(batch):
            rows = residual[i, 1 : 1 + len(tokens)]
            found.append(
                [
                    (position, check["node"])
                    for check in self.metadata["mixtures"]
                    for position in np.flatnonzero(
                        rows[:, check["dims"]].max(axis=1) < MIXTURE_THRESHOLD
                    ).tolist()
                ]
            )
        return found

    def decoder(self, dtype: str | None = None) -> Any:
        """An incremental (KV-cached) decoder for this causal model; see compiler.decoder."""
        from compiler.decoder import Decoder

        return Decoder(self, dtype)

    # ------------------------------------------------------------------------- save/load

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights keyed by their path (`layers/0/attn/w_q`), as model files store them."""
        return _flatten(self.params)

    def save(self, path: str | Path) -> None:
        """Weights and metadata in one .npz file (metadata as UTF-8 JSON); no pickle.  A path
        ending in .safetensors writes safetensors instead (compiler.safetensors_file)."""
        if str(path).endswith(".safetensors"):
            from compiler.safetensors_file import save_safetensors

            return save_safetensors(self, path)
        blob = np.frombuffer(metadata_to_json(self).encode("utf-8"), np.uint8)
        with open(path, "wb") as handle:
            np.savez(handle, __metadata__=blob, **self.arrays())


def load(path: str | Path) -> Transformer:
    """A model saved by `Transformer.save` (.npz or .safetensors, told apart by content)."""
    from compiler.safetensors_file import is_safetensors, load_safetensors

    if is_safetensors(path):
        return load_safetensors(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise RaspError(f"cannot read the model file {path}: {error}") from None
    if "__metadata__" not in arrays:
        raise RaspError(f"{path} is not a compiled model (no metadata)")
    return from_arrays(arrays.pop("__metadata__").tobytes().decode("utf-8"), arrays)


def metadata_to_json(model: Transformer) -> str:
    """The model's metadata as JSON, values tagged with their types (`encode_value`)."""
    metadata = dict(model.metadata)
    metadata["vocab"] = [encode_value(v) for v in model.vocab]
    metadata["output"] = dict(metadata["output"], values=[encode_value(v) for v in model.output_values])
    return json.dumps(metadata)


def metadata_from_json(text: str) -> dict[str, Any]:
    metadata = json.loads(text)
    metadata["vocab"] = [decode_value(v) for v in metadata["vocab"]]
    metadata["output"]["values"] = [decode_value(v) for v in metadata["output"]["values"]]
    return metadata


def from_arrays(metadata: str, arrays: dict[str, np.ndarray]) -> Transformer:
    """A model from its JSON metadata and its flattened weights (`layers/0/attn/w_q`...)."""
    params = _unflatten(arrays)
    params.setdefault("layers", [])  # a model without layers stores no layer arrays
    return Transformer(params, metadata_from_json(metadata))


def _fraction(value: float, max_denominator: int) -> int | float:
    """The mean of integers nearest to `value`: a fraction with denominator <= max_denominator."""
    fraction = Fraction(value).limit_denominator(max_denominator)
    return int(fraction) if fraction.denominator == 1 else float(fraction)


def _token_key(token: Any) -> tuple[str, Any]:
    """Inputs match vocabulary tokens by value and kind (1 and "1" differ; True is not 1)."""
    return (type(token).__name__, token)
