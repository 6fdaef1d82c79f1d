"""The catalogue of the shipped library programs (`programs/lib/*.rasp`), read from their headers.

Each program's file starts with a comment block of `# Field: value` lines (programs/lib/README.md
describes them): what it computes, its vocabulary, its output s-op with examples, the size of its
compiled transformer, the inputs tests and benchmarks draw for it and whether it is causal.  This
module turns each header into a frozen `LibraryProgram`, so that the files are the only list of
the library; a header that lacks a field or states one in an unreadable form is an error.

`tracr_programs()` adds what the comparison with Tracr needs (programs/lib/tracr.json): Tracr's
name for each program, the vocabulary the comparison compiles it with, and Tracr's published
sizes, which are constants from the literature.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rasp import ir
from rasp.errors import RaspError
from rasp.session import Session
from rasp.shipped import program_path, programs_dir

__all__ = [
    "LibraryProgram",
    "TracrProgram",
    "library",
    "library_program",
    "program_path",
    "programs_dir",
    "read_program",
    "tracr_programs",
]

#: The fields every header states, in order.
FIELDS = ("Task", "Vocabulary", "Output", "Size", "Inputs", "Causal")

#: The kinds of inputs a program is meant for: any tokens of its alphabet ("words"), no token
#: twice ("distinct"), or bracket sequences, properly nested or with kinds interleaved.
INPUT_KINDS = ("words", "distinct", "nested", "shuffled")


@dataclass(frozen=True)
class LibraryProgram:
    """One `programs/lib` program as its header describes it.

    `output` is the s-op the file binds as its result, `output_type` what its values are ("ints",
    "bools", "strings", "numbers" or "same type as the tokens"); `layers` and `heads` the size of
    its compiled transformer; `alphabet` the tokens tests and benchmarks draw inputs from, and
    `inputs` their kind (one of INPUT_KINDS); `causal` that the value at position i depends only
    on tokens 0..i."""

    name: str
    path: Path
    title: str
    task: str
    vocabulary: str
    output: str
    output_type: str
    layers: int
    heads: int
    inputs: str
    alphabet: tuple[Any, ...]
    causal: bool

    @property
    def numeric(self) -> bool:
        """Whether the outputs are fractions (compared with a tolerance)."""
        return self.output_type == "numbers"

    def load(self) -> ir.SOp:
        """The output s-op, from a fresh session that ran the file."""
        session = Session()
        session.run_file(self.path)
        node = session[self.output]
        if not isinstance(node, ir.SOp):
            raise RaspError(f"{self.path}: its output {self.output} is not an s-op")
        return node


def _header(path: Path) -> tuple[str, dict[str, str]]:
    """The title line and the `# Field: value` fields of the comment block a file starts with
    (a field continues on lines indented under its value)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    title = lines[0].lstrip("# ") if lines else ""
    fields: dict[str, str] = {}
    key = None
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*(\w+):\s+(.*)", line)
        if match and match.group(1) in FIELDS:
            key = match.group(1)
            fields[key] = match.group(2)
        elif key and line.startswith("#   "):
            fields[key] += " " + line.lstrip("# ")
        else:
            key = None
    return title, fields


def _token(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _alphabet(text: str) -> tuple[Any, ...]:
    """`a b c` (tokens apart by spaces, integers read as integers) or `0..15` (a range)."""
    span = re.fullmatch(r"(\d+)\.\.(\d+)", text)
    if span:
        return tuple(range(int(span.group(1)), int(span.group(2)) + 1))
    return tuple(_token(token) for token in text.split())


def read_program(path: Path) -> LibraryProgram:
    """The catalogue record of one program file, from its header."""
    title, fields = _header(path)
    missing = [field for field in FIELDS if field not in fields]
    if missing:
        raise RaspError(f"{path}: its header lacks the field(s) {', '.join(missing)}")
    output = re.match(r"`(\w+)`, ([\w ]+?);", fields["Output"])
    size = re.match(r"(\d+) layers?, (\d+) heads?\b", fields["Size"])
    inputs = re.fullmatch(r"(\w+) over (.+)", fields["Inputs"])
    causal = fields["Causal"]
    if output is None or size is None or inputs is None or inputs.group(1) not in INPUT_KINDS:
        raise RaspError(
            f"{path}: its header should read '# Output: `name`, type; ...', '# Size: L layers, H heads'"
            f" and '# Inputs: KIND over TOKENS' with KIND one of {', '.join(INPUT_KINDS)}"
        )
    if causal not in ("yes", "no"):
        raise RaspError(f"{path}: '# Causal:' should be yes or no, not {causal!r}")
    return LibraryProgram(
        name=path.stem,
        path=path,
        title=title.removeprefix(f"{path.stem}: "),
        task=fields["Task"],
        vocabulary=fields["Vocabulary"],
        output=output.group(1),
        output_type=output.group(2),
        layers=int(size.group(1)),
        heads=int(size.group(2)),
        inputs=inputs.group(1),
        alphabet=_alphabet(inputs.group(2)),
        causal=causal == "yes",
    )


@cache
def library() -> dict[str, LibraryProgram]:
    """Every library program, by file name (`library()["sort"]` is `programs/lib/sort.rasp`)."""
    return {path.stem: read_program(path) for path in sorted((programs_dir() / "lib").glob("*.rasp"))}


def library_program(name: str) -> ir.SOp:
    """The output s-op of the library program `lib/<name>.rasp` (`library_program("sort")` is
    the s-op `sorted`)."""
    if name not in library():
        raise RaspError(f"no library program named {name}; known: {', '.join(library())}")
    return library()[name].load()


# ------------------------------------------------------------------------ the comparison with Tracr


@dataclass(frozen=True)
class TracrProgram:
    """A program of Tracr's library, done by a `programs/lib` program.  `alphabet` is the
    vocabulary the comparison compiles it with (None: the integers 0..N-1, growing with N);
    `published` Tracr's (residual width, parameter count) by max_seq_len N."""

    tracr_name: str
    program: LibraryProgram
    alphabet: tuple[Any, ...] | None
    published: dict[int, tuple[int, int]]

    def vocab(self, n: int) -> tuple[Any, ...]:
        return tuple(range(n)) if self.alphabet is None else self.alphabet

    def sample(self, n: int, count: int, seed: int) -> list[list[Any]]:
        """`count` inputs (at least 2) of at most n tokens: the first of length n, the second of
        length 1, the others of random lengths; for bracket programs every other one (of even
        length at least 2) balanced, so that both verdicts occur."""
        rng = random.Random(seed)
        vocab = self.vocab(n)
        lengths = [n, 1, *(rng.randint(1, n) for _ in range(count - 2))]
        batch = []
        for index, length in enumerate(lengths):
            if self.program.inputs == "distinct":
                batch.append(rng.sample(vocab, length))
            elif self.program.inputs == "shuffled" and index % 2 == 0 and length >= 2:
                batch.append(_balanced(vocab, length - length % 2, rng))
            else:
                batch.append([rng.choice(vocab) for _ in range(length)])
        return batch


def _balanced(pairs: tuple[str, ...], length: int, rng: random.Random) -> list[str]:
    """Opening brackets of random kinds, then their closing ones in a random order (each kind
    balanced on its own, the kinds interleaved: what shuffle_dyck accepts)."""
    kinds = [rng.randrange(len(pairs) // 2) for _ in range(length // 2)]
    return [pairs[2 * k] for k in kinds] + [pairs[2 * k + 1] for k in rng.sample(kinds, len(kinds))]


@cache
def tracr_programs() -> dict[str, TracrProgram]:
    """Tracr's library programs by their names there, in programs/lib/tracr.json's order."""
    data = json.loads((programs_dir() / "lib" / "tracr.json").read_text(encoding="utf-8-sig"))
    published: dict[str, dict[int, tuple[int, int]]] = {}
    for figure in data["published"]:
        published.setdefault(figure["program"], {})[figure["n"]] = (figure["width"], figure["params"])
    return {
        name: TracrProgram(
            tracr_name=name,
            program=library()[entry["file"]],
            alphabet=None if entry["vocab"] is None else tuple(entry["vocab"]),
            published=published.get(name, {}),
        )
        for name, entry in data["programs"].items()
    }
