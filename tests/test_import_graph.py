"""The framework's imports run one way: no circle inside ``procfw/``, no import of ``processes``.

Every module of ``procfw/`` is parsed with :mod:`ast` (nothing is imported), and every
``import`` statement is collected wherever it stands: at module level, inside functions and
methods, inside ``try``/``if`` blocks.  An import inside a function still makes the module
depend on the imported one: it only hides the dependency from a module-level import graph,
which is why each one counts here.

Rules of the graph:

- ``import procfw.a.b`` and ``from procfw.a import b`` (``b`` a submodule) are an edge to
  ``procfw.a.b``; ``from procfw.a import name`` (``name`` not a submodule) is an edge to
  ``procfw.a`` (its ``__init__``).  Relative imports are resolved the same way.
- Imports under ``if TYPE_CHECKING:`` count too: they never run, but a type that must be
  imported from above is a dependency on what is above (``procfw.process`` names what it
  needs of views as protocols instead of importing ``procfw.workspace``).
- A submodule is not given an edge to its parent package: Python runs the parent's
  ``__init__`` first, but a package that re-exports its submodules is not a circle.
- :data:`ALLOWED_LAZY` lists imports inside functions that are allowed to close a circle,
  each with its reason.  It is empty: the framework needs none.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "procfw"

# (importing module, imported module) -> why this lazy import may close a circle.
ALLOWED_LAZY: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path) -> str:
    """The dotted module name of a ``.py`` file under ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name."""
    return {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}


def _import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node of ``tree`` with whether it stands inside a function (or lambda)."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            else:
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from walk(child, inner)

    yield from walk(tree, False)


def imported_modules(name: str, path: Path, modules: set[str]) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import in one module.

    Names outside ``procfw`` and ``processes`` are skipped.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node, in_function in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, in_function
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            yield (candidate if candidate in modules else source), node.lineno, in_function


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> tuple[dict[str, dict[str, tuple[int, bool]]], list[str]]:
    """The module graph of ``package`` and the list of its imports of ``processes``.

    The graph maps each module to ``{imported module: (first line, inside a function)}``.
    """
    modules = package_modules(root, package)
    names = set(modules)
    graph: dict[str, dict[str, tuple[int, bool]]] = {name: {} for name in modules}
    processes_imports: list[str] = []
    for name, path in modules.items():
        for target, line, in_function in imported_modules(name, path, names):
            if target == "processes" or target.startswith("processes."):
                processes_imports.append(f"{path.relative_to(root)}:{line}: imports {target}")
            if target not in names or target == name:
                continue
            if (name, target) in ALLOWED_LAZY and in_function:
                continue
            graph[name].setdefault(target, (line, in_function))
    return graph, processes_imports


@functools.cache
def _this_tree() -> tuple[dict[str, dict[str, tuple[int, bool]]], list[str]]:
    """:func:`import_graph` of this checkout, computed once for all tests."""
    return import_graph()


def find_components(graph: dict[str, dict[str, tuple[int, bool]]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def find_cycles(graph: dict[str, dict[str, tuple[int, bool]]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component of more than one module."""
    return [_cycle_in(graph, set(component)) for component in find_components(graph)]


def _cycle_in(graph: dict[str, dict[str, tuple[int, bool]]], component: set[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component (BFS)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt not in component:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    return sorted(component)  # unreachable for a real component


def describe_cycle(graph: dict[str, dict[str, tuple[int, bool]]], cycle: list[str]) -> str:
    """``a -> b (line 12, in a function) -> ...``: a cycle with where each edge is made."""
    steps = [cycle[0]]
    for here, there in zip(cycle, cycle[1:]):
        line, in_function = graph[here][there]
        steps.append(f"-> {there} ({here}:{line}{', inside a function' if in_function else ''})")
    return " ".join(steps)


def test_no_import_cycle_inside_procfw() -> None:
    """No module of procfw/ reaches itself again through imports, lazy ones included."""
    graph, _ = _this_tree()
    components = find_components(graph)
    message = "\n".join(
        f"{len(component)} modules in one circle: {', '.join(component)}\n"
        f"  for example {describe_cycle(graph, _cycle_in(graph, set(component)))}"
        for component in components
    )
    assert not components, f"import cycles inside procfw/:\n{message}"


def test_procfw_never_imports_processes() -> None:
    """The framework never imports the process library, not even lazily."""
    _, offending = _this_tree()
    assert not offending, "\n".join(offending)


def test_allowed_lazy_imports_still_exist() -> None:
    """Every allow-listed lazy import is still there (a stale entry must be removed)."""
    modules = package_modules(ROOT)
    names = set(modules)
    for importer, imported in ALLOWED_LAZY:
        found = {t for t, _, lazy in imported_modules(importer, modules[importer], names) if lazy}
        assert imported in found, f"{importer} no longer imports {imported} lazily: remove it from ALLOWED_LAZY"


def test_graph_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker finds cycles closed by an import inside a function, a relative or a TYPE_CHECKING import."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from procfw.b import thing\n")
    (pkg / "b.py").write_text("def f():\n    from procfw import a\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from . import d\n")
    (pkg / "sub" / "d.py").write_text("def g():\n    from .c import y\n    import processes.thing\n")
    (pkg / "e.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from procfw.f import x\n")
    (pkg / "f.py").write_text("from procfw import e\n")
    graph, offending = import_graph(tmp_path)
    cycles = sorted(find_cycles(graph))
    assert cycles == [
        ["procfw.a", "procfw.b", "procfw.a"],
        ["procfw.e", "procfw.f", "procfw.e"],
        ["procfw.sub.c", "procfw.sub.d", "procfw.sub.c"],
    ]
    assert graph["procfw.b"] == {"procfw.a": (2, True)}
    assert offending == ["procfw/sub/d.py:3: imports processes.thing"]


# The core, bottom to top: each module may import only those before it (see docs/architecture.md).
CORE = [
    "procfw",
    "procfw.errors",
    "procfw.names",
    "procfw.literals",
    "procfw.entrypoints",
    "procfw.image",
    "procfw.params",
    "procfw.process",
]


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_only_what_is_below_it(module: str) -> None:
    """errors/names -> image -> params -> process: nothing of the core reaches up, even lazily."""
    graph, _ = _this_tree()
    below = set(CORE[: CORE.index(module)])
    assert set(graph[module]) <= below, sorted(set(graph[module]) - below)


def test_image_preview_comes_with_the_display_layer() -> None:
    """``Image._repr_png_`` is None until procfw.display is imported, then the stretched PNG."""
    code = (
        "import sys, numpy as np\n"
        "from procfw.image import Image\n"
        "image = Image(np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8))\n"
        "print(image._repr_png_() is None, 'procfw.display' in sys.modules)\n"
        "import procfw.display\n"
        "png = image._repr_png_()\n"
        "print(png == procfw.display.repr_png(image), png[:8] == b'\\x89PNG\\r\\n\\x1a\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True", "True"]


def test_the_language_package_sits_below_icons_and_console() -> None:
    """procfw.language (grammar, parser, AST, binder) imports only the core; icons and the
    console read console text through it, and icons never import the console."""
    graph, _ = _this_tree()
    language = [m for m in graph if m == "procfw.language" or m.startswith("procfw.language.")]
    assert "procfw.language.parser" in language and "procfw.language.binder" in language
    allowed = set(CORE) | set(language)
    for module in language:
        assert set(graph[module]) <= allowed, (module, sorted(set(graph[module]) - allowed))
    for module in (m for m in graph if m.startswith("procfw.icons")):
        assert not any(t.startswith("procfw.console") for t in graph[module]), module
    assert "procfw.language.parser" in graph["procfw.icons.source"]
    assert "procfw.language.binder" in graph["procfw.console.session"]


FRAMEWORK_TESTS = ["test_process.py", "test_container.py", "test_workspace.py", "test_params.py",
                   "test_literals.py", "language/test_parser.py", "language/test_binder.py"]


@pytest.mark.parametrize("name", FRAMEWORK_TESTS)
def test_framework_tests_use_test_doubles(name: str) -> None:
    """The framework's own tests run on test doubles (tests/doubles.py), never the process library."""
    path = ROOT / "tests" / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m == "processes" or m.startswith("processes.")], name
