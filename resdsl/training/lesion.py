"""Lesion study (Veit et al. 2016): remove one block of a trained model at a time.

A residual network "behaves like an ensemble of relatively shallow
networks": deleting one residual branch, and keeping its shortcut, barely
changes its error, while deleting a layer of a plain network breaks it.

The lesion is applied to the compiled module, with hooks, and found from the
graph's contract (:mod:`resdsl.ir.graph`):

- a *residual branch* ends at the main-path input of an ``add`` merge that a
  skip edge enters; a forward hook on that layer's module replaces its output
  by zeros, so the merge passes the shortcut alone;
- a *block* (an innermost block instance, a scope of kind ``block``) is
  replaced by the identity, its output by its input, where the two have the
  same shape; the others are listed with the reason they cannot be lesioned.

>>> import resdsl, torch
>>> spec = resdsl.loads('''
... block res(c: int) { a: conv(c, 3, padding=1); skip in -> a (add) }
... model m { input [2, H=4, W=4]; b1: res(2); b2: res(2) }
... ''')
>>> graph, model = spec.graph(), spec.compile()
>>> [(t.name, t.module) for t in residual_branches(graph, model)]
[('b1', 'b1.a'), ('b2', 'b2.a')]
>>> x = torch.randn(1, 2, 4, 4)
>>> with lesioned(model, residual_branches(graph, model)[1]):
...     torch.equal(model(x), model.b1(x))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import networkx as nx
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from resdsl.ir.dims import describe
from resdsl.ops.registry import get_op
from resdsl.training.data import Dataset
from resdsl.training.loop import evaluate_error

LesionKind = Literal["residual branch", "block"]


class LesionTarget(BaseModel):
    """Something that can be removed: where the hook goes, or why it cannot be."""

    model_config = ConfigDict(frozen=True)
    name: str  # the block instance (``layer1.0``) or the skip's label
    kind: LesionKind
    module: str  # the module path the hook goes on ('' if none)
    reason: str | None = None  # why it cannot be lesioned; None if it can

    @property
    def possible(self) -> bool:
        return self.reason is None


class LesionRow(BaseModel):
    """The error with one target removed, and its change from the intact model."""

    model_config = ConfigDict(frozen=True)
    target: LesionTarget
    error: float | None
    change: float | None


class LesionReport(BaseModel):
    """Every lesion of one model, on one data set."""

    model: str
    data: str
    baseline: float
    rows: list[LesionRow]

    @property
    def changes(self) -> list[float]:
        return [r.change for r in self.rows if r.change is not None]


def _has_module(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return bool(path)


def residual_branches(graph: nx.DiGraph, model: nn.Module) -> list[LesionTarget]:
    """The residual branches: one per residual merge (``add``) entered by a skip, in order."""
    targets = []
    for node, data in graph.nodes(data=True):
        skips = [
            e
            for e in graph.in_edges(node, data=True)
            if e[2]["kind"] == "skip" and _residual(e[2]["merge"])
        ]
        if data["role"] != "merge" or not skips:
            continue
        main = [u for u, _, e in graph.in_edges(node, data=True) if e["kind"] == "main"]
        name = data["parent"] or str(skips[0][2].get("skip", node))
        targets.append(_branch_target(graph, model, name, main, {u for u, _, _ in skips}))
    return targets


def _branch_target(
    graph: nx.DiGraph, model: nn.Module, name: str, main: list[str], sources: set[str]
) -> LesionTarget:
    reason = None
    end = main[0] if len(main) == 1 else ""
    scope = graph.nodes[end]["scope"] if end else ""
    if not end or end in sources:
        reason = "the merge has no branch of its own on the main path"
    elif graph.out_degree(end) != 1:
        reason = f"the branch's output ({scope}) is also read elsewhere"
    elif not _has_module(model, scope):
        reason = f"the branch ends in '{scope}', which has no module to hook"
    return LesionTarget(
        name=name, kind="residual branch", module=scope if not reason else "", reason=reason
    )


def blocks(graph: nx.DiGraph, model: nn.Module) -> list[LesionTarget]:
    """The innermost block instances, each lesionable where its output has its input's shape."""
    scopes = graph.graph["scopes"]
    paths = [p for p, info in scopes.items() if info.kind == "block"]
    targets = []
    for path in paths:
        if any(other.startswith(path + ".") for other in paths):
            continue  # an outer block: its inner blocks are lesioned one by one
        info = scopes[path]
        before = graph.nodes[info.input]["shape"]
        after = graph.nodes[info.output]["shape"]
        reason = None
        if tuple(before) != tuple(after):
            reason = f"it changes the shape {_text(before)} -> {_text(after)}"
        elif not _has_module(model, path):
            reason = f"'{path}' has no module to hook"
        targets.append(
            LesionTarget(name=path, kind="block", module=path if not reason else "", reason=reason)
        )
    return targets


def _text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(describe(d) for d in shape) + "]"


def lesion_targets(graph: nx.DiGraph, model: nn.Module) -> list[LesionTarget]:
    """Residual branches if the model has any, else its blocks (a plain network's)."""
    return residual_branches(graph, model) or blocks(graph, model)


@contextmanager
def lesioned(model: nn.Module, target: LesionTarget) -> Iterator[nn.Module]:
    """The model with ``target`` removed, by hooks that are taken away on exit."""
    if target.reason is not None:
        raise ValueError(f"{target.name} cannot be lesioned: {target.reason}")
    module = model.get_submodule(target.module)
    handles = []
    if target.kind == "residual branch":
        handles.append(module.register_forward_hook(_zeros))
    else:
        saved: list[torch.Tensor] = []

        def keep_input(_: nn.Module, args: tuple[Any, ...]) -> None:
            saved[:] = [args[0].clone()]  # the block may overwrite its input in place

        def give_input(_: nn.Module, args: tuple[Any, ...], output: Any) -> torch.Tensor:
            return saved.pop()

        handles.append(module.register_forward_pre_hook(keep_input))
        handles.append(module.register_forward_hook(give_input))
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _zeros(_: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(output)


def lesion_report(
    model: nn.Module,
    graph: nx.DiGraph,
    data: Dataset,
    *,
    device: str = "cpu",
    name: str | None = None,
) -> LesionReport:
    """The error on ``data`` of the intact model, and with each target removed in turn."""
    baseline = evaluate_error(model, data, device)
    rows = []
    for target in lesion_targets(graph, model):
        error = None
        if target.possible:
            with lesioned(model, target):
                error = evaluate_error(model, data, device)
        change = None if error is None else error - baseline
        rows.append(LesionRow(target=target, error=error, change=change))
    return LesionReport(
        model=name or str(graph.graph["model"]), data=data.name, baseline=baseline, rows=rows
    )


__all__ = [
    "LesionReport",
    "LesionRow",
    "LesionTarget",
    "blocks",
    "lesion_report",
    "lesion_targets",
    "lesioned",
    "residual_branches",
]


def _residual(merge: str) -> bool:
    """Whether a merge op sums a residual branch onto its skip (``add``)."""
    op = get_op(merge, "merge")
    return op is not None and op.residual
