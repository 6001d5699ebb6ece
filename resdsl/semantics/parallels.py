"""Branches and explicit inputs: ``parallel`` statements and ``from`` references.

A ``parallel (MERGE, split=N) { ARM ... }`` runs every arm on its input (with
``split=N``, arm ``i`` on the ``i``-th of ``N`` equal channel chunks, each a
``split`` node) and merges the arms' outputs in arm order with a merge of the
op registry. Unlabelled, its arms are statements of the enclosing scope and are
named there; labelled, it is a scope of its own whose arms are named inside it.

``STATEMENT from REF`` makes a statement read ``REF``: ``in``, a label built
earlier in the scope, or a labelled value inside a labelled child
(``backbone.layer3``), found among the labelled values the graph records.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, ShapeError, format_shape
from resdsl.ops.merge import Merge, MergeError, MergeInput
from resdsl.ops.registry import get_op
from resdsl.ops.resize import Resize
from resdsl.semantics.context import POISON, Item, Poisoned, Scope, Val
from resdsl.semantics.expr import Env, EvalError, Value, evaluate, show
from resdsl.semantics.references import References
from resdsl.semantics.skips import Skip
from resdsl.source import Span
from resdsl.syntax import ast

PARALLEL_OPTIONS = ("split",)


class Parallels(References):
    """Builds ``parallel`` statements and resolves ``from`` references."""

    # ------------------------------------------------------------ size=shape(REF)

    def resize(self, item: Item, layer: Layer, scope: Scope, current: Val) -> Val:
        """``upsample(size=shape(REF), ...)``: a resize node reading ``current`` and REF's size."""
        stmt: ast.Call = item.stmt
        assert layer.resize_op is not None
        op = get_op(layer.resize_op, "resize")
        assert op is not None
        size = next(a for a in stmt.args if a.name == "size")
        ref = _shape_ref(size.value)
        if ref is None:
            self.ctx.error(
                scope,
                "argument",
                f"size= of {layer.name} takes shape(REF), the spatial size of another value",
                size.value.span,
                hint="for example size=shape(in); for a fixed factor use scale_factor=",
            )
            return POISON
        args = self.resize_args(op, layer, stmt, size, item.env, scope)
        target = self.resolve_ref(ref, item.env, scope)
        if args is None or None in (target.node, target.shape, current.node, current.shape):
            return POISON
        assert target.shape is not None and current.shape is not None
        try:
            shape = op.infer(args, current.shape, target.shape)
        except ShapeError as err:
            self.ctx.error(
                scope,
                "shape",
                f"{layer.name} cannot take an input of shape {format_shape(current.shape)}: "
                f"{err.message}",
                size.value.span,
                err.hint,
            )
            return POISON
        node = self.graph.fresh_id(f"{scope.prefix}{item.name}")
        self.add(node, op.name, args, "resize", shape, stmt.span, scope)
        assert current.node is not None and target.node is not None
        self.edge(current.node, node, 0, scope)
        if target.node != current.node:
            self.graph.add_edge(target.node, node, "size", 1)
        return Val(node, shape)

    def resize_args(
        self, op: Resize, layer: Layer, stmt: ast.Call, size: ast.Arg, env: Env, scope: Scope
    ) -> BaseModel | None:
        """The resize's options (``mode=``, ``align_corners=``), validated by ``op``."""
        fields = list(op.Args.model_fields)
        values: dict[str, Value] = {}
        for arg in stmt.args:
            if arg is size:
                continue
            if arg.name is None or arg.name not in fields:
                self.ctx.error(
                    scope,
                    "argument",
                    f"with size=, {layer.name} takes only " + " and ".join(f"{f}=" for f in fields),
                    arg.span,
                    hint="size= and scale_factor= are two ways to give the output size: choose one",
                )
                return None
            try:
                values[arg.name] = evaluate(arg.value, env, scope)
            except EvalError as err:
                self.ctx.report(scope, err)
                return None
        try:
            args: BaseModel = op.Args.model_validate(values)
        except ValidationError as err:
            first = err.errors()[0]
            self.ctx.error(
                scope,
                "argument",
                f"{layer.name}: {first['msg'].lower()}",
                stmt.span,
            )
            return None
        return args

    # ------------------------------------------------------------ parallel

    def parallel(
        self,
        item: Item,
        scope: Scope,
        current: Val,
        pending: dict[str, list[Skip]],
        by_name: dict[str, Item],
    ) -> Val:
        """Build a parallel on ``current``: its arms, their split and their merge."""
        stmt: ast.Parallel = item.stmt
        op = self.ctx.merge_op(stmt.merge, stmt.merge_span, scope) if stmt.merge else None
        if op is None:
            return POISON
        split = self.split_option(stmt, item.env, scope)
        if split is False:
            return POISON
        if item.arms is not None:
            return self.run_arms(item, op, split, item.arms, scope, current, pending, by_name)
        statements = self.el.statements
        info, child = statements.child_scope(item, scope, current)
        arms = statements.expand_arms(stmt, child.env, child, [0])
        inner, inner_pending = statements.name_and_skips([i for arm in arms for i in arm], child)
        out = self.run_arms(item, op, split, arms, child, current, inner_pending, inner)
        info.output = out.node
        return out

    def split_option(self, stmt: ast.Parallel, env: Env, scope: Scope) -> int | bool | None:
        """The ``split=`` count (None without one); False if an option is wrong (reported)."""
        split: int | None = None
        for opt in stmt.options:
            if opt.name not in PARALLEL_OPTIONS:
                self.ctx.error(
                    scope,
                    "parallel-option",
                    f"unknown parallel option '{opt.name}'",
                    opt.span,
                    "a parallel takes one option: split=N (arm i reads the i-th of N equal "
                    "channel chunks)",
                )
                return False
            try:
                value = evaluate(opt.value, env, scope)
            except EvalError as err:
                self.ctx.report(scope, err)
                return False
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.ctx.error(
                    scope,
                    "parallel-option",
                    f"split= takes a positive int, got {show(value)}",
                    opt.value.span,
                )
                return False
            split = value
        return split

    def run_arms(
        self,
        item: Item,
        op: Merge,
        split: int | None,
        arms: list[list[Item]],
        scope: Scope,
        current: Val,
        pending: dict[str, list[Skip]],
        by_name: dict[str, Item],
    ) -> Val:
        """Each arm on its input (split or not), then the merge of their outputs."""
        stmt: ast.Parallel = item.stmt
        if not arms:
            self.ctx.error(scope, "bad-parallel", "a parallel needs at least one arm", stmt.span)
            return POISON
        if split is not None and split != len(arms):
            opt = next(o for o in stmt.options if o.name == "split")
            self.ctx.error(
                scope,
                "split-arms",
                f"split={split} makes {split} parts, but the parallel has {len(arms)} arm"
                f"{'s' if len(arms) != 1 else ''}",
                opt.span,
                hint="write one arm per part; an empty arm {} passes its part through",
            )
            return POISON
        if current.node is None or current.shape is None:
            return POISON
        inputs = (
            [current] * len(arms) if split is None else self.chunks(split, stmt, scope, current)
        )
        if not inputs:
            return POISON
        outs: list[Val] = []
        for arm_items, value in zip(arms, inputs, strict=True):
            for arm_item in arm_items:
                if arm_item.kind != "skip":
                    value = self.el.statements.run_item(arm_item, scope, value, pending, by_name)
            outs.append(value)
        if any(v.node is None or v.shape is None for v in outs):
            return POISON
        return self.merge(op, stmt, outs, scope)

    def chunks(self, split: int, stmt: ast.Parallel, scope: Scope, current: Val) -> list[Val]:
        """One ``chunk`` node per arm: its share of the input's channels."""
        chunk = get_op("chunk", "split")
        assert chunk is not None and current.node is not None and current.shape is not None
        out: list[Val] = []
        for index in range(split):
            args = chunk.Args(chunks=split, index=index)
            try:
                shape = chunk.infer(args, current.shape)
            except ShapeError as err:
                opt = next(o for o in stmt.options if o.name == "split")
                self.ctx.error(scope, "shape", f"split={split}: {err.message}", opt.span, err.hint)
                return []
            node = self.graph.fresh_id(f"{scope.prefix}parallel:chunk{index}")
            self.add(node, chunk.name, args, "split", shape, stmt.span, scope)
            self.edge(current.node, node, 0, scope)
            out.append(Val(node, shape))
        return out

    def merge(self, op: Merge, stmt: ast.Parallel, outs: Sequence[Val], scope: Scope) -> Val:
        """The merge node of the arms' outputs, in arm order, shape-checked by ``op``."""
        node = self.graph.fresh_id(f"{scope.prefix}parallel:{op.name}")
        if len({v.node for v in outs}) < len(outs):
            self.ctx.error(
                scope,
                "bad-parallel",
                "two arms of this parallel give the same value (an empty arm passes the "
                "input through; only one arm may)",
                stmt.span,
            )
            return POISON
        inputs = [MergeInput(v.shape, False) for v in outs if v.shape is not None]
        try:
            shape = op.infer(op.Args(), inputs, _ArmConstraints(self, op, node))
        except MergeError as err:
            self.ctx.error(
                scope,
                "merge-shape",
                f"parallel ({op.name}): arm {err.index + 1}: {err.message}",
                _arm_span(stmt, err.index),
                f"every arm's output goes into {op.name}: the arms must give shapes it can {op.verb}",
            )
            return POISON
        except Poisoned:
            return POISON
        self.add(node, op.name, op.Args(), "merge", shape, stmt.span, scope)
        for index, value in enumerate(outs):
            assert value.node is not None
            self.edge(value.node, node, index, scope)
        return Val(node, shape)

    def add(
        self, node: str, op: str, args: object, role: str, shape: Shape, span: Span, scope: Scope
    ) -> None:
        self.graph.add_node(
            node,
            scope,
            op=op,
            args=args,
            scope=node,
            name=node.rsplit(".", 1)[-1],
            role=role,
            span=span,
            shape=shape,
        )

    def edge(self, src: str, dst: str, index: int, scope: Scope) -> None:
        if scope.skip_edge is not None:  # inside a shortcut: part of a skip path
            self.graph.add_edge(src, dst, "skip", index, **scope.skip_edge)
        else:
            self.graph.add_edge(src, dst, "main", index)


class _ArmConstraints:
    """What a merge's shape rule may ask, for the arms of a parallel."""

    def __init__(self, part: Parallels, op: Merge, node: str) -> None:
        self.part = part
        self.op = op
        self.node = node

    def equal(self, index: int, a: int, b: int) -> None:
        what = f"arm {index + 1} of the parallel ({self.op.name})"
        self.part.graph.constrain("eq", a, b, self.node, what)

    def valid_sizes(self) -> str | None:
        return self.part.el.merges.valid_hint()


def _shape_ref(expr: ast.Expr) -> ast.Ref | None:
    """``shape(in)`` / ``shape(NAME)`` as a reference to its value; None for anything else."""
    if not (isinstance(expr, ast.FuncCall) and expr.func == "shape" and len(expr.args) == 1):
        return None
    arg = expr.args[0]
    if isinstance(arg, ast.InputRef):
        return ast.Ref((), arg.span)
    if isinstance(arg, ast.Name):
        return ast.Ref((ast.Label((arg.id,), arg.span),), arg.span)
    if isinstance(arg, ast.Label):
        return ast.Ref((arg,), arg.span)
    return None


def _arm_span(stmt: ast.Parallel, index: int) -> Span:
    arm = stmt.arms[index] if index < len(stmt.arms) else None
    return arm.span if arm is not None else stmt.span
