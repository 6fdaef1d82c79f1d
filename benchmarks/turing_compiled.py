"""The Turing Program compiled into transformers: how fast hard-attention weights generate long
traces, how big the models are at every length, and (on request) the softmax models' sizes,
speeds and exactness limits.

    python benchmarks/turing_compiled.py [--reports speed batch sizes formats compact-sizes]
                                         [--lengths-speed 1000 10000 100000] [--batch 64] [--batch-tokens 2000]
                                         [--sizes 10 12 14 16 18 20] [--format-steps 5000]
                                         [--compact-sizes 10 16 20 26 27]
    python benchmarks/turing_compiled.py --reports bb5          # BB(5) for 8,500 steps from weights
    python benchmarks/turing_compiled.py --reports shapes lengths exactness   # softmax models

Default reports (one run):
- speed: single-stream tokens/s generating the BB(5) champion's trace to 10^3, 10^4 and 10^5
  tokens with the hard-attention model (max_seq_len the next power of two): the fast decoder
  (`compiled_model.fast_decoder`, O(1) per token), the dense KV-cached decoder on the same weights
  (`compiled_model.batch.batch_generate`, O(t) per token) and the interpreter's incremental
  evaluation.  Each generation is timed after a warm-up run of the same shape (so without the
  XLA compilation) and checked against the reference trace; a dense or interpreter run that
  would take longer than `--budget` seconds (extrapolated from the previous length, whose cost
  grows as the square of the length) is not run and says so.
- batch: aggregate tokens/s of `--batch` random 4-state 2-symbol machines (never halting)
  generating `--batch-tokens` tokens each through one vmapped fast decoder, every trace checked.
- sizes: the hard model of BB(5) at max_seq_len 2^10 ... 2^20: layers, heads, width, MLP units,
  parameters (all the same) and compile time.
- formats: BB(5) for `--format-steps` steps from the hard models of the tape-copy program and of
  the compact one (docs/turing.md section 12), side by side: trace tokens, tokens per step,
  model size, steps/s and tokens/s of the fast decoder, each trace checked.
- compact-sizes: the compact model of BB(5) at max_seq_len 2^10, 2^16, 2^20, 2^26 and 2^27
  (`--compact-sizes`): its size and compile time (a length-free compile: the same at every
  length), or the compiler's refusal (2^27 is past its exact range) and how long it took.
- bb5 (on request): BB(5) run for 8,500 steps (1,031,679 tokens) by the hard model of 2^20
  positions, compared token by token with the reference simulator, and BB(4)'s 107 steps.

Softmax reports (on request): shapes (sizes and speeds per machine shape), lengths (size against
max_seq_len: the MLPs grow) and exactness (the first wrong token in float32 and float64).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

import compiler
from compiled_model.batch import batch_generate
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate
from compiled_model.shapes import common_shape, pad
from compiler import CompileError
from turing import Machine, load_machine, random_machine, trace_of
from turing.engines import Engine, InterpreterEngine, ReferenceEngine, TraceDecoder
from turing.engines.compiled import GreedyDecoder, compile_machine, model_length
from turing.harness import run_machine
from turing.program import COMPACT, POSITIONAL
from turing.simulator import initial_configuration
from turing.trace import encode_trace

BB5 = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
"""The 5-state busy beaver champion: it runs 47,176,870 steps, so every trace asked of it is full."""

BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"
"""The 4-state busy beaver champion: it halts after 107 steps (1,149 trace tokens)."""

SWEEPER = "1RC0RC_1RD0LB_1RB0LC_1LA0LD"
"""benchmarks/turing_interpreter.py's machine: 4 states, 2 symbols, never halts."""

EXACTNESS_MACHINES = {
    "sweeper": (SWEEPER, ()),
    "bouncer over 1s": ("1RB1LA_1LA1RB", ("1",) * 8),
    "grows left": ("1LA1LA", ("1",)),
}


class _Prebuilt(Engine):
    """An engine around one compiled model, so that timing leaves compilation out."""

    name = "compiled"

    def __init__(self, model: compiler.Transformer) -> None:
        self.model = model

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        return GreedyDecoder(self.model)


def tokens_per_second(engine: Engine, machine: Machine, tokens: int) -> float:
    run = run_machine(engine, machine, (), max_steps=tokens, max_tokens=tokens)
    assert run.matches and len(run.tokens) == tokens, run.report()
    return tokens / run.seconds


Report = tuple[str, list[str], list[list[str]], str]
"""A table: title, column names, rows, caption."""


_SIZE_COLUMNS = ["layers", "heads", "width", "MLP units", "params"]


def _size_cells(summary: dict[str, Any]) -> list[str]:
    """The cells of the `_SIZE_COLUMNS`, read from `model.summary()`: one place keeps both tables'
    size columns in the same order as their headers."""
    return [
        str(summary["layers"]),
        str(summary["heads"]),
        str(summary["residual_width"]),
        f"{summary['mlp_hidden_total']:,}",
        f"{summary['params']:,}",
    ]


def _prompt(machine: Machine) -> list[str]:
    return encode_trace([initial_configuration(machine, ())], halted=False)


def _timed(generate: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """The result and seconds of `generate(*args, **kwargs)`, run once untimed (the XLA
    compilation of its shapes) and then timed."""
    generate(*args, **kwargs)
    start = time.perf_counter()
    result = generate(*args, **kwargs)
    return result, time.perf_counter() - start


def _checked(tokens: Sequence[str], reference: Sequence[str], what: str) -> None:
    if list(tokens) != list(reference[: len(tokens)]) or len(tokens) != len(reference):
        raise SystemExit(f"{what}: the generated trace differs from the reference")


def _fast_rate(model: compiler.Transformer, prompt: list[str], reference: list[str]) -> float:
    decoder = FastDecoder(model, "float64")
    tokens, seconds = _timed(decoder.generate, prompt, len(reference) - len(prompt))
    _checked(tokens, reference, "fast decoder")
    return (len(reference) - len(prompt)) / seconds


def _dense_rate(model: compiler.Transformer, prompt: list[str], reference: list[str]) -> float:
    def generate() -> list[str]:
        (predictions,) = batch_generate([model], [prompt], len(reference), "float64")
        return prompt + [str(p) for p in predictions[len(prompt) - 1 : len(reference) - 1]]

    tokens, seconds = _timed(generate)
    _checked(tokens, reference, "dense decoder")
    return (len(reference) - len(prompt)) / seconds


def _interpreter_rate(machine: Machine, length: int) -> float:
    return tokens_per_second(InterpreterEngine(), machine, length)


def speed_table(lengths: Sequence[int], budget: float) -> Report:
    """Single-stream tokens/s of the three ways to run BB(5) to each trace length; a quadratic
    way is skipped where its previous length's time, scaled by the square, exceeds `budget`."""
    title = "single-stream generation of BB(5)'s trace, tokens/s (hard attention, float64)"
    columns = ["trace tokens", "model positions", "fast decoder", "dense KV decoder", "interpreter", "fast / dense"]
    machine = load_machine(BB5)
    rows = []
    previous: dict[str, tuple[int, float]] = {}

    def affordable(way: str, length: int) -> bool:
        if way not in previous:
            return True
        done, rate = previous[way]
        return (done / rate) * (length / done) ** 2 <= budget

    for length in lengths:
        reference = trace_of(machine, (), length)[:length]
        model = compile_machine(machine, model_length(length), attention="hard")
        prompt = _prompt(machine)
        fast = _fast_rate(model, prompt, reference)
        rates: dict[str, float | None] = {
            "dense": _dense_rate(model, prompt, reference) if affordable("dense", length) else None,
            "interpreter": _interpreter_rate(machine, length) if affordable("interpreter", length) else None,
        }
        previous.update({way: (length, rate) for way, rate in rates.items() if rate is not None})
        rows.append(
            [
                f"{length:,}",
                f"{model.max_seq_len:,}",
                f"{fast:,.0f}",
                *(f"{rate:,.0f}" if rate else f"not run (over {budget:.0f} s)" for rate in rates.values()),
                f"{fast / rates['dense']:,.1f}" if rates["dense"] else "-",
            ]
        )
    return title, columns, rows, "every generated trace equals the reference simulator's"


def batch_table(machines: int, tokens: int) -> Report:
    title = f"a batch of {machines} random 4-state 2-symbol machines, {tokens:,} tokens each (hard, float64)"
    columns = ["machines", "tokens each", "seconds", "aggregate tokens/s", "per machine tokens/s"]
    batch = [random_machine(4, 2, seed=seed, halt_share=0.0) for seed in range(machines)]
    models = [compile_machine(machine, model_length(tokens), attention="hard") for machine in batch]
    shape = common_shape(models)
    padded = [pad(model, shape) for model in models]
    prompts = [_prompt(machine) for machine in batch]
    steps = [tokens - len(prompt) for prompt in prompts]
    traces, seconds = _timed(batch_fast_generate, padded, prompts, steps, dtype="float64")
    for machine, trace in zip(batch, traces):
        _checked(trace, trace_of(machine, (), tokens)[:tokens], f"machine {machine.to_text()}")
    total = machines * tokens
    row = [str(machines), f"{tokens:,}", f"{seconds:.2f}", f"{total / seconds:,.0f}", f"{tokens / seconds:,.0f}"]
    return title, columns, [row], ""


def hard_sizes_table(exponents: Sequence[int]) -> Report:
    title = "the hard-attention model of BB(5) against max_seq_len"
    columns = ["max_seq_len", *_SIZE_COLUMNS, "float32 exact", "compile s"]
    machine = load_machine(BB5)
    rows = []
    for exponent in exponents:
        start = time.perf_counter()
        summary = compile_machine(machine, 2**exponent, attention="hard").summary()
        seconds = time.perf_counter() - start
        rows.append([f"2^{exponent}", *_size_cells(summary), str(summary["float32_ok"]), f"{seconds:.1f}"])
    return title, columns, rows, ""


def formats_table(steps: int) -> Report:
    """BB(5) for `steps` steps in both trace formats, each generated from its own hard model."""
    title = f"BB(5), {steps:,} steps from hard weights (float64): the tape-copy and the compact Turing Program"
    columns = ["program", "trace tokens", "tokens per step", "model positions", *_SIZE_COLUMNS, "steps/s", "tokens/s"]
    machine = load_machine(BB5)
    rows = []
    for name, program in (("tape-copy", POSITIONAL), ("compact", COMPACT)):
        trace_format = program.trace_format
        reference = trace_format.reference(machine, (), steps)
        model = compile_machine(machine, model_length(len(reference)), program, attention="hard")
        prompt = trace_format.prompt(machine, ())
        rate = _fast_rate(model, prompt, reference)
        seconds = (len(reference) - len(prompt)) / rate
        rows.append(
            [
                name,
                f"{len(reference):,}",
                f"{len(reference) / steps:,.2f}",
                f"{model.max_seq_len:,}",
                *_size_cells(model.summary()),
                f"{steps / seconds:,.0f}",
                f"{rate:,.0f}",
            ]
        )
    return title, columns, rows, "fast decoder, timed after a warm-up run; both traces equal the reference simulator's"


def compact_sizes_table(exponents: Sequence[int]) -> Report:
    """The compact model of BB(5) against max_seq_len, or the compiler's refusal."""
    title = "the compact Turing Program's hard model of BB(5) against max_seq_len"
    columns = ["max_seq_len", *_SIZE_COLUMNS, "compile s"]
    machine = load_machine(BB5)
    rows = []
    for exponent in exponents:
        start = time.perf_counter()
        try:
            cells = _size_cells(compile_machine(machine, 2**exponent, COMPACT, attention="hard").summary())
        except CompileError as error:
            cells = [f"refused: {error.message}", *[""] * (len(_SIZE_COLUMNS) - 1)]
        rows.append([f"2^{exponent}", *cells, f"{time.perf_counter() - start:.1f}"])
    caption = "length-free compiles (docs/compiler.md): one size at every length, refused past the exact range"
    return title, columns, rows, caption


def long_runs_table() -> Report:
    """BB(5) for 8,500 steps and BB(4) to its halt, generated from hard weights."""
    title = "long runs from hard-attention weights (float64), checked token by token"
    columns = ["machine", "steps", "trace tokens", "model positions", "compile s", "generate s", "tokens/s", "equal"]
    rows = []
    for name, spec, steps in (("BB(4)", BB4, 107), ("BB(5)", BB5, 8500)):
        machine = load_machine(spec)
        reference = trace_of(machine, (), steps)
        start = time.perf_counter()
        model = compile_machine(machine, model_length(len(reference)), attention="hard")
        compile_seconds = time.perf_counter() - start
        prompt = _prompt(machine)
        decoder = FastDecoder(model, "float64")
        tokens, seconds = _timed(decoder.generate, prompt, len(reference) - len(prompt), stop=["#"])
        rows.append(
            [
                name,
                f"{steps:,}",
                f"{len(reference):,}",
                f"{model.max_seq_len:,}",
                f"{compile_seconds:.1f}",
                f"{seconds:.2f}",
                f"{(len(reference) - len(prompt)) / seconds:,.0f}",
                str(list(tokens) == list(reference)),
            ]
        )
    return title, columns, rows, "generate s: the second of two runs (the first compiles the XLA program)"


def shapes_table(tokens: int) -> Report:
    title = f"the compiled Turing Program per machine shape (models of {tokens} positions)"
    columns = [
        "states",
        "symbols",
        *_SIZE_COLUMNS,
        "compile s",
        "compiled tok/s",
        "interpreter tok/s",
        "reference tok/s",
    ]
    rows = []
    for n_states in range(2, 7):
        for n_symbols in range(2, 5):
            machine = random_machine(n_states, n_symbols, seed=n_states * 10 + n_symbols, halt_share=0.0)
            start = time.perf_counter()
            model = compile_machine(machine, tokens)
            seconds = time.perf_counter() - start
            summary = model.summary()
            engine = _Prebuilt(model)
            tokens_per_second(engine, machine, tokens)  # warm-up: the XLA compilation of the step
            rows.append(
                [
                    str(n_states),
                    str(n_symbols),
                    *_size_cells(summary),
                    f"{seconds:.2f}",
                    f"{tokens_per_second(engine, machine, tokens):,.0f}",
                    f"{tokens_per_second(InterpreterEngine(), machine, tokens):,.0f}",
                    f"{tokens_per_second(ReferenceEngine(), machine, tokens):,.0f}",
                ]
            )
    return title, columns, rows, ""


def lengths_table(lengths: Sequence[int]) -> Report:
    title = f"model size against max_seq_len ({SWEEPER}, 4 states, 2 symbols)"
    columns = ["max_seq_len", *_SIZE_COLUMNS, "non-zero", "compile s"]
    rows = []
    machine = load_machine(SWEEPER)
    for length in lengths:
        start = time.perf_counter()
        summary = compile_machine(machine, length).summary()
        seconds = time.perf_counter() - start
        rows.append(
            [
                f"{length:,}",
                *_size_cells(summary),
                f"{summary['nonzero_params']:,}",
                f"{seconds:.2f}",
            ]
        )
    return title, columns, rows, ""


def first_divergences(length: int, dtype: str) -> dict[str, int | None]:
    """Per exactness machine, the first position where the generated trace of `length` tokens
    differs from the reference (None: exact)."""
    cases = {name: (load_machine(spec), tape) for name, (spec, tape) in EXACTNESS_MACHINES.items()}
    traces = {name: trace_of(machine, tape, length)[:length] for name, (machine, tape) in cases.items()}
    models = [compile_machine(machine, length) for machine, _ in cases.values()]
    shape = common_shape(models)
    prompts = [trace[: trace.index("|") + 1] for trace in traces.values()]
    generated = batch_generate([pad(model, shape) for model in models], prompts, length, dtype)
    result: dict[str, int | None] = {}
    for (name, trace), prompt, predictions in zip(traces.items(), prompts, generated):
        tokens = prompt + predictions[len(prompt) - 1 : length - 1]
        result[name] = next((i for i, (a, b) in enumerate(zip(trace, tokens)) if a != b), None)
    return result


def forward_divergence(length: int) -> int | None:
    """The first wrong prediction of the whole-sequence forward pass in float32 on the sweeper's
    trace (teacher forcing: the context is the reference trace), or None."""
    machine = load_machine(SWEEPER)
    trace = trace_of(machine, (), length)[:length]
    outputs = compile_machine(machine, length)(trace, dtype="float32")
    start = trace.index("|")
    return next((i + 1 for i in range(start, length - 1) if outputs[i] != trace[i + 1]), None)


def exactness_table(lengths: Sequence[int], forward_limit: int) -> Report:
    title = "exactness: the first generated token that differs from the reference (- : none)"
    columns = ["max_seq_len = trace tokens", "compiler's float32 verdict"]
    columns += [f"{dtype}: {name}" for dtype in ("float32", "float64") for name in EXACTNESS_MACHINES]
    columns.append("float32 forward pass: sweeper")
    rows = []
    longest = {"float32": 0, "float64": 0}  # every length up to it was exact
    broken = {"float32": False, "float64": False}
    for length in lengths:
        row = [f"{length:,}", str(compile_machine(load_machine(SWEEPER), length).summary()["float32_ok"])]
        for dtype in ("float32", "float64"):
            divergences = first_divergences(length, dtype)
            row += ["-" if d is None else f"{d:,}" for d in divergences.values()]
            broken[dtype] = broken[dtype] or any(d is not None for d in divergences.values())
            longest[dtype] = longest[dtype] if broken[dtype] else length
        forward = forward_divergence(length) if length <= forward_limit else "not run"
        row.append("-" if forward is None else f"{forward:,}" if isinstance(forward, int) else forward)
        rows.append(row)
    return (
        title,
        columns,
        rows,
        f"longest exact length measured: float32 {longest['float32']:,}, float64 {longest['float64']:,}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reports", nargs="+", default=["speed", "batch", "sizes", "formats", "compact-sizes"], choices=list(REPORTS)
    )
    parser.add_argument("--lengths-speed", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds a dense or interpreter run may take")
    parser.add_argument("--batch", type=int, default=64, help="machines in the batch report")
    parser.add_argument("--batch-tokens", type=int, default=2000, help="tokens per machine in the batch report")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 12, 14, 16, 18, 20], help="max_seq_len exponents")
    parser.add_argument("--tokens", type=int, default=512, help="softmax shapes report: tokens per machine")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--exactness", type=int, nargs="+", default=[256, 384, 512, 768, 1024, 2048, 4096, 8192])
    parser.add_argument("--forward-limit", type=int, default=2048, help="longest forward pass checked")
    parser.add_argument("--format-steps", type=int, default=5000, help="BB(5) steps in the formats report")
    parser.add_argument(
        "--compact-sizes", type=int, nargs="+", default=[10, 16, 20, 26, 27], help="max_seq_len exponents"
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for docs/turing.md)")
    args = parser.parse_args()
    console = Console(width=250)
    for name in args.reports:
        show(console, *REPORTS[name](args), markdown=args.markdown)


REPORTS = {
    "speed": lambda args: speed_table(args.lengths_speed, args.budget),
    "batch": lambda args: batch_table(args.batch, args.batch_tokens),
    "sizes": lambda args: hard_sizes_table(args.sizes),
    "formats": lambda args: formats_table(args.format_steps),
    "compact-sizes": lambda args: compact_sizes_table(args.compact_sizes),
    "bb5": lambda args: long_runs_table(),
    "shapes": lambda args: shapes_table(args.tokens),
    "lengths": lambda args: lengths_table(args.lengths),
    "exactness": lambda args: exactness_table(sorted(args.exactness), args.forward_limit),
}


def show(console: Console, title: str, columns: list[str], rows: list[list[str]], caption: str, markdown: bool) -> None:
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        console.print("\n".join([*lines, "", caption, ""]), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=title, caption=caption or None)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
