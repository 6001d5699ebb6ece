"""Merges: the skips into a value inserted as ``add``/``concat``/``mul`` nodes, shape-checked.

The merge of a skip is inserted right after its destination; the skips into
one destination are merged in written order, consecutive skips of the same
kind in one node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from resdsl.ir.dims import Shape
from resdsl.ir.graph import MergeArgs, NoArgs
from resdsl.ops.base import format_shape
from resdsl.semantics.context import POISON, ElabContext, Item, Poisoned, Scope, Val
from resdsl.semantics.skips import Skip

if TYPE_CHECKING:
    from resdsl.semantics.elaborate import Elaborator

#: The inputs of a merge: each value, its edge kind, and the skip it comes from.
Ordered = list[tuple[Val, str, Skip | None]]


class Merger:
    """Inserts the merge nodes of skips and checks the shapes they merge."""

    def __init__(self, el: Elaborator) -> None:
        self.el = el
        self.ctx: ElabContext = el.ctx
        self.graph = el.ctx.graph

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
        """One merge node for a group of skips of the same kind into ``dst``."""
        kind = group[0].merge
        base = self.graph.fresh_id(f"{scope.prefix}{item.name}:{kind}")
        assert dst.node is not None and dst.shape is not None
        if kind == "add":
            return self.merge_add(group, srcs, item, scope, dst, base)
        if kind == "concat":
            ordered: Ordered = [(v, "skip", s) for v, s in zip(srcs, group, strict=True)]
            ordered.append((dst, "main", None))
            align = next((s.align for s in group if s.align), None)
            if align is not None:
                ordered = self.el.shortcuts.align(ordered, align, base, group, scope)
            out_shape = self.check_concat(ordered, group, scope, base, align)
            if out_shape is None:
                return POISON
            return self.add_merge(base, base, "concat", NoArgs(), ordered, out_shape, group, scope)
        ordered = [(dst, "main", None)] + [(v, "skip", s) for v, s in zip(srcs, group, strict=True)]
        out_shape = self.check_mul(ordered, group, scope, base)
        if out_shape is None:
            return POISON
        return self.add_merge(base, base, "mul", NoArgs(), ordered, out_shape, group, scope)

    def merge_add(
        self, group: list[Skip], srcs: list[Val], item: Item, scope: Scope, dst: Val, base: str
    ) -> Val:
        """An ``add``: each skip through its shortcut, with at most one scale or gate."""
        shortcut = self.el.shortcuts.shortcut
        inputs = [shortcut(s, v, dst, scope) for s, v in zip(group, srcs, strict=True)]
        if any(v is None for v in inputs):
            return POISON
        gated = [s for s in group if s.scale is not None or s.gate is not None]
        if len(gated) > 1:
            self.ctx.error(
                scope,
                "skip-option",
                f"only one skip into '{item.name}' may set scale= or gate=",
                gated[1].stmt.span,
            )
            return POISON
        g = gated[0] if gated else None
        args = MergeArgs.model_validate(
            {"scale": g.scale if g else None, "gate": g.gate if g else None}
        )
        owner = f"{scope.prefix}{g.label}" if g is not None and g.gate else base
        ordered: Ordered = [(dst, "main", None)]
        ordered += [(v, "skip", s) for v, s in zip(inputs, group, strict=True) if v]
        out_shape = self.check_add(ordered, group, scope, base)
        if out_shape is None:
            return POISON
        return self.add_merge(base, owner, "add", args, ordered, out_shape, group, scope)

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
            extra = {} if skip is None else {"merge": op, "skip": f"{scope.prefix}{skip.label}"}
            graph.add_edge(val.node, node, kind, index, **extra)
        return Val(node, shape)

    # ------------------------------------------------------------ shape checks

    def check_add(
        self, ordered: Ordered, group: list[Skip], scope: Scope, node: str
    ) -> Shape | None:
        """The shape of an ``add``: every input must have the destination's shape."""
        shapes = [v.shape for v, _, _ in ordered]
        assert all(s is not None for s in shapes)
        first = shapes[0]
        assert first is not None
        for (_, _, skip), shape in zip(ordered[1:], shapes[1:], strict=True):
            assert shape is not None and skip is not None
            if tuple(map(int, shape)) != tuple(map(int, first)):
                self.ctx.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': " + mismatch("add", [shape, first]),
                    skip.stmt.span,
                    hint=self.add_hint(skip, shape, first),
                )
                return None
            for a, b in zip(shape, first, strict=True):
                self.graph.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (add)")
        return first

    def add_hint(self, skip: Skip, src: Shape, dst: Shape) -> str:
        if skip.shortcut == "identity":
            if len(src) == len(dst) and int(src[0]) <= int(dst[0]):
                return (
                    "use shortcut=auto to insert a projection, or shortcut=zeropad "
                    "for a parameter-free one"
                )
            return "use shortcut=auto to insert a projection"
        return self.valid_hint() or "the shortcut cannot make these shapes match"

    def check_concat(
        self,
        ordered: Ordered,
        group: list[Skip],
        scope: Scope,
        node: str,
        align: str | None,
    ) -> Shape | None:
        """The shape of a ``concat`` along channels: the other dimensions must match."""
        constrain = self.graph.constrain
        shapes = [v.shape for v, _, _ in ordered]
        dst = shapes[-1]
        assert dst is not None
        for (_, _, skip), shape in zip(ordered[:-1], shapes[:-1], strict=True):
            assert shape is not None and skip is not None
            if len(shape) != len(dst) or len(dst) < 1:
                self.ctx.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': "
                    + mismatch("concatenate", [shape, dst])
                    + ": ranks differ",
                    skip.stmt.span,
                )
                return None
            if tuple(map(int, shape[1:])) != tuple(map(int, dst[1:])):
                for a, b in zip(shape[1:], dst[1:], strict=True):
                    constrain("eq", a, b, node, f"the skip into '{skip.dst}' (concat)")
                self.ctx.error(
                    scope,
                    "merge-shape",
                    f"skip '{skip.src}' -> '{skip.dst}': "
                    + mismatch("concatenate", [shape, dst])
                    + " along channels: the other dimensions differ",
                    skip.stmt.span,
                    hint="use align=crop or align=pad to make them match"
                    + (
                        f", or change the input size: {hint}" if (hint := self.valid_hint()) else ""
                    ),
                )
                return None
            for a, b in zip(shape[1:], dst[1:], strict=True):
                constrain("eq", a, b, node, f"the skip into '{skip.dst}' (concat)")
        channels = sum(int(s[0]) for s in shapes if s is not None)
        return (channels, *dst[1:])

    def check_mul(
        self, ordered: Ordered, group: list[Skip], scope: Scope, node: str
    ) -> Shape | None:
        """The shape of a ``mul``: the inputs broadcast like PyTorch."""
        out: list[int] = list(ordered[0][0].shape or ())
        for val, _, skip in ordered[1:]:
            shape = val.shape
            assert shape is not None and skip is not None
            if len(shape) > len(out):
                out = [1] * (len(shape) - len(out)) + out
            padded = [1] * (len(out) - len(shape)) + list(shape)
            for i, (a, b) in enumerate(zip(out, padded, strict=True)):
                if int(a) == int(b):
                    self.graph.constrain("eq", a, b, node, f"the skip into '{skip.dst}' (mul)")
                elif int(a) == 1:
                    out[i] = b
                elif int(b) != 1:
                    self.ctx.error(
                        scope,
                        "merge-shape",
                        f"skip '{skip.src}' -> '{skip.dst}': "
                        + mismatch("multiply", [shape, tuple(ordered[0][0].shape or ())])
                        + ": the shapes do not broadcast",
                        skip.stmt.span,
                        hint="mul broadcasts like PyTorch: each dimension must be equal or 1",
                    )
                    return None
        return tuple(out)

    def valid_hint(self) -> str | None:
        """The valid input sizes implied by the constraints so far, as a sentence."""
        from resdsl.passes.valid_sizes import describe_rules, valid_sizes

        graph = self.graph.graph
        symbols = graph.graph["symbols"]
        if not symbols:
            return None
        rules = valid_sizes(graph.graph["constraints"], symbols)
        limited = {k: r for k, r in rules.items() if not r.everything}
        return describe_rules(limited) if limited else None


def mismatch(what: str, shapes: list[Shape]) -> str:
    """``cannot add [64, 8, 8] and [128, 4, 4]``."""
    return f"cannot {what} " + " and ".join(format_shape(s) for s in shapes)
