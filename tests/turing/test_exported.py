"""A per-machine Turing model, exported to torch and TransformerLens, generates the reference
simulator's trace token for token, like the JAX model it came from."""

from __future__ import annotations

import pytest
from turing_cases import HAND_WRITTEN

from compiled_model import export
from turing import END, load_machine, trace_of
from turing.engines.compiled import compile_machine
from turing.simulator import initial_configuration
from turing.trace import encode_trace

CASES = [case for case in HAND_WRITTEN if case[0] in ("increment 111 (left growth)", "busy beaver 2")]
CASES = [pytest.param(case, marks=[] if case[0] == "busy beaver 2" else [pytest.mark.slow]) for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=[case.values[0][0] for case in CASES])
def test_exported_turing_models_generate_the_trace(case: tuple[str, str, str, int]) -> None:
    _, spec, tape, steps = case
    machine = load_machine(spec)
    tape = tuple(tape.split())
    expected = trace_of(machine, tape, steps)
    assert expected[-1] == END  # the whole run, to the halt
    prompt = encode_trace([initial_configuration(machine, tape)], halted=False)
    assert expected[: len(prompt)] == prompt
    model = compile_machine(machine, 64)
    count = len(expected) - len(prompt)
    for exported in (export.to_torch(model), export.to_transformer_lens(model)):
        assert prompt + export.generate(exported, prompt, count + 5, stop=END) == expected
    # and the JAX model predicts the same tokens after the prompt
    assert [str(token) for token in model(expected[:-1])][len(prompt) - 1 :] == expected[len(prompt) :]
