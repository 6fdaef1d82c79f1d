"""The hostile-input corpus (issue 23, item 5): generated cases of every family the issue found
defects in, each run through the `rasp` command line in a process of its own under an
address-space limit and a timeout (forked from a server that imported the toolkit once,
tests/forked_cli.py; a file-size limit, when a case sets one, makes writes past it fail with
EFBIG as a full disk would), each checked against the guarantees docs/cli.md states:

- the exit code is a documented one (0 success, 1 a failed verification, 2 a user error, 141
  a closed pipe), and the one the case expects;
- no Python traceback reaches standard error, and no raw control character (error messages
  show them escaped);
- a command that exits 0 on a damaged model prints what the intact model prints (damage is
  refused or harmless, never silently wrong);
- a file that existed before a failed write is unchanged.

The families: damaged model files (truncated at random offsets, flipped bytes, empty, metadata
that is not JSON or disagrees with the weights, tampered shapes; `.npz` and `.safetensors`),
writes that fail (a file-size limit, as on a full disk), generated deep programs, malformed
program text (control characters, byte-order marks, invalid UTF-8), hostile `--input` text,
huge `--max-len`, `--check`, `--max-steps` and `--budget` values, and a pipe closed early.
One small compiled model (a reverse over a, b, c of 4 tokens) serves every model case.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # about 80 commands, most of which run JAX

ROOT = Path(__file__).resolve().parents[1]
SORT = ROOT / "programs" / "lib" / "sort.rasp"
LIMIT = 3 << 30  # bytes of address space per command
TIMEOUT = 180  # seconds per command
DOCUMENTED = {0, 1, 2}
CLOSED_PIPE = 141
REVERSE = "rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n"
INTACT_OUTPUT = "abc: c b a"  # what the intact model prints for --input abc

#: Runs `rasp` (the CLI's `main`) in a fresh interpreter under the address-space limit.
RUNNER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from rasp_toolkit import cli
sys.exit(cli.main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Workspace:
    """The folder of one case, holding the shared model and program."""

    folder: Path

    @property
    def model(self) -> Path:
        return self.folder / "rev.npz"

    @property
    def safetensors(self) -> Path:
        return self.folder / "rev.safetensors"

    @property
    def program(self) -> Path:
        return self.folder / "rev.rasp"

    def file(self, name: str, content: bytes | str) -> str:
        """Writes a file of the case and returns its path."""
        path = self.folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)


@dataclass(frozen=True)
class Case:
    """One command: its arguments (made in the case's workspace), the exit codes it may end
    with, whether exit 0 must print the intact model's output, the file a failed write must
    leave unchanged and the file-size limit that makes writes fail."""

    name: str
    argv: Callable[[Workspace], list[str]]
    exits: frozenset[int]
    intact: bool = False
    precious: str | None = None
    fsize: int = 0


def case(name: str, argv: Callable[[Workspace], list[str]], *exits: int, **options: object) -> Case:
    return Case(name, argv, frozenset(exits), **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- damaged models


def _damaged(make: Callable[[bytes], bytes], source: str = "model") -> Callable[[Workspace], list[str]]:
    """`run-model` on the shared model (or its .safetensors copy) damaged by `make`."""

    def argv(ws: Workspace) -> list[str]:
        original = getattr(ws, source)
        path = ws.file("damaged" + original.suffix, make(original.read_bytes()))
        return ["run-model", path, "--input", "abc"]

    return argv


def _truncated(fraction: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * fraction)]


def _flipped(fraction: float) -> Callable[[bytes], bytes]:
    def flip(data: bytes) -> bytes:
        where = int(len(data) * fraction)
        return data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1 :]

    return flip


def _rewritten(name: str, value: Callable[[np.ndarray], np.ndarray]) -> Callable[[bytes], bytes]:
    """An .npz whose entry `name` is replaced by `value(old)`, the rest kept byte for byte."""

    def rewrite(data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
            for item in old.namelist():
                if item == f"{name}.npy":
                    buffer = io.BytesIO()
                    np.save(buffer, value(np.load(io.BytesIO(old.read(item)))))
                    new.writestr(item, buffer.getvalue())
                else:
                    new.writestr(item, old.read(item))
        return out.getvalue()

    return rewrite


def _metadata(edit: Callable[[dict], dict]) -> Callable[[np.ndarray], np.ndarray]:
    """Metadata (JSON text as bytes) edited as a dictionary."""
    return lambda old: np.frombuffer(json.dumps(edit(json.loads(old.tobytes()))).encode(), np.uint8)


def _more_vocabulary(metadata: dict) -> dict:
    return {**metadata, "vocab": [*metadata["vocab"], {"str": "d"}, {"str": "e"}]}


def _header_length(length: int) -> Callable[[bytes], bytes]:
    """A .safetensors file whose header claims `length` bytes."""
    return lambda data: struct.pack("<Q", length) + data[8:]


_RANDOM = random.Random(23)
DAMAGED = [
    *(
        case(f"npz truncated at {f:.3f}", _damaged(_truncated(f)), 2)
        for f in sorted(_RANDOM.random() for _ in range(3))
    ),
    *(
        case(f"npz byte flipped at {f:.3f}", _damaged(_flipped(f)), 0, 2, intact=True)
        for f in sorted(_RANDOM.random() for _ in range(3))
    ),
    case("npz empty", _damaged(lambda data: b""), 2),
    case("npz not a zip", _damaged(lambda data: b"PK\x03\x04 but nothing else"), 2),
    case(
        "npz metadata not JSON", _damaged(_rewritten("__metadata__", lambda old: np.frombuffer(b"{not", np.uint8))), 2
    ),
    case("npz two more tokens in metadata", _damaged(_rewritten("__metadata__", _metadata(_more_vocabulary))), 2),
    case(
        "npz max_seq_len 1000", _damaged(_rewritten("__metadata__", _metadata(lambda m: {**m, "max_seq_len": 1000}))), 2
    ),
    case("npz embedding of another shape", _damaged(_rewritten("token_embed", lambda old: np.zeros((7, 3)))), 2),
    case("npz weights NaN", _damaged(_rewritten("unembed", lambda old: np.full_like(old, np.nan))), 2),
    case("npz weights changed", _damaged(_rewritten("unembed", lambda old: old + 1.0)), 2),
    *(case(f"safetensors truncated at {f:.3f}", _damaged(_truncated(f), "safetensors"), 2) for f in (0.004, 0.3, 0.9)),
    *(
        case(f"safetensors byte flipped at {f:.3f}", _damaged(_flipped(f), "safetensors"), 0, 2, intact=True)
        for f in (0.002, 0.2, 0.95)
    ),
    case("safetensors header of 2^60 bytes", _damaged(_header_length(1 << 60), "safetensors"), 2),
    case("safetensors header not JSON", _damaged(lambda data: struct.pack("<Q", 4) + b"{not", "safetensors"), 2),
]

# ------------------------------------------------------------------------------ failed writes


def _write_over(output: str, *command: str) -> Callable[[Workspace], list[str]]:
    """A command writing `-o output` over a file already there (a copy of the shared model)."""

    def argv(ws: Workspace) -> list[str]:
        ws.file(output, ws.model.read_bytes())
        return [*(str(ws.program) if part == "PROGRAM" else part for part in command), "-o", str(ws.folder / output)]

    return argv


COMPILE = ("compile", "PROGRAM", "rev", "--vocab", "a,b,c", "--max-len", "5")
WRITES = [
    case("compile -o npz, disk full", _write_over("old.npz", *COMPILE), 2, precious="old.npz", fsize=4096),
    case(
        "compile -o safetensors, disk full",
        _write_over("old.safetensors", *COMPILE),
        2,
        precious="old.safetensors",
        fsize=4096,
    ),
    case("compile refused, -o kept", _write_over("old.npz", *COMPILE[:-1], "10000000"), 2, precious="old.npz"),
    case(
        "compile of an unknown name, -o kept",
        _write_over("old.npz", "compile", "PROGRAM", "nothing", "--vocab", "a", "--max-len", "4"),
        2,
        precious="old.npz",
    ),
    case(
        "tm universal -o, disk full",
        _write_over("old.npz", "tm", "universal", "--states", "1", "--symbols", "2", "--max-len", "16"),
        2,
        precious="old.npz",
        fsize=4096,
    ),
]

# ---------------------------------------------------------------------------- deep programs


def _run_text(text: str, *extra: str, command: str = "run") -> Callable[[Workspace], list[str]]:
    """`rasp run` (or `compile`, `repl`) of a program file holding `text`."""
    return lambda ws: [command, ws.file("program.rasp", text), *extra]


#: The running example the deep programs are checked on as they are defined (ints, not "hello").
EXAMPLE = "set example [1, 2]\n"


def _chain(depth: int) -> str:
    return EXAMPLE + "x = tokens_int" + " + 1" * depth + ";\n"


def _nested(depth: int) -> str:
    return EXAMPLE + "x = " + "(" * depth + "tokens_int" + ")" * depth + ";\n"


def _calls(depth: int) -> str:
    return EXAMPLE + "def f(a) {\n  return a + 1;\n}\nx = " + "f(" * depth + "tokens_int" + ")" * depth + ";\n"


def _assignments(count: int) -> str:
    return EXAMPLE + "x0 = tokens_int;\n" + "".join(f"x{i} = x{i - 1} + 1;\n" for i in range(1, count + 1))


DEEP = [
    case("600 chained +", _run_text(_chain(600), "x", "--input", "[1, 2]"), 0),
    case("60,000 chained +", _run_text(_chain(60_000), "x", "--input", "[1, 2]"), 0, 2),
    case("20,000 nested parentheses", _run_text(_nested(20_000), "x", "--input", "[1, 2]"), 0, 2),
    case("100,000 nested parentheses", _run_text(_nested(100_000), "x", "--input", "[1, 2]"), 0, 2),
    case("1,000 nested calls", _run_text(_calls(1_000), "x", "--input", "[1, 2]"), 0),
    case(
        "600 chained assignments compiled",
        _run_text(_assignments(600), "x600", "--vocab", "1,2", "--max-len", "3", "--check", "1", command="compile"),
        0,
    ),
    case("a recursion that does not stop", _run_text("def f(a) {\n  return f(a);\n}\nx = f(tokens);\n"), 2),
]

# ---------------------------------------------------------------------- malformed program text

VALID = REVERSE.encode()
MALFORMED = [
    case("escape sequence in a name", _run_text("re\x1b[31mv = tokens;\n"), 2),
    case("escape sequence in a string", _run_text('rev = tokens == "\x1b[2J";\n', "--input", "abc"), 0, 2),
    case("NUL byte", _run_text("rev = tok\x00ens;\n"), 2),
    case("bell and delete", _run_text("rev = \x07tokens\x7f;\n"), 2),
    case("C1 control character", _run_text("rev = tokens\x9b;\n"), 2),
    case("byte-order mark", lambda ws: ["run", ws.file("bom.rasp", b"\xef\xbb\xbf" + VALID), "--input", "abc"], 0),
    case("byte-order mark mid-file", lambda ws: ["run", ws.file("bom.rasp", VALID + b"\xef\xbb\xbfx = 1;\n")], 0, 2),
    case("invalid UTF-8", lambda ws: ["run", ws.file("bad.rasp", b"rev = \xff\xfe tokens;\n")], 2),
    case("a surrogate encoded", lambda ws: ["run", ws.file("bad.rasp", b'x = "\xed\xa0\x80";\n')], 2),
    case(
        "CRLF line ends", lambda ws: ["run", ws.file("crlf.rasp", VALID.replace(b"\n", b"\r\n")), "--input", "abc"], 0
    ),
    case("unterminated string", _run_text('x = "abc;\n'), 2),
    case(
        "repl of a file with bad lines", lambda ws: ["repl", ws.file("mixed.rasp", "x = tokens;\ny = \x1b[31m;\n")], 0
    ),
    case("repl of invalid UTF-8", lambda ws: ["repl", ws.file("bad.rasp", b"\xff\n")], 0),
]

# ----------------------------------------------------------------------------- hostile inputs


def _sort(text: str) -> Callable[[Workspace], list[str]]:
    return lambda ws: ["run", str(SORT), "sorted", "--input", text]


def _model_input(text: str) -> Callable[[Workspace], list[str]]:
    return lambda ws: ["run-model", str(ws.model), "--input", text]


def _sort_file(text: str) -> Callable[[Workspace], list[str]]:
    return lambda ws: ["run", str(SORT), "sorted", "--input", "@" + ws.file("input.json", text)]


INPUTS = [
    case("a dictionary token", _sort('[{"a": 1}]'), 2),
    case("Infinity", _sort("[Infinity, 1]"), 0, 2),
    case("NaN", _sort("[NaN, 1]"), 0, 2),
    case("1e999", _sort("[1e999, 1]"), 0, 2),
    case("a nested list", _sort("[[1, 2], 3]"), 2),
    case("JSON cut short", _sort("[1, 2"), 2),
    case("an empty list", _sort("[]"), 2),
    case("an escape sequence as input", _sort("\x1b[31m"), 2),
    case("an int of 10,000 digits", _sort_file("[1" + "0" * 10_000 + ", 2]"), 0, 2),
    case("JSON nested 100,000 deep", _sort_file("[" * 100_000 + "]" * 100_000), 2),
    case("a missing input file", lambda ws: ["run", str(SORT), "sorted", "--input", "@" + str(ws.folder / "none")], 2),
    case("a folder as input file", lambda ws: ["run", str(SORT), "sorted", "--input", "@" + str(ws.folder)], 2),
    case("run-model, a dictionary token", _model_input('[{"a": 1}]'), 2),
    case("run-model, a token outside the vocabulary", _model_input("abx"), 2),
    case("run-model, longer than the model", _model_input("abcabc"), 2),
    case(
        "run-model, 100,000 tokens",
        lambda ws: ["run-model", str(ws.model), "--input", "@" + ws.file("long.txt", "a" * 100_000)],
        2,
    ),
]

# ------------------------------------------------------------------------------- huge values

HUGE = [
    case("compile --max-len 10^7", lambda ws: [*COMPILE[:-1], "10000000"], 2),
    case("compile --max-len 10^7 hard", lambda ws: [*COMPILE[:-1], "10000000", "--attention", "hard"], 2),
    case("compile --check 10^9", lambda ws: [*COMPILE, "--check", "1000000000"], 2),
    case("compile --budget 1", lambda ws: [*COMPILE, "--budget", "1"], 2),
    case("compile --max-len -5", lambda ws: [*COMPILE[:-1], "-5"], 2),
    case(
        "tm compile --max-len 10^9 hard",
        lambda ws: ["tm", "compile", "1RB1LB_1LA1RZ", "--max-len", "1000000000", "--attention", "hard"],
        2,
    ),
    case(
        "tm universal --max-len 10^9 hard",
        lambda ws: [
            "tm",
            "universal",
            "--states",
            "2",
            "--symbols",
            "2",
            "--max-len",
            "1000000000",
            "--attention",
            "hard",
        ],
        2,
    ),
    case(
        "tm verify --all --program positional --max-steps 10^5",
        lambda ws: [
            "tm", "verify", "--all", "--states", "2", "--symbols", "2", "--max-steps", "100000",
            "--program", "positional",
        ],
        2,
    ),
    case(
        "tm run non-halting, --max-steps 10^12",
        lambda ws: ["tm", "run", "1RA1RA", "--max-steps", str(10**12), "--max-tokens", "100"],
        0,
    ),
    case(
        "tm run --engine universal --max-len 10^9",
        lambda ws: ["tm", "run", "1RB1LB_1LA1RZ", "--engine", "universal", "--max-len", "1000000000"],
        2,
    ),
]

CASES = [*DAMAGED, *WRITES, *DEEP, *MALFORMED, *INPUTS, *HUGE]


@dataclass
class Commands:
    """Runs `rasp` commands, each in its own process under the limits: forked from one server
    that has imported the toolkit once (tests/forked_cli.py), as a fresh interpreter would run it."""

    server: subprocess.Popen[str]

    def __call__(self, argv: list[str], cwd: Path, fsize: int = 0) -> subprocess.CompletedProcess[str]:
        request = {
            "argv": argv,
            "cwd": str(cwd),
            "env": {"RASP_TOOLKIT_CACHE": str(cwd / "cache")},
            "limit": LIMIT,
            "fsize": fsize,
            "timeout": TIMEOUT,
        }
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        assert line, f"the command server ended: {self.server.poll()}"
        answer = json.loads(line)
        assert not answer["timed_out"], f"{argv} ran past {TIMEOUT} s"
        return subprocess.CompletedProcess(argv, answer["returncode"], answer["stdout"], answer["stderr"])


@pytest.fixture(scope="module")
def rasp() -> Iterator[Commands]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "forked_cli.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    yield Commands(server)
    assert server.stdin is not None
    server.stdin.close()
    assert server.wait(timeout=TIMEOUT) == 0


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, rasp: Commands) -> Path:
    """The small model every model case damages or overwrites, compiled once."""
    folder = tmp_path_factory.mktemp("shared")
    (folder / "rev.rasp").write_text(REVERSE)
    for name in ("rev.npz", "rev.safetensors"):
        result = rasp(
            [
                "compile",
                str(folder / "rev.rasp"),
                "rev",
                "--vocab",
                "a,b,c",
                "--max-len",
                "4",
                "-o",
                str(folder / name),
            ],
            folder,
        )
        assert result.returncode == 0, result.stderr
    return folder


def raw_controls(text: str) -> list[str]:
    """The control characters of `text` other than newline and tab."""
    return [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(c, id=c.name)
        for c in CASES
    ],
)
def test_hostile_input_ends_as_documented(item: Case, shared: Path, rasp: Commands, tmp_path: Path) -> None:
    for name in ("rev.rasp", "rev.npz", "rev.safetensors"):
        (tmp_path / name).write_bytes((shared / name).read_bytes())
    ws = Workspace(tmp_path)
    argv = item.argv(ws)
    before = hashlib.sha256((tmp_path / item.precious).read_bytes()).hexdigest() if item.precious else None
    result = rasp(argv, tmp_path, item.fsize)
    assert result.returncode in DOCUMENTED, (result.returncode, result.stderr[-2000:])
    assert result.returncode in item.exits, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    assert "Traceback (most recent call last)" not in result.stderr + result.stdout
    assert raw_controls(result.stderr) == []
    if result.returncode == 2:
        assert result.stderr.strip(), "a refusal says why"
    if item.intact and result.returncode == 0:
        assert result.stdout.strip() == INTACT_OUTPUT
    if before is not None:
        assert hashlib.sha256((tmp_path / item.precious).read_bytes()).hexdigest() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`rasp run ... | head -c 5`: 0 if the output was written before the reader left, else
    141, and no traceback either way."""
    program = tmp_path / "copy.rasp"
    program.write_text("copy = tokens;\n")
    runner = RUNNER.format(limit=LIMIT)
    command = [sys.executable, "-c", runner, "run", str(program), "copy", "--input", "a" * 100_000]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(5)
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=TIMEOUT) in (0, CLOSED_PIPE)
    assert "Traceback" not in error
