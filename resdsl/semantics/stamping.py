"""Stamping: repeated block instances copied instead of elaborated again.

Blocks repeat (resnet152 has 50 bottlenecks of 8 kinds): elaborating each
distinct instance once and copying its nodes under the new path gives the
same graph as elaborating it again, much faster. Only instances that
elaborated without any diagnostic become templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resdsl.ir.dims import Shape, SymDim, describe, expr_of
from resdsl.ir.graph import ScopeInfo
from resdsl.semantics.assembly import GraphBuilder
from resdsl.semantics.context import Scope, Val, freeze
from resdsl.semantics.expr import Value, show
from resdsl.source import Span

#: What makes two block instances the same: block, arguments, input shape, and
#: where the instance sits (its role, skip path and depth shape its nodes too).
InstanceKey = tuple[Any, ...]


def instance_key(block: str, bound: dict[str, Value], shape: Shape, role: str) -> str:
    """The graph's key of a block instance (``ScopeInfo.instance``): equal keys, equal structure.

    The block, its arguments as the spec writes them, its input shape, and
    whether it sits on a skip path determine what elaborating it builds.

    >>> instance_key("basic", {"planes": 64, "stride": 1}, (64, 56, 56), "layer")
    'basic(planes=64, stride=1) on [64, 56, 56]'
    """
    args = ", ".join(f"{name}={show(value)}" for name, value in bound.items())
    sizes = ", ".join(f"{describe(d)}={int(d)}" if isinstance(d, SymDim) else str(d) for d in shape)
    where = " in a shortcut" if role == "shortcut" else ""
    return f"{block}({args}) on [{sizes}]{where}"


@dataclass
class Template:
    """A block instance that can be copied: its path, input node, nodes and scopes."""

    path: str
    input: str
    nodes: list[str]
    scopes: list[str]
    output: Val


@dataclass
class Mark:
    """Where the graph stood when a block instance began: its diagnostics, nodes and scopes."""

    errors: int
    nodes: int
    scopes: int


class Stamper:
    """Remembers block instances as templates and copies them under new paths."""

    def __init__(self, graph: GraphBuilder) -> None:
        self.graph = graph
        #: Copy repeated block instances instead of elaborating them again.
        self.enabled = True
        self.templates: dict[InstanceKey, Template] = {}

    @staticmethod
    def key(block: str, bound: dict[str, Value], current: Val, scope: Scope) -> InstanceKey:
        """The key of an instance of ``block`` with ``bound`` arguments on ``current``."""
        assert current.shape is not None
        return (
            block,
            freeze(bound),
            tuple([(expr_of(d), int(d)) for d in current.shape]),
            scope.role,
            tuple(sorted((scope.skip_edge or {}).items())),
            scope.depth,
        )

    def find(self, key: InstanceKey) -> Template | None:
        return self.templates.get(key) if self.enabled else None

    def mark(self, errors: int) -> Mark:
        return Mark(errors, len(self.graph.created), len(self.graph.created_scopes))

    def remember(
        self, key: InstanceKey, mark: Mark, errors: int, path: str, input: str, out: Val
    ) -> None:
        """Keep the instance built since ``mark`` as a template, if it had no diagnostic."""
        if out.node is None or errors != mark.errors:
            return
        self.templates[key] = Template(
            path,
            input,
            self.graph.created[mark.nodes :],
            self.graph.created_scopes[mark.scopes :],
            out,
        )

    def stamp(self, template: Template, path: str, span: Span, current: Val) -> Val:
        """Copy a block instance elaborated before, with the same arguments and input."""
        graph = self.graph
        scopes = graph.scopes
        old = template.path
        cut = len(old)
        assert current.node is not None

        def rename(name: str) -> str:
            return path + name[cut:] if name.startswith(old) else name

        def outside(name: str) -> str:
            return current.node if name == template.input else rename(name)  # type: ignore[return-value]

        source = scopes[old]
        graph.add_scope(
            ScopeInfo(
                path,
                "block",
                span,
                block=source.block,
                args=source.args,
                input=current.node,
                instance=source.instance,
            )
        )
        for scope_path in template.scopes:
            info = scopes[scope_path]
            graph.add_scope(
                ScopeInfo(
                    rename(scope_path),
                    info.kind,
                    info.span,
                    block=info.block,
                    args=info.args,
                    input=outside(info.input) if info.input else None,
                    output=rename(info.output) if info.output else None,
                    instance=info.instance,
                )
            )
        nodes, preds, created = graph.nodes, graph.preds, graph.created
        for node in template.nodes:
            data = dict(nodes[node])
            data["scope"] = rename(data["scope"])
            data["parent"] = rename(data["parent"])
            graph.count_node(span)
            new = rename(node)
            nodes[new] = data
            created.append(new)
            copied = []
            for pred, edge in preds[node]:
                attrs = dict(edge)
                if "skip" in attrs:
                    attrs["skip"] = rename(attrs["skip"])
                copied.append((outside(pred), attrs))
            preds[new] = copied
        out_node = rename(template.output.node)  # type: ignore[arg-type]
        scopes[path].output = out_node
        return Val(out_node, template.output.shape)
