"""The hand-written reference models reproduce the published reference numbers.

These tests pin the witnesses that compiled specs are compared with: if a
reference model drifted, a spec test comparing against it would prove nothing.
The counts are the published ones (torchvision 0.28.0's resnet definitions,
He et al.'s CIFAR and pre-activation ResNets, milesial's and the original
U-Net); the torchvision ``state_dict`` keys, shapes and the resnet18 forward
check are in tests/data/torchvision_resnet.json (from torchvision 0.28.0's
resnet definitions, torch 2.13.0, CPU).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

try:  # tests/ as a package, or as a rootdir-inserted directory (pytest's default)
    from tests import reference_models as rm
except ImportError:  # pragma: no cover
    import reference_models as rm  # type: ignore[no-redef]

DATA = Path(__file__).parent / "data" / "torchvision_resnet.json"
SPECS = Path(__file__).parent.parent / "specs"
TORCHVISION = json.loads(DATA.read_text())["models"]

# Exact parameter counts of the published reference implementations.
PARAMETER_COUNTS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "torchvision resnet18": (rm.resnet18, 11_689_512),
    "torchvision resnet34": (rm.resnet34, 21_797_672),
    "torchvision resnet50": (rm.resnet50, 25_557_032),
    "torchvision resnet101": (rm.resnet101, 44_549_160),
    "torchvision resnet152": (rm.resnet152, 60_192_808),
    "cifar resnet20 A": (lambda: rm.cifar_resnet(20, "A"), 269_722),
    "cifar resnet32 A": (lambda: rm.cifar_resnet(32, "A"), 464_154),
    "cifar resnet44 A": (lambda: rm.cifar_resnet(44, "A"), 658_586),
    "cifar resnet56 A": (lambda: rm.cifar_resnet(56, "A"), 853_018),
    "cifar resnet110 A": (lambda: rm.cifar_resnet(110, "A"), 1_727_962),
    "cifar resnet20 B": (lambda: rm.cifar_resnet(20, "B"), 272_474),
    "cifar resnet32 B": (lambda: rm.cifar_resnet(32, "B"), 466_906),
    "cifar resnet44 B": (lambda: rm.cifar_resnet(44, "B"), 661_338),
    "cifar resnet56 B": (lambda: rm.cifar_resnet(56, "B"), 855_770),
    "cifar resnet110 B": (lambda: rm.cifar_resnet(110, "B"), 1_730_714),
    # The plain baselines differ from option A only by parameter-free shortcuts.
    "cifar plain20": (lambda: rm.cifar_resnet(20, "plain"), 269_722),
    "cifar plain56": (lambda: rm.cifar_resnet(56, "plain"), 853_018),
    "cifar plain110": (lambda: rm.cifar_resnet(110, "plain"), 1_727_962),
    "preact resnet164": (rm.preact_resnet164, 1_703_258),
    "preact resnet1001": (rm.preact_resnet1001, 10_327_706),
    "milesial unet bilinear=False": (lambda: rm.UNet(3, 2, bilinear=False), 31_037_698),
    "milesial unet bilinear=True": (lambda: rm.UNet(3, 2, bilinear=True), 17_263_042),
    "original unet": (lambda: rm.OriginalUNet(1, 2), 31_030_658),
}


def on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Build a model without allocating or initialising real storage (shapes only)."""
    with torch.device("meta"):
        return factory()


@pytest.mark.parametrize("name", list(PARAMETER_COUNTS))
def test_parameter_count(name: str) -> None:
    factory, expected = PARAMETER_COUNTS[name]
    assert rm.count_parameters(on_meta(factory)) == expected


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_torchvision_state_dict_keys_and_shapes_in_order(name: str) -> None:
    model = on_meta(getattr(rm, name))
    got = [[key, list(t.shape)] for key, t in model.state_dict().items()]
    assert got == TORCHVISION[name]["state_dict"]
    assert rm.count_parameters(model) == TORCHVISION[name]["parameters"]


#: The stored ``check`` output was computed on one CPU; other CPUs' SIMD kernels
#: differ from it by a few 1e-4, torchvision's own resnet18 included.
STORED_OUTPUT_ATOL = 2e-3


def test_resnet18_forward_check() -> None:
    """The fill and input procedures reproduce the stored logits, loosely.

    Exactness is checked in the same process instead: two models filled
    independently with the same seed hold the same tensors and compute the
    same logits, bit for bit.
    """
    check = TORCHVISION["resnet18"]["check"]
    model = rm.fill_state_dict(rm.resnet18(), check["fill_seed"]).eval()
    twin = rm.fill_state_dict(rm.resnet18(), check["fill_seed"]).eval()
    for (key, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items(), strict=True):
        assert torch.equal(a, b), key
    x = rm.reference_input(check["input_shape"], check["input_seed"])
    assert torch.equal(x, rm.reference_input(check["input_shape"], check["input_seed"]))
    with torch.no_grad():
        out = model(x)
        assert torch.equal(out, twin(x))
    stored = torch.tensor(check["output"])
    assert out.shape == stored.shape
    torch.testing.assert_close(out, stored, rtol=0, atol=STORED_OUTPUT_ATOL)


def test_fill_state_dict_follows_the_procedure() -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4))
    rm.fill_state_dict(model, 7)
    state = model.state_dict()
    g = torch.Generator().manual_seed(7)
    # Sorted key order: 0.bias, 0.weight, 1.bias, 1.num_batches_tracked,
    # 1.running_mean, 1.running_var, 1.weight.
    expected = {
        "0.bias": torch.randn(4, generator=g) * 0.1,
        "0.weight": torch.randn(4, 2, 3, 3, generator=g) * (2 / 18) ** 0.5,
        "1.bias": torch.randn(4, generator=g) * 0.1,
        "1.running_mean": torch.randn(4, generator=g) * 0.1,
        "1.running_var": torch.rand(4, generator=g) + 0.5,
        "1.weight": torch.rand(4, generator=g) + 0.5,
    }
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert state["1.num_batches_tracked"].item() == 0
    # Same seed, same values; another seed, other values.
    again = rm.fill_state_dict(nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)), 7)
    assert torch.equal(again.state_dict()["0.weight"], state["0.weight"])
    other = rm.fill_state_dict(nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)), 8)
    assert not torch.equal(other.state_dict()["0.weight"], state["0.weight"])


def test_reference_input_is_deterministic() -> None:
    a = rm.reference_input([2, 3, 4], 1)
    assert a.shape == (2, 3, 4)
    assert torch.equal(a, rm.reference_input((2, 3, 4), 1))
    assert torch.equal(a, torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("option", ["A", "B", "plain"])
def test_cifar_resnet_forward(option: str) -> None:
    model = rm.fill_state_dict(rm.cifar_resnet(20, option), 0).eval()
    with torch.no_grad():
        out = model(rm.reference_input([2, 3, 32, 32], 1))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_zero_pad_shortcut_is_option_a() -> None:
    x = torch.randn(2, 16, 8, 8)
    out = rm.ZeroPadShortcut(16, 32, 2)(x)
    expected = torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8))
    assert torch.equal(out, expected)
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_preact_first_unit_shares_the_preactivation() -> None:
    unit = rm.PreActBottleneck(16, 16, stride=1).eval()
    assert unit.shortcut is not None and len(unit.shortcut) == 1
    assert isinstance(unit.shortcut[0], nn.Conv2d) and unit.shortcut[0].bias is None
    plain = rm.PreActBottleneck(64, 16).eval()
    assert plain.shortcut is None
    # With the branch's last conv zeroed, the first unit outputs the projection
    # of relu(bn1(x)), not of x.
    rm.fill_state_dict(unit, 3)
    with torch.no_grad():
        unit.conv3.weight.zero_()
        x = torch.randn(1, 16, 8, 8)
        expected = unit.shortcut(torch.relu(unit.bn1(x)))
        torch.testing.assert_close(unit(x), expected)


def test_preact_resnet164_forward() -> None:
    model = rm.fill_state_dict(rm.preact_resnet164(), 0).eval()
    with torch.no_grad():
        out = model(rm.reference_input([1, 3, 32, 32], 1))
    assert out.shape == (1, 10)


@pytest.mark.slow
def test_preact_resnet1001_structure() -> None:
    model = on_meta(rm.preact_resnet1001)
    assert [len(stage) for stage in (model.layer1, model.layer2, model.layer3)] == [111] * 3
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # 1 stem + 3 per unit + 3 projection shortcuts; depth counts stem, 9n, fc.
    assert len(convs) == 1 + 3 * 333 + 3
    out = model(torch.empty(1, 3, 32, 32, device="meta"))
    assert out.shape == (1, 10)


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("size", [16, 37, 64])
def test_milesial_unet_keeps_the_size(bilinear: bool, size: int) -> None:
    model = rm.UNet(3, 2, bilinear=bilinear).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size + 3))
    assert out.shape == (1, 2, size, size + 3)


def test_milesial_unet_state_dict_names() -> None:
    keys = list(on_meta(lambda: rm.UNet(3, 2)).state_dict())
    assert keys[0] == "inc.double_conv.0.weight"
    assert "down1.maxpool_conv.1.double_conv.0.weight" in keys
    assert "up1.up.weight" in keys and "up1.conv.double_conv.4.running_var" in keys
    assert keys[-2:] == ["outc.conv.weight", "outc.conv.bias"]


def test_original_unet_572_gives_388() -> None:
    model = on_meta(rm.OriginalUNet)
    out = model(torch.empty(1, 1, 572, 572, device="meta"))
    assert out.shape == (1, 2, 388, 388)


def test_original_unet_smallest_input_runs() -> None:
    # 188 is the smallest valid input (output 4); run it for real to exercise the crops.
    model = rm.fill_state_dict(rm.OriginalUNet(), 0).eval()
    with torch.no_grad():
        out = model(rm.reference_input([1, 1, 188, 188], 1))
    assert out.shape == (1, 2, 4, 4)
    assert torch.isfinite(out).all()


def test_center_crop_takes_diff_half_from_the_start() -> None:
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(rm.center_crop(x, (3, 3)), x[..., 1:4, 1:4])


def test_reference_key_maps_unet_decoder_convs_only() -> None:
    assert rm.reference_key("up1_conv.double_conv.0.weight") == "up1.conv.double_conv.0.weight"
    assert rm.reference_key("up4_conv.double_conv.4.bias") == "up4.conv.double_conv.4.bias"
    assert rm.reference_key("up1.up.weight") == "up1.up.weight"
    assert rm.reference_key("layer1.0.downsample.0.weight") == "layer1.0.downsample.0.weight"


@pytest.mark.parametrize("spec", list(rm.SPEC_MODELS))
def test_every_reference_names_a_model_of_its_spec(spec: str) -> None:
    text = (SPECS / spec).read_text(encoding="utf-8")
    declared = set(re.findall(r"^model\s+([A-Za-z_]\w*)", text, flags=re.MULTILINE))
    assert set(rm.SPEC_MODELS[spec]) <= declared


def test_every_spec_file_has_a_reference() -> None:
    assert {p.name for p in SPECS.glob("*.res")} == set(rm.SPEC_MODELS)
