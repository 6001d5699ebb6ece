"""Which block definitions a file's module writes: its own, and those of used files it needs.

A ``use``d file (``common.res``) brings every block it defines; the module
of the using file holds only the ones its models reach, by a call or as a
block value (``unit=bottleneck``), directly or through another block. A block
of the file itself is always written: one no model uses stays refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from resdsl.syntax import ast
from resdsl.syntax.loader import Program


def written_blocks(program: Program, models: Iterable[str]) -> list[str]:
    """The blocks to write, in definition order (``models``: the models the module holds)."""
    root = program.root.name
    stack = [name for name, block in program.blocks.items() if block.span.file == root]
    for model in models:
        stack += _names(program.models[model])
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in program.blocks and name not in seen:
            seen.add(name)
            stack += _names(program.blocks[name])
    return [name for name in program.blocks if name in seen]


def _names(node: object) -> Iterator[str]:
    """Every call name and bare name in an AST subtree (those of blocks among them)."""
    for inner in ast.subtree(node):
        if isinstance(inner, ast.Call):
            yield inner.name
        elif isinstance(inner, ast.Name):
            yield inner.id


def callee_rank(body: tuple[ast.Stmt, ...], blocks: Mapping[str, int | None]) -> int | None:
    """The input rank of a block no model elaborates, where its statements make it certain.

    That is when it calls no layer itself (so the rank decides none of its
    constructors) and its first statement is a call of a block whose input
    rank is known: the block's input is that block's input.
    """
    if not body or any(_calls_layer(s, blocks) for s in body):
        return None
    first = body[0]
    return blocks.get(first.name) if isinstance(first, ast.Call) else None


def _calls_layer(stmt: ast.Stmt, blocks: Mapping[str, int | None]) -> bool:
    if isinstance(stmt, ast.Call):
        return stmt.name not in blocks
    if isinstance(stmt, ast.Let):
        return False
    if isinstance(stmt, ast.Group | ast.Repeat):
        return any(_calls_layer(s, blocks) for s in stmt.body)
    if isinstance(stmt, ast.If):
        return any(_calls_layer(s, blocks) for s in (*stmt.body, *stmt.orelse))
    return True  # anything else (a skip, a parallel) needs the elaborated rank
