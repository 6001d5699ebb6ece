"""Graph assembly: the nodes, edges, scopes and constraints of the graph being built.

Nodes and edges are collected in plain dicts and handed to networkx in bulk
at the end (node-by-node networkx calls were a third of elaboration time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

from resdsl.ir.dims import SymDim, expr_of
from resdsl.ir.graph import Constraint, ScopeInfo, new_graph
from resdsl.semantics.context import Scope, Val, size_too_deep, too_many_nodes, too_many_steps
from resdsl.source import Span

if TYPE_CHECKING:
    from resdsl.semantics.elaborate import Limits


class GraphBuilder:
    """The graph under construction, with the node limit it must stay under."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.graph = new_graph("")
        self.node_count = 0
        self.steps = 0
        #: The statement being elaborated, for a limit error without a span of its own.
        self.current_span: Span | None = None
        self.nodes: dict[str, dict[str, Any]] = {}
        self.preds: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        #: Nodes and scopes in creation order (stamping copies a slice of them).
        self.created: list[str] = []
        self.created_scopes: list[str] = []
        self._constraint_keys: set[tuple[Any, ...]] = set()
        self._suffixes: dict[str, int] = {}
        #: Every labelled value by its dotted path (``backbone.layer3``): what
        #: ``from`` and ``output`` may tap inside labelled children.
        self.labelled: dict[str, Val] = {}
        self.created_labels: list[str] = []

    def label_value(self, path: str, value: Val) -> None:
        """Record the value a labelled statement produced (after its merges)."""
        if path not in self.labelled:
            self.created_labels.append(path)
        self.labelled[path] = value

    @property
    def scopes(self) -> dict[str, ScopeInfo]:
        scopes: dict[str, ScopeInfo] = self.graph.graph["scopes"]
        return scopes

    def count_node(self, span: Span | None) -> None:
        self.node_count += 1
        if self.node_count > self.limits.max_nodes:
            raise too_many_nodes(self.limits, span or self.current_span)

    def count_step(self, span: Span | None) -> None:
        """One more statement expanded: elaboration stops past ``limits.max_steps``."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise too_many_steps(self.limits, span or self.current_span)

    def add_node(self, node: str, where: Scope, **attrs: Any) -> str:
        self.node_count += 1  # count_node, inline: this runs for every node
        if self.node_count > self.limits.max_nodes:
            raise too_many_nodes(self.limits, attrs.get("span") or self.current_span)
        for d in attrs.get("shape") or ():
            if d.__class__ is SymDim and d.depth > self.limits.max_size_depth:
                raise size_too_deep(self.limits, attrs.get("span") or self.current_span)
        attrs.setdefault("parent", where.path)
        self.nodes[node] = attrs
        self.preds[node] = []
        self.created.append(node)
        return node

    def add_scope(self, info: ScopeInfo) -> ScopeInfo:
        self.graph.graph["scopes"][info.path] = info
        self.created_scopes.append(info.path)
        return info

    def add_edge(self, u: str, v: str, kind: str, index: int, **attrs: Any) -> None:
        attrs["kind"] = kind
        attrs["index"] = index
        self.preds[v].append((u, attrs))

    def constrain(self, kind: str, left: int, right: int, node: str, what: str) -> None:
        """Record a condition on symbolic sizes (nothing to record for plain numbers)."""
        if not (isinstance(left, SymDim) or isinstance(right, SymDim)):
            return
        a, b = expr_of(left), expr_of(right)
        if kind == "eq" and a == b:
            return
        key = (kind, a, b)
        if key in self._constraint_keys:
            return
        self._constraint_keys.add(key)
        self.graph.graph["constraints"].append(Constraint(kind, a, b, node, what))  # type: ignore[arg-type]

    def fresh_id(self, base: str) -> str:
        """``base``, or ``base2``, ``base3``... if taken: the next free one, in constant time.

        The suffix tried last for each base is remembered, so a scope with
        thousands of statements of one name does not search from 2 each time.
        """
        if base not in self.nodes:
            return base
        k = self._suffixes.get(base, 1)
        node = base
        while node in self.nodes:
            k += 1
            node = f"{base}{k}"
        self._suffixes[base] = k
        return node

    def finish(self) -> nx.DiGraph:
        """The finished graph, with every collected node and edge in it."""
        fill_graph(self.graph, self.nodes, self.preds)
        return self.graph


def fill_graph(
    g: nx.DiGraph,
    nodes: dict[str, dict[str, Any]],
    preds: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    """Put the collected nodes and edges into an empty DiGraph, in order.

    ``add_nodes_from``/``add_edges_from`` check each node and copy every attribute dict (a
    fifth of elaboration); these are fresh dicts nothing else holds, so they go
    into the adjacency structures networkx documents for subclasses
    (``_node``, ``_succ``, ``_pred``) as they are.

    >>> g = nx.DiGraph()
    >>> fill_graph(g, {"a": {"op": "input"}, "b": {"op": "relu"}}, {"a": [], "b": [("a", {})]})
    >>> list(g.edges), g.nodes["b"]["op"]
    ([('a', 'b')], 'relu')
    """
    assert not g._node, "fill_graph fills an empty graph"
    g._node.update(nodes)
    succ, pred = g._succ, g._pred
    for v in nodes:
        succ[v] = {}
    for v, edges in preds.items():
        into = pred[v] = {}
        for u, data in edges:
            succ[u][v] = data
            into[u] = data
    clear = getattr(nx, "_clear_cache", None)  # networkx >= 3.3 caches views
    if clear is not None:
        clear(g)
