"""Machines checked in arrays (turing.bulk) against the harness that checks them one by one: the
reference runs, the inputs, the counts, the machines marked wrong; a wrong model caught by both;
checkpoints that resume to the counts of an uninterrupted run; the tree-normal-form class."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from host_devices import run_on_two_devices
from hypothesis import given, settings
from hypothesis import strategies as st

import turing.bulk
import turing.exhaustive
from compiled_model.transformer import Transformer
from rasp.errors import UsageError
from rasp_toolkit.cli import main
from turing.bulk import digits_of, reference_runs, vocabulary
from turing.engines.universal import UniversalEngine
from turing.enumeration import machine_at, machine_count
from turing.exhaustive import verify_enumeration
from turing.formats import COMPACT
from turing.harness import run_machines
from turing.shape import Shape, table_tokens
from turing.tree_normal_form import tnf_numbers
from turing.universal import COMPACT_PROGRAM
from turing.universal_model import universal_model

SHAPES = [Shape(1, 2), Shape(2, 2), Shape(2, 3)]


def _model(shape: Shape):
    return universal_model(shape, 64, "hard", program=COMPACT_PROGRAM).model


def _engine(shape: Shape) -> UniversalEngine:
    return UniversalEngine(shape=shape, attention="hard", trace_format=COMPACT)


@settings(max_examples=15, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    picks=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=12),
    steps=st.integers(0, 25),
)
def test_reference_runs_are_the_reference_traces(shape: Shape, picks: list[float], steps: int) -> None:
    """Each row is BOS, the table's records and the compact reference trace, as the model
    encodes them; the halts and steps are the reference simulator's."""
    numbers = np.array([int(pick * machine_count(shape.states, shape.symbols)) for pick in picks])
    model = _model(shape)
    runs = reference_runs(numbers, shape, steps, vocabulary(model, shape))
    for row, number in enumerate(numbers):
        machine = machine_at(int(number), shape.states, shape.symbols)
        trace = COMPACT.reference(machine, (), steps)
        tokens = [*table_tokens(machine), *trace]
        assert runs.ids[row, : runs.lengths[row]].tolist() == [0, *model.token_ids(tokens)]
        assert not runs.ids[row, runs.lengths[row] :].any()
        assert bool(runs.halted[row]) == (trace[-1] == "#")
        assert runs.trace_tokens[row] == len(trace)
        assert runs.ids[row, runs.sep[row]] == model.token_ids(["|"])[0]


def test_digits_are_the_enumeration_tables() -> None:
    shape = Shape(2, 2)
    choices = 1 + 2 * shape.symbols * (shape.states + 1)
    for number, digits in zip(range(0, 28561, 997), digits_of(np.arange(0, 28561, 997), shape)):
        assert int(sum(int(d) * choices ** (3 - i) for i, d in enumerate(digits))) == number


def _harness_counts(shape: Shape, numbers: np.ndarray, steps: int) -> tuple[list[bool], list[int], list[bool]]:
    runs = run_machines(
        _engine(shape), [(machine_at(int(n), shape.states, shape.symbols), ()) for n in numbers], steps
    )
    return [run.halted for run in runs], [len(run.tokens) for run in runs], [not run.matches for run in runs]


def test_the_array_check_agrees_with_the_harness(monkeypatch) -> None:
    """Machine by machine: the same halts, trace tokens and verdicts (none wrong: the model is
    exact), on a seeded sample of two states and three symbols, through the engine's checker,
    with the inputs padded as a small call pads them and as a large one does."""
    shape = Shape(2, 3)
    numbers = np.unique(np.random.default_rng(23).integers(0, machine_count(shape.states, shape.symbols), 24))
    halted, tokens, harness_wrong = _harness_counts(shape, numbers, 10)
    assert harness_wrong == [False] * len(numbers)
    assert 0 < sum(halted) < len(numbers)  # both kinds of run are in the sample
    checker = _engine(shape).bulk(shape, 10)
    for fine_from in (len(numbers) + 1, 1):  # padded to PAD_TO, then to FINE_PAD_TO
        monkeypatch.setattr(turing.bulk, "FINE_FROM", fine_from)
        runs, wrong = checker(numbers)
        assert runs.halted.tolist() == halted and runs.trace_tokens.tolist() == tokens
        assert wrong.tolist() == harness_wrong


def test_marks_the_machines_whose_checked_positions_change(monkeypatch) -> None:
    """A model that predicts `#` everywhere: every machine that takes a step is wrong (its first
    step token is predicted `#`), and so is every run the budget cuts; machines that halt at once
    are right.  The harness, given the same model, finds the same machines."""
    shape = Shape(2, 2)
    numbers = np.arange(0, 28561, 401)
    model = _model(shape)
    end_column = [str(value) for value in model.spec.output.values].index("#")

    def always_end(streams, unembed, values):
        return np.full(streams.shape[:2], end_column, np.int32)

    monkeypatch.setattr(turing.bulk, "_predicted", always_end)
    runs, wrong = _engine(shape).bulk(shape, 3)(numbers)
    assert wrong.tolist() == (runs.steps > 0).tolist()


def test_an_array_check_the_harness_contradicts_stops_the_run(monkeypatch) -> None:
    """The two checks must agree: a machine marked wrong that the harness generates right is an
    internal error, never a silent pass or a silent mismatch."""
    monkeypatch.setattr(turing.bulk, "wrong", lambda runs, predicted, vocab: np.ones(len(runs.ids), bool))
    monkeypatch.setattr(turing.exhaustive, "_mismatches", lambda engine, numbers, result: ([], []))  # all right
    with pytest.raises(RuntimeError, match="internal error: the array check marks machines"):
        verify_enumeration(_engine(Shape(1, 2)), 1, 2, 4, start=0, count=10)


def test_a_wrong_model_gives_the_harness_counts_in_arrays(monkeypatch) -> None:
    """A model whose unembedding swaps two outputs is wrong on some machines: the enumeration in
    arrays reports exactly the mismatches (and counts) of the enumeration through the harness."""
    shape = Shape(1, 2)
    found = universal_model(shape, 64, "hard", program=COMPACT_PROGRAM)
    values = [str(value) for value in found.model.spec.output.values]
    first, second = values.index("0/1RA"), values.index("0/1LA")
    unembed = np.array(found.model.params["unembed"])
    unembed[:, [first, second]] = unembed[:, [second, first]]
    found = replace(found, model=Transformer({**found.model.params, "unembed": unembed}, found.model.spec))
    engine = _engine(shape)
    engine.models = {(shape, length): found for length in (64, 128)}
    in_arrays = verify_enumeration(engine, 1, 2, 5)
    monkeypatch.setattr(UniversalEngine, "bulk", lambda self, shape, steps: None)
    one_by_one = verify_enumeration(engine, 1, 2, 5)
    assert in_arrays.checked_in_arrays and not one_by_one.checked_in_arrays
    assert in_arrays.mismatches == one_by_one.mismatches and in_arrays.mismatches
    assert (in_arrays.machines, in_arrays.halted, in_arrays.tokens) == (
        one_by_one.machines, one_by_one.halted, one_by_one.tokens
    )


# ------------------------------------------------------------------ checkpoints


class _Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_counts_of_an_uninterrupted_one(tmp_path: Path) -> None:
    engine, path = _engine(Shape(2, 2)), tmp_path / "run.json"
    whole = verify_enumeration(engine, 2, 2, 8, start=3000, count=500, chunk=128)
    chunks = []

    def killed_after_three(done: int, share: int) -> None:
        chunks.append(done)
        if len(chunks) == 3:
            raise _Killed

    with pytest.raises(_Killed):
        verify_enumeration(
            engine, 2, 2, 8, start=3000, count=500, chunk=128, checkpoint=path, on_chunk=killed_after_three
        )
    assert json.loads(path.read_text())["next"] == 3000 + 3 * 128
    resumed = verify_enumeration(engine, 2, 2, 8, start=3000, count=500, chunk=128, checkpoint=path)
    assert resumed.resumed_at == 3000 + 3 * 128
    assert (resumed.machines, resumed.halted, resumed.tokens, resumed.mismatches) == (
        whole.machines, whole.halted, whole.tokens, whole.mismatches
    )
    again = verify_enumeration(engine, 2, 2, 8, start=3000, count=500, chunk=128, checkpoint=path)
    assert again.resumed_at == 3500 and again.machines == whole.machines  # finished: nothing left to run


def test_a_checkpoint_of_another_run_or_a_damaged_one_is_refused(tmp_path: Path) -> None:
    engine, path = _engine(Shape(1, 2)), tmp_path / "run.json"
    verify_enumeration(engine, 1, 2, 4, start=0, count=20, checkpoint=path)
    with pytest.raises(UsageError, match="belongs to another run .it differs in max_steps"):
        verify_enumeration(engine, 1, 2, 5, start=0, count=20, checkpoint=path)
    record = json.loads(path.read_text())
    record["counts"]["machines"] = 3
    path.write_text(json.dumps(record))
    with pytest.raises(UsageError, match="its counts are inconsistent"):
        verify_enumeration(engine, 1, 2, 4, start=0, count=20, checkpoint=path)
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a checkpoint file"):
        verify_enumeration(engine, 1, 2, 4, start=0, count=20, checkpoint=path)


def test_the_command_line_resumes_and_refuses_with_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "all.json"
    argv = ["tm", "verify", "--all", "--states", "1", "--symbols", "2", "--max-steps", "4", "--json"]
    assert main([*argv, "--checkpoint", str(path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*argv, "--checkpoint", str(path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["resumed_at"] == 81 and first["resumed_at"] is None
    timing = ("seconds", "resumed_at", "batches")  # the resumed run ran no batch: nothing was left
    assert {k: v for k, v in first.items() if k not in timing} == {k: v for k, v in second.items() if k not in timing}
    assert first["batches"] and not second["batches"]
    assert main([*argv[:-1], "--count", "5", "--checkpoint", str(path)]) == 2


# ------------------------------------------------------------------ the tree normal form


def test_the_tree_normal_form_class_through_the_command_line(capsys) -> None:
    argv = ["tm", "verify", "--all", "--tnf", "--states", "2", "--symbols", "2", "--max-steps", "8", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["class"] == "tnf" and summary["machines_in_class"] == len(tnf_numbers(2, 2, 8))
    assert summary["machines"] == summary["machines_in_class"] and summary["mismatches"] == []
    assert summary["machines_in_shape"] == machine_count(2, 2) and summary["checked_in_arrays"]
    assert summary["program"] == "compact"
    # the reference traces of the class halt as often as the summary counts
    traces = [COMPACT.reference(machine_at(int(n), 2, 2), (), 8) for n in tnf_numbers(2, 2, 8)]
    assert summary["halted"] == sum(trace[-1] == "#" for trace in traces)
    assert summary["tokens"] == sum(map(len, traces))


def test_generations_of_one_universal_model_on_two_devices() -> None:
    """Many machines generated at once through one model (its weights replicated, the rows split
    across two devices) give the reference traces."""
    code = """
import jax
from compiled_model.fast_decoder import batch_fast_generate
from turing.enumeration import machine_at
from turing.formats import COMPACT
from turing.shape import Shape, table_tokens
from turing.universal import COMPACT_PROGRAM
from turing.universal_model import universal_model
model = universal_model(Shape(2, 2), 64, "hard", program=COMPACT_PROGRAM, cache=False).model
machines = [machine_at(n, 2, 2) for n in (5000, 9001, 12345, 20000, 28000)]
prompts = [[*table_tokens(m), *COMPACT.prompt(m, ())] for m in machines]
made = batch_fast_generate([model] * 5, prompts, 9, stop=["#"], dtype="float64", devices=jax.devices())
traces = [made[i][len(table_tokens(m)) :] for i, m in enumerate(machines)]
print(len(jax.devices()), [trace == COMPACT.reference(m, (), 9)[:11] for trace, m in zip(traces, machines)])
"""
    assert run_on_two_devices(code).strip() == "2 [True, True, True, True, True]"
