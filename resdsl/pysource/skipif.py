"""``if`` and groups with their own control flow, inside a scope that has skips.

Two kinds of ``if`` are written, as torchvision writes them:

- an ``if`` that holds only skips (``if stride == 1 and inp == oup { skip in
  -> conv (add) }``): the condition is computed once, in ``__init__``
  (``self.use_res_connect = stride == 1 and inp == oup``), and ``forward``
  merges under it (``if self.use_res_connect: out = out + x``);
- an ``if`` whose branches build the same labelled layers (``if act == "relu"
  { activation: relu } else { activation: silu }``): ``__init__`` chooses each
  module under the condition, and ``forward`` calls it the same way whichever
  was built.

A group that is not a plain chain of layers (it holds an ``if``, a block, a
label or a ``let``) is built as a chain of its own (see
:mod:`resdsl.pysource.groups`) and called as one module.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from resdsl.pysource.chain import INDENT, ChainWriter
from resdsl.pysource.groups import write_group
from resdsl.pysource.names import FORWARD_NAMES, fresh, is_attribute_name
from resdsl.pysource.pyexpr import Scope, Unsupported, python_expr
from resdsl.pysource.text import WIDTH
from resdsl.syntax import ast

if TYPE_CHECKING:
    from resdsl.pysource.residual import ResidualWriter, _Value

#: The attribute that holds a conditional skip's condition (torchvision's name).
FLAG = "use_res_connect"


def write_branch(
    res: ResidualWriter,
    stmt: ast.If,
    scope: Scope,
    cur: _Value,
    values: dict[str | None, _Value],
    skips: list[ast.Skip],
) -> _Value:
    """Write an ``if`` of a scope with skips; returns the running value after it."""
    test = python_expr(stmt.test, scope)
    body, orelse = stmt.body, stmt.orelse
    if not body:
        test, body, orelse = f"not ({test})", orelse, body
    if all(isinstance(s, ast.Skip) for s in body) and not orelse:
        return _conditional_skips(res, test, body, cur, values, scope)
    return _chosen_layers(res, test, (body, orelse), scope, cur, values, skips)


def _conditional_skips(
    res: ResidualWriter,
    test: str,
    body: tuple[ast.Stmt, ...],
    cur: _Value,
    values: dict[str | None, _Value],
    scope: Scope,
) -> _Value:
    flag = fresh(FLAG, res.names)
    res.names.add(flag)
    res.init.append(f"self.{flag} = {test}")
    start, lines = len(res.init), len(res.forward)
    merged = cur
    for skip in body:
        assert isinstance(skip, ast.Skip)
        dst = skip.dst.literal
        if dst is None or values.get(dst) is not merged:
            raise Unsupported("a skip under an 'if' whose target is not the value just computed")
        merged = res.merge(skip, values, merged, scope)
        values[dst] = merged
    if any("nn." in line for line in res.init[start:]):  # a module, not an option's value
        raise Unsupported("a skip under an 'if' with a projection shortcut")
    if merged.var != cur.var or merged.channels != cur.channels:
        raise Unsupported("a skip under an 'if' that changes its value's name or channels")
    merges = res.forward[lines:]
    del res.forward[lines:]
    res.forward.append(f"if self.{flag}:")
    res.forward += [_indented(line) for line in merges]
    return dataclasses.replace(merged, fresh=False)


def _indented(line: str) -> str:
    """A ``forward`` line one level deeper; its shape comment goes if it no longer fits."""
    code, _, comment = line.partition("  # [")
    line = INDENT + (line if len(INDENT * 3 + line) <= WIDTH else code)
    del comment
    return line


def _chosen_layers(
    res: ResidualWriter,
    test: str,
    branches: tuple[tuple[ast.Stmt, ...], tuple[ast.Stmt, ...]],
    scope: Scope,
    cur: _Value,
    values: dict[str | None, _Value],
    skips: list[ast.Skip],
) -> _Value:
    body, orelse = branches
    if len(body) != len(orelse) or not all(
        _labelled_call(a) and _labelled_call(b) and a.label.literal == b.label.literal  # type: ignore[union-attr]
        for a, b in zip(body, orelse, strict=False)
    ):
        raise Unsupported("an 'if' in a block with skips that does not build the same labels")
    sources = {s.src.literal for s in skips if isinstance(s.src, ast.Label)}
    targets = {s.dst.literal for s in skips}
    init: list[list[str]] = [[], []]
    for a, b in zip(body, orelse, strict=True):
        assert isinstance(a, ast.Call) and isinstance(b, ast.Call)
        label = a.label.literal if a.label is not None else None
        if label is None or not is_attribute_name(label):
            raise Unsupported(f"the label '{label}' as a module attribute")
        if label in targets and a is not body[-1]:
            raise Unsupported("a skip to a label an 'if' builds before its last")
        var = "out" if label not in sources else fresh(label, FORWARD_NAMES | res.names - {label})
        made = []
        for k, call in enumerate((a, b)):
            start, lines = len(res.init), len(res.forward)
            made.append(res.statement(call, scope, cur, var))
            init[k] += res.init[start:]
            del res.init[start:]
            if k:
                if res.forward[lines:] != res.forward[lines - 1 : lines]:
                    raise Unsupported("an 'if' whose branches call their layers differently")
                del res.forward[lines:]
        first, second = made
        if (first.channels, first.stride) != (second.channels, second.stride):
            raise Unsupported("an 'if' whose branches differ in channels or stride")
        if a is body[-1]:  # its merges (if any) come after the modules are chosen
            res.init += [f"if {test}:", *(INDENT + x for x in init[0]), "else:"]
            res.init += [INDENT + x for x in init[1]]
        cur = res.labelled(label, first, values, skips, scope)
    return cur


def _labelled_call(stmt: ast.Stmt) -> bool:
    return isinstance(stmt, ast.Call) and stmt.label is not None


def built_group(res: ResidualWriter, stmt: ast.Group, scope: Scope, channels: str) -> str:
    """A group built as a chain of its own in ``__init__``; returns its output channels."""
    taken = res.reserved | res.init_locals
    var = fresh("channels", taken)
    chain = ChainWriter(
        res.refs, res.rank, channels, taken, res.init, var=var, declared=res.init_locals
    )
    res.init_locals.add(chain.var)
    out = write_group(chain, stmt, scope, 0, chain.register)
    if out == chain.var:  # kept apart from the next group's count
        res.init_locals.add(out)
    return out
