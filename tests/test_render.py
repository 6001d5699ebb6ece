"""Skip-path diagrams: golden DOT files, the DOT's structure, exports, and ``resdsl render``.

The DOT is checked by parsing it (a small parser for the subset resdsl writes,
itself checked against Graphviz's own reading of the file when ``dot`` is
installed), so the tests say what a reader of the diagram relies on: every skip
is there in its own style, edges carry shapes, clusters are the scopes.

Golden files live in ``tests/golden/dot``; refresh them with
``RESDSL_UPDATE_GOLDEN=1 pytest tests/test_render.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

import resdsl
from resdsl.backends.render import (
    FORMATS,
    GraphvizError,
    RenderError,
    cluster_name,
    export,
    format_for,
    graph_data,
    render_graph,
    shape_label,
    split_options,
    to_dot,
    to_graphml,
    to_json,
)
from resdsl.cli import app
from resdsl.ops import ops_of_kind
from tests.conftest import ROOT, SPECS, UPDATE_GOLDEN

#: The diagram style of every merge kind, from the op registry.
SKIP_STYLES = {op.name: op.style for op in ops_of_kind("merge")}

GOLDEN = Path(__file__).resolve().parent / "golden" / "dot"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")

#: A spec with every merge kind: a squeeze-and-excite gate (mul), dense
#: concatenation (three inputs into one concat), a projection and a rezero gate.
MISC = """
block se(c: int) {
    body: conv(c, 3, padding=1)
    pool: adaptive_avgpool(1)
    fc1:  conv(c // 4, 1)
          relu
    fc2:  conv(c, 1)
    gate: sigmoid
    skip body -> gate (mul)
}

block dense(growth: int) {
    a: conv(growth, 3, padding=1)
    b: conv(growth, 3, padding=1)
    c: conv(growth, 3, padding=1)
    skip in -> b (concat)
    skip in -> c (concat)
    skip a -> c (concat)
}

model misc {
    input [16, H=32, W=32]
    s1:  se(16)
    d1:  dense(8)
    r:   conv(40, 3, padding=1)
    act: relu
    proj: skip in -> act (add, shortcut=projection)
    res: conv(40, 3, padding=1)
    rz:  skip act -> res (add, gate=rezero)
}
"""

#: A small U inside a block: a U at full depth, a plain chain once collapsed.
HOURGLASS = """
block hourglass(c: int) {
    enc:  conv(c, 3, padding=1)
    down: maxpool(2)
    mid:  conv(c, 3, padding=1)
    up:   upsample(2)
    skip enc -> up (concat)
    out:  conv(c, 1)
}
model wrapped {
    input [8, H=32, W=32]
    net:  hourglass(8)
    head: conv(2, 1)
}
"""

# ---------------------------------------------------------------- a DOT reader

_ID = r'"(?:[^"\\]|\\.)*"'
_ATTR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^,\]\s<][^,\]]*|<)\s*,?')


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _attrs(text: str) -> dict[str, str]:
    """Parse ``key=value, ...`` where a value is quoted, bare, or an HTML label ``<...>``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        m = _ATTR.match(text, i)
        assert m, f"cannot parse attributes at {text[i:]!r}"
        key, value = m.group(1), m.group(2)
        if value == "<":  # an HTML label: balanced angle brackets
            depth, j = 0, m.start(2)
            while True:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out[key] = text[m.start(2) : j]
            i = j
            while i < len(text) and text[i] in ", ":
                i += 1
            continue
        out[key] = _unquote(value.strip())
        i = m.end()
    return out


@dataclass
class Edge:
    source: str  # where the value comes from (dir=back undone)
    target: str
    attrs: dict[str, str]
    written: tuple[str, str]  # tail and head as written in the DOT


@dataclass
class Dot:
    name: str
    graph: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    #: cluster name -> (its graph attributes, its parent cluster or "", its own nodes)
    clusters: dict[str, tuple[dict[str, str], str, list[str]]] = field(default_factory=dict)
    cluster_of: dict[str, str] = field(default_factory=dict)  # node -> innermost cluster
    ranks: list[list[str]] = field(default_factory=list)

    def edge(self, source: str, target: str) -> Edge:
        found = [e for e in self.edges if (e.source, e.target) == (source, target)]
        assert len(found) == 1, f"{len(found)} edges {source} -> {target}"
        return found[0]

    @property
    def diagram_nodes(self) -> list[str]:
        return [n for n in self.nodes if self.cluster_of.get(n) != "cluster_legend"]

    @property
    def diagram_ranks(self) -> list[list[str]]:
        return [r for r in self.ranks if self.cluster_of.get(r[0]) != "cluster_legend"]

    @property
    def diagram_edges(self) -> list[Edge]:
        return [e for e in self.edges if self.cluster_of.get(e.source) != "cluster_legend"]


def parse_dot(text: str) -> Dot:
    """Read the DOT subset resdsl writes: one statement per line."""
    lines = text.splitlines()
    head = re.fullmatch(r"digraph (\S+) \{", lines[0])
    assert head and lines[-1] == "}", "not a digraph"
    dot = Dot(_unquote(head.group(1)))
    stack: list[str] = []
    for line in lines[1:-1]:
        s = line.strip()
        if m := re.fullmatch(r"subgraph (\S+) \{", s):
            name = m.group(1)
            dot.clusters[name] = ({}, stack[-1] if stack else "", [])
            stack.append(name)
        elif s == "}":
            stack.pop()
        elif m := re.fullmatch(r"graph \[(.*)\]", s):
            target = dot.clusters[stack[-1]][0] if stack else dot.graph
            target.update(_attrs(m.group(1)))
        elif re.fullmatch(r"(node|edge) \[(.*)\]", s):
            continue
        elif m := re.fullmatch(r"\{rank=same; (.*)\}", s):
            dot.ranks.append([_unquote(x) for x in re.findall(_ID, m.group(1))])
        elif m := re.fullmatch(rf"({_ID}) -> ({_ID}) \[(.*)\]", s):
            tail, head_, attrs = _unquote(m.group(1)), _unquote(m.group(2)), _attrs(m.group(3))
            source, target = (head_, tail) if attrs.get("dir") == "back" else (tail, head_)
            dot.edges.append(Edge(source, target, attrs, (tail, head_)))
        elif m := re.fullmatch(rf"({_ID}) \[(.*)\]", s):
            dot.nodes[_unquote(m.group(1))] = _attrs(m.group(2))
        elif re.fullmatch(rf"{_ID}(; {_ID})*", s):
            for x in re.findall(_ID, s):
                dot.nodes.setdefault(_unquote(x), {})
        else:
            raise AssertionError(f"unexpected DOT line {s!r}")
        declared = re.fullmatch(rf"({_ID}) \[.*\]|{_ID}(; {_ID})*", s) and "->" not in s
        if stack and declared:
            for x in re.findall(_ID, s.split(" [", 1)[0]):
                node = _unquote(x)
                dot.cluster_of[node] = stack[-1]
                dot.clusters[stack[-1]][2].append(node)
    return dot


def graph_of(spec: str, model: str | None = None, **params: Any) -> nx.DiGraph:
    return resdsl.load(SPECS / spec).graph(model, **params)


def unit_of(dot: Dot, node: str, graph: nx.DiGraph) -> str:
    """The DOT node drawing a graph node: itself, or the collapsed scope holding it."""
    if node in dot.nodes:
        return node
    parent = graph.nodes[node]["parent"]
    parts = parent.split(".")
    for i in range(len(parts), 0, -1):
        candidate = "[" + ".".join(parts[:i]) + "]"
        if candidate in dot.nodes:
            return candidate
    folded = [n for n in dot.nodes if n.startswith("[") and ".." in n]
    for n in folded:
        first, last = n[1:-1].split("..")
        scopes = graph.graph["scopes"]
        paths = list(scopes)
        if any(
            parent == p or parent.startswith(p + ".")
            for p in paths[paths.index(first) : paths.index(last) + 1]
        ):
            return n
    raise AssertionError(f"{node} is not drawn")


# ---------------------------------------------------------------- golden files

GOLDEN_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("resnet.res", "resnet18", {}),
    ("resnet.res", "resnet18", {"depth": 0}),
    ("resnet.res", "resnet34", {"depth": 1}),
    ("resnet.res", "resnet50", {"depth": 2}),
    ("resnet.res", "resnet101", {"depth": 1}),
    ("resnet.res", "resnet152", {"depth": 1}),
    ("cifar_resnet.res", "resnet20", {}),
    ("cifar_resnet.res", "resnet110", {"depth": 1, "params": True}),
    ("plain_resnet.res", "plain20", {"shapes": "concrete"}),
    ("preact_resnet.res", "preact_resnet164", {"depth": 1}),
    ("preact_resnet.res", "preact_resnet1001", {"depth": 1}),
    ("unet.res", "unet", {}),
    ("unet.res", "unet", {"depth": 0, "params": True}),
    ("unet.res", "unet", {"depth": 1, "bilinear": True}),
    ("unet_noalign.res", "unet_noalign", {"depth": 1}),
    ("unet_original.res", "unet_original", {}),
    ("rezero.res", "rezero20", {}),
    ("rezero.res", "rezero110", {"depth": 1}),
]


def _golden_name(spec: str, model: str | None, options: dict[str, Any]) -> str:
    parts = [spec.removesuffix(".res"), model or "default"]
    parts += [f"{k}-{str(v).lower()}" for k, v in options.items()]
    return "__".join(parts) + ".dot"


@pytest.mark.parametrize(
    ("spec", "model", "options"),
    GOLDEN_CASES,
    ids=[_golden_name(*case).removesuffix(".dot") for case in GOLDEN_CASES],
)
def test_golden_dot(spec: str, model: str | None, options: dict[str, Any]) -> None:
    text = resdsl.load(SPECS / spec).to_dot(model, **options)
    path = GOLDEN / _golden_name(spec, model, options)
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with RESDSL_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the rendered DOT; if the change is intended, "
        "refresh with RESDSL_UPDATE_GOLDEN=1"
    )


def test_every_bundled_spec_has_a_golden_file() -> None:
    covered = {spec for spec, _, _ in GOLDEN_CASES}
    assert covered == {p.name for p in SPECS.glob("*.res")}


def test_same_spec_same_bytes_in_another_process() -> None:
    """No dependence on hash seeds, dict order or object ids."""
    code = (
        "import resdsl, sys; "
        "sys.stdout.write(resdsl.load('specs/unet.res').to_dot(depth=1, params=True))"
    )
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True
        )
        outs.append(done.stdout)
    assert outs[0] == outs[1]
    assert outs[0].decode() == resdsl.load(SPECS / "unet.res").to_dot(depth=1, params=True)


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ("resnet.res", "resnet18"),
        ("resnet.res", "resnet50"),
        ("cifar_resnet.res", "resnet20"),
        ("preact_resnet.res", "preact_resnet164"),
        ("unet.res", "unet"),
        ("unet_original.res", "unet_original"),
        (None, "misc"),
    ],
)
def test_every_skip_edge_is_drawn_in_its_style(spec: str | None, model: str) -> None:
    graph = graph_of(spec, model) if spec else resdsl.loads(MISC).graph()
    dot = parse_dot(to_dot(graph))
    skips = [(u, v, d) for u, v, d in graph.edges(data=True) if d["kind"] == "skip"]
    assert skips
    for u, v, data in skips:
        tail, head = unit_of(dot, u, graph), unit_of(dot, v, graph)
        if tail == head:  # inside one collapsed shortcut
            continue
        edge = dot.edge(tail, head)
        style = SKIP_STYLES[data["merge"]]
        assert (edge.attrs["color"], edge.attrs["style"]) == (style.color, style.line), (u, v)
        assert float(edge.attrs["penwidth"]) == style.width
    for edge in dot.diagram_edges:
        if edge.attrs.get("color") not in {s.color for s in SKIP_STYLES.values()}:
            assert "style" not in edge.attrs  # main edges: plain


def test_merge_kinds_look_different_from_each_other_and_from_the_main_path() -> None:
    looks = {(s.color, s.line) for s in SKIP_STYLES.values()}
    assert len(looks) == len(SKIP_STYLES)  # each merge kind looks different
    dot = parse_dot(resdsl.loads(MISC).to_dot())
    main = [e for e in dot.diagram_edges if "style" not in e.attrs]
    assert main and all(e.attrs.get("color") is None for e in main)  # the default grey
    assert dot.graph.get("rankdir") == "TB"


@pytest.mark.parametrize("mode", ["symbolic", "concrete"])
def test_edges_carry_the_shape_they_transport(mode: str) -> None:
    graph = graph_of("resnet.res", "resnet18")
    dot = parse_dot(to_dot(graph, shapes=mode))  # type: ignore[arg-type]
    edges = dot.diagram_edges
    drawn = {(unit_of(dot, u, graph), unit_of(dot, v, graph)) for u, v in graph.edges}
    assert len(edges) == len({(a, b) for a, b in drawn if a != b}) + 1  # + the output
    scopes = graph.graph["scopes"]
    for edge in edges:
        source = edge.source
        node = scopes[source[1:-1]].output if source.startswith("[") else source
        shape = graph.nodes[node]["shape"]
        assert edge.attrs["label"] == shape_label(shape, mode, graph.graph["valid_sizes"])  # type: ignore[arg-type]
    labels = {e.attrs["label"] for e in edges}
    # resnet18 takes every size: a stride-2 stage rounds up, and the label says so
    assert ("64×ceil(H/4)×ceil(W/4)" if mode == "symbolic" else "64×56×56") in labels


def test_no_shapes_means_no_edge_labels() -> None:
    dot = parse_dot(to_dot(graph_of("resnet.res", "resnet18"), shapes="none"))
    assert all("label" not in e.attrs for e in dot.diagram_edges)


def test_concat_inputs_are_numbered_in_merge_order() -> None:
    graph = resdsl.loads(MISC).graph()
    dot = parse_dot(to_dot(graph))
    into = sorted(
        (e for e in dot.diagram_edges if e.target == "d1.c:concat"),
        key=lambda e: e.attrs["label"],
    )
    assert [e.attrs["label"] for e in into] == ["#1 · 16×H×W", "#2 · 8×H×W", "#3 · 8×H×W"]
    assert [e.source for e in into] == ["s1.gate:mul", "d1.a", "d1.c"]
    for u, v, data in graph.in_edges("d1.c:concat", data=True):
        assert dot.edge(u, v).attrs["label"].startswith(f"#{data['index'] + 1} ")
    unet = parse_dot(resdsl.load(SPECS / "unet.res").to_dot())
    skip = unet.edge("up1:concat/pad0", "up1:concat")
    main = unet.edge("up1:concat/pad1", "up1:concat")
    assert skip.attrs["label"].startswith("#1 ") and main.attrs["label"].startswith("#2 ")


def test_shortcuts_sit_on_their_skip_path() -> None:
    graph = graph_of("resnet.res", "resnet18")
    dot = parse_dot(to_dot(graph))
    proj = dot.nodes["[layer2.0.downsample]"]
    assert "conv 1×1/2, 128" in proj["label"] and "batchnorm" in proj["label"]
    assert dot.edge("layer1.1.5", "[layer2.0.downsample]").attrs["style"] == "dashed"
    assert dot.edge("[layer2.0.downsample]", "layer2.0.bn2:add").attrs["style"] == "dashed"
    assert dot.cluster_of["[layer2.0.downsample]"] == "cluster_layer2_0"
    cifar = parse_dot(resdsl.load(SPECS / "cifar_resnet.res").to_dot("resnet20"))
    assert "zeropad /2, +8+8 ch" in cifar.nodes["layer2.0.shortcut"]["label"]
    preact = parse_dot(resdsl.load(SPECS / "preact_resnet.res").to_dot("preact_resnet164"))
    label = preact.nodes["[layer1.0.shortcut]"]["label"]
    assert "conv_shortcut(channels=64, stride=1)" in label and "conv 1×1, 64" in label


def test_clusters_are_the_scopes() -> None:
    graph = graph_of("unet.res")
    dot = parse_dot(to_dot(graph))
    expected = {
        cluster_name(path)
        for path, info in graph.graph["scopes"].items()
        if path and info.kind != "shortcut"
    }
    assert set(dot.clusters) - {"cluster_legend"} == expected
    for node, data in graph.nodes(data=True):
        parent = data["parent"]
        assert dot.cluster_of.get(node) == (cluster_name(parent) if parent else None), node
    attrs, parent, _ = dot.clusters["cluster_down1_maxpool_conv_1"]
    assert parent == "cluster_down1_maxpool_conv"
    assert attrs["label"] == "<<B>down1.maxpool_conv.1</B> (double_conv)>"
    r18 = parse_dot(resdsl.load(SPECS / "resnet.res").to_dot("resnet18"))
    assert r18.clusters["cluster_layer1_0"][0]["label"] == "<<B>layer1.0</B> (basic)>"


def test_cluster_names_never_clash() -> None:
    taken: set[str] = set()
    assert cluster_name("layer1.0", taken) == "cluster_layer1_0"
    assert cluster_name("layer1_0", taken) == "cluster_layer1_0_2"


def test_depth_1_folds_resnet152_onto_a_page() -> None:
    dot = parse_dot(resdsl.load(SPECS / "resnet.res").to_dot("resnet152", depth=1))
    assert len(dot.diagram_nodes) < 40
    folded = dot.nodes["[layer3.1..layer3.35]"]["label"]
    assert "×35" in folded and "bottleneck(planes=256, stride=1)" in folded
    assert "layer3.0" in dot.nodes["[layer3.0]"]["label"]
    assert set(dot.clusters) == {
        "cluster_layer1",
        "cluster_layer2",
        "cluster_layer3",
        "cluster_layer4",
        "cluster_legend",
    }
    chain = ["[layer3.0]", "[layer3.1..layer3.35]", "[layer4.0]"]
    assert dot.edge(chain[0], chain[1]).attrs["label"] == "1024×ceil(H/16)×ceil(W/16)"
    assert dot.edge(chain[1], chain[2]).attrs["label"] == "1024×ceil(H/16)×ceil(W/16)"


def test_depth_counts_names_in_the_scope_path() -> None:
    spec = resdsl.load(SPECS / "resnet.res")
    d0 = parse_dot(spec.to_dot("resnet18", depth=0))
    assert d0.diagram_nodes == [
        "input",
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "[layer1]",
        "[layer2]",
        "[layer3]",
        "[layer4]",
        "avgpool",
        "9",
        "fc",
        "[output]",
    ]
    assert set(d0.clusters) == {"cluster_legend"}
    d1 = parse_dot(spec.to_dot("resnet18", depth=1, fold=False))
    assert "[layer2.0]" in d1.nodes and "[layer2.1]" in d1.nodes
    d2, full = parse_dot(spec.to_dot("resnet18", depth=2)), parse_dot(spec.to_dot("resnet18"))
    assert (d2.nodes, d2.edges, d2.clusters) == (full.nodes, full.edges, full.clusters)


def test_params_on_request() -> None:
    graph = graph_of("resnet.res", "resnet18")
    plain = parse_dot(to_dot(graph))
    assert all("params" not in a["label"] for a in plain.nodes.values() if "label" in a)
    dot = parse_dot(to_dot(graph, params=True))
    block = sum(
        d["params"] for _, d in graph.nodes(data=True) if d["parent"].startswith("layer1.0")
    )
    assert f"{block:,} params" in dot.clusters["cluster_layer1_0"][0]["label"]
    assert "9,408 params" in dot.nodes["conv1"]["label"]  # 64 * 3 * 7 * 7
    assert "11,689,512 params" in dot.graph["label"]


def test_unet_is_drawn_as_a_u() -> None:
    graph = graph_of("unet.res")
    dot = parse_dot(to_dot(graph))
    assert dot.graph["newrank"] == "true"
    # Each long skip runs across one rank: source, pad and concat side by side.
    assert sorted(map(sorted, dot.diagram_ranks)) == sorted(
        sorted([src, f"up{k}:concat/pad0", f"up{k}:concat"])
        for k, src in [
            (1, "down3.maxpool_conv.1.double_conv.5"),
            (2, "down2.maxpool_conv.1.double_conv.5"),
            (3, "down1.maxpool_conv.1.double_conv.5"),
            (4, "inc.double_conv.5"),
        ]
    )
    # The encoder runs down, the decoder (everything after the bottleneck) back up.
    turn = list(graph.nodes).index("down4.maxpool_conv.1.double_conv.5")
    position = {n: i for i, n in enumerate(graph.nodes)}
    for edge in dot.diagram_edges:
        if edge.attrs.get("color") == SKIP_STYLES["concat"].color:
            assert "dir" not in edge.attrs
            continue
        head = position.get(edge.target, len(position))
        assert (edge.attrs.get("dir") == "back") == (head > turn), edge
    cropped = parse_dot(resdsl.load(SPECS / "unet_original.res").to_dot())
    assert len(cropped.diagram_ranks) == 4
    assert len(parse_dot(resdsl.load(SPECS / "unet.res").to_dot(depth=0)).diagram_ranks) == 4


def test_a_u_hidden_in_a_collapsed_block_is_drawn_as_a_chain() -> None:
    spec = resdsl.loads(HOURGLASS)
    full = parse_dot(spec.to_dot())
    assert full.diagram_ranks == [["net.enc", "net.up:concat"]]
    assert full.edge("net.up", "net.up:concat").attrs["dir"] == "back"
    collapsed = parse_dot(spec.to_dot(depth=0))
    assert not collapsed.diagram_ranks
    assert all("dir" not in e.attrs for e in collapsed.edges)


def test_chain_layout_for_residual_nets_and_on_request() -> None:
    for spec, model in [("resnet.res", "resnet18"), ("preact_resnet.res", "preact_resnet164")]:
        dot = parse_dot(resdsl.load(SPECS / spec).to_dot(model))
        assert not dot.diagram_ranks and "newrank" not in dot.graph
        assert all("dir" not in e.attrs for e in dot.edges)
    misc = parse_dot(resdsl.loads(MISC).to_dot())  # a gate is no U
    assert not misc.diagram_ranks
    forced = parse_dot(resdsl.load(SPECS / "unet.res").to_dot(layout="chain"))
    assert not forced.diagram_ranks and all("dir" not in e.attrs for e in forced.edges)


def test_legend_shows_the_merge_kinds_in_use() -> None:
    misc = parse_dot(resdsl.loads(MISC).to_dot())
    labels = [
        e.attrs["label"]
        for e in misc.edges
        if "label" in e.attrs and e.source.startswith("legend:")
    ]
    assert labels == [
        "main path",
        "add skip (short, residual)",
        "concat skip (long; #1, #2 = order)",
        "mul skip (gating)",
    ]
    unet = parse_dot(resdsl.load(SPECS / "unet.res").to_dot())
    assert [
        e.attrs["label"]
        for e in unet.edges
        if "label" in e.attrs and e.source.startswith("legend:")
    ] == [
        "main path",
        "concat skip (long; #1, #2 = order)",
    ]
    assert "cluster_legend" not in parse_dot(resdsl.loads(MISC).to_dot(legend=False)).clusters


def test_merge_options_are_shown() -> None:
    dot = parse_dot(resdsl.loads(MISC).to_dot())
    assert dot.nodes["res:add"]["xlabel"] == "rezero"
    assert dot.nodes["s1.gate:mul"]["label"] == "<<B>×</B>>"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"depth": -1}, "depth must be a whole number >= 0"),
        ({"depth": 1.5}, "depth must be a whole number >= 0"),
        ({"shapes": "big"}, "shapes must be one of symbolic, concrete, none"),
        ({"layout": "circle"}, "layout must be one of auto, u, chain"),
        ({"params": "yes"}, "params must be True or False"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=re.escape(message)):
        to_dot(graph_of("resnet.res", "resnet18"), **options)


# ---------------------------------------------------------------- the DOT reader vs Graphviz


@needs_dot
def test_the_dot_reader_agrees_with_graphviz() -> None:
    text = resdsl.loads(MISC).to_dot(params=True)
    ours = parse_dot(text)
    done = subprocess.run(["dot", "-Tjson"], input=text.encode(), capture_output=True, check=True)
    theirs = json.loads(done.stdout)
    objects = theirs["objects"]
    names = {o["_gvid"]: o["name"] for o in objects}
    assert {o["name"] for o in objects if "nodes" not in o} == set(ours.nodes)
    clusters = {o["name"]: {names[i] for i in o.get("nodes", [])} for o in objects if "nodes" in o}
    for name, (_, _, own) in ours.clusters.items():
        assert set(own) <= clusters[name]
    assert sorted((names[e["tail"]], names[e["head"]]) for e in theirs["edges"]) == sorted(
        e.written for e in ours.edges
    )
    for e in theirs["edges"]:
        tail, head = names[e["tail"]], names[e["head"]]
        mine = next(x for x in ours.edges if x.written == (tail, head))
        for key in ("label", "color", "style"):
            if key in mine.attrs:
                assert e[key] == mine.attrs[key]


# ---------------------------------------------------------------- API and exports


def test_spec_api_splits_render_options_from_model_parameters() -> None:
    assert split_options({"depth": 1, "H": 256, "format": "svg"}) == (
        {"H": 256},
        {"depth": 1, "format": "svg"},
    )
    spec = resdsl.load(SPECS / "resnet.res")
    dot = spec.to_dot("resnet18", depth=0, num_classes=10, H=64, shapes="concrete")
    assert 'label="10"' in dot and 'label="64×16×56"' in dot  # H=64, W stays 224


def test_render_graph_returns_a_digraph_with_the_same_source(tmp_path: Path) -> None:
    graph = graph_of("unet.res")
    digraph = render_graph(graph, depth=1)
    assert digraph.source == to_dot(graph, depth=1)
    target = tmp_path / "unet.dot"
    spec = resdsl.load(SPECS / "unet.res")
    again = spec.render(path=target, depth=1)
    assert target.read_text(encoding="utf-8") == again.source == digraph.source
    odd = resdsl.loads("model graph {\n input [4]\n fc: linear(2)\n}\n")
    assert odd.render().source == odd.to_dot()
    assert odd.to_dot().startswith('digraph "graph" {')


@needs_dot
def test_render_graph_writes_images(tmp_path: Path) -> None:
    spec = resdsl.load(SPECS / "resnet.res")
    for fmt, magic in [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")]:
        path = tmp_path / f"r18.{fmt}"
        digraph = spec.render("resnet18", path=path, depth=1)
        assert path.read_bytes().startswith(magic)
        assert digraph.format == fmt
    path = tmp_path / "r18.out"
    spec.render("resnet18", path=path, depth=0, format="svg")
    assert path.read_bytes().startswith(b"<?xml")
    assert not list(tmp_path.glob(".*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_without_graphviz_dot_works_and_images_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    spec = resdsl.load(SPECS / "resnet.res")
    spec.render("resnet18", path=tmp_path / "ok.dot", depth=0)
    assert (tmp_path / "ok.dot").read_text(encoding="utf-8").startswith("digraph resnet18 {")
    with pytest.raises(GraphvizError) as info:
        spec.render("resnet18", path=tmp_path / "no.svg")
    assert "'dot' program was not found" in str(info.value)
    assert "apt-get install -y graphviz" in str(info.value)
    assert "brew install graphviz" in str(info.value)
    assert not (tmp_path / "no.svg").exists()


def test_formats_come_from_the_extension_or_the_option() -> None:
    assert [
        format_for(f"x.{e}") for e in ("svg", "png", "pdf", "dot", "gv", "json", "graphml")
    ] == [
        "svg",
        "png",
        "pdf",
        "dot",
        "dot",
        "json",
        "graphml",
    ]
    assert format_for("x.bin", "PNG") == "png"
    with pytest.raises(RenderError, match="cannot tell the format"):
        format_for("x.bmp")
    with pytest.raises(RenderError, match=re.escape(f"expected one of {', '.join(FORMATS)}")):
        format_for("x.svg", "bmp")


def test_json_export_is_node_link_data() -> None:
    graph = graph_of("resnet.res", "resnet18")
    data = json.loads(to_json(graph))
    assert data == json.loads(json.dumps(graph_data(graph)))
    again = nx.node_link_graph(data, edges="edges")
    assert list(again.nodes) == list(graph.nodes)
    assert set(again.edges) == set(graph.edges)
    conv = again.nodes["layer2.0.conv1"]
    assert conv["args"]["stride"] == 2 and conv["args"]["out_channels"] == 128
    assert conv["shape"] == [128, 28, 28] and conv["shape_text"] == [
        "128",
        "ceil(H/8)",
        "ceil(W/8)",
    ]
    assert re.fullmatch(r".*resnet\.res:\d+:\d+", conv["span"])
    assert again.edges["layer1.1.5", "layer2.0.downsample.0"] == {
        "kind": "skip",
        "index": 0,
        "merge": "add",
        "skip": "layer2.0.downsample",
        "shortcut": "projection",
    }
    assert data["graph"]["scopes"]["layer1"]["args"]["unit"] == "basic"
    assert data["graph"]["params"] == 11_689_512


def test_graphml_export_reads_back() -> None:
    graph = graph_of("unet.res")
    again = nx.parse_graphml(to_graphml(graph))
    assert list(again.nodes) == list(graph.nodes)
    assert again.nodes["up1.up"]["op"] == "conv_transpose"
    assert again.nodes["up1.up"]["shape_text"] == "512×2*floor(H/16)×2*floor(W/16)"
    assert json.loads(again.nodes["up1.up"]["args"])["stride"] == 2
    assert again.edges["inc.double_conv.5", "up4:concat/pad0"]["merge"] == "concat"
    assert export(graph, "graphml") == to_graphml(graph).encode()


def test_rendering_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resdsl.cli import app\n"
        f"r = CliRunner().invoke(app, ['render', 'specs/unet.res', '-o', {str(tmp_path / 'u.json')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "import resdsl\n"
        "resdsl.load('specs/resnet.res').to_dot('resnet18')\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def test_docstring_examples_run_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doctest

    import resdsl.backends.render

    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(resdsl.backends.render, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 10


# ---------------------------------------------------------------- the largest bundled model


@needs_dot
@pytest.mark.slow
def test_resnet152_renders_to_svg_at_full_depth_and_folded() -> None:
    # How long this takes is measured by benchmarks/bench_render.py, not asserted here.
    graph = resdsl.load(SPECS / "resnet.res").graph("resnet152")
    for depth in (None, 1):
        assert export(graph, "svg", depth=depth).startswith(b"<?xml")


# ---------------------------------------------------------------- the command line

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["render", *args])


def test_cli_writes_dot_and_prints_it(tmp_path: Path) -> None:
    spec = str(SPECS / "resnet.res")
    out = tmp_path / "r.dot"
    result = invoke(spec, "-m", "resnet18", "--depth", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out} (dot, model resnet18)\n"
    assert out.read_text(encoding="utf-8") == resdsl.load(spec).to_dot("resnet18", depth=1)
    shown = invoke(spec, "-m", "resnet18", "-d", "0", "--shapes", "none", "--no-legend", "-o", "-")
    assert shown.exit_code == 0
    assert shown.stdout == resdsl.load(spec).to_dot(
        "resnet18", depth=0, shapes="none", legend=False
    )


def test_cli_passes_parameters_and_options(tmp_path: Path) -> None:
    spec = str(SPECS / "unet.res")
    result = invoke(
        spec,
        "-p",
        "bilinear=true",
        "-p",
        "H=128",
        "--show-params",
        "--no-fold",
        "--layout",
        "chain",
    )
    assert result.exit_code == 0, result.output
    expected = resdsl.load(spec).to_dot(
        bilinear=True, H=128, params=True, fold=False, layout="chain"
    )
    assert result.stdout == expected


@needs_dot
def test_cli_writes_svg(tmp_path: Path) -> None:
    out = tmp_path / "unet.svg"
    result = invoke(str(SPECS / "unet.res"), "--depth", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"<?xml")


def test_cli_json_and_graphml(tmp_path: Path) -> None:
    spec = str(SPECS / "cifar_resnet.res")
    for ext in ("json", "graphml"):
        out = tmp_path / f"r.{ext}"
        result = invoke(spec, "-m", "resnet20", "-o", str(out))
        assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["graph"]["model"] == "resnet20"
    assert nx.read_graphml(tmp_path / "r.graphml").number_of_nodes() == len(data["nodes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.bmp"], "error: cannot tell the format from the file name 'x.bmp'"),
        (["-o", "x.svg", "--format", "gif"], "error: unknown format 'gif'"),
        (["-d", "-1"], "error: --depth must be 0 or more, got -1"),
        (["--shapes", "big"], "error: shapes must be one of symbolic, concrete, none, got 'big'"),
        (["--layout", "ring"], "error: layout must be one of auto, u, chain, got 'ring'"),
        (["--format", "png"], "error: png output is binary: give a file with -o"),
        (["-o", "/nonexistent-dir/x.dot"], "error: cannot write /nonexistent-dir/x.dot: "),
        (["-m", "resnet7"], "error: "),
        (["-p", "depths=["], "error: "),
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = invoke(
        str(SPECS / "resnet.res"), *(["-m", "resnet18"] if "-m" not in args else []), *args
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_refuses_a_directory_as_output(tmp_path: Path) -> None:
    result = invoke(str(SPECS / "unet.res"), "-f", "dot", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {tmp_path}: it is a directory\n"


def test_cli_unwritable_directory_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root can write anywhere, so simulate the refusal where the file would be created."""
    import tempfile

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "r.dot"
    result = invoke(str(SPECS / "unet.res"), "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {out}: Permission denied\n"
    assert not out.exists()


def test_cli_invalid_spec_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.res"
    bad.write_text("model m {\n    input [3, H=8, W=8]\n    conv(4, 9)\n}\n", encoding="utf-8")
    out = tmp_path / "bad.dot"
    result = invoke(str(bad), "-o", str(out))
    assert result.exit_code == 1
    assert "bad.res:3:13: error: conv cannot take an input of shape" in result.stderr
    assert not out.exists()


def test_cli_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    spec = str(SPECS / "resnet.res")
    result = invoke(spec, "-m", "resnet18", "-o", str(tmp_path / "r.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: cannot write png: Graphviz's 'dot' program was not found on PATH\n"
    )
    assert "apt-get install -y graphviz" in result.stderr
    assert "brew install graphviz" in result.stderr
    assert not (tmp_path / "r.png").exists()
    ok = invoke(spec, "-m", "resnet18", "-o", str(tmp_path / "r.dot"))
    assert ok.exit_code == 0 and (tmp_path / "r.dot").exists()


def test_cli_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["render", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit codes: 0 written; 1 the spec is invalid; 2 bad usage" in text
    assert "Graphviz missing" in text


def test_only_equal_block_instances_fold() -> None:
    """Folding uses the graph's instance keys: a fold's label shows one set of
    arguments, and its parameter count holds for each folded block."""
    spec = resdsl.loads(
        """
        block unit(width: int, tag: str) {
            conv(width, 3, padding=1)
            relu
        }
        model m() {
            input [3, H=8, W=8]
            stem: conv(8, 1)
            a: unit(8, "x")
            b: unit(8, "x")
            c: unit(8, "y")
        }
        model other_inputs() {
            input [3, H=8, W=8]
            a: unit(8, "x")
            b: unit(8, "x")
        }
        """
    )
    dot = parse_dot(spec.to_dot("m", depth=0))
    assert [n for n in dot.diagram_nodes if n.startswith("[")] == ["[a..b]", "[c]", "[output]"]
    assert "unit(width=8, tag=x)" in dot.nodes["[a..b]"]["label"]
    # Equal layers, but a's conv has 3 input channels and b's 8: they do not fold.
    dot = parse_dot(spec.to_dot("other_inputs", depth=0))
    assert [n for n in dot.diagram_nodes if n.startswith("[")] == ["[a]", "[b]", "[output]"]


DENSE = """
block dense(c: int) {
  a: conv(c, 3, padding=1)
  b: conv(c, 3, padding=1)
  conv(c, 3, padding=1)
  d: relu()
  skip in -> d (concat)
  skip a -> d (concat)
  skip b -> d (concat)
  r: relu()
  skip d -> r (add)
}
model m {
  input [3, H=16, W=16]
  d1: dense(4)
}
"""


def test_collapsed_block_counts_skips_not_merge_nodes() -> None:
    # three concat skips into one value are one merge node: the caption says three
    dot = parse_dot(resdsl.loads(DENSE).to_dot("m", depth=0))
    label = str(dot.nodes["[d1]"]["label"])
    assert "5 layers" in label and "3 concat skips" in label and "1 add skip<" in label
