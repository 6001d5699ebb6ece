"""Compiled specs against the models they claim to be, weight for weight and output for output.

- torchvision's ResNets (tests/data/torchvision_resnet.json): the same
  ``state_dict`` keys and shapes in the same order, ``strict=True`` loading,
  and the reference forward check for resnet18;
- the hand-written references of tests/reference_models.py (CIFAR ResNet
  options A and B and the plain net, the pre-activation ResNet, milesial's
  U-Net and the original U-Net): every weight copied across by key (the
  U-Nets' decoder convs are renamed by ``reference_key``), then the outputs
  compared in eval mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import torch
from torch import nn

import resdsl
from tests import reference_models as rm
from tests.conftest import DATA, SPECS

TORCHVISION = json.loads((DATA / "torchvision_resnet.json").read_text())["models"]


@cache
def spec(name: str) -> resdsl.Spec:
    return resdsl.load(SPECS / name)


def on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return factory()


# ------------------------------------------------------------------ torchvision ResNets


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_resnet_state_dict_equals_torchvision_in_order(name: str) -> None:
    model = on_meta(lambda: spec("resnet.res").compile(name))
    got = [[key, list(t.shape)] for key, t in model.state_dict().items()]
    assert got == TORCHVISION[name]["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION[name]["parameters"]


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_torchvision_state_dict_loads_strictly(name: str) -> None:
    reference = on_meta(getattr(rm, name))
    model = on_meta(lambda: spec("resnet.res").compile(name))
    result = model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_torchvision_state_dict_loads_strictly_into_a_real_model() -> None:
    reference = rm.resnet18()
    model = spec("resnet.res").compile("resnet18")
    model.load_state_dict(reference.state_dict(), strict=True)
    for (k, a), (_, b) in zip(
        reference.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


#: The stored ``check`` output was computed on one CPU; other CPUs' SIMD kernels
#: differ from it by a few 1e-4, torchvision's own resnet18 included. It only
#: guards against a wrong fill or input procedure.
STORED_OUTPUT_ATOL = 2e-3


def test_resnet18_reference_forward_check() -> None:
    """The compiled resnet18 computes exactly what the hand-written one does.

    Both run here, from the same filled ``state_dict`` on the same input, so
    they must agree bit for bit on any machine; the numbers stored in
    tests/data/torchvision_resnet.json are checked only loosely.
    """
    check = TORCHVISION["resnet18"]["check"]
    model = rm.fill_state_dict(spec("resnet.res").compile("resnet18"), check["fill_seed"]).eval()
    reference = rm.resnet18().eval()
    reference.load_state_dict(model.state_dict(), strict=True)
    x = rm.reference_input(check["input_shape"], check["input_seed"])
    with torch.no_grad():
        out = model(x)
        expected = reference(x)
    assert torch.equal(out, expected)
    stored = torch.tensor(check["output"])
    assert out.shape == stored.shape
    torch.testing.assert_close(out, stored, rtol=0, atol=STORED_OUTPUT_ATOL)


@pytest.mark.slow
def test_resnet50_matches_the_hand_written_reference() -> None:
    compare(spec("resnet.res").compile("resnet50"), rm.resnet50(), (2, 3, 64, 64))


# ------------------------------------------------------------------ other references


def copy_weights(model: nn.Module, reference: nn.Module) -> None:
    """Copy every tensor of ``reference`` into ``model``, key by key and in order.

    Keys map through ``reference_key`` (the identity but for the U-Nets'
    ``upN_conv.`` -> ``upN.conv.``); the two ``state_dict``s must then list the
    same keys with the same shapes in the same order.
    """
    ours = model.state_dict()
    theirs = reference.state_dict()
    mapped = [rm.reference_key(k) for k in ours]
    assert sorted(mapped) == sorted(theirs)
    assert mapped == list(theirs), "same keys, but in another order"
    with torch.no_grad():
        for key, target in ours.items():
            source = theirs[rm.reference_key(key)]
            assert target.shape == source.shape, key
            target.copy_(source)


def compare(model: nn.Module, reference: nn.Module, shape: tuple[int, ...], seed: int = 0) -> None:
    """Same weights (the reference fill procedure), same input: the same output.

    Very deep nets keep their default initialisation: the fill procedure's
    batch-norm scales compound over a thousand layers into inf.
    """
    if sum(1 for _ in reference.modules()) < 2000:
        rm.fill_state_dict(reference, seed)
    copy_weights(model, reference)
    model.eval()
    reference.eval()
    x = rm.reference_input(shape, seed + 1)
    with torch.no_grad():
        expected = reference(x)
        out = model(x)
    assert out.shape == expected.shape
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


REFERENCES: list[tuple[str, str, dict[str, Any], Callable[[], nn.Module], tuple[int, ...]]] = [
    ("cifar_resnet.res", "resnet20", {}, lambda: rm.cifar_resnet(20, "A"), (2, 3, 32, 32)),
    (
        "cifar_resnet.res",
        "cifar_resnet",
        {"n": 3, "unit": "basic_b"},
        lambda: rm.cifar_resnet(20, "B"),
        (2, 3, 32, 32),
    ),
    ("plain_resnet.res", "plain20", {}, lambda: rm.cifar_resnet(20, "plain"), (2, 3, 32, 32)),
    ("preact_resnet.res", "preact_resnet", {"n": 2}, lambda: rm.PreActResNet(2), (2, 3, 32, 32)),
    ("unet.res", "unet", {}, lambda: rm.UNet(3, 2, bilinear=False), (1, 3, 64, 64)),
    # Odd sizes: the max-pools round down and align=pad pads, as milesial's Up does.
    ("unet.res", "unet", {}, lambda: rm.UNet(3, 2, bilinear=False), (1, 3, 57, 43)),
    ("unet_original.res", "unet_original", {}, rm.OriginalUNet, (1, 1, 188, 188)),
    ("unet_original.res", "unet_original", {}, rm.OriginalUNet, (1, 1, 204, 220)),
]


@pytest.mark.parametrize(
    ("file", "model", "params", "factory", "shape"),
    REFERENCES,
    ids=[f"{m}-{'x'.join(map(str, s[2:]))}" for _, m, _, _, s in REFERENCES],
)
def test_matches_the_hand_written_reference(
    file: str,
    model: str,
    params: dict[str, Any],
    factory: Callable[[], nn.Module],
    shape: tuple[int, ...],
) -> None:
    compare(spec(file).compile(model, **params), factory(), shape)


SLOW_REFERENCES: list[tuple[str, str, dict[str, Any], Callable[[], nn.Module], tuple[int, ...]]] = [
    ("cifar_resnet.res", "resnet56", {}, lambda: rm.cifar_resnet(56, "A"), (2, 3, 32, 32)),
    ("cifar_resnet.res", "resnet110", {}, lambda: rm.cifar_resnet(110, "A"), (2, 3, 32, 32)),
    ("unet.res", "unet", {"bilinear": True}, lambda: rm.UNet(3, 2, bilinear=True), (1, 3, 50, 50)),
    ("unet_noalign.res", "unet_noalign", {}, lambda: rm.UNet(3, 2), (1, 3, 48, 64)),
    ("preact_resnet.res", "preact_resnet164", {}, rm.preact_resnet164, (2, 3, 32, 32)),
    ("preact_resnet.res", "preact_resnet1001", {}, rm.preact_resnet1001, (1, 3, 32, 32)),
    ("resnet.res", "resnet152", {}, rm.resnet152, (1, 3, 64, 64)),
    ("unet_original.res", "unet_original", {}, rm.OriginalUNet, (1, 1, 572, 572)),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "model", "params", "factory", "shape"),
    SLOW_REFERENCES,
    ids=[f"{m}-{'x'.join(map(str, s[2:]))}" for _, m, _, _, s in SLOW_REFERENCES],
)
def test_more_models_match_the_hand_written_reference(
    file: str,
    model: str,
    params: dict[str, Any],
    factory: Callable[[], nn.Module],
    shape: tuple[int, ...],
) -> None:
    compare(spec(file).compile(model, **params), factory(), shape)


def test_train_mode_matches_the_reference_too() -> None:
    """Batch statistics and running-stat updates are the reference's, step for step."""
    model = spec("cifar_resnet.res").compile("resnet20")
    reference = rm.cifar_resnet(20, "A")
    rm.fill_state_dict(reference, 3)
    copy_weights(model, reference)
    x = rm.reference_input((4, 3, 32, 32), 4)
    model.train()
    reference.train()
    out, expected = model(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    for (k, a), (_, b) in zip(
        model.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=k)
