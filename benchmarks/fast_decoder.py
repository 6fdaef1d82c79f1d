"""The fast decoder (`compiled_model.fast_decoder`) against the dense KV-cached decoder's scan
(`compiled_model.batch.batch_generate`) on hard-attention models of the compiled Turing Program:
tokens per second generating the BB(5) champion's trace from `$ C0 |` on one model at several
trace lengths (with `--program shift`, the library's shift instead: one lookup head, no MLP),
and the aggregate tokens per second of a vmapped batch of random machines.
Every generated trace is checked against the reference trace.

    PYTHONPATH=. python benchmarks/fast_decoder.py [--lengths 4096 16384] [--tokens 1000 4000]
        [--batch 16] [--batch-length 1024] [--chunk 1024] [--program bb5|shift]
        [--single-only | --batch-only] [--repeats 2]

Timing excludes compilation (each run is done once untimed first, with the same shapes); the
best of `--repeats` interleaved runs is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from compiled_model.batch import batch_generate  # noqa: E402
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate  # noqa: E402
from compiled_model.fast_plan import plan_of  # noqa: E402
from compiled_model.shapes import common_shape, pad  # noqa: E402
from rasp.programs import library_program  # noqa: E402
from turing import Machine, trace_of  # noqa: E402
from turing.program import POSITIONAL, machine_bindings  # noqa: E402
from turing.random_machines import random_machine  # noqa: E402

BB5 = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
DTYPE = "float64"


def hard_model(machine: Machine, length: int) -> compiler.Transformer:
    vocab = machine_bindings(machine)["tm_vocab"]
    return compiler.compile(POSITIONAL.sop(machine), vocab, length, causal=True, attention="hard")


def best_times(runs: list[Callable[[], list[list[str]]]], references: list[list[str]], repeats: int) -> list[float]:
    """Per run, the best seconds of `repeats` runs, interleaved so that every run sees the same
    machine load, after one untimed run each (which compiles); every trace is checked."""
    best = [float("inf")] * len(runs)
    for repeat in range(repeats + 1):
        for index, run in enumerate(runs):
            start = time.perf_counter()
            traces = run()
            if repeat:
                best[index] = min(best[index], time.perf_counter() - start)
            for trace, reference in zip(traces, references):
                if trace != reference[: len(trace)] or len(trace) < min(len(reference), 2):
                    raise AssertionError(f"a generated trace leaves the reference at {len(trace)} tokens or before")
    return best


def dense_traces(models: list[compiler.Transformer], prompts: list[list[str]], tokens: int) -> list[list[str]]:
    """The dense decoder's traces: the prompt, then its predictions from the prompt's end."""
    predictions = batch_generate(models, prompts, tokens, DTYPE)
    return [[*prompt, *p[len(prompt) - 1 :]] for prompt, p in zip(prompts, predictions)]


def fast_traces(fast: FastDecoder, prompt: list[str], steps: int, stop: list[str]) -> list[list[str]]:
    return [fast.generate(prompt, steps, stop)]


def shift_model(length: int) -> compiler.Transformer:
    """programs/lib/shift.rasp (one lookup head): generating from `a b` alternates them."""
    return compiler.compile(library_program("shift"), ["a", "b", "_"], length, causal=True, attention="hard")


def single_stream(args: argparse.Namespace, table: Table) -> None:
    """One model per length: the BB(5) champion's Turing model, or the shift (`--program`)."""
    if args.program == "bb5":
        machine = Machine.from_text(BB5)
        reference = [str(token) for token in trace_of(machine, (), 100_000)]
        prompt = reference[: reference.index("|") + 1]
    else:
        reference, prompt = ["a", "b"] * max(args.tokens), ["a", "b"]
    stop = ["#"] if args.program == "bb5" else []
    for length in args.lengths:
        model = hard_model(Machine.from_text(BB5), length) if args.program == "bb5" else shift_model(length)
        fast = FastDecoder(model, DTYPE, args.chunk)
        layers = plan_of([model]).layers
        kinds = "/".join(str(sum(len(getattr(layer, k)) for layer in layers)) for k in ("scanned", "lookups", "dense"))
        for tokens in (t for t in args.tokens if t <= length):
            steps = tokens - len(prompt)
            runs = [partial(dense_traces, [model], [prompt], tokens), partial(fast_traces, fast, prompt, steps, stop)]
            dense, quick = best_times(runs, [reference], args.repeats)
            table.add_row(
                args.program,
                str(length),
                f"{model.summary()['mlp_hidden_total']:,}",
                kinds,
                f"{tokens:,}",
                f"{steps / dense:,.0f}",
                f"{steps / quick:,.0f}",
            )


def batch(args: argparse.Namespace, table: Table) -> None:
    machines = [random_machine(3, 2, seed, halt_share=0.0) for seed in range(args.batch)]
    models = [hard_model(machine, args.batch_length) for machine in machines]
    models = [pad(model, common_shape(models)) for model in models]
    references = [[str(t) for t in trace_of(machine, (), args.batch_length)] for machine in machines]
    prompts = [reference[: reference.index("|") + 1] for reference in references]
    tokens = args.batch_length
    generated = sum(tokens - len(prompt) for prompt in prompts)
    steps = [tokens - len(prompt) for prompt in prompts]
    runs = [
        partial(dense_traces, models, prompts, tokens),
        partial(batch_fast_generate, models, prompts, steps, ["#"], DTYPE, chunk=args.chunk),
    ]
    dense, quick = best_times(runs, references, args.repeats)
    table.add_row(
        f"{args.batch} random, vmapped",
        str(args.batch_length),
        f"{models[0].summary()['mlp_hidden_total']:,}",
        "",
        f"{tokens:,} each",
        f"{generated / dense:,.0f}",
        f"{generated / quick:,.0f}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batch-length", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--program", choices=("bb5", "shift"), default="bb5", help="the single-stream model")
    parser.add_argument("--batch-only", action="store_true")
    parser.add_argument("--single-only", action="store_true")
    args = parser.parse_args(argv)
    table = Table(title=f"Hard-attention models, greedy generation ({DTYPE}), tokens/s")
    columns = ("model", "max_seq_len", "MLP units", "heads scan/look/dense", "trace tokens", "dense KV scan")
    columns += ("fast decoder",)
    for column in columns:
        table.add_column(column, justify="right")
    if not args.batch_only:
        single_stream(args, table)
    if not args.single_only:
        batch(args, table)
    Console(width=150).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
