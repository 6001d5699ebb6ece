"""Gradients through a residual block: the skip term and the branch term of dL/dx.

A residual block computes ``H = F(x) + S(x)`` (``S`` the identity or a
shortcut projection), so the gradient at its input splits exactly:

    dL/dx = g·dS/dx + g·dF/dx,   g = dL/dH

the **skip term** and the **branch term**. :func:`block_gradients` runs the
compiled model once through its observing twin (:func:`resdsl.backends.build.
observing_twin`), captures every ``add`` merge's inputs and the block's input,
and computes both terms with ``torch.autograd.grad`` (``grad_outputs = g``).
Per block it reports their norms, their cosine (negative: the branch pushes
against the skip), how much of the gradient the activation right after the
merge passes (its derivative averaged over the units: for ReLU the fraction
of units it keeps; 1.0 when no activation follows) and the block's gain
``|dL/dx| / |dL/dH|``.

Blocks measured: ``add`` merges without a gate whose skips all start at one
node (the block's input). The merge's value is recomputed from the captured
inputs (the sum the network computes), so ``dL/dH`` is the gradient of that
sum; copies are taken where values are captured because the network may
overwrite a value in place (an in-place ReLU after the add).

>>> import resdsl, torch
>>> graph = resdsl.loads('''
... model two_blocks {
...     input [4, 6, 6]
...     repeat 2 as i { b{i}: { conv(4, 3, padding=1); batchnorm; relu } }
...     skip in -> b0 (add)
...     skip b0 -> b1 (add)
... }
... ''').graph()
>>> from resdsl.backends.build import compile_graph, sample_input
>>> grads = block_gradients(graph, compile_graph(graph), sample_input(graph, 2))
>>> [b.merge for b in grads]
['b0:add', 'b1:add']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.analysis.gradflow import probe_loss
from resdsl.analysis.identity import preds, residual_merges
from resdsl.ops.registry import node_op

if TYPE_CHECKING:
    import torch
    from torch import nn


class BlockGrad(BaseModel):
    """The backward pass at one residual block's input (see the module docstring)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    merge: str
    input: str
    skip_norm: float
    branch_norm: float
    cosine: float
    passing: float
    gain: float
    input_grad_norm: float
    output_grad_norm: float


class BlockTerms(BaseModel):
    """:class:`BlockGrad` with the tensors themselves (for tests and further analysis)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    summary: BlockGrad
    skip: torch.Tensor
    branch: torch.Tensor
    input_grad: torch.Tensor


def blocks(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """``(merge, block input)`` of every ungated ``add`` merge whose skips share one start."""
    from resdsl.analysis.identity import _origin

    found: list[tuple[str, str]] = []
    for merge in residual_merges(graph):
        if getattr(graph.nodes[merge]["args"], "gate", None) is not None:
            continue
        starts = {_origin(graph, p) for p in preds(graph, merge)[1:]}
        if len(starts) == 1:
            found.append((merge, starts.pop()))
    return found


def activation_after(graph: nx.DiGraph, merge: str) -> str | None:
    """The activation right after a merge on the main path, if there is one.

    An activation is whatever the op registry marks as nonlinear (ReLU, GELU,
    leaky ReLU, ...), not a name this module knows.
    """
    for succ in graph.successors(merge):
        if graph.edges[merge, succ].get("kind") != "main":
            continue
        op = node_op(graph.nodes[succ])
        if op is not None and op.path.nonlinear:
            return str(succ)
    return None


def block_terms(
    graph: nx.DiGraph,
    model: nn.Module,
    x: torch.Tensor,
    *,
    seed: int = 0,
    target: torch.Tensor | None = None,
) -> list[BlockTerms]:
    """One forward/backward pass of ``model`` on ``x``; each block's skip and branch terms.

    The loss is :func:`probe_loss`'s (against ``target`` when given, summed
    over named outputs); the model's mode (train or eval) is left as it is.
    """
    import torch

    from resdsl.backends.build import observing_twin

    if not (found := blocks(graph)):  # no residual block (GoogLeNet): no term to split
        return []
    merge_inputs = {m: preds(graph, m) for m, _ in found}
    after = {m: activation_after(graph, m) for m, _ in found}
    activations = {a for a in after.values() if a is not None}
    activated: dict[str, torch.Tensor] = {}  # an activation's output, as computed from the merge
    starts = {s for _, s in found}
    wanted = {p for ins in merge_inputs.values() for p in ins}
    values: dict[str, torch.Tensor] = {}  # private copies, never handed to the network
    block_in: dict[str, torch.Tensor] = {}
    merged: dict[str, torch.Tensor] = {}

    def value_of(node: str) -> torch.Tensor:
        while node not in values:  # a zero-padding shortcut that computed nothing
            node = preds(graph, node)[0]
        return values[node]

    def observe(node: str, value: torch.Tensor) -> torch.Tensor:
        if node in merge_inputs and node not in merged:
            ins = merge_inputs[node]
            total = value_of(ins[0])
            for p in ins[1:]:
                total = total + value_of(p)
            merged[node] = total
            value = total.clone()
        if node in starts and node not in block_in:
            block_in[node] = value.clone()
            value = block_in[node].clone()
        if node in wanted and node not in values:
            values[node] = value.clone()
        if node in activations and node not in activated:
            activated[node] = value.clone()
        return value

    first = graph.graph["input"]
    x = x.clone()
    if first in starts:
        block_in[first] = x.requires_grad_()
        x = x.clone()
    if first in wanted:
        values[first] = x.clone()
    loss, _ = probe_loss(graph, observing_twin(model)(x, observe), seed, target)
    ins_ = [block_in[s] for _, s in found]
    outs = [merged[m] for m, _ in found]
    grads = torch.autograd.grad(loss, [*outs, *ins_], retain_graph=True)
    n = len(found)
    result: list[BlockTerms] = []
    for i, (merge, start) in enumerate(found):
        g, gx = grads[i], grads[n + i]
        ins = merge_inputs[merge]
        branch = _vjp(value_of(ins[0]), block_in[start], g)
        skip = _vjp_sum([value_of(p) for p in ins[1:]], block_in[start], g)
        act = after[merge]
        passing = _mean_slope(activated[act], merged[merge]) if act is not None else 1.0
        result.append(
            BlockTerms(
                summary=_summary(merge, start, skip, branch, gx, g, passing),
                skip=skip,
                branch=branch,
                input_grad=gx,
            )
        )
    return result


def _mean_slope(out: torch.Tensor, merged: torch.Tensor) -> float:
    """The activation's derivative at the merge's output, averaged over its units.

    For an elementwise activation the vector-Jacobian product with ones is its
    derivative at each unit: for ReLU 1 where the merge's output is positive,
    else 0, so the mean is the fraction of units that pass gradient.
    """
    import torch

    (slope,) = torch.autograd.grad(out, merged, torch.ones_like(out), retain_graph=True)
    return float(slope.double().mean())


def _vjp(out: torch.Tensor, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    import torch

    (grad,) = torch.autograd.grad(out, x, g, retain_graph=True, allow_unused=True)
    return grad if grad is not None else torch.zeros_like(x)


def _vjp_sum(outs: list[torch.Tensor], x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    total = _vjp(outs[0], x, g)
    for out in outs[1:]:
        total = total + _vjp(out, x, g)
    return total


def _summary(
    merge: str,
    start: str,
    skip: torch.Tensor,
    branch: torch.Tensor,
    gx: torch.Tensor,
    g: torch.Tensor,
    passing: float,
) -> BlockGrad:
    import torch.nn.functional as F

    s, b = skip.flatten().double(), branch.flatten().double()
    cosine = float(F.cosine_similarity(s, b, dim=0, eps=1e-30)) if s.any() and b.any() else 0.0
    out_norm = float(g.double().norm())
    in_norm = float(gx.double().norm())
    return BlockGrad(
        merge=merge,
        input=start,
        skip_norm=float(s.norm()),
        branch_norm=float(b.norm()),
        cosine=max(-1.0, min(1.0, cosine)),
        passing=passing,
        gain=in_norm / out_norm if out_norm else float("nan"),
        input_grad_norm=in_norm,
        output_grad_norm=out_norm,
    )


def block_gradients(
    graph: nx.DiGraph,
    model: nn.Module,
    x: torch.Tensor,
    *,
    seed: int = 0,
    target: torch.Tensor | None = None,
) -> list[BlockGrad]:
    """Per residual block: skip and branch terms of the input gradient (norms, cosine, gain)."""
    return [t.summary for t in block_terms(graph, model, x, seed=seed, target=target)]


class BlockGradReport(BaseModel):
    """Block gradients of one model at initialisation and, if trained, after ``steps`` steps."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    model: str
    data: str
    batch: int
    seed: int
    steps: int
    at_init: list[BlockGrad]
    trained: list[BlockGrad] | None = None


__all__ = [
    "BlockGrad",
    "BlockGradReport",
    "BlockTerms",
    "activation_after",
    "block_gradients",
    "block_terms",
    "blocks",
]
