"""The fast decoder (`compiled_model.fast_decoder`) against the dense KV-cached decoder, the
whole-sequence pass, the interpreter and the reference Turing traces: token for token, on
library programs compiled causally with hard attention and on random Turing machines."""

from __future__ import annotations

import functools
import random
from typing import Any

import jax.numpy as jnp
import pytest
from compiler_helpers import lookup, with_heads

import compiler
from compiled_model.batch import batch_generate
from compiled_model.decoder import Decoder
from compiled_model.errors import ModelError
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate
from compiled_model.fast_forward import admit, lookup_rows
from compiled_model.fast_plan import plan_of
from compiled_model.shapes import common_shape, pad
from compiled_model.spec import HeadDescriptor
from rasp import ir
from rasp.programs import library_program
from turing.program import POSITIONAL, machine_bindings
from turing.random_machines import random_machine
from turing.simulator import initial_configuration
from turing.trace import encode_trace, trace_of


def _inputs(vocab: list[str], n: int, count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[vocab[0]] * n, *[[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count)]]


def test_a_scan_keeps_the_group_of_best_keys() -> None:
    """Hand-checked, window 0.25: 1.1 ties with 1.0, 0.2 is ignored, 3.0 starts a new group;
    a masked key (-inf) is left out, even before any other."""
    lanes = (jnp.array([-jnp.inf]), jnp.zeros(1), jnp.zeros((1, 1)))
    means = []
    keys = [(-jnp.inf, 5), (0.0, 10), (1.0, 20), (1.1, 30), (0.2, 40), (-jnp.inf, 45), (3.0, 50), (2.9, 60)]
    for logit, value in keys:
        lanes, mean = admit(lanes, (jnp.array([logit]), jnp.array([[value]])), 0.25)
        means.append(float(mean[0, 0]))
    assert means == [0, 10, 20, 25, 25, 25, 50, 55]


@pytest.mark.parametrize(
    ("target", "bos", "clamp"), [(2, 103, 103), (3, 104, 104), (-1, 100, 101), (5, 100, 104), (4, 100, 104)]
)
def test_a_lookup_head_reads_its_target_or_falls_back(target: int, bos: int, clamp: int) -> None:
    """Hand-checked: at position 4 (token index 3) the rows hold 100 + position (row 0 the BOS);
    token index q is row q + 1 for 0 <= q <= 3, else the BOS row or the clamped index's row."""
    rows = jnp.zeros((8, 2)).at[:4].set(100.0 + jnp.arange(4)[:, None])  # one column per head
    targets, clamps = jnp.array([[target + 0.2, target - 0.2]]), jnp.array([0.0, 1.0])  # rounded to `target`
    for positions in (jnp.array([4]), jnp.array([4, 5])):  # a block of one slices, a longer one gathers
        values = jnp.full((len(positions), 2), 104.0)
        _, picked = lookup_rows({"rows": rows}, targets.repeat(len(positions), 0), clamps, values, positions)
        assert picked[0, :, 0].tolist() == [bos, clamp]


@pytest.mark.parametrize(
    ("program", "vocab"), [("shift", "abcd"), ("frac_prevs", "ab()"), ("dyck1", "()"), ("detect_pattern", "abc")]
)
def test_fast_outputs_equal_the_dense_decoder_and_the_interpreter(program: str, vocab: str) -> None:
    sop = library_program(program)
    model = compiler.compile(sop, list(vocab), 12, causal=True, attention="hard")
    fast, dense = FastDecoder(model, chunk=8), Decoder(model)
    for tokens in _inputs(list(vocab), 12, 4, seed=len(program)):
        dense.reset()
        assert fast.outputs(tokens) == dense.extend(tokens) == sop(tokens, causal=True)


def test_a_categorical_query_runs_as_scans_in_the_decoder() -> None:
    """An aggregate selecting on the token's own value: a head the compiler calls dense, whose
    query is one of four vectors (`one`, plus one token's indicator), keeps one scan state per
    vector and no keys, and equals the dense decoder and the interpreter."""
    sop = ir.aggregate(ir.select(ir.tokens, ir.tokens, "=="), ir.indices)
    model = compiler.compile(sop, "abc", 12, causal=True, attention="hard")
    assert model.spec.heads == ((HeadDescriptor("dense"),),)
    (layer,) = plan_of([model]).layers
    assert layer.dense == () and [(group.heads, len(group.dims)) for group in layer.scans] == [((0,), 3)]
    fast = FastDecoder(model, chunk=8)
    for tokens in _inputs(list("abc"), 12, 4, seed=3):
        assert fast.outputs(tokens) == Decoder(model).extend(tokens) == sop(tokens, causal=True)


def _shift_by_two() -> ir.SOp:
    return ir.aggregate(ir.select(ir.indices, ir.indices - 2, "=="), ir.tokens, default="a")


def _lookup_model(offset: float) -> compiler.Transformer:
    """The shift by two, its one head described as a lookup of token index `indices + offset`."""
    model = compiler.compile(_shift_by_two(), "abc", 20, causal=True, attention="hard")
    return with_heads(model, [[lookup(model, offset)]])


def test_a_lookup_head_reads_the_row_its_target_names() -> None:
    """Hand-checked: the head reads token index i - 2, the BOS (default "a") before that; the
    descriptor is what the decoder follows, so one off by one reads the wrong row."""
    right, wrong = FastDecoder(_lookup_model(-2.0)), FastDecoder(_lookup_model(-1.0))
    assert right.outputs(list("bcab")) == ["a", "a", "b", "c"] == _shift_by_two()(list("bcab"), causal=True)
    assert wrong.outputs(list("bcab")) == ["a", "b", "c", "a"]
    prompt = list("bc")
    assert right.generate(prompt, 6) == list("bcabcabc") == Decoder(_lookup_model(-2.0)).generate(prompt, 6)


@pytest.mark.parametrize("offset", [1, 2, -1])
def test_a_select_on_shifted_indices_is_a_lookup(offset: int) -> None:
    """`select(indices + c, indices, ==)` (stdlib's `shift` by c) picks token index i - c: the
    compiler describes it as a lookup of `indices - c` (hand-checked), and the fast decoder,
    which follows the descriptor, equals the interpreter and the dense decoder."""
    keys = ir.indices + offset
    sop = ir.aggregate(ir.select(keys, ir.indices, "=="), ir.tokens, default="a")
    model = compiler.compile(sop, "abc", 12, causal=True, attention="hard")
    assert model.spec.heads == ((lookup(model, float(-offset)),),)
    fast = FastDecoder(model, chunk=8)
    for tokens in _inputs(list("abc"), 12, 4, seed=offset + 10):
        assert fast.outputs(tokens) == Decoder(model).extend(tokens) == sop(tokens, causal=True)


@pytest.mark.slow  # several XLA compilations
def test_a_slot_the_models_describe_differently_is_served_dense() -> None:
    """Hand-checked plans; the dense slot still generates what each model does alone."""
    looked_up = _lookup_model(-2.0)
    dense = with_heads(looked_up, [[HeadDescriptor("dense")]])
    alone, together = plan_of([looked_up]).layers[0], plan_of([looked_up, dense]).layers[0]
    assert (alone.scans, alone.lookups, alone.dense) == ((), (0,), ())
    assert (together.scans, together.lookups, together.dense) == ((), (), (0,))
    prompts = [list("bc"), list("cab")]
    generated = batch_fast_generate([looked_up, dense], prompts, 5, dtype="float64")
    assert generated == [FastDecoder(looked_up, "float64").generate(prompt, 5) for prompt in prompts]
    assert generated[0] == list("bcabcab")


# ------------------------------------------------------------------ Turing machines

LENGTH = 64


@functools.cache
def _machine_models() -> list[tuple[Any, compiler.Transformer]]:
    """Random machines (some halting), their hard models padded to one shape (one XLA
    compilation of each decoder serves every test)."""
    machines = [random_machine(2, 2, seed, halt_share=0.3) for seed in range(6)]
    models = [
        compiler.compile(POSITIONAL.sop(m), machine_bindings(m)["tm_vocab"], LENGTH, causal=True, attention="hard")
        for m in machines
    ]
    shape = common_shape(models)
    return [(m, pad(model, shape)) for m, model in zip(machines, models)]


def _prompt(machine: Any) -> list[str]:
    """`$ C0 |`: the trace's start, the initial configuration on an empty tape."""
    return encode_trace([initial_configuration(machine, ())], halted=False)


def _reference(machine: Any, tokens: int) -> list[str]:
    return trace_of(machine, (), tokens)[:tokens]


@pytest.mark.slow
def test_fast_generation_equals_the_dense_decoder_and_the_reference_trace() -> None:
    machines = _machine_models()
    prompts = [_prompt(machine) for machine, _ in machines]
    models = [model for _, model in machines]
    dense = batch_generate(models, prompts, LENGTH, "float64")
    layers = plan_of(models).layers
    assert any(layer.scans for layer in layers) and any(layer.lookups for layer in layers)
    fast = batch_fast_generate(models, prompts, LENGTH - 4, stop=["#"], dtype="float64", chunk=16)
    halted = 0
    for (machine, _), prompt, predictions, generated in zip(machines, prompts, dense, fast):
        dense_trace = [*prompt, *predictions[len(prompt) - 1 :]]
        reference = _reference(machine, LENGTH)
        assert generated == dense_trace[: len(generated)]
        assert generated == reference[: len(generated)]
        if generated[-1] == "#":
            halted += 1
            assert generated == reference  # a halting run stops right after its `#`
        else:
            assert len(generated) == len(prompt) + LENGTH - 4
    assert 0 < halted < len(machines)  # both endings are exercised


@pytest.mark.slow
def test_each_model_generates_its_own_quota() -> None:
    machines = _machine_models()
    models = [model for _, model in machines]
    prompts = [_prompt(machine) for machine, _ in machines]
    quotas = [5, 40, 17, LENGTH - 4, 1, 30]
    generated = batch_fast_generate(models, prompts, quotas, stop=["#"], dtype="float64", chunk=16)
    for (machine, _), prompt, quota, tokens in zip(machines, prompts, quotas, generated):
        reference = _reference(machine, LENGTH)
        assert tokens == reference[: len(prompt) + quota]


# ------------------------------------------------------------------ refusals


def test_the_fast_decoder_refuses_what_it_cannot_serve() -> None:
    soft = compiler.compile(_shift_by_two(), "abc", 8, causal=True)
    with pytest.raises(ModelError, match="hard-attention"):
        FastDecoder(soft)
    hard = compiler.compile(_shift_by_two(), "abc", 8, causal=True, attention="hard")
    with pytest.raises(ModelError, match="descriptors"):
        FastDecoder(with_heads(hard, []))
    with pytest.raises(ModelError, match="unknown head kind"):
        FastDecoder(with_heads(hard, [[HeadDescriptor("sideways")]]))  # type: ignore[arg-type]
    dense = with_heads(hard, [[HeadDescriptor("dense")]])
    with pytest.raises(ModelError, match="fit in the model's 8 positions"):
        FastDecoder(dense).generate(list("abc"), 7)  # 6 would fit: its last token takes no position
