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


def count_costs(graph: nx.DiGraph) -> None:
    """Set ``params`` and ``macs`` on every node, and their totals on the graph (the
    total includes the scopes' ``param`` tensors)."""
    total_params = total_macs = 0
    nodes, preds = graph._node, graph._pred
    for node, data in nodes.items():
        params = macs = 0
        op = node_op(data)
        if op is not None:
            shape = _input_shape(nodes, preds[node])
            args = data["args"]
            params = op.params(args, shape)
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
