"""Binding: call arguments matched to parameter names, evaluated and type-checked.

One rule matches the arguments of every call to names, for blocks and layers
alike (:meth:`Binder.match_args`): positional arguments take the names in
order, keywords their own, as in Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from resdsl.diagnostics import did_you_mean
from resdsl.ir.dims import SymDim
from resdsl.semantics.context import ElabContext, Scope
from resdsl.semantics.expr import BlockRef, Env, EvalError, Value, evaluate, show
from resdsl.semantics.expr import type_name as value_type
from resdsl.source import Span
from resdsl.syntax import ast

_PYTHON_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "list": list,
    "block": BlockRef,
}


class Binder:
    """Binds the arguments of block instances and models to their parameters."""

    def __init__(self, ctx: ElabContext) -> None:
        self.ctx = ctx

    def bind_args(
        self,
        params: tuple[ast.Param, ...],
        args: tuple[ast.Arg, ...],
        env: Env,
        scope: Scope,
        callee: str,
        span: Span,
    ) -> dict[str, Value] | None:
        """Evaluate call arguments in the caller and bind them to the callee's parameters."""
        names = [p.name for p in params]
        many = f"{callee} takes {len(names)} argument{'s' if len(names) != 1 else ''}"
        matched, ok = self.match_args(
            args,
            names,
            scope,
            too_many=lambda given: f"{many} but {given} were given",
            unknown=lambda name: (f"{callee} has no parameter '{name}'", None),
        )
        values: dict[str, Value] = {}
        for name, arg in matched:
            try:
                values[name] = evaluate(arg.value, env, scope)
            except EvalError as err:
                self.ctx.report(scope, err)
                ok = False
        if not ok:
            return None
        return self.bind_values(params, values, scope, span, callee=callee, arg_spans=args)

    def match_args(
        self,
        args: tuple[ast.Arg, ...],
        names: list[str],
        scope: Scope,
        *,
        too_many: Callable[[int], str],
        unknown: Callable[[str], tuple[str, str | None]],
    ) -> tuple[list[tuple[str, ast.Arg]], bool]:
        """Match call arguments to parameter names, as Python does.

        Positional arguments take the names in order, keywords their own. An
        extra positional argument, an unknown name (reported with the message
        and fallback hint ``unknown`` gives) or a name given twice is an error;
        every independent one is reported. Returns the pairs that matched (so
        their values can still be checked) and whether every argument did.
        """
        error = self.ctx.error
        matched: list[tuple[str, ast.Arg]] = []
        seen: set[str] = set()
        ok = True
        positional = [a for a in args if a.name is None]
        if len(positional) > len(names):
            error(
                scope, "too-many-arguments", too_many(len(positional)), positional[len(names)].span
            )
            ok = False
        for i, arg in enumerate(args):
            if arg.name is None and i >= len(names):
                continue  # reported above
            name = names[i] if arg.name is None else arg.name
            if name not in names:
                message, fallback = unknown(name)
                hint = did_you_mean(name, names) or fallback
                error(scope, "unknown-argument", message, arg.span, hint)
                ok = False
            elif name in seen:
                error(scope, "duplicate-argument", f"argument '{name}' is given twice", arg.span)
                ok = False
            else:
                seen.add(name)
                matched.append((name, arg))
        return matched, ok

    def bind_values(
        self,
        params: tuple[ast.Param, ...],
        values: dict[str, Value],
        scope: Scope,
        span: Span,
        *,
        callee: str = "this model",
        arg_spans: tuple[ast.Arg, ...] = (),
        for_model: bool = False,
    ) -> dict[str, Value] | None:
        """Bind values to parameters: defaults for the missing ones, each value type-checked."""
        bound: dict[str, Value] = {}
        env = Env()
        ok = True
        given = {a.name: a for a in arg_spans if a.name}
        positional = [a for a in arg_spans if a.name is None]
        for i, a in enumerate(positional):
            given[params[i].name] = a
        for p in params:
            expr: ast.Expr | None = None
            if p.name in values:
                value = values[p.name]
                arg = given.get(p.name)
                where, expr = (arg.span, arg.value) if arg is not None else (span, None)
            elif p.default is not None:
                try:
                    value = evaluate(p.default, env, scope)
                except EvalError as err:
                    self.ctx.report(scope, err)
                    ok = False
                    continue
                where, expr = p.default.span, p.default
            else:
                self.missing(p, scope, span, callee, for_model)
                ok = False
                continue
            checked = self.check_type(p, value, where, scope, callee, expr)
            if checked is MISSING:
                ok = False
                continue
            bound[p.name] = checked
            env.vars[p.name] = checked
        return bound if ok else None

    def missing(self, p: ast.Param, scope: Scope, span: Span, callee: str, for_model: bool) -> None:
        """Report a parameter that has neither a value nor a default."""
        if for_model:
            self.ctx.error(
                scope,
                "missing-parameter",
                f"{callee} needs parameter '{p.name}' ({p.type})",
                span,
                hint=f"set it with -p {p.name}=VALUE, or spec.graph(..., {p.name}=...)",
            )
        else:
            self.ctx.error(
                scope,
                "missing-argument",
                f"{callee} needs argument '{p.name}' ({p.type})",
                span,
                hint=f"declared at {p.span}",
            )

    def check_type(
        self,
        p: ast.Param,
        value: Value,
        span: Span,
        scope: Scope,
        callee: str,
        expr: ast.Expr | None = None,
    ) -> Value:
        """The value converted to the parameter's type, or :data:`MISSING` (reported).

        ``expr`` is what the value was written as, if it was written in the spec.
        """
        t = p.type
        if t == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if t == "block" and isinstance(value, str) and value in self.ctx.program.blocks:
            return BlockRef(value)  # from Python or the command line
        expected = _PYTHON_TYPES[t]
        good = isinstance(value, expected) and not (t == "int" and isinstance(value, bool))
        if isinstance(value, SymDim) and t in ("int", "float"):
            good = False
        if not good:
            self.ctx.error(
                scope,
                "argument-type",
                f"argument '{p.name}' of {callee} must be {article(t)} {t}, "
                f"got {value_type(value)} {show(value)}",
                span,
                int_hint(value, expr) if t == "int" else None,
            )
            return MISSING
        return value


#: What :meth:`Binder.check_type` returns for a value of the wrong type.
MISSING: Any = object()


def article(word: str) -> str:
    """The indefinite article for ``word``: ``article("int") == "an"``."""
    return "an" if word[0] in "aeiou" else "a"


def int_hint(value: Value, expr: ast.Expr | None) -> str | None:
    """How to write an int where the float ``value`` was given (from ``expr``), or None.

    One rule for every argument: an int never accepts a float, so ``4.0`` is
    refused where an int is expected, with this hint.

    >>> int_hint(4.0, None)
    'write 4'
    >>> int_hint(4.5, None) is None
    True
    """
    if not isinstance(value, float) or not value.is_integer():
        return None
    if expr is not None and _divides(expr):
        return "'/' always gives a float: use '//' to divide ints"
    if expr is None or _is_literal(expr):
        return f"write {int(value)}"
    return None


def _is_literal(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.Unary) and expr.op in ("-", "+"):
        return _is_literal(expr.operand)
    return isinstance(expr, ast.Num)


def _divides(node: Any) -> bool:
    """Whether an expression divides with ``/`` anywhere in it."""
    if isinstance(node, ast.Binary) and node.op == "/":
        return True
    if isinstance(node, tuple):
        return any(_divides(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, Span):
        return any(_divides(getattr(node, f.name)) for f in dataclasses.fields(node))
    return False
