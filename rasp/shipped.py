"""Where the shipped RASP programs are: `programs/` in a checkout, `rasp/programs` in a wheel.

Kept apart from the catalogue (`rasp.programs`), which runs programs through a session: the
session itself needs only this, to find the standard library."""

from __future__ import annotations

from pathlib import Path

from rasp.errors import RaspError

_PACKAGE_DIR = Path(__file__).resolve().parent


def programs_dir() -> Path:
    """The folder of shipped programs: inside the installed package, or the checkout's."""
    for candidate in (_PACKAGE_DIR / "programs", _PACKAGE_DIR.parent / "programs"):
        if (candidate / "stdlib.rasp").is_file():
            return candidate
    raise RaspError("the shipped RASP programs are missing from this installation")


def program_path(name: str) -> Path:
    """The path of a shipped program, e.g. `program_path("lib/sort.rasp")`."""
    path = programs_dir() / name
    if not path.is_file():
        raise RaspError(f"no shipped program named {name}")
    return path
