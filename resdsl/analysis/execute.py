"""Run a checked graph node by node on a compiled model's modules (imports torch).

The compiled model's ``forward`` runs the whole network; an analysis sometimes
needs a piece of it -- one residual block's branch and shortcut, evaluated
separately -- or a variant of it -- the network with every residual branch
dropped. :func:`run_nodes` evaluates any set of graph nodes, in insertion
order, from given input values, calling the model's own modules (so the
weights are the model's) and doing the module-free operations (merges,
zero-padding shortcuts, alignment) exactly as the generated code does: the
same torch calls in the same order, so results are bit-identical to
``model(x)`` (the tests check it).

>>> import torch, resdsl
>>> from resdsl.backends.build import compile_graph
>>> spec = resdsl.loads('''
... model m {
...     input [4, 6, 6]
...     conv1: conv(4, 3, padding=1)
...     act: relu
...     skip in -> act (add)
... }
... ''')
>>> graph = spec.graph()
>>> model = compile_graph(graph)
>>> x = torch.randn(2, 4, 6, 6)
>>> torch.equal(run_graph(graph, model, x), model(x))
True
>>> torch.equal(run_graph(graph, model, x, drop_residual=True), x)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import CodeType
from typing import TYPE_CHECKING, Any

import networkx as nx

from resdsl.ir.graph import AlignArgs, MergeArgs, ZeroPadArgs
from resdsl.ops import get_layer

if TYPE_CHECKING:
    import torch
    from torch import nn


def preds(graph: nx.DiGraph, node: str) -> list[str]:
    """A node's inputs, in input order (``index``)."""
    return sorted(graph.predecessors(node), key=lambda p: graph.edges[p, node].get("index", 0))


def module_path(graph: nx.DiGraph, node: str) -> str:
    """The module path of a layer or shortcut node (``layer1.0.conv1``, ``layer2.0.shortcut.0``)."""
    data = graph.nodes[node]
    return f"{data['parent']}.{data['name']}" if data["parent"] else str(data["name"])


class _Runner:
    def __init__(self, graph: nx.DiGraph, model: nn.Module, drop_residual: bool) -> None:
        import torch
        import torch.nn.functional as F
        from torch import nn

        self.graph = graph
        self.model = model
        self.drop_residual = drop_residual
        self.globals: dict[str, Any] = {"torch": torch, "nn": nn, "F": F}
        self.code: dict[str, CodeType] = {}

    def layer(self, node: str, x: torch.Tensor) -> torch.Tensor:
        g = self.graph
        data = g.nodes[node]
        code = self.code.get(node)
        if code is None:
            layer = get_layer(str(data["op"]))
            if layer is None:
                raise ValueError(f"node {node!r}: no registered layer {data['op']!r}")
            in_shape = g.nodes[preds(g, node)[0]]["shape"]
            source = layer.torch_call("__m", "__x", data["args"], in_shape)
            code = compile(source, f"<resdsl:{node}>", "eval")
            self.code[node] = code
        module = self.model.get_submodule(module_path(g, node))
        if getattr(module, "inplace", False):
            # Generated code runs some activations in place where its liveness allows;
            # here every value stays readable (a segment's merge, a full run's values).
            x = x.clone()
        result: torch.Tensor = eval(code, self.globals, {"__m": module, "__x": x})
        return result

    def step(self, node: str, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        g = self.graph
        data = g.nodes[node]
        op = data["op"]
        ins = [values[p] for p in preds(g, node)]
        if op == "add":
            args = data["args"]
            if self.drop_residual:
                # The residual branch (input 0) is dropped: the shortcuts alone.
                out = ins[1]
                for t in ins[2:]:
                    out = out + t
                return out
            dst = ins[0]
            if isinstance(args, MergeArgs):
                if args.scale is not None:
                    dst = float(args.scale) * dst
                if args.gate == "rezero":
                    gate = self.model.get_submodule(str(data["scope"])).gate
                    assert isinstance(gate, torch.Tensor)
                    dst = gate * dst
            out = dst
            for t in ins[1:]:
                out = out + t
            return out
        if op == "concat":
            return torch.cat(ins, dim=1)
        if op == "mul":
            out = ins[0]
            for t in ins[1:]:
                out = out * t
            return out
        if op == "zeropad":
            zp: ZeroPadArgs = data["args"]
            x = ins[0]
            if any(s != 1 for s in zp.stride):
                x = x[(slice(None), slice(None), *(slice(None, None, s) for s in zp.stride))]
            if zp.pad_before or zp.pad_after:
                x = F.pad(x, (0, 0) * len(zp.stride) + (zp.pad_before, zp.pad_after))
            return x
        if op in ("crop", "pad"):
            return self.align(node, ins[0], values)
        return self.layer(node, ins[0])

    def align(self, node: str, x: torch.Tensor, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        import torch.nn.functional as F

        g = self.graph
        data = g.nodes[node]
        args: AlignArgs = data["args"]
        (concat,) = g.successors(node)
        refs: list[torch.Tensor] = []
        seen: set[str] = set()
        for p in preds(g, concat):
            original = preds(g, p)[0] if g.nodes[p]["op"] in ("crop", "pad") else p
            if original not in seen:
                seen.add(original)
                refs.append(values[original])
        axes = range(2, 2 + len(args.amounts))
        if data["op"] == "pad":
            diffs = [max(r.size(a) for r in refs) - x.size(a) for a in axes]
            pads: list[int] = []
            for d in reversed(diffs):
                pads += [d // 2, d - d // 2]
            return F.pad(x, tuple(pads))
        diffs = [x.size(a) - min(r.size(a) for r in refs) for a in axes]
        index = tuple(
            slice(d // 2, x.size(a) - (d - d // 2)) for a, d in zip(axes, diffs, strict=True)
        )
        return x[(slice(None), slice(None), *index)]


def run_nodes(
    graph: nx.DiGraph,
    model: nn.Module,
    inputs: Mapping[str, torch.Tensor],
    nodes: Iterable[str],
    *,
    drop_residual: bool = False,
) -> dict[str, torch.Tensor]:
    """Evaluate ``nodes`` (any order; run in graph order) from the values in ``inputs``.

    Every input of every node must be in ``inputs`` or among ``nodes``.
    ``drop_residual=True`` makes each ``add`` merge return the sum of its
    shortcuts alone, as if its residual branch (input 0) were removed.
    Returns every value computed, the given ones included.
    """
    wanted = set(nodes)
    runner = _Runner(graph, model, drop_residual)
    values: dict[str, torch.Tensor] = dict(inputs)
    for node in graph.nodes:
        if node in wanted and node not in inputs:
            values[node] = runner.step(node, values)
    return values


def run_graph(
    graph: nx.DiGraph, model: nn.Module, x: torch.Tensor, *, drop_residual: bool = False
) -> torch.Tensor:
    """The model's output for ``x``, computed node by node (see :func:`run_nodes`)."""
    start, end = graph.graph["input"], graph.graph["output"]
    needed = nx.ancestors(graph, end) | {end}
    return run_nodes(graph, model, {start: x}, needed, drop_residual=drop_residual)[end]


__all__ = ["module_path", "preds", "run_graph", "run_nodes"]
