"""The `universal` engine: one compiled model per shape (cached on disk), machines checked by
teacher forcing, which must equal greedy generation through the KV-cached decoder; runs that do
not fit are refused; float types the model is not exact in are refused.  Small shapes and
lengths keep this quick (the session's model cache is a temporary folder: tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from compiled_model.decoder import Decoder
from rasp_toolkit.cli import main
from turing.engines.base import EngineError
from turing.engines.universal import TeacherForcedDecoder, UniversalEngine, bucket_length
from turing.enumeration import all_machines, machine_at
from turing.formats import TAPE_COPY
from turing.harness import run_machine, run_machines
from turing.machine import Machine
from turing.random_machines import random_cases, random_machine, random_tape
from turing.shape import Shape, ShapeError, first_wrong_prediction, input_bound, table_tokens, universal_trace
from turing.trace import trace_of
from turing.universal_model import PrecisionError, cache_path, teacher_forced, universal_model

BB2 = Machine.from_text("1RB1LB_1LA1RZ")


def test_a_second_load_comes_from_the_cache(capsys) -> None:
    shape = Shape(1, 2)
    first = universal_model(shape, 64)
    second = universal_model(shape, 64)
    assert second.cached and second.path == first.path == cache_path(shape, 64) and second.path.exists()
    tokens = universal_trace(Machine.from_text("1RA1LZ"), ("1",), 5)
    assert teacher_forced(first.model, [tokens]) == teacher_forced(second.model, [tokens])
    assert main(["tm", "universal", "--states", "1", "--symbols", "2", "--max-len", "64", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cached"] and summary["cache_file"] == str(first.path) and summary["layers"] == 8


def test_the_cache_key_names_shape_length_and_attention() -> None:
    assert cache_path(Shape(2, 3), 256) != cache_path(Shape(3, 2), 256) != cache_path(Shape(2, 3), 512)
    assert cache_path(Shape(2, 3), 256) != cache_path(Shape(2, 3), 256, "hard")
    assert cache_path(Shape(2, 3), 256).name.startswith("universal-2x3-n256-soft-")
    assert cache_path(Shape(2, 3), 256, "hard").name.startswith("universal-2x3-n256-hard-")


def test_buckets_double_to_1024_then_step_by_a_quarter() -> None:
    tokens = [1, 64, 65, 1024, 1025, 1447, 1537, 2049]
    assert [bucket_length(n) for n in tokens] == [64, 64, 128, 1024, 1536, 1536, 2048, 3072]


@pytest.mark.slow
def test_the_hard_universal_engine_equals_the_reference() -> None:
    """Hard attention through the fast forward pass: machines of 2 states and symbols (partial
    tables, input tapes), every token checked against the reference, in a batch and greedily;
    the model is the hard one, cached apart from the softmax one."""
    shape, length = Shape(2, 2), 128
    engine = UniversalEngine(shape, max_len=length, attention="hard")
    machines = [BB2, *(random_machine(2, 2, seed, halt_share=0.3) for seed in range(4))]
    cases = [(m, random_tape(m, seed % 3, seed)) for seed, m in enumerate(machines)]
    batched = run_machines(engine, cases, 12)
    assert all(run.matches for run in batched) and len({len(run.tokens) for run in batched}) > 1
    found = engine.model(shape, length)
    assert found.model.summary()["attention"] == "hard" and found.path == cache_path(shape, length, "hard")
    greedy = [run_machine(engine, machine, tape, 12) for machine, tape in cases[:2]]
    assert [run.tokens for run in greedy] == [run.tokens for run in batched[:2]]


@pytest.mark.slow
def test_teacher_forcing_equals_greedy_generation() -> None:
    """The induction of turing/engines/universal.py, checked: on machines of the shape (partial
    tables, input tapes), the prediction at every position of the reference input, in one forward
    pass, equals what the KV-cached decoder predicts fed the same tokens one at a time, and runs
    checked in a batch equal runs generated one token at a time."""
    shape, length = Shape(2, 2), 128
    model = universal_model(shape, length).model
    machines = [BB2, *(random_machine(2, 2, seed, halt_share=0.3) for seed in range(3))]
    inputs = [universal_trace(m, random_tape(m, seed % 3, seed), 10)[:length] for seed, m in enumerate(machines)]
    for tokens, predicted in zip(inputs, teacher_forced(model, inputs, length)):
        assert Decoder(model).extend(tokens) == predicted
        assert first_wrong_prediction(tokens, predicted) is None
    cases = [(m, random_tape(m, seed % 3, seed)) for seed, m in enumerate(machines)]
    engine = UniversalEngine(shape, max_len=length)
    batched = run_machines(engine, cases, 10)
    assert engine.batches and sum(batch.machines for batch in engine.batches) == len(cases)
    greedy = [run_machine(engine, machine, tape, 10) for machine, tape in cases]  # `decoder`: no teacher forcing
    assert [run.tokens for run in batched] == [run.tokens for run in greedy]
    assert all(run.matches for run in batched)


def test_past_a_wrong_prediction_the_decoder_generates() -> None:
    """Teacher-forced predictions are replayed only while the context is the reference; the
    first token that differs hands the actual context to a greedy decoder."""

    class Recorder:
        def __init__(self) -> None:
            self.fed: list[str] = []

        def extend(self, tokens):
            self.fed.extend(tokens)
            return f"greedy after {len(self.fed)}"

    recorder = Recorder()
    reference = ["T", "$", "A", "0", "|", "1", "B"]
    decoder = TeacherForcedDecoder(reference, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"], 1, lambda: recorder)
    assert decoder.extend(["$", "A", "0", "|"]) == "p4"
    assert decoder.extend(["1"]) == "p5" and recorder.fed == []
    assert decoder.extend(["Z"]) == "greedy after 7" and recorder.fed == ["T", "$", "A", "0", "|", "1", "Z"]
    assert decoder.extend(["|"]) == "greedy after 8"


def test_a_run_longer_than_the_model_is_refused() -> None:
    engine = UniversalEngine(Shape(2, 2), max_len=64)
    with pytest.raises(EngineError, match="needs .* positions .* the universal model takes 64") as error:
        run_machine(engine, BB2, (), 100)
    assert error.value.hint and "--max-len 128" in error.value.hint
    assert main(["tm", "run", "1RB1LB_1LA1RZ", "--engine", "universal", "--max-len", "64"]) == 2


def test_float32_is_refused_where_the_model_says_it_is_not_exact(capsys) -> None:
    found = universal_model(Shape(1, 2), 64)
    assert found.model.spec.precision.float32_ok is False  # the premise: else nothing to refuse
    assert found.dtype() == "float64" == found.model.dtype()
    with pytest.raises(PrecisionError, match="not exact in float32"):
        found.dtype("float32")
    assert main(["tm", "run", "1RZ---", "--engine", "universal", "--dtype", "float32"]) == 2
    assert "not exact in float32" in capsys.readouterr().err


def test_machines_outside_the_shape_are_refused() -> None:
    with pytest.raises(ShapeError, match="does not fit"):
        run_machines(UniversalEngine(Shape(1, 2)), [(BB2, ())], 5)


def test_input_bound_holds_every_machine() -> None:
    """No machine of the shape needs more than `input_bound` positions (table, trace, report
    room), and a machine that moves right forever needs all of it but the `#` it never writes."""

    def needed(machine: Machine, steps: int) -> int:
        return len(table_tokens(machine)) + TAPE_COPY.capacity(trace_of(machine, (), steps))

    assert max(needed(m, 9) for m in all_machines(1, 2)) <= input_bound(Shape(1, 2), 9)
    assert max(needed(m, 12) for m in all_machines(2, 2, 0, 2000)) <= input_bound(Shape(2, 2), 12)
    right = Machine.from_text("0RA0RA")  # two records, as many as the bound allows for
    assert needed(right, 9) == input_bound(Shape(1, 2), 9) - 1


@pytest.mark.slow
def test_run_a_machine_by_its_number(capsys) -> None:
    number = 11 * 13**3 + 8 * 13**2 + 7 * 13 + 12
    assert machine_at(number, 2, 2) == BB2
    argv = ["tm", "run", "--machine", str(number), "--states", "2", "--symbols", "2", "--engine", "universal", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["machine"] == "1RB1LB_1LA1RZ" and summary["halted"] and summary["steps"] == 6
    assert main(["tm", "run", "--machine", "3", "--engine", "universal"]) == 2


@pytest.mark.slow  # a random verification run
def test_random_verification_through_the_universal_engine(capsys) -> None:
    argv = ["tm", "verify", "--random", "6", "--states", "2", "--symbols", "2", "--max-steps", "8"]
    assert main([*argv, "--engine", "universal", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["machines"] == 6 and summary["mismatches"] == []
    assert {batch["max_seq_len"] for batch in summary["batches"]} == {summary["batches"][0]["max_seq_len"]}
    assert main([*argv, "--start", "3"]) == 2  # --start is an --all option
    assert len(list(random_cases(6, 2, 2, 0))) == 6
