"""Passes over the elaborated graph, run in order by :func:`run_passes`.

Each pass is a function ``graph -> None`` that stores its results on the
graph's nodes or on ``graph.graph``; back ends read them instead of
recomputing.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from resdsl.passes.costs import count_costs
from resdsl.passes.valid_sizes import attach_valid_sizes

PASSES: tuple[Callable[[nx.DiGraph], None], ...] = (count_costs, attach_valid_sizes)


def run_passes(graph: nx.DiGraph) -> nx.DiGraph:
    for p in PASSES:
        p(graph)
    return graph


__all__ = ["PASSES", "attach_valid_sizes", "count_costs", "run_passes"]
