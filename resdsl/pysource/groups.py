"""A group with control flow, labels or blocks inside: a module built by a writer of its own.

A group of plain layers is one inline ``nn.Sequential(a, b, c)``. Any other
group is built the way torchvision builds one: a list of its children when
none is labelled (``layers: list[nn.Module] = []``, ``layers.append(...)``
under its ``if`` and ``for``, then ``nn.Sequential(*layers)``), else an
``nn.Sequential`` that its labelled children are set on (``layers.conv =
...``). Either names each child as the language does: by its label, or by its
position among the children built.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from resdsl.pysource.names import fresh
from resdsl.pysource.pyexpr import IDENT, Scope
from resdsl.syntax import ast

if TYPE_CHECKING:
    from resdsl.pysource.chain import ChainWriter

#: How the group's own module is registered with its parent: ``register(label, ctor, scope, depth)``.
Register = Callable[[ast.Label | None, str, Scope, int], str]


def is_plain_group(stmt: ast.Group, is_block: Callable[[ast.Call], bool]) -> bool:
    """Only unlabelled calls, a block (if any) last: one inline ``nn.Sequential``."""
    body = stmt.body
    return all(
        isinstance(s, ast.Call) and s.label is None and (s is body[-1] or not is_block(s))
        for s in body
    )


def write_group(
    writer: ChainWriter, stmt: ast.Group, scope: Scope, depth: int, register: Register
) -> str:
    """Write the group's children and register its module; returns its output channels."""
    labelled = _has_labels(stmt.body)
    taken = writer.reserved | {writer.var} | set(scope.names)
    name = group_variable(stmt.label, taken) if stmt.label is not None else "layers"
    var = fresh("layers" if keyword.iskeyword(name) else name, taken)
    if labelled:
        writer.emit(depth, f"{var} = nn.Sequential()")
    else:  # annotated where first bound, as a type checker wants
        writer.emit(
            depth, f"{var} = []" if var in writer.declared else f"{var}: list[nn.Module] = []"
        )
    writer.declared.add(var)
    inner = scope.child({})
    inner.channels[""] = writer.channels  # ``channels(in)`` inside the group: its input's
    if writer.channels == writer.var:
        writer.held.append((inner.channels, ""))
    sub = dataclasses.replace(writer, reserved=writer.reserved | {var}, target=var)
    sub.body(stmt.body, inner, depth)
    register(stmt.label, var if labelled else f"nn.Sequential(*{var})", scope, depth)
    return sub.channels


def _has_labels(body: Iterable[ast.Stmt]) -> bool:
    """Does this scope label a child (in its own statements, ``if`` and ``repeat`` included)?"""
    for stmt in body:
        if isinstance(stmt, ast.Call | ast.Group) and stmt.label is not None:
            return True
        if isinstance(stmt, ast.Repeat) and _has_labels(stmt.body):
            return True
        if isinstance(stmt, ast.If) and _has_labels((*stmt.body, *stmt.orelse)):
            return True
    return False


def group_variable(label: ast.Label, taken: frozenset[str] | set[str]) -> str:
    """The local variable a nested group is built in: its label (``stage`` for ``stage{s}``)."""
    first = label.parts[0] if label.parts else ""
    base = first if isinstance(first, str) and IDENT.match(first) else "layers"
    name = base if base not in taken else f"{base}_layers"
    while name in taken:
        name += "_"
    return name
