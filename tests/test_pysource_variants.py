"""The parametric module of the top-level ResNet variants (resdsl.pysource).

- cifar_resnet.res: option A's zero-padding shortcut is the registry's own
  lines, run where the shapes differ; option B's block (``basic_b``), which
  only ``unit=basic_b`` selects, is written too and checked through
  ``resnet20(unit=BasicB)``;
- preact_resnet.res: a block as the shortcut is its class, always built;
- a model's ``init`` scheme is written for every value of the parameter, and a
  model built from the module under ``torch.manual_seed(k)`` starts from the
  compile's exact weights.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import resdsl
import resdsl.pysource.module as pysource_module
from resdsl.backends.build import compile_graph, load_source
from resdsl.diagnostics import ResdslError
from resdsl.ir.values import BlockRef
from resdsl.ops import get_op
from resdsl.ops.base import Emit, Line
from resdsl.ops.shortcut import Shortcut, ZeroPad
from resdsl.pysource import Unsupported
from resdsl.pysource.init import scheme_lines
from resdsl.pysource.shortcuts import node_fields, node_shortcut
from resdsl.pysource.verify import definition_classes
from resdsl.pysource.witness import witnesses
from tests.conftest import SPECS

TESTS_SPECS = Path(__file__).parent / "specs"
CIFAR = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
#: He et al. 2015, table 6: option A (these aliases) and option B (unit=basic_b).
CIFAR_PARAMS = {"resnet20": (269_722, 272_474), "resnet110": (1_727_962, 1_730_714)}


@cache
def cifar_text() -> str:
    return resdsl.load(SPECS / "cifar_resnet.res").module_source()


@cache
def cifar_module() -> ModuleType:
    return load_source(cifar_text(), "cifar_written")


def fill(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same deterministic state for the same keys in the same order (as the bit-for-bit test)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if key.endswith("running_var") or (t.dim() == 1 and key.endswith("weight")):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            else:
                fan_in = t[0].numel() if t.dim() else 1
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return model.eval()


def same_outputs(written: nn.Module, compiled: nn.Module, x: torch.Tensor) -> None:
    """The same state_dict keys in the same order and, with the same weights, equal outputs."""
    assert list(written.state_dict()) == list(compiled.state_dict())
    fill(written)
    fill(compiled)
    with torch.no_grad():
        assert torch.equal(written(x), compiled(x))


def class_source(text: str, name: str) -> str:
    tree = ast.parse(text)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    return ast.get_source_segment(text, node) or ""


@pytest.fixture
def channels_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a parameter be named ``channels`` (the writer's own running variable).

    The shortcut block of preact_resnet.res must take ``channels`` (the
    language asks for ``(channels: int, stride: int)``). Its class is a plain
    chain of layers, which never uses the writer's ``channels`` variable, so
    the module is right; until the writer renames its own variable where a
    user's name clashes (then this does nothing), these tests allow the name.
    """
    reserved = getattr(pysource_module, "RESERVED", None)
    if reserved is not None:  # gone once the writer renames its own variables
        monkeypatch.setattr(pysource_module, "RESERVED", reserved - {"channels"})
    yield


# ------------------------------------------------------------------ cifar_resnet.res (option A)


def test_cifar_module_has_one_class_per_definition_and_no_indexing() -> None:
    text = cifar_text()
    tree = ast.parse(text)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert classes == ["Basic", "BasicB", "CifarStage", "CifarResnet"]
    assert functions == ["cifar_resnet", *CIFAR]
    assert not re.search(r"self\[\d+\]", text)
    assert "def resnet20(**kwargs: Any) -> CifarResnet:\n" in text
    assert "    return CifarResnet(n=3, **kwargs)\n" in text


def test_option_a_is_the_registrys_lines_where_the_shapes_differ() -> None:
    basic = class_source(cifar_text(), "Basic")
    init = (
        "        # the zero-padding shortcut where the shapes differ\n"
        "        self.shortcut: tuple[int, int, int] | None = None\n"
        "        if stride != 1 or in_channels != planes:\n"
        "            new_channels = planes - in_channels\n"
        "            self.shortcut = (\n"
        "                stride,\n"
        "                new_channels // 2,\n"
        "                new_channels - new_channels // 2,\n"
        "            )\n"
    )
    forward = (
        "        identity = x\n"
        "        if self.shortcut is not None:\n"
        "            stride, pad_before, pad_after = self.shortcut\n"
        "            identity = x[:, :, ::stride, ::stride]\n"
        "            identity = F.pad(identity, (0, 0, 0, 0, pad_before, pad_after))\n"
        "        out += identity  # [planes, H/stride, W/stride]\n"
    )
    assert init in basic and forward in basic
    # Option B keeps the projection under the same condition.
    basic_b = class_source(cifar_text(), "BasicB")
    assert "        if stride != 1 or in_channels != planes:\n" in basic_b
    assert "identity = x if self.shortcut is None else self.shortcut(x)" in basic_b


def test_option_a_amounts_follow_the_block_parameters() -> None:
    module = cifar_module()
    assert module.Basic(16, 16).shortcut is None
    assert module.Basic(16, 32, stride=2).shortcut == (2, 8, 8)
    assert module.Basic(16, 21).shortcut == (1, 2, 3)  # the op's split: half before, rest after


@pytest.mark.parametrize("name", ["resnet20", "resnet110"])
def test_cifar_module_has_the_papers_parameter_counts(name: str) -> None:
    module = cifar_module()
    with torch.device("meta"):
        option_a = getattr(module, name)()
        option_b = getattr(module, name)(unit=module.BasicB)
    counts = tuple(sum(p.numel() for p in m.parameters()) for m in (option_a, option_b))
    assert counts == CIFAR_PARAMS[name]


@pytest.mark.parametrize("size", [32, 33, 7])
def test_cifar_module_gives_the_compiles_output(size: int) -> None:
    """Odd sizes too: the subsampling's ``::2`` and the strided conv round up alike."""
    spec = resdsl.load(SPECS / "cifar_resnet.res")
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    same_outputs(cifar_module().resnet20(), compile_graph(spec.graph("resnet20")), x)


def test_option_b_block_is_written_and_checked_through_a_witness() -> None:
    spec = resdsl.load(SPECS / "cifar_resnet.res")
    graphs = {m: spec.graph(m) for m in CIFAR}
    found = witnesses(spec.program, graphs)
    assert [(w.model, w.key) for w in found] == [("cifar_resnet", "cifar_resnet(unit=basic_b)")]
    assert found[0].values == {"n": 3, "unit": BlockRef("basic_b"), "num_classes": 10}
    assert definition_classes(cifar_text())[("Block", "basic_b")] == "BasicB"
    module = cifar_module()
    compiled = compile_graph(spec.graph("resnet20", unit=BlockRef("basic_b")))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    same_outputs(module.resnet20(unit=module.BasicB), compiled, x)
    assert "layer2.0.shortcut.0.weight" in compiled.state_dict()


def test_node_fields_are_read_from_the_op_between_probe_shapes() -> None:
    zeropad = get_op("zeropad", "shortcut")
    assert isinstance(zeropad, Shortcut)
    fields = [(f.name, f.stride, f.expr) for f in node_fields(zeropad, 4)]
    assert fields == [
        ("stride", True, ""),
        ("pad_before", False, "{d} // 2"),
        ("pad_after", False, "{d} - {d} // 2"),
    ]


def test_a_node_shortcut_whose_shapes_never_differ_is_the_identity() -> None:
    zeropad, identity = get_op("zeropad", "shortcut"), get_op("identity", "shortcut")
    assert isinstance(zeropad, Shortcut) and isinstance(identity, Shortcut)
    ends = (("x", "planes"), ("out", "planes"))
    code = node_shortcut((identity, zeropad), ("shortcut", "1"), ends, [], (set(), set()), 3)
    assert (code.var, code.init, code.forward) == ("x", [], [])


@pytest.mark.usefixtures("channels_allowed")
def test_a_block_shortcut_with_a_stride_per_dimension_stays_unsupported() -> None:
    spec = resdsl.loads(
        """
        block sc(channels: int, stride: list) { conv(channels, 1, stride=stride, bias=false) }
        block b(planes: int) {
            a: conv(planes, 3, stride=[2, 1], padding=1)
            skip in -> a (add, shortcut=sc)
        }
        model m { input [3, 8, 8]; b(4); b(8) }
        model n = m
        """,
        "perdim.res",
    )
    with pytest.raises(ResdslError, match="a stride per dimension"):
        spec.module_source()


# ------------------------------------------------------------------ plain_resnet.res (a used file's blocks)


def test_plain_module_writes_the_used_blocks_its_default_needs() -> None:
    """plain20 = cifar_resnet(unit=plain): ``CifarResnet``'s default ``unit=Basic`` needs
    ``Basic``, which no plain model instantiates: a witness elaborates it."""
    spec = resdsl.load(SPECS / "plain_resnet.res")
    text = spec.module_source()
    tree = ast.parse(text)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert {"Basic", "CifarStage", "Plain", "CifarResnet"} <= set(classes)
    assert functions == ["plain20", "plain32", "plain44", "plain56", "plain110"]
    assert "unit: type[nn.Module] = Basic" in text
    assert "    return CifarResnet(n=3, unit=Plain, **kwargs)\n" in text
    module = load_source(text, "plain_written")
    with torch.device("meta"):
        plain20 = module.plain20()
    assert sum(p.numel() for p in plain20.parameters()) == 269_722  # option A's count
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    same_outputs(module.plain20(), compile_graph(spec.graph("plain20")), x)
    with_basic = compile_graph(spec.graph("cifar_resnet", n=3, unit=BlockRef("basic")))
    same_outputs(module.CifarResnet(n=3, unit=module.Basic), with_basic, x)


# ------------------------------------------------------------------ preact_resnet.res (a block as shortcut)


def preact_text() -> str:
    return resdsl.load(SPECS / "preact_resnet.res").module_source()


@pytest.mark.usefixtures("channels_allowed")
def test_a_shortcut_block_is_its_class_built_always() -> None:
    text = preact_text()
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert classes == ["ConvShortcut", "PreactFirst", "PreactUnit", "PreactStage", "PreactResnet"]
    first = class_source(text, "PreactFirst")
    assert "        self.shortcut = ConvShortcut(in_channels, planes * 4, stride)\n" in first
    assert (
        "        out = self.conv3(out)  # [planes * 4, H/stride, W/stride]\n"
        "        identity = self.shortcut(preact)\n"
        "        out += identity  # [planes * 4, H/stride, W/stride]\n"
    ) in first
    assert "if self.shortcut" not in first
    assert not re.search(r"self\[\d+\]", text)


@pytest.mark.usefixtures("channels_allowed")
def test_preact_module_gives_the_compiles_state_and_output() -> None:
    spec = resdsl.load(SPECS / "preact_resnet.res")
    module = load_source(preact_text(), "preact_written")
    with torch.device("meta"):
        big = module.preact_resnet164()
    assert sum(p.numel() for p in big.parameters()) == 1_703_258
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    small = spec.graph("preact_resnet", n=2)
    same_outputs(module.preact_resnet(n=2), compile_graph(small), x)
    assert "layer1.0.shortcut.0.weight" in module.preact_resnet(n=2).state_dict()


# ------------------------------------------------------------------ initialisation schemes


@cache
def init_module() -> ModuleType:
    return load_source(resdsl.load(TESTS_SPECS / "pysource_init.res").module_source(), "init_w")


@pytest.mark.parametrize(("name", "seed"), [("small", 0), ("small", 7), ("small_default", 3)])
def test_a_model_built_under_a_seed_starts_from_the_compiles_weights(name: str, seed: int) -> None:
    spec = resdsl.load(TESTS_SPECS / "pysource_init.res")
    torch.manual_seed(seed)
    compiled = compile_graph(spec.graph(name)).state_dict()
    torch.manual_seed(seed)
    written = getattr(init_module(), name)().state_dict()
    assert list(written) == list(compiled)
    for key, value in compiled.items():
        assert torch.equal(written[key], value), key


def test_the_scheme_follows_the_init_argument() -> None:
    module = init_module()
    torch.manual_seed(0)
    kaiming = module.small().state_dict()
    torch.manual_seed(0)
    default = module.small(init="default").state_dict()
    assert not torch.equal(kaiming["conv1.weight"], default["conv1.weight"])
    assert torch.equal(kaiming["fc.weight"], default["fc.weight"])  # linear keeps its default
    with pytest.raises(ValueError, match="unknown initialisation scheme 'xavier'"):
        module.small(init="xavier")


def test_init_scheme_lines_are_torchvisions_loop() -> None:
    text = resdsl.load(TESTS_SPECS / "pysource_init.res").module_source()
    assert (
        '        if init == "kaiming":\n'
        '            # init="kaiming": torchvision\'s scheme (He et al. 2015: fan_out, for ReLU)\n'
        "            for m in self.modules():\n"
        "                if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):\n"
    ) in text
    assert '        elif init != "default":\n' in text


def test_zero_init_residual_stays_unsupported() -> None:
    spec = resdsl.loads(
        """
        model m(zero_init_residual: bool = false) {
            input [4, 8, 8]
            a: conv(4, 3, padding=1)
            b: batchnorm
            skip in -> b (add)
        }
        """,
        "zero.res",
    )
    text = spec.module_source()
    assert text.startswith("# resdsl wrote this model per instance: it cannot write a model's")
    with pytest.raises(Unsupported, match="zero_init_residual"):
        scheme_lines(spec.program.models["m"].params)  # type: ignore[union-attr]


def test_option_a_on_sequences_subsamples_one_dimension() -> None:
    spec = resdsl.loads(
        """
        block b(planes: int, stride: int = 1) {
            a: conv(planes, 3, stride=stride, padding=1, bias=false)
            skip in -> a (add, shortcut=zeropad)
        }
        model m { input [4, L=16]; b(4); b(9, stride=2) }
        """,
        "seq.res",
    )
    text = spec.module_source()
    assert not text.startswith("#"), text.splitlines()[0]
    assert "            identity = x[:, :, ::stride]\n" in text
    assert "            identity = F.pad(identity, (0, 0, pad_before, pad_after))\n" in text
    module = load_source(text, "seq_written")
    assert module.B(4, 9, stride=2).shortcut == (2, 2, 3)
    for size in (16, 15):
        x = torch.randn(2, 4, size, generator=torch.Generator().manual_seed(size))
        same_outputs(module.m(), compile_graph(spec.graph("m")), x)


class _DoubledPad(ZeroPad):
    """A node shortcut whose lines compute with its arguments (pads twice the amounts)."""

    name = "doubled_pad"

    def forward_lines(self, args: Any, out: str, ins: list[str], emit: Emit) -> list[Line]:
        emit.use_functional()
        pads = f"0, 0, 0, 0, {args.pad_before * 2}, {args.pad_after * 2}"
        return [(f"{out} = F.pad({ins[0]}, ({pads}))", True)]


def test_a_node_shortcut_whose_lines_compute_with_its_arguments_is_unsupported() -> None:
    doubled, identity = _DoubledPad(), get_op("identity", "shortcut")
    assert isinstance(identity, Shortcut)
    ends = (("x", "in_channels"), ("out", "planes"))
    with pytest.raises(Unsupported, match="whose lines compute with its arguments"):
        node_shortcut(
            (identity, doubled),
            ("shortcut", "1"),
            ends,
            ["in_channels != planes"],
            (set(), set()),
            3,
        )
