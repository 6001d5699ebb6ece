"""Where each statement of a definition was elaborated: its graph nodes and scopes.

The parametric writer reads the definitions (the AST) and asks the elaborated
graphs of the file's models for what only elaboration knows: an op's checked
arguments, its input rank, a merge's arguments and the order of its inputs.
A statement and the nodes it made share a span.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from resdsl.ir.graph import ScopeInfo
from resdsl.source import Span

SpanKey = tuple[str, int, int]


def span_key(span: Span) -> SpanKey:
    return (span.file or "", span.start, span.end)


@dataclass(frozen=True)
class NodeRef:
    """One node of one model's graph."""

    graph: nx.DiGraph
    node: str

    @property
    def data(self) -> dict[str, Any]:
        return self.graph.nodes[self.node]  # type: ignore[no-any-return]

    def preds(self) -> list[str]:
        g = self.graph
        return sorted(g.predecessors(self.node), key=lambda p: g.edges[p, self.node]["index"])

    def in_shape(self) -> tuple[int, ...]:
        preds = self.preds()
        return tuple(self.graph.nodes[preds[0]]["shape"]) if preds else ()


@dataclass
class References:
    """Graph nodes and scopes by the span of the statement that made them."""

    nodes: dict[SpanKey, list[NodeRef]] = field(default_factory=lambda: defaultdict(list))
    scopes: dict[SpanKey, list[tuple[nx.DiGraph, ScopeInfo]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    blocks: dict[str, list[tuple[nx.DiGraph, ScopeInfo]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: Block definition -> its class's output channels as written (see pysource.branches).
    block_out: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(graphs: list[nx.DiGraph]) -> References:
        refs = References()
        for g in graphs:
            for node, data in g.nodes(data=True):
                span = data.get("span")
                if span is not None:
                    refs.nodes[span_key(span)].append(NodeRef(g, node))
            for info in g.graph["scopes"].values():
                if info.span is not None:
                    refs.scopes[span_key(info.span)].append((g, info))
                if info.block and info.kind != "model":
                    refs.blocks[info.block].append((g, info))
        return refs

    def layer(self, span: Span) -> NodeRef | None:
        """The first node a layer call made (None: no model elaborates it)."""
        for ref in self.nodes.get(span_key(span), []):
            if ref.data["role"] == "layer":
                return ref
        return None

    def with_role(self, span: Span, role: str) -> list[NodeRef]:
        return [r for r in self.nodes.get(span_key(span), []) if r.data["role"] == role]

    def shortcut_scopes(self, span: Span) -> list[str]:
        """The names of the shortcut scopes a skip made (its projection's module name)."""
        return [
            info.path.rpartition(".")[2]
            for _, info in self.scopes.get(span_key(span), [])
            if info.kind == "shortcut"
        ]

    def block_input_rank(self, block: str) -> int | None:
        for g, info in self.blocks.get(block, []):
            if info.input is not None:
                return len(g.nodes[info.input]["shape"])
        return None
