"""The import graph is a ladder with no cycles (docs/architecture.md).

The graph is read from the source with `ast`, function-level imports included: a lazy import
still ties two modules together.  `import a.b` is an edge to `a.b`; `from a import b` to the
submodule `a.b` when there is one, else to `a` (its `__init__`, which then runs); relative
imports are resolved against the importing module's package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rasp", "compiled_model", "compiler", "turing", "rasp_toolkit")

COMPILER_MAY_IMPORT = {
    "rasp.errors", "rasp.values", "rasp.ir", "rasp.operators", "rasp.interpreter", "rasp.figures", "rasp.notebook",
    "rasp.session",
}
"""The language modules the compiler may use: the core it compiles and checks against, the
picture helpers, and the session that runs the fuzzer's generated source text (`compiler.fuzzing`)."""

PURE_TURING = {"turing", "turing.errors", "turing.machine", "turing.simulator", "turing.trace", "turing.tokens",
               "turing.random_machines", "turing.shape", "turing.enumeration", "turing.compact", "turing.formats"}
"""The Turing machine modules that must run without the language, the compiler or JAX."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """Every module `name` imports: project modules resolved as the module docstring says,
    other imports by their top-level name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name if alias.name in modules else alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source not in modules:
                found.add(source.partition(".")[0])
                continue
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    found.discard(name)
    return found


def import_graph() -> nx.DiGraph:
    modules = project_modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in imports(name, path, set(modules)))
    return graph


GRAPH = import_graph()


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_is_read() -> None:
    """The reader finds the edges a reader of the code sees, so the tests below can fail."""
    assert GRAPH.has_edge("rasp_toolkit.cli", "rasp_toolkit.commands_language")
    assert GRAPH.has_edge("turing.engines.compiled", "compiler")
    assert GRAPH.has_edge("turing.harness", "turing.engines.base")
    assert GRAPH.has_edge("turing.trace", "turing.machine")
    assert GRAPH.has_edge("compiler.compiling", "compiled_model.transformer")


def test_the_reader_sees_lazy_and_package_imports(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from rasp.ir import Map\n    from rasp import interpreter, Session\n")
    found = imports("rasp.m", path, {"rasp", "rasp.ir", "rasp.interpreter", "rasp.m"})
    assert found == {"rasp.ir", "rasp.interpreter", "rasp"}


def test_no_import_cycles() -> None:
    project = GRAPH.subgraph(n for n in GRAPH if any(in_package(n, p) for p in PACKAGES))
    cycles = sorted(" -> ".join([*cycle, cycle[0]]) for cycle in nx.simple_cycles(project))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def offending(source_package: str, allowed) -> list[str]:
    return sorted(
        f"{source} imports {target}"
        for source, target in GRAPH.edges
        if in_package(source, source_package) and not allowed(source, target)
    )


def test_the_language_imports_nothing_above_it() -> None:
    above = ("compiled_model", "compiler", "turing", "rasp_toolkit", "jax")
    assert offending("rasp", lambda _, target: not any(in_package(target, p) for p in above)) == []


MODEL_MAY_IMPORT = {"rasp.errors"}
"""The language modules the compiled model may use: its error base only (a saved model runs
without the language's parser or interpreter)."""


def test_the_compiled_model_imports_no_compile_stage() -> None:
    def allowed(_: str, target: str) -> bool:
        if in_package(target, "rasp"):
            return target in MODEL_MAY_IMPORT
        return not any(in_package(target, p) for p in ("compiler", "turing", "rasp_toolkit"))

    assert offending("compiled_model", allowed) == []


def test_the_compiler_imports_only_the_language_core() -> None:
    def allowed(_: str, target: str) -> bool:
        if in_package(target, "rasp"):
            return target in COMPILER_MAY_IMPORT
        return not in_package(target, "turing") and not in_package(target, "rasp_toolkit")

    assert offending("compiler", allowed) == []


def test_the_pure_turing_modules_import_no_language_compiler_or_jax() -> None:
    def allowed(_: str, target: str) -> bool:
        if any(in_package(target, p) for p in ("rasp", "compiled_model", "compiler", "rasp_toolkit", "jax")):
            return False
        return not in_package(target, "turing") or target in PURE_TURING

    assert [edge for edge in offending("turing", allowed) if edge.split()[0] in PURE_TURING] == []


def test_nothing_below_imports_the_command_line() -> None:
    below = ("rasp", "compiled_model", "compiler", "turing")
    assert [e for p in below for e in offending(p, lambda _, t: not in_package(t, "rasp_toolkit"))] == []


def test_tests_never_import_benchmarks() -> None:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if in_package(n, "benchmarks")]
    assert found == []


def class_definitions(paths: Iterable[Path], root: Path) -> dict[str, list[str]]:
    """Where each class name in the modules at `paths` is defined (`path:line`, relative to
    `root`), classes nested in functions and classes included."""
    found: dict[str, list[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_the_class_reader_finds_nested_classes(tmp_path: Path) -> None:
    """A class inside a function or a class counts, so a nested one cannot hide a clash."""
    (tmp_path / "a.py").write_text("def f():\n    class Inner:\n        class Deeper: ...\n")
    (tmp_path / "b.py").write_text("class Inner: ...\n")
    found = class_definitions([tmp_path / "a.py", tmp_path / "b.py"], tmp_path)
    assert found == {"Inner": ["a.py:2", "b.py:1"], "Deeper": ["a.py:3"]}


def test_every_class_name_is_defined_once() -> None:
    """One name per concept: two classes of one name are two concepts a reader (and an import)
    can mistake for each other, so each gets a name that says which it is."""
    definitions = class_definitions(project_modules().values(), ROOT)
    clashes = {name: places for name, places in definitions.items() if len(places) > 1}
    assert not clashes, "class names defined more than once:\n" + "\n".join(
        f"{name}: {', '.join(places)}" for name, places in sorted(clashes.items())
    )


@pytest.mark.parametrize(
    "code",
    [
        "import rasp, sys; rasp.Session().run('x = tokens;'); "
        "assert 'jax' not in sys.modules and 'compiler' not in sys.modules and 'compiled_model' not in sys.modules",
        "import sys, turing; turing.simulate(turing.load_machine('1RB1LB_1LA1RZ')); "
        "loaded = {'rasp', 'compiled_model', 'compiler', 'jax'} & set(sys.modules); assert not loaded, loaded",
    ],
    ids=["language without compiler or jax", "pure turing without language"],
)
def test_lower_layers_run_without_upper_ones(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_runtime_reads_a_typed_spec_not_a_dict_of_strings() -> None:
    """Issue 22: the compiled model reads its `ModelSpec` by attribute; no module of the model
    package indexes a metadata dict or splits a residual label (the first format's labels are
    parsed once, when such a file is loaded: `compiled_model.legacy`)."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "compiled_model").rglob("*.py"))
        if path.name != "legacy.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "metadata[" in line or 'split(":"' in line or "metadata.get(" in line
    ]
    assert found == []


def _package_section(document: str, package: str) -> str:
    """The part of docs/architecture.md under the `##` heading that names `package` in backticks."""
    sections = document.split("\n## ")
    found = [section for section in sections if f"`{package}`" in section.splitlines()[0]]
    assert len(found) == 1, f"docs/architecture.md has {len(found)} sections headed with `{package}`"
    return found[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_named_in_the_architecture_document(package: str) -> None:
    """docs/architecture.md stays true: the section of each package names each of its modules,
    as a file (`assemble.py`) or by one of its functions (`assemble.assemble`)."""
    section = _package_section((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"), package)
    modules = sorted(
        path.relative_to(ROOT / package).with_suffix("").as_posix()
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py"
    )
    named = [module for module in modules if f"{module}.py`" in section or f"`{module.replace('/', '.')}." in section]
    assert sorted(set(modules) - set(named)) == []
