"""``param NAME [dims] = INIT``: learnable tensors declared on a scope.

A param belongs to the scope it is written in (the model, a block instance or
a group): its ``state_dict`` key is ``scope.NAME``, as torchvision's
``class_token``, ``encoder.pos_embedding`` and ConvNeXt's ``layer_scale``.
Its sizes are fixed numbers; its initial value is a number (every element),
``zeros``, ``ones`` or ``normal(std)``. It is used by name in the same scope:
``gate=NAME`` on an ``add`` skip, ``add_param(NAME)``, ``prepend_param(NAME)``.
Declaring one is not a statement that takes a position, so the statements
around it keep their names.
"""

from __future__ import annotations

from typing import Literal

from resdsl.diagnostics import did_you_mean
from resdsl.ir.dims import SymDim
from resdsl.ir.graph import ParamTensor
from resdsl.semantics.context import ElabContext, Scope
from resdsl.semantics.expr import Env, EvalError, evaluate, fail, type_name
from resdsl.syntax import ast

#: Initial values written as a bare word, and the fill value each stands for.
FILL_WORDS = {"zeros": 0.0, "ones": 1.0}
INIT_HINT = "a param starts as a number, zeros, ones or normal(std)"


def declare(ctx: ElabContext, stmt: ast.ParamDecl, env: Env, scope: Scope) -> None:
    """Evaluate a ``param`` statement and record its tensor on the scope (errors reported)."""
    info = ctx.graph.scopes[scope.path]
    if stmt.name in info.params:
        first = info.params[stmt.name]
        ctx.error(
            scope,
            "duplicate-param",
            f"param '{stmt.name}' is already declared in this scope (at {first.span})",
            stmt.name_span,
            "give the param another name",
        )
        return
    try:
        shape = tuple(_size(d, env, scope) for d in stmt.dims)
        init, value = _initial(stmt.init, env, scope)
    except EvalError as err:
        ctx.report(scope, err)
        ctx.failed_params.add((scope.path, stmt.name))  # its uses are not reported again
        return
    if not shape:
        ctx.error(
            scope,
            "param-shape",
            f"param '{stmt.name}' has no dimensions",
            stmt.span,
            "give its sizes, e.g. param scale [1] = 1.0 for one number",
        )
        ctx.failed_params.add((scope.path, stmt.name))
        return
    info.params[stmt.name] = ParamTensor(shape, init, value, stmt.span)


def _size(expr: ast.Expr, env: Env, scope: Scope) -> int:
    value = evaluate(expr, env, scope)
    if isinstance(value, SymDim):
        raise fail(
            "param-shape",
            "a param's size cannot be symbolic",
            expr.span,
            "a learnable tensor has fixed sizes; give the input a fixed size",
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail("param-shape", f"a param's size is an int, got {type_name(value)}", expr.span)
    if value < 1:
        raise fail("param-shape", f"a param's size must be positive, got {value}", expr.span)
    return value


def _initial(expr: ast.Expr, env: Env, scope: Scope) -> tuple[Literal["fill", "normal"], float]:
    """``("fill", value)`` or ``("normal", std)`` for the INIT of a param."""
    if isinstance(expr, ast.Name) and expr.id in FILL_WORDS and not env.lookup(expr.id)[0]:
        return "fill", FILL_WORDS[expr.id]
    if isinstance(expr, ast.FuncCall) and expr.func == "normal":
        if len(expr.args) != 1:
            raise fail("bad-call", "normal() takes one number: the standard deviation", expr.span)
        std = evaluate(expr.args[0], env, scope)
        if isinstance(std, bool) or not isinstance(std, int | float) or std < 0:
            raise fail(
                "bad-call",
                "normal(std) takes a non-negative number",
                expr.args[0].span,
                INIT_HINT,
            )
        return "normal", float(std)
    value = evaluate(expr, env, scope)
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = did_you_mean(value, FILL_WORDS) if isinstance(value, str) else None
        raise fail(
            "param-init",
            f"a param's initial value is a number, zeros, ones or normal(std), got "
            f"{type_name(value)}",
            expr.span,
            hint or INIT_HINT,
        )
    return "fill", float(value)


def lookup(
    ctx: ElabContext, scope: Scope, expr: ast.Expr, what: str
) -> tuple[str, ParamTensor] | None:
    """The param a bare name refers to in ``scope`` (reported, and None, if there is none)."""
    params = ctx.graph.scopes[scope.path].params
    if isinstance(expr, ast.Name) and expr.id in params:
        return expr.id, params[expr.id]
    name = expr.id if isinstance(expr, ast.Name) else expr.span.text
    if (scope.path, name) in ctx.failed_params:
        return None
    ctx.error(
        scope,
        "unknown-param",
        f"{what} '{name}' is not a param of this scope",
        expr.span,
        did_you_mean(name, params)
        or "declare it first in the same block or group: param NAME [dims] = INIT",
    )
    return None
