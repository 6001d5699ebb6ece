"""The elaborated graph: a ``networkx.DiGraph`` and the contract its data follows.

Every back end (code generation, rendering, analyses) reads only what is
described here; none of them reaches back into the parser.

Graph attributes (``g.graph``):

- ``model``: the model's name; ``plain``: True for a plain twin.
- ``symbols``: ``{symbol: sample}`` for the symbolic input dimensions.
- ``input``, ``output``: the node ids of the model's input and output values.
- ``scopes``: ``{path: ScopeInfo}`` for the model (path ``""``), every block
  instance, every labelled group and every shortcut container, in creation order.
  A block instance (also one used as a shortcut) has an ``instance`` key, a
  string such as ``"basic(planes=64, stride=1) on [64, H/4=56, W/4=56]"``: the
  block, its arguments, its input shape (a symbolic size as its readable form
  and sample), and `` in a shortcut`` when it sits on a skip path. Two scopes
  with the same key have the same structure relative to their paths (the same
  nodes by relative name, with the same ops, arguments, roles and shapes, and
  the same edges among them), so a back end may build or draw one and reuse it;
  different keys may still have the same structure. Other scopes have ``None``.
- ``constraints``: ``[Constraint]``, the conditions on symbolic sizes.
- A scope's ``params`` (:class:`ParamTensor`) are learnable tensors of its
  module that no node owns (``param NAME [dims] = INIT``); nodes and merges
  of that scope use them by name.
- ``valid_sizes``, ``params``, ``macs``: filled by the passes.

Nodes are inserted in execution order (a topological order in which every
sequence reads as written). Node attributes:

- ``op``: ``"input"`` for the input node, else the name of an op in the op
  registry (:mod:`resdsl.ops.registry`), of the kind the node's ``role`` says:
  a merge for ``role="merge"``, an alignment for ``"align"``, a shortcut with a
  node of its own (``"zeropad"``) or a layer for ``"shortcut"``, a layer
  otherwise. Back ends and analyses ask the op's definition
  (``resdsl.ops.node_op(data)``) what it does; none compares op names.
- ``args``: a pydantic model of the op's validated arguments.
- ``scope``: the dotted module path of the node (``layer1.0.conv1``); for nodes
  without a module of their own, a path that does not collide with modules.
- ``parent``: the scope the node belongs to (``layer1.0``; ``""`` for the model).
- ``name``: the node's name inside its parent (a label or a position).
- ``role``: ``"input"``, ``"layer"``, ``"shortcut"`` (a shortcut projection or
  zero-padding on a skip path), ``"align"``, ``"merge"``, ``"split"`` (an arm's
  share of a ``parallel``'s input), ``"resize"`` (``upsample(size=shape(REF))``).
- ``span``: the spec text it came from.
- ``shape``: its output shape without batch, ``int`` or ``SymDim`` per dimension.
- ``params``, ``macs``: static costs (filled by :mod:`resdsl.passes.costs`).

Edge attributes: ``kind`` is ``"main"`` (sequence), ``"skip"`` (a skip
path, from the source value through any shortcut into the merge) or ``"size"``
(a resize reads only the shape of that input: no path runs along it); skip edges
also carry ``merge`` (the name of the merge op in the registry: ``"add"``,
``"concat"``, ``"mul"``, or a user's), ``shortcut`` (what elaboration resolved
the skip's shortcut to: a shortcut op's name, ``"identity"``, ``"projection"``
or ``"zeropad"``, or the name of the user block it instantiated; ``"identity"``
for merges without shortcuts) and ``skip`` (the skip's label as a path,
``layer1.0.downsample``; it is a scope in ``g.graph["scopes"]`` only when the
skip owns modules, i.e. a projection or a user-block shortcut). ``index`` is the position of the edge's value among the
target's inputs (concat order: skips first, in the order written, then the
destination).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.diagnostics import Diagnostic
from resdsl.ir.dims import DimExpr
from resdsl.source import Span

ScopeKind = Literal["model", "block", "group", "shortcut"]


@dataclass(frozen=True)
class ParamTensor:
    """A learnable tensor declared with ``param NAME [dims] = INIT`` on a scope.

    ``init`` is ``"fill"`` (every element ``value``: a number, ``zeros``,
    ``ones``) or ``"normal"`` (mean 0, standard deviation ``value``).
    """

    shape: tuple[int, ...]
    init: Literal["fill", "normal"]
    value: float
    span: Span

    @property
    def numel(self) -> int:
        out = 1
        for d in self.shape:
            out *= d
        return out


@dataclass
class ScopeInfo:
    """A named scope: the model, a block instance, a group, or a skip's shortcut."""

    path: str
    kind: ScopeKind
    span: Span
    block: str | None = None  # the block's name, for block instances
    args: dict[str, Any] = field(default_factory=dict)  # the block's arguments
    input: str | None = None  # node id of the value flowing in
    output: str | None = None  # node id of the value flowing out
    #: For block instances: equal keys, equal structure (see the module docstring).
    instance: str | None = None
    #: The scope's learnable tensors (``param``), by name: ``state_dict`` keys ``path.NAME``.
    params: dict[str, ParamTensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Constraint:
    """A condition the symbolic input sizes must satisfy.

    ``kind == "ge"``: ``left >= right`` (a size must stay positive);
    ``kind == "eq"``: ``left == right`` (merged tensors must match, or a size
    that sizes a parameter must stay at its sample value).
    """

    kind: Literal["ge", "eq"]
    left: DimExpr | int
    right: DimExpr | int
    node: str
    what: str


class NoArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MergeArgs(BaseModel):
    """Arguments of a merge node: how the residual branch is scaled or gated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scale: float | None = None
    gate: Literal["rezero"] | None = None
    #: ``gate=NAME``: the scope's ``param`` that multiplies the residual branch.
    gate_param: str | None = None
    #: ``drop_path=P``: stochastic depth on the residual branch (training only).
    drop_path: float = 0.0


class ConcatArgs(BaseModel):
    """Arguments of a concat node: the dimension it joins along (0: channels; -1: the last)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    dim: int = 0


class ZeroPadArgs(BaseModel):
    """ResNet option A: subsample by ``stride``, zero-pad channels before/after."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    stride: tuple[int, ...]
    pad_before: int
    pad_after: int


class AlignArgs(BaseModel):
    """Centre-crop or zero-pad spatial dims: ``(before, after)`` per spatial dim."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    amounts: tuple[tuple[int, int], ...]


def new_graph(model: str) -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph.update(
        model=model,
        plain=False,
        symbols={},
        input="input",
        output="input",
        scopes={},
        constraints=[],
    )
    return g


class OpTable(Protocol):
    """Where ``lint`` looks ops up: the op registry (``resdsl.ops.registry``)."""

    def node_op(self, data: Mapping[str, Any], /) -> object | None: ...

    def op_names(self, kind: Any, /) -> list[str]: ...


def lint(g: nx.DiGraph, ops: OpTable) -> list[Diagnostic]:
    """Check the graph's invariants; each problem names the node and what is wrong.

    ``ops`` is the op registry (``resdsl.ops.registry``; the graph layer does
    not import it). A non-empty result is a bug in resdsl, not in the spec.
    """
    problems: list[Diagnostic] = []

    def bad(node: str, message: str) -> None:
        problems.append(Diagnostic("graph-lint", f"node {node!r}: {message}"))

    if not nx.is_directed_acyclic_graph(g):
        problems.append(Diagnostic("graph-lint", "the graph has a cycle"))
    required = ("op", "args", "scope", "parent", "name", "role", "span", "shape")
    order = {n: i for i, n in enumerate(g.nodes)}
    for node, data in g.nodes(data=True):
        missing = [k for k in required if k not in data]
        if missing:
            bad(node, f"missing attributes {missing}")
            continue
        if data["role"] != "input" and ops.node_op(data) is None:
            bad(node, f"op {data['op']!r} (role {data['role']!r}) is not in the op registry")
        for pred in g.predecessors(node):
            if order[pred] > order[node]:
                bad(node, f"input {pred!r} is inserted after it")
        indices = sorted(g.edges[p, node].get("index", 0) for p in g.predecessors(node))
        if indices != list(range(len(indices))):
            bad(node, f"input indices {indices} are not 0..{len(indices) - 1}")
    merges = set(ops.op_names("merge"))
    for u, v, data in g.edges(data=True):
        if data.get("kind") not in ("main", "skip", "size"):
            bad(v, f"edge from {u!r} has kind {data.get('kind')!r}")
        if data.get("kind") == "skip" and data.get("merge") not in merges:
            bad(v, f"skip edge from {u!r} has no merge kind")
        if data.get("kind") == "skip" and not isinstance(data.get("shortcut"), str):
            bad(v, f"skip edge from {u!r} does not say what its shortcut resolved to")
    return problems
