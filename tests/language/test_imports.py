"""The language package's import graph: no cycles between its modules (imports inside functions
included), no module importing back the package's `__init__`, and `import rasp` stays light
(no JAX, no compiler).  The command line (`rasp/cli.py`) and the Turing machine harness
(`rasp/turing/`) sit above the language and are left out."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

import rasp

PACKAGE = Path(rasp.__file__).resolve().parent
LEFT_OUT = {"rasp.cli"}


def language_modules() -> dict[str, Path]:
    modules = {f"rasp.{path.stem}": path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    return {name: path for name, path in modules.items() if name not in LEFT_OUT}


def imported(path: Path, modules: set[str]) -> set[str]:
    """The language modules a file imports anywhere in it: `import rasp.x`, `from rasp.x import
    y`, `from rasp import x` (x a module); "rasp" for a name taken from the package itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("rasp"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "rasp":
                found.update(f"rasp.{a.name}" if f"rasp.{a.name}" in modules else "rasp" for a in node.names)
            elif node.module.startswith("rasp"):
                found.add(node.module)
    return found


def import_graph() -> nx.DiGraph:
    modules = language_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in imported(path, set(modules)))
    return graph


def test_the_graph_reader_sees_lazy_imports(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from rasp.ir import Map\n    from rasp import interpreter, Session\n")
    assert imported(path, {"rasp.ir", "rasp.interpreter"}) == {"rasp.ir", "rasp.interpreter", "rasp"}


def test_no_import_cycles_between_language_modules() -> None:
    assert list(nx.simple_cycles(import_graph())) == []


def test_no_module_imports_the_package_init() -> None:
    graph = import_graph()
    assert [name for name in graph if "rasp" in graph.successors(name)] == []


def test_the_language_imports_neither_the_compiler_nor_jax() -> None:
    for name, path in language_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & {"compiler", "jax", "turing", "rasp_toolkit"}, name


def test_running_a_program_loads_no_jax() -> None:
    code = (
        "import rasp, sys; rasp.Session().run('x = tokens;'); "
        "assert 'jax' not in sys.modules and 'compiler' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
