"""regnet.res as one parametric module (resdsl.pysource).

``auto``'s projection ``proj`` wraps a group (``f``) whose stride is the
stride its block call ``b`` passes on: the writer builds ``proj`` under
``stride != 1 or in_channels != width``, registered before ``f`` as
torchvision's ResBottleneckBlock registers it. The smallest RegNetY and
RegNetX, built from the written module, load torchvision's ``state_dict``
strictly and give torchvision's output bit for bit.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import pytest
import torch

import resdsl
from resdsl.backends.build import load_source
from tests.conftest import SPECS
from tests.torchvision_oracle import import_torchvision


@cache
def regnet_source() -> str:
    return resdsl.load(SPECS / "torchvision" / "regnet.res").module_source()


@cache
def regnet_module() -> ModuleType:
    text = regnet_source()
    assert not text.startswith("#"), text.splitlines()[:2]
    return load_source(text, "written_regnet")


def test_projection_is_built_where_the_shapes_differ_and_registered_first() -> None:
    text = regnet_source()
    proj = text.index("        if stride != 1 or in_channels != width:\n            self.proj = ")
    assert proj < text.index("        self.f = f\n")
    block = regnet_module().ResBottleneck(48, 48, 1, 8, True)
    assert block.proj is None
    assert list(block.state_dict())[:1] == ["f.a.0.weight"]
    strided = regnet_module().ResBottleneck(48, 48, 2, 8, True)
    assert list(strided.state_dict())[:2] == ["proj.0.weight", "proj.1.weight"]


@pytest.mark.parametrize("name", ["regnet_y_400mf", "regnet_x_400mf"])
def test_regnet_module_matches_torchvision_output(name: str) -> None:
    tv = import_torchvision()
    torch.manual_seed(0)
    reference = getattr(tv.models, name)().eval()
    model = getattr(regnet_module(), name)().eval()
    result = model.load_state_dict(reference.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(model.state_dict()) == list(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
