"""Skips on sequences and per-dimension strides, checked against hand-written PyTorch.

A sequence ``[T, D]`` acts on its last dimension: ``shortcut=auto`` is a linear
projection there, and ``concat`` takes ``dim=``. A user shortcut block can take
one stride per spatial dimension.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import resdsl
from resdsl.ops import layer_names
from resdsl.semantics.calls import OTHER_NAMES

SEQ_ADD = """
model m() {
    input [T=16, D=32]
    a: linear(32)
    linear(64)
    b: relu
    proj: skip a -> b (add, shortcut=auto)
}
"""


def test_auto_shortcut_on_a_sequence_is_a_linear_projection() -> None:
    torch.manual_seed(0)
    module = resdsl.loads(SEQ_ADD).compile("m").eval()
    state = module.state_dict()
    assert sorted(state) == ["1.bias", "1.weight", "a.bias", "a.weight", "proj.0.weight"]
    assert state["proj.0.weight"].shape == (64, 32)
    x = torch.randn(2, 5, 32)  # another length than the sample's 16
    a = F.linear(x, state["a.weight"], state["a.bias"])
    want = F.relu(F.linear(a, state["1.weight"], state["1.bias"])) + F.linear(
        a, state["proj.0.weight"]
    )
    torch.testing.assert_close(module(x), want, rtol=0, atol=0)


SEQ_CAT = """
model m() {
    input [T=16, D=32]
    a: linear(32)
    b: linear(16)
    skip a -> b (concat, dim=-1)
    c: linear(8)
}
"""


def test_concat_along_the_last_dimension() -> None:
    torch.manual_seed(0)
    spec = resdsl.loads(SEQ_CAT)
    assert spec.summary("m").output_text == "[T, 8]"
    module = spec.compile("m").eval()
    s = module.state_dict()
    assert s["c.weight"].shape == (8, 48)
    x = torch.randn(3, 7, 32)
    a = F.linear(x, s["a.weight"], s["a.bias"])
    b = F.linear(a, s["b.weight"], s["b.bias"])
    want = F.linear(torch.cat([a, b], dim=-1), s["c.weight"], s["c.bias"])
    torch.testing.assert_close(module(x), want, rtol=0, atol=0)


SEQ_CAT_T = """
model m() {
    input [T=16, D=32]
    a: linear(32)
    b: linear(32)
    skip a -> b (concat)
}
"""


def test_concat_along_the_sequence_doubles_it_at_every_length() -> None:
    torch.manual_seed(0)
    spec = resdsl.loads(SEQ_CAT_T)
    assert spec.summary("m").output_text == "[2T, 32]"
    module = spec.compile("m").eval()
    s = module.state_dict()
    x = torch.randn(2, 5, 32)
    a = F.linear(x, s["a.weight"], s["a.bias"])
    b = F.linear(a, s["b.weight"], s["b.bias"])
    torch.testing.assert_close(module(x), torch.cat([a, b], dim=1), rtol=0, atol=0)


STRIDED = """
block proj(channels: int, stride: list) {
    conv(channels, 1, stride=stride, bias=false)
    batchnorm
}
model m() {
    input [3, H=16, W=16]
    a: conv(8, 3, padding=1)
    conv(16, 3, stride=[2, 1], padding=1)
    b: relu
    down: skip a -> b (add, shortcut=proj)
}
"""


def test_a_shortcut_block_takes_one_stride_per_dimension() -> None:
    torch.manual_seed(0)
    spec = resdsl.loads(STRIDED)
    graph = spec.graph("m")
    assert graph.graph["scopes"]["down"].args == {"channels": 16, "stride": [2, 1]}
    module = spec.compile("m").eval()
    s = module.state_dict()
    x = torch.randn(2, 3, 10, 12)
    a = F.conv2d(x, s["a.weight"], s["a.bias"], padding=1)
    main = F.relu(F.conv2d(a, s["1.weight"], s["1.bias"], stride=(2, 1), padding=1))
    bn = nn.BatchNorm2d(16).eval()
    bn.load_state_dict({k[len("down.1.") :]: v for k, v in s.items() if k.startswith("down.1.")})
    short = bn(F.conv2d(a, s["down.0.weight"], stride=(2, 1)))
    torch.testing.assert_close(module(x), main + short, rtol=0, atol=0)


def test_names_from_other_frameworks_point_at_registered_layers() -> None:
    layers = set(layer_names())
    assert {target for target in OTHER_NAMES.values()} <= layers
    assert not set(OTHER_NAMES) & layers  # an alias never hides a real layer
    assert OTHER_NAMES["swish"] == "silu" and OTHER_NAMES["conv2d"] == "conv"
