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
the start of its skip, evaluates the graph segment up to the merge (the
residual branch and the shortcut, with the model's own modules, see
:mod:`resdsl.analysis.execute`) and compares the merge's output with the
shortcut's: ``exact`` when they are bit-identical (``torch.equal``), else the
largest absolute difference. It also compares the whole model's output with
that of its **skip-only path**, the same network with every residual branch
dropped (each ``add`` returns its shortcuts alone): the relative L2 distance
``||f(x) - f_skip(x)|| / ||f(x)||`` is 0 when every block starts as the
identity.

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
>>> r = identity_report(spec, zero_init_residual=True)
>>> [(b.merge, b.mechanism, b.exact) for b in r.blocks][:2]
[('0.bn2:add', 'zero-init 0.bn2', True), ('1.bn2:add', 'zero-init 1.bn2', True)]
>>> r.model_exact, r.model_distance
(True, 0.0)
>>> identity_report(spec).exact_blocks
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.analysis.compare import shortcut_costs
from resdsl.analysis.execute import preds, run_graph, run_nodes
from resdsl.backends.init import residual_norms, resolve_init

if TYPE_CHECKING:
    import torch
    from torch import nn

    from resdsl.api import Spec


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


def _origin(graph: nx.DiGraph, node: str) -> str:
    """Walk back from a skip input through shortcut and alignment nodes to the skip's source."""
    while graph.nodes[node]["role"] in ("shortcut", "align"):
        node = preds(graph, node)[0]
    return node


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


def check_blocks(
    graph: nx.DiGraph,
    model: nn.Module,
    *,
    zero_init_residual: bool,
    seed: int = 0,
    batch: int = 4,
    values: dict[str, torch.Tensor] | None = None,
) -> list[BlockCheck]:
    """Check every ``add`` merge of a compiled model (see the module docstring).

    ``values`` are the node values of a full run, used for segments that are
    not self-contained (computed on demand when needed).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    zeroed = set(residual_norms(graph)) if zero_init_residual else set()
    kinds = {s.into: s for s in shortcut_costs(graph)}
    order = {n: i for i, n in enumerate(graph.nodes)}
    checks: list[BlockCheck] = []
    for merge, data in graph.nodes(data=True):
        if data["op"] != "add" or data["role"] != "merge":
            continue
        inputs = preds(graph, merge)
        starts = {_origin(graph, p) for p in inputs[1:]}
        ancestors = nx.ancestors(graph, merge)
        segment = {merge}
        for s in starts:
            segment |= ancestors & nx.descendants(graph, s)
        segment -= starts
        contained = all(p in segment or p in starts for n in segment for p in graph.predecessors(n))
        with torch.no_grad():
            if contained:
                feed = {
                    s: torch.randn(
                        (batch, *(int(d) for d in graph.nodes[s]["shape"])), generator=gen
                    )
                    for s in sorted(starts, key=order.__getitem__)
                }
                got = run_nodes(graph, model, feed, segment)
            else:
                if values is None:
                    x = _sample(graph, batch, seed)
                    values = run_nodes(graph, model, {graph.graph["input"]: x}, graph.nodes)
                got = values
            out = got[merge]
            shortcut = got[inputs[1]]
            for p in inputs[2:]:
                shortcut = shortcut + got[p]
            diff = (out - shortcut).abs()
            max_abs = float(diff.max()) if diff.numel() else 0.0
            norm = float(shortcut.norm())
            rel = float((out - shortcut).norm()) / norm if norm else (0.0 if max_abs == 0 else 1.0)
            exact = bool(torch.equal(out, shortcut))
        skip = kinds.get(merge)
        checks.append(
            BlockCheck(
                merge=merge,
                block=str(data["parent"]),
                skips=sorted({graph.edges[p, merge].get("skip", "") for p in inputs[1:]}),
                shortcut=skip.kind if skip else "identity",
                mechanism=_mechanism(graph, merge, zeroed, starts),
                exact=exact,
                max_abs_diff=max_abs,
                relative_diff=rel,
                in_place=not contained,
            )
        )
    return checks


def _sample(graph: nx.DiGraph, batch: int, seed: int) -> torch.Tensor:
    from resdsl.backends.build import sample_input

    return sample_input(graph, batch, seed=seed)


def identity_report(
    spec: Spec,
    model: str | None = None,
    /,
    *,
    zero_init_residual: bool | None = None,
    init: str | None = None,
    seed: int = 0,
    batch: int = 4,
    **params: Any,
) -> IdentityReport:
    """Build a model (seeded) and check which residual blocks start as the identity.

    ``zero_init_residual`` and ``init`` override the model's own parameters of
    those names (see :mod:`resdsl.backends.init`); by default the model's own values
    apply. The model runs in training mode (batch statistics in batch norm),
    under ``torch.no_grad()``.
    """
    import torch

    from resdsl.backends.build import compile_graph

    graph = spec.graph(model, **params)
    scheme, zero = resolve_init(graph, init, zero_init_residual)
    if not any(d["op"] == "add" and d["role"] == "merge" for _, d in graph.nodes(data=True)):
        # No residual merge: the skip-only path is the model itself; nothing to run.
        return IdentityReport(
            model=str(graph.graph["model"]),
            init=scheme,
            zero_init_residual=zero,
            seed=seed,
            batch=batch,
            blocks=[],
            exact_blocks=0,
            model_distance=0.0,
            model_max_abs_diff=0.0,
            model_exact=True,
            explanation=_explain([], 0, 0.0, True),
        )
    torch.manual_seed(seed)
    module = compile_graph(graph, spec=spec, params=params, init=scheme, zero_init_residual=zero)
    module.train()
    x = _sample(graph, batch, seed)
    with torch.no_grad():
        y = module(x)
        y_skip = run_graph(graph, module, x, drop_residual=True)
        exact_model = bool(torch.equal(y, y_skip))
        norm = float(y.float().norm())
        gap = float((y - y_skip).float().norm())
        max_abs = float((y - y_skip).abs().max()) if y.numel() else 0.0
    distance = gap / norm if norm else (0.0 if gap == 0 else float("inf"))
    blocks = check_blocks(graph, module, zero_init_residual=zero, seed=seed + 1, batch=batch)
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
        return "The model has no residual (add) merges: there is no identity path to start from."
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


__all__ = ["BlockCheck", "IdentityReport", "check_blocks", "identity_report"]
