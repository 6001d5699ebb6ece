"""The parametric module writer on ``param`` tensors and channels-last layers.

A ``param`` is the ``nn.Parameter`` line torchvision writes
(``self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)``), on the
module of the scope that declares it, and a ``gate=NAME`` merge multiplies the
main path by it (resdsl.pysource.params). In an ``nn.Sequential``, ``permute``
and ``layernorm2d`` are torchvision's ``Permute`` and ``LayerNorm2d``, and
after a ``permute`` that puts the channels last a layer reads the last
dimension (resdsl.pysource.layout). Each written module is compared with the
in-memory compile: the same ``state_dict`` (keys, order, values under one
seed) and the same output.
"""

from __future__ import annotations

import ast as pyast
from types import ModuleType

import pytest
import torch

import resdsl
from resdsl.backends.build import load_source
from resdsl.pysource.params import initial_value
from resdsl.pysource.pyexpr import Scope
from resdsl.syntax import ast
from tests import reference_models as rm
from tests import torchvision_oracle as oracle
from tests.conftest import SPECS

ZOO = SPECS / "torchvision"


def zoo_spec(file: str) -> resdsl.Spec:
    """A bundled zoo file."""
    return resdsl.load(ZOO / file)


def written(file: str) -> tuple[str, ModuleType]:
    source = zoo_spec(file).module_source()
    assert not source.startswith("#"), source.splitlines()[0]
    return source, load_source(source, f"written_{file.replace('.', '_')}")


def assert_torchvisions(module: ModuleType, name: str, shape: list[int]) -> None:
    """torchvision's filled weights load strictly into the written model; outputs are equal."""
    reference = rm.fill_state_dict(oracle.build(name), 0).eval()
    model = getattr(module, name)().eval()
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    model.load_state_dict(reference.state_dict(), strict=True)
    x = rm.reference_input(shape, 1)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert got.shape == expected.shape == (1, 1000)
    assert torch.equal(got, expected)


LAYER_SCALE = """
block scaled(dim: int, scale: float) {
    param layer_scale [dim, 1, 1] = scale
    "block": {
        conv(dim, 3, padding=1, groups=dim)
        relu
        conv(dim, 1)
    }
    skip in -> "block" (add, gate=layer_scale)
}
model m(width: int = 8) {
    input [3, H=8, W=8]
    stem: conv(width, 1)
    scaled(width, 0.5)
    scaled(width, 1e-6)
}
model wide = m(width=12)
"""


def assert_matches_compile(spec: resdsl.Spec, source: str, names: list[str], size: int = 8) -> None:
    """Each model built from ``source`` under one seed is the compile, weights and output."""
    module = load_source(source, "params_written")
    x = torch.randn(2, 3, size, size)
    for name in names:
        torch.manual_seed(0)
        model = getattr(module, name)().eval()
        torch.manual_seed(0)
        compiled = spec.compile(name).eval()
        written, expected = model.state_dict(), compiled.state_dict()
        assert list(written) == list(expected), name
        for key, value in expected.items():
            assert torch.equal(written[key], value), (name, key)
        with torch.no_grad():
            assert torch.equal(model(x), compiled(x)), name


def test_a_layer_scale_is_torchvisions_parameter_line_and_gates_the_residual() -> None:
    spec = resdsl.loads(LAYER_SCALE, "m.res")
    source = spec.module_source()
    assert "self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)" in source
    assert "out = self.layer_scale * out + x  # [dim, H, W]" in source
    assert "Scaled(width, width, 1e-06)" in source
    assert_matches_compile(spec, source, ["m", "wide"])


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        ("zeros", "torch.zeros(1, 1, hidden_dim)"),
        ("ones", "torch.ones(1, 1, hidden_dim)"),
        ("0", "torch.zeros(1, 1, hidden_dim)"),
        ("1.0", "torch.ones(1, 1, hidden_dim)"),
        ("0.5", "torch.full((1, 1, hidden_dim), 0.5)"),
        ("normal(0.02)", "torch.empty(1, 1, hidden_dim).normal_(std=0.02)"),
        ("scale", "torch.ones(1, 1, hidden_dim) * scale"),
    ],
)
def test_each_initial_value_is_the_torch_factory_that_gives_it(init: str, expected: str) -> None:
    text = (
        f"model m(hidden_dim: int = 4, scale: float = 0.5) {{\n"
        f"    input [3, H=8, W=8]\n"
        f"    param p [1, 1, hidden_dim] = {init}\n"
        f"    conv(4, 1)\n"
        f"}}\n"
    )
    program = resdsl.loads(text, "m.res").program
    model = program.models["m"]
    assert isinstance(model, ast.ModelDef)
    decl = next(s for s in model.body if isinstance(s, ast.ParamDecl))
    scope = Scope({"hidden_dim": "hidden_dim", "scale": "scale"})
    assert initial_value(decl, scope) == expected


CHANNELS_LAST = """
block cn_block(dim: int, scale: float) {
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
    skip in -> "block" (add, gate=layer_scale)
}
block patchify(width: int) {
    conv(width, 4, stride=4)
    layernorm2d(eps=1e-6)
}
model m(width: int = 8, num_classes: int = 10) {
    input [3, H=16, W=16]
    features: {
        patchify(width)
        cn_block(width, 1e-6)
        cn_block(width, 0.5)
    }
    avgpool: adaptive_avgpool(1)
    classifier: {
        layernorm2d(eps=1e-6)
        flatten
        linear(num_classes)
    }
}
model wide = m(width=12)
"""


def test_a_channels_last_block_is_convnexts_sequential_with_permutes() -> None:
    spec = resdsl.loads(CHANNELS_LAST, "m.res")
    source = spec.module_source()
    block = (
        "        self.block = nn.Sequential(\n"
        "            nn.Conv2d(in_channels, dim, 7, padding=3, groups=dim),\n"
        "            Permute([0, 2, 3, 1]),\n"
        "            nn.LayerNorm(dim, eps=1e-06),\n"
        "            nn.Linear(dim, 4 * dim),\n"
        "            nn.GELU(),\n"
        "            nn.Linear(4 * dim, dim),\n"
        "            Permute([0, 3, 1, 2]),\n"
        "        )\n"
    )
    assert block in source
    assert "self.append(LayerNorm2d(width, eps=1e-06))" in source
    assert "LayerNorm2d(width, eps=1e-06), nn.Flatten(), nn.Linear(width, num_classes)" in source
    assert source.count("class Permute(nn.Module):") == 1
    assert source.count("class LayerNorm2d(nn.LayerNorm):") == 1
    assert_matches_compile(spec, source, ["m", "wide"], size=16)


def test_helper_classes_are_written_only_where_used() -> None:
    spec = resdsl.loads(LAYER_SCALE, "m.res")
    source = spec.module_source()
    assert "class Permute" not in source and "class LayerNorm2d" not in source


def test_a_block_named_like_a_helper_class_gets_another_class_name() -> None:
    spec = resdsl.loads(CHANNELS_LAST.replace("cn_block", "layer_norm2d"), "m.res")
    source = spec.module_source()
    assert "class LayerNorm2d(nn.LayerNorm):" in source
    assert "class LayerNorm2d2(nn.Module):" in source
    assert "features.append(LayerNorm2d2(width, width, 1e-06))" in source
    assert_matches_compile(spec, source, ["m"], size=16)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("conv(8, 1)\n    permute(1, 2, 0)", "a 'permute' outside a group of layers"),
        (
            "g: { conv(8, 1); permute(1, 2, 0); linear(8) }",
            "a group that ends with the channels last",
        ),
        (
            "g: { conv(8, 1); permute(1, 0, 2); linear(8); permute(1, 0, 2) }",
            "a permute that puts the channels neither first nor last",
        ),
        (
            "g: { conv(8, 1); permute(1, 2, 0); conv(8, 1); permute(2, 0, 1) }",
            "a 'conv' that changes more than the last dimension",
        ),
        (
            "g: { conv(8, 1); permute(1, 2, 0); layernorm(eps=0.5 * 2e-6); permute(2, 0, 1) }",
            "a computed float argument of 'layernorm' on the last dimension",
        ),
    ],
)
def test_what_the_layout_tracking_cannot_hold_says_why(body: str, reason: str) -> None:
    text = f"model m() {{\n    input [3, H=8, W=8]\n    {body}\n}}\n"
    source = resdsl.loads(text, "m.res").module_source()
    assert source.splitlines()[0].startswith("# resdsl wrote this model per instance")
    assert reason in " ".join(line.lstrip("# ") for line in source.splitlines()[:3])


# ------------------------------------------------------------------ the zoo files


def test_convnext_block_is_torchvisions_cnblock() -> None:
    source, _ = written("convnext.res")
    block = source.split("class CnBlock(nn.Module):")[1].split("\nclass ")[0]
    assert "self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)" in block
    assert "            Permute([0, 2, 3, 1]),\n            nn.LayerNorm(dim, eps=1e-06)," in block
    assert "nn.Linear(dim, 4 * dim)," in block and "nn.Linear(4 * dim, dim)," in block
    assert "LayerNorm2d(" in source.split("class Convnext(nn.Sequential):")[1]


def test_convnext_tiny_module_is_torchvisions() -> None:
    assert_torchvisions(written("convnext.res")[1], "convnext_tiny", [1, 3, 64, 64])


def test_written_convnext_matches_the_compile() -> None:
    spec = zoo_spec("convnext.res")
    source = spec.module_source()
    module = load_source(source, "convnext_compiled")
    x = torch.randn(1, 3, 32, 32)
    torch.manual_seed(0)
    model = module.convnext_tiny().eval()
    compiled = spec.compile("convnext_tiny").eval()
    compiled.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(model(x), compiled(x))


def test_convnext_tiny_cut_module_keeps_the_helper_classes() -> None:
    source = zoo_spec("convnext.res").module_source("convnext_tiny")
    tree = pyast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, pyast.ClassDef)]
    functions = [n.name for n in tree.body if isinstance(n, pyast.FunctionDef)]
    assert classes == [
        "Permute",
        "LayerNorm2d",
        "CnBlock",
        "CnStage",
        "Patchify",
        "Downsample",
        "Convnext",
    ]
    assert functions == ["convnext_tiny"]
