"""The language's commands start without the compiler or JAX (`rasp_toolkit.cli.modules_for`):
`rasp run` and the REPL answer in a fraction of a second, where importing JAX alone takes about
two seconds on a 2-core machine.  The other commands still load everything they name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rasp_toolkit import cli

ROOT = Path(__file__).resolve().parents[2]
REVERSE = str(ROOT / "programs" / "lib" / "reverse.rasp")
SORT = str(ROOT / "programs" / "lib" / "sort.rasp")

#: Runs `rasp` in a fresh interpreter and prints which heavy packages it imported.
LOADED = """
import sys
from rasp_toolkit import cli
code = cli.main(sys.argv[1:])
print("loaded:", sorted(name for name in ("jax", "compiler", "compiled_model") if name in sys.modules))
sys.exit(code)
"""


def loaded_by(*argv: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    return result.returncode, result.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ("run", REVERSE, "reverse", "--input", "abc"),
        ("check", "--rasp-l", SORT),
        ("run", REVERSE, "no_such_name", "--input", "a"),
    ],
    ids=["run", "check", "an error"],
)
def test_the_language_commands_load_no_compiler(argv: tuple[str, ...]) -> None:
    """Their successes and their errors alike: a `RaspError` is told from a failed check
    without importing the compiler."""
    code, loaded = loaded_by(*argv)
    assert code == (2 if "no_such_name" in argv else 0)
    assert loaded == "loaded: []"


def test_the_other_commands_load_what_they_need() -> None:
    code, loaded = loaded_by("tm", "run", "1RB1LB_1LA1RZ", "--engine", "reference")
    assert code == 0 and loaded == "loaded: ['compiled_model', 'compiler', 'jax']"


def test_every_command_module_is_taken_where_the_command_is_not_the_languages() -> None:
    assert cli.modules_for([]) == cli.modules_for(["run", "x.rasp"]) == (cli.LANGUAGE_MODULE,)
    assert (
        cli.modules_for(["--help"])
        == cli.modules_for(["compile"])
        == cli.modules_for(["nosuch"])
        == cli.COMMAND_MODULES
    )
    parser = cli.build_parser([cli.LANGUAGE_MODULE])
    for command in sorted(cli.LANGUAGE_COMMANDS):  # each is the language module's to parse
        with pytest.raises(SystemExit) as help_shown:
            parser.parse_args([command, "--help"])
        assert help_shown.value.code == 0
