"""Finding the shipped RASP programs (`programs/` in the repository, `rasp/programs` in a wheel)."""

from __future__ import annotations

import re
from pathlib import Path

from rasp import ir
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


def library_program(name: str) -> ir.SOp:
    """The output s-op of the library program `lib/<name>.rasp`: the one its header's `# Output:`
    line names (`library_program("sort")` is the s-op `sorted`)."""
    from rasp.session import Session

    path = program_path(f"lib/{name}.rasp")
    match = re.search(r"^#\s*Output:\s*`(\w+)`", path.read_text(encoding="utf-8"), re.M)
    if match is None:
        raise RaspError(f"{path} has no '# Output: `name`' line in its header")
    session = Session()
    session.run_file(path)
    node = session[match.group(1)]
    if not isinstance(node, ir.SOp):
        raise RaspError(f"{path}: its output {match.group(1)} is not an s-op")
    return node
