"""Merges: the skips into a value inserted as merge nodes (``add``, ...), shape-checked.

The merge of a skip is inserted right after its destination; the skips into
one destination are merged in written order, consecutive skips of the same
kind in one node. What each merge does (its options, input order and shape
rule with its diagnostics) is its definition in the op registry
(:mod:`resdsl.ops.merge`).
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx
from pydantic import BaseModel

from resdsl.diagnostics import Diagnostic
from resdsl.ir.dims import Shape, SymDim
from resdsl.ops.base import format_shape
from resdsl.ops.merge import Merge, MergeError, MergeInput
from resdsl.ops.params import broadcast_problem, sized_by
from resdsl.ops.registry import get_op
from resdsl.semantics.context import POISON, ElabPart, Item, Poisoned, Scope, Val
from resdsl.semantics.skips import Skip

#: The inputs of a merge: each value, its edge kind, and the skip it comes from.
Ordered = list[tuple[Val, str, Skip | None]]


class Merger(ElabPart):
    """Inserts the merge nodes of skips and checks the shapes they merge."""

    def merge_all(self, skips: list[Skip], item: Item, scope: Scope, dst: Val) -> Val:
        """Insert the merges of every skip into ``dst``, grouped by kind in written order."""
        groups: list[list[Skip]] = []
        for s in skips:
            if groups and groups[-1][0].merge == s.merge:
                groups[-1].append(s)
            else:
                groups.append([s])
        current = dst
        for group in groups:
            srcs = [
                scope.input if s.src == "in" else scope.values.get(s.src, POISON) for s in group
            ]
            if current.shape is None or any(v.shape is None for v in srcs):
                return POISON
            try:
                current = self.merge(group, srcs, item, scope, current)
            except Poisoned:
                return POISON
        return current

    def merge(self, group: list[Skip], srcs: list[Val], item: Item, scope: Scope, dst: Val) -> Val:
        """One merge node for a group of skips of the same kind into ``dst``.

        The merge's definition says what its skips go through (``shortcut=``:
        the skip's shortcut; ``align=``: crop/pad nodes), its options and the
        order of its inputs, and checks their shapes.
        """
        op = get_op(group[0].merge, "merge")
        assert op is not None  # resolve_skip refused unknown merges
        base = self.graph.fresh_id(f"{scope.prefix}{item.name}:{op.name}")
        assert dst.node is not None and dst.shape is not None
        if "shortcut" in op.options:
            through = [
                self.el.shortcuts.shortcut(s, v, dst, scope)
                for s, v in zip(group, srcs, strict=True)
            ]
            if any(v is None for v in through):
                return POISON
            srcs = [v for v in through if v is not None]
        args, owner = self.merge_args(op, group, item, scope, base)
        if args is None or not self.gate_fits(group, dst, scope, base):
            return POISON
        skips: Ordered = [(v, "skip", s) for v, s in zip(srcs, group, strict=True)]
        ordered: Ordered = (
            [*skips, (dst, "main", None)] if op.skips_first else [(dst, "main", None), *skips]
        )
        align = next((s.align for s in group if s.align), None)
        if align is not None:
            ordered = self.el.shortcuts.align(ordered, align, base, group, scope)
        out_shape = self.check(op, args, ordered, scope, base)
        if out_shape is None:
            return POISON
        return self.add_merge(base, owner, op.name, args, ordered, out_shape, group, scope)

    def gate_fits(self, group: list[Skip], dst: Val, scope: Scope, node: str) -> bool:
        """A ``gate=NAME`` param broadcasts to the residual branch (and fixes the sizes it sizes)."""
        assert dst.shape is not None
        for s in group:
            if s.gate_shape is None:
                continue
            problem = broadcast_problem(s.gate_shape, dst.shape)
            if problem:
                s.report_shape(
                    self.ctx,
                    scope,
                    f"gate={s.gate_param} {format_shape(s.gate_shape)} cannot scale the branch "
                    f"{format_shape(dst.shape)}: {problem}",
                    "a gate broadcasts like a PyTorch tensor against [N, *shape]: sizes match, "
                    "or are 1, e.g. [C, 1, 1] for one number per channel",
                )
                return False
            for i in sized_by(s.gate_shape, dst.shape):
                self.graph.constrain("eq", dst.shape[i], int(dst.shape[i]), node, "a gate's size")
        return True

    def merge_args(
        self, op: Merge, group: list[Skip], item: Item, scope: Scope, base: str
    ) -> tuple[BaseModel | None, str]:
        """The merge's arguments (``scale=``/``gate=`` of at most one skip), and its module path.

        A gated merge's gate lives under the gating skip's label.
        """
        if "dim" in op.options:
            return self.dim_args(op, group, item, scope), base
        if not {"scale", "gate", "drop_path"} & set(op.options):
            return op.Args(), base
        gated = [
            s
            for s in group
            if s.scale is not None or s.gate is not None or s.gate_param or s.drop_path
        ]
        if len(gated) > 1:
            self.ctx.error(
                scope,
                "skip-option",
                f"only one skip into '{item.name}' may set scale=, gate= or drop_path=",
                gated[1].stmt.span,
            )
            return None, base
        g = gated[0] if gated else None
        options = {"scale": g.scale if g else None, "gate": g.gate if g else None}
        if g is not None and (g.gate_param or g.drop_path):
            options |= {"gate_param": g.gate_param, "drop_path": g.drop_path}
        args = op.Args.model_validate(options)
        owner = f"{scope.prefix}{g.label}" if g is not None and g.gate else base
        return args, owner

    def dim_args(self, op: Merge, group: list[Skip], item: Item, scope: Scope) -> BaseModel | None:
        """The ``dim=`` of skips merged in one node: one dimension for all of them."""
        dims = {s.dim or 0 for s in group}
        if len(dims) > 1:
            self.ctx.error(
                scope,
                "skip-option",
                f"the skips into '{item.name}' are joined in one {op.name}, "
                f"but their dim= differ ({', '.join(map(str, sorted(dims)))})",
                group[-1].stmt.span,
                hint="give them the same dim=, or merge into different values",
            )
            return None
        (dim,) = dims
        aligned = next((s for s in group if s.align), None)
        if dim != 0 and aligned is not None:
            self.ctx.error(
                scope,
                "skip-option",
                "align= works only with dim=0: it aligns the dimensions after the channels",
                aligned.stmt.span,
            )
            return None
        args: BaseModel = op.Args.model_validate({"dim": dim})
        return args

    def add_merge(
        self,
        node: str,
        module: str,
        op: str,
        args: BaseModel,
        ordered: Ordered,
        shape: Shape,
        group: list[Skip],
        scope: Scope,
    ) -> Val:
        """Add the merge node and its input edges, in input order."""
        graph = self.graph
        span = group[0].stmt.span
        graph.add_node(
            node,
            scope,
            op=op,
            args=args,
            scope=module,
            name=node.rsplit(".", 1)[-1],
            role="merge",
            span=span,
            shape=shape,
        )
        for index, (val, kind, skip) in enumerate(ordered):
            assert val.node is not None
            extra = {} if skip is None else skip_edge(skip, scope)
            graph.add_edge(val.node, node, kind, index, **extra)
        return Val(node, shape)

    # ------------------------------------------------------------ shape checks

    def check(
        self, op: Merge, args: BaseModel, ordered: Ordered, scope: Scope, node: str
    ) -> Shape | None:
        """The merge's output shape by its definition's rule, or None (reported).

        Equal dimensions become constraints on the symbolic sizes; a mismatch
        is reported on the skip it comes from.
        """
        inputs = []
        for v, _, s in ordered:
            assert v.shape is not None  # merge_all and the shortcuts stop at unknown shapes
            inputs.append(MergeInput(v.shape, s is not None, _shortcut_of(s)))
        try:
            return op.infer(args, inputs, _Constraints(self, op, ordered, node))
        except MergeError as err:
            skip = ordered[err.index][2]
            assert skip is not None
            skip.report_shape(self.ctx, scope, err.message, err.hint)
            return err.recover

    def valid_hint(self) -> str | None:
        """A stand-in for the model's valid input sizes, filled in by :func:`fill_size_hints`."""
        return VALID_SIZES if self.graph.graph.graph["symbols"] else None


#: Stands for the valid-size sentence in hints until the whole model is elaborated.
VALID_SIZES = "\x00valid sizes\x00"


def fill_size_hints(graph: nx.DiGraph, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics with :data:`VALID_SIZES` replaced by the whole model's rule.

    A merge that fails is reported at once, but the sizes it could work at
    depend on every other merge of the model (``H modulo 16 in 0..7`` for one
    skip, ``a multiple of 16`` for all four of a U-Net): the rule is computed
    once elaboration has recorded every constraint.
    """
    from resdsl.passes.valid_sizes import describe_rules, valid_sizes

    if not any(d.hint and VALID_SIZES in d.hint for d in diagnostics):
        return diagnostics
    rules = valid_sizes(graph.graph["constraints"], graph.graph["symbols"])
    limited = {k: r for k, r in rules.items() if not r.everything}
    sentence = describe_rules(limited or rules)
    return [
        replace(d, hint=d.hint.replace(VALID_SIZES, sentence))
        if d.hint and VALID_SIZES in d.hint
        else d
        for d in diagnostics
    ]


class _Constraints:
    """What a merge's shape rule may ask: record equal sizes, and the valid sizes so far."""

    def __init__(self, merger: Merger, op: Merge, ordered: Ordered, node: str) -> None:
        self.merger = merger
        self.op = op
        self.ordered = ordered
        self.node = node

    def equal(self, index: int, a: int, b: int) -> None:
        if not (isinstance(a, SymDim) or isinstance(b, SymDim)):
            return  # equal numbers were checked by the merge; only symbols are recorded
        skip = self.ordered[index][2]
        dst = skip.dst if skip is not None else "?"
        what = f"the skip into '{dst}' ({self.op.name})"
        self.merger.graph.constrain("eq", a, b, self.node, what)

    def valid_sizes(self) -> str | None:
        return self.merger.valid_hint()


def _shortcut_of(skip: Skip | None) -> str:
    """The shortcut a merge input went through, by name (``identity`` for none)."""
    if skip is None:
        return "identity"
    return skip.shortcut if isinstance(skip.shortcut, str) else skip.shortcut.name


def skip_edge(skip: Skip, scope: Scope) -> dict[str, str]:
    """The attributes of the edges on a skip's path (see :mod:`resdsl.ir.graph`)."""
    return {"merge": skip.merge, "skip": f"{scope.prefix}{skip.label}", "shortcut": skip.resolved}
