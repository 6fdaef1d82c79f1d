"""Exports beyond parity (tests/lib/test_library_exported.py has that): TransformerLens padding
and hooks checked by hand, activation patching, the model files and their command line, and the
promise that `import rasp` and `import compiler` never import torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

import compiler
import rasp
from compiled_model import export
from rasp.errors import RaspError
from rasp.programs import library_program, program_path
from rasp_toolkit.commands_compiler import register

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sort_model() -> compiler.Transformer:
    """Layers of 2, 0 and 1 heads with different query and value depths, and of different
    numbers of hidden units, the last none: every kind of padding TransformerLens needs."""
    return compiler.compile(library_program("sort"), [1, 2, 3], 8)


@pytest.fixture(scope="module")
def reverse_model() -> compiler.Transformer:
    return compiler.compile(library_program("reverse"), list("abc"), 8)


@pytest.mark.slow  # TransformerLens models at several shapes
def test_transformer_lens_padding_adds_nothing(sort_model: compiler.Transformer) -> None:
    layers = sort_model.params["layers"]
    assert [layer["attn"]["w_q"].shape[0] for layer in layers] == [2, 0, 1]
    hidden = [layer["mlp"]["w_in"].shape[1] for layer in layers]
    assert hidden[2] == 0 and hidden[0] != hidden[1]
    config = export.transformer_lens_config(sort_model)
    assert (config["n_heads"], config["n_layers"], config["d_mlp"]) == (2, 3, max(hidden))
    assert config["d_head"] == max(sort_model.params["layers"][0]["attn"]["w_q"].shape[2], 1)
    bridge = export.to_transformer_lens(sort_model)
    ids, mask = export.encode(bridge, [[3, 1, 2, 2]])
    _, cache = bridge.run_with_cache(ids, attention_mask=mask)
    assert torch.count_nonzero(cache["blocks.1.hook_attn_out"]) == 0  # a layer of padding heads only
    assert torch.count_nonzero(cache["blocks.2.hook_mlp_out"]) == 0  # a layer without hidden units
    inspection = sort_model.inspect([3, 1, 2, 2])
    pattern = cache["blocks.2.attn.hook_pattern"][0, 0].double().numpy()  # layer 2's one real head
    assert np.abs(pattern - inspection["attention"][2][0]).max() < 1e-5


def test_hook_sops_name_the_heads_and_the_residual(sort_model: compiler.Transformer) -> None:
    hooks = export.hook_sops(sort_model)
    layout = sort_model.spec.layout
    assert hooks["blocks.0.attn.hook_pattern"] == [head.node for head in layout[0].heads]
    assert hooks["blocks.1.attn.hook_z"] == ["", ""]  # padding heads
    assert hooks["blocks.2.attn.hook_pattern"] == ["sorted", ""]
    assert hooks["blocks.2.hook_resid_post"] == sort_model.labels
    assert export.residual_dims(sort_model, "sorted") == {"sorted": len(sort_model.labels) - 1}
    assert export.residual_dims(sort_model, "tokens") == {f"tokens:{t}": 1 + t for t in (1, 2, 3)}  # after one, bos
    with pytest.raises(RaspError, match="no residual dimension holds 'nothing'"):
        export.residual_dims(sort_model, "nothing")
    bridge = export.to_transformer_lens(sort_model)
    assert set(hooks) <= set(bridge.hook_dict)


def test_activation_patching_moves_the_output(reverse_model: compiler.Transformer) -> None:
    """Patching the reverse head's output from a run on "cab" into a run on "abc" makes the model
    write "bac" (the reverse of "cab"); the other heads, patched alone, change nothing."""
    bridge = export.to_transformer_lens(reverse_model)
    hooks = export.hook_sops(reverse_model)
    (name,) = [hook for hook, sops in hooks.items() if hook.endswith("attn.hook_z") and "reverse" in sops]
    head = hooks[name].index("reverse")
    clean, _ = export.encode(bridge, ["abc"])
    corrupt, _ = export.encode(bridge, ["cab"])
    _, cache = bridge.run_with_cache(corrupt)

    def patch(z: torch.Tensor, hook: object) -> torch.Tensor:
        z[:, :, head] = cache[name][:, :, head]
        return z

    scores = bridge.run_with_hooks(clean, fwd_hooks=[(name, patch)])
    assert export.decode(bridge, scores[0, 1:]) == list("bac")
    assert export.decode(bridge, bridge(clean)[0, 1:]) == list("cba")


def test_float64_exports_keep_float64(tmp_path: Path, sort_model: compiler.Transformer) -> None:
    assert export.to_torch(sort_model, "float64").token_embed.dtype == torch.float64
    path = tmp_path / "sort_tl.pt"
    export.save_transformer_lens(sort_model, path, "float64")
    bridge = export.load_transformer_lens(path)
    assert bridge.embed.weight.dtype == torch.float64
    assert export.predict(bridge, [[2, 3, 1]]) == [[1, 2, 3]]
    with pytest.raises(RaspError, match="float32 or float64"):
        export.to_torch(sort_model, "float16")


def test_a_model_without_layers_exports_with_one_empty_block() -> None:
    model = compiler.compile(rasp.tokens, list("ab"), 4)
    assert model.params["layers"] == []
    bridge = export.to_transformer_lens(model)
    assert bridge.cfg.n_layers == 1
    assert (
        export.predict(bridge, ["ab", "b"])
        == export.predict(export.to_torch(model), ["ab", "b"])
        == [["a", "b"], ["b"]]
    )


def test_generation_needs_a_causal_model(reverse_model: compiler.Transformer) -> None:
    with pytest.raises(RaspError, match="only a causal model generates"):
        export.generate(export.to_torch(reverse_model), list("ab"), 2)


def test_safetensors_files_serve_plain_safetensors_users(tmp_path: Path, sort_model: compiler.Transformer) -> None:
    path = tmp_path / "sort.safetensors"
    sort_model.save(path)
    arrays = load_file(str(path))
    assert set(arrays) == set(sort_model.arrays())
    assert np.array_equal(arrays["layers/0/attn/w_q"], sort_model.params["layers"][0]["attn"]["w_q"])
    with safe_open(str(path), framework="np") as handle:
        assert '"program": "sorted"' in handle.metadata()["rasp-toolkit"]
    npz = tmp_path / "sort.npz"
    sort_model.save(npz)
    assert compiler.load(npz).spec == compiler.load(path).spec == sort_model.spec


def test_unreadable_model_files_are_user_errors(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(2)}, str(foreign))
    with pytest.raises(RaspError, match="not a compiled model"):
        compiler.load(foreign)
    with pytest.raises(RaspError, match="is not a rasp-toolkit/torch model file"):
        export.load_torch(foreign)
    torch_file = tmp_path / "other.pt"
    torch.save({"format": "rasp-toolkit/torch"}, torch_file)
    with pytest.raises(RaspError, match=r"not a rasp-toolkit/transformer-lens model file \(it is rasp-toolkit/torch\)"):
        export.load_transformer_lens(torch_file)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="rasp")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_compile_exports_a_transformer_lens_model_that_sorts(tmp_path: Path, capsys) -> None:
    """The issue's command; the file is then loaded with TransformerLens alone."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.sources import native  # noqa: F401  (registers boot_native)

    path = tmp_path / "sort_tl.pt"
    argv = ["compile", str(program_path("lib/sort.rasp")), "sorted", "--vocab", "1,2,3", "--max-len", "16"]
    assert _main([*argv, "--export", "transformer-lens", "-o", str(path)]) == 0
    data = torch.load(path, weights_only=True)
    bridge = TransformerBridge.boot_native(data["config"], dtype=data["config"]["dtype"])
    bridge.load_state_dict(data["state_dict"])
    tokens = list("3123312")  # the command line's tokens are strings; token "t" has the id t
    expected = library_program("sort")(tokens)  # the interpreter's output: the numbers, sorted
    assert expected == [1, 1, 2, 2, 3, 3, 3]
    scores = bridge(torch.tensor([[0, *map(int, tokens)]]))[0, 1:]  # BOS id 0 first
    assert torch.round(scores[:, 0]).long().tolist() == expected
    assert export.decode(export.load_transformer_lens(path), scores) == expected
    torch_path = tmp_path / "sort.pt"
    assert _main([*argv, "--export", "torch", "-o", str(torch_path)]) == 0
    assert export.predict(export.load_torch(torch_path), [tokens]) == [expected]
    safetensors_path = tmp_path / "sort.weights"  # told apart from .npz by its content
    assert _main([*argv, "--export", "safetensors", "-o", str(safetensors_path)]) == 0
    capsys.readouterr()
    assert _main(["run-model", str(safetensors_path), "--input", "3123312", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [expected]


def test_export_without_output_exits_2(capsys) -> None:
    argv = ["compile", str(program_path("lib/sort.rasp")), "sorted", "--vocab", "1,2", "--max-len", "4"]
    assert _main([*argv, "--export", "torch"]) == 2
    assert "--export torch needs -o PATH" in capsys.readouterr().err


def test_rasp_and_compiler_never_import_torch() -> None:
    code = (
        "import sys, rasp, compiler, rasp_toolkit.cli, turing.engines.compiled\n"
        "m = compiler.compile(rasp.tokens, ['a'], 2)\n"
        "print(sorted(name for name in ('torch', 'transformer_lens', 'safetensors') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_hard_attention_models_are_not_exported(tmp_path: Path) -> None:
    """Exported modules attend by softmax: a hard model is refused, not silently changed."""
    hard = compiler.compile(library_program("reverse"), "abc", 5, attention="hard")
    for write in (export.to_torch, export.transformer_lens_config):
        with pytest.raises(RaspError, match="hard attention"):
            write(hard)
    with pytest.raises(RaspError, match="hard attention"):
        export.save_torch(hard, tmp_path / "reverse.pt")
    assert export.to_torch(compiler.compile(library_program("reverse"), "abc", 5)) is not None
