"""The package's shape, checked: one-way imports, no cycles, small functions and classes.

The import direction itself is declared as import-linter contracts in
``pyproject.toml`` (run by ``lint-imports`` in ``.ci/run``); these tests add what
a contract cannot say: no cycle between any two modules, and no function or
class grown past the size a reader can hold in mind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "resdsl"

#: The longest function and class the package allows (lines, decorators excluded).
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 400


def _import_graph(*, type_checking: bool) -> nx.DiGraph:
    imports = grimp.build_graph(
        "resdsl", cache_dir=None, exclude_type_checking_imports=not type_checking
    )
    graph = nx.DiGraph()
    for module in imports.modules:
        graph.add_node(module)
        for imported in imports.find_modules_directly_imported_by(module):
            graph.add_edge(module, imported)
    return graph


def test_no_import_cycle_in_the_package() -> None:
    cycles = [sorted(c) for c in nx.simple_cycles(_import_graph(type_checking=False))]
    assert cycles == []


def test_annotation_only_cycles_stay_inside_one_stage() -> None:
    """Annotations may refer back within a stage, never across stages.

    The elaborator's parts annotate the object that ties them together
    (statements call blocks, blocks hold statements: the recursion is the
    language's), under ``TYPE_CHECKING`` only; no such loop may join two stages.
    """
    crossing = [
        sorted(cycle)
        for cycle in nx.simple_cycles(_import_graph(type_checking=True))
        if len({module.rsplit(".", 1)[0] for module in cycle}) > 1
    ]
    assert crossing == []


def _definitions() -> list[tuple[str, str, int, int]]:
    """(file, qualified name, lines, limit) for every function and class in the package."""
    found: list[tuple[str, str, int, int]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}{child.name}"
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    limit = (
                        MAX_CLASS_LINES if isinstance(child, ast.ClassDef) else MAX_FUNCTION_LINES
                    )
                    found.append((str(path.relative_to(PACKAGE.parent)), name, lines, limit))
                    stack.append((child, f"{name}."))
                else:
                    stack.append((child, prefix))
    return found


def test_the_size_check_sees_the_package() -> None:
    names = {name for _, name, _, _ in _definitions()}
    assert {"Spec", "elaborate", "parse"} <= names


@pytest.mark.parametrize("kind", ["function", "class"])
def test_no_definition_outgrows_its_limit(kind: str) -> None:
    limit = MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES
    too_long = [
        f"{file}: {name} has {lines} lines"
        for file, name, lines, lim in _definitions()
        if lim == limit and lines > limit
    ]
    assert too_long == [], f"split these (the limit is {limit} lines)"
