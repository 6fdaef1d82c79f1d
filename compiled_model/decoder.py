"""One causal model fed one token at a time (`Decoder(model)`): the KV-cached step of
`compiled_model.arithmetic`, jitted once for every model of the same shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from compiled_model.arithmetic import empty_cache, precision, spans, step
from compiled_model.errors import ModelError
from compiled_model.transformer import Transformer

_jitted_step = jax.jit(step, static_argnames=("window", "spans_of"), donate_argnums=1)


class Decoder:
    """Feeds a causal model one token at a time; `append` returns the output at the new position.

    In a causal model the stream at position i depends on positions <= i only, so a new token
    needs one new row per layer (`compiled_model.arithmetic.step`): its query attends over the
    cached keys and values of the earlier positions.  The cache has a fixed capacity
    (max_seq_len + 1, the BOS included), updated in place (the step donates it); a step
    attends over its first rows only, up to the next power of two past the position
    (`compiled_model.arithmetic.spans`), so that it costs O(position), and one XLA compilation
    serves every step."""

    def __init__(
        self, model: Transformer, dtype: str | None = None, spans_of: Callable[[int], tuple[int, ...]] = spans
    ):
        """`spans_of(capacity)`: the cache rows a step may attend over (benchmarks/decoder.py
        compares `lambda capacity: (capacity,)`, the whole cache at every step)."""
        model.require_causal()
        self.model = model
        self.spans_of = spans_of
        self.dtype = model.dtype(dtype)
        self.params = model.device_params(self.dtype)
        self.reset()

    def reset(self) -> None:
        self.position = 0
        with precision(self.dtype):
            cache = empty_cache(self.params, self.model.max_seq_len + 1)
            self.cache, _ = _jitted_step(self.params, cache, 0, 0, self.model.window, self.spans_of)
        self.outputs: list[Any] = []

    def append(self, token: Any) -> Any:
        if self.position >= self.model.max_seq_len:
            raise ModelError(
                f"the decoder is full: the model takes at most {self.model.max_seq_len} tokens"
            )
        (token_id,) = self.model.token_ids([token])
        self.position += 1
        with precision(self.dtype):
            self.cache, stream = _jitted_step(
                self.params, self.cache, token_id, self.position, self.model.window, self.spans_of
            )
            value = self.model.decode(np.asarray(stream, np.float64)[None])[0]
        self.outputs.append(value)
        return value

    def extend(self, tokens: Sequence[Any]) -> list[Any]:
        return [self.append(token) for token in tokens]

    def generate(self, prompt: Sequence[Any], steps: int) -> list[Any]:
        """Feeds `prompt`, then `steps` times the output at the last position back as the next
        token (the output values must be tokens of the vocabulary)."""
        tokens = list(prompt)
        output = self.extend(tokens)[-1]
        for _ in range(steps):
            tokens.append(output)
            output = self.append(output)
        return tokens
