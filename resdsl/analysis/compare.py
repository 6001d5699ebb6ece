"""A model beside its plain twin: what the skips add, and what they cost.

The plain twin (:meth:`resdsl.Spec.plain`) is the same spec with every
``skip`` statement removed: the same layers, names and depth, no skip edges.
:func:`compare` takes the checked graphs of both and reports, for each, the depth (weighted
layers on the longest path, nodes), the number of input-to-output paths, the
parameters and the MACs, and lists every skip with what its shortcut costs
(a projection's conv and batch norm, a ``gate=rezero`` scalar; identity and
zero-padding shortcuts are free).

Pure: no torch.

>>> import resdsl
>>> spec = resdsl.loads('''
... model m {
...     input [8, H=8, W=8]
...     conv1: conv(8, 3, padding=1)
...     relu
...     conv2: conv(16, 3, padding=1)
...     down: skip in -> conv2 (add, shortcut=projection)
... }
... ''')
>>> c = compare(spec.graph(), spec.plain().graph())
>>> c.model.params - c.plain.params, c.shortcut_params
(160, 160)
>>> [(s.skip, s.kind, s.params) for s in c.shortcuts]
[('down', 'projection', 160)]
>>> c.model.paths, c.plain.paths
(2, 1)
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.analysis.paths import is_weighted, path_report
from resdsl.ops import Merge, get_op, node_op
from resdsl.ops.align import Align


class Side(BaseModel):
    """One column of a comparison: a model or its plain twin."""

    model_config = ConfigDict(frozen=True)

    model: str
    plain: bool
    weighted_depth: int  # weighted layers on the longest input-to-output path
    weighted_layers: int  # weighted layers in the whole graph (shortcut projections included)
    nodes: int
    skips: int
    paths: int
    min_nonlinearities: int
    params: int
    macs: int


class ShortcutCost(BaseModel):
    """A skip of the model and what its path costs.

    ``kind`` is ``identity``, ``zeropad``, ``projection`` (conv + batch norm),
    ``block NAME`` (a user shortcut block), ``gate=rezero`` (a learnable scalar on
    the residual branch), or for ``concat`` skips ``concat`` / ``concat, align=crop``
    / ``concat, align=pad``. ``nodes`` are the graph nodes on the skip path
    (shortcut and alignment nodes), with their parameters in ``params``.
    """

    model_config = ConfigDict(frozen=True)

    skip: str
    merge: str
    into: str  # the merge node
    kind: str
    nodes: list[str]
    params: int
    macs: int


class Comparison(BaseModel):
    """A model and its plain twin side by side (see :func:`compare`).

    ``shortcut_params`` is what the skips' own modules hold; the rest of the
    parameter difference (``other_params``) comes from layers whose input
    width changes when a ``concat`` skip is removed (a U-Net's decoder convs).
    """

    model_config = ConfigDict(frozen=True)

    model: Side
    plain: Side
    shortcuts: list[ShortcutCost]
    shortcut_params: int
    shortcut_macs: int
    other_params: int
    other_macs: int


def side(graph: nx.DiGraph) -> Side:
    """The numbers of one graph."""
    report = path_report(graph)
    skips = {
        (d["skip"], skip_merge(graph, v, d["skip"]))
        for _, v, d in graph.edges(data=True)
        if d.get("kind") == "skip"
    }
    return Side(
        model=str(graph.graph["model"]),
        plain=bool(graph.graph.get("plain", False)),
        weighted_depth=report.max_weighted_depth,
        weighted_layers=sum(1 for _, d in graph.nodes(data=True) if is_weighted(d)),
        nodes=graph.number_of_nodes(),
        skips=len(skips),
        paths=report.count,
        min_nonlinearities=report.min_nonlinearities,
        params=int(graph.graph["params"]),
        macs=int(graph.graph["macs"]),
    )


def skip_merge(graph: nx.DiGraph, node: str, label: str) -> str:
    """The merge a skip edge into ``node`` leads to, through its shortcut and alignments.

    A skip is its label and its merge: two unlabelled skips of one block (a
    transformer layer's two residual sums) share the label ``BLOCK.shortcut``.
    """
    while graph.nodes[node]["role"] != "merge":
        onward = [
            w
            for w in graph.successors(node)
            if graph.edges[node, w].get("kind") == "skip" and graph.edges[node, w]["skip"] == label
        ]
        if len(onward) != 1:
            return node
        node = onward[0]
    return node


def shortcut_costs(graph: nx.DiGraph) -> list[ShortcutCost]:
    """Every skip of a graph, in order, with the nodes on its path and their cost.

    A ``gate=rezero`` gate is counted with its skip (the gate's parameter sits
    on the merge node).
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for u, v, d in graph.edges(data=True):
        if d.get("kind") != "skip":
            continue
        entry = out.setdefault(
            (d["skip"], skip_merge(graph, v, d["skip"])),
            {"merge": d["merge"], "shortcut": d["shortcut"], "into": None, "nodes": []},
        )
        for n in (u, v):
            role = graph.nodes[n]["role"]
            if role in ("shortcut", "align") and n not in entry["nodes"]:
                entry["nodes"].append(n)
            if role == "merge":
                entry["into"] = n
    order = {n: i for i, n in enumerate(graph.nodes)}
    result: list[ShortcutCost] = []
    for (skip, _), entry in out.items():
        nodes: list[str] = sorted(entry["nodes"], key=order.__getitem__)
        into = str(entry["into"])
        merge_data = graph.nodes[into]
        merge = node_op(merge_data)
        gate = isinstance(merge, Merge) and merge.has_gate(merge_data["args"])
        gate = gate and merge_data["scope"] == skip
        params = sum(int(graph.nodes[n]["params"]) for n in nodes)
        macs = sum(int(graph.nodes[n]["macs"]) for n in nodes)
        if gate:
            params += int(merge_data["params"])
        result.append(
            ShortcutCost(
                skip=skip,
                merge=entry["merge"],
                into=into,
                kind=_kind(graph, entry["merge"], entry["shortcut"], nodes, gate),
                nodes=nodes,
                params=params,
                macs=macs,
            )
        )
    result.sort(key=lambda s: order[s.into])
    return result


def _kind(graph: nx.DiGraph, merge: str, shortcut: str, nodes: list[str], gate: bool) -> str:
    """How the merge's definition names a skip: its shortcut (as elaborated) or alignments."""
    aligns = sorted(
        {str(graph.nodes[n]["op"]) for n in nodes if isinstance(node_op(graph.nodes[n]), Align)}
    )
    if get_op(shortcut, "shortcut") is None:
        shortcut = f"block {shortcut}"  # a user block that serves as the shortcut
    op = get_op(merge, "merge")
    return op.skip_kind(shortcut, aligns, gate) if op is not None else merge


def compare(graph: nx.DiGraph, plain: nx.DiGraph) -> Comparison:
    """Compare a checked graph with its plain twin's (``spec.plain().graph(...)``); no torch."""
    shortcuts = shortcut_costs(graph)
    a, b = side(graph), side(plain)
    sc_params = sum(s.params for s in shortcuts)
    sc_macs = sum(s.macs for s in shortcuts)
    return Comparison(
        model=a,
        plain=b,
        shortcuts=shortcuts,
        shortcut_params=sc_params,
        shortcut_macs=sc_macs,
        other_params=a.params - b.params - sc_params,
        other_macs=a.macs - b.macs - sc_macs,
    )


__all__ = ["Comparison", "ShortcutCost", "Side", "compare", "shortcut_costs", "side"]
