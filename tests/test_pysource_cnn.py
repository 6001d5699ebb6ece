"""The zoo's CNN families as one parametric module each (resdsl.pysource).

- a user's parameter or ``let`` named like one of the writer's own variables
  (``out``, ``channels``, ``x``, ``next``) keeps its name; the writer's
  variables take fresh ones;
- each family's smallest model, built from the written module, loads
  torchvision's ``state_dict`` strictly and gives torchvision's output.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

import resdsl
from resdsl.backends.build import load_source
from resdsl.pysource.names import MODULE_ATTRIBUTES
from tests.conftest import SPECS
from tests.torchvision_oracle import import_torchvision

DATA = Path(__file__).parent / "data" / "pysource"
ZOO = SPECS / "torchvision"


@cache
def zoo_module(file: str) -> ModuleType:
    text = resdsl.load(ZOO / file).module_source()
    assert not text.startswith("#"), text.splitlines()[:2]
    return load_source(text, f"written_{file.replace('.', '_')}")


def assert_matches_compile(
    spec: resdsl.Spec, module: ModuleType, model: str, x: torch.Tensor
) -> None:
    reference = spec.compile(model).eval()
    built = getattr(module, model)().eval()
    state = reference.state_dict()
    assert [(k, v.shape) for k, v in built.state_dict().items()] == [
        (k, v.shape) for k, v in state.items()
    ]
    built.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert torch.equal(built(x), reference(x))


def assert_matches_torchvision(file: str, name: str, x: torch.Tensor) -> None:
    tv = import_torchvision()
    torch.manual_seed(0)
    reference = getattr(tv.models, name)().eval()
    model = getattr(zoo_module(file), name)().eval()
    result = model.load_state_dict(reference.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_module_attribute_list_is_nn_sequentials() -> None:
    public = {n for n in dir(nn.Sequential()) if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES


def test_users_names_win_over_the_writers_own(tmp_path: Path) -> None:
    spec = resdsl.load(DATA / "user_names.res")
    text = spec.module_source()
    assert not text.startswith("#")
    # The user's names, as the spec writes them ...
    assert "self, in_channels: int, out: int, channels: int = 2, next: int = 1" in text
    assert "identity = out * channels" in text
    assert "for channels in range(2):" in text
    # ... and the writer's own, renamed around them.
    assert "channels_ = x" in text and "self.out_channels = channels_" in text
    assert "x_ = self.x(x)" in text and "out += x_" in text
    path = tmp_path / "user_names.py"
    path.write_text(text)
    for command in (
        ["check", "--isolated", "--select", "E,F,W,I,B,UP,SIM,RUF"],
        ["format", "--check", "--isolated"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    module = load_source(text, "written_user_names")
    torch.manual_seed(0)
    assert_matches_compile(spec, module, "names_net", torch.randn(2, 3, 16, 16))


def test_mobilenet_v2_module_matches_torchvision() -> None:
    assert_matches_torchvision("mobilenet_v2.res", "mobilenet_v2", torch.randn(1, 3, 64, 80))


def test_mobilenet_v2_module_reads_like_torchvision() -> None:
    text = resdsl.load(ZOO / "mobilenet_v2.res").module_source()
    classes = [line.split("(")[0][6:] for line in text.splitlines() if line.startswith("class ")]
    # squeeze_excitation, a block of common.res no model here uses, is not written.
    assert classes == ["ConvNormAct", "InvertedResidual", "MobilenetV2Net"]
    assert "self.use_res_connect = stride == 1 and inp == oup" in text
    assert "        if self.use_res_connect:\n            out = out + x" in text
    assert "nn.BatchNorm2d(out, eps=eps, momentum=momentum)" in text
    assert 'elif act == "relu6":' in text
    assert "self.features = nn.Sequential(*features)" in text


def test_mobilenet_v3_module_writes_the_features_block_of_the_segmentation_models() -> None:
    """``mobilenet_v3_features`` (used by lraspp.res only) takes its first block's rank."""
    text = resdsl.load(ZOO / "mobilenet_v3.res").module_source()
    classes = [line.split("(")[0][6:] for line in text.splitlines() if line.startswith("class ")]
    assert classes == [
        "ConvNormAct",
        "SqueezeExcitation",
        "InvertedResidual",
        "MobilenetV3Features",
        "MobilenetV3",
    ]
    assert '"""Block conv_norm_act from common.res:15.' in text
    assert "            self.activation = nn.SiLU()" in text  # chosen under the if, in __init__
    assert 'self.add_module(f"{i + 1}",' in text.replace("\n                ", "")


def test_mobilenet_v3_module_matches_torchvision() -> None:
    assert_matches_torchvision("mobilenet_v3.res", "mobilenet_v3_small", torch.randn(1, 3, 64, 80))


def test_densenet_module_matches_torchvision() -> None:
    assert_matches_torchvision("densenet.res", "densenet121", torch.randn(1, 3, 64, 80))


def test_resnext_module_matches_torchvision() -> None:
    """The grouped conv's width (``planes * width_per_group // 64 * groups``), not a constant."""
    text = resdsl.load(ZOO / "resnext.res").module_source()
    assert "self.bn2 = nn.BatchNorm2d(width)" in text
    assert_matches_torchvision("resnext.res", "resnext50_32x4d", torch.randn(1, 3, 64, 80))


WRITTEN = [
    "mobilenet_v2.res",
    "mobilenet_v3.res",
    "densenet.res",
    "resnext.res",
    "efficientnet.res",
]


@pytest.mark.parametrize("file", WRITTEN)
def test_zoo_module_passes_the_projects_ruff_rules(file: str, tmp_path: Path) -> None:
    path = tmp_path / file.replace(".res", ".py")
    path.write_text(resdsl.load(ZOO / file).module_source())
    rules = ["--select", "E,F,W,I,B,UP,SIM,RUF"]
    for command in (["check", "--isolated", *rules], ["format", "--check", "--isolated"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_efficientnet_module_matches_torchvision() -> None:
    """Stochastic depth is kept on the module (``self.drop_path = sd_prob``)."""
    text = resdsl.load(ZOO / "efficientnet.res").module_source()
    assert "self.drop_path = sd_prob" in text and "keep = 1.0 - self.drop_path" in text
    assert_matches_torchvision("efficientnet.res", "efficientnet_b0", torch.randn(1, 3, 64, 80))


def test_efficientnet_module_drops_paths_as_the_compile_does_in_training() -> None:
    """In training, the same random draws in the same order: the same output."""
    spec = resdsl.load(ZOO / "efficientnet.res")
    reference = spec.compile("efficientnet_b0").train()
    model = zoo_module("efficientnet.res").efficientnet_b0().train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64)
    torch.manual_seed(3)
    expected = reference(x)
    torch.manual_seed(3)
    assert torch.equal(model(x), expected)


@pytest.mark.parametrize(
    ("file", "builder", "params"),
    [
        ("densenet.res", "densenet", {"growth_rate": 12, "block_config": [2, 3], "num_classes": 7}),
        (
            "mobilenet_v2.res",
            "mobilenet_v2_net",
            {"setting": [[1, 8, 1, 1], [3, 8, 2, 1], [2, 16, 1, 2]], "input_channel": 8},
        ),
        ("efficientnet.res", "efficientnet", {"width_tenths": 5, "depth_tenths": 5}),
    ],
)
def test_zoo_classes_take_the_models_parameters(
    file: str, builder: str, params: dict[str, object]
) -> None:
    """Values no alias of the file uses: the written classes compute what the compile does."""
    spec = resdsl.load(ZOO / file)
    reference = spec.compile(builder, **params).eval()
    model = getattr(zoo_module(file), builder)(**params).eval()
    state = reference.state_dict()
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in state.items()
    ]
    model.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_channels_of_a_label_is_the_count_the_writer_holds() -> None:
    # The block's output channels are its loop's running count: not an expression of its
    # parameters, so a caller reads them from the built block.
    block = "block unit(w: int, n: int = 1) { repeat n { conv(w, 1) } }\n"
    kept = resdsl.loads(
        block + "model m { input [3, 8, 8]; a: unit(4); unit(6); conv(channels(a) * 2, 1) }",
        "kept.res",
    )
    text = kept.module_source()
    assert "nn.Conv2d(channels, self.a.out_channels * 2, 1)" in text
    module = load_source(text, "written_kept")
    assert_matches_compile(kept, module, "m", torch.randn(1, 3, 8, 8))
    # An interpolated label's count was held in the running variable, reassigned since.
    stale = resdsl.loads(
        block + "model m { input [3, 8, 8]; repeat 1 as i { a{i}: unit(4); unit(6);"
        " conv(channels(a{i}) * 2, 1) } }",
        "stale.res",
    )
    assert stale.module_source().startswith(
        "# resdsl wrote this model per instance: it cannot write channels() of a value"
    )


def test_a_parameter_named_like_a_layer_is_a_value_and_a_let_may_hold_a_block() -> None:
    """``dropout(dropout)`` calls the layer; ``let u = unit`` is called like the block."""
    spec = resdsl.loads(
        "block unit(w: int) { conv(w, 1) }\n"
        "block res(w: int) { let u = unit; a: u(w); skip in -> a (add) }\n"
        "model m(dropout: float = 0.5) { input [4, 8, 8]; res(4); dropout(dropout) }",
        "lets.res",
    )
    text = spec.module_source()
    assert "u = Unit\n        self.a = u(in_channels, w)" in text
    assert "self.append(nn.Dropout2d(p=dropout))" in text
    module = load_source(text, "written_lets")
    assert_matches_compile(spec, module, "m", torch.randn(1, 4, 8, 8))
