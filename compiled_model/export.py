"""Compiled models in PyTorch and TransformerLens, for interpretability work in the torch world.

    torch_model = compiled_model.export.to_torch(model)             # a plain torch.nn.Module
    bridge = compiled_model.export.to_transformer_lens(model)       # a TransformerLens 4 TransformerBridge
    compiled_model.export.hook_sops(model)                          # hook name -> the s-ops it carries

Both run the forward pass of `compiled_model.arithmetic.forward` on the same weights: the BOS token (id 0)
first, no layer norm, ReLU MLPs, softmax attention whose logit scale is already folded into the
query weights, causal or bidirectional as compiled.  Their outputs are the unembedding's scores;
`decode` turns them into the program's values as `Transformer.decode` does.

Models with head modes (sum and latest heads, `compiled_model.arithmetic.moded_weights`) are hard
models and are refused by name: TransformerLens has no such attention.

This module imports torch, so `compiler` imports it only on demand (`import compiled_model.export`);
TransformerLens is imported by the functions that need it.  Both come with the `interop` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from compiled_model import arithmetic as transformer
from compiled_model.errors import ModelError
from compiled_model.serialization import unflatten, written_atomically
from compiled_model.spec import LayerDescription, ModelSpec
from compiled_model.spec_json import spec_from_json, spec_to_json
from compiled_model.transformer import Transformer

TORCH_FORMAT = "rasp-toolkit/torch"
TRANSFORMER_LENS_FORMAT = "rasp-toolkit/transformer-lens"


def _require_softmax(model: Transformer) -> None:
    """Exported modules attend by softmax: a hard-attention model would silently change, and
    one with head modes (sum and latest heads, hard models only) has attention TransformerLens
    does not offer at all."""
    if model.has_modes:
        raise ModelError(
            "this model has sum or latest heads (head modes), which neither TransformerLens's attention "
            "nor the torch export computes: run it with compiled_model (model(tokens), FastDecoder)"
        )
    if model.window is not None:
        raise ModelError(
            "only softmax models can be exported to torch or TransformerLens: this one was compiled "
            "with hard attention (compile it with attention='soft', or save it with -o FILE.npz)"
        )


def _torch_dtype(model: Transformer, dtype: str | None) -> torch.dtype:
    _require_softmax(model)
    name = model.dtype(dtype)
    if name not in ("float32", "float64"):
        raise ModelError(f"a model can be exported in float32 or float64, not {name}")
    return getattr(torch, name)


def _tensor(array: np.ndarray, dtype: torch.dtype) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(np.asarray(array), dtype=dtype).clone())


# ---------------------------------------------------------------------------------- PyTorch


class _Layer(nn.Module):
    """One layer's weights as torch parameters, run by `compiled_model.arithmetic.layer` itself with
    torch as its array module, so the export does the JAX pass's operations."""

    def __init__(self, layer: dict[str, Any], dtype: torch.dtype) -> None:
        super().__init__()
        for group in ("attn", "mlp"):
            for name, array in layer[group].items():
                self.register_parameter(name, _tensor(array, dtype))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = {
            "attn": {name: getattr(self, name) for name in ("w_q", "w_k", "w_v", "w_o")},
            "mlp": {name: getattr(self, name) for name in ("w_in", "b_in", "w_out", "b_out")},
        }
        _, x, pattern, _ = transformer.layer(x, weights, mask, xp=torch)
        if pattern is None:
            pattern = x.new_zeros((x.shape[0], 0, x.shape[1], x.shape[1]))
        return x, pattern


class TorchTransformer(nn.Module):
    """A compiled model as a torch module.  `forward(token_ids, attention_mask)` takes token ids
    (batch, T) with the BOS id 0 first and an optional padding mask (true on real tokens), as
    `encode` builds them, and returns the unembedding's scores (batch, T, outputs).  Its weights
    are parameters, so gradients flow; `rasp_spec` is the compiled model's spec."""

    def __init__(self, model: Transformer, dtype: str | None = None) -> None:
        super().__init__()
        self.rasp_spec = model.spec
        self.causal = model.causal
        dtype_ = _torch_dtype(model, dtype)
        self.positions = transformer.position_weights(model.params)
        for name in ("token_embed", self.positions, "unembed"):
            self.register_parameter(name, _tensor(model.params[name], dtype_))
        self.layers = nn.ModuleList(_Layer(layer, dtype_) for layer in model.params["layers"])

    def run(
        self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The final residual stream (batch, T, width) and every layer's attention pattern
        (batch, heads, query, key)."""
        t = token_ids.shape[1]
        positions = {self.positions: getattr(self, self.positions)}
        x = self.token_embed[token_ids] + transformer.embed_positions(positions, torch.arange(t), torch)[None]
        mask = torch.ones((t, t), dtype=torch.bool, device=x.device)
        if self.causal:
            mask = torch.tril(mask)
        mask = mask[None] if attention_mask is None else mask[None] & attention_mask[:, None, :].bool()
        patterns = []
        for layer in self.layers:
            x, pattern = layer(x, mask)
            patterns.append(pattern)
        return x, patterns

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(token_ids, attention_mask)[0] @ self.unembed


def to_torch(model: Transformer, dtype: str | None = None) -> TorchTransformer:
    """`model` as a plain torch module (float32 where the model's precision record allows,
    else float64, unless `dtype` says)."""
    return TorchTransformer(model, dtype)


def _codec(exported: Any) -> Transformer:
    """A weightless Transformer over an exported model's spec: its encoding and decoding."""
    return Transformer({"layers": []}, exported.rasp_spec)


def encode(exported: Any, batch: Sequence[Sequence[Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (BOS first) and attention masks for an exported model (a TorchTransformer or a
    TransformerLens bridge), inputs padded to one length."""
    ids, mask = _codec(exported).encode([list(tokens) for tokens in batch])
    return torch.as_tensor(ids, dtype=torch.long), torch.as_tensor(mask, dtype=torch.long)


def decode(exported: Any, scores: np.ndarray | torch.Tensor) -> list[Any]:
    """The program's values from an exported model's scores (positions, outputs)."""
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().double().cpu().numpy()
    return _codec(exported).decode_scores(np.asarray(scores, np.float64))


@torch.no_grad()
def predict(exported: Any, batch: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The program's outputs on a batch of inputs (strings or token lists), run by an exported
    model: `Transformer.predict` for the torch and TransformerLens forms."""
    batch = [list(tokens) for tokens in batch]
    if not batch:
        return []
    ids, mask = encode(exported, batch)
    scores = exported(ids, attention_mask=mask)
    return [decode(exported, scores[i, 1 : 1 + len(tokens)]) for i, tokens in enumerate(batch)]


# --------------------------------------------------------------------------- TransformerLens


def _padded(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`array` zero-padded at the end of every axis to `shape`."""
    out = np.zeros(shape, np.float64)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


def _layers(model: Transformer) -> list[dict[str, Any]]:
    """The model's layers; a model without any gets one empty layer (a TransformerLens model
    has at least one block), which the export fills with zeros."""
    if model.params["layers"]:
        return model.params["layers"]
    d = len(model.labels)
    attn = {
        "w_q": np.zeros((0, d, 0)),
        "w_k": np.zeros((0, d, 0)),
        "w_v": np.zeros((0, d, 0)),
        "w_o": np.zeros((0, 0, d)),
    }
    mlp = {"w_in": np.zeros((d, 0)), "b_in": np.zeros(0), "w_out": np.zeros((0, d)), "b_out": np.zeros(d)}
    return [{"attn": attn, "mlp": mlp}]


def transformer_lens_config(model: Transformer, dtype: str | None = None) -> dict[str, Any]:
    """The TransformerBridgeConfig fields of `model` as TransformerLens's native architecture.

    TransformerLens gives every layer the same number of heads of one width and one MLP width;
    narrower layers are padded with zeros (a zero head has zero output weights, so it adds
    nothing; a zero hidden unit has zero bias, so ReLU keeps it at 0).  Its attention divides
    the logits by sqrt(d_head): the export multiplies the query weights by that factor."""
    layers = _layers(model)
    heads = max(layer["attn"]["w_q"].shape[0] for layer in layers)
    depth = max(max(layer["attn"][w].shape[2] for w in ("w_q", "w_v")) for layer in layers)
    return {
        "d_model": len(model.labels),
        "d_head": max(depth, 1),
        "n_heads": max(heads, 1),
        "n_layers": len(layers),
        "n_ctx": model.max_seq_len + 1,
        "d_vocab": len(model.vocab) + 1,
        "d_vocab_out": model.params["unembed"].shape[1],
        "d_mlp": max(max(layer["mlp"]["w_in"].shape[1] for layer in layers), 1),
        "act_fn": "relu",
        "normalization_type": None,
        "positional_embedding_type": "standard",
        "attention_dir": "causal" if model.causal else "bidirectional",
        "default_prepend_bos": False,
        "architecture": "TransformerLensNative",
        "init_weights": False,
        "model_name": f"rasp-{model.spec.program}",
        "dtype": _torch_dtype(model, dtype),
    }


def transformer_lens_weights(model: Transformer, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """`model`'s weights in TransformerLens's per-head property layout (`blocks.0.attn.W_Q`...),
    padded to `config`'s shapes."""
    d, heads, depth, hidden = config["d_model"], config["n_heads"], config["d_head"], config["d_mlp"]
    weights = {
        "embed.W_E": model.params["token_embed"],
        "pos_embed.W_pos": transformer.embed_positions(model.params, np.arange(model.max_seq_len + 1), np),
        "unembed.W_U": model.params["unembed"],
        "unembed.b_U": np.zeros(config["d_vocab_out"]),
    }
    for number, layer in enumerate(_layers(model)):
        attn, mlp, prefix = layer["attn"], layer["mlp"], f"blocks.{number}"
        weights[f"{prefix}.attn.W_Q"] = _padded(attn["w_q"] * np.sqrt(depth), (heads, d, depth))
        weights[f"{prefix}.attn.W_K"] = _padded(attn["w_k"], (heads, d, depth))
        weights[f"{prefix}.attn.W_V"] = _padded(attn["w_v"], (heads, d, depth))
        weights[f"{prefix}.attn.W_O"] = _padded(attn["w_o"], (heads, depth, d))
        for name in ("b_Q", "b_K", "b_V"):
            weights[f"{prefix}.attn.{name}"] = np.zeros((heads, depth))
        weights[f"{prefix}.attn.b_O"] = np.zeros(d)
        weights[f"{prefix}.mlp.W_in"] = _padded(mlp["w_in"], (d, hidden))
        weights[f"{prefix}.mlp.b_in"] = _padded(mlp["b_in"], (hidden,))
        weights[f"{prefix}.mlp.W_out"] = _padded(mlp["w_out"], (hidden, d))
        # compiled_model.arithmetic skips an MLP without hidden units, its output bias included
        weights[f"{prefix}.mlp.b_out"] = mlp["b_out"] if mlp["w_in"].shape[1] else np.zeros(d)
    return weights


def to_transformer_lens(model: Transformer, dtype: str | None = None) -> Any:
    """`model` as a TransformerLens `TransformerBridge` (TransformerLens 4's hooked model, built
    by `TransformerBridge.boot_native`), with every hook TransformerLens offers.  Feed it token
    ids with the BOS id 0 first (`model.encode`); its logits are the unembedding's scores
    (`decode` reads them).  `bridge.rasp_spec` holds the compiled model's spec: the residual
    dimensions (`residual`, one per d_model dimension), the vocabulary, the output decoding."""
    config = transformer_lens_config(model, dtype)
    weights = {key: torch.as_tensor(value) for key, value in transformer_lens_weights(model, config).items()}
    return _boot_bridge(config, weights, model.spec, converted=False)


def _boot_bridge(
    config: dict[str, Any], weights: dict[str, torch.Tensor], spec: ModelSpec, converted: bool
) -> Any:
    try:
        from transformer_lens.config import TransformerBridgeConfig
        from transformer_lens.model_bridge.sources.native import boot
        from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint
    except ImportError:
        raise ModelError("TransformerLens is not installed: pip install 'rasp-toolkit[interop]'") from None

    tl_config = TransformerBridgeConfig(**config)
    bridge = boot(tl_config, dtype=config["dtype"])  # the parameters' dtype comes from this argument
    if not converted:
        weights = convert_tl_checkpoint(weights, tl_config)
    bridge.load_state_dict({key: value.to(config["dtype"]) for key, value in weights.items()}, strict=True)
    bridge.eval()
    bridge.rasp_spec = spec
    return bridge


def hook_sops(model: Transformer) -> dict[str, list[str]]:
    """TransformerLens hook names mapped to what they carry, by s-op: per attention hook
    (`blocks.L.attn.hook_pattern`, `hook_z`...) the s-op each head index computes ("" for
    padding heads), per MLP hook the s-ops of that layer's MLP, per residual hook the label of
    every residual dimension (the same for every layer: the dimensions are allocated once)."""
    hooks: dict[str, list[str]] = {"hook_embed": ["tokens"], "hook_pos_embed": ["indices"]}
    layers = model.spec.layout or (LayerDescription((), ()),)  # as _layers pads
    heads = max(len(layer.heads) for layer in layers)
    for number, layer in enumerate(layers):
        names = [head.node for head in layer.heads]
        names += [""] * (max(heads, 1) - len(names))
        for hook in ("hook_q", "hook_k", "hook_v", "hook_z", "hook_attn_scores", "hook_pattern"):
            hooks[f"blocks.{number}.attn.{hook}"] = names
        hooks[f"blocks.{number}.hook_attn_out"] = list(dict.fromkeys(n for n in names if n))
        mlps = list(dict.fromkeys(mlp.node for mlp in layer.mlps))
        for hook in ("mlp.hook_pre", "mlp.hook_post", "hook_mlp_out"):
            hooks[f"blocks.{number}.{hook}"] = mlps
        for hook in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post"):
            hooks[f"blocks.{number}.{hook}"] = list(model.labels)
    return hooks


def residual_dims(model: Transformer, sop: str) -> dict[str, int]:
    """The residual dimensions that hold the s-op named `sop`: label -> index (`tokens:a`,
    `sorted`, `reverse:'a'`...).  Raises when no dimension does."""
    found = {dim.label: index for index, dim in enumerate(model.spec.residual) if dim.holds == sop}
    if not found:
        raise ModelError(f"no residual dimension holds {sop!r}; the labels are {model.labels}")
    return found


# ------------------------------------------------------------------------------ model files


def save_torch(model: Transformer, path: str | Path) -> None:
    """The compiled weights (as torch tensors, float64) and spec in one file for
    `torch.load(path, weights_only=True)`; `load_torch` rebuilds the module."""
    _require_softmax(model)
    tensors = {key: torch.as_tensor(value) for key, value in model.arrays().items()}
    contents = {"format": TORCH_FORMAT, "metadata": spec_to_json(model.spec), "tensors": tensors}
    with written_atomically(path) as temporary:
        torch.save(contents, temporary)


def load_torch(path: str | Path, dtype: str | None = None) -> TorchTransformer:
    """The module of a file written by `save_torch` (or `rasp compile --export torch`)."""
    return to_torch(_source_model(_read(path, TORCH_FORMAT)), dtype)


def save_transformer_lens(model: Transformer, path: str | Path, dtype: str | None = None) -> None:
    """A file TransformerLens alone can load: `config` (the fields of a TransformerBridgeConfig),
    `state_dict` (the bridge's weights) and `metadata` (the compiled model's spec, as JSON), read by
    `torch.load(path, weights_only=True)`; then
    `TransformerBridge.boot_native(config)` and `load_state_dict(state_dict)`, or
    `load_transformer_lens(path)`."""
    bridge = to_transformer_lens(model, dtype)
    contents = {
        "format": TRANSFORMER_LENS_FORMAT,
        "config": transformer_lens_config(model, dtype),
        "state_dict": dict(bridge.state_dict()),
        "metadata": spec_to_json(model.spec),
    }
    with written_atomically(path) as temporary:
        torch.save(contents, temporary)


def load_transformer_lens(path: str | Path) -> Any:
    """The TransformerBridge of a file written by `save_transformer_lens`."""
    data = _read(path, TRANSFORMER_LENS_FORMAT)
    return _boot_bridge(data["config"], data["state_dict"], spec_from_json(data["metadata"]), converted=True)


def _read(path: str | Path, kind: str) -> dict[str, Any]:
    try:
        data = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise ModelError(f"cannot read the model file {path}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != kind:
        found = data.get("format") if isinstance(data, dict) else None
        raise ModelError(f"{path} is not a {kind} model file" + (f" (it is {found})" if found else ""))
    return data


def _source_model(data: dict[str, Any]) -> Transformer:
    arrays = {key: tensor.numpy() for key, tensor in data["tensors"].items()}
    return Transformer(unflatten(arrays), spec_from_json(data["metadata"]))


@torch.no_grad()
def generate(exported: Any, prompt: Sequence[Any], count: int, stop: Any = None) -> list[Any]:
    """Greedy generation by an exported causal model: `count` tokens (fewer when `stop` is
    generated), each the model's output at the last position fed back as the next input.
    Every step runs the whole sequence: no cache, which keeps hooks on every position."""
    if not exported.rasp_spec.causal:
        raise ModelError("only a causal model generates: compile it with causal=True")
    tokens = list(prompt)
    for _ in range(count):
        tokens.append(predict(exported, [tokens])[0][-1])
        if tokens[-1] == stop:
            break
    return tokens[len(prompt) :]
