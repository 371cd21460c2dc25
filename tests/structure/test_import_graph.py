"""No import cycle inside ``lensemble_spec``, and the layers point one way.

The graph is read from the source with :mod:`ast` (nothing is imported). What counts as an edge
from module ``M``:

* every ``import X`` / ``from X import y`` statement anywhere in ``M`` — module level, inside
  functions and methods, inside ``if TYPE_CHECKING:`` blocks and ``try:`` blocks alike. A
  function-level import is still a dependency; deferring it only hides a cycle until a call.
  ``from P import y`` is an edge to the module ``P.y`` when that module exists, else to ``P``;
* the packages Python initialises on the way: importing ``a.b.c`` runs ``a/__init__`` and
  ``a/b/__init__`` first, so those are edges too — except for the packages that contain ``M``
  itself, which are already being initialised when ``M`` runs;
* ``importlib.import_module`` with a constant string is not counted (the library uses it only
  for the user's ``--impl`` module, which is outside the package).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lensemble_spec

PACKAGE_DIR = Path(lensemble_spec.__file__).parent


def module_files(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` for every ``.py`` file below ``package_dir``."""
    root = package_dir.name
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [root, *path.relative_to(package_dir).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Edges between the modules of the package (see the module docstring for what counts)."""
    modules = module_files(package_dir)
    known = set(modules)
    root = package_dir.name
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, (path, is_package) in modules.items():
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        if is_package:
            own_packages.add(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(module, is_package, node, known):
                if target != root and not target.startswith(root + "."):
                    continue
                while target not in known:  # ``from pkg.mod import name``: the module is pkg.mod
                    target = target.rsplit(".", 1)[0]
                chain = target.split(".")
                for i in range(1, len(chain) + 1):
                    step = ".".join(chain[:i])
                    if step != module and step not in own_packages:
                        graph[module].add(step)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for succ in graph[node]:
            if succ not in seen:
                seen.add(succ)
                todo.append(succ)
    return seen


def test_no_import_cycle_in_lensemble_spec() -> None:
    graph = import_graph(PACKAGE_DIR)
    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


def test_leaves_import_nothing_from_the_package() -> None:
    graph = import_graph(PACKAGE_DIR)
    for leaf in ("lensemble_spec.constants", "lensemble_spec.errors"):
        assert graph[leaf] <= {"lensemble_spec"}, f"{leaf} imports {sorted(graph[leaf])}"


def test_schemas_sit_below_checkpoints_pins_and_the_protocol() -> None:
    graph = import_graph(PACKAGE_DIR)
    below = reachable(graph, "lensemble_spec.schemas")
    above = {
        "lensemble_spec.artifacts.checkpoint",
        "lensemble_spec.artifacts.pins",
        "lensemble_spec.artifacts.rundir",
        "lensemble_spec.protocol",
        "lensemble_spec.protocol_data",
        "lensemble_spec.metrics",
    }
    assert below & above == set()
    # and the artifacts package itself exports only what lies below the schemas
    assert "lensemble_spec.schemas" not in reachable(graph, "lensemble_spec.artifacts")


def _write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "pkg"


def test_a_function_level_import_cycle_is_found(tmp_path: Path) -> None:
    pkg = _write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "from .b import g\n",
        "b.py": "def g():\n    from .a import f\n    return f\n",
    })
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    # what artifacts/__init__ re-exporting checkpoint (which imports schemas) would be
    pkg = _write_package(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "from .high import save\n",
        "low/prim.py": "X = 1\n",
        "low/high.py": "from ..doc import Doc\n",
        "doc/__init__.py": "from ..low.prim import X\nDoc = X\n",
    })
    assert cycles(import_graph(pkg)) == [["pkg.doc", "pkg.low", "pkg.low.high"]]


def test_a_child_importing_its_own_package_is_no_cycle(tmp_path: Path) -> None:
    pkg = _write_package(tmp_path, {
        "__init__.py": "from .a import f\n",
        "a.py": "from . import b\ndef f():\n    return b\n",
        "b.py": "Y = 2\n",
    })
    assert cycles(import_graph(pkg)) == []
