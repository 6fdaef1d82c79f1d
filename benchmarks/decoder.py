"""The dense KV-cached decoder (`compiled_model.decoder.Decoder`) on the compiled Turing Program: tokens per
second feeding the busy beaver BB(4)'s trace (1,149 tokens) one token at a time into models of
several max_seq_len, each prediction checked against the trace.

    PYTHONPATH=. python benchmarks/decoder.py [--lengths 2048 8192] [--repeats 2]

A step attends over the cache rows up to the next power of two past its position
(`compiled_model.arithmetic.spans`), so its cost follows the trace's length, not the model's capacity;
"whole cache" attends over every row at every step, as the decoder did before.  Timing excludes
compilation (one untimed run each first); the best of `--repeats` interleaved runs is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from compiled_model.arithmetic import spans  # noqa: E402
from compiled_model.decoder import Decoder  # noqa: E402
from turing import Machine, trace_of  # noqa: E402
from turing.engines.compiled import compile_machine  # noqa: E402

BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"


def whole_cache(capacity: int) -> tuple[int, ...]:
    """Every step attends over the whole cache (the decoder's step before spans)."""
    return (capacity,)


def decode_run(model: compiler.Transformer, trace: list[str], spans_of: Callable[[int], tuple[int, ...]]) -> float:
    """Seconds to feed `trace` (all but its last token) through a fresh decoder, checking that
    every prediction after the prompt (the first configuration, up to its `|`) is the trace's
    next token."""
    prompt = trace.index("|")
    decoder = Decoder(model, spans_of=spans_of)
    start = time.perf_counter()
    for position, token in enumerate(trace[:-1]):
        predicted = decoder.append(token)
        if position >= prompt and str(predicted) != trace[position + 1]:
            raise AssertionError(f"position {position}: predicted {predicted!r}, the trace has {trace[position + 1]!r}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    machine = Machine.from_text(BB4)
    trace = [str(token) for token in trace_of(machine, (), 10_000)]
    table = Table(title=f"BB(4) through the KV-cached decoder ({len(trace)} trace tokens)")
    for column in ("max_seq_len", "MLP units", "dtype", "compile s", "tokens/s, whole cache", "tokens/s, spans"):
        table.add_column(column, justify="right")
    for length in args.lengths:
        start = time.perf_counter()
        model = compile_machine(machine, length)
        compiled = time.perf_counter() - start
        best = {whole_cache: float("inf"), spans: float("inf")}
        for spans_of in best:
            decode_run(model, trace, spans_of)  # compiles the step
        for _ in range(args.repeats):  # interleaved, so that both see the same machine load
            for spans_of in best:
                best[spans_of] = min(best[spans_of], decode_run(model, trace, spans_of))
        speeds = [f"{(len(trace) - 1) / seconds:,.0f}" for seconds in best.values()]
        summary = model.summary()
        table.add_row(str(length), f"{summary['mlp_hidden_total']:,}", model.dtype(), f"{compiled:.1f}", *speeds)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
