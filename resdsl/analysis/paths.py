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
from resdsl.diagnostics import ResdslError
from resdsl.ops import Merge, PathRole, node_op

#: A histogram: ``(offset, counts)``; ``counts[i]`` paths have depth ``offset + i``.
Histogram = tuple[int, list[int]]


class PathReport(BaseModel):
    """Statistics of every input-to-output path of a model (see :func:`path_report`).

    Histograms map a depth ``k`` to the number of paths of that depth, as
    exact Python ints (``2**54`` for ResNet-110 is exact, not a float).
    ``always_crossed`` lists the activations that every path crosses, in
    order (a count-only report, ``histograms=False``, leaves the histograms
    empty and has everything else); ``shortest_path`` is one path with the fewest activations (and,
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
    #: False for a count-only report: the two histograms are left empty.
    histograms: bool = True

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
    """The inputs values flow from (a resize reads only its reference's shape)."""
    edges = graph._pred[node]
    preds = [p for p in edges if edges[p].get("kind") != "size"]
    return sorted(preds, key=lambda p: edges[p].get("index", 0))


#: The most histogram work :func:`path_report` does before it stops: the sum,
#: over merges, of histogram entries times their size in 64-bit words.
#: It grows as the cube of the depth: ResNet-1001 needs about 2 million, a chain
#: of 1,000 residual blocks 23 million, one of 2,800 blocks (the limit) 500 million.
MAX_HISTOGRAM_WORK = 500_000_000


class _Counts:
    """What reaches a node in count-only mode: the number of paths and their depth ranges."""

    __slots__ = ("count", "nl", "wd")

    def __init__(self, count: int, nl: tuple[int, int], wd: tuple[int, int]) -> None:
        self.count, self.nl, self.wd = count, nl, wd


#: What reaches a node: both histograms, or (count-only) a :class:`_Counts`.
_Value = tuple[Histogram, Histogram] | _Counts


class _Walk:
    """What the pass over the graph found: the output's value, the merges seen, and
    the shortest path's step back from each node."""

    def __init__(self) -> None:
        self.out: _Value | None = None
        self.back: dict[str, str | None] = {}
        self.merges = 0
        self.work = 0


def _merge(values: list[_Value]) -> _Value:
    """The paths into a node with several inputs: every input's paths."""
    if len(values) == 1:
        return values[0]
    if isinstance(values[0], _Counts):
        counts = [v for v in values if isinstance(v, _Counts)]
        return _Counts(
            sum(c.count for c in counts),
            (min(c.nl[0] for c in counts), max(c.nl[1] for c in counts)),
            (min(c.wd[0] for c in counts), max(c.wd[1] for c in counts)),
        )
    hists = [v for v in values if not isinstance(v, _Counts)]
    return _sum([h[0] for h in hists]), _sum([h[1] for h in hists])


def _shift(value: _Value, nl: int, wd: int) -> _Value:
    """The paths through a node: one activation (``nl``) or weighted layer (``wd``) more."""
    if not nl and not wd:
        return value
    if isinstance(value, _Counts):
        return _Counts(
            value.count, (value.nl[0] + nl, value.nl[1] + nl), (value.wd[0] + wd, value.wd[1] + wd)
        )
    (a, ha), (b, hb) = value
    return (a + nl, ha), (b + wd, hb)


def _cost(values: list[_Value]) -> int:
    """The work of summing these histograms: entries times 64-bit words."""
    if len(values) < 2 or isinstance(values[0], _Counts):
        return 0
    work = 0
    for v in values:
        assert not isinstance(v, _Counts)
        for _, c in v:
            # the largest count sits near the middle of a histogram or at an end: an
            # estimate that costs three look-ups, not a pass over big integers
            widest = max(c[0], c[len(c) // 2], c[-1]).bit_length()
            work += len(c) * (1 + widest // 64)
    return work


def _walk(graph: nx.DiGraph, histograms: bool, max_work: int) -> _Walk:
    """One pass over the nodes in order, merging what reaches each node's inputs.

    A node's value is dropped once its last successor has read it, so memory
    holds only the values still to be read (a chain of residual blocks keeps
    two), not one histogram per node.
    """
    start = graph.graph["input"]
    end = graph.graph["output"]
    nodes = graph.nodes
    walk = _Walk()
    back = walk.back
    values: dict[str, _Value] = {}
    readers = {n: graph.out_degree(n) for n in graph.nodes}
    # For the shortest path: (activations, nodes) of the best path to a node, and its predecessor.
    best: dict[str, tuple[int, int]] = {}
    for node in graph.nodes:
        op = node_op(nodes[node])
        role = op.path if op is not None else _NO_ROLE
        if role.merges:
            walk.merges += 1
        preds = [p for p in _preds(graph, node) if p in best]
        value: _Value
        if node == start:
            value = ((0, [1]), (0, [1])) if histograms else _Counts(1, (0, 0), (0, 0))
            cost, via = (0, 1), None
        elif not preds:
            continue  # not reachable from the input: no path goes through it
        else:
            ins = [values[p] for p in preds]
            walk.work += _cost(ins)
            if walk.work > max_work:
                raise _too_much(graph, node, max_work)
            value = _merge(ins)
            via = min(preds, key=lambda p: best[p])
            cost = (best[via][0], best[via][1] + 1)
            for p in preds:
                readers[p] -= 1
                if readers[p] == 0 and p != end:
                    del values[p]
        value = _shift(value, int(role.nonlinear), int(role.weighted))
        if role.nonlinear:
            cost = (cost[0] + 1, cost[1])
        values[node], best[node], back[node] = value, cost, via

    if end not in values:  # pragma: no cover - a checked graph's output depends on its input
        raise ValueError(f"the output {end!r} is not reachable from the input {start!r}")
    walk.out = values[end]
    return walk


def _too_much(graph: nx.DiGraph, node: str, max_work: int) -> ResdslError:
    return ResdslError.single(
        "paths-too-large",
        f"the path histograms of model '{graph.graph.get('model', '')}' grow past "
        f"{max_work:,} units of work at this merge ('{node}'): the model has too many "
        "paths of too many depths to tabulate",
        graph.nodes[node].get("span"),
        hint="count without histograms: `resdsl paths --count-only` or "
        "path_report(graph, histograms=False) gives the exact count, the fewest and most "
        "activations and weighted layers, the shortest path and the activations every "
        "path crosses",
    )


def _always_crossed(graph: nx.DiGraph, end: str) -> list[str]:
    """The activations on every input-to-output path, in order.

    A node is on every path to the output exactly when it dominates the output
    (Cooper, Harvey and Kennedy's algorithm, in networkx): no per-node path
    counts, whose big integers would grow with the model.
    """
    start = graph.graph["input"]
    flow = graph
    if any(e.get("kind") == "size" for _, _, e in graph.edges(data=True)):
        # A resize reads only its reference's shape: no path runs along a size edge.
        flow = nx.subgraph_view(graph, filter_edge=lambda u, v: graph[u][v].get("kind") != "size")
    # networkx maps the start to itself in some versions and leaves it out in others
    idom = nx.immediate_dominators(flow, start)
    chain: list[str] = [end]
    while chain[-1] != start:
        chain.append(idom[chain[-1]])
    return [n for n in reversed(chain) if is_activation(graph.nodes[n])]


def path_report(
    graph: nx.DiGraph, *, histograms: bool = True, max_work: int = MAX_HISTOGRAM_WORK
) -> PathReport:
    """Count the input-to-output paths of a checked graph and their depths, exactly.

    Never enumerates paths: the cost is one pass over the nodes plus one
    element-wise histogram sum per merge (see the module docstring).
    ``count`` equals ``sum(nonlinearity_histogram.values())``, and the
    histograms agree with a brute-force enumeration
    (``networkx.all_simple_paths``) on any graph small enough to enumerate.

    With ``histograms=False`` (``resdsl paths --count-only``) it keeps one count
    and the depth ranges per value instead of histograms: everything but the
    two histograms (left empty), for models whose histograms would exceed
    ``max_work`` (a :class:`~resdsl.diagnostics.ResdslError` at the merge
    where they do).

    >>> import resdsl
    >>> g = resdsl.load("specs/cifar_resnet.res").graph("resnet110")   # doctest: +SKIP
    >>> r = path_report(g)                                              # doctest: +SKIP
    >>> r.count == 2**54, r.min_nonlinearities, r.max_nonlinearities    # doctest: +SKIP
    (True, 55, 109)
    """
    end = graph.graph["output"]
    walk = _walk(graph, histograms, max_work)
    out = walk.out
    assert out is not None
    nl_hist: dict[int, int] = {}
    wd_hist: dict[int, int] = {}
    if isinstance(out, _Counts):
        count, (nl_lo, nl_hi), (wd_lo, wd_hi) = out.count, out.nl, out.wd
    else:
        nl_hist, wd_hist = _as_dict(out[0]), _as_dict(out[1])
        count = sum(out[0][1])
        nl_lo, nl_hi, wd_lo, wd_hi = min(nl_hist), max(nl_hist), min(wd_hist), max(wd_hist)

    shortest: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        shortest.append(cursor)
        cursor = walk.back[cursor]
    shortest.reverse()

    report = PathReport(
        model=str(graph.graph.get("model", "")),
        plain=bool(graph.graph.get("plain", False)),
        nodes=graph.number_of_nodes(),
        merges=walk.merges,
        count=count,
        min_nonlinearities=nl_lo,
        max_nonlinearities=nl_hi,
        nonlinearity_histogram=nl_hist,
        min_weighted_depth=wd_lo,
        max_weighted_depth=wd_hi,
        weighted_depth_histogram=wd_hist,
        shortest_path=shortest,
        always_crossed=_always_crossed(graph, end),
        explanation="",
        histograms=histograms,
    )
    text = explain(graph, report) + _other_outputs(graph)
    return report.model_copy(update={"explanation": text})


def _other_outputs(graph: nx.DiGraph) -> str:
    """For a model with several named outputs: which one the paths are counted to."""
    outputs: dict[str, str] = graph.graph.get("outputs") or {}
    if len(outputs) < 2:
        return ""
    first, *others = outputs
    return (
        f" Paths are counted to the first output, '{first}'; the paths to "
        f"{', '.join(repr(o) for o in others)} are not counted."
    )


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
                f"The shortest path crosses {_plural(lo, 'activation')}, the longest {hi}: the "
                f"skips ({kinds}) carry earlier features past the layers in between, so the only "
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
    "MAX_HISTOGRAM_WORK",
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
