"""Shortcuts and alignment: what a skip's value goes through before its merge.

An ``add`` skip carries its source through its shortcut: the identity, a
projection (``auto`` where shapes differ, or ``projection``), zero-padding
(``zeropad``), or a user block taking ``(channels: int, stride: int)``. A
``concat`` skip with ``align=crop`` or ``align=pad`` gets crop/pad nodes so
every input has the same spatial size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resdsl.ir import dims
from resdsl.ir.dims import Shape, SymDim, expr_of
from resdsl.ir.graph import AlignArgs, ScopeInfo, ZeroPadArgs
from resdsl.ops.base import format_shape
from resdsl.semantics.context import POISON, ElabContext, Scope, Val
from resdsl.semantics.expr import BlockRef, Env, Value
from resdsl.semantics.merges import Ordered
from resdsl.semantics.skips import Skip

if TYPE_CHECKING:
    from resdsl.semantics.elaborate import Elaborator


class Shortcuts:
    """Builds the shortcuts of ``add`` skips and the alignment of ``concat`` skips."""

    def __init__(self, el: Elaborator) -> None:
        self.el = el
        self.ctx: ElabContext = el.ctx
        self.graph = el.ctx.graph

    def shortcut(self, skip: Skip, src: Val, dst: Val, scope: Scope) -> Val | None:
        """The value the skip carries into an add: its source through its shortcut."""
        assert src.shape is not None and dst.shape is not None
        kind = skip.shortcut
        same = tuple(map(int, src.shape)) == tuple(map(int, dst.shape))
        if kind == "identity" or (kind in ("auto", "zeropad") and same):
            return src  # option A, like option B, passes matching shapes through
        stride = stride_between(src.shape, dst.shape)
        if stride is None:
            self.ctx.error(
                scope,
                "merge-shape",
                f"skip '{skip.src}' -> '{skip.dst}': no {_shortcut_name(kind)} maps "
                f"{format_shape(src.shape)} to {format_shape(dst.shape)}",
                skip.stmt.span,
                hint="a shortcut can change channels and downsample by an integer stride; "
                "check the shapes of the two ends",
            )
            return None
        if kind == "zeropad":
            return self.zeropad(skip, src, int(dst.shape[0]), stride, scope)
        return self.module_shortcut(skip, src, int(dst.shape[0]), stride, scope)

    def zeropad(
        self, skip: Skip, src: Val, channels: int, stride: tuple[int, ...], scope: Scope
    ) -> Val | None:
        """A parameter-free shortcut: subsample by ``stride``, pad channels with zeros."""
        assert src.shape is not None
        path = f"{scope.prefix}{skip.label}"
        diff = channels - int(src.shape[0])
        if diff < 0:
            self.ctx.error(
                scope,
                "merge-shape",
                f"skip '{skip.src}' -> '{skip.dst}': zeropad cannot reduce "
                f"{int(src.shape[0])} channels to {channels}",
                skip.stmt.span,
                hint="use shortcut=projection",
            )
            return None
        shape = (
            channels,
            *(dims.window(n, 1, s) for n, s in zip(src.shape[1:], stride, strict=True)),
        )
        graph = self.graph
        node = graph.fresh_id(path)
        graph.add_node(
            node,
            scope,
            op="zeropad",
            args=ZeroPadArgs(stride=stride, pad_before=diff // 2, pad_after=diff - diff // 2),
            scope=path,
            name=skip.label,
            role="shortcut",
            span=skip.stmt.span,
            shape=shape,
        )
        assert src.node is not None
        graph.add_edge(src.node, node, "skip", 0, merge="add", skip=path)
        return Val(node, shape)

    def module_shortcut(
        self, skip: Skip, src: Val, channels: int, stride: tuple[int, ...], scope: Scope
    ) -> Val | None:
        """A shortcut with modules, in a scope of its own: a projection or a user block."""
        path = f"{scope.prefix}{skip.label}"
        stride_arg: int | tuple[int, ...] = stride[0] if len(set(stride)) == 1 else stride
        self.graph.add_scope(ScopeInfo(path, "shortcut", skip.stmt.span, input=src.node))
        sub = Scope(
            path,
            src,
            Env(),
            scope.program,
            role="shortcut",
            depth=scope.depth + 1,
            stack=scope.stack,
            context=scope.context,
            skip_edge={"merge": "add", "skip": path},
        )
        if isinstance(skip.shortcut, BlockRef):
            out = self.shortcut_block(skip.shortcut, skip, sub, channels, stride_arg)
        else:
            layer_node = self.el.calls.layer_node
            v = layer_node(
                "conv",
                {"out_channels": channels, "kernel_size": 1, "stride": stride_arg, "bias": False},
                sub,
                "0",
                src,
                skip.stmt.span,
            )
            out = layer_node("batchnorm", {}, sub, "1", v, skip.stmt.span)
        self.graph.scopes[path].output = out.node
        if out.shape is None:
            return None
        return out

    def shortcut_block(
        self, ref: BlockRef, skip: Skip, sub: Scope, channels: int, stride: int | tuple[int, ...]
    ) -> Val:
        """A user block as the shortcut, given ``channels`` and ``stride``."""
        bdef = self.ctx.program.blocks[ref.name]
        values: dict[str, Value] = {"channels": channels, "stride": stride}
        names = [p.name for p in bdef.params]
        if names[:2] != ["channels", "stride"]:
            self.ctx.error(
                sub,
                "shortcut-block",
                f"block '{ref.name}' cannot be a shortcut: it must take "
                "(channels: int, stride: int)",
                skip.stmt.span,
            )
            return POISON
        bound = self.el.binder.bind_values(
            bdef.params, values, sub, skip.stmt.span, callee=f"block '{ref.name}'"
        )
        if bound is None:
            return POISON
        info = self.graph.scopes[sub.path]
        info.block, info.args = ref.name, dict(bound)
        sub.env = Env(bound)
        sub.stack = (*sub.stack, ref.name)
        return self.el.statements.body(bdef.body, sub)

    def align(
        self,
        ordered: Ordered,
        align: str,
        base: str,
        group: list[Skip],
        scope: Scope,
    ) -> Ordered:
        """Insert crop/pad nodes so every input of a concat has the same spatial size."""
        shapes = [v.shape for v, _, _ in ordered]
        assert all(s is not None for s in shapes)
        rank = len(shapes[-1] or ())
        if any(len(s or ()) != rank for s in shapes):
            return ordered  # the concat check reports the rank mismatch
        target: list[int] = []
        for axis in range(1, rank):
            sizes = [s[axis] for s in shapes if s is not None]
            t = sizes[0]
            for size in sizes[1:]:
                t = dims.minimum(t, size) if align == "crop" else dims.maximum(t, size)
            target.append(t)
        out: Ordered = []
        for i, (val, kind, skip) in enumerate(ordered):
            shape = val.shape
            assert shape is not None and val.node is not None
            if all(
                expr_of(a) == expr_of(b) and int(a) == int(b)
                for a, b in zip(shape[1:], target, strict=True)
            ):
                out.append((val, kind, skip))
                continue
            node = self.align_node(
                val, kind, skip, target, f"{base}/{align}{i}", align, group, scope
            )
            out.append((Val(node, (shape[0], *target)), kind, skip))
        return out

    def align_node(
        self,
        val: Val,
        kind: str,
        skip: Skip | None,
        target: list[int],
        base: str,
        align: str,
        group: list[Skip],
        scope: Scope,
    ) -> str:
        """A crop or pad node that brings ``val`` to the spatial size ``target``."""
        assert val.shape is not None and val.node is not None
        graph = self.graph
        amounts = []
        for a, b in zip(val.shape[1:], target, strict=True):
            diff = abs(int(a) - int(b))
            amounts.append((diff // 2, diff - diff // 2))
        node = graph.fresh_id(base)
        graph.add_node(
            node,
            scope,
            op=align,
            args=AlignArgs(amounts=tuple(amounts)),
            scope=node,
            name=node.rsplit(".", 1)[-1],
            role="align",
            span=group[0].stmt.span,
            shape=(val.shape[0], *target),
        )
        extra = {} if skip is None else {"merge": "concat", "skip": f"{scope.prefix}{skip.label}"}
        graph.add_edge(val.node, node, kind, 0, **extra)
        for d in target:
            if isinstance(d, SymDim):
                graph.constrain("ge", d, 1, node, "the aligned size")
        return node


def stride_between(src: Shape, dst: Shape) -> tuple[int, ...] | None:
    """The stride S per spatial dim with floor((n - 1) / S) + 1 == m, or None.

    >>> stride_between((64, 56, 56), (128, 28, 28))
    (2, 2)
    >>> stride_between((64, 56, 56), (128, 30, 30)) is None
    True
    """
    if len(src) != len(dst):
        return None
    out: list[int] = []
    for n, m in zip(src[1:], dst[1:], strict=True):
        n, m = int(n), int(m)
        if m > n or m < 1:
            return None
        s = 1 if n == m else max(1, (n - 1) // m)
        while s <= n and (n - 1) // s + 1 > m:
            s += 1
        if (n - 1) // s + 1 != m:
            return None
        out.append(s)
    return tuple(out)


def _shortcut_name(kind: str | BlockRef) -> str:
    if isinstance(kind, BlockRef):
        return f"shortcut block '{kind.name}'"
    return {
        "auto": "projection",
        "projection": "projection",
        "zeropad": "zero-padding shortcut",
    }.get(kind, "shortcut")
