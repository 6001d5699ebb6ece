"""The stride of a group built as a module of its own, for a projection around it.

``auto``'s projection around a group (RegNet's ``proj`` around ``f``) is
built where the shapes differ: the group's stride is not 1, or the channels
change. A group's stride is the product of its statements' strides:

- a layer's is its ``stride`` argument (none: it must keep the spatial size
  in every model that elaborates it);
- a block call's is the argument it passes to the block's ``stride``
  parameter, where every elaborated instance of the block proves that its
  output size is the input's strided by that parameter, ``(n - 1) // s + 1``
  (a 1x1 projection of stride ``s`` gives the same size), and is 1 exactly
  where the parameter is;
- an ``if``'s branches must both keep the size; a ``let`` has none.

Anything else gives ``"?"``: the caller refuses the projection.

    >>> _strided(10, 2), _strided(9, 2), _strided(7, 1)
    (5, 5, 7)
"""

from __future__ import annotations

import functools
import re

from resdsl.ir import dims
from resdsl.ops import get_layer
from resdsl.pysource.calls import is_block_call
from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, python_expr
from resdsl.pysource.references import References, span_key
from resdsl.syntax import ast

#: The parameter a block's stride must be, and the input sizes its sizes are checked at.
STRIDE = "stride"
_SIZES = range(1, 33)
#: Stands for a stride the writer cannot follow.
UNKNOWN = "?"


def group_stride(stmts: tuple[ast.Stmt, ...], scope: Scope, refs: References) -> list[str]:
    """The strides of a group's statements, as Python expressions (``"?"``: not known)."""
    strides: list[str] = []
    for stmt in stmts:
        if isinstance(stmt, ast.Let):
            continue
        if isinstance(stmt, ast.Group):
            strides += group_stride(stmt.body, scope, refs)
        elif isinstance(stmt, ast.If):
            inner = group_stride(stmt.body, scope, refs) + group_stride(stmt.orelse, scope, refs)
            strides += [UNKNOWN] if inner else []
        elif isinstance(stmt, ast.Call):
            strides += _call_stride(stmt, scope, refs)
        else:
            strides.append(UNKNOWN)
    return strides


def _call_stride(stmt: ast.Call, scope: Scope, refs: References) -> list[str]:
    if not is_block_call(stmt, scope):
        layer = get_layer(stmt.name)
        if layer is None:
            return [UNKNOWN]
        value = _argument(stmt, list(layer.Args.model_fields))
        if value is not None:
            text = python_expr(value, scope)
            return [] if is_literal(value) and text == "1" else [text]
        nodes = [r for r in refs.nodes.get(span_key(stmt.span), []) if r.data["role"] == "layer"]
        same = bool(nodes) and all(
            tuple(r.in_shape()[1:]) == tuple(r.data["shape"][1:]) for r in nodes
        )
        return [] if same else [UNKNOWN]
    instances = [info for _, info in refs.scopes.get(span_key(stmt.span), [])]
    if not instances or stmt.name not in scope.blocks:
        return [UNKNOWN]
    blocks = {info.block for info in instances}
    if all(STRIDE not in info.args for info in instances):  # no stride: it must keep the size
        return [] if all(_strides_by(refs, b, False) for b in blocks) else [UNKNOWN]
    if not all(_strides_by(refs, b, True) for b in blocks):
        return [UNKNOWN]
    value = _argument(stmt, list(instances[0].args))
    if value is None:  # the default: 1 in every model, or not a stride the writer follows
        return [] if all(info.args.get(STRIDE) == 1 for info in instances) else [UNKNOWN]
    text = python_expr(value, scope)
    return [] if is_literal(value) and text == "1" else [text]


def _argument(stmt: ast.Call, params: list[str]) -> ast.Expr | None:
    """The expression a call passes to the ``stride`` parameter (None: it passes none)."""
    for i, arg in enumerate(stmt.args):
        name = arg.name or (params[i] if i < len(params) else None)
        if name == STRIDE:
            return arg.value
    return None


def _strides_by(refs: References, block: str | None, by_parameter: bool) -> bool:
    """Does every instance of ``block`` stride its input by its ``stride`` argument
    (``by_parameter``), or keep its size?"""
    instances = refs.blocks.get(block or "", [])
    if not instances:
        return False
    for g, info in instances:
        stride = info.args.get(STRIDE) if by_parameter else 1
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
            return False
        if info.input is None or info.output is None:
            return False
        before, after = g.nodes[info.input]["shape"], g.nodes[info.output]["shape"]
        if len(before) != len(after) or not all(
            _follows(a, b, stride) for a, b in zip(before[1:], after[1:], strict=True)
        ):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _follows(before: int, after: int, stride: int) -> bool:
    """``after`` is ``before`` strided by ``stride`` at every input size (one symbol)."""
    eb, ea = dims.expr_of(before), dims.expr_of(after)
    symbols = dims.symbols_of(eb) | dims.symbols_of(ea)
    if not symbols:
        return isinstance(eb, int) and isinstance(ea, int) and ea == _strided(eb, stride)
    if len(symbols) != 1:
        return False
    (name,) = symbols
    for n in _SIZES:
        memo_b: dict[object, int] = {}
        memo_a: dict[object, int] = {}
        size = dims.evaluate(eb, {name: n}, memo_b)
        if size >= 1 and dims.evaluate(ea, {name: n}, memo_a) != _strided(size, stride):
            return False
    return True


def _strided(size: int, stride: int) -> int:
    """A size after a stride-``stride`` window that keeps the border (``(n - 1) // s + 1``)."""
    return (size - 1) // stride + 1


_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")


def hoist(init: list[str], mark: int, start: int) -> None:
    """Move ``init[start:]`` (a shortcut's lines) to ``mark``, where its ``skip`` statement is,
    so that its module is registered where the compile registers it (RegNet's ``proj``
    before ``f``); refused where the lines read a name assigned in between.

    >>> lines = ["self.f = F(c)", "self.proj = P(c)"]
    >>> hoist(lines, 0, 1); lines
    ['self.proj = P(c)', 'self.f = F(c)']
    """
    moved = init[start:]
    between = {m.group(1) for line in init[mark:start] if (m := _ASSIGNED.match(line))}
    words = {w for line in moved for w in re.findall(r"(?<![.\w])[A-Za-z_]\w*", line)}
    if between & words:
        raise Unsupported("a shortcut registered before the values its modules are sized by")
    init[mark:] = [*moved, *init[mark:start]]
