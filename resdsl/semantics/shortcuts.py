"""Shortcuts and alignment: what a skip's value goes through before its merge.

An ``add`` skip carries its source through its shortcut: the identity, a
projection (``auto`` where shapes differ, or ``projection``), zero-padding
(``zeropad``), or a user block taking ``(channels: int, stride: int)``. A
``concat`` skip with ``align=crop`` or ``align=pad`` gets crop/pad nodes so
every input has the same spatial size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resdsl.diagnostics import Diagnostic
from resdsl.ir.dims import Shape, SymDim, expr_of
from resdsl.ir.graph import AlignArgs, ScopeInfo
from resdsl.ops.base import ShapeError, format_shape
from resdsl.ops.registry import get_op
from resdsl.ops.shortcut import Shortcut, features_change
from resdsl.semantics.context import POISON, Abort, ElabPart, Scope, Val
from resdsl.semantics.expr import BlockRef, Env, Value
from resdsl.semantics.merges import Ordered, skip_edge
from resdsl.semantics.skips import Skip
from resdsl.semantics.stamping import instance_key


class Shortcuts(ElabPart):
    """Builds the shortcuts of ``add`` skips and the alignment of ``concat`` skips."""

    def shortcut(self, skip: Skip, src: Val, dst: Val, scope: Scope) -> Val | None:
        """The value the skip carries into its merge: its source through its shortcut.

        The shortcut's definition resolves it for these shapes (``auto`` and
        ``zeropad`` pass matching shapes through, as ResNet's options A and B
        do); a user block always builds. ``skip.resolved`` records the result.
        """
        assert src.shape is not None and dst.shape is not None
        kind = skip.shortcut
        same = tuple(map(int, src.shape)) == tuple(map(int, dst.shape))
        resolved: Shortcut | None = None  # None: a user block
        if isinstance(kind, str):
            chosen = get_op(kind, "shortcut")
            assert chosen is not None  # the skip's option was checked against the registry
            resolved = get_op(chosen.resolve(same), "shortcut")
            assert resolved is not None, chosen.resolve(same)
            skip.resolved = resolved.name
            if resolved.builds == "nothing":
                return src
            what = chosen.description
        else:
            skip.resolved = kind.name
            what = f"shortcut block '{kind.name}'"
        features = features_change(src.shape, dst.shape)
        feature_layers = resolved.feature_layers(features) if resolved and features else None
        if features is not None and feature_layers is not None:
            return self.module_shortcut(
                skip, src, features, (1,), scope, lambda _c, _s: feature_layers
            )
        stride = stride_between(src.shape, dst.shape)
        if stride is None:
            skip.report_shape(
                self.ctx,
                scope,
                f"no {what} maps {format_shape(src.shape)} to {format_shape(dst.shape)}",
                "a shortcut can change channels and downsample by an integer stride; "
                "check the shapes of the two ends",
            )
            return None
        if resolved is not None and resolved.builds == "node":
            return self.shortcut_node(resolved, skip, src, dst.shape, stride, scope)
        layers = resolved.layers if resolved is not None else None
        return self.module_shortcut(skip, src, int(dst.shape[0]), stride, scope, layers)

    def shortcut_node(
        self, op: Shortcut, skip: Skip, src: Val, dst: Shape, stride: tuple[int, ...], scope: Scope
    ) -> Val | None:
        """A shortcut that is one node of its own op (``zeropad``: no parameters)."""
        assert src.shape is not None and src.node is not None
        path = f"{scope.prefix}{skip.label}"
        try:
            args, shape = op.node(src.shape, dst, stride)
        except ShapeError as err:
            skip.report_shape(self.ctx, scope, err.message, err.hint)
            return None
        graph = self.graph
        node = graph.fresh_id(path)
        graph.add_node(
            node,
            scope,
            op=op.name,
            args=args,
            scope=path,
            name=skip.label,
            role="shortcut",
            span=skip.stmt.span,
            shape=shape,
        )
        graph.add_edge(src.node, node, "skip", 0, **skip_edge(skip, scope))
        return Val(node, shape)

    def module_shortcut(
        self,
        skip: Skip,
        src: Val,
        channels: int,
        stride: tuple[int, ...],
        scope: Scope,
        layers: Callable[[int, int | tuple[int, ...]], list[tuple[str, dict[str, Any]]]] | None,
    ) -> Val | None:
        """A shortcut with modules, in a scope of its own: the op's layers or a user block."""
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
            skip_edge=skip_edge(skip, scope),
        )
        if layers is None:
            assert isinstance(skip.shortcut, BlockRef)
            out = self.shortcut_block(skip.shortcut, skip, sub, channels, stride)
        else:
            out = src
            for position, (layer, values) in enumerate(layers(channels, stride_arg)):
                out = self.el.calls.layer_node(
                    layer, dict(values), sub, str(position), out, skip.stmt.span
                )
        self.graph.scopes[path].output = out.node
        if out.shape is None:
            return None
        return out

    def shortcut_block(
        self, ref: BlockRef, skip: Skip, sub: Scope, channels: int, stride: tuple[int, ...]
    ) -> Val:
        """A user block as the shortcut, given ``channels`` and ``stride``.

        ``stride`` arrives as the block's second parameter declares it: a
        ``list`` gets one stride per spatial dimension; an ``int`` gets the
        stride, which must then be the same along every dimension.
        """
        bdef = self.ctx.program.blocks[ref.name]
        names = [p.name for p in bdef.params]
        if names[:2] != ["channels", "stride"] or bdef.params[1].type not in ("int", "list"):
            self.ctx.error(
                sub,
                "shortcut-block",
                f"block '{ref.name}' cannot be a shortcut: it must take "
                "(channels: int, stride: int) or (channels: int, stride: list)",
                skip.stmt.span,
            )
            return POISON
        if not self._may_nest(ref, skip, sub):
            return POISON
        value: Value
        if bdef.params[1].type == "list":
            value = list(stride)
        elif len(set(stride)) <= 1:
            value = stride[0] if stride else 1
        else:
            self.ctx.error(
                sub,
                "shortcut-block",
                f"skip '{skip.src}' -> '{skip.dst}' downsamples by {list(stride)}, one stride "
                f"per dimension, but block '{ref.name}' takes stride: int",
                skip.stmt.span,
                hint=f"declare it as `block {ref.name}(channels: int, stride: list)`: "
                "conv and the pools take a list of strides",
            )
            return POISON
        where = f"in shortcut block '{ref.name}' of skip '{skip.src}' -> '{skip.dst}' at {skip.stmt.span}"
        sub.context = where if not sub.context else f"{where}, {sub.context}"
        bound = self.el.binder.bind_values(
            bdef.params,
            {"channels": channels, "stride": value},
            sub,
            skip.stmt.span,
            callee=f"block '{ref.name}'",
        )
        if bound is None:
            return POISON
        info = self.graph.scopes[sub.path]
        info.block, info.args = ref.name, dict(bound)
        if sub.input.shape is not None:
            info.instance = instance_key(ref.name, info.args, sub.input.shape, sub.role)
        sub.env = Env(bound)
        sub.stack = (*sub.stack, ref.name)
        return self.el.statements.body(bdef.body, sub)

    def _may_nest(self, ref: BlockRef, skip: Skip, sub: Scope) -> bool:
        """A shortcut block obeys the rules of any block instance: no recursion, bounded depth."""
        if ref.name in sub.stack:
            chain = " -> ".join((*sub.stack[sub.stack.index(ref.name) :], ref.name))
            self.ctx.error(
                sub,
                "recursion",
                f"block '{ref.name}' is its own shortcut: {chain}",
                skip.stmt.span,
                hint="a block cannot contain itself, directly, through others or as a shortcut",
            )
            return False
        max_depth = self.ctx.limits.max_depth
        if sub.depth > max_depth:
            raise Abort(
                Diagnostic(
                    "too-deep",
                    f"blocks are nested more than {max_depth} deep here",
                    skip.stmt.span,
                    hint="raise the limit with Limits(max_depth=...)",
                )
            )
        return True

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
        op = get_op(align, "align")
        assert op is not None  # the skip's option was checked against the registry
        target: list[int] = []
        for axis in range(1, rank):
            sizes = [s[axis] for s in shapes if s is not None]
            t = sizes[0]
            for size in sizes[1:]:
                t = op.target(t, size)
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
        extra = {} if skip is None else skip_edge(skip, scope)
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
