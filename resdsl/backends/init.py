"""Initialisation schemes: how a compiled model's weights start (pure; no torch here).

Every layer starts with PyTorch's default initialisation (each ``nn`` module's
own ``reset_parameters``). A model asks for a common scheme by declaring
ordinary parameters with these names:

- ``init: str = "default"`` -- ``"default"`` keeps PyTorch's defaults;
  ``"kaiming"`` is torchvision's ResNet scheme: every convolution weight
  (``nn.Conv1d/2d/3d``; transposed convolutions keep their default) gets
  ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, every batch or
  group norm with affine parameters gets weight 1 and bias 0, and linear
  layers keep their default.
- ``zero_init_residual: bool = false`` -- zero the weight of the last norm
  layer on the residual branch of every ``add`` merge, so each residual block
  starts as its shortcut (torchvision's ``zero_init_residual=True``; Goyal et
  al. 2017). See :func:`residual_norms` for which norm that is.

``resdsl.backends.build.compile_graph(graph, init=..., zero_init_residual=...)`` and the
CLI's ``--init`` / ``--zero-init-residual`` override the model's values (and
work for any model). The chosen scheme is written into the generated model
class's ``__init__``, so the standalone source initialises exactly as the
in-memory module does::

    model resnet(depths: list, init: str = "kaiming", zero_init_residual: bool = false) {
        ...
    }

>>> import resdsl
>>> spec = resdsl.loads('''
... model m(init: str = "kaiming") {
...     input [3, 8, 8]
...     conv(4, 3)
... }
... ''')
>>> resolve_init(spec.graph())
('kaiming', False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx

from resdsl.diagnostics import ResdslError
from resdsl.ir.names import INIT_SCHEMES
from resdsl.ops import Merge, node_op

SCHEMES = INIT_SCHEMES

#: Norm ops and the argument that says whether they have a weight.
NORM_AFFINE = {
    "batchnorm": "affine",
    "groupnorm": "affine",
    "instancenorm": "affine",
    "layernorm": "elementwise_affine",
}


def resolve_init(
    graph: nx.DiGraph, init: str | None = None, zero_init_residual: bool | None = None
) -> tuple[str, bool]:
    """The scheme and the ``zero_init_residual`` flag for a graph.

    Keyword overrides win; otherwise the model's own ``init`` and
    ``zero_init_residual`` parameters, if it declares them; otherwise
    ``("default", False)``. Raises :class:`ResdslError` for an unknown scheme.
    """
    info = graph.graph.get("scopes", {}).get("")
    args: dict[str, Any] = dict(info.args) if info is not None else {}
    span = info.span if info is not None else None
    scheme = init if init is not None else args.get("init", "default")
    zero = (
        zero_init_residual
        if zero_init_residual is not None
        else args.get("zero_init_residual", False)
    )
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ResdslError.single(
            "bad-init",
            f"unknown initialisation scheme {scheme!r}",
            span if init is None else None,
            hint=f"init is one of: {', '.join(repr(s) for s in SCHEMES)}",
        )
    if not isinstance(zero, bool):
        raise ResdslError.single(
            "bad-init",
            f"zero_init_residual must be a bool, got {zero!r}",
            span if zero_init_residual is None else None,
        )
    return scheme, zero


def _preds(graph: nx.DiGraph, node: str) -> list[str]:
    return sorted(graph.predecessors(node), key=lambda p: graph.edges[p, node].get("index", 0))


def _main_input(graph: nx.DiGraph, node: str) -> str | None:
    preds = _preds(graph, node)
    return preds[0] if preds else None


def residual_norms(graph: nx.DiGraph) -> list[str]:
    """The norm node that ``zero_init_residual`` zeroes for each ``add`` merge, in order.

    For each ``add`` merge, start at its main input (the residual branch's
    output, input index 0) and walk backwards along main inputs (index 0)
    through the branch. The first norm layer met that has a weight
    (``batchnorm``/``groupnorm``/``instancenorm`` with ``affine``, ``layernorm``
    with ``elementwise_affine``) is "the last norm layer on the residual
    branch": ``bn2`` of a torchvision basic block, ``bn3`` of a bottleneck,
    ``bn3`` of a pre-activation unit (whose branch ends in ``conv3``; zeroing
    ``bn3`` zeroes ``conv3``'s input). The walk stops without a result at the
    start of the branch (where a skip into the merge starts), at another merge
    (a branch ending in a nested residual block), or at the model input; such a
    merge is left alone. Gated merges (``gate=rezero``) already start as the
    identity and are left alone too.

    >>> import resdsl
    >>> spec = resdsl.loads('''
    ... model m {
    ...     input [8, 16, 16]
    ...     conv1: conv(8, 3, padding=1)
    ...     bn1:   batchnorm
    ...            relu
    ...     conv2: conv(8, 3, padding=1)
    ...     skip in -> conv2 (add)
    ... }
    ... ''')
    >>> residual_norms(spec.graph())  # conv2 ends the branch: the walk passes it to bn1
    ['bn1']
    """
    out: list[str] = []
    for node, data in graph.nodes(data=True):
        merge = node_op(data)
        if not isinstance(merge, Merge) or not merge.residual or merge.has_gate(data["args"]):
            continue  # only an ungated residual sum starts as the identity with a zero norm
        preds = _preds(graph, node)
        starts: set[str] = set()
        for p in preds[1:]:
            origin: str | None = p
            while origin is not None and graph.nodes[origin]["role"] in ("shortcut", "align"):
                origin = _main_input(graph, origin)
            if origin is not None:
                starts.add(origin)
        current: str | None = preds[0] if preds else None
        while current is not None and current not in starts:
            d = graph.nodes[current]
            if d["role"] in ("input", "merge"):
                break
            flag = NORM_AFFINE.get(d["op"])
            if flag is not None and d["role"] == "layer" and getattr(d["args"], flag, False):
                if current not in out:
                    out.append(current)
                break
            current = _main_input(graph, current)
    return out


def init_lines(
    graph: nx.DiGraph,
    scheme: str,
    zero_init_residual: bool,
    module_path: Callable[[str], str],
) -> list[str]:
    """Source lines for the end of the model's ``__init__`` (indented as its body).

    ``module_path`` maps a node id to its module path (``layer1.0.bn2``).

    >>> import resdsl
    >>> graph = resdsl.loads("model m { input [3, 8, 8]; conv(4, 3) }").graph()
    >>> init_lines(graph, "default", False, str)
    []
    >>> init_lines(graph, "kaiming", False, str)[1]
    'for m in self.modules():'
    """
    lines: list[str] = []
    if scheme == "kaiming":
        lines += [
            '# init="kaiming": torchvision\'s scheme (He et al. 2015: fan_out, for ReLU)',
            "for m in self.modules():",
            "    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):",
            '        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")',
            "    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, "
            "nn.GroupNorm)) and m.affine:",
            "        nn.init.constant_(m.weight, 1)",
            "        nn.init.constant_(m.bias, 0)",
        ]
    if zero_init_residual:
        norms = [module_path(n) for n in residual_norms(graph)]
        lines.append(
            "# zero_init_residual: the last norm of each residual branch starts at 0, "
            "so each block starts as its shortcut"
        )
        if not norms:
            lines.append("# (no residual branch here ends in a norm layer with a weight)")
        else:
            lines.append("for name in (")
            lines += [f"    {path!r}," for path in norms]
            lines.append("):")
            lines.append("    nn.init.zeros_(self.get_submodule(name).weight)")
    return lines
