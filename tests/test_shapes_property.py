"""Property: for random valid chains of layers with skips, the inferred shape of
every node equals what torch computes on a real tensor.

The graph is run by a tiny interpreter written here, independent of code
generation, so this checks static shape inference against PyTorch itself.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import resdsl
from resdsl.ops import get_layer

LAYERS = st.one_of(
    st.builds(
        lambda c, k, s, p, d: f"conv({c}, {k}, stride={s}, padding={p}, dilation={d})",
        st.integers(1, 6), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
    ),
    st.builds(
        lambda k, s, p, c: f"maxpool({k}, stride={s}, padding={min(p, k // 2)}, ceil_mode={c})",
        st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.sampled_from(["true", "false"]),
    ),
    st.builds(
        lambda k, s: f"avgpool({k}, stride={s})", st.integers(1, 3), st.integers(1, 2)
    ),
    st.builds(
        lambda c, k, s, p: f"conv_transpose({c}, {k}, stride={s}, padding={p})",
        st.integers(1, 5), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),
    ),
    st.just("batchnorm"),
    st.just("relu"),
    st.just("upsample(2)"),
    st.builds(lambda g: f"groupnorm({g})", st.just(1)),
)  # fmt: skip


#: Merges a random skip may use. The alignments always make shapes match, so they
#: come twice: most drawn graphs are then valid and get checked.
MERGES = [
    "add, shortcut=auto", "concat, align=crop", "concat, align=pad", "concat, align=crop",
    "concat, align=pad", "add", "concat", "add, shortcut=zeropad", "mul",
]  # fmt: skip


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, int]:
    n = draw(st.integers(2, 7))
    body = [f"    l{i}: {draw(LAYERS)}" for i in range(n)]
    skips: set[tuple[str, str, str]] = set()  # a repeated skip is an error, not a new case
    for _ in range(draw(st.integers(0, 3))):
        a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
        src = draw(st.sampled_from([f"l{a}", "in"]))
        merge = draw(st.sampled_from(MERGES))
        kind = (src, f"l{b}", merge.split(",")[0])  # a skip is repeated whatever its options
        if kind not in skips:
            skips.add(kind)
            # Two skips that build a shortcut may not share the default label.
            label = f"s{len(skips)}: " if "shortcut=" in merge else ""
            body.append(f"    {label}skip {src} -> l{b} ({merge})")
    size = draw(st.integers(8, 24))
    lines = "\n".join(body)
    text = f"model m() {{\n    input [3, H={size}, W={size + 3}]\n{lines}\n}}\n"
    return text, size


def run_graph(g: Any) -> dict[str, torch.Tensor]:
    """Execute the graph node by node with real torch modules (batch of 2)."""
    torch.manual_seed(0)
    values: dict[str, torch.Tensor] = {}
    for node, data in g.nodes(data=True):
        inputs = [
            values[u] for u in sorted(g.predecessors(node), key=lambda u: g.edges[u, node]["index"])
        ]
        op = data["op"]
        if op == "input":
            out = torch.randn(2, *(int(d) for d in data["shape"]))
        elif op == "add":
            out = inputs[0]
            for x in inputs[1:]:
                out = out + x
        elif op == "mul":
            out = inputs[0]
            for x in inputs[1:]:
                out = out * x
        elif op == "concat":
            out = torch.cat(inputs, dim=1)
        elif op == "zeropad":
            a = data["args"]
            x = inputs[0][(slice(None), slice(None), *(slice(None, None, s) for s in a.stride))]
            out = F.pad(x, (0, 0) * (x.dim() - 2) + (a.pad_before, a.pad_after))
        elif op in ("crop", "pad"):
            x = inputs[0]
            pads: list[int] = []
            for before, after in reversed(data["args"].amounts):
                pads += [-before, -after] if op == "crop" else [before, after]
            out = F.pad(x, pads)
        else:
            layer = get_layer(op)
            assert layer is not None
            in_shape = g.nodes[next(iter(g.predecessors(node)))]["shape"]
            module = eval(layer.torch_init(data["args"], in_shape), {"nn": torch.nn})  # test only
            module.eval()
            with torch.no_grad():
                out = module(inputs[0])
        values[node] = out
    return values


#: How many drawn graphs the property saw, and how many of them it checked.
EXAMPLES: Counter[str] = Counter()


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(specs())
def test_inferred_shapes_equal_torch(case: tuple[str, int]) -> None:
    """One drawn graph: rejected by resdsl (not checked, counted), or checked node by node.

    Run with ``--hypothesis-show-statistics`` to see why graphs were rejected.
    """
    text, _ = case
    EXAMPLES["drawn"] += 1
    try:
        g = resdsl.loads(text, "random.res").graph()
    except resdsl.ResdslError as error:
        # An invalid combination; the corpus and the layer tests cover rejections.
        event(f"rejected: {error.diagnostics[0].code}")
        assume(False)
        raise AssertionError("unreachable") from None
    event("checked")
    values = run_graph(g)
    for node, data in g.nodes(data=True):
        assert tuple(values[node].shape[1:]) == tuple(int(d) for d in data["shape"]), (
            node,
            text,
        )
    EXAMPLES["checked"] += 1


def test_most_drawn_graphs_are_checked() -> None:
    """The property above checks at least half the graphs it draws, else it tests little.

    Reads the counts of the property's run in this session; runs it first when
    it has not run (a ``-k`` selection, another order).
    """
    if not EXAMPLES["drawn"]:
        test_inferred_shapes_equal_torch()
    assert EXAMPLES["checked"] * 2 >= EXAMPLES["drawn"], (
        f"only {EXAMPLES['checked']} of {EXAMPLES['drawn']} drawn graphs were valid: "
        "the strategy draws too many invalid ones to test anything"
    )


@pytest.mark.parametrize("size", [16, 17, 31, 48])
def test_symbolic_sizes_hold_at_every_valid_size(size: int) -> None:
    """The U-Net with align=pad: at sizes other than the sample, torch agrees too."""
    from tests.conftest import SPECS

    g = resdsl.load(SPECS / "unet.res").graph(H=size, W=size + 5)
    # a reduced-width copy keeps this fast; shapes do not depend on widths
    small = resdsl.loads(
        (SPECS / "unet.res").read_text().replace("64", "4"), "unet_small.res"
    ).graph(H=size, W=size + 5)
    values = run_graph(small)
    assert tuple(values[small.graph["output"]].shape[2:]) == (size, size + 5)
    assert tuple(int(d) for d in g.graph["output_shape"][1:]) == (size, size + 5)
