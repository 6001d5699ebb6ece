"""Evaluation of spec expressions: a small, pure subset of Python.

Nothing here can run user code: the only callables are ``len min max channels
shape``, numbers are bounded, and every error is a diagnostic at the span of
the expression that caused it.

>>> from resdsl.syntax.parse import parse_expr
>>> evaluate(parse_expr("64 * 2 ** s"), Env({"s": 3}), NO_REFS)
512
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from resdsl.diagnostics import Diagnostic, did_you_mean
from resdsl.ir.dims import SymDim, describe
from resdsl.ir.values import BlockRef as BlockRef  # re-exported: the front end names it here
from resdsl.source import Span
from resdsl.syntax import ast

MAX_INT = 2**63 - 1
#: The most items a list value may hold, counting the items of nested lists:
#: comparing or copying a list is then bounded however its parts are shared.
MAX_LIST = 100_000
#: Lists nested in lists, at most.
MAX_LIST_DEPTH = 64
#: The longest string a computation may build (``s + s`` doubles it).
MAX_STRING = 100_000
#: The longest chain of ``let`` values whose values depend on the next one.
MAX_LET_CHAIN = 100
#: Python frames kept free under the recursion limit: an evaluation deeper
#: than that stops with a diagnostic before Python's RecursionError.
_STACK_RESERVE = 250


Value = Any  # int | float | bool | str | list[Value] | BlockRef


class EvalError(Exception):
    """An expression cannot be evaluated; carries the diagnostic to report."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def fail(code: str, message: str, span: Span, hint: str | None = None) -> EvalError:
    return EvalError(Diagnostic(code, message, span, hint))


class Thunk:
    """A ``let`` value, evaluated when first used (it may need shapes known later)."""

    __slots__ = ("_value", "env", "evaluating", "expr", "refs")

    def __init__(self, expr: ast.Expr, env: Env, refs: Refs) -> None:
        self.expr = expr
        self.env = env
        self.refs = refs
        self.evaluating = False
        self._value: Value = _UNSET

    #: How many ``let`` values are being evaluated, one inside the other.
    chain = 0

    def force(self) -> Value:
        if self._value is _UNSET:
            if self.evaluating:  # pragma: no cover - lets cannot refer to themselves
                raise fail("let-cycle", "this value refers to itself", _span_of(self.expr))
            _check_chain(self.expr)
            self.evaluating = True
            Thunk.chain += 1
            try:
                self._value = evaluate(self.expr, self.env, self.refs)
            finally:
                self.evaluating = False
                Thunk.chain -= 1
        return self._value


def _check_chain(expr: ast.Expr) -> None:
    """Refuse a ``let`` chain too long (or an evaluation too deep) to follow."""
    if Thunk.chain >= MAX_LET_CHAIN or _stack_is_deep():
        raise fail(
            "too-deep",
            f"this value depends on a chain of more than {MAX_LET_CHAIN} 'let' values, "
            "or on values nested too deeply",
            _span_of(expr),
            hint="compute it in fewer steps",
        )


def _stack_is_deep() -> bool:
    """Whether Python's stack is within :data:`_STACK_RESERVE` frames of its limit."""
    try:
        sys._getframe(max(1, sys.getrecursionlimit() - _STACK_RESERVE))
    except ValueError:
        return False
    return True


_UNSET = object()


class Env:
    """Lexically scoped variables: parameters, ``let`` values, loop indices."""

    __slots__ = ("parent", "vars")

    def __init__(self, vars: Mapping[str, Value] | None = None, parent: Env | None = None):
        self.vars: dict[str, Value] = dict(vars or {})
        self.parent = parent

    def child(self, vars: Mapping[str, Value] | None = None) -> Env:
        return Env(vars, self)

    def lookup(self, name: str) -> tuple[bool, Value]:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                value = env.vars[name]
                return True, value.force() if isinstance(value, Thunk) else value
            env = env.parent
        return False, None

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out


class Refs(Protocol):
    """What an expression can see beyond variables: block names and value shapes."""

    def block(self, name: str) -> BlockRef | None: ...

    def shape_of(self, ref: ast.Label | ast.InputRef, env: Env) -> tuple[int, ...]: ...


class _NoRefs:
    def block(self, name: str) -> BlockRef | None:
        return None

    def shape_of(self, ref: ast.Label | ast.InputRef, env: Env) -> tuple[int, ...]:
        raise fail(
            "shape-unavailable",
            "shapes are not available here",
            ref.span,
            hint="channels() and shape() can be used in layer arguments and 'let' values",
        )


NO_REFS: Refs = _NoRefs()


#: The language's names of value types; bool before int, as a bool is an int in Python.
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (list, "list"),
    (BlockRef, "block"),
)


def type_name(value: Value) -> str:
    for python_type, name in _TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def show(value: Value) -> str:
    """A value as the spec would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SymDim):
        return describe(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def _span_of(expr: ast.Expr) -> Span:
    return expr.span


def evaluate(expr: ast.Expr, env: Env, refs: Refs) -> Value:
    """The value of an expression; raises :class:`EvalError` with a diagnostic."""
    method = _DISPATCH[type(expr)]
    return method(expr, env, refs)


def _num(e: ast.Num, env: Env, refs: Refs) -> Value:
    return e.value


def _const(e: ast.Str | ast.Bool, env: Env, refs: Refs) -> Value:
    return e.value


def _name(e: ast.Name, env: Env, refs: Refs) -> Value:
    found, value = env.lookup(e.id)
    if found:
        return value
    block = refs.block(e.id)
    if block is not None:
        return block
    raise fail(
        "unknown-name",
        f"unknown name '{e.id}'",
        e.span,
        did_you_mean(e.id, env.names()),
    )


def _input_ref(e: ast.InputRef, env: Env, refs: Refs) -> Value:
    raise fail(
        "bad-input-ref",
        "'in' can only be used as a skip source or inside channels() and shape()",
        e.span,
    )


def _label(e: ast.Label, env: Env, refs: Refs) -> Value:
    raise fail(
        "bad-label-ref",
        f"'{e.span.text}' is a label: use it inside channels() or shape()",
        e.span,
    )


def _list(e: ast.ListExpr, env: Env, refs: Refs) -> Value:
    return _bounded_list([evaluate(item, env, refs) for item in e.items], e.span)


def list_size(value: list[Value], limit: int = MAX_LIST) -> tuple[int, int]:
    """The items of a list (nested lists' items included) and its nesting depth.

    A list that holds the same sub-list twice counts it twice, as comparing
    or printing it visits it twice. The walk stops once past ``limit`` items
    or :data:`MAX_LIST_DEPTH` levels, so it costs at most ``limit`` steps.

    >>> inner = [1, 2]
    >>> list_size([inner, [inner], 3])
    (8, 3)
    """
    count = depth = 0
    todo: list[tuple[list[Value], int]] = [(value, 1)]
    while todo:
        items, level = todo.pop()
        count += len(items)
        depth = max(depth, level)
        if count > limit or depth > MAX_LIST_DEPTH:
            break
        todo.extend((item, level + 1) for item in items if isinstance(item, list))
    return count, depth


def _bounded_list(value: list[Value], span: Span) -> list[Value]:
    count, depth = list_size(value)
    if count > MAX_LIST:
        raise _too_large_list(span)
    if depth > MAX_LIST_DEPTH:
        raise fail(
            "too-deep", f"this list nests lists more than {MAX_LIST_DEPTH} levels deep", span
        )
    return value


def _too_large_list(span: Span) -> EvalError:
    return fail(
        "too-large",
        f"this list is too large (more than {MAX_LIST:,} items, counting nested lists)",
        span,
    )


def _join_lists(a: list[Value], b: list[Value], span: Span) -> list[Value]:
    if len(a) + len(b) > MAX_LIST:  # before building it: the sum may be far past the bound
        raise _too_large_list(span)
    return _bounded_list(a + b, span)


def _join_strings(a: str, b: str, span: Span) -> str:
    if len(a) + len(b) > MAX_STRING:
        raise fail(
            "too-large", f"this string is too long (more than {MAX_STRING:,} characters)", span
        )
    return a + b


def _check_number(value: Value, span: Span) -> Value:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise fail(
            "number-too-large",
            "this number is too large (more than 64 bits)",
            span,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise fail("number-too-large", f"this computation gives {value}", span)
    return value


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _symbolic_guard(values: tuple[Value, ...], span: Span, what: str) -> None:
    for v in values:
        if isinstance(v, SymDim):
            raise fail(
                "symbolic-value",
                f"{what} depends on the symbolic size {describe(v)}",
                span,
                hint="a symbolic dimension cannot be used where a number is needed; "
                "give the input a fixed size",
            )


def _unary(e: ast.Unary, env: Env, refs: Refs) -> Value:
    v = evaluate(e.operand, env, refs)
    if e.op == "not":
        if not isinstance(v, bool):
            raise fail("type", f"'not' needs a bool, got {type_name(v)}", e.operand.span)
        return not v
    if not _is_number(v):
        raise fail("type", f"unary '{e.op}' needs a number, got {type_name(v)}", e.operand.span)
    _symbolic_guard((v,), e.span, "this value")
    return -v if e.op == "-" else +v


def _pow(a: Value, b: Value, span: Span) -> Value:
    try:
        if isinstance(a, int) and isinstance(b, int):
            if b < 0:
                return _check_number(float(a) ** b, span) if a != 0 else _zero_div(span)
            # Estimate the size before computing: 9 ** 9 ** 9 must not hang.
            if abs(a) > 1 and b * math.log2(abs(a)) > 64:
                raise fail("number-too-large", "this power is too large (more than 64 bits)", span)
            return a**b
        result = float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        # float() of an int beyond the float range, or a float result beyond it.
        raise fail("number-too-large", "this power is too large", span) from None
    if isinstance(result, complex):
        raise fail("math", "a negative number to a fractional power", span)
    return result


def _zero_div(span: Span) -> Value:
    raise fail("division-by-zero", "division by zero", span)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _binary(e: ast.Binary, env: Env, refs: Refs) -> Value:
    a = evaluate(e.left, env, refs)
    b = evaluate(e.right, env, refs)
    if e.op == "+" and isinstance(a, list) and isinstance(b, list):
        return _join_lists(a, b, e.span)
    if e.op == "+" and isinstance(a, str) and isinstance(b, str):
        return _join_strings(a, b, e.span)
    if not (_is_number(a) and _is_number(b)):
        raise fail(
            "type",
            f"unsupported operand types for '{e.op}': {type_name(a)} and {type_name(b)}",
            e.span,
        )
    _symbolic_guard((a, b), e.span, "this value")
    if e.op in ("/", "//", "%") and b == 0:
        _zero_div(e.right.span)
    if e.op == "**":
        return _check_number(_pow(a, b, e.span), e.span)
    try:
        return _check_number(_ARITH[e.op](a, b), e.span)
    except OverflowError:
        raise fail("number-too-large", "this number is too large", e.span) from None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _compare(e: ast.Compare, env: Env, refs: Refs) -> Value:
    left = evaluate(e.operands[0], env, refs)
    for op, right_expr in zip(e.ops, e.operands[1:], strict=True):
        right = evaluate(right_expr, env, refs)
        _symbolic_guard((left, right), e.span, "this comparison")
        if op in ("==", "!="):
            holds = _COMPARE[op](left, right)
        else:
            holds = _COMPARE[op](_order(left, right, op, e.span), 0)
        if not holds:
            return False
        left = right
    return True


def _order(left: Value, right: Value, op: str, span: Span) -> int:
    """-1, 0 or 1 as ``left`` sorts before, with or after ``right``.

    Numbers compare with numbers, strings with strings, and lists item by item
    as in Python, each pair of items under the same rule: ``[1, "a"] < [1, true]``
    is an error, not Python's TypeError.
    """
    if _is_number(left) and _is_number(right):
        _symbolic_guard((left, right), span, "this comparison")
        return int(left > right) - int(left < right)
    if type(left) is type(right) is str:
        return int(left > right) - int(left < right)
    if type(left) is type(right) is list:
        for a, b in zip(left, right, strict=False):
            order = _order(a, b, op, span)
            if order:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))
    raise fail("type", f"cannot compare {type_name(left)} and {type_name(right)} with '{op}'", span)


def _boolop(e: ast.BoolOp, env: Env, refs: Refs) -> Value:
    for sub in e.values:
        v = evaluate(sub, env, refs)
        if not isinstance(v, bool):
            raise fail("type", f"'{e.op}' needs bools, got {type_name(v)}", sub.span)
        if e.op == "and" and not v:
            return False
        if e.op == "or" and v:
            return True
    return e.op == "and"


def _cond(e: ast.Cond, env: Env, refs: Refs) -> Value:
    test = evaluate(e.test, env, refs)
    if not isinstance(test, bool):
        raise fail("type", f"a condition must be a bool, got {type_name(test)}", e.test.span)
    return evaluate(e.body if test else e.orelse, env, refs)


def _index(e: ast.Index, env: Env, refs: Refs) -> Value:
    seq = evaluate(e.value, env, refs)
    i = evaluate(e.index, env, refs)
    if not isinstance(seq, list | str):
        raise fail("type", f"cannot index a value of type {type_name(seq)}", e.value.span)
    if not isinstance(i, int) or isinstance(i, bool):
        raise fail("type", f"an index must be an int, got {type_name(i)}", e.index.span)
    if not -len(seq) <= i < len(seq):
        raise fail(
            "index-range",
            f"index {i} is out of range for a list of length {len(seq)}",
            e.index.span,
        )
    return seq[i]


def _funcall(e: ast.FuncCall, env: Env, refs: Refs) -> Value:
    if e.func in ("channels", "shape"):
        if len(e.args) != 1 or not isinstance(e.args[0], ast.Name | ast.Label | ast.InputRef):
            raise fail(
                "bad-call",
                f"{e.func}() takes one label or 'in', e.g. {e.func}(conv1)",
                e.span,
            )
        ref = e.args[0]
        label = ast.Label((ref.id,), ref.span) if isinstance(ref, ast.Name) else ref
        shape = refs.shape_of(label, env)
        if e.func == "channels":
            if not shape:
                raise fail("type", "this value has no channel dimension", e.span)
            return shape[0]
        return list(shape)
    args = [evaluate(a, env, refs) for a in e.args]
    if e.func == "len":
        if len(args) != 1 or not isinstance(args[0], list | str):
            raise fail("bad-call", "len() takes one list", e.span)
        return len(args[0])
    if e.func in ("min", "max"):
        items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        if not items or not all(_is_number(x) for x in items):
            raise fail("bad-call", f"{e.func}() takes numbers, or one list of numbers", e.span)
        _symbolic_guard(tuple(items), e.span, f"{e.func}()")
        return min(items) if e.func == "min" else max(items)
    if e.func == "normal":
        raise fail(
            "bad-call",
            "normal(std) can only initialise a param",
            e.span,
            "write it after '=' in `param NAME [dims] = normal(0.02)`",
        )
    raise fail(  # pragma: no cover - the parser admits only the functions above
        "unknown-function", f"unknown function '{e.func}'", e.func_span
    )


_DISPATCH: dict[type, Callable[[Any, Env, Refs], Value]] = {
    ast.Num: _num,
    ast.Str: _const,
    ast.Bool: _const,
    ast.Name: _name,
    ast.InputRef: _input_ref,
    ast.Label: _label,
    ast.ListExpr: _list,
    ast.Unary: _unary,
    ast.Binary: _binary,
    ast.Compare: _compare,
    ast.BoolOp: _boolop,
    ast.Cond: _cond,
    ast.Index: _index,
    ast.FuncCall: _funcall,
}


def label_text(label: ast.Label, env: Env, refs: Refs) -> str:
    """The text of a label, with ``{expr}`` parts evaluated (ints and strs only)."""
    if label.literal is not None:
        return label.literal
    out: list[str] = []
    for part in label.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        v = evaluate(part, env, refs)
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise fail(
                "type", f"a label can interpolate an int or a str, got {type_name(v)}", part.span
            )
        _symbolic_guard((v,), part.span, "this label")
        out.append(str(v))
    return "".join(out)
