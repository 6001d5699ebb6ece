"""Stamping: repeated block instances copied instead of elaborated again.

Blocks repeat (resnet152 has 50 bottlenecks of 8 kinds): elaborating each
distinct instance once and copying its nodes under the new path gives the
same graph as elaborating it again, much faster. Only instances that
elaborated without any diagnostic become templates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from resdsl.ir.dims import Shape, SymDim, describe, expr_of
from resdsl.ir.graph import ScopeInfo
from resdsl.semantics.assembly import GraphBuilder
from resdsl.semantics.context import Scope, Val, freeze, too_many_nodes
from resdsl.semantics.expr import Value, show
from resdsl.source import Span
from resdsl.syntax import ast

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
    labels: list[str]


@dataclass
class Variant:
    """A stamped instance's own arguments, key and ``drop_path=`` per merge node (relative)."""

    args: dict[str, Value]
    instance: str
    drop_paths: dict[str, float]


def drop_path_params(body: tuple[ast.Stmt, ...]) -> dict[str, str]:
    """Block parameters used only as ``drop_path=NAME`` of the body's own skips.

    Returns ``{parameter: merge node}`` (the node relative to the instance,
    ``block:add``). Instances that differ only in these parameters have the
    same structure (ConvNeXt's blocks differ in their stochastic depth), so
    they are stamped from one template and their merges' probabilities set.

    >>> from resdsl.source import SourceFile
    >>> from resdsl.syntax.parse import parse
    >>> text = "block b(p: float) { c: conv(8, 1); skip in -> c (add, drop_path=p) }"
    >>> drop_path_params(parse(SourceFile("t.res", text)).definitions[0].body)
    {'p': 'c:add'}
    """
    found: dict[str, str] = {}
    options: set[int] = set()
    for stmt in body:
        if not isinstance(stmt, ast.Skip) or stmt.merge != "add" or stmt.dst.literal is None:
            continue
        for opt in stmt.options:
            if opt.name == "drop_path" and isinstance(opt.value, ast.Name):
                found.setdefault(opt.value.id, f"{stmt.dst.literal}:add")
                options.add(id(opt.value))
    if not found:
        return found
    used = _names(body, options)
    return {name: node for name, node in found.items() if name not in used}


def _names(node: Any, skip: set[int]) -> set[str]:
    """Every name read anywhere under ``node`` (an AST node or tuple), but the ``skip`` ones."""
    out: set[str] = set()
    if isinstance(node, tuple):
        for item in node:
            out |= _names(item, skip)
    elif isinstance(node, ast.Name):
        if id(node) not in skip:
            out.add(node.id)
    elif is_dataclass(node) and type(node).__module__ == ast.__name__:
        for f in fields(node):
            value = getattr(node, f.name)
            if not isinstance(value, Span | str):
                out |= _names(value, skip)
    return out


@dataclass
class Mark:
    """Where the graph stood when a block instance began: its diagnostics, nodes and scopes."""

    errors: int
    nodes: int
    scopes: int
    labels: int = 0


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
        graph = self.graph
        return Mark(
            errors, len(graph.created), len(graph.created_scopes), len(graph.created_labels)
        )

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
            self.graph.created_labels[mark.labels :],
        )

    def stamp(
        self,
        template: Template,
        path: str,
        span: Span,
        current: Val,
        variant: Variant | None = None,
    ) -> Val:
        """Copy a block instance elaborated before, with the same arguments and input.

        A ``variant`` gives the instance's own arguments where they differ only
        in its skips' ``drop_path=`` (see :func:`drop_path_params`).
        """
        out = self._copy(template, path, span, current)
        if variant is not None:
            info = self.graph.scopes[path]
            info.args, info.instance = variant.args, variant.instance
            for node, probability in variant.drop_paths.items():
                data = self.graph.nodes[f"{path}.{node}"]
                data["args"] = data["args"].model_copy(update={"drop_path": probability})
        return out

    def _copy(self, template: Template, path: str, span: Span, current: Val) -> Val:
        graph = self.graph
        if graph.node_count + len(template.nodes) > graph.limits.max_nodes:
            # Known before copying: refuse now rather than copy up to the limit.
            raise too_many_nodes(graph.limits, span)
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
                params=dict(source.params),
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
                    params=dict(info.params),
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
        for label in template.labels:
            val = graph.labelled[label]
            graph.label_value(rename(label), Val(outside(val.node), val.shape) if val.node else val)
        out_node = rename(template.output.node)  # type: ignore[arg-type]
        scopes[path].output = out_node
        return Val(out_node, template.output.shape)
