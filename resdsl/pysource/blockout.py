"""A block call's output channels as an expression of its arguments (``ch1x1 + ch3x3``).

Each block class sets ``self.out_channels`` from its parameters; a caller
that knows the call's arguments can write the same number without building
the block first, as torchvision writes ``nn.Sequential(conv_block(in_channels,
ch3x3red, kernel_size=1), conv_block(ch3x3red, ch3x3, ...))``: the block's
output expression with each parameter replaced by the argument the call gives
it. Constant sums are folded (``64 + 64`` -> ``128``).

>>> out = BlockOut((), "in_channels", "in_channels * 2")
>>> out.of((), Scope({}), "channels + 8"), out.of((), Scope({}), "64 + 64")
('(channels + 8) * 2', '256')
>>> channel_sum(["ch1x1", "64", "ch5x5", "64"])
'ch1x1 + ch5x5 + 128'
"""

from __future__ import annotations

import ast as pyast
import operator
from collections.abc import Callable
from dataclasses import dataclass

from resdsl.pysource.pyexpr import Scope, Unsupported, is_literal, python_expr
from resdsl.syntax import ast

_FOLD: dict[type[pyast.operator], Callable[[int, int], int]] = {
    pyast.Add: operator.add,
    pyast.Sub: operator.sub,
    pyast.Mult: operator.mul,
    pyast.FloorDiv: operator.floordiv,
}


@dataclass(frozen=True)
class BlockOut:
    """A block class's output channels: the expression its ``self.out_channels`` is set to."""

    params: tuple[ast.Param, ...]
    first: str  # the constructor's input-channels parameter
    out: str

    def of(self, args: tuple[ast.Arg, ...], scope: Scope, in_channels: str) -> str | None:
        """The output channels of a call with ``args`` on ``in_channels`` (None: not knowable)."""
        values = self.bound(args, scope)
        if values is None:
            return None
        values[self.first] = in_channels
        try:
            tree = pyast.parse(self.out, mode="eval")
        except SyntaxError:  # pragma: no cover - written by this package
            return None
        if any(
            isinstance(n, pyast.Attribute | pyast.Call | pyast.Subscript) for n in pyast.walk(tree)
        ):
            return None
        names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
        if not names <= set(values):
            return None
        result = _Substitute(values).visit(tree)
        return pyast.unparse(fold(result.body))

    def bound(self, args: tuple[ast.Arg, ...], scope: Scope) -> dict[str, str] | None:
        """Parameter -> the Python expression of its value at this call (defaults included)."""
        values: dict[str, str] = {}
        for i, arg in enumerate(args):
            name = arg.name if arg.name is not None else self.params[i].name
            values[name] = python_expr(arg.value, scope)
        for p in self.params:
            if p.name in values:
                continue
            if p.default is None or not is_literal(p.default):
                return None
            values[p.name] = python_expr(p.default, Scope({}))
        return values


class _Substitute(pyast.NodeTransformer):
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def visit_Name(self, node: pyast.Name) -> pyast.AST:
        return pyast.parse(self.values[node.id], mode="eval").body


def fold(node: pyast.expr) -> pyast.expr:
    """Fold ``+ - * //`` of two integer constants (bottom up); everything else is kept."""
    if not isinstance(node, pyast.BinOp):
        return node
    left, right = fold(node.left), fold(node.right)
    op = _FOLD.get(type(node.op))
    if (
        op is not None
        and isinstance(left, pyast.Constant)
        and isinstance(right, pyast.Constant)
        and type(left.value) is int
        and type(right.value) is int
        and not (isinstance(node.op, pyast.FloorDiv) and right.value == 0)
    ):
        return pyast.Constant(op(left.value, right.value))
    return pyast.BinOp(left, node.op, right)


def channel_sum(parts: list[str]) -> str:
    """``a + b + c`` of channel expressions, folded where they are constants."""
    if not parts:
        raise Unsupported("a merge of no values")  # pragma: no cover - the parser refuses it
    tree: pyast.expr = pyast.parse(parts[0], mode="eval").body
    for part in parts[1:]:
        tree = pyast.BinOp(tree, pyast.Add(), pyast.parse(part, mode="eval").body)
    return pyast.unparse(_fold_sum(tree))


def _fold_sum(node: pyast.expr) -> pyast.expr:
    """Fold the constant terms of a sum into one (``a + 64 + 64`` -> ``a + 128``)."""
    terms: list[pyast.expr] = []

    def collect(n: pyast.expr) -> None:
        if isinstance(n, pyast.BinOp) and isinstance(n.op, pyast.Add):
            collect(n.left)
            collect(n.right)
        else:
            terms.append(fold(n))

    collect(node)
    constant = sum(t.value for t in terms if isinstance(t, pyast.Constant) and type(t.value) is int)
    rest = [t for t in terms if not (isinstance(t, pyast.Constant) and type(t.value) is int)]
    if constant or not rest:
        rest.append(pyast.Constant(constant))
    tree = rest[0]
    for term in rest[1:]:
        tree = pyast.BinOp(tree, pyast.Add(), term)
    return tree
