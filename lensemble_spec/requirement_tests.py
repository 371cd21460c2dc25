"""Which conformance tests check which requirement: a static scan of the suite's markers.

Conformance tests declare what they check with ``@pytest.mark.requirement("GAUGE-002", ...)``
(also ``mark.requirement``, the plugin's ``requirement``, in ``pytestmark`` or in
``pytest.param(..., marks=...)``). :func:`scan_requirement_tests` finds those markers with
:mod:`ast` — nothing is imported or run — so the id → test map is known without collecting the
suite, and ids must be string literals for that reason.

Contract: every marker call yields one :class:`TestRef` per id, naming the test it decorates
(``Class::test``), or ``None`` for a module-wide ``pytestmark``; a marker that cannot be read
(a computed id, no ids, keywords, an un-called marker as a decorator, a file that does not
parse) is returned as a ``file:line: problem`` string instead, never skipped silently.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: The suite shipped with the package (the repository's ``conformance`` is a link to it).
SUITE_DIR = Path(__file__).parent / "conformance"


@dataclass(frozen=True)
class TestRef:
    """One marker naming a requirement: the file (relative to the suite's parent, e.g.
    ``conformance/test_gauge.py``), the marker's line and the test it marks."""

    __test__ = False  # not a pytest test class

    file: str
    line: int
    test: str | None  # "test_x" or "TestGroup::test_x"; None for a module-wide pytestmark

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.test}" if self.test else self.file


def _is_requirement_ref(node: ast.AST) -> bool:
    """``pytest.mark.requirement``, ``mark.requirement`` or a bare ``requirement`` name."""
    if isinstance(node, ast.Name):
        return node.id == "requirement"
    if isinstance(node, ast.Attribute) and node.attr == "requirement":
        value = node.value
        return (isinstance(value, ast.Attribute) and value.attr == "mark") or (
            isinstance(value, ast.Name) and value.id == "mark"
        )
    return False


def _owners(tree: ast.Module) -> dict[int, str]:
    """``id(node) -> "Class::test"`` for every node inside a test function or class (decorators included)."""
    owner: dict[int, str] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{stmt.name}"
                for node in ast.walk(stmt):
                    owner[id(node)] = name  # inner definitions overwrite below
                if isinstance(stmt, ast.ClassDef):
                    visit(stmt.body, f"{name}::")

    visit(tree.body, "")
    return owner


def scan_requirement_tests(root: Path = SUITE_DIR) -> tuple[dict[str, list[TestRef]], list[str]]:
    """``({requirement id: [TestRef, ...]}, [problems])`` for every ``*.py`` below ``root``.

    Files are read in sorted path order and markers in source order, so the result is stable.
    """
    found: dict[str, list[TestRef]] = {}
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root.parent).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            problems.append(f"{rel}:{exc.lineno}: cannot parse: {exc.msg}")
            continue
        owner = _owners(tree)
        calls: list[ast.Call] = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for deco in node.decorator_list:
                    if _is_requirement_ref(deco):
                        problems.append(f"{rel}:{deco.lineno}: requirement marker used without ids")
            if isinstance(node, ast.Call) and _is_requirement_ref(node.func):
                calls.append(node)
        for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
            where = f"{rel}:{node.lineno}"
            if not node.args or node.keywords:
                problems.append(f"{where}: a requirement marker takes one or more string ids and no keywords")
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, []).append(TestRef(rel, node.lineno, owner.get(id(node))))
                else:
                    problems.append(f"{where}: requirement id is not a string literal ({ast.unparse(arg)})")
    return found, problems


__all__ = ["SUITE_DIR", "TestRef", "scan_requirement_tests"]
