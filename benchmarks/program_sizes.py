"""The size (parameters / residual width) of every `programs/lib` program at N = 10, 20 and 50
and of the Turing programs' models, soft and hard, so that a change to the compiler can show
that they keep their sizes or shrink: `--save` writes the sizes as JSON, `--compare` prints
them beside an earlier file (run it on the commit before the change, then on the change).

    PYTHONPATH=. python benchmarks/program_sizes.py [--save sizes.json] [--compare before.json]

Sizes come from the compiler alone (no self-check); a refusal is listed as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from rasp.programs import library, library_program  # noqa: E402
from turing import load_machine  # noqa: E402
from turing.engines.compiled import compile_machine  # noqa: E402
from turing.program import COMPACT, POSITIONAL  # noqa: E402
from turing.shape import Shape  # noqa: E402
from turing.universal import COMPACT_PROGRAM, PROGRAM  # noqa: E402
from turing.universal_model import compile_universal  # noqa: E402

BB3 = "1RB1RZ_1LB0RC_1LC1LA"
Size = tuple[int, int] | str  # (params, width) or the refusal


def _size(build: Callable[..., compiler.Transformer], *args: Any, **options: Any) -> Size:
    try:
        summary = build(*args, **options).summary()
    except compiler.CompileError as error:
        return f"refused: {error.message}"
    return summary["params"], summary["residual_width"]


def sizes() -> dict[str, Size]:
    """Every configuration's size, by a name that says what was compiled."""
    result: dict[str, Size] = {}
    for name, program in library().items():
        for n in (10, 20, 50):
            vocab = tuple(range(n)) if name == "sort_unique" else program.alphabet
            for attention in ("soft", "hard"):
                options = {"causal": program.causal, "attention": attention, "check": 0}
                sop = library_program(name)
                result[f"lib/{name} N={n} {attention}"] = _size(compiler.compile, sop, vocab, n, **options)
    machine = load_machine(BB3)
    for turing_program, label in ((POSITIONAL, "positional"), (COMPACT, "compact")):
        for attention in ("soft", "hard"):
            key = f"tm {label} BB(3) N=256 {attention}"
            result[key] = _size(compile_machine, machine, 256, turing_program, attention)
    for universal in (PROGRAM, COMPACT_PROGRAM):
        for shape in (Shape(2, 2), Shape(3, 2)):
            for attention in ("soft", "hard"):
                key = f"universal {universal} {shape.states}x{shape.symbols} N=256 {attention}"
                result[key] = _size(compile_universal, shape, 256, attention, universal)
    return result


def _text(size: Size | None) -> str:
    if size is None:
        return ""
    return size if isinstance(size, str) else f"{size[0]:,} / {size[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", type=Path, help="write the sizes to this JSON file")
    parser.add_argument("--compare", type=Path, help="an earlier --save file to print beside")
    args = parser.parse_args()
    now = sizes()
    stored = json.loads(args.compare.read_text()) if args.compare else {}
    earlier = {key: tuple(size) if isinstance(size, list) else size for key, size in stored.items()}
    table = Table(title="Model sizes (parameters / residual width)")
    for column in ("compiled", *(["earlier", "change"] if args.compare else []), "now"):
        table.add_column(column)
    for key, size in now.items():
        row = [key]
        if args.compare:
            before = earlier.get(key)
            change = "same" if before == size else ("shrank" if _smaller(size, before) else "CHANGED")
            row += [_text(before), change]
        table.add_row(*row, _text(size))
    Console(width=160).print(table)
    if args.save:
        args.save.write_text(json.dumps(now, indent=1))


def _smaller(size: Size, before: Size | None) -> bool:
    return isinstance(size, tuple) and isinstance(before, tuple) and size[0] <= before[0] and size[1] <= before[1]


if __name__ == "__main__":
    main()
