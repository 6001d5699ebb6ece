"""Input-to-output paths: how many, and how many activations each one crosses.

A network with skip edges is a DAG with many paths from its input to its
output; Veit et al. (2016, "Residual networks behave like ensembles of
relatively shallow networks") read a ResNet of ``n`` blocks as ``2**n`` paths
whose lengths follow Binomial(n, 1/2). :func:`path_report` counts them
exactly, for any checked graph, without enumerating a single path:

- the **nonlinearity depth** of a path is the number of activation layers
  on it (nodes whose layer has ``nonlinear=True``: ``relu``, ``gelu``, ...);
- its **weighted depth** is the number of weighted layers on it (``conv``,
  ``conv_transpose``, ``linear``, ``attention``: category ``"weighted"``),
  Veit et al.'s effective depth.

The counts come from dynamic programming over the DAG in insertion order
(a topological order): each node holds a histogram, a list of exact Python
ints indexed by depth. An activation shifts its input's histogram by one, a
merge sums its inputs' histograms element-wise, and every other node with one
input shares its input's list. A histogram is stored as ``(offset, counts)``
so a shift costs nothing; the work is one element-wise sum per merge, which is
why pre-activation ResNet-1001 (``2**333`` paths) takes milliseconds.

Pure: no torch.

>>> import resdsl
>>> spec = resdsl.loads('''
... block res(c: int) {
...     conv1: conv(c, 3, padding=1)
...     relu
...     conv2: conv(c, 3, padding=1)
...     skip in -> conv2 (add)
...     relu
... }
... model m {
...     input [8, H=8, W=8]
...     repeat 3 { res(8) }
... }
... ''')
>>> report = path_report(spec.graph())
>>> report.count, report.min_nonlinearities, report.max_nonlinearities
(8, 3, 6)
>>> report.nonlinearity_histogram
{3: 1, 4: 3, 5: 3, 6: 1}
>>> report.weighted_depth_histogram
{0: 1, 2: 3, 4: 3, 6: 1}
>>> print(report.explanation)
Every path crosses at least 3 activations: the relu after each of the 3 merges sits on the skip-only path.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import add
from pathlib import Path

import networkx as nx
from pydantic import BaseModel, ConfigDict

from resdsl.analysis.tables import format_count, share
from resdsl.ops import Merge, PathRole, node_op

#: A histogram: ``(offset, counts)``; ``counts[i]`` paths have depth ``offset + i``.
Histogram = tuple[int, list[int]]


class PathReport(BaseModel):
    """Statistics of every input-to-output path of a model (see :func:`path_report`).

    Histograms map a depth ``k`` to the number of paths of that depth, as
    exact Python ints (``2**54`` for ResNet-110 is exact, not a float).
    ``always_crossed`` lists the activations that every path crosses, in
    order; ``shortest_path`` is one path with the fewest activations (and,
    among those, the fewest nodes), from the input node to the output node.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    plain: bool
    nodes: int
    merges: int
    count: int
    min_nonlinearities: int
    max_nonlinearities: int
    nonlinearity_histogram: dict[int, int]
    min_weighted_depth: int
    max_weighted_depth: int
    weighted_depth_histogram: dict[int, int]
    shortest_path: list[str]
    always_crossed: list[str]
    explanation: str

    def weighted_depth_range(self, share: float = 0.95) -> tuple[int, int]:
        """The narrowest central range of weighted depths holding ``share`` of all paths.

        Trims up to ``(1 - share) / 2`` of the paths from each end, exactly
        (integer arithmetic on the counts).

        >>> r = PathReport(model="m", plain=False, nodes=0, merges=0, count=4,
        ...     min_nonlinearities=0, max_nonlinearities=0, nonlinearity_histogram={0: 4},
        ...     min_weighted_depth=0, max_weighted_depth=2,
        ...     weighted_depth_histogram={0: 1, 1: 2, 2: 1}, shortest_path=[],
        ...     always_crossed=[], explanation="")
        >>> r.weighted_depth_range(0.5)
        (1, 1)
        """
        return _central_range(self.weighted_depth_histogram, self.count, share)

    def __str__(self) -> str:
        """The report ``resdsl paths`` prints (see :mod:`resdsl.analysis.paths_text`)."""
        from resdsl.analysis.paths_text import report_lines

        return "\n".join(report_lines(self))

    def __repr__(self) -> str:
        from resdsl.analysis.paths_text import report_repr

        return report_repr(self)

    def _repr_html_(self) -> str:
        from resdsl.analysis.paths_text import report_html

        return report_html(self)


def is_activation(data: dict[str, object]) -> bool:
    """Does this node count towards a path's nonlinearity depth?"""
    op = node_op(data)
    return op is not None and op.path.nonlinear


def is_weighted(data: dict[str, object]) -> bool:
    """Is this node a weighted layer (conv, conv_transpose, linear, attention)?"""
    op = node_op(data)
    return op is not None and op.path.weighted


_NO_ROLE = PathRole()


def _sum(hists: Sequence[Histogram]) -> Histogram:
    """The element-wise sum of histograms (a merge: paths from every input)."""
    if len(hists) == 1:
        return hists[0]
    lo = min(o for o, _ in hists)
    hi = max(o + len(c) for o, c in hists)
    out = [0] * (hi - lo)
    for o, c in hists:
        a = o - lo
        b = a + len(c)
        out[a:b] = map(add, out[a:b], c)
    return lo, out


def _as_dict(hist: Histogram) -> dict[int, int]:
    offset, counts = hist
    return {offset + i: c for i, c in enumerate(counts) if c}


def _central_range(hist: dict[int, int], total: int, share: float) -> tuple[int, int]:
    keys = sorted(hist)
    if not keys:
        return (0, 0)
    # Paths that may be trimmed from each end: floor(total * (1 - share) / 2), exactly.
    num, den = (1 - share).as_integer_ratio()
    trim = total * num // (2 * den)
    lo_i, acc = 0, 0
    while lo_i < len(keys) - 1 and acc + hist[keys[lo_i]] <= trim:
        acc += hist[keys[lo_i]]
        lo_i += 1
    hi_i, acc = len(keys) - 1, 0
    while hi_i > lo_i and acc + hist[keys[hi_i]] <= trim:
        acc += hist[keys[hi_i]]
        hi_i -= 1
    return keys[lo_i], keys[hi_i]


def _preds(graph: nx.DiGraph, node: str) -> list[str]:
    return sorted(graph.predecessors(node), key=lambda p: graph.edges[p, node].get("index", 0))


class _Walk:
    """Per node reachable from the input: is it an activation, the histograms of the
    paths reaching it (nonlinearities, weighted depth), and the shortest path's step back."""

    def __init__(self) -> None:
        self.act: dict[str, bool] = {}
        self.nl: dict[str, Histogram] = {}
        self.wd: dict[str, Histogram] = {}
        self.back: dict[str, str | None] = {}
        self.merges = 0


def _walk(graph: nx.DiGraph) -> _Walk:
    """One pass over the nodes in order, summing the histograms of each node's inputs."""
    start = graph.graph["input"]
    end = graph.graph["output"]
    nodes = graph.nodes
    walk = _Walk()
    act, nl, wd, back = walk.act, walk.nl, walk.wd, walk.back
    # For the shortest path: (activations, nodes) of the best path to a node, and its predecessor.
    best: dict[str, tuple[int, int]] = {}
    for node in graph.nodes:
        data = nodes[node]
        op = node_op(data)
        role = op.path if op is not None else _NO_ROLE
        is_act = act[node] = role.nonlinear
        is_w = role.weighted
        if role.merges:
            walk.merges += 1
        preds = [p for p in _preds(graph, node) if p in nl]
        if node == start:
            h_nl: Histogram = (0, [1])
            h_wd: Histogram = (0, [1])
            cost, via = (0, 1), None
        elif not preds:
            continue  # not reachable from the input: no path goes through it
        else:
            h_nl = _sum([nl[p] for p in preds])
            h_wd = _sum([wd[p] for p in preds])
            via = min(preds, key=lambda p: best[p])
            cost = (best[via][0], best[via][1] + 1)
        if is_act:
            h_nl = (h_nl[0] + 1, h_nl[1])
            cost = (cost[0] + 1, cost[1])
        if is_w:
            h_wd = (h_wd[0] + 1, h_wd[1])
        nl[node], wd[node], best[node], back[node] = h_nl, h_wd, cost, via

    if end not in nl:  # pragma: no cover - a checked graph's output depends on its input
        raise ValueError(f"the output {end!r} is not reachable from the input {start!r}")
    return walk


def path_report(graph: nx.DiGraph) -> PathReport:
    """Count the input-to-output paths of a checked graph and their depths, exactly.

    Never enumerates paths: the cost is one pass over the nodes plus one
    element-wise histogram sum per merge (see the module docstring).
    ``count`` equals ``sum(nonlinearity_histogram.values())``, and the
    histograms agree with a brute-force enumeration
    (``networkx.all_simple_paths``) on any graph small enough to enumerate.

    >>> import resdsl
    >>> g = resdsl.load("specs/cifar_resnet.res").graph("resnet110")   # doctest: +SKIP
    >>> r = path_report(g)                                              # doctest: +SKIP
    >>> r.count == 2**54, r.min_nonlinearities, r.max_nonlinearities    # doctest: +SKIP
    (True, 55, 109)
    """
    end = graph.graph["output"]
    walk = _walk(graph)
    nl, act = walk.nl, walk.act
    nl_out, wd_out = nl[end], walk.wd[end]
    count = sum(nl_out[1])

    # Paths from each node to the output, to find the activations every path crosses.
    to_end: dict[str, int] = {}
    for node in reversed(list(graph.nodes)):
        to_end[node] = 1 if node == end else sum(to_end[s] for s in graph.successors(node))
    always = [n for n in nl if act[n] and to_end[n] and sum(nl[n][1]) * to_end[n] == count]

    shortest: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        shortest.append(cursor)
        cursor = walk.back[cursor]
    shortest.reverse()

    nl_hist, wd_hist = _as_dict(nl_out), _as_dict(wd_out)
    report = PathReport(
        model=str(graph.graph.get("model", "")),
        plain=bool(graph.graph.get("plain", False)),
        nodes=graph.number_of_nodes(),
        merges=walk.merges,
        count=count,
        min_nonlinearities=min(nl_hist),
        max_nonlinearities=max(nl_hist),
        nonlinearity_histogram=nl_hist,
        min_weighted_depth=min(wd_hist),
        max_weighted_depth=max(wd_hist),
        weighted_depth_histogram=wd_hist,
        shortest_path=shortest,
        always_crossed=always,
        explanation="",
    )
    return report.model_copy(update={"explanation": explain(graph, report)})


def _names(nodes: list[str], limit: int = 6) -> str:
    if len(nodes) <= limit:
        return ", ".join(nodes)
    return ", ".join(nodes[: limit - 1]) + f", ... ({len(nodes) - limit + 1} more), " + nodes[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def explain(graph: nx.DiGraph, report: PathReport) -> str:
    """One or two sentences saying why the shortest path crosses the activations it does."""
    lo, hi = report.min_nonlinearities, report.max_nonlinearities
    if report.count == 1:
        return (
            f"There is a single input-to-output path (no skip edges): every signal crosses "
            f"all {_plural(lo, 'activation')} and {_plural(report.max_weighted_depth, 'weighted layer')}."
        )
    always = report.always_crossed
    after_merge = [
        n for n in always if any(graph.nodes[p]["role"] == "merge" for p in graph.predecessors(n))
    ]
    merges = [op for _, d in graph.nodes(data=True) if isinstance(op := node_op(d), Merge)]
    long_skips = bool(merges) and all(op.long_skip for op in merges)
    kinds = "/".join(sorted({op.name for op in merges}))
    if after_merge:
        ops = sorted({str(graph.nodes[n]["op"]) for n in after_merge})
        others = len(always) - len(after_merge)
        text = (
            f"Every path crosses at least {_plural(lo, 'activation')}: the {'/'.join(ops)} after "
            f"each of the {len(after_merge)} merges sits on the skip-only path"
        )
        if others:
            text += f", plus {others} outside the residual blocks ({_names([n for n in always if n not in after_merge])})"
        return text + "."
    if not always:
        return (
            f"The shortest path crosses {_plural(lo, 'activation')}: a skip carries the input "
            f"past every nonlinearity (the longest path crosses {hi})."
        )
    if lo == len(always):
        if long_skips:
            return (
                f"The shortest path crosses {_plural(lo, 'activation')}, the longest {hi}: the long "
                f"skips ({kinds}) carry early features straight to the decoder, so the only "
                f"activations every path crosses are {_names(always)}."
            )
        return (
            f"The shortest path crosses {_plural(lo, 'activation')}, the longest {hi}: no "
            f"activation follows a merge (they sit inside the residual branches, as in "
            f"pre-activation blocks), so the skip-only path (every skip, no branch) crosses none of them; the only "
            f"activations every path crosses are {_names(always)}."
        )
    return (
        f"The shortest path crosses {_plural(lo, 'activation')}, the longest {hi}; "
        f"{_plural(len(always), 'activation')} lie on every path ({_names(always)})."
    )


def plot(
    reports: Sequence[PathReport],
    path: str | Path,
    *,
    title: str | None = None,
    format: str | None = None,
) -> None:
    """Bar charts of both histograms (share of paths per depth), one colour per report.

    Shares rather than counts, so a ResNet-1001 (counts near ``2**333``) plots
    as easily as a ResNet-20. Needs matplotlib (``pip install 'resdsl[plot]'``);
    imports no torch. ``format`` defaults to the file's extension.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    panels = [
        ("nonlinearity_histogram", "activations on the path"),
        ("weighted_depth_histogram", "weighted layers on the path (effective depth)"),
    ]
    for ax, (field, xlabel) in zip(axes, panels, strict=True):
        for i, report in enumerate(reports):
            hist: dict[int, int] = getattr(report, field)
            keys = sorted(hist)
            twin = " (plain twin)" if report.plain else ""
            label = f"{report.model}{twin}: {format_count(report.count, compact=True)} paths"
            ax.bar(
                keys,
                [100 * share(hist[k], report.count) for k in keys],
                width=1.0,
                alpha=0.6,
                color=colors[i % len(colors)],
                label=label,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of paths (%)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    names = " vs ".join(r.model + (" (plain twin)" if r.plain else "") for r in reports)
    fig.suptitle(title or f"{names}: input-to-output paths by depth", fontsize=11)
    fig.tight_layout()
    fig.savefig(str(path), format=format)
    plt.close(fig)


__all__ = [
    "Histogram",
    "PathReport",
    "explain",
    "format_count",
    "is_activation",
    "is_weighted",
    "path_report",
    "plot",
    "share",
]
