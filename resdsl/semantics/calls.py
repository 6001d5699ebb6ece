"""Calls: a statement ``name(args)`` resolved to a layer or a block and built.

A layer call becomes one node, its arguments validated by the layer's pydantic
model and its output shape inferred. A block call becomes a scope holding the
block's body, elaborated with its bound arguments (or stamped from an equal
instance built before, see :mod:`resdsl.semantics.stamping`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import networkx as nx
from pydantic import ValidationError

from resdsl.diagnostics import Diagnostic, did_you_mean
from resdsl.ir import dims
from resdsl.ir.dims import Shape, SymDim, expr_of
from resdsl.ir.graph import ScopeInfo
from resdsl.ops import Layer, ShapeError, get_layer, layer_names
from resdsl.ops.base import format_shape, signature
from resdsl.ops.registry import node_op
from resdsl.semantics import params
from resdsl.semantics.binding import int_hint
from resdsl.semantics.context import (
    POISON,
    Abort,
    ElabContext,
    ElabPart,
    Item,
    Poisoned,
    Scope,
    Val,
    freeze,
)
from resdsl.semantics.expr import BlockRef, Env, EvalError, Value, evaluate, show
from resdsl.semantics.stamping import Variant, drop_path_params, instance_key
from resdsl.source import Span
from resdsl.syntax import ast

if TYPE_CHECKING:
    from resdsl.semantics.elaborate import Elaborator


class Calls(ElabPart):
    """Builds layer calls and block instances."""

    def __init__(self, el: Elaborator) -> None:
        super().__init__(el)
        #: Blocks repeat: the same layer with the same arguments on the same input
        #: is validated and inferred once (a large share of elaboration time).
        self.layer_memo: dict[tuple[Any, ...], tuple[Any, Shape]] = {}
        #: Validated arguments by layer and values, whatever the input: `relu` or
        #: `batchnorm(64)` recur on many shapes (38 of ResNet-50's 63 validations).
        self.args_memo: dict[tuple[Any, ...], Any] = {}
        #: Varargs calls packed into one list argument, by statement (see packed_varargs).
        self.packed_calls: dict[int, tuple[ast.Call, ast.Call]] = {}
        #: Per block: its parameters used only as drop_path= (see drop_path_params).
        self.drop_only: dict[str, dict[str, str]] = {}

    def callee(self, name: str, env: Env) -> Layer | BlockRef | None:
        """What a call's name means: a block variable, a block, or a layer."""
        found, value = env.lookup(name)
        if found and isinstance(value, BlockRef):
            return value
        if name in self.ctx.program.blocks:
            return BlockRef(name)
        return get_layer(name)

    def call(self, item: Item, scope: Scope, current: Val) -> Val:
        """Build the call ``item`` on ``current``; returns its output value."""
        stmt: ast.Call = item.stmt
        try:
            target = self.callee(stmt.name, item.env)
        except EvalError as err:
            self.ctx.report(scope, err)
            return POISON
        if target is None:
            self.ctx.error(
                scope,
                "unknown-layer",
                f"unknown layer or block '{stmt.name}'",
                stmt.name_span,
                self.unknown_hint(stmt.name),
            )
            return POISON
        if isinstance(target, BlockRef):
            return self.instantiate(target, item, scope, current)
        if target.resize_op and any(a.name == "size" for a in stmt.args):
            return self.el.parallels.resize(item, target, scope, current)
        if target.varargs is not None:
            stmt = self.packed(target, stmt)
        values = self.layer_args(target, stmt, item.env, scope)
        if values is None:
            return POISON
        return self.layer_node(target.name, values, scope, item.name, current, stmt.span, stmt)

    def unknown_hint(self, name: str) -> str:
        """What to call instead of an unknown name: a close match, another framework's name, or the list."""
        candidates = set(layer_names()) | set(self.ctx.program.blocks)
        other = OTHER_NAMES.get(name.lower())
        if other is not None and other in candidates and other != name:
            return f"did you mean '{other}'? ('{name}' is its name elsewhere)"
        return did_you_mean(name, candidates) or LIST_LAYERS_HINT

    # ------------------------------------------------------------ layers

    def packed(self, layer: Layer, stmt: ast.Call) -> ast.Call:
        """The call with its varargs packed, built once per statement (blocks repeat)."""
        found = self.packed_calls.get(id(stmt))
        if found is None or found[0] is not stmt:
            found = (stmt, packed_varargs(layer, stmt))
            self.packed_calls[id(stmt)] = found
        return found[1]

    def layer_args(
        self, layer: Layer, stmt: ast.Call, env: Env, scope: Scope
    ) -> dict[str, Value] | None:
        """Match and evaluate a layer call's arguments (validated later, by the layer)."""
        fields = list(layer.Args.model_fields)
        matched, ok = self.el.binder.match_args(
            stmt.args,
            fields,
            scope,
            too_many=lambda given: (
                f"{layer.name} takes no arguments"
                if not fields
                else f"{layer.name} takes at most {len(fields)} argument"
                f"{'s' if len(fields) != 1 else ''} ({', '.join(fields)})"
            ),
            unknown=lambda name: (
                f"{layer.name} has no argument '{name}'",
                f"its arguments are: {', '.join(fields) or 'none'}",
            ),
        )
        values: dict[str, Value] = {}
        for name, arg in matched:
            if name == layer.param_arg:
                found = params.lookup(self.ctx, scope, arg.value, f"{layer.name}'s param")
                if found is None:
                    ok = False
                else:
                    values[name], values["param_shape"] = found[0], found[1].shape
                continue
            try:
                value = evaluate(arg.value, env, scope)
            except EvalError as err:
                self.ctx.report(scope, err)
                ok = False
                continue
            except Poisoned:
                return None
            problem = _literal_problem(value)
            if problem:
                self.ctx.error(
                    scope,
                    "argument-type",
                    f"argument '{name}' of {layer.name}: {problem}",
                    arg.value.span,
                )
                ok = False
                continue
            values[name] = _to_python(value)
        return values if ok else None

    def layer_node(
        self,
        op: str,
        values: dict[str, Value],
        scope: Scope,
        name: str,
        current: Val,
        span: Span,
        stmt: ast.Call | None = None,
    ) -> Val:
        """Validate a layer's arguments, infer its shape, and add its node."""
        layer = get_layer(op)
        assert layer is not None, op
        if layer.integer_input and current.node not in (None, "input"):
            self.ctx.error(
                scope,
                "integer-input",
                f"{layer.name} takes integer indices, but its input is the float output "
                f"of {self.graph.nodes[current.node]['op']} at line "
                f"{self.graph.nodes[current.node]['span'].line}",
                span,
                INDEX_HINT,
            )
            return POISON
        key = None
        frozen = (op, freeze(values))
        if current.shape is not None and current.node is not None:
            key = (frozen, tuple(map(expr_of, current.shape)))
            hit = self.layer_memo.get(key)
            if hit is not None:
                # Its constraints were recorded the first time (they do not name nodes).
                return self.add_layer(layer, hit[0], hit[1], scope, name, current, span, False)
        args = self.args_memo.get(frozen)
        if args is None:
            args = self.validate_args(layer, values, scope, span, stmt)
            if args is None:
                return POISON
            self.args_memo[frozen] = args
        if current.shape is None or current.node is None:
            return POISON
        try:
            shape = layer.infer(args, current.shape)
            _check_sizes(shape)
        except ShapeError as err:
            expr = _arg_expr(stmt, layer, err.arg) if err.arg else None
            where = expr.span if expr is not None else span
            self.ctx.error(
                scope,
                "shape",
                f"{layer.name} cannot take an input of shape {format_shape(current.shape)}: "
                f"{err.message}",
                where,
                err.hint,
            )
            return POISON
        if key is not None:
            self.layer_memo[key] = (args, shape)
        return self.add_layer(layer, args, shape, scope, name, current, span)

    def validate_args(
        self,
        layer: Layer,
        values: dict[str, Value],
        scope: Scope,
        span: Span,
        stmt: ast.Call | None,
    ) -> Any:
        """A layer's arguments validated by its ``Args`` model; None after reporting why not."""
        try:
            return layer.Args.model_validate(values)
        except ValidationError as err:
            for e in err.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                expr = _arg_expr(stmt, layer, field)
                where = expr.span if expr is not None else span
                if e["type"] == "float_not_int":
                    code, hint = "argument-type", int_hint(e["input"], _element(expr, e["loc"]))
                else:
                    code, hint = "argument", _argument_hint(layer, e)
                message = _pydantic_message(layer.name, field, e, values)
                self.ctx.error(scope, code, message, where, hint)
            return None

    def add_layer(
        self,
        layer: Layer,
        args: Any,
        shape: Shape,
        scope: Scope,
        name: str,
        current: Val,
        span: Span,
        record: bool = True,
    ) -> Val:
        """Add a layer's node and its input edge; ``record`` its size constraints."""
        assert current.node is not None and current.shape is not None
        graph = self.graph
        node = graph.fresh_id(f"{scope.prefix}{name}")
        graph.add_node(
            node,
            scope,
            op=layer.name,
            args=args,
            scope=f"{scope.prefix}{name}",
            name=name,
            role=scope.role,
            span=span,
            shape=shape,
        )
        if scope.skip_edge is not None:
            graph.add_edge(current.node, node, "skip", 0, **scope.skip_edge)
        else:
            graph.add_edge(current.node, node, "main", 0)
        if not record:
            return Val(node, shape)
        for d in shape:
            if isinstance(d, SymDim):
                graph.constrain("ge", d, 1, node, f"the output of {node}")
        for i in layer.param_dims(args, current.shape):
            d = current.shape[i]
            if isinstance(d, SymDim):
                graph.constrain("eq", d, int(d), node, f"the parameters of {node}")
        return Val(node, shape)

    # ------------------------------------------------------------ blocks

    def instantiate(self, ref: BlockRef, item: Item, scope: Scope, current: Val) -> Val:
        """A block instance: its arguments bound, its body built in a scope of its own."""
        stmt: ast.Call = item.stmt
        bdef = self.ctx.program.blocks[ref.name]
        if not self.check_nesting(ref, stmt, scope):
            return POISON
        bound = self.el.binder.bind_args(
            bdef.params, stmt.args, item.env, scope, f"block '{ref.name}'", stmt.span
        )
        if bound is None:
            return POISON
        path = f"{scope.prefix}{item.name}"
        stamper = self.el.stamper
        key = instance = None
        if current.node is not None and current.shape is not None:
            instance = instance_key(ref.name, bound, current.shape, scope.role)
            variable = self.drop_path_params(ref.name, bdef.body)
            variant = _variant(bound, variable, instance)
            # Instances that differ only in drop_path= probabilities share a template.
            shared = {k: None if k in variable and variant else v for k, v in bound.items()}
            key = stamper.key(ref.name, shared, current, scope)
            template = stamper.find(key)
            if template is not None:
                return stamper.stamp(template, path, stmt.span, current, variant)
        info = self.graph.add_scope(
            ScopeInfo(
                path,
                "block",
                stmt.span,
                block=ref.name,
                args=bound,
                input=current.node,
                instance=instance,
            )
        )
        # Counted with duplicates: an instance whose mistake was already reported
        # by an earlier one must not become a template either.
        mark = stamper.mark(self.ctx.collector.reported)
        child = Scope(
            path,
            current,
            Env(bound),
            scope.program,
            role=scope.role,
            depth=scope.depth + 1,
            stack=(*scope.stack, ref.name),
            context=f"in block '{ref.name}' instantiated as '{path}' at {stmt.span}",
            skip_edge=scope.skip_edge,
            outer=scope,
            closed=True,
        )
        out = self.el.statements.body(bdef.body, child)
        info.output = out.node
        if key is not None:
            errors = self.ctx.collector.reported
            stamper.remember(key, mark, errors, path, current.node, out)  # type: ignore[arg-type]
        return out

    def drop_path_params(self, block: str, body: tuple[ast.Stmt, ...]) -> dict[str, str]:
        """:func:`resdsl.semantics.stamping.drop_path_params` of a block, worked out once."""
        found = self.drop_only.get(block)
        if found is None:
            found = self.drop_only[block] = drop_path_params(body)
        return found

    def check_nesting(self, ref: BlockRef, stmt: ast.Call, scope: Scope) -> bool:
        """A block may not contain itself, and blocks nest at most ``max_depth`` deep."""
        if ref.name in scope.stack:
            chain = " -> ".join((*scope.stack[scope.stack.index(ref.name) :], ref.name))
            self.ctx.error(
                scope,
                "recursion",
                f"block '{ref.name}' calls itself: {chain}",
                stmt.name_span,
                hint="a block cannot contain itself, directly or through other blocks",
            )
            return False
        max_depth = self.ctx.limits.max_depth
        if scope.depth + 1 > max_depth:
            raise Abort(
                Diagnostic(
                    "too-deep",
                    f"blocks are nested more than {max_depth} deep here",
                    stmt.name_span,
                    hint="raise the limit with Limits(max_depth=...)",
                )
            )
        return True


def _variant(bound: dict[str, Value], variable: dict[str, str], instance: str) -> Variant | None:
    """The instance's drop_path= probabilities, if every one is valid (else it elaborates
    in full, which reports the bad one)."""
    if not variable:
        return None
    drop_paths: dict[str, float] = {}
    for name, node in variable.items():
        value = bound.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            return None
        drop_paths[node] = float(value)
    return Variant(dict(bound), instance, drop_paths)


def packed_varargs(layer: Layer, stmt: ast.Call) -> ast.Call:
    """``permute(1, 2, 0)`` as ``permute([1, 2, 0])``: a varargs layer's positional arguments
    become one list (a single list argument is already one)."""
    positional = [a for a in stmt.args if a.name is None]
    if layer.varargs is None or not positional:
        return stmt
    if len(positional) == 1 and isinstance(positional[0].value, ast.ListExpr):
        return stmt
    first, last = positional[0].span, positional[-1].span
    span = first.source.span(first.start, last.end)
    packed = ast.Arg(None, ast.ListExpr(tuple(a.value for a in positional), span), span)
    keywords = tuple(a for a in stmt.args if a.name is not None)
    return replace(stmt, args=(packed, *keywords))


def _literal_problem(value: Value) -> str | None:
    if isinstance(value, SymDim):
        return (
            f"the symbolic size {dims.describe(value)} is used where a number is needed "
            "(give the input a fixed size)"
        )
    if isinstance(value, BlockRef):
        return f"a block ('{value.name}') is not a layer argument"
    if isinstance(value, list):
        for v in value:
            problem = _literal_problem(v)
            if problem:
                return problem
    return None


def _to_python(value: Value) -> Value:
    """Spec values to the Python values pydantic validates: lists become tuples."""
    if isinstance(value, list):
        return tuple(_to_python(v) for v in value)
    return value


def _arg_expr(stmt: ast.Call | None, layer: Layer, name: str | None) -> ast.Expr | None:
    """The expression a call gives for the layer argument ``name``, if it gives one."""
    if stmt is None or not name:
        return None
    fields = list(layer.Args.model_fields)
    for i, arg in enumerate(stmt.args):
        arg_name = arg.name if arg.name is not None else (fields[i] if i < len(fields) else None)
        if arg_name == name:
            return arg.value
    return None


def _element(expr: ast.Expr | None, loc: tuple[Any, ...]) -> ast.Expr | None:
    """The expression of the list element an error's location points at, if written as a list."""
    index = loc[-1] if len(loc) > 1 else None
    if isinstance(index, int) and isinstance(expr, ast.ListExpr) and index < len(expr.items):
        return expr.items[index]
    return expr if len(loc) == 1 else None


def _pydantic_message(layer: str, field: str, e: Any, values: dict[str, Value]) -> str:
    kind = e["type"]
    if kind == "missing":
        return f"{layer} needs argument '{field}'"
    given = values.get(field, e.get("input"))
    got = show(list(given) if isinstance(given, tuple) else given)
    if kind == "float_not_int":
        if len(e["loc"]) > 1:
            return (
                f"argument '{field}' of {layer} must be an int or a list of ints, "
                f"got float {show(e['input'])} in {got}"
            )
        return f"argument '{field}' of {layer} must be an int, got float {got}"
    if kind == "literal_error":
        expected = e.get("ctx", {}).get("expected", "")
        return f"argument '{field}' of {layer} must be one of {expected}, got {got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"argument '{field}' of {layer}: {e['msg'].lower()}, got {got}"
    return f"argument '{field}' of {layer}: {e['msg'].lower()} (got {got})"


def _check_sizes(shape: Shape) -> None:
    """Refuse an output size beyond 64 bits: PyTorch could not hold it."""
    for axis, size in enumerate(shape):
        if size > dims.MAX_SIZE:
            raise ShapeError(f"its output size {size} in dimension {axis} is beyond 64 bits")


#: Where an index-taking layer (``embedding``) may stand; docs/language.md section 7.
INDEX_HINT = (
    "every layer outputs floats: only the model's input can hold token indices, "
    "so an embedding must read the model's input"
)


def check_index_input(graph: nx.DiGraph, ctx: ElabContext) -> None:
    """An input read by an index-taking layer is integer indices: nothing else may read it.

    Indices are integers (``torch.long``); a ``linear`` or a merge that reads
    them too would fail in PyTorch, so ``check`` refuses it where it stands.
    """
    if "input" not in graph:
        return
    readers = list(graph.successors("input"))
    takes = [n for n in readers if _takes_indices(graph.nodes[n])]
    if not takes:
        return
    first = graph.nodes[takes[0]]
    for node in readers:
        data = graph.nodes[node]
        if _takes_indices(data):
            continue
        ctx.error(
            None,
            "integer-input",
            f"the model's input is integer indices (it feeds {first['op']} '{takes[0]}'), "
            f"so {data['op']} '{node}' cannot read it",
            data.get("span"),
            "read the embedding's output instead, or give the model a float input",
        )


def _takes_indices(data: dict[str, Any]) -> bool:
    op = node_op(data)
    return isinstance(op, Layer) and op.integer_input


#: The hint for an unknown layer with no close match (the command lists every layer).
LIST_LAYERS_HINT = "run `resdsl layers` to list every layer"

#: Names other frameworks give resdsl's layers (PyTorch classes, Keras, papers), lower case.
OTHER_NAMES: dict[str, str] = {
    "swish": "silu",
    "conv2d": "conv",
    "conv1d": "conv",
    "conv3d": "conv",
    "convolution": "conv",
    "convtranspose2d": "conv_transpose",
    "conv2dtranspose": "conv_transpose",
    "deconv": "conv_transpose",
    "batchnorm2d": "batchnorm",
    "batchnorm1d": "batchnorm",
    "batch_norm": "batchnorm",
    "batchnormalization": "batchnorm",
    "bn": "batchnorm",
    "layer_norm": "layernorm",
    "layernormalization": "layernorm",
    "ln": "layernorm",
    "group_norm": "groupnorm",
    "instancenorm2d": "instancenorm",
    "dense": "linear",
    "fc": "linear",
    "fully_connected": "linear",
    "maxpool2d": "maxpool",
    "maxpooling2d": "maxpool",
    "avgpool2d": "avgpool",
    "averagepooling2d": "avgpool",
    "adaptiveavgpool2d": "adaptive_avgpool",
    "globalaveragepooling2d": "adaptive_avgpool",
    "global_avgpool": "adaptive_avgpool",
    "adaptivemaxpool2d": "adaptive_maxpool",
    "leakyrelu": "leaky_relu",
    "lrelu": "leaky_relu",
    "hard_swish": "hardswish",
    "hswish": "hardswish",
    "hard_sigmoid": "hardsigmoid",
    "multiheadattention": "attention",
    "mha": "attention",
    "self_attention": "attention",
    "upsampling2d": "upsample",
    "interpolate": "upsample",
    "resize": "upsample",
    "softmax2d": "softmax",
    "embed": "embedding",
}


def _argument_hint(layer: Layer, e: Any) -> str | None:
    """The layer's call form for a missing argument; the nearest choice for a bad one."""
    if e["type"] == "missing":
        return f"usage: {signature(layer)}"
    if e["type"] == "literal_error" and isinstance(e.get("input"), str):
        choices = re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", "")))
        return did_you_mean(e["input"], choices)
    return None
