"""Hostile and damaged input to the `tm` commands (issue 23): the universal model cache heals
itself (its key covers every source the weights depend on, an entry is checked against its key,
a damaged entry is reported once and rebuilt, stale temporary files go, an unusable folder is a
warning), and sizes known up front are refused before anything is allocated.  Each case runs
the command line and checks the exit code, the message, that no traceback reached the user,
and what is on disk.  Every model here is the universal model of one state and two symbols at a
short length, compiled in about a second, in a cache folder of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import turing.universal_model as models
from compiled_model.transformer import load
from rasp.errors import visible as rasp_visible
from rasp_toolkit.cli import main
from turing import simulator
from turing.errors import TuringError
from turing.errors import visible as turing_visible
from turing.shape import Shape, input_bound

ROOT = Path(__file__).resolve().parents[2]
SHAPE = Shape(1, 2)
UNIVERSAL = ["tm", "universal", "--states", "1", "--symbols", "2", "--max-len", "16", "--json"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(models.CACHE_ENV, str(folder))
    return folder


def universal(capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    """`rasp tm universal` of the 1 x 2 shape at length 16 (it must exit 0): its JSON summary and
    its standard error, in which no traceback may be."""
    assert main(UNIVERSAL) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return json.loads(out), err


# ------------------------------------------------------------------------- the cache key


def digest_in(tree: Path) -> str:
    """The source digest a fresh interpreter computes from the copy of the project at `tree`."""
    code = f"import turing.universal_model as m; assert m.__file__.startswith({str(tree)!r}); print(m.source_digest())"
    environment = dict(os.environ, PYTHONPATH=str(tree), JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.mark.slow  # subprocesses
def test_an_edit_in_turing_changes_the_cache_key(tmp_path: Path) -> None:
    """`turing/program.py` binds the Turing Program's values: edited, the weights may change,
    so the key must (it once covered only the program, compiler/ and rasp/)."""
    tree = tmp_path / "tree"
    for package in ("rasp", "compiler", "turing", "programs"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = digest_in(tree)
    with (tree / "turing" / "program.py").open("a") as handle:
        handle.write("\n# an edit\n")
    assert digest_in(tree) != before
    with (tree / "programs" / "stdlib.rasp").open("a") as handle:
        handle.write("\n# an edit\n")
    assert len({before, digest_in(tree)}) == 2


BUILD_IMPORTS = """
import sys
from pathlib import Path
from turing.shape import Shape, input_bound
from turing.universal_model import PROJECT_ROOT, universal_model, weight_sources
universal_model(Shape(1, 2), 16, cache=False)
loaded = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
ours = {path for path in loaded if path.is_relative_to(PROJECT_ROOT) and "site-packages" not in path.parts}
missing = sorted(str(path) for path in ours - set(weight_sources()))
assert not missing, missing
print(len(ours), "modules")
"""


@pytest.mark.slow  # subprocesses
def test_the_cache_key_covers_every_module_a_build_loads() -> None:
    """In a fresh interpreter, every project module loaded once a model is built is among the
    files the key digests: the import walk misses nothing the build imports."""
    environment = dict(os.environ, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", BUILD_IMPORTS], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "modules" in result.stdout


# ------------------------------------------------------------------------ cache entries


def test_another_model_copied_into_an_entry_is_refused_and_rebuilt(cache: Path, capsys) -> None:
    summary, err = universal(capsys)
    entry = Path(summary["cache_file"])
    assert load(entry).spec.cache_key == models.cache_key(SHAPE, 16) == entry.stem
    other = models.universal_model(SHAPE, 32)
    shutil.copyfile(other.path, entry)
    summary, err = universal(capsys)
    assert not summary["cached"]
    assert err.count("warning:") == 1 and f"{entry} is damaged" in err and "universal-1x2-n32-soft" in err
    assert load(entry).spec.cache_key == entry.stem  # rebuilt in place
    summary, err = universal(capsys)
    assert summary["cached"] and err == ""


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[: len(data) // 2], lambda data: b"", lambda data: b"not a model at all\n"],
    ids=["truncated", "empty", "not-a-model"],
)
def test_a_damaged_entry_is_reported_once_removed_and_rebuilt(cache: Path, capsys, damage) -> None:
    summary, _ = universal(capsys)
    entry = Path(summary["cache_file"])
    entry.write_bytes(damage(entry.read_bytes()))
    summary, err = universal(capsys)
    assert not summary["cached"] and summary["cache_file"] == str(entry)
    assert err.count("warning:") == 1 and f"the model cache entry {entry} is damaged" in err
    assert load(entry).spec.cache_key == entry.stem
    summary, err = universal(capsys)
    assert summary["cached"] and err == ""  # once: the next run finds the rebuilt entry


def test_stale_temporary_files_are_removed_when_the_cache_is_used(cache: Path, capsys) -> None:
    """The leftovers of interrupted writes (`written_atomically`'s, and the old writer's) go once
    stale (`STALE_SECONDS`); a fresh one may be another process's write in progress, and stays."""
    cache.mkdir()
    stale = [cache / ".universal-1x2-n16-soft-0.npz.k3j2.partial", cache / "universal-1x2-n16-soft-0.77.partial.npz"]
    fresh = cache / ".universal-1x2-n16-soft-0.npz.x9q1.partial"
    for path in [*stale, fresh]:
        path.write_bytes(b"half a model")
    past = time.time() - 24 * 3600  # a day old: stale by any measure
    for path in stale:
        os.utime(path, (past, past))
    universal(capsys)
    assert [path.exists() for path in stale] == [False, False] and fresh.exists()


# ---------------------------------------------------------------- an unusable cache folder


@pytest.mark.slow  # subprocesses
def test_a_cache_that_is_a_file_is_a_warning_and_an_uncached_run(tmp_path: Path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("mine\n")
    monkeypatch.setenv(models.CACHE_ENV, str(blocker))
    summary, err = universal(capsys)
    assert summary["cache_file"] is None and not summary["cached"]
    assert err.count("warning:") == 1 and f"the model cache {blocker} cannot be used" in err
    assert main(["tm", "run", "1RZ---", "--engine", "universal", "--max-len", "64"]) == 0
    out, err = capsys.readouterr()
    assert "matches the reference trace" in out
    assert err.count("warning:") == 1 and "cannot be used" in err and "Traceback" not in err
    assert blocker.read_text() == "mine\n"


def test_a_cache_that_cannot_be_written_keeps_the_model_in_memory(cache: Path, monkeypatch, capsys) -> None:
    """A write that fails (a full disk, a folder made read-only: root ignores permissions, so
    the failure is made here) is a warning, and the run goes on with the model it compiled."""

    def full_disk(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("compiled_model.serialization.np.savez", full_disk)
    summary, err = universal(capsys)
    assert summary["cache_file"] is None and summary["layers"] == 8
    assert err.count("warning:") == 1 and "could not be cached" in err and "No space left" in err
    assert list(cache.iterdir()) == []  # no partial file left either


# ---------------------------------------------------------------- refused before allocating


def test_verify_all_refuses_a_model_it_could_not_build(capsys) -> None:
    """100,000 steps would need a model of 2^33 positions (the longest trace of T steps has
    about T^2/2 tokens): refused with the figure and a budget that fits, before any machine."""
    command = ["tm", "verify", "--all", "--states", "2", "--symbols", "2", "--max-steps", "100000"]
    assert main([*command, "--program", "positional"]) == 2
    err = capsys.readouterr().err
    assert "needs a universal model of 8,589,934,592 positions" in err and "262,144" in err
    assert "--max-steps 719 or fewer" in err and "Traceback" not in err
    assert input_bound(Shape(2, 2), 719) <= models.MAX_LENGTH < input_bound(Shape(2, 2), 720)  # the most that fits


@pytest.mark.parametrize(
    "command",
    [
        ["tm", "universal", "--states", "2", "--symbols", "2", "--max-len", "1000000000"],
        ["tm", "run", "1RZ---", "--engine", "universal", "--max-len", "1000000000"],
        ["tm", "verify", "--all", "--states", "1", "--symbols", "2", "--max-steps", "5", "--max-len", "1000000000",
         "--program", "positional"],
    ],
    ids=["universal", "run", "verify"],
)
def test_an_explicit_length_past_the_limit_is_refused(cache: Path, capsys, command) -> None:
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "a universal model of 1,000,000,000 positions is longer than the 262,144 that can be built" in err
    assert "warning" not in err and "Traceback" not in err
    assert not list(cache.glob("*.npz"))  # nothing built, nothing cached


def test_a_length_free_model_past_its_exact_range_is_refused_by_name(cache: Path, capsys) -> None:
    """The default of `tm verify --all`, the compact program's length-free model, has no length
    limit of its own but an exact range: at 10^9 positions its counts' squares pass float64's
    exact integers, and the compiler refuses, naming the s-op and its line."""
    command = ["tm", "verify", "--all", "--states", "1", "--symbols", "2", "--max-steps", "5"]
    assert main([*command, "--max-len", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "universal_turing_compact.rasp:" in err and "cannot compile table_at" in err
    assert "past float64's exact integers (2^53)" in err and "Traceback" not in err
    assert not list(cache.glob("*.npz"))


def test_a_run_that_needs_a_model_past_the_limit_is_refused(cache: Path, capsys) -> None:
    """A machine that moves right forever, 1,000 steps: half a million trace tokens, so a model
    of 2^19 positions, refused before it is compiled."""
    assert main(["tm", "run", "0RA0RA", "--engine", "universal", "--max-steps", "1000"]) == 2
    err = capsys.readouterr().err
    assert "this run needs a universal model of 524,288 positions, longer than the 262,144" in err
    assert "--max-tokens" in err and "Traceback" not in err and not list(cache.glob("*.npz"))


def test_the_reference_trace_stops_at_max_tokens(monkeypatch, capsys) -> None:
    """A machine that never halts, a step budget of 10^12 and 100 tokens: the reference trace is
    simulated to about 100 tokens, not to the step budget (a simulator that counts its steps
    stops the test where it would have gone on)."""
    steps = [0]
    step = simulator.step

    def counted(machine, config):
        steps[0] += 1
        if steps[0] > 10_000:
            raise AssertionError("the simulator ran far past the token budget")
        return step(machine, config)

    monkeypatch.setattr(simulator, "step", counted)
    command = ["tm", "run", "0RA0RA", "--max-steps", str(10**12), "--max-tokens", "100", "--json"]
    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trace_tokens"] == 100 and summary["matches_reference"] and not summary["halted"]
    assert steps[0] < 100


ESCAPE = "\x1b[31m"  # would turn the user's terminal red


@pytest.mark.parametrize(
    "command",
    [
        ["tm", "run", f"1RB1LB_1LA1R{ESCAPE}Z"],
        ["tm", "run", "1RB1LB_1LA1RZ", "--input", f"0{ESCAPE}1"],
        ["tm", "compile", f"1RB1LB_1L{ESCAPE}A1RZ", "--max-len", "16"],
    ],
    ids=["busy beaver text", "tape", "compile"],
)
def test_control_characters_in_machines_and_tapes_are_escaped(command: list[str], capsys) -> None:
    """A `TuringError` quotes the machine's line with the escape shown as `\\x1b`, never raw,
    and its caret still points at the column (the escape before it widens the line)."""
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "\x1b" not in error and "\\x1b" in error and "Traceback" not in error


def test_a_caret_after_an_escape_moves_with_it() -> None:
    """The line `AB\\x1bCD` with the caret at column 4 (`C`): three characters of the escape
    `\\x1b` stand for one, so the caret moves right by three."""
    error = TuringError("bad", 1, 4, source_line="AB\x1bCD")
    _, line, caret = str(error).splitlines()
    assert line == "    AB\\x1bCD" and caret.index("^") == line.index("C")


def test_the_turing_escaping_agrees_with_the_languages() -> None:
    """`turing.errors.visible` repeats `rasp.errors.visible` (the pure Turing code imports no
    `rasp`): both on every character of the first 512 code points and a few beyond."""
    text = "".join(map(chr, range(512))) + "\u2028\U0001f600\ufeff"
    assert turing_visible(text) == rasp_visible(text)
