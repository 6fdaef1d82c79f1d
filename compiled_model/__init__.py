"""The compiled transformer: its weights, its typed description, and the ways to run it.

    model = compiled_model.load("sort.npz")
    model("abba")                      # the output at every position
    Decoder(model).extend("abba")      # the same, one token at a time (a causal model)

The compiler (`compiler.compile`) builds what this package defines; nothing here imports a
compile stage, so a saved model runs without the compiler's code (docs/architecture.md).
"""

from compiled_model.decoder import Decoder
from compiled_model.errors import ModelError
from compiled_model.transformer import Transformer, load

__all__ = ["Decoder", "ModelError", "Transformer", "load"]
