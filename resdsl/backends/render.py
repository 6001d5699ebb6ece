"""Skip-path diagrams: the checked graph as DOT text (pure), Graphviz only at the edge.

:func:`to_dot` is a pure function of the checked graph (see :mod:`resdsl.ir.graph`)
and the options: the same spec gives the same bytes, with no dependence on
hashing, dict order or object ids, and no Graphviz needed. Only
:func:`dot_to_image` (and :func:`render_graph` / :func:`export` when asked for an
image) runs Graphviz's ``dot``.

What a diagram shows:

- The **main path** in plain grey, kept straight (high edge weight); **skip
  edges** beside it, one colour and style per merge: ``add`` (short residual
  skips) blue and dashed, ``concat`` (long skips) orange and bold, ``mul``
  (gating) purple and dotted. The inputs of a ``concat`` carry their merge
  order in their labels (``#1 · 64×H×W``). A shortcut projection or
  ``zeropad`` is a small node on its skip path; ``crop``/``pad`` alignments
  are small nodes before their concat.
- Every edge is labelled with the shape of the tensor it carries, symbolic
  (``64×H/4×W/4``) or at the sample size (``shapes="concrete"``), or not at all
  (``shapes="none"``); nodes show the layer and its key arguments
  (``conv 3×3/2, 128``); ``params=True`` adds parameter counts to nodes,
  collapsed blocks and clusters.
- Blocks and labelled groups are clusters named by their scope path
  (``cluster_layer1_0``, labelled ``layer1.0 (basic)``).
- ``depth=N`` collapses every scope deeper than ``N`` into one node. The depth
  of a scope is the number of names in its path (``layer1`` is 1, ``layer1.0``
  is 2); the model itself is depth 0. So ``depth=0`` draws only the model's own
  statements (each top-level block one node), ``depth=1`` opens the top-level
  blocks and collapses the blocks inside them, and ``depth=None`` (the default)
  draws every layer. With ``fold=True`` (the default), consecutive collapsed
  blocks with the same structure fold into one node with a ``×N`` badge: block
  instances with the same ``instance`` key (block, arguments and input shape;
  see :mod:`resdsl.ir.graph`), groups with the same nodes and edges.
- Shortcut containers (the modules of a projection shortcut) are always drawn
  as one node on their skip path, never as a cluster.
- ``layout="u"`` draws an encoder-decoder as a U. Each long skip's source,
  the small nodes on its skip path and its merge share a rank (``rank=same``;
  ``newrank=true`` lets a rank cross clusters), so the skip runs straight
  across. The main path runs down to the deepest tensor the long skips span;
  every main edge after that turning point is written reversed with
  ``dir=back``, so the decoder climbs back up beside the encoder.
  ``layout="auto"`` (the default) picks the U when a
  skip spans tensors smaller than both of its ends (a U-Net's skips span the
  bottleneck; a residual block's never do), else ``"chain"``: a straight
  top-to-bottom spine with the skips looping beside it on the right (``mul``
  skips on the left).

>>> import resdsl
>>> spec = resdsl.loads('''
... model tiny {
...     input [8, H=16, W=16]
...     conv1: conv(8, 3, padding=1)
...     act:   relu
...     skip in -> act (add)
... }
... ''')
>>> dot = to_dot(spec.graph(), legend=False)
>>> dot.splitlines()[0]
'digraph tiny {'
>>> print([line.strip() for line in dot.splitlines() if line.strip().startswith('"input" ->')])
['"input" -> "conv1" [weight=10, label="8×H×W"]', '"input" -> "act:add" [color="#1f6fd1", style="dashed", penwidth=1.8, fontcolor="#1f6fd1", weight=1, tailport="e", headport="e", tooltip="skip shortcut (add)", label="8×H×W"]']
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import networkx as nx
from pydantic import BaseModel

from resdsl.ir.dims import SizeDomain, describe
from resdsl.ops import Layer, Merge, node_op, ops_of_kind
from resdsl.ops.align import Align
from resdsl.ops.label import args_label, value_text
from resdsl.ops.merge import SkipStyle
from resdsl.ops.registry import get_op
from resdsl.ops.shortcut import SHORTCUT_BOX

if TYPE_CHECKING:
    import graphviz

ShapeMode = Literal["symbolic", "concrete", "none"]
Layout = Literal["auto", "u", "chain"]

#: Formats that need Graphviz's ``dot``; the others are written by resdsl itself.
IMAGE_FORMATS: tuple[str, ...] = ("svg", "png", "pdf")
FORMATS: tuple[str, ...] = (*IMAGE_FORMATS, "dot", "json", "graphml")
#: File extensions and the format each one implies.
EXTENSIONS: dict[str, str] = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".json": "json",
    ".graphml": "graphml",
}
#: Keyword options of :func:`to_dot` (and, with ``format``/``timeout``, of
#: :func:`render_graph`). Any other keyword given to ``Spec.render`` /
#: ``Spec.to_dot`` is a model parameter.
RENDER_OPTIONS: tuple[str, ...] = (
    "shapes",
    "depth",
    "params",
    "fold",
    "legend",
    "layout",
    "format",
    "timeout",
)
#: Seconds ``dot`` may take before it is stopped.
DEFAULT_TIMEOUT = 120.0

INSTALL_HINT = (
    "install Graphviz, which provides the 'dot' program: 'apt-get install -y graphviz' "
    "(Debian/Ubuntu), 'brew install graphviz' (macOS), 'conda install graphviz', or see "
    "https://graphviz.org/download/ (the .dot, .json and .graphml formats need no Graphviz)"
)

# ---------------------------------------------------------------- styles

MAIN_COLOR = "#555555"
FILL = {
    "weighted": "#dbe9f6",
    "norm": "#fdf3d3",
    "activation": "#e3f2e1",
    "pool": "#ece3f3",
    "shape": "#f2f2f2",
    "dropout": "#f2f2f2",
    "other": "#f2f2f2",
}
CLUSTER_FILLS = ("#f8f9fb", "#eef2f8", "#f6f1f9", "#f1f7f1")
FONT = "Helvetica"


class RenderError(ValueError):
    """A bad rendering option: unknown format, negative depth, unknown shapes mode, ..."""


class GraphvizError(RuntimeError):
    """Graphviz's ``dot`` is missing, failed, or ran out of time. ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class RenderOptions:
    """Validated options of :func:`to_dot` (see the module docstring).

    >>> RenderOptions(depth=1).depth
    1
    >>> RenderOptions(depth=-1)
    Traceback (most recent call last):
    ...
    resdsl.backends.render.RenderError: depth must be a whole number >= 0 (or None for every layer), got -1
    """

    shapes: ShapeMode = "symbolic"
    depth: int | None = None
    params: bool = False
    fold: bool = True
    legend: bool = True
    layout: Layout = "auto"

    def __post_init__(self) -> None:
        if self.shapes not in get_args(ShapeMode):
            raise RenderError(
                f"shapes must be one of {', '.join(get_args(ShapeMode))}, got {self.shapes!r}"
            )
        if self.depth is not None and (
            isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0
        ):
            raise RenderError(
                f"depth must be a whole number >= 0 (or None for every layer), got {self.depth!r}"
            )
        if self.layout not in get_args(Layout):
            raise RenderError(
                f"layout must be one of {', '.join(get_args(Layout))}, got {self.layout!r}"
            )
        for name in ("params", "fold", "legend"):
            if not isinstance(getattr(self, name), bool):
                raise RenderError(f"{name} must be True or False, got {getattr(self, name)!r}")


# ---------------------------------------------------------------- public API


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``Spec.render``/``Spec.to_dot`` keywords into model parameters and render options.

    The names in :data:`RENDER_OPTIONS` are render options; everything else
    sets a model parameter or an input size. (To set a model parameter that
    shares a render option's name, build the graph with ``spec.graph(...)`` and
    call :func:`to_dot` on it.)

    >>> split_options({"depth": 1, "H": 256, "num_classes": 10})
    ({'H': 256, 'num_classes': 10}, {'depth': 1})
    """
    params = {k: v for k, v in options.items() if k not in RENDER_OPTIONS}
    render = {k: v for k, v in options.items() if k in RENDER_OPTIONS}
    return params, render


def to_dot(
    graph: nx.DiGraph,
    *,
    shapes: ShapeMode = "symbolic",
    depth: int | None = None,
    params: bool = False,
    fold: bool = True,
    legend: bool = True,
    layout: Layout = "auto",
) -> str:
    """The skip-path diagram of a checked graph as DOT text. Pure and deterministic.

    Raises :class:`RenderError` for a bad option.

    >>> import resdsl
    >>> g = resdsl.loads('use "resnet.res"').graph("resnet152")  # a bundled spec
    >>> dot = to_dot(g, depth=1)
    >>> "[layer3.1..layer3.35]" in dot and "×35" in dot
    True
    """
    opts = RenderOptions(shapes, depth, params, fold, legend, layout)
    return "".join(_Writer(_View(graph, opts), opts).lines())


def render_graph(
    graph: nx.DiGraph,
    path: str | Path | None = None,
    *,
    format: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    **options: Any,
) -> graphviz.Digraph:
    """The diagram as a ``graphviz.Digraph`` (shown inline by Jupyter).

    With ``path``, also writes the file, atomically, in the format named by
    ``format`` or by the path's extension (see :data:`FORMATS`); ``.dot``,
    ``.json`` and ``.graphml`` need no Graphviz. ``options`` are those of
    :func:`to_dot`. The ``Digraph``'s ``source`` is exactly ``to_dot(graph, **options)``.

    >>> import resdsl
    >>> g = resdsl.load("specs/unet.res").graph()             # doctest: +SKIP
    >>> render_graph(g, "unet.svg", depth=1)                   # doctest: +SKIP
    <graphviz.graphs.Digraph object at ...>
    """
    import graphviz

    dot = to_dot(graph, **options)
    fmt = None
    if path is not None:
        fmt = format_for(path, format)
        data = export(graph, fmt, dot=dot, timeout=timeout, **options)
        write_bytes_atomic(Path(path), data)
    elif format is not None:
        fmt = check_format(format)
    body = dot.splitlines(keepends=True)[1:-1]  # between "digraph NAME {" and "}"
    digraph = graphviz.Digraph(name=_graph_name(graph), body=body)
    if fmt in IMAGE_FORMATS:
        digraph.format = fmt
    return digraph


def export(
    graph: nx.DiGraph,
    format: str,
    *,
    dot: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    **options: Any,
) -> bytes:
    """The bytes of a diagram or graph export in ``format`` (one of :data:`FORMATS`).

    ``svg``/``png``/``pdf`` run ``dot`` (raising :class:`GraphvizError` if it is
    missing); ``dot`` is :func:`to_dot`; ``json`` and ``graphml`` are
    :func:`to_json` and :func:`to_graphml` (render options do not apply to them).

    >>> import resdsl
    >>> g = resdsl.load("specs/resnet.res").graph("resnet18")  # doctest: +SKIP
    >>> export(g, "svg", depth=1)[:5]                           # doctest: +SKIP
    b'<?xml'
    """
    fmt = check_format(format)
    if fmt == "json":
        return to_json(graph).encode()
    if fmt == "graphml":
        return to_graphml(graph).encode()
    text = dot if dot is not None else to_dot(graph, **options)
    if fmt == "dot":
        return text.encode()
    return dot_to_image(text, fmt, timeout=timeout)


def check_format(format: str) -> str:
    """A format name, lower-cased, or :class:`RenderError` naming the valid ones."""
    fmt = format.lower().lstrip(".")
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def format_for(path: str | Path, format: str | None = None) -> str:
    """The output format: ``format`` if given, else the one the file extension names.

    >>> format_for("net.svg"), format_for("net.out", "png"), format_for("x.GV")
    ('svg', 'png', 'dot')
    """
    if format is not None:
        return check_format(format)
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise RenderError(
            f"cannot tell the format from the file name {str(path)!r}: use an extension "
            f"({', '.join(EXTENSIONS)}) or give the format ({', '.join(FORMATS)})"
        )
    return EXTENSIONS[suffix]


def find_dot() -> str:
    """The path of Graphviz's ``dot`` program, or :class:`GraphvizError` saying how to get it."""
    found = shutil.which("dot")
    if found is None:
        raise GraphvizError("Graphviz's 'dot' program was not found on PATH", INSTALL_HINT)
    return found


def dot_to_image(dot: str, format: str, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Run ``dot -T<format>`` on DOT text and return the image bytes.

    >>> dot_to_image("digraph { a -> b }", "svg")[:5]   # doctest: +SKIP
    b'<?xml'
    """
    fmt = check_format(format)
    if fmt not in IMAGE_FORMATS:
        raise RenderError(f"{fmt} is not an image format: expected {', '.join(IMAGE_FORMATS)}")
    exe = find_dot()
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"],
            input=dot.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"Graphviz's dot took more than {timeout:g} s",
            "draw less: collapse blocks with depth=1 (--depth 1), or raise the timeout",
        ) from None
    except OSError as err:
        raise GraphvizError(f"could not run Graphviz's dot ({exe}): {err}", INSTALL_HINT) from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise GraphvizError(f"Graphviz's dot failed: {message}")
    _warn_about(done.stderr.decode(errors="replace"), fmt)
    return done.stdout


class GraphvizWarning(UserWarning):
    """Graphviz drew the image but said something about it (it scaled a huge bitmap down)."""


def _warn_about(stderr: str, fmt: str) -> None:
    """Pass ``dot``'s warnings on as :class:`GraphvizWarning`, with what to do about a scaled bitmap.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _warn_about("dot: graph is too large for cairo-renderer bitmaps. "
    ...                 "Scaling by 0.14 to fit", "png")
    >>> print(caught[0].message)
    Graphviz scaled the png image down by 0.14 to fit its size limit, so its text is hard to read: write SVG or PDF (-o diagram.svg) or draw less (--depth 1)
    """
    for line in stderr.splitlines():
        line = line.strip().removeprefix("dot: ").removeprefix("Warning: ")
        if not line:
            continue
        scaled = re.search(r"too large.*Scaling by ([0-9.]+)", line)
        if scaled:
            message = (
                f"Graphviz scaled the {fmt} image down by {float(scaled.group(1)):.2g} to fit its "
                "size limit, so its text is hard to read: write SVG or PDF (-o diagram.svg) "
                "or draw less (--depth 1)"
            )
        else:
            message = f"Graphviz: {line}"
        warnings.warn(message, GraphvizWarning, stacklevel=3)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    On failure the destination is untouched. Raises :class:`RenderError` for a
    path that cannot be written (missing directory, a directory, no permission).
    """
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise RenderError(f"cannot write {path}: it is a directory")
    if not directory.is_dir():
        raise RenderError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise RenderError(f"cannot write {path}: {err.strerror or err}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)  # mkstemp makes the file 0600: give it what open() would
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:
        raise RenderError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------- graph export


def graph_data(graph: nx.DiGraph) -> dict[str, Any]:
    """The checked graph as networkx node-link data with JSON-serialisable values.

    Node data: ``op``, ``role``, ``scope``, ``parent``, ``name``, ``args``
    (``model_dump()``), ``shape`` (ints at the sample size), ``shape_text``
    (symbolic, in a form that holds at every valid input size, e.g.
    ``["64", "ceil(H/4)", "ceil(W/4)"]``), ``span`` (``"file:line:col"``),
    ``params``, ``macs``. Edge data as in :mod:`resdsl.ir.graph`. Graph data:
    ``model``, ``plain``, ``symbols``, ``input``, ``output``, ``params``, ``macs``,
    ``input_shape``, ``output_shape`` and ``scopes``.

    >>> import resdsl
    >>> d = graph_data(resdsl.loads('use "resnet.res"').graph("resnet18"))
    >>> d["nodes"][1]["id"], d["nodes"][1]["shape"], d["nodes"][1]["shape_text"]
    ('conv1', [64, 112, 112], ['64', 'ceil(H/2)', 'ceil(W/2)'])
    """
    h = nx.DiGraph()
    meta = graph.graph
    h.graph.update(
        model=meta.get("model"),
        plain=bool(meta.get("plain", False)),
        symbols={str(k): int(v) for k, v in meta.get("symbols", {}).items()},
        input=meta.get("input"),
        output=meta.get("output"),
        params=int(meta.get("params", 0)),
        macs=int(meta.get("macs", 0)),
        input_shape=[int(d) for d in meta.get("input_shape", ())],
        output_shape=[int(d) for d in meta.get("output_shape", ())],
        scopes={
            path: {
                "kind": info.kind,
                "block": info.block,
                "args": _jsonable(info.args),
                "input": info.input,
                "output": info.output,
                "span": str(info.span),
            }
            for path, info in meta.get("scopes", {}).items()
        },
    )
    domain = meta.get("valid_sizes")
    for node, data in graph.nodes(data=True):
        shape = data.get("shape", ())
        args = data.get("args")
        h.add_node(
            node,
            op=data.get("op"),
            role=data.get("role"),
            scope=data.get("scope"),
            parent=data.get("parent"),
            name=data.get("name"),
            args=_jsonable(args.model_dump()) if isinstance(args, BaseModel) else {},
            shape=[int(d) for d in shape],
            shape_text=[describe(d, domain) for d in shape],
            span=str(data["span"]) if data.get("span") is not None else None,
            params=int(data.get("params", 0)),
            macs=int(data.get("macs", 0)),
        )
    for u, v, data in graph.edges(data=True):
        h.add_edge(u, v, **{k: _jsonable(val) for k, val in data.items()})
    out: dict[str, Any] = nx.node_link_data(h, edges="edges")
    return out


def to_json(graph: nx.DiGraph) -> str:
    """:func:`graph_data` as indented JSON text (``--format json``).

    >>> import json, resdsl
    >>> g = resdsl.loads("model m { input [4]; fc: linear(2) }").graph()
    >>> json.loads(to_json(g))["nodes"][1]["args"]
    {'out_features': 2, 'bias': True}
    """
    return json.dumps(graph_data(graph), indent=1, ensure_ascii=False) + "\n"


def to_graphml(graph: nx.DiGraph) -> str:
    """The checked graph as GraphML (``--format graphml``), for yEd, Gephi, Cytoscape.

    GraphML holds only scalars, so ``args`` is a JSON string, ``shape`` is
    ``"64,56,56"`` and ``shape_text`` is ``"64×H/4×W/4"``.

    >>> import networkx as nx, resdsl
    >>> g = resdsl.loads("model m { input [4]; fc: linear(2) }").graph()
    >>> nx.parse_graphml(to_graphml(g)).nodes["fc"]["shape"]
    '2'
    """
    data = graph_data(graph)
    h = nx.DiGraph()
    for key in ("model", "input", "output"):
        h.graph[key] = str(data["graph"][key])
    h.graph["plain"] = data["graph"]["plain"]
    h.graph["params"] = data["graph"]["params"]
    h.graph["macs"] = data["graph"]["macs"]
    h.graph["symbols"] = json.dumps(data["graph"]["symbols"], sort_keys=True)
    for node in data["nodes"]:
        attrs = {k: v for k, v in node.items() if k != "id" and v is not None}
        attrs["args"] = json.dumps(attrs.get("args", {}), sort_keys=True)
        attrs["shape"] = ",".join(str(d) for d in attrs.get("shape", []))
        attrs["shape_text"] = "×".join(attrs.get("shape_text", []))
        h.add_node(node["id"], **attrs)
    for edge in data["edges"]:
        attrs = {k: v for k, v in edge.items() if k not in ("source", "target") and v is not None}
        h.add_edge(edge["source"], edge["target"], **attrs)
    return "\n".join(nx.generate_graphml(h)) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump())
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    name = getattr(value, "name", None)  # a BlockRef
    return name if isinstance(name, str) else str(value)


# ---------------------------------------------------------------- text helpers


def shape_label(
    shape: tuple[int, ...],
    mode: ShapeMode = "symbolic",
    domain: Mapping[str, SizeDomain] | None = None,
) -> str:
    """A shape as an edge label: ``64×H/4×W/4`` (symbolic) or ``64×56×56`` (concrete).

    >>> from resdsl.ir.dims import symbol, window
    >>> h = window(symbol("H", 224), 7, stride=2, padding=3)
    >>> shape_label((64, h)), shape_label((64, h), "concrete"), shape_label((64, h), "none")
    ('64×H/2', '64×112', '')
    """
    if mode == "none":
        return ""
    if mode == "concrete":
        return "×".join(str(int(d)) for d in shape) or "scalar"
    return "×".join(describe(d, domain) for d in shape) or "scalar"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _macs_text(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}MACs"
    return f"{n} MACs"


def _params_text(n: int) -> str:
    return f"{n:,} params"


def _e(text: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return html.escape(text, quote=False)


# ---------------------------------------------------------------- the view


UnitKind = Literal["node", "block", "shortcut", "fold", "output"]


@dataclass
class _Unit:
    """One drawn node: a graph node, a collapsed scope, a folded run, or the output."""

    id: str
    kind: UnitKind
    nodes: list[str]
    container: str  # the cluster (scope path) it is drawn in; "" for the top level
    output: str  # the graph node whose value leaves it
    scopes: list[str] = field(default_factory=list)  # collapsed scope paths


@dataclass
class _Edge:
    tail: str
    head: str
    kind: str  # "main" or "skip"
    merge: str | None
    index: int
    shape: tuple[int, ...]
    order: bool  # head is a concat merge drawn as a node: show the input's position
    skip: str | None


class _View:
    """The graph as drawn: units (after collapsing and folding), edges between them, clusters."""

    def __init__(self, graph: nx.DiGraph, opts: RenderOptions) -> None:
        self.graph = graph
        self.opts = opts
        self.scopes: dict[str, Any] = graph.graph.get("scopes", {})
        self.units: dict[str, _Unit] = {}
        self.unit_of: dict[str, str] = {}
        self._collect_units()
        self.edges = self._collect_edges()
        if opts.fold and opts.depth is not None:
            self._fold()
        self._add_output()
        self.scope_params = self._scope_params()
        self.position = {n: i for i, n in enumerate(self.graph.nodes)}
        self.size = self._spatial_sizes()
        self.u_skips: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self.row_of: dict[str, int] = {}
        self.turn = len(self.position)
        self.layout = self._choose_layout()
        if self.layout == "u":
            self._u_plan()
            if not self.rows:  # every long skip is hidden inside a collapsed block
                self.layout, self.turn = "chain", len(self.position)

    # -------------------------------------------------------- units

    def _collapse_path(self, parent: str) -> tuple[UnitKind, str] | None:
        """The collapsed scope a node with this parent belongs to, if any."""
        parts = parent.split(".") if parent else []
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            info = self.scopes.get(prefix)
            kind = getattr(info, "kind", None)
            if kind == "shortcut":
                return "shortcut", prefix
            if self.opts.depth is not None and i > self.opts.depth:
                return "block", prefix
        return None

    def _collect_units(self) -> None:
        for node, data in self.graph.nodes(data=True):
            parent = str(data.get("parent", ""))
            collapsed = self._collapse_path(parent)
            if collapsed is None:
                unit = _Unit(node, "node", [node], parent, node)
            else:
                kind, path = collapsed
                uid = f"[{path}]"
                if uid in self.units:
                    self.units[uid].nodes.append(node)
                    self.unit_of[node] = uid
                    continue
                unit = _Unit(uid, kind, [node], _parent_path(path), node, [path])
            self.units[unit.id] = unit
            self.unit_of[node] = unit.id
        for unit in self.units.values():
            if unit.kind in ("block", "shortcut"):
                info = self.scopes.get(unit.scopes[0])
                out = getattr(info, "output", None)
                unit.output = out if out in unit.nodes else unit.nodes[-1]

    def _collect_edges(self) -> list[_Edge]:
        edges: dict[tuple[str, str], _Edge] = {}
        for u, v, data in self.graph.edges(data=True):
            tu, tv = self.unit_of[u], self.unit_of[v]
            if tu == tv:
                continue
            head = node_op(self.graph.nodes[v])
            order = (
                self.units[tv].kind == "node" and isinstance(head, Merge) and head.style.numbered
            )
            edge = _Edge(
                tu,
                tv,
                str(data.get("kind", "main")),
                data.get("merge"),
                int(data.get("index", 0)),
                tuple(self.graph.nodes[u].get("shape", ())),
                order,
                data.get("skip"),
            )
            old = edges.get((tu, tv))
            if old is None or (old.kind != "main" and edge.kind == "main"):
                edges[(tu, tv)] = edge
        return list(edges.values())

    def _signature(self, unit: _Unit) -> str:
        """The structure of a collapsed block: equal signatures fold together.

        A block instance has its key in the graph (equal keys, equal
        structure); a collapsed group's structure is read from its nodes.
        """
        path = unit.scopes[0]
        instance = getattr(self.scopes.get(path), "instance", None)
        if instance is not None:
            return f"instance {instance}"
        prefix = f"{path}."
        inside = set(unit.nodes)
        rows: list[Any] = [getattr(self.scopes.get(path), "block", None)]
        for node in unit.nodes:
            data = self.graph.nodes[node]
            args = data.get("args")
            rows.append(
                (
                    node.removeprefix(prefix),
                    data.get("op"),
                    data.get("role"),
                    json.dumps(_jsonable(args), sort_keys=True),
                    [describe(d) for d in data.get("shape", ())],
                    [int(d) for d in data.get("shape", ())],
                )
            )
            for succ in self.graph.successors(node):
                if succ in inside:
                    e = self.graph.edges[node, succ]
                    rows.append(
                        (
                            node.removeprefix(prefix),
                            succ.removeprefix(prefix),
                            e.get("kind"),
                            e.get("merge"),
                            e.get("index"),
                        )
                    )
        return json.dumps(rows)

    def _fold(self) -> None:
        outs: dict[str, list[_Edge]] = {}
        ins: dict[str, list[_Edge]] = {}
        for e in self.edges:
            outs.setdefault(e.tail, []).append(e)
            ins.setdefault(e.head, []).append(e)
        order = list(self.units)
        runs: list[list[str]] = []
        signatures: dict[str, str] = {}
        for uid in order:
            unit = self.units[uid]
            if unit.kind != "block":
                continue
            signatures[uid] = self._signature(unit)
            if runs and self._follows(runs[-1][-1], uid, outs, ins, signatures):
                runs[-1].append(uid)
            else:
                runs.append([uid])
        for run in runs:
            if len(run) > 1:
                self._fold_run(run)

    def _follows(
        self,
        prev: str,
        uid: str,
        outs: dict[str, list[_Edge]],
        ins: dict[str, list[_Edge]],
        signatures: dict[str, str],
    ) -> bool:
        a, b = self.units[prev], self.units[uid]
        if a.container != b.container or signatures.get(prev) != signatures[uid]:
            return False
        return all(e.head == uid for e in outs.get(prev, [])) and all(
            e.tail == prev for e in ins.get(uid, [])
        )

    def _fold_run(self, run: list[str]) -> None:
        first, last = self.units[run[0]], self.units[run[-1]]
        uid = f"[{first.scopes[0]}..{last.scopes[0]}]"
        nodes = [n for r in run for n in self.units[r].nodes]
        scopes = [s for r in run for s in self.units[r].scopes]
        folded = _Unit(uid, "fold", nodes, first.container, last.output, scopes)
        members = set(run)
        units: dict[str, _Unit] = {}
        for key, unit in self.units.items():
            if key == run[0]:
                units[uid] = folded
            elif key not in members:
                units[key] = unit
        self.units = units
        for node in nodes:
            self.unit_of[node] = uid
        edges: list[_Edge] = []
        for e in self.edges:
            tail = uid if e.tail in members else e.tail
            head = uid if e.head in members else e.head
            if tail == head:
                continue
            edges.append(_Edge(tail, head, e.kind, e.merge, e.index, e.shape, e.order, e.skip))
        self.edges = edges

    def _add_output(self) -> None:
        out = self.graph.graph.get("output")
        if out is None or out not in self.unit_of:
            return
        tail = self.unit_of[out]
        self.units["[output]"] = _Unit("[output]", "output", [], "", out)
        shape = tuple(self.graph.nodes[out].get("shape", ()))
        self.edges.append(_Edge(tail, "[output]", "main", None, 0, shape, False, None))

    def _scope_params(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for _, data in self.graph.nodes(data=True):
            n = int(data.get("params", 0))
            if not n:
                continue
            parent = str(data.get("parent", ""))
            parts = parent.split(".") if parent else []
            for i in range(1, len(parts) + 1):
                key = ".".join(parts[:i])
                totals[key] = totals.get(key, 0) + n
        return totals

    def params_of(self, unit: _Unit) -> int:
        return sum(int(self.graph.nodes[n].get("params", 0)) for n in unit.nodes)

    # -------------------------------------------------------- U layout

    def _spatial_sizes(self) -> list[float]:
        """Per node position: the number of spatial positions at the sample size (inf if flat)."""
        sizes: list[float] = []
        for _, data in self.graph.nodes(data=True):
            shape = data.get("shape", ())
            sizes.append(
                float(_product(tuple(int(d) for d in shape[1:]))) if len(shape) >= 2 else _INF
            )
        return sizes

    def _choose_layout(self) -> str:
        self.u_skips = self._u_skips()
        if self.opts.layout == "chain" or not self.u_skips:
            return "chain"
        return "u"

    def _u_skips(self) -> list[tuple[str, str]]:
        """The long skips of a U: the main path dips below both ends and climbs back.

        A skip qualifies when some tensor between its source and the main
        input of its merge is smaller (in spatial positions) than both. A
        residual block's skip never does (nothing inside is smaller than the
        block's output); a U-Net's always does (the bottleneck lies between),
        with or without cropping. The climb back must be made by a layer that
        enlarges its input (``conv_transpose``, ``upsample``): a
        squeeze-and-excite gate returns to full size only by broadcasting, so
        a skip around it is no U.
        """
        smallest = _RangeMin(self.size)
        # grown[k]: how many of the first k nodes are layers that enlarge their input.
        grown = [0]
        for node in self.graph.nodes:
            grown.append(grown[-1] + self._enlarges(node))
        found = []
        for u, v, data in self.graph.edges(data=True):
            if data.get("kind") != "skip":
                continue
            main = self._main_input(v)
            if main is None:
                continue
            i, j = self.position[u], self.position[main]
            ends = min(self.size[i], self.size[j])
            dips = ends < _INF and smallest.query(i + 1, j) < ends
            if dips and grown[j + 1] > grown[i + 1]:
                found.append((u, v))
        return found

    def _enlarges(self, node: str) -> int:
        """1 for a layer whose output has more spatial positions than its input (up-sampling)."""
        if self.graph.nodes[node].get("role") != "layer":
            return 0
        for pred in self.graph.predecessors(node):
            if self.size[self.position[pred]] < self.size[self.position[node]] < _INF:
                return 1
        return 0

    def _main_input(self, node: str) -> str | None:
        """The main-path value merged with the skip that runs into ``node``."""
        seen = 0
        while self.graph.nodes[node].get("role") != "merge":
            nxt = [
                w
                for w in self.graph.successors(node)
                if self.graph.edges[node, w].get("kind") == "skip"
            ]
            seen += 1
            if not nxt or seen > len(self.position):
                return None
            node = nxt[0]
        for pred in self.graph.predecessors(node):
            if self.graph.edges[pred, node].get("kind") == "main":
                return str(pred)
        return None

    def _u_plan(self) -> None:
        """Rows and directions of the U layout.

        Each long skip's source, the nodes on its skip path and its merge share a
        row (``rank=same``), so the skip runs straight across. The turning point
        is the last of the deepest tensors that the long skips span: the main
        path runs down to it, and every main edge after it is drawn reversed
        (``dir=back``), so the decoder climbs back up beside the encoder.
        """
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        first = len(self.position)
        last = 0
        for u, v in self.u_skips:
            chain = [u, v]
            while self.graph.nodes[chain[-1]].get("role") != "merge":
                nxt = [
                    w
                    for w in self.graph.successors(chain[-1])
                    if self.graph.edges[chain[-1], w].get("kind") == "skip"
                ]
                if not nxt:
                    break
                chain.append(nxt[0])
            units = [self.unit_of[n] for n in chain]
            for unit in units[1:]:
                parent[find(unit)] = find(units[0])
            first = min(first, self.position[u])
            last = max(last, self.position[chain[-1]])
        rows: dict[str, list[str]] = {}
        for uid in self.units:
            if uid in parent:
                rows.setdefault(find(uid), []).append(uid)
        self.rows = [row for row in rows.values() if len(row) > 1]
        self.row_of = {uid: i for i, row in enumerate(self.rows) for uid in row}
        deepest = min(self.size[first : last + 1], default=_INF)
        self.turn = max(
            (i for i in range(first, last + 1) if self.size[i] == deepest), default=last
        )

    def unit_position(self, unit: _Unit) -> int:
        if unit.kind == "output":
            return len(self.position)
        return self.position[unit.output]

    def edge_mode(self, edge: _Edge) -> str:
        """How the U layout draws an edge: "row" (across a row), "free", "back" or "down"."""
        row = self.row_of.get(edge.tail)
        if edge.kind == "skip":
            return "row" if row is not None and row == self.row_of.get(edge.head) else "free"
        if self.unit_position(self.units[edge.head]) > self.turn:
            return "back"
        return "down"

    # -------------------------------------------------------- clusters

    def cluster_tree(self) -> tuple[list[str | _Unit], dict[str, list[str | _Unit]]]:
        """The top-level items and each cluster's items, in drawing order.

        An item is a unit or the path of a child cluster.
        """
        top: list[str | _Unit] = []
        children: dict[str, list[str | _Unit]] = {}

        def place(path: str, item: str | _Unit) -> None:
            if not path:
                top.append(item)
                return
            if path not in children:
                children[path] = []
                place(_parent_path(path), path)
            children[path].append(item)

        for unit in self.units.values():
            place(unit.container, unit)
        return top, children


_INF = float("inf")


class _RangeMin:
    """Minimum of ``values[i:j]`` in O(1) after O(n log n) set-up (a sparse table)."""

    def __init__(self, values: list[float]) -> None:
        self.table = [list(values)]
        width = 1
        while 2 * width <= len(values):
            prev = self.table[-1]
            self.table.append([min(prev[i], prev[i + width]) for i in range(len(prev) - width)])
            width *= 2

    def query(self, i: int, j: int) -> float:
        if j <= i:
            return _INF
        k = (j - i).bit_length() - 1
        row = self.table[k]
        return min(row[i], row[j - (1 << k)])


def _parent_path(path: str) -> str:
    return path.rpartition(".")[0]


def _product(values: tuple[int, ...]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# ---------------------------------------------------------------- DOT text

_BARE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})


class Html(str):
    """An attribute value written as a Graphviz HTML-like label: ``<...>``."""

    __slots__ = ()


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id(text: str) -> str:
    if _BARE_ID.match(text) and text.lower() not in _KEYWORDS:
        return text
    return _q(text)


def _attrs(attrs: Mapping[str, str | int | float | bool | None]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, Html):
            parts.append(f"{key}=<{value}>")
        elif isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, int | float):
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
        else:
            parts.append(f"{key}={_q(value)}")
    return "[" + ", ".join(parts) + "]"


def cluster_name(path: str, taken: set[str] | None = None) -> str:
    """The Graphviz subgraph name of a scope's cluster: ``cluster_layer1_0`` for ``layer1.0``.

    ``taken`` holds names already used; a clash (``layer1.0`` and ``layer1_0``)
    gets a numeric suffix.

    >>> cluster_name("layer1.0")
    'cluster_layer1_0'
    """
    base = "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", path)
    name, k = base, 1
    while taken is not None and name in taken:
        k += 1
        name = f"{base}_{k}"
    if taken is not None:
        taken.add(name)
    return name


#: How an unknown merge (not in the registry) is drawn: as the main path.
_PLAIN_MERGE = SkipStyle(MAIN_COLOR, "solid", 1.0, "skip", "?")

Attrs = dict[str, str | int | float | bool | None]


def skip_looks() -> str:
    """How each merge's skips look, in words, from the registry (for help texts).

    >>> skip_looks()
    'Add skips are blue and dashed, concat skips orange and bold (numbered in merge order), mul skips purple and dotted'
    """
    parts = []
    for op in ops_of_kind("merge"):
        style: SkipStyle = op.style
        text = f"{op.name} skips {style.look or style.line}"
        if style.numbered:
            text += " (numbered in merge order)"
        parts.append(text)
    text = ", ".join(parts)
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text.replace(" skips ", " skips are ", 1)


def merge_style(name: str | None) -> SkipStyle | None:
    """The diagram style of a merge kind, from its op definition (None if unknown)."""
    op = get_op(str(name), "merge") if name is not None else None
    return op.style if op is not None else None


class _ViewReader:
    """Reads a view under the render options: its graph and whether it is drawn U-shaped."""

    def __init__(self, view: _View, opts: RenderOptions) -> None:
        self.view = view
        self.opts = opts
        self.graph = view.graph
        self.u = view.layout == "u"


class _Nodes(_ViewReader):
    """The DOT attributes of each drawn node, from the op definitions' styles and labels."""

    def attrs(self, unit: _Unit) -> Attrs:
        if unit.kind == "output":
            return {
                "label": "output",
                "shape": "box",
                "style": "rounded",
                "fontsize": 10,
                "color": "#8c8c8c",
            }
        if unit.kind in ("block", "fold"):
            return self.block_node(unit)
        if unit.kind == "shortcut":
            return self.shortcut_node(unit)
        node = unit.nodes[0]
        data = self.graph.nodes[node]
        role = data.get("role")
        tooltip = f"{node} — {_span(data.get('span'))}"
        group = self.group(unit) if role in ("layer", "merge", "input") else None
        if role == "input":
            return self.input_node(data, tooltip, group)
        op = node_op(data)
        rank = len(data.get("shape", ())) - 1
        if role == "merge":
            return self.merge_node(op, data, tooltip, group)
        if isinstance(op, Align):
            return {
                "label": op.label(data.get("args"), rank),
                "fontsize": 8,
                "style": op.box.style,
                "fillcolor": op.box.fill,
                "color": op.box.color,
                "height": 0.2,
                "margin": "0.04,0.01",
                "tooltip": tooltip,
            }
        text = op.label(data.get("args"), rank) if op is not None else str(data.get("op"))
        if role == "shortcut":  # zeropad (projections are collapsed shortcut scopes)
            return self.skip_box(str(data.get("name", node)), [text], tooltip, unit)
        return self.layer_node(node, data, text, op, tooltip, group)

    def input_node(self, data: Mapping[str, Any], tooltip: str, group: str | None) -> Attrs:
        shape = tuple(data.get("shape", ()))
        mode = self.opts.shapes if self.opts.shapes != "none" else "symbolic"
        text = shape_label(shape, mode, self.graph.graph.get("valid_sizes"))
        return {
            "label": Html(f"<B>input</B><BR/>{_e(text)}"),
            "fillcolor": "#ffffff",
            "penwidth": 1.2,
            "tooltip": tooltip,
            "group": group,
        }

    def layer_node(
        self,
        node: str,
        data: Mapping[str, Any],
        text: str,
        op: Any,
        tooltip: str,
        group: str | None,
    ) -> Attrs:
        name = str(data.get("name", node))
        if name.isdigit():
            label = _e(text)
        elif name == text:
            label = f"<B>{_e(name)}</B>"
        else:
            label = f"<B>{_e(name)}</B><BR/>{_e(text)}"
        if self.opts.params and data.get("params"):
            label += f'<BR/><FONT POINT-SIZE="8" COLOR="#666666">{_params_text(int(data["params"]))}</FONT>'
        category = op.category if isinstance(op, Layer) else "other"
        return {
            "label": Html(label),
            "fillcolor": FILL.get(category, "#f2f2f2"),
            "tooltip": tooltip,
            "group": group,
        }

    def merge_node(
        self, op: Any, data: Mapping[str, Any], tooltip: str, group: str | None
    ) -> Attrs:
        name = str(data.get("op"))
        style = op.style if isinstance(op, Merge) else replace(_PLAIN_MERGE, glyph=name)
        args = data.get("args")
        extra = []
        if getattr(args, "scale", None) is not None:
            extra.append(f"×{args.scale:g}")  # type: ignore[union-attr]
        if getattr(args, "gate", None):
            extra.append(str(args.gate))  # type: ignore[union-attr]
        return {
            "label": Html(f"<B>{_e(style.glyph)}</B>"),
            "shape": "circle",
            "style": "filled",
            "fillcolor": "#ffffff",
            "color": style.color,
            "fontcolor": style.color,
            "penwidth": 1.6,
            "width": style.node_width,
            "height": 0.3,
            "fixedsize": True,
            "fontsize": style.font_size,
            "xlabel": " ".join(extra) or None,
            "tooltip": tooltip,
            "group": group,
        }

    def skip_box(self, name: str, lines: list[str], tooltip: str, unit: _Unit) -> Attrs:
        label = f"<B>{_e(name)}</B>"
        for line in lines:
            label += f"<BR/>{_e(line)}"
        if self.opts.params:
            n = self.view.params_of(unit)
            if n:
                label += f'<BR/><FONT COLOR="#666666">{_params_text(n)}</FONT>'
        return {
            "label": Html(label),
            "fontsize": 8,
            "fillcolor": SHORTCUT_BOX.fill,
            "color": SHORTCUT_BOX.color,
            "style": SHORTCUT_BOX.style,
            "margin": "0.05,0.02",
            "height": 0.2,
            "tooltip": tooltip,
        }

    def shortcut_node(self, unit: _Unit) -> Attrs:
        path = unit.scopes[0]
        info = self.view.scopes.get(path)
        lines: list[str] = []
        block = getattr(info, "block", None)
        if block:
            lines.append(f"{block}(" + _args_text(getattr(info, "args", {})) + ")")
        layers = [n for n in unit.nodes if self.graph.nodes[n].get("role") != "merge"]
        if len(layers) <= 4:
            for n in layers:
                d = self.graph.nodes[n]
                op = node_op(d)
                rank = len(d["shape"]) - 1
                lines.append(
                    op.label(d.get("args"), rank)
                    if op is not None
                    else args_label(str(d.get("op")), d.get("args"), rank)
                )
        else:
            lines.append(_count(len(layers), "layer"))
        tooltip = f"{path} (shortcut) — {_span(getattr(info, 'span', None))}"
        return self.skip_box(path.rpartition(".")[2], lines, tooltip, unit)

    def block_facts(self, unit: _Unit, first: str) -> str:
        """``3 layers, 1 add skip``: the layers and the skips (in their merges' colours) of a block.

        Skips are counted, not merge nodes: three ``concat`` skips into one
        value are one merge node but three skips.
        """
        per = [n for n in unit.nodes if n.startswith(first + ".") or n == first]
        layers = sum(1 for n in per if self.graph.nodes[n].get("role") in ("layer", "shortcut"))
        merges: dict[str, int] = {}
        for n in per:
            d = self.graph.nodes[n]
            if d.get("role") == "merge":
                skips = sum(
                    1 for _, _, e in self.graph.in_edges(n, data=True) if e.get("kind") == "skip"
                )
                merges[str(d.get("op"))] = merges.get(str(d.get("op")), 0) + skips
        facts = [_e(_count(layers, "layer"))]
        for op, count in merges.items():
            color = (merge_style(op) or _PLAIN_MERGE).color
            facts.append(f'<FONT COLOR="{color}">{_e(_count(count, op + " skip"))}</FONT>')
        if unit.kind == "fold":
            facts[0] = "each " + facts[0]
        return ", ".join(facts)

    def block_node(self, unit: _Unit) -> Attrs:
        first = unit.scopes[0]
        info = self.view.scopes.get(first)
        block = getattr(info, "block", None)
        kind = getattr(info, "kind", "group")
        if unit.kind == "fold":
            head = f"<B>{_e(first)} … {_e(unit.scopes[-1])}</B>"
            badge = f'  <FONT POINT-SIZE="16" COLOR="#333333"><B>×{len(unit.scopes)}</B></FONT>'
        else:
            head, badge = f"<B>{_e(first)}</B>", ""
        lines = [head + badge]
        if kind == "block" and block:
            lines.append(_e(f"{block}({_args_text(getattr(info, 'args', {}))})"))
        else:
            lines.append(kind)
        lines.append(self.block_facts(unit, first))
        if self.opts.params:
            total = self.view.params_of(unit)
            text = _params_text(total)
            if unit.kind == "fold":
                text = f"{_params_text(total // len(unit.scopes))} each, {total:,} in all"
            lines.append(f'<FONT COLOR="#666666">{_e(text)}</FONT>')
        label = "<BR/>".join(lines)
        tooltip = (
            ", ".join(unit.scopes) if len(unit.scopes) <= 3 else f"{first} … {unit.scopes[-1]}"
        )
        return {
            "label": Html(label),
            "fillcolor": "#eef2f8",
            "color": "#5b6b82",
            "penwidth": 1.2,
            "peripheries": 2 if unit.kind == "fold" else None,
            "margin": "0.12,0.05",
            "tooltip": f"{tooltip} — {_span(getattr(info, 'span', None))}",
            "group": self.group(unit),
        }

    def group(self, unit: _Unit) -> str:
        """Nodes of one group are kept in a straight column: the spine, or a side of the U."""
        if not self.u:
            return "spine"
        return "down" if self.view.unit_position(unit) <= self.view.turn else "up"


class _Writer(_ViewReader):
    """Turns a view into DOT lines."""

    def __init__(self, view: _View, opts: RenderOptions) -> None:
        super().__init__(view, opts)
        self.cluster_names: set[str] = {"cluster_legend"}
        self.nodes = _Nodes(view, opts)
        self._skips_into: dict[str, list[_Edge]] | None = None

    def lines(self) -> Iterator[str]:
        yield f"digraph {_id(_graph_name(self.graph))} {{\n"
        graph_attrs: dict[str, str | int | float | bool | None] = {
            "label": Html(self._title()),
            "labelloc": "t",
            "fontname": FONT,
            "fontsize": 14,
            "rankdir": "TB",
            "newrank": True if self.u else None,
            "nodesep": 0.3,
            "ranksep": 0.35 if self.u else 0.22,
            "outputorder": "edgesfirst",
            "remincross": False,
            "mclimit": 0.5,
            "nslimit": 4.0,
            "nslimit1": 4.0,
            "searchsize": 30,
            "bgcolor": "white",
        }
        yield f"\tgraph {_attrs(graph_attrs)}\n"
        yield (
            "\tnode "
            + _attrs(
                {
                    "shape": "box",
                    "style": "rounded,filled",
                    "fontname": FONT,
                    "fontsize": 10,
                    "height": 0.3,
                    "margin": "0.08,0.03",
                    "color": "#8c8c8c",
                    "penwidth": 0.8,
                }
            )
            + "\n"
        )
        yield (
            "\tedge "
            + _attrs(
                {
                    "fontname": FONT,
                    "fontsize": 8,
                    "fontcolor": "#555555",
                    "color": MAIN_COLOR,
                    "arrowsize": 0.6,
                    "penwidth": 1.1,
                }
            )
            + "\n"
        )
        top, children = self.view.cluster_tree()
        yield from self._items(top, children, 1)
        for edge in self.view.edges:
            yield "\t" + self._edge(edge) + "\n"
        if self.u:
            yield from self._ranks()
        if self.opts.legend:
            yield from self._legend()
        yield "}\n"

    def _title(self) -> str:
        g = self.graph.graph
        domain = g.get("valid_sizes")
        name = str(g.get("model") or "model")
        facts = []
        if "params" in g:
            facts.append(_params_text(int(g["params"])))
        if g.get("macs"):
            facts.append(_macs_text(int(g["macs"])))
        if g.get("input_shape"):
            facts.append(f"input {shape_label(tuple(g['input_shape']), 'symbolic', domain)}")
            if g.get("symbols"):
                facts[-1] += " (" + ", ".join(f"{k}={v}" for k, v in g["symbols"].items()) + ")"
        if self.opts.depth is not None:
            facts.append(f"depth {self.opts.depth}")
        title = f"<B>{_e(name)}</B>"
        if g.get("plain"):
            title += " (plain twin)"
        return title + f'<BR/><FONT POINT-SIZE="10">{_e(" · ".join(facts))}</FONT>'

    # -------------------------------------------------------- nodes and clusters

    def _items(
        self, items: list[str | _Unit], children: dict[str, list[str | _Unit]], indent: int
    ) -> Iterator[str]:
        pad = "\t" * indent
        for item in items:
            if isinstance(item, _Unit):
                yield f"{pad}{_q(item.id)} {_attrs(self.nodes.attrs(item))}\n"
                continue
            name = cluster_name(item, self.cluster_names)
            yield f"{pad}subgraph {name} {{\n"
            yield f"{pad}\tgraph {_attrs(self._cluster(item))}\n"
            yield from self._items(children[item], children, indent + 1)
            yield f"{pad}}}\n"

    def _cluster(self, path: str) -> dict[str, str | int | float | bool | None]:
        info = self.view.scopes.get(path)
        kind = getattr(info, "kind", "group")
        block = getattr(info, "block", None)
        label = f"<B>{_e(path)}</B>"
        if kind == "block" and block:
            label += f" ({_e(block)})"
        if self.opts.params:
            label += f'  <FONT COLOR="#666666">{_params_text(self.view.scope_params.get(path, 0))}</FONT>'
        depth = path.count(".")
        return {
            "label": Html(label),
            "labeljust": "l",
            "fontsize": 10,
            "style": "rounded,filled",
            "fillcolor": CLUSTER_FILLS[depth % len(CLUSTER_FILLS)],
            "color": "#b8c0cc",
            "penwidth": 0.8,
            "margin": 8,
            "tooltip": f"{path} ({kind})" + (f" — {_span(info.span)}" if info else ""),
        }

    # -------------------------------------------------------- edges

    def _edge(self, edge: _Edge) -> str:
        attrs: dict[str, str | int | float | bool | None] = {}
        text = shape_label(edge.shape, self.opts.shapes, self.graph.graph.get("valid_sizes"))
        mode = self.view.edge_mode(edge) if self.u else "chain"
        style = merge_style(edge.merge) if edge.kind == "skip" else None
        if style is not None:
            color = style.color
            attrs.update(color=color, style=style.line, penwidth=style.width, fontcolor=color)
            attrs["weight"] = 1
            if mode == "chain":
                side = style.side
                attrs["tailport"] = "s" if self._on_skip_path(edge.tail) else side
                attrs["headport"] = "n" if self._on_skip_path(edge.head) else self._port(edge, side)
            elif mode == "free":
                attrs["constraint"] = False
            attrs["tooltip"] = f"skip {edge.skip} ({edge.merge})" if edge.skip else edge.merge
        else:
            attrs["weight"] = 10
        if edge.order:  # a concat input: its position in the concatenation, then its shape
            text = f"#{edge.index + 1}" + (f" · {text}" if text else "")
        if text:
            attrs["label"] = text
        tail, head = edge.tail, edge.head
        if mode == "back":
            tail, head = head, tail
            attrs["dir"] = "back"
        return f"{_q(tail)} -> {_q(head)} {_attrs(attrs)}"

    def _port(self, edge: _Edge, side: str) -> str:
        """Where a skip enters its head: several skips into one node enter side by side."""
        if self._skips_into is None:
            self._skips_into = {}
            for e in self.view.edges:
                if e.kind == "skip":
                    self._skips_into.setdefault(e.head, []).append(e)
            for edges in self._skips_into.values():
                edges.sort(key=lambda e: e.index)
        siblings = self._skips_into.get(edge.head, [])
        if len(siblings) < 2:
            return side
        ports = [f"n{side}", side, f"s{side}"]
        k = next(i for i, e in enumerate(siblings) if e is edge)
        return ports[k] if k < len(ports) else side

    def _on_skip_path(self, uid: str) -> bool:
        """A shortcut or alignment drawn as a small node on a skip path."""
        unit = self.view.units[uid]
        if unit.kind == "shortcut":
            return True
        if unit.kind != "node":
            return False
        node = unit.nodes[0]
        if self.graph.nodes[node].get("role") not in ("shortcut", "align"):
            return False
        return any(e.get("kind") == "skip" for _, _, e in self.graph.out_edges(node, data=True))

    # -------------------------------------------------------- U rows

    def _ranks(self) -> Iterator[str]:
        for row in self.view.rows:
            yield "\t{rank=same; " + "; ".join(_q(uid) for uid in row) + "}\n"

    # -------------------------------------------------------- legend

    def _legend(self) -> Iterator[str]:
        merges = {
            str(data.get("merge"))
            for _, _, data in self.graph.edges(data=True)
            if data.get("kind") == "skip"
        }
        rows: list[tuple[str, dict[str, str | int | float | bool | None]]] = [
            ("main path", {"color": MAIN_COLOR})
        ]
        for op in ops_of_kind("merge"):
            if op.name in merges:
                st: SkipStyle = op.style
                rows.append(
                    (
                        st.meaning,
                        {
                            "color": st.color,
                            "style": st.line,
                            "penwidth": st.width,
                            "fontcolor": st.color,
                        },
                    )
                )
        yield "\tsubgraph cluster_legend {\n"
        yield (
            "\t\t"
            + "graph "
            + _attrs(
                {
                    "label": Html("<B>legend</B>"),
                    "labeljust": "l",
                    "fontsize": 10,
                    "style": "rounded",
                    "color": "#cccccc",
                    "margin": 8,
                }
            )
            + "\n"
        )
        yield (
            "\t\tnode "
            + _attrs({"shape": "point", "width": 0.05, "color": "#999999", "label": ""})
            + "\n"
        )
        previous = None
        for i, (text, attrs) in enumerate(rows):
            a, b = f"legend:{i}:a", f"legend:{i}:b"
            yield f"\t\t{_q(a)}; {_q(b)}\n"
            yield f"\t\t{{rank=same; {_q(a)}; {_q(b)}}}\n"
            yield f"\t\t{_q(a)} -> {_q(b)} {_attrs({'label': text, 'fontsize': 9, 'minlen': 3, **attrs})}\n"
            if previous is not None:
                yield f"\t\t{_q(previous)} -> {_q(a)} [style=invis, weight=10]\n"
            previous = a
        yield "\t}\n"


def _graph_name(graph: nx.DiGraph) -> str:
    return str(graph.graph.get("model") or "model")


def _args_text(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={value_text(v)}" for k, v in args.items())


def _span(span: Any) -> str:
    if span is None:
        return "?"
    name = os.path.basename(str(getattr(span, "file", "?"))) or "?"
    return f"{name}:{getattr(span, 'line', '?')}"
