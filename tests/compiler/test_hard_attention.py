"""Hard attention (`compile(..., attention="hard")`): heads that average the keys of maximal
score, exactly RASP's aggregate.  Hard models agree with soft ones and with the interpreter,
their KV-cached decoder with their whole-sequence pass, they reload as hard, a head whose scores
cannot be told apart is refused, and the decoder's growing span leaves soft models' streams
unchanged to the bit."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from compiled_model import arithmetic as transformer
from compiled_model.batch import batch_generate, batch_outputs
from compiled_model.decoder import Decoder, _jitted_step
from compiled_model.errors import ModelError
from compiler import CompileError
from compiler.check import verify
from rasp import ir
from rasp.programs import library_program

PAPER = Path(__file__).with_name("paper_programs.rasp")


def _inputs(vocab: str, n: int, count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = [[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count)]
    return [[vocab[0]] * n, [vocab[-1]] * n, *rows]


def test_hard_weights_average_the_keys_within_the_window() -> None:
    """Hand-checked: the keys within 0.25 of the best share the weight, masked keys get none."""
    logits = np.array([[0.0, 1.0, 0.8, -np.inf, 0.7]])
    weights = transformer.attention_weights(logits, 0.25, np)
    assert weights.tolist() == [[0.0, 0.5, 0.5, 0.0, 0.0]]
    assert transformer.attention_weights(logits, None, np)[0, 0] > 0  # softmax leaks


@pytest.mark.parametrize(
    ("name", "vocab"),
    [("hist_bos", "abc"), ("sort_bos", "abc"), ("dyck1_ptf", "()"), ("dyck2_ptf", "(){}")],
)
def test_hard_equals_soft_on_the_paper_programs(name: str, vocab: str) -> None:
    session = rasp.Session()
    session.run(PAPER.read_text())
    soft = compiler.compile(session[name], vocab, 6)
    hard = compiler.compile(session[name], vocab, 6, attention="hard")
    batch = _inputs(vocab, 6, 16, seed=len(name))
    assert hard.predict(batch) == soft.predict(batch)
    result = verify(hard, session[name], batch)
    assert result.disagreement is None and result.total > 0


def _previous_token() -> ir.SOp:
    """The token one position back ("a" at position 0): outputs that are tokens, to generate."""
    return ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, default="a")


@pytest.mark.parametrize("program", ["frac_prevs", "histogram"])
def test_hard_decoder_equals_the_whole_sequence_pass(program: str) -> None:
    sop = library_program(program)
    vocab_tokens = list("ab()" if program == "frac_prevs" else "abc")
    model = compiler.compile(sop, vocab_tokens, 8, causal=True, attention="hard")
    decoder = Decoder(model)
    rng = random.Random(program)
    inputs = [[rng.choice(vocab_tokens) for _ in range(8)] for _ in range(3)]
    for tokens in inputs:
        decoder.reset()
        assert decoder.extend(tokens) == model(tokens) == sop(tokens, causal=True)
    assert batch_outputs([model] * 3, inputs) == [model(tokens) for tokens in inputs]


def test_hard_batch_generation_equals_the_decoder() -> None:
    model = compiler.compile(_previous_token(), "ab", 12, causal=True, attention="hard")
    prompts = [list("ab"), list("bba"), list("b")]
    generated = batch_generate([model] * 3, prompts, 12)
    for prompt, predictions in zip(prompts, generated):
        tokens = Decoder(model).generate(prompt, 12 - len(prompt))
        assert predictions == model(tokens[:12])


def test_models_of_both_modes_are_not_batched_together() -> None:
    soft = compiler.compile(_previous_token(), "ab", 4, causal=True)
    hard = compiler.compile(_previous_token(), "ab", 4, causal=True, attention="hard")
    with pytest.raises(ModelError, match="attention mode"):
        batch_outputs([soft, hard], ["ab", "ba"])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_a_saved_hard_model_reloads_hard(tmp_path: Path, suffix: str) -> None:
    model = compiler.compile(library_program("reverse"), "abc", 6, attention="hard")
    path = tmp_path / f"reverse{suffix}"
    model.save(path)
    loaded = compiler.load(path)
    assert loaded.window == model.window == 0.25
    assert loaded.summary()["attention"] == "hard"
    assert loaded(list("abcab")) == list("bacba")


def _far_copy(step: int) -> ir.SOp:
    """Copies the token where the key `step * i + [token is a]` equals the query `step * i + 1`."""
    session = rasp.Session()
    session.run(
        f"far = indices * {step};\n"
        'key = far + indicator(tokens == "a");\n'
        'copy = aggregate(select(key, far + 1, ==), tokens, "b");\n'
    )
    return session["copy"]


def test_inseparable_scores_are_refused_with_the_line() -> None:
    """Keys 10^7 apart, each with a neighbour one above, against queries on the neighbours:
    the equality score's squares reach about 10^15, whose float64 rounding (2^-50 each) can no
    longer tell a score of 1 from 1/2.  With keys 10 apart the same program compiles and copies."""
    with pytest.raises(CompileError, match="hard attention cannot separate") as caught:
        compiler.compile(_far_copy(10**7), "ab", 5, attention="hard")
    assert caught.value.line == 3
    near = _far_copy(10)
    model = compiler.compile(near, "ab", 5, attention="hard")
    assert model(list("abab")) == near(list("abab")) == list("abab")  # a's match, b's take the default b
    assert model(list("aabb")) == near(list("aabb"))


def test_unknown_attention_mode_is_refused() -> None:
    with pytest.raises(CompileError, match="attention must be one of soft, hard"):
        compiler.compile(_previous_token(), "ab", 4, attention="sparse")


def test_the_growing_span_keeps_soft_streams_to_the_bit() -> None:
    """Each step attends over the cache rows up to the next power of two past its position
    (`transformer.spans`) instead of the whole capacity: the residual streams are bit-identical
    to the full-capacity step's."""
    model = compiler.compile(library_program("frac_prevs"), list("ab()"), 150, causal=True)
    params = model.device_params("float32")
    capacity = model.max_seq_len + 1
    assert transformer.spans(capacity) == (64, 128, 151)
    rng = random.Random(0)
    ids = [0, *model.token_ids([rng.choice("ab()") for _ in range(150)])]
    spanned, full = (transformer.empty_cache(params, capacity) for _ in range(2))  # the step donates its cache
    for position, token in enumerate(ids):
        spanned, stream = _jitted_step(params, spanned, token, position, None)
        full, reference = _jitted_step(params, full, token, position, None, _whole)
        assert np.array_equal(np.asarray(stream), np.asarray(reference)), position


def _whole(capacity: int) -> tuple[int, ...]:
    """The step before spans: every query attends over the whole cache."""
    return (capacity,)
