"""Which residual blocks start as an exact identity? Checked numerically (imports torch).

"Why don't extra residual layers hurt?" Because a residual block can start
as (and always fall back to) its shortcut: if its branch outputs zero, the
``add`` merge passes the shortcut through unchanged. Two ways to get there at
initialisation:

- ``zero_init_residual``: the last norm layer of each branch starts with
  weight 0 (Goyal et al. 2017; torchvision's flag; see
  :func:`resdsl.backends.init.residual_norms`);
- ``gate=rezero``: the branch is multiplied by a learnable scalar that
  starts at 0 (Bachlechner et al. 2020; ``specs/rezero.res``).

:func:`identity_report` builds the model (seeded, in training mode: the state
at step 0 of training) and, for every ``add`` merge, feeds a random tensor to
the start of its skip, runs the residual branch and the shortcut and compares
the merge's output with the shortcut's: ``exact`` when they are bit-identical
(``torch.equal``), else the largest absolute difference. It also compares the
whole model's output with that of its **skip-only path**, the same network
with every residual branch dropped (each ``add`` returns its shortcuts
alone): the relative L2 distance ``||f(x) - f_skip(x)|| / ||f(x)||`` is 0
when every block starts as the identity.

Everything runs the compiled model's own generated code: the values inside
it are read, and the fed or dropped ones substituted, through
:func:`resdsl.backends.build.observing_twin`. Segments that do not overlap run
together, in one forward pass.

>>> import resdsl
>>> spec = resdsl.loads('''
... block res(c: int) {
...     conv1: conv(c, 3, padding=1, bias=false)
...     bn1: batchnorm
...     relu
...     conv2: conv(c, 3, padding=1, bias=false)
...     bn2: batchnorm
...     skip in -> bn2 (add)
... }
... model m {
...     input [4, H=8, W=8]
...     repeat 3 { res(4) }
... }
... ''')
>>> r = identity_report(spec.graph(), zero_init_residual=True)
>>> [(b.merge, b.mechanism, b.exact) for b in r.blocks][:2]
[('0.bn2:add', 'zero-init 0.bn2', True), ('1.bn2:add', 'zero-init 1.bn2', True)]
>>> r.model_exact, r.model_distance
(True, 0.0)
>>> identity_report(spec.graph()).exact_blocks
0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.analysis.compare import shortcut_costs
from resdsl.backends.init import residual_norms, resolve_init
from resdsl.ops.merge import Merge
from resdsl.ops.registry import node_op
from resdsl.ops.shortcut import Shortcut

if TYPE_CHECKING:
    import torch
    from torch import nn

    from resdsl.backends.build import ModelOutput, Observer

#: Runs a model's generated code with an observer (see ``observing_twin``).
Run = Callable[["torch.Tensor", "Observer"], "ModelOutput"]


class BlockCheck(BaseModel):
    """One ``add`` merge: does it compute exactly its shortcut at initialisation?

    ``mechanism`` says why it should (``gate=rezero``, ``zero-init NODE``) or is
    None. ``relative_diff`` is ``||merge - shortcut|| / ||shortcut||``.
    ``in_place`` is True when the branch reads values from outside the
    segment, so the check ran on the values inside the whole network rather
    than on a fresh random input.
    """

    model_config = ConfigDict(frozen=True)

    merge: str
    block: str
    skips: list[str]
    shortcut: str
    mechanism: str | None
    exact: bool
    max_abs_diff: float
    relative_diff: float
    in_place: bool = False


class IdentityReport(BaseModel):
    """What :func:`identity_report` found."""

    model_config = ConfigDict(frozen=True)

    model: str
    init: str
    zero_init_residual: bool
    seed: int
    batch: int
    blocks: list[BlockCheck]
    exact_blocks: int
    model_distance: float
    model_max_abs_diff: float
    model_exact: bool
    explanation: str


def preds(graph: nx.DiGraph, node: str) -> list[str]:
    """A node's inputs, in input order (``index``)."""
    return sorted(graph.predecessors(node), key=lambda p: graph.edges[p, node].get("index", 0))


def residual_merges(graph: nx.DiGraph) -> list[str]:
    """The residual merges (``add``, or any merge op marked ``residual``), in graph order."""
    return [n for n, d in graph.nodes(data=True) if _is_residual_merge(d)]


def _is_residual_merge(data: Mapping[str, object]) -> bool:
    op = node_op(data)
    return isinstance(op, Merge) and op.residual


@dataclass(frozen=True)
class Segment:
    """What one merge's check evaluates: from the starts of its skips to the merge.

    ``nodes`` are the residual branch, the shortcut and the merge; ``starts``
    (in graph order) are where its skips begin. ``contained`` when every
    input of ``nodes`` is in ``nodes`` or ``starts``: the segment then runs
    on fresh random values fed to its starts.
    """

    merge: str
    inputs: tuple[str, ...]
    starts: tuple[str, ...]
    nodes: frozenset[str]
    contained: bool

    def overlaps(self, other: Segment) -> bool:
        """Would feeding one segment's starts disturb the other's values?"""
        mine, theirs = set(self.starts), set(other.starts)
        return bool(mine & (other.nodes | theirs) or theirs & self.nodes)


def _origin(graph: nx.DiGraph, node: str) -> str:
    """Walk back from a skip input through shortcut and alignment nodes to the skip's source."""
    while graph.nodes[node]["role"] in ("shortcut", "align"):
        node = preds(graph, node)[0]
    return node


def segment(graph: nx.DiGraph, merge: str, order: Mapping[str, int]) -> Segment:
    """The :class:`Segment` of an ``add`` merge."""
    inputs = preds(graph, merge)
    starts = {_origin(graph, p) for p in inputs[1:]}
    ancestors = nx.ancestors(graph, merge)
    nodes = {merge}
    for s in starts:
        nodes |= ancestors & nx.descendants(graph, s)
    nodes -= starts
    contained = all(p in nodes or p in starts for n in nodes for p in graph.predecessors(n))
    return Segment(
        merge,
        tuple(inputs),
        tuple(sorted(starts, key=order.__getitem__)),
        frozenset(nodes),
        contained,
    )


def _mechanism(graph: nx.DiGraph, merge: str, zeroed: set[str], starts: set[str]) -> str | None:
    data = graph.nodes[merge]
    if getattr(data["args"], "gate", None) == "rezero":
        return "gate=rezero"
    current = preds(graph, merge)[0]
    while current not in starts:
        d = graph.nodes[current]
        if current in zeroed:
            return f"zero-init {current}"
        if d["role"] in ("input", "merge"):
            return None
        current = preds(graph, current)[0]
    return None


def _with_sources(graph: nx.DiGraph, nodes: list[str]) -> set[str]:
    """``nodes`` and, for shortcut ops with a node of their own (zero-padding), what they
    transform: a no-op one has no statement of its own."""
    out: set[str] = set()
    for node in nodes:
        out.add(node)
        while isinstance(node_op(graph.nodes[node]), Shortcut):
            node = preds(graph, node)[0]
            out.add(node)
    return out


def _value(graph: nx.DiGraph, values: Mapping[str, torch.Tensor], node: str) -> torch.Tensor:
    """A node's recorded value; a zero-padding shortcut that computed nothing is its input."""
    while node not in values:
        node = preds(graph, node)[0]
    return values[node]


def _recorder(
    wanted: set[str], feeds: Mapping[str, torch.Tensor], values: dict[str, torch.Tensor]
) -> Observer:
    """Replace the fed nodes' values, and keep a copy of the wanted ones."""

    def observe(node: str, value: torch.Tensor) -> torch.Tensor:
        if node in feeds:
            value = feeds[node].clone()  # the network may overwrite it in place
        if node in wanted:
            values[node] = value.clone()
        return value

    return observe


def _skip_only(graph: nx.DiGraph, x: torch.Tensor) -> Observer:
    """Every ``add`` merge returns the sum of its shortcuts: the residual branches dropped."""
    inputs = {m: preds(graph, m) for m in residual_merges(graph)}
    wanted = _with_sources(graph, [p for ins in inputs.values() for p in ins[1:]])
    values: dict[str, torch.Tensor] = {graph.graph["input"]: x}

    def observe(node: str, value: torch.Tensor) -> torch.Tensor:
        ins = inputs.get(node)
        if ins is not None:
            value = _value(graph, values, ins[1])
            for p in ins[2:]:
                value = value + _value(graph, values, p)
        if node in wanted:
            values[node] = value.clone()
        return value

    return observe


def _groups(segments: list[Segment]) -> list[list[Segment]]:
    """Segments in runs of mutually independent ones (in order): one forward pass each."""
    groups: list[list[Segment]] = []
    for seg in segments:
        if groups and not any(seg.overlaps(other) for other in groups[-1]):
            groups[-1].append(seg)
        else:
            groups.append([seg])
    return groups


def _segment_values(
    graph: nx.DiGraph, run: Run, segments: list[Segment], *, seed: int, batch: int
) -> dict[str, dict[str, torch.Tensor]]:
    """For each merge, the values its check compares (the merge and its inputs)."""
    import torch

    from resdsl.backends.build import sample_input

    gen = torch.Generator().manual_seed(seed)
    feeds: dict[str, dict[str, torch.Tensor]] = {}
    for seg in segments:
        if seg.contained:
            shapes = {s: (batch, *(int(d) for d in graph.nodes[s]["shape"])) for s in seg.starts}
            feeds[seg.merge] = {s: torch.randn(shapes[s], generator=gen) for s in seg.starts}
    start = graph.graph["input"]
    x = sample_input(graph, batch, seed=seed)
    found: dict[str, dict[str, torch.Tensor]] = {}
    runs = _groups([s for s in segments if s.contained])
    in_place = [s for s in segments if not s.contained]
    if in_place:
        runs.append(in_place)
    for group in runs:
        fed = {s: t for seg in group for s, t in feeds.get(seg.merge, {}).items()}
        wanted = _with_sources(graph, [n for seg in group for n in (*seg.inputs[1:], seg.merge)])
        values: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            values[start] = fed.get(start, x)
            run(values[start], _recorder(wanted, fed, values))
        found.update((seg.merge, values) for seg in group)
    return found


def check_blocks(
    graph: nx.DiGraph,
    model: nn.Module,
    *,
    zero_init_residual: bool,
    seed: int = 0,
    batch: int = 4,
) -> list[BlockCheck]:
    """Check every ``add`` merge of a compiled model (see the module docstring)."""
    from resdsl.backends.build import observing_twin

    return _check_blocks(
        graph, observing_twin(model), zero_init_residual=zero_init_residual, seed=seed, batch=batch
    )


def _check_blocks(
    graph: nx.DiGraph, run: Run, *, zero_init_residual: bool, seed: int, batch: int
) -> list[BlockCheck]:
    import torch

    zeroed = set(residual_norms(graph)) if zero_init_residual else set()
    kinds = {s.into: s for s in shortcut_costs(graph)}
    order = {n: i for i, n in enumerate(graph.nodes)}
    segments = [segment(graph, m, order) for m in residual_merges(graph)]
    found = _segment_values(graph, run, segments, seed=seed, batch=batch)
    checks: list[BlockCheck] = []
    for seg in segments:
        got = found[seg.merge]
        out = got[seg.merge]
        shortcut = _value(graph, got, seg.inputs[1])
        for p in seg.inputs[2:]:
            shortcut = shortcut + _value(graph, got, p)
        diff = (out - shortcut).abs()
        max_abs = float(diff.max()) if diff.numel() else 0.0
        norm = float(shortcut.norm())
        rel = float((out - shortcut).norm()) / norm if norm else (0.0 if max_abs == 0 else 1.0)
        skip = kinds.get(seg.merge)
        checks.append(
            BlockCheck(
                merge=seg.merge,
                block=str(graph.nodes[seg.merge]["parent"]),
                skips=sorted({graph.edges[p, seg.merge].get("skip", "") for p in seg.inputs[1:]}),
                shortcut=skip.kind if skip else "identity",
                mechanism=_mechanism(graph, seg.merge, zeroed, set(seg.starts)),
                exact=bool(torch.equal(out, shortcut)),
                max_abs_diff=max_abs,
                relative_diff=rel,
                in_place=not seg.contained,
            )
        )
    return checks


def identity_report(
    graph: nx.DiGraph,
    *,
    zero_init_residual: bool | None = None,
    init: str | None = None,
    seed: int = 0,
    batch: int = 4,
) -> IdentityReport:
    """Build a checked graph's model (seeded); which residual blocks start as the identity?

    ``zero_init_residual`` and ``init`` override the model's own parameters of
    those names (see :mod:`resdsl.backends.init`); by default the model's own values
    apply. The model runs in training mode (batch statistics in batch norm),
    under ``torch.no_grad()``.
    """
    import torch

    from resdsl.backends.build import compile_graph, observing_twin, output_tensors, sample_input

    scheme, zero = resolve_init(graph, init, zero_init_residual)
    blocks: list[BlockCheck] = []
    distance, max_abs, exact_model = 0.0, 0.0, True
    if residual_merges(graph):  # else the skip-only path is the model itself: nothing to run
        torch.manual_seed(seed)
        module = compile_graph(graph, init=scheme, zero_init_residual=zero)
        module.train()
        run = observing_twin(module)
        x = sample_input(graph, batch, seed=seed)
        with torch.no_grad():
            # Every named output counts: the model is its skip-only path only if all agree.
            y = torch.cat([t.flatten() for t in output_tensors(module(x))])
            y_skip = torch.cat([t.flatten() for t in output_tensors(run(x, _skip_only(graph, x)))])
            exact_model = bool(torch.equal(y, y_skip))
            norm = float(y.float().norm())
            gap = float((y - y_skip).float().norm())
            max_abs = float((y - y_skip).abs().max()) if y.numel() else 0.0
        distance = gap / norm if norm else (0.0 if gap == 0 else float("inf"))
        blocks = _check_blocks(graph, run, zero_init_residual=zero, seed=seed + 1, batch=batch)
    exact_blocks = sum(b.exact for b in blocks)
    return IdentityReport(
        model=str(graph.graph["model"]),
        init=scheme,
        zero_init_residual=zero,
        seed=seed,
        batch=batch,
        blocks=blocks,
        exact_blocks=exact_blocks,
        model_distance=distance,
        model_max_abs_diff=max_abs,
        model_exact=exact_model,
        explanation=_explain(blocks, exact_blocks, distance, exact_model),
    )


def _explain(blocks: list[BlockCheck], exact: int, distance: float, exact_model: bool) -> str:
    n = len(blocks)
    if n == 0:
        return "The model has no residual (add) merges: there is no skip-only path to start from."
    mechanisms = sorted({b.mechanism.split(" ")[0] for b in blocks if b.mechanism})
    how = " and ".join(mechanisms) if mechanisms else "no zero-init or gate"
    if exact == n:
        tail = (
            "so the network starts as its skip-only path (distance 0, bit-identical output)."
            if exact_model
            else f"yet the output differs from the skip-only path by {distance:.3g} (relative L2)."
        )
        return f"All {n} residual blocks compute exactly their shortcut at initialisation ({how}), {tail}"
    return (
        f"{exact} of {n} residual blocks compute exactly their shortcut at initialisation "
        f"({how}); the others add a random function of their input, and the output is "
        f"{distance:.3g} (relative L2) away from the skip-only path."
    )


__all__ = [
    "BlockCheck",
    "IdentityReport",
    "Segment",
    "check_blocks",
    "identity_report",
    "preds",
    "residual_merges",
    "segment",
]
