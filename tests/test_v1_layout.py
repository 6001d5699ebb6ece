"""Version 1's quoted labels, layout layers, ``param`` tensors, ``gate=NAME`` and ``drop_path=``.

Each construct through the stages: static shapes (symbolic sizes included)
against the compiled module at several input sizes, the compiled module and
its standalone source against hand-written PyTorch (torchvision's
``stochastic_depth`` for ``drop_path=``), parameter counts, the plain twin,
the diagram and the path count. The torchvision zoo models built from them
are checked in tests/test_zoo.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import resdsl
from tests import reference_models as rm
from tests import torchvision_oracle as oracle

QUOTED = """
block unit(width: int) {
    "block": {
        conv(width, 3, padding=1)
        relu
    }
    skip in -> "block" (add)
}

model quoted() {
    input [8, H=16, W=16]
    repeat 2 as i {
        "block1-{i}": unit(8)
    }
    head: conv(channels("block1-1"), 1)
}
"""

LAYOUTS = """
model layouts() {
    input [8, H=8, W=12]
    permute(1, 2, 0)
    linear(16)
    transpose(0, 2)
    reshape(16, -1)
    unflatten(0, [4, 4])
    select(1, -1)
}
"""

TOKENS = """
model tokens(dim: int = 16) {
    input [dim, H=4, W=4]
    param class_token [1, 1, dim] = zeros
    flatten(1)
    permute(1, 0)
    prepend_param(class_token)
    encoder: {
        param pos_embedding [1, 17, dim] = normal(0.02)
        add_param(pos_embedding)
        layernorm(eps=1e-6)
    }
    select(0, 0)
}
"""

CONVNEXT_BLOCK = """
block cn_block(scale: float, sd_prob: float) {
    let dim = channels(in)
    param layer_scale [dim, 1, 1] = scale
    "block": {
        conv(dim, 7, padding=3, groups=dim)
        permute(1, 2, 0)
        layernorm(eps=1e-6)
        linear(4 * dim)
        gelu
        linear(dim)
        permute(2, 0, 1)
    }
    skip in -> "block" (add, gate=layer_scale, drop_path=sd_prob)
}

model cn(p: float = 0.25) {
    input [8, H=8, W=8]
    cn_block(0.5, p)
    norm: layernorm2d(eps=1e-6)
}
"""


def standalone(spec: resdsl.Spec, model: str | None = None) -> torch.nn.Module:
    """The module the generated standalone source builds (test code may exec)."""
    source = spec.source(model)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    module: torch.nn.Module = namespace[namespace["__all__"][0]]()
    return module


# ------------------------------------------------------------------ quoted labels


def test_quoted_labels_name_modules_as_written() -> None:
    spec = resdsl.loads(QUOTED, "quoted.res")
    model = spec.compile()
    assert list(model.state_dict()) == [
        "block1-0.block.0.weight",
        "block1-0.block.0.bias",
        "block1-1.block.0.weight",
        "block1-1.block.0.bias",
        "head.weight",
        "head.bias",
    ]
    assert isinstance(getattr(model, "block1-0").block[0], torch.nn.Conv2d)
    assert "self.add_module('block1-0', Unit())" in spec.source()
    assert spec.paths().count == 4  # two residual blocks: 2 ** 2 paths
    assert '"block1-0"' in spec.to_dot(depth=1) or "block1-0" in spec.to_dot(depth=1)


def test_quoted_labels_compile_and_standalone_agree() -> None:
    spec = resdsl.loads(QUOTED, "quoted.res")
    model, twin = spec.compile().eval(), standalone(spec).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = rm.reference_input([2, 8, 16, 16], 0)
    with torch.no_grad():
        assert torch.equal(model(x), twin(x))


def test_plain_twin_keeps_quoted_names() -> None:
    spec = resdsl.loads(QUOTED, "quoted.res")
    assert list(spec.plain().compile().state_dict()) == list(spec.compile().state_dict())
    assert spec.plain().paths().count == 1


# ------------------------------------------------------------------ layout layers


@pytest.mark.parametrize(("h", "w"), [(8, 12), (3, 5), (16, 1)])
def test_layout_shapes_follow_symbolic_sizes(h: int, w: int) -> None:
    spec = resdsl.loads(LAYOUTS, "layouts.res")
    summary = spec.summary(H=h, W=w)
    assert [row.shape_text for row in summary.layers] == [
        "[H, W, 8]",
        "[H, W, 16]",
        "[16, W, H]",
        "[16, W*H]",
        "[4, 4, W*H]",
        "[4, W*H]",
    ]
    assert summary.output_shape == (4, h * w)
    model = spec.compile(H=h, W=w)
    x = rm.reference_input([2, 8, h, w], 1)
    with torch.no_grad():
        got = model(x)
        linear = model[1]
        expected = linear(x.permute(0, 2, 3, 1)).transpose(1, 3).reshape(2, 16, -1)
        expected = expected.unflatten(1, (4, 4)).select(2, -1)
    assert torch.equal(got, expected)
    assert got.shape == (2, *summary.output_shape)


def test_layernorm2d_is_torchvisions() -> None:
    tv = oracle.import_torchvision()
    spec = resdsl.loads(CONVNEXT_BLOCK, "cn.res")
    model = spec.compile().eval()
    reference = tv.models.convnext.LayerNorm2d(8, eps=1e-6)
    rm.fill_state_dict(reference, 2)
    model.norm.load_state_dict(reference.state_dict(), strict=True)
    x = rm.reference_input([2, 8, 5, 7], 3)
    with torch.no_grad():
        assert torch.equal(model.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), reference(x))


# ------------------------------------------------------------------ params


def test_params_are_state_of_their_scope_and_counted() -> None:
    spec = resdsl.loads(TOKENS, "tokens.res")
    model = spec.compile()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        ("class_token", (1, 1, 16)),
        ("encoder.pos_embedding", (1, 17, 16)),
        ("encoder.1.weight", (16,)),
        ("encoder.1.bias", (16,)),
    ]
    assert spec.summary().params == 16 + 17 * 16 + 32 == sum(p.numel() for p in model.parameters())
    assert torch.equal(model.class_token, torch.zeros(1, 1, 16))
    # The position embedding fixes the sequence length, so H and W are fixed.
    rules = spec.summary().valid_sizes
    assert [rule.sentence for rule in rules.values()] == [
        "H must be exactly 4",
        "W must be exactly 4",
    ]


def test_param_layers_match_hand_written_torch() -> None:
    spec = resdsl.loads(TOKENS, "tokens.res")
    model = rm.fill_state_dict(spec.compile(), 4).eval()
    x = rm.reference_input([3, 16, 4, 4], 5)
    tokens = x.flatten(2).permute(0, 2, 1)
    tokens = torch.cat([model.class_token.expand(3, -1, -1), tokens], dim=1)
    tokens = tokens + model.encoder.pos_embedding
    norm = model.encoder[1]
    expected = F.layer_norm(tokens, (16,), norm.weight, norm.bias, 1e-6)[:, 0]
    twin = standalone(spec).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(model(x), expected)
        assert torch.equal(twin(x), expected)


def test_normal_init_draws_with_the_given_std() -> None:
    spec = resdsl.loads(TOKENS.replace("normal(0.02)", "normal(2.0)"), "tokens.res")
    torch.manual_seed(0)
    pos = spec.compile().encoder.pos_embedding.detach()
    assert 1.5 < float(pos.std()) < 2.5  # 272 draws of N(0, 2)


# ------------------------------------------------------------------ gate= and drop_path=


def _convnext_pair(p: float) -> tuple[torch.nn.Module, Any]:
    spec = resdsl.loads(CONVNEXT_BLOCK, "cn.res")
    model = rm.fill_state_dict(spec.compile(p=p), 6)
    return model, getattr(model, "0")


def test_gate_param_scales_the_residual_branch_in_eval() -> None:
    model, block = _convnext_pair(0.25)
    model.eval()
    x = rm.reference_input([2, 8, 8, 8], 7)
    with torch.no_grad():
        expected = block.layer_scale * block.block(x) + x
        assert torch.equal(block(x), expected)  # drop_path is the identity in eval


def test_drop_path_is_torchvisions_stochastic_depth_in_training() -> None:
    tv = oracle.import_torchvision()
    model, block = _convnext_pair(0.25)
    model.train()
    x = rm.reference_input([16, 8, 8, 8], 8)
    with torch.no_grad():
        branch = block.layer_scale * block.block(x)
        torch.manual_seed(9)
        expected = tv.ops.stochastic_depth(branch, 0.25, "row", training=True) + x
        torch.manual_seed(9)
        got = block(x)
    assert torch.equal(got, expected)
    kept = [not torch.equal(got[i], x[i]) for i in range(16)]
    assert 0 < sum(kept) < 16  # some samples dropped their branch, some kept it


def test_gate_param_is_a_parameter_of_the_block() -> None:
    spec = resdsl.loads(CONVNEXT_BLOCK, "cn.res")
    model = spec.compile()
    assert next(iter(model.state_dict())) == "0.layer_scale"
    assert torch.equal(getattr(model, "0").layer_scale, torch.full((8, 1, 1), 0.5))
    assert spec.summary().params == sum(p.numel() for p in model.parameters())
    # The plain twin drops the skip, so the gate is unused, but it stays a parameter.
    assert list(spec.plain().compile().state_dict()) == list(model.state_dict())


def test_drop_path_source_runs_standalone() -> None:
    spec = resdsl.loads(CONVNEXT_BLOCK, "cn.res")
    model = rm.fill_state_dict(spec.compile(), 10)
    twin = standalone(spec)
    twin.load_state_dict(model.state_dict(), strict=True)
    x = rm.reference_input([4, 8, 8, 8], 11)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), twin.eval()(x))
        torch.manual_seed(12)
        a = model.train()(x)
        torch.manual_seed(12)
        assert torch.equal(a, twin.train()(x))


GATED_AND_PLAIN = """
block gated(p: float) {
    param g [8, 1, 1] = 0.5
    conv1: conv(8, 3, padding=1)
    skip in -> conv1 (add, gate=g, drop_path=p)
}
block plain() {
    conv1: conv(8, 3, padding=1)
    skip in -> conv1 (add)
}
model m() {
    input [8, H=8, W=8]
    gated(0.2)
    gated(0.0)
    plain()
}
"""


def test_gated_or_dropped_add_is_not_summed_in_place() -> None:
    # A plain residual sum writes into the branch (out += x); one whose branch is
    # gated or dropped first must not, or the gate would scale the skip too.
    spec = resdsl.loads(GATED_AND_PLAIN, "g.res")
    sums = [
        line.split("#")[0].strip()
        for line in spec.source().splitlines()
        if "+ x" in line or "+= x" in line
    ]
    assert sums == ["out = branch + x", "out = self.g * out + x", "out += x"]
    model = rm.fill_state_dict(spec.compile(), 13)
    twin = standalone(spec)
    twin.load_state_dict(model.state_dict(), strict=True)
    x = rm.reference_input([2, 8, 8, 8], 14)
    with torch.no_grad():
        blocks = [getattr(model, str(i)) for i in range(3)]
        y = blocks[0].g * blocks[0].conv1(x) + x
        y = blocks[1].g * blocks[1].conv1(y) + y
        expected = blocks[2].conv1(y) + y
        assert torch.equal(model.eval()(x), expected)
        assert torch.equal(twin.eval()(x), expected)
