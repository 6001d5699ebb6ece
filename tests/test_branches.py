"""Version 1's branches: ``parallel``, ``from``, ``output`` and ``upsample(size=shape(REF))``.

Each construct through the stages: names and shapes from elaboration, exact
parameter and MAC counts, the plain twin, the compiled module against a
hand-written PyTorch module in this process, the generated source, path counts
(hand-derived and brute force) and the diagram.
"""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import resdsl
from resdsl.analysis.paths import path_report
from resdsl.backends.render import to_dot
from resdsl.passes.costs import live_nodes
from tests.conftest import SPECS
from tests.test_paths import assert_matches_brute_force

FIRE = """
block fire(squeeze: int, expand: int) {
    squeeze: conv(squeeze, 1)
    squeeze_activation: relu
    parallel (concat) {
        { expand1x1: conv(expand, 1); expand1x1_activation: relu }
        { expand3x3: conv(expand, 3, padding=1); expand3x3_activation: relu }
    }
}

block shuffle_unit(width: int) {
    parallel (concat, split=2) {
        {}
        branch2: { conv(width // 2, 1); batchnorm; relu }
    }
    channel_shuffle(2)
}

model net() {
    input [3, H=32, W=32]
    stem: conv(16, 3, padding=1)
    f: fire(4, 8)
    s: shuffle_unit(16)
    sums: parallel (add) {
        conv(16, 1)
        conv(16, 3, padding=1)
        {}
    }
    head: conv(5, 1)
}
"""


class Fire(nn.Module):
    def __init__(self, inp: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inp, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


class Shuffle(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        half = width // 2
        self.branch2 = nn.Sequential(nn.Conv2d(half, half, 1), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        out = torch.cat((x1, self.branch2(x2)), dim=1)
        b, c, h, w = out.shape
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.f = Fire(16, 4, 8)
        self.s = Shuffle(16)
        self.sums = nn.Module()
        self.sums.add_module("0", nn.Conv2d(16, 16, 1))
        self.sums.add_module("1", nn.Conv2d(16, 16, 3, padding=1))
        self.head = nn.Conv2d(16, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s(self.f(self.stem(x)))
        convs = self.sums._modules
        x = convs["0"](x) + convs["1"](x) + x  # type: ignore[misc]
        return self.head(x)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def spec() -> resdsl.Spec:
    return resdsl.loads(FIRE, "fire.res")


# ------------------------------------------------------------------ parallel


def test_arms_are_named_in_the_enclosing_scope(spec: resdsl.Spec) -> None:
    g = spec.graph()
    names = [n for n, d in g.nodes(data=True) if d["role"] == "layer"]
    assert names[:7] == [
        "stem",
        "f.squeeze",
        "f.squeeze_activation",
        "f.expand1x1",
        "f.expand1x1_activation",
        "f.expand3x3",
        "f.expand3x3_activation",
    ]
    # A labelled parallel is a scope: its unlabelled arms are named by position inside it.
    assert {"sums.0", "sums.1"} <= set(g.nodes)
    assert g.graph["scopes"]["sums"].kind == "group"
    assert g.nodes["f.parallel:concat"]["shape"] == (16, 32, 32)


def test_split_gives_each_arm_its_chunk(spec: resdsl.Spec) -> None:
    g = spec.graph()
    chunks = [n for n, d in g.nodes(data=True) if d["role"] == "split"]
    assert chunks == ["s.parallel:chunk0", "s.parallel:chunk1"]
    assert [g.nodes[n]["shape"] for n in chunks] == [(8, 32, 32), (8, 32, 32)]
    assert [g.nodes[n]["args"].index for n in chunks] == [0, 1]


def test_params_and_macs_are_exact(spec: resdsl.Spec) -> None:
    reference = Net()
    summary = spec.summary()
    assert summary.params == sum(p.numel() for p in reference.parameters())
    hw = 32 * 32
    macs = (3 * 9 * 16 + 16 * 4 + 4 * 8 + 4 * 9 * 8 + 8 * 8 + 16 * 16 + 16 * 9 * 16 + 16 * 5) * hw
    assert summary.macs == macs


def test_compiled_module_equals_a_hand_written_one(spec: resdsl.Spec) -> None:
    torch.manual_seed(0)
    reference = Net().eval()
    model = spec.compile().eval()
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 20, 24)  # not the sample size: every size works
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_generated_source_runs_the_arms_in_order(spec: resdsl.Spec) -> None:
    source = spec.source()
    assert "torch.cat([out, x], dim=1)" in source
    assert ".chunk(2, dim=1)[0]" in source and ".chunk(2, dim=1)[1]" in source
    assert "self.add_module('1', nn.ChannelShuffle(2))" in source


def test_plain_twin_keeps_the_arms(spec: resdsl.Spec) -> None:
    assert spec.plain().summary().params == spec.summary().params
    text = FIRE.replace("head: conv(5, 1)", "head: conv(16, 1)\n    skip stem -> head (add)")
    with_skip = resdsl.loads(text)
    # The skip adds one path past everything; the plain twin keeps the 2 * 2 * 3 through the arms.
    assert with_skip.paths().count == 13
    assert with_skip.plain().paths().count == 12
    assert "f.parallel:concat" in with_skip.plain().graph().nodes


def test_arms_are_alternative_paths(spec: resdsl.Spec) -> None:
    g = spec.graph()
    report = path_report(g)
    # fire: 2 arms; shuffle unit: 2; sums: 3 arms.
    assert report.count == 2 * 2 * 3
    assert_matches_brute_force(g, report)


@pytest.mark.parametrize(
    ("file", "model", "count", "low", "high"),
    [
        # 8 Fire modules of 2 arms; 1 + 8 * 2 + 1 ReLUs on every path.
        ("squeezenet.res", "squeezenet1_1", 2**8, 18, 18),
        # 9 Inception modules of 4 arms; 3 stem ReLUs, 1 or 2 per module.
        ("googlenet.res", "googlenet", 4**9, 3 + 9, 3 + 18),
        # 16 units of 2 arms; the pass-through half of a stride-1 unit has no ReLU.
        ("shufflenet.res", "shufflenet_v2_x1_0", 2**16, 1 + 3 + 1, 1 + 32 + 1),
    ],
)
def test_zoo_path_counts_are_hand_derived(
    file: str, model: str, count: int, low: int, high: int
) -> None:
    report = resdsl.load(SPECS / "torchvision" / file).paths(model)
    assert (report.count, report.min_nonlinearities, report.max_nonlinearities) == (
        count,
        low,
        high,
    )


def test_diagram_draws_the_merge_of_the_arms(spec: resdsl.Spec) -> None:
    dot = to_dot(spec.graph(), depth=2)
    assert '"f.parallel:concat"' in dot
    assert '"f.expand1x1" -> "f.expand1x1_activation"' in dot
    assert '"f.expand1x1_activation" -> "f.parallel:concat"' in dot
    assert "#2" in dot  # concat inputs show their position, as for concat skips


# ------------------------------------------------------------------ from, output, resize

TAPS = """
block unit(c: int) {
    a: conv(c, 3, padding=1)
    relu
}

model seg(aux_loss: bool = true) {
    input [3, H=32, W=32]
    backbone: {
        stem: conv(8, 3, stride=2, padding=1)
        layer1: unit(8)
        layer2: unit(16)
    }
    head: conv(4, 1)
    out: upsample(size=shape(in), mode="bilinear", align_corners=false)
    if aux_loss {
        aux_head: conv(4, 1) from backbone.layer1.a
        aux: upsample(size=shape(in), mode="bilinear", align_corners=false)
    }
    unused: conv(3, 1) from backbone.stem
    output out: out
    output aux: aux if aux_loss
}
"""


class Seg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.backbone.layer1 = nn.Module()
        self.backbone.layer1.a = nn.Conv2d(8, 8, 3, padding=1)
        self.backbone.layer2 = nn.Module()
        self.backbone.layer2.a = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Conv2d(16, 4, 1)
        self.aux_head = nn.Conv2d(8, 4, 1)
        self.unused = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b = self.backbone
        a = b.layer1.a(b.stem(x))  # type: ignore[operator]
        y = b.layer2.a(F.relu(a)).relu()  # type: ignore[operator]
        size = x.shape[2:]
        out = F.interpolate(self.head(y), size=size, mode="bilinear", align_corners=False)
        aux = F.interpolate(self.aux_head(a), size=size, mode="bilinear", align_corners=False)
        return {"out": out, "aux": aux}


def test_taps_outputs_and_resizes_equal_a_hand_written_module() -> None:
    spec = resdsl.loads(TAPS, "seg.res")
    torch.manual_seed(0)
    reference = Seg().eval()
    model = spec.compile().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 21, 30)
    with torch.no_grad():
        got, expected = model(x), reference(x)
    assert list(got) == ["out", "aux"]
    for key in expected:
        assert got[key].shape == (2, 4, 21, 30)
        assert torch.equal(got[key], expected[key]), key


def test_resize_keeps_symbolic_sizes_and_reads_only_a_shape() -> None:
    g = resdsl.loads(TAPS, "seg.res").graph()
    assert [str(d) for d in g.nodes["out"]["shape"][1:]] == ["32", "32"]
    assert g.graph["output_shape"][1:] == g.nodes["input"]["shape"][1:]
    assert g.edges["input", "out"]["kind"] == "size"
    assert g.graph["outputs"] == {"out": "out", "aux": "aux"}


def test_what_no_output_needs_is_built_but_not_run() -> None:
    spec = resdsl.loads(TAPS, "seg.res")
    g = spec.graph()
    assert "unused" not in live_nodes(g)
    assert g.nodes["unused"]["params"] == 8 * 3 + 3 and g.nodes["unused"]["macs"] == 0
    source = spec.source()
    assert "self.unused = nn.Conv2d(8, 3, 1)" in source
    assert "self.unused(" not in source
    # The backbone returns the tapped value beside its output.
    assert "out, a = self.backbone(x)" in source


def test_a_conditional_output_is_left_out() -> None:
    spec = resdsl.loads(TAPS, "seg.res")
    assert list(spec.graph(aux_loss=False).graph["outputs"]) == ["out"]
    model = spec.compile(aux_loss=False).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 16, 16))
    assert list(out) == ["out"] and out["out"].shape == (1, 4, 16, 16)


def test_from_in_reads_the_scope_input() -> None:
    spec = resdsl.loads(
        "model m() {\n input [3, 8, 8]\n a: conv(4, 1)\n b: conv(5, 1) from in\n"
        " output a: a\n output b: b\n}"
    )
    g = spec.graph()
    assert list(g.predecessors("b")) == ["input"]
    assert nx.has_path(g, "input", "a")
