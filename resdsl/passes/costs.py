"""Static costs: parameters and multiply-accumulates per node, without torch.

Parameters are counted as ``sum(p.numel() for p in model.parameters())``
would (batch-norm weight and bias included, running statistics not). MACs are
multiply-accumulates of convolutions, transposed convolutions, linear layers
and attention's matrix products at the sample input size, batch 1.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from resdsl.ops import node_op


def input_shape(graph: nx.DiGraph, node: str) -> tuple[int, ...]:
    """The shape of a node's first input (its only one, for layers)."""
    return _input_shape(graph._node, graph._pred[node])


def _input_shape(nodes: Any, preds: Any) -> tuple[int, ...]:
    for pred, edge in preds.items():
        if edge.get("index", 0) == 0:
            shape: tuple[int, ...] = nodes[pred]["shape"]
            return shape
    return ()


def live_nodes(graph: nx.DiGraph) -> set[str]:
    """The nodes the model's outputs depend on (the rest never run: an unused aux head).

    >>> import resdsl
    >>> g = resdsl.loads("model m() {\\n input [3, 8, 8]\\n a: conv(4, 1)\\n conv(2, 1)\\n"
    ...     " b: conv(5, 1) from a\\n output b: b\\n}").graph()
    >>> sorted(live_nodes(g))
    ['a', 'b', 'input']
    """
    targets = {graph.graph["output"], *graph.graph.get("outputs", {}).values()}
    live: set[str] = set()
    succ = graph._succ
    for node in reversed(list(graph._node)):
        if node in targets or any(s in live for s in succ[node]):
            live.add(node)
    return live


def count_costs(graph: nx.DiGraph) -> None:
    """Set ``params`` and ``macs`` on every node, and their totals on the graph (the
    total includes the scopes' ``param`` tensors).

    A node no output depends on keeps its parameters (they are in the
    ``state_dict``) but costs no MACs: the generated ``forward`` skips it.
    """
    total_params = total_macs = 0
    nodes, preds = graph._node, graph._pred
    live = live_nodes(graph) if len(graph.graph.get("outputs", {})) or _has_dead(graph) else None
    for node, data in nodes.items():
        params = macs = 0
        op = node_op(data)
        if op is not None:
            shape = _input_shape(nodes, preds[node])
            args = data["args"]
            params = op.params(args, shape)
            if live is None or node in live:
                macs = op.macs(args, shape, data["shape"])
        data["params"] = params
        data["macs"] = macs
        total_params += params
        total_macs += macs
    # Learnable tensors declared with `param` belong to their scope, not to a node.
    total_params += sum(
        p.numel for info in graph.graph["scopes"].values() for p in info.params.values()
    )
    graph.graph["params"] = total_params
    graph.graph["macs"] = total_macs


def _has_dead(graph: nx.DiGraph) -> bool:
    """True if some node besides the output feeds nothing (then some nodes may not run)."""
    succ, end = graph._succ, graph.graph["output"]
    return any(not succ[n] and n != end for n in graph._node)


def first_over(graph: nx.DiGraph, max_params: int, max_elements: int) -> tuple[str, str] | None:
    """The first node (in build order) past a size bound, and what it is past; or None.

    ``max_params`` bounds the parameters of the layers up to and including the
    node, ``max_elements`` the elements of one value (one sample). Run after
    :func:`count_costs`. Such a model would fail in PyTorch's allocator when
    built; the front end refuses it where it crosses the bound instead.
    """
    total = 0
    for node, data in graph.nodes(data=True):
        total += data.get("params", 0)
        if total > max_params:
            return node, f"the model has more than {max_params:,} parameters up to here"
        elements = 1
        for d in data.get("shape") or ():
            elements *= int(d)
        if elements > max_elements:
            return node, f"this value has {elements:,} elements, more than {max_elements:,}"
    return None
