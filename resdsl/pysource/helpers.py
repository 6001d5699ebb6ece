"""Classes the written module defines for layers an ``nn.Sequential`` calls as ``module(x)``.

They are torchvision's own (``torchvision.ops.misc.Permute``,
``torchvision.models.convnext.LayerNorm2d``), written into the module only
where a class of it uses them, so the module still imports only torch.
"""

from __future__ import annotations

import re

_PERMUTE = [
    "class Permute(nn.Module):",
    '    """torchvision\'s Permute: ``x.permute(*dims)`` as an ``nn.Sequential`` child."""',
    "",
    "    def __init__(self, dims: list[int]) -> None:",
    "        super().__init__()",
    "        self.dims = dims",
    "",
    "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
    "        return torch.permute(x, self.dims)",
]
_LAYER_NORM_2D = [
    "class LayerNorm2d(nn.LayerNorm):",
    '    """A layer norm over the channels of an ``[N, C, H, W]`` map (torchvision\'s)."""',
    "",
    "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
    "        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)",
]
#: Helper class name -> its lines.
HELPERS = {"Permute": _PERMUTE, "LayerNorm2d": _LAYER_NORM_2D}


def helper_classes(code: list[str]) -> list[list[str]]:
    """The helper classes the lines of ``code`` construct, in a fixed order.

    >>> [c[0] for c in helper_classes(["self.block = nn.Sequential(Permute([0, 2, 3, 1]))"])]
    ['class Permute(nn.Module):']
    """
    text = "\n".join(code)
    return [lines for name, lines in HELPERS.items() if re.search(rf"\b{name}\(", text)]
