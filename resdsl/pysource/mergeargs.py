"""A merge whose options a block computes from its parameters (``drop_path=sd_prob``).

The registry writes a merge's ``forward`` lines for concrete arguments
(``Merge.forward_lines``). Where an option differs between the merge's
instances, the option is kept on the module (``self.drop_path = sd_prob`` in
``__init__``) and the lines are written with a float *probe* in its place:
the probe becomes ``self.drop_path``, and its complement ``1 - p`` (the keep
probability of stochastic depth) a local ``keep = 1.0 - self.drop_path``.
The lines are written from two probes and must come out the same, so a line
that computes anything else with the option is refused. As the registry
writes the option's zero value differently (no dropping at all), both are
written, under ``if self.drop_path:``.
"""

from __future__ import annotations

import ast as pyast
from typing import Any, Protocol

from resdsl.ops.base import Line
from resdsl.pysource.chain import INDENT
from resdsl.pysource.layers import FLOAT_PROBE
from resdsl.pysource.names import fresh
from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, python_expr
from resdsl.pysource.references import NodeRef
from resdsl.syntax import ast

#: Options a block may compute: a probability whose zero means "off".
VARYING = frozenset({"drop_path"})


class _Emit(Protocol):
    taken: set[str]

    def literal(self, value: int | float | bool) -> str: ...
    def temp(self, base: str) -> str: ...
    def use_functional(self) -> None: ...
    def gate(self) -> str: ...


class _ProbedEmit:
    """The writer's emit, with the probe and its complement written as names."""

    def __init__(self, inner: _Emit, probe: float, attr: str, keep: str) -> None:
        self.inner, self.probe, self.attr, self.keep = inner, probe, attr, keep
        self.uses_keep = False
        self.taken = set(inner.taken) | {keep}  # its own: each probe's lines name alike

    def literal(self, value: int | float | bool) -> str:
        if value == self.probe:
            return self.attr
        if value == 1.0 - self.probe:
            self.uses_keep = True
            return self.keep
        return self.inner.literal(value)

    def temp(self, base: str) -> str:
        name = fresh(base, self.taken)
        self.taken.add(name)
        return name

    def use_functional(self) -> None:
        self.inner.use_functional()

    def gate(self) -> str:
        return self.inner.gate()


def varying_option(skip: ast.Skip, nodes: list[NodeRef]) -> str | None:
    """The one option that differs between the merge's instances (None: none does)."""
    args = [n.data["args"] for n in nodes]
    if len({repr(a) for a in args}) == 1:
        return None
    fields = [
        name
        for name in type(args[0]).model_fields
        if len({repr(getattr(a, name)) for a in args}) != 1
    ]
    written = {o.name: o.value for o in skip.options if o.name is not None}
    value = written.get(fields[0]) if len(fields) == 1 and fields[0] in VARYING else None
    if value is None or is_literal(value):
        raise Unsupported("a merge whose arguments vary between its instances")
    return str(fields[0])


def option_lines(
    op: Any,
    nodes: list[NodeRef],
    option: str,
    attr: str,
    ins: list[str],
    emit: _Emit,
) -> list[Line]:
    """The merge's lines for every value of the option, as described in the module docstring."""
    base = nodes[0].data["args"]
    keep = fresh("keep", emit.taken)
    written, taken = [], set()
    for k in (0, 1):
        probe = FLOAT_PROBE + k * 0.001
        probed = _ProbedEmit(emit, probe, f"self.{attr}", keep)
        lines = op.forward_lines(base.model_copy(update={option: probe}), "out", ins, probed)
        lines = unfold_keep_else(lines)
        if probed.uses_keep:
            lines = [(f"{keep} = 1.0 - self.{attr}", False), *lines]
        written.append(lines)
        taken = probed.taken
    if written[0] != written[1]:
        raise Unsupported(f"a merge whose lines compute with its '{option}'")
    off: list[Line] = op.forward_lines(base.model_copy(update={option: 0.0}), "out", ins, emit)
    if off == written[0]:
        return off
    emit.taken |= taken
    return [
        (f"if self.{attr}:", False),
        *((INDENT + text, last) for text, last in written[0]),
        ("else:", False),
        *((INDENT + text, last) for text, last in off),
    ]


def option_init(skip: ast.Skip, option: str, attr: str, scope: Scope) -> str:
    """``self.drop_path = sd_prob``: the option's value, kept on the module."""
    value = next(o.value for o in skip.options if o.name == option)
    return f"self.{attr} = {python_expr(value, scope)}"


def unfold_keep_else(lines: list[Line]) -> list[Line]:
    """``v = e if c else v`` as ``if c: v = e``: the same, and laid out as ``ruff`` would."""
    out: list[Line] = []
    for text, last in lines:
        indent = text[: len(text) - len(text.lstrip())]
        try:
            tree = pyast.parse(text.strip())
        except SyntaxError:
            out.append((text, last))
            continue
        stmt = tree.body[0] if len(tree.body) == 1 else None
        if (
            isinstance(stmt, pyast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], pyast.Name)
            and isinstance(stmt.value, pyast.IfExp)
            and isinstance(stmt.value.orelse, pyast.Name)
            and stmt.value.orelse.id == stmt.targets[0].id
        ):
            name = stmt.targets[0].id
            out.append((f"{indent}if {pyast.unparse(stmt.value.test)}:", False))
            out.append((f"{indent}{INDENT}{name} = {pyast.unparse(stmt.value.body)}", last))
        else:
            out.append((text, last))
    return out
