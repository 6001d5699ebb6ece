"""Spec expressions written as Python expressions (``planes * 4``, ``1 if s == 0 else 2``).

Only validated pieces reach the output: identifiers that the writer has
declared (parameters, ``let`` names, loop variables, block classes), finite
numbers, booleans and plain ASCII strings. Everything else raises
:class:`Unsupported`, and the caller falls back to the per-instance writer.
The expression is built as a Python :mod:`ast` tree and printed by
:func:`ast.unparse`, which puts in exactly the parentheses Python needs.

>>> from resdsl.syntax.parse import parse_expr
>>> python_expr(parse_expr("64 * 2 ** s"), Scope({"s": "s"}))
'64 * 2 ** s'
>>> python_expr(parse_expr("1 if s == 0 else 2"), Scope({"s": "s"}))
'1 if s == 0 else 2'
"""

from __future__ import annotations

import ast as pyast
import math
import re
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from resdsl.syntax import ast

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN_TEXT = re.compile(r"[ -~]*\Z")

_BINARY: dict[str, type[pyast.operator]] = {
    "+": pyast.Add,
    "-": pyast.Sub,
    "*": pyast.Mult,
    "/": pyast.Div,
    "//": pyast.FloorDiv,
    "%": pyast.Mod,
    "**": pyast.Pow,
}
_COMPARE: dict[str, type[pyast.cmpop]] = {
    "<": pyast.Lt,
    "<=": pyast.LtE,
    ">": pyast.Gt,
    ">=": pyast.GtE,
    "==": pyast.Eq,
    "!=": pyast.NotEq,
}
_UNARY: dict[str, type[pyast.unaryop]] = {"-": pyast.USub, "+": pyast.UAdd, "not": pyast.Not}
#: Spec functions that are Python builtins with the same meaning.
_BUILTIN_FUNCTIONS = frozenset({"len", "min", "max"})


class Unsupported(Exception):
    """The parametric writer cannot express this construct; the reason says which."""


#: How a reason names a statement the writer cannot express: as the spec writes it.
_STATEMENT_NAMES = {
    "Parallel": "a 'parallel' statement",
    "From": "a 'from' input",
    "ParamDecl": "a 'param' tensor",
    "Repeat": "a 'repeat'",
    "If": "an 'if'",
    "Let": "a 'let'",
    "Skip": "a 'skip'",
    "Group": "a group",
    "Call": "a call",
}


def statement_name(stmt: object) -> str:
    """``a 'parallel' statement``: a statement kind as a reason names it."""
    kind = type(stmt).__name__
    return _STATEMENT_NAMES.get(kind, f"a {kind} statement")


@dataclass
class Scope:
    """Spec names visible at a point -> the Python expression that holds their value."""

    names: Mapping[str, str]
    blocks: Mapping[str, str] = field(default_factory=dict)  # block definition -> class
    #: ``channels(REF)``: a label's (``""``: the scope input's) channel count as Python;
    #: a child scope's labels are its own, and it sees its parent's.
    channels: MutableMapping[str, str] = field(default_factory=dict)
    #: Names (parameters, lets) whose value is a block: a call of one builds it.
    block_values: set[str] = field(default_factory=set)

    def child(self, extra: Mapping[str, str]) -> Scope:
        channels = ChainMap({}, self.channels)
        return Scope({**self.names, **extra}, self.blocks, channels, set(self.block_values))


def python_expr(expr: ast.Expr, scope: Scope) -> str:
    """The Python source of a spec expression (see the module docstring)."""
    return pyast.unparse(to_python(expr, scope))


def to_python(expr: ast.Expr, scope: Scope) -> pyast.expr:
    """The Python :mod:`ast` node of a spec expression."""
    if isinstance(expr, ast.Bool):
        return pyast.Constant(bool(expr.value))
    if isinstance(expr, ast.Num):
        return number(expr.value)
    if isinstance(expr, ast.Str):
        if not _PLAIN_TEXT.match(expr.value) or '"' in expr.value or "\\" in expr.value:
            raise Unsupported("a string with quotes, escapes or non-ASCII text")
        return pyast.Constant(expr.value)
    if isinstance(expr, ast.Name):
        return name_ref(expr.id, scope)
    if isinstance(expr, ast.ListExpr):
        return pyast.List([to_python(e, scope) for e in expr.items], pyast.Load())
    if isinstance(expr, ast.Unary):
        return pyast.UnaryOp(_UNARY[expr.op](), to_python(expr.operand, scope))
    if isinstance(expr, ast.Binary):
        left, right = to_python(expr.left, scope), to_python(expr.right, scope)
        return pyast.BinOp(left, _BINARY[expr.op](), right)
    if isinstance(expr, ast.Compare):
        first, *rest = (to_python(e, scope) for e in expr.operands)
        return pyast.Compare(first, [_COMPARE[op]() for op in expr.ops], rest)
    if isinstance(expr, ast.BoolOp):
        op = pyast.And() if expr.op == "and" else pyast.Or()
        return pyast.BoolOp(op, [to_python(e, scope) for e in expr.values])
    if isinstance(expr, ast.Cond):
        parts = (expr.test, expr.body, expr.orelse)
        test, body, orelse = (to_python(e, scope) for e in parts)
        return pyast.IfExp(test, body, orelse)
    if isinstance(expr, ast.Index):
        value, index = to_python(expr.value, scope), to_python(expr.index, scope)
        return pyast.Subscript(value, index, pyast.Load())
    if isinstance(expr, ast.FuncCall) and expr.func in _BUILTIN_FUNCTIONS:
        args = [to_python(a, scope) for a in expr.args]
        return pyast.Call(pyast.Name(expr.func, pyast.Load()), args, [])
    if isinstance(expr, ast.FuncCall) and expr.func == "channels" and len(expr.args) == 1:
        return channels_ref(expr.args[0], scope)
    if isinstance(expr, ast.Label):
        return label_expr(expr, scope)
    raise Unsupported(f"the expression {type(expr).__name__} (e.g. channels(), shape(), in)")


def number(value: int | float) -> pyast.expr:
    """A finite number; a negative one as a unary minus (as Python writes it)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Unsupported("a number that is not finite")
    if value < 0:
        return pyast.UnaryOp(pyast.USub(), pyast.Constant(-value))
    return pyast.Constant(value)


def name_ref(name: str, scope: Scope) -> pyast.expr:
    """A declared name: a parameter, ``let`` or loop variable, or a block definition."""
    if name in scope.names:
        target = scope.names[name]
        if not IDENT.match(target):
            return pyast.parse(target, mode="eval").body
        return pyast.Name(target, pyast.Load())
    if name in scope.blocks:
        return pyast.Name(scope.blocks[name], pyast.Load())
    raise Unsupported(f"the name '{name}' (not a parameter, let, loop variable or block)")


def label_expr(label: ast.Label, scope: Scope) -> pyast.expr:
    """A label as a string: ``"conv1"``, or an f-string for ``layer{s + 1}``."""
    text = label.literal
    if text is not None:
        return pyast.Constant(text)
    values: list[pyast.expr] = []
    for part in label.parts:
        if isinstance(part, str):
            values.append(pyast.Constant(part))
        else:
            values.append(pyast.FormattedValue(to_python(part, scope), -1, None))
    return pyast.JoinedStr(values)


#: A label's channel count held in a variable the writer has overwritten since.
STALE = "<overwritten>"


def channels_key(ref: ast.Expr, scope: Scope) -> str | None:
    """How :attr:`Scope.channels` keys a reference: ``""`` for ``in``, a label's text."""
    if isinstance(ref, ast.InputRef):
        return ""
    if isinstance(ref, ast.Name):
        return ref.id
    if isinstance(ref, ast.Label):
        return ref.literal if ref.literal is not None else pyast.unparse(label_expr(ref, scope))
    return None


def channels_ref(ref: ast.Expr, scope: Scope) -> pyast.expr:
    """``channels(in)`` or ``channels(LABEL)``: the channel count the writer holds for it."""
    key = channels_key(ref, scope)
    value = scope.channels.get(key) if key is not None else None
    if value is None or value == STALE:
        raise Unsupported("channels() of a value whose channel count the writer does not hold")
    return pyast.parse(value, mode="eval").body


def is_literal(expr: ast.Expr) -> bool:
    """True for a number, bool, string or list of them: a value the spec fixes."""
    if isinstance(expr, ast.Num | ast.Bool | ast.Str):
        return True
    if isinstance(expr, ast.Unary) and expr.op == "-":
        return isinstance(expr.operand, ast.Num)
    if isinstance(expr, ast.ListExpr):
        return all(is_literal(e) for e in expr.items)
    return False


def literal_value(expr: ast.Expr) -> object:
    """The value of a literal (see :func:`is_literal`)."""
    if isinstance(expr, ast.Num | ast.Bool | ast.Str):
        return expr.value
    if isinstance(expr, ast.Unary) and isinstance(expr.operand, ast.Num):
        return -expr.operand.value
    if isinstance(expr, ast.ListExpr):
        return [literal_value(e) for e in expr.items]
    raise Unsupported("not a literal")  # pragma: no cover - callers ask is_literal first
