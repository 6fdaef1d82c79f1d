"""What the playground computes: each job takes the page's request (a dict of JSON values) and
returns the page's answer (a dict of JSON values), or raises a RaspError the page shows.

The jobs run in a worker process forked for the request (`playground.workers`), under its time
and memory limits, never in the web server: a program that runs away costs its own process.
They are plain functions of their arguments, so the tests call them directly too.

`root` is the folder `rasp serve` serves: a program's `load` reads only files inside it, and the
program itself is named as a file there (`PROGRAM_FILE`), so that relative loads start there.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rasp import ir
from rasp.errors import RaspError, UsageError
from rasp.inputs import parse_input
from rasp.interpreter import evaluate
from rasp.session import Session
from turing.errors import TuringError

PROGRAM_FILE = "playground.rasp"
"""The name the page's program has in error locations and for its relative loads."""

MAX_TOKENS = 128
"""The longest input the page evaluates: a selector's picture has one cell per pair of positions."""

MAX_SOURCE = 1 << 20
"""The longest program text (in characters) a request may carry."""

MAX_COMPILE_LENGTH = 200
"""The longest input a playground compile is sized for (`rasp compile` takes any)."""

MAX_CHECK = 2000
"""The most random inputs a playground compile is checked on."""

MAX_STEPS = 5000
"""The most machine steps a playground run takes (the page draws every one)."""

MAX_MACHINES = 2000
"""The most random machines one playground verification checks."""

Emit = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------------- values


def jsonable(value: Any) -> Any:
    """`value` as JSON the browser reads: numpy scalars as Python's, and the floats JSON has no
    word for (NaN, infinities) as the text Python prints for them."""
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def error_json(error: RaspError | TuringError) -> dict[str, Any]:
    """An error as the page shows it: the message, the hint, and the line and column in the
    page's program (None when the error lies in another file, or nowhere in particular); a
    machine text's error says its column in `where`."""
    if isinstance(error, TuringError):
        where = None if error.column is None else f"the machine text, column {error.column}"
        return {"message": error.message, "hint": None, "line": None, "column": None, "where": where, "stopped": False}
    in_program = error.location is not None and (error.file or "").endswith(PROGRAM_FILE)
    return {
        "message": error.message,
        "hint": error.hint,
        "line": error.line if in_program else None,
        "column": error.column if in_program else None,
        "where": None if error.location is None or in_program else str(error.location),
        "stopped": False,
    }


def tokens_of(text: str) -> list[Any]:
    """The page's input text as tokens, as every `--input` is read (`rasp.inputs`)."""
    tokens = parse_input(text)
    if len(tokens) > MAX_TOKENS:
        raise UsageError(
            f"the input has {len(tokens)} tokens; the playground shows at most {MAX_TOKENS}",
            hint="a selector's picture has a cell per pair of positions; run longer inputs with `rasp run`",
        )
    return list(tokens)


def _checked_source(source: str) -> str:
    if len(source) > MAX_SOURCE:
        raise UsageError(f"the program has {len(source):,} characters; the playground takes at most {MAX_SOURCE:,}")
    return source


def run_program(source: str, tokens: list[Any], root: Path) -> tuple[Session, list[dict[str, Any]]]:
    """A session that ran `source` statement by statement (each statement that fails is
    reported and the others still run, so the page shows every error at once), every new
    s-op and selector tried on `tokens` (so a statement that fails on the input is reported at
    its line), and the errors."""
    session = Session(check_examples=False, load_root=root)
    session.sop_example = session.selector_example = tokens
    session.example_hint = "the statement fails on the input {example!r}"
    session.check_examples = True
    results = session.run_each(_checked_source(source), str(root / PROGRAM_FILE))
    errors = [error_json(result.value) for result in results if result.kind == "error"]
    return session, errors


def program_nodes(session: Session) -> dict[str, ir.Node]:
    """The s-ops and selectors the page's program bound, in the order it bound them. Names
    starting with `_` are private and left out, as is `out`, the REPL's last value, which
    repeats one of them."""
    names = [name for name in session.user_names() if not name.startswith("_")]
    return {name: session[name] for name in names if isinstance(session[name], ir.Node)}


def evaluate_program(source: str, input_text: str, causal: bool, root: Path) -> dict[str, Any]:
    """Every s-op's values and every selector's matrix on the input, the program's errors, and
    the milliseconds this took (`ms`)."""
    start = time.perf_counter()
    tokens = tokens_of(input_text)
    session, errors = run_program(source, tokens, root)
    values = []
    for name, node in program_nodes(session).items():
        try:
            value = evaluate(node, tokens, causal=causal)
        except RaspError as error:  # already reported at its statement, when the example check ran
            errors.append(error_json(error))
            continue
        if isinstance(node, ir.Selector):
            values.append({"name": name, "kind": "selector", "matrix": jsonable(value)})
        else:
            values.append({"name": name, "kind": "sop", "values": jsonable(value)})
    sops = [entry["name"] for entry in values if entry["kind"] == "sop"]
    default = sops[-1] if sops else None
    milliseconds = round(1000 * (time.perf_counter() - start), 1)
    return {
        "input": jsonable(tokens), "errors": errors, "values": values, "sops": sops, "default": default,
        "ms": milliseconds,
    }


def _program_sop(source: str, name: str, tokens: list[Any], root: Path) -> tuple[ir.SOp, list[dict[str, Any]]]:
    """The s-op `name` of the page's program and the program's errors. Statements that fail
    are skipped, as the values view skips them, so an error elsewhere does not stop a compile
    of `name` as the page shows it; where `name` is not bound, the first error says why."""
    session, errors = run_program(source, tokens, root)
    node = program_nodes(session).get(name)
    if isinstance(node, ir.SOp):
        return node, errors
    if errors:
        first = errors[0]
        where = f" at line {first['line']}, column {first['column']}" if first["line"] else ""
        raise UsageError(
            f"the program binds no s-op named {name!r}; its first error{where}: {first['message']}",
            hint="fix it first",
        )
    raise UsageError(f"the program binds no s-op named {name!r}")


def draw(source: str, input_text: str, causal: bool, name: str, root: Path) -> dict[str, Any]:
    """The layer drawing of s-op `name` on the input, as SVG: `rasp draw`'s figure."""
    from rasp.draw import draw_program

    tokens = tokens_of(input_text)
    sop, _ = _program_sop(source, name, tokens, root)
    with tempfile.TemporaryDirectory() as folder:
        path = draw_program(sop, tokens, Path(folder) / "drawing.svg", causal=causal)
        return {"svg": path.read_text(encoding="utf-8")}


# ------------------------------------------------------------------------------ compiling


def _bounded(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UsageError(f"{name} must be a whole number from {low} to {high:,}, not {value!r}")
    return value


def text(request: dict[str, Any], key: str, default: str = "") -> str:
    """The request's text field `key` (`default` when absent); a JSON number or list there is
    the page's mistake, refused by name rather than turned into text."""
    value = request.get(key, default)
    if not isinstance(value, str):
        raise UsageError(f"{key} must be text, not {type(value).__name__} {value!r:.40}")
    return value


def flag(request: dict[str, Any], key: str) -> bool:
    """The request's true-or-false field `key` (false when absent)."""
    value = request.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{key} must be true or false, not {value!r:.40}")
    return value


def compile_sop(request: dict[str, Any], root: Path, out: Path) -> dict[str, Any]:
    """Compiles the s-op `request["name"]`, checks the model against the interpreter, runs both
    on the input and returns the summary, the residual layout, every head's attention beside
    its selector, and the weights written to `out` (model.npz, model.safetensors)."""
    import compiler
    from compiler.check import check
    from compiler.plot import attention_heads

    max_len = _bounded(request.get("max_len"), "the maximum length", 1, MAX_COMPILE_LENGTH)
    count = _bounded(request.get("check", 100), "the number of check inputs", 0, MAX_CHECK)
    vocab = [token.strip() for token in text(request, "vocab").split(",") if token.strip()]
    causal = flag(request, "causal")
    tokens = tokens_of(text(request, "input"))
    sop, errors = _program_sop(text(request, "source"), text(request, "name", "out"), tokens, root)
    start = time.perf_counter()
    model = compiler.compile(
        sop, vocab, max_len, causal=causal, check=0, attention=text(request, "attention", "soft")
    )
    try:
        verification = check(model, sop, count)
        checked = {"passed": True, "inputs": verification.total, "report": ""}
    except compiler.CheckFailed as failure:
        checked = {"passed": False, "inputs": None, "report": str(failure)}
    model_tokens = _in_vocabulary(model.vocab, tokens)
    outputs = _outputs(model, sop, tokens, model_tokens)
    heads = []
    if model_tokens and len(model_tokens) <= model.max_seq_len:
        for head in attention_heads(model, model_tokens, sop):
            heads.append(
                {
                    "layer": head.layer,
                    "head": head.head,
                    "sop": head.node,
                    "pattern": jsonable(np.round(head.pattern, 4)),
                    "selector": None if head.selector is None else jsonable(head.selector),
                    "note": head.note,
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.npz")
    model.save(out / "model.safetensors")
    layout = [
        {"layer": int(layer), "block": block, "sop": sop_name, "reads": reads, "writes": writes}
        for layer, block, sop_name, reads, writes in model.spec.layer_table()
    ]
    return {
        "summary": jsonable_dict(model.summary()),
        "layout": layout,
        "check": checked,
        "input": jsonable(tokens),
        "outputs": outputs,
        "heads": heads,
        "files": ["model.npz", "model.safetensors"],
        "program_errors": len(errors),
        "seconds": round(time.perf_counter() - start, 3),
    }


def jsonable_dict(mapping: dict[str, Any]) -> dict[str, Any]:
    return {str(key): jsonable(value) for key, value in mapping.items()}


def _in_vocabulary(vocab: tuple[Any, ...], tokens: list[Any]) -> list[Any] | None:
    """The input's tokens as the vocabulary's (the page's input is text; `--vocab 0,1` gives
    the strings "0" and "1"), or None when one is not in the vocabulary."""
    by_text = {str(token): token for token in vocab}
    if any(str(token) not in by_text for token in tokens):
        return None
    return [by_text[str(token)] for token in tokens]


def _outputs(model: Any, sop: ir.SOp, tokens: list[Any], model_tokens: list[Any] | None) -> dict[str, Any]:
    """The model's and the interpreter's outputs on the page's input, or why there are none."""
    none = {"model": None, "interpreter": None, "equal": False}
    if model_tokens is None:
        return {**none, "note": f"the input has tokens outside the vocabulary {', '.join(map(str, model.vocab))}"}
    if not tokens or len(tokens) > model.max_seq_len:
        return {**none, "note": f"the model takes inputs of 1 to {model.max_seq_len} tokens"}
    from compiler.check import same_value

    outputs, mixtures = model.run([model_tokens], host=True)
    try:
        expected = evaluate(sop, model_tokens, causal=model.causal)
    except RaspError as error:
        refused = bool(mixtures[0])
        return {**none, "note": f"the interpreter rejects this input ({error.message}); the model "
                + ("refuses it too" if refused else "does not refuse it")}
    if mixtures[0]:
        position, mixture = mixtures[0][0]
        return {**none, "interpreter": jsonable(expected), "note": f"at position {position} {mixture.explain()}"}
    equal = all(same_value(e, g) for e, g in zip(expected, outputs[0]))
    return {"model": jsonable(outputs[0]), "interpreter": jsonable(expected), "equal": equal, "note": None}


# -------------------------------------------------------------------------- Turing machines


def machine_of(spec: str) -> Any:
    """The page's machine text: busy-beaver notation or JSON. Never a file name: the page's
    text is not a path the server would read."""
    from turing.machine import Machine

    if len(spec) > MAX_SOURCE:
        raise UsageError(f"the machine text has {len(spec):,} characters; at most {MAX_SOURCE:,}")
    return Machine.from_json(spec) if spec.lstrip().startswith("{") else Machine.from_text(spec)


def _tape(written: str, machine: Any) -> tuple[str, ...]:
    tape = tuple(str(cell) for cell in parse_input(written, machine.symbols))
    unknown = sorted({cell for cell in tape} - set(machine.symbols))
    if unknown:
        raise UsageError(f"the tape has {', '.join(map(repr, unknown))}, not symbols of the machine "
                         f"({', '.join(machine.symbols)})")
    return tape


def _engine(name: str) -> Any:
    from turing.engines import ENGINES, engine_named

    if name not in ENGINES:
        raise UsageError(f"no engine named {name!r}; the engines are {', '.join(ENGINES)}")
    return engine_named(name)


def run_turing(request: dict[str, Any]) -> dict[str, Any]:
    """A machine run through an engine, checked against the reference simulator token by token,
    with the engine's trace cut into configurations and the run's space-time diagram."""
    from rasp_toolkit.turing_display import machine_text
    from turing.harness import run_machine
    from turing.plot import configuration_spans, spacetime

    machine = machine_of(text(request, "spec"))
    tape = _tape(text(request, "tape"), machine)
    max_steps = _bounded(request.get("max_steps", 100), "the step budget", 0, MAX_STEPS)
    run = run_machine(_engine(text(request, "engine", "reference")), machine, tape, max_steps)
    grid = spacetime(machine, tape, max_steps)
    trace = [" ".join(run.tokens[start:end]) for start, end in configuration_spans(run.tokens)]
    return {
        "machine": machine_text(machine),
        "engine": run.engine,
        "halted": run.halted,
        "steps": run.steps,
        "matches": run.matches,
        "report": run.report() or None,
        "seconds": round(run.seconds, 6),
        "trace_tokens": len(run.tokens),
        "tokens_per_step": round(len(run.tokens) / run.steps, 3) if run.steps else None,
        "trace": trace,
        "spacetime": {
            "cells": grid.cells,
            "heads": grid.heads,
            "states": grid.states,
            "first": grid.first,
            "symbols": list(machine.symbols),
            "blank": machine.blank,
        },
    }


def turing_attention(request: dict[str, Any]) -> dict[str, Any]:
    """Where the compiled model of the machine attends while it writes configuration `step`:
    `rasp tm plot --attention`'s data."""
    from turing.engines.compiled import configuration_attention

    machine = machine_of(text(request, "spec"))
    tape = _tape(text(request, "tape"), machine)
    max_steps = _bounded(request.get("max_steps", 100), "the step budget", 0, MAX_STEPS)
    step = _bounded(request.get("step"), "the step", 1, MAX_STEPS)
    tokens, heads, queries, keys = configuration_attention(machine, tape, step, max_steps)
    return {
        "tokens": tokens,
        "queries": [queries.start, queries.stop],
        "keys": [keys.start, keys.stop],
        "heads": [{"name": name, "weights": jsonable(np.round(weights, 4))} for name, weights in heads],
    }


def verify_turing(request: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Random machines (and tapes) through an engine, each checked against the reference;
    `emit` is told of every machine done, for the page's progress bar."""
    from rasp_toolkit.turing_display import machine_text
    from turing.harness import verify_machines
    from turing.random_machines import random_cases

    states = _bounded(request.get("states", 2), "the number of states", 1, 10)
    symbols = _bounded(request.get("symbols", 2), "the number of symbols", 2, 10)
    count = _bounded(request.get("count", 20), "the number of machines", 1, MAX_MACHINES)
    seed = _bounded(request.get("seed", 0), "the seed", 0, 2**31)
    max_steps = _bounded(request.get("max_steps", 20), "the step budget", 0, MAX_STEPS)
    engine = _engine(text(request, "engine", "interpreter"))
    done = 0

    def advance(_: Any) -> None:
        nonlocal done
        done += 1
        emit({"progress": done, "total": count})

    emit({"progress": 0, "total": count})
    verification = verify_machines(engine, random_cases(count, states, symbols, seed), max_steps, on_run=advance)
    return {
        "engine": verification.engine,
        "machines": len(verification.runs),
        "matching": len(verification.runs) - len(verification.mismatches),
        "mismatches": [
            {"machine": machine_text(run.machine), "report": run.report()} for run in verification.mismatches
        ],
        "halted": verification.halted,
        "tokens": verification.tokens,
        "seconds": round(verification.seconds, 3),
    }
