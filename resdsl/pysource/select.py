"""One model's part of a written module: its function and what that function reaches.

``resdsl compile specs/resnet.res --model resnet50 -o resnet50.py`` writes the
file's module (so that the classes are the same ones the whole file gets) and
keeps only the definitions ``resnet50`` needs: ``Bottleneck``, ``Stage`` and
``Resnet``, not ``Basic`` or the other models' functions. The text is the
writer's own (never a user's), so it is cut with Python's ``ast`` by line
ranges, keeping its layout; an import nothing kept uses is dropped, so the
result still passes ``ruff check``.
"""

from __future__ import annotations

import ast
import re

Definition = ast.ClassDef | ast.FunctionDef


def only_model(text: str, model: str) -> str:
    """The module ``text`` cut down to ``model``'s function and the definitions it reaches.

    >>> text = (
    ...     "'''Models: a, b.'''\\n\\nimport torch\\n\\n\\nclass A:\\n    pass\\n\\n\\n"
    ...     "def a():\\n    return A()\\n\\n\\ndef b():\\n    return torch.ones(1)\\n"
    ... )
    >>> print(only_model(text, "a"))
    '''Model a: ``a(**kwargs)`` builds it; its keywords are its parameters.'''
    <BLANKLINE>
    <BLANKLINE>
    class A:
        pass
    <BLANKLINE>
    <BLANKLINE>
    def a():
        return A()
    <BLANKLINE>
    """
    tree = ast.parse(text)
    lines = text.splitlines()
    definitions = {n.name: n for n in tree.body if isinstance(n, Definition)}
    if model not in definitions or not isinstance(definitions[model], ast.FunctionDef):
        raise KeyError(model)
    keep = _reached(model, definitions)
    kept = [n for n in tree.body if isinstance(n, Definition) and n.name in keep]
    used = {name for node in kept for name in _names(node)}
    first = kept[0].lineno - 1 - len(kept[0].decorator_list)
    head = _header(lines[:first], tree, used, model)
    body = ["\n".join(lines[n.lineno - 1 : n.end_lineno]) for n in kept]
    return head + "\n\n\n" + "\n\n\n".join(body) + "\n"


def _reached(root: str, definitions: dict[str, Definition]) -> set[str]:
    """The definitions ``root`` names, and theirs, transitively (itself included)."""
    seen = {root}
    todo = [root]
    while todo:
        for name in _names(definitions[todo.pop()]):
            if name in definitions and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _header(lines: list[str], tree: ast.Module, used: set[str], model: str) -> str:
    """The docstring (naming the one model) and the imports the kept code uses."""
    dropped: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno <= len(lines):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
            if not bound & used:
                dropped.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    text = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
    one = f"Model {model}: ``{model}(**kwargs)`` builds it; its keywords are its parameters."
    text = re.sub(r"Models: [^.]*\.(\nEach is a function[^\n]*)?", one, text, count=1)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
